package tarball

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// archive/tar expands the holes of a sparse member into zeros as it is
// read, which costs CPU in proportion to the member's logical size (a
// 132-byte archive can claim a 100 GiB hole). So Unpack records the raw
// header blocks archive/tar reads for an entry and, for a sparse member,
// takes the sparse map from them, copies only the data fragments from the
// stream, and leaves the holes unwritten; archive/tar is then restarted
// at the next header. The map is parsed the way archive/tar parses it
// (old GNU 'S' headers with extension blocks, PAX 0.0/0.1 records, PAX 1.0
// maps at the start of the data), and must agree with the data: fragments
// in order, not overlapping, inside the logical size, and adding up to the
// physical data.

// maxHeaderCapture bounds the header bytes recorded for one entry:
// archive/tar reads at most 1 MiB for each of a PAX header, a long name, a
// long link name and a sparse map, so a real entry needs far less.
const maxHeaderCapture = 6 << 20

// errSparseHeaders reports a sparse member whose headers Unpack did not
// record or could not follow.
var errSparseHeaders = errors.New("sparse member headers")

// fragment is one run of data of a sparse member.
type fragment struct{ off, n int64 }

// isSparse reports whether archive/tar treats hdr as a sparse member.
func isSparse(hdr *tar.Header) bool {
	if hdr.Typeflag == tar.TypeGNUSparse {
		return true
	}
	major, minor := hdr.PAXRecords["GNU.sparse.major"], hdr.PAXRecords["GNU.sparse.minor"]
	switch {
	case major == "0" && (minor == "0" || minor == "1"), major == "1" && minor == "0":
		return true
	case major != "" || minor != "":
		return false
	}
	return hdr.PAXRecords["GNU.sparse.map"] != ""
}

// sparseMap returns the data fragments of the sparse member hdr and the
// size of its physical data, from raw, the bytes archive/tar read for the
// entry's headers.
func sparseMap(hdr *tar.Header, raw []byte) ([]fragment, int64, error) {
	bad := func(format string, args ...any) ([]fragment, int64, error) {
		return nil, 0, fmt.Errorf("%w: "+format, append([]any{errSparseHeaders}, args...)...)
	}
	// Skip the meta entries before the member's own header.
	var blk []byte
	for len(raw) >= 512 {
		b := raw[:512]
		raw = raw[512:]
		switch b[156] {
		case tar.TypeXHeader, tar.TypeGNULongName, tar.TypeGNULongLink:
			size, ok := numeric(b[124:136])
			if !ok || size < 0 || size > int64(len(raw)) {
				return bad("meta header size")
			}
			raw = raw[(size+511)/512*512:]
			continue
		}
		blk = b
		break
	}
	if blk == nil {
		return bad("no member header among %d recorded bytes", len(raw))
	}
	phys, ok := numeric(blk[124:136])
	if s := hdr.PAXRecords["size"]; s != "" {
		phys, ok = parseDecimal(s)
	}
	if !ok || phys < 0 {
		return bad("size field")
	}
	var frags []fragment
	if hdr.Typeflag == tar.TypeGNUSparse {
		// Old GNU: four entries at 386, more in 512-byte extension blocks
		// of 21 entries each while the "is extended" byte is set.
		entries, ext := blk[386:482], blk[482]
		for {
			for i := 0; i+24 <= len(entries); i += 24 {
				e := entries[i : i+24]
				if e[0] == 0 {
					break
				}
				off, ok1 := numeric(e[:12])
				n, ok2 := numeric(e[12:24])
				if !ok1 || !ok2 {
					return bad("sparse entry")
				}
				frags = append(frags, fragment{off, n})
			}
			if ext == 0 {
				break
			}
			if len(raw) < 512 {
				return bad("extension block missing")
			}
			entries, ext = raw[:504], raw[504]
			raw = raw[512:]
		}
	} else if hdr.PAXRecords["GNU.sparse.major"] == "1" {
		// PAX 1.0: newline-terminated decimal numbers at the start of the
		// data, in whole blocks: the count, then offset and length pairs.
		if len(raw)%512 != 0 {
			return bad("map of %d bytes", len(raw))
		}
		toks := strings.Split(string(raw), "\n")
		count, ok := parseDecimal(toks[0])
		if !ok || count < 0 || count > int64(len(toks)) || 2*count+1 > int64(len(toks)) {
			return bad("map entry count")
		}
		for i := int64(0); i < count; i++ {
			off, ok1 := parseDecimal(toks[1+2*i])
			n, ok2 := parseDecimal(toks[2+2*i])
			if !ok1 || !ok2 {
				return bad("map entry")
			}
			frags = append(frags, fragment{off, n})
		}
		phys -= int64(len(raw))
		raw = nil
	} else {
		// PAX 0.0 and 0.1: "offset,length,..." (archive/tar turns 0.0's
		// repeated records into this form).
		fields := strings.Split(hdr.PAXRecords["GNU.sparse.map"], ",")
		if len(fields) == 1 && fields[0] == "" {
			fields = nil
		}
		if len(fields)%2 != 0 {
			return bad("map of %d numbers", len(fields))
		}
		for i := 0; i < len(fields); i += 2 {
			off, ok1 := parseDecimal(fields[i])
			n, ok2 := parseDecimal(fields[i+1])
			if !ok1 || !ok2 {
				return bad("map entry")
			}
			frags = append(frags, fragment{off, n})
		}
	}
	if len(raw) != 0 {
		return bad("%d bytes after the headers", len(raw))
	}
	var end, sum int64
	for _, f := range frags {
		if f.off < end || f.n < 0 || f.off > hdr.Size || f.n > hdr.Size-f.off {
			return bad("fragment at %d of %d bytes out of order or beyond the size %d", f.off, f.n, hdr.Size)
		}
		end = f.off + f.n
		sum += f.n
	}
	if sum != phys {
		return bad("fragments hold %d bytes, the data is %d", sum, phys)
	}
	return frags, phys, nil
}

// numeric parses a tar number field as archive/tar does: base-256 when the
// high bit is set, else octal between spaces and NULs.
func numeric(b []byte) (int64, bool) {
	if len(b) > 0 && b[0]&0x80 != 0 {
		if b[0]&0x40 != 0 {
			return 0, false // negative
		}
		var x uint64
		for i, c := range b {
			if i == 0 {
				c &= 0x7f
			}
			if x>>56 != 0 {
				return 0, false
			}
			x = x<<8 | uint64(c)
		}
		if x>>63 != 0 {
			return 0, false
		}
		return int64(x), true
	}
	b = bytes.Trim(b, " \x00")
	if len(b) == 0 {
		return 0, true
	}
	x, err := strconv.ParseUint(string(b), 8, 63)
	return int64(x), err == nil
}

func parseDecimal(s string) (int64, bool) {
	x, err := strconv.ParseInt(s, 10, 64)
	return x, err == nil
}

// copySparse copies the data fragments of a sparse member from the stream
// into f at their offsets (or discards them when f is nil) and consumes
// the padding after them; the holes between are never touched.
func (u *unpacker) copySparse(hdr *tar.Header, name string, f *os.File, frags []fragment, phys int64) error {
	var off, synced int64
	fail := func(err error) error { return &EntryError{Name: hdr.Name, Offset: off, Err: err} }
	base := u.logical
	u.progress(name, 0, hdr.Size)
	next := int64(progressEvery)
	for _, fr := range frags {
		off = fr.off
		u.logical = base + off
		for end := fr.off + fr.n; off < end; {
			// Chunks end at page boundaries of the file, so that zero
			// pages of the data are found and left as holes too.
			n := min(int64(len(u.buf))-off%holePage, end-off)
			m, err := io.ReadFull(u.stream, u.buf[:n])
			if m > 0 && f != nil {
				if werr := writeSparse(f, u.buf[:m], off, u.zero); werr != nil {
					return fail(werr)
				}
			}
			off += int64(m)
			u.logical = base + off
			if err != nil {
				return fail(fmt.Errorf("reading archive: %w", noEOF(err)))
			}
			if f != nil && u.opts.Sync && off-synced >= writebackEvery {
				if err := startWriteback(f, synced, off-synced); err != nil {
					return fail(fmt.Errorf("starting writeback: %w", err))
				}
				synced = off
			}
		}
		if off >= next {
			u.progress(name, off, hdr.Size)
			next = off + progressEvery
		}
	}
	off = hdr.Size
	u.logical = base + hdr.Size
	if pad := -phys & 511; pad > 0 {
		if _, err := io.ReadFull(u.stream, u.buf[:pad]); err != nil {
			return fail(fmt.Errorf("reading archive: %w", noEOF(err)))
		}
	}
	if f != nil {
		if err := f.Truncate(hdr.Size); err != nil {
			return fail(err)
		}
		if u.opts.Sync {
			if err := f.Sync(); err != nil {
				return fail(fmt.Errorf("fsync: %w", err))
			}
		}
	}
	u.progress(name, off, hdr.Size)
	return nil
}
