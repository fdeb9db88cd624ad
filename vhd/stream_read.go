package vhd

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
)

// ErrNotSequential reports a VHD stream that cannot be read front to back:
// metadata or a block that lies before what was already read (a BAT entry
// pointing backwards), metadata after the first block, or, for raw
// output to a plain writer, blocks out of the order of the virtual disk.
var ErrNotSequential = errors.New("vhd: stream needs seeking backwards")

// DefaultMaxStreamHead is the most metadata (everything before the first
// block: footer copy, header, BAT, batmap, locators) a [StreamReader]
// holds when ReadStreamOptions.MaxHead is 0: enough for the BAT of a
// 2040 GiB disk in 2 MiB blocks, with room to spare.
const DefaultMaxStreamHead = 16 << 20

// maxTrailing bounds the bytes a stream may hold between its last block
// and its footer, so that an endless stream cannot keep a reader busy.
const maxTrailing = 64 << 20

// ReadStreamOptions configure [NewStreamReader] and [ReceiveStream].
type ReadStreamOptions struct {
	// Name names the stream in errors and progress; ReceiveStream sets it
	// to the destination path, which the parent rules of the check need.
	Name string
	// Size, when not 0, is the stream's exact length (an HTTP
	// Content-Length): a stream whose metadata needs more bytes (a
	// truncated body) is refused before any data is written.
	Size int64
	// MaxVirtualSize caps the virtual size; 0 means MaxSize.
	MaxVirtualSize int64
	// MaxHead caps the metadata held in memory; 0 means DefaultMaxStreamHead.
	MaxHead int64
	// Check tunes the metadata check (Check's footer, header, BAT, batmap
	// and locator rules, run before any data is written). Its Parents
	// resolves a differencing stream's parent for the parent rules; when
	// nil those rules are not run and the stream is accepted on the others.
	Check CheckOptions
	// Progress, when set, is called as the stream is read.
	Progress func(Progress)
}

// A StreamReader reads a VHD arriving front to back (an HTTP body, a
// pipe). [NewStreamReader] reads and checks all of its metadata before any
// block; a write method then copies the rest, blocks in file order,
// holding at most one block in memory.
type StreamReader struct {
	// Footer is the stream's footer (for dynamic and differencing disks,
	// the copy at offset 0; the one at the end must equal it). Header is
	// nil for a fixed disk.
	Footer Footer
	Header *Header

	r        io.Reader
	opts     ReadStreamOptions
	head     []byte   // bytes [0, len(head)) of the stream
	blocks   []sblock // allocated blocks in file order
	batmap   *Batmap
	end      int64 // where the footer starts, when known (dynamic, or Size set)
	pos      int64 // bytes of the stream consumed
	first    []byte
	used     bool
	progress func(Progress)
}

type sblock struct {
	off int64 // byte offset of the bitmap
	blk int64
}

// NewStreamReader reads the metadata of the VHD stream r and checks it with
// [Check]'s rules, without writing anything. A dynamic or differencing
// stream must hold its metadata before its first block and its blocks in
// file order (else ErrNotSequential); a bad footer, header, BAT, batmap or
// locator is a [FormatError] or a [CheckError]; a virtual size or metadata
// over the limits wraps ErrTooLarge; a body shorter than the metadata needs,
// when ReadStreamOptions.Size gives the length, wraps ErrTruncated. A fixed
// stream is recognised by the absence of a footer copy at offset 0: its
// footer comes last and is checked after its data.
func NewStreamReader(ctx context.Context, r io.Reader, opts *ReadStreamOptions) (*StreamReader, error) {
	s := &StreamReader{r: r}
	if opts != nil {
		s.opts = *opts
	}
	o := &s.opts
	if o.MaxVirtualSize <= 0 || o.MaxVirtualSize > MaxSize {
		o.MaxVirtualSize = MaxSize
	}
	if o.MaxHead <= 0 {
		o.MaxHead = DefaultMaxStreamHead
	}
	s.progress = o.Progress
	first := make([]byte, FooterSize)
	n, err := io.ReadFull(r, first)
	s.pos = int64(n)
	if err != nil {
		return nil, s.truncated("footer", int64(n), err)
	}
	var ft Footer
	ft.UnmarshalBinary(first)
	if string(ft.Cookie[:]) != FooterCookie || ft.DataOffset == ^uint64(0) {
		// No footer copy: a fixed disk, whose footer is its last sector.
		if o.Size > 0 && (o.Size < FooterSize || o.Size%SectorSize != 0 || o.Size-FooterSize > o.MaxVirtualSize) {
			return nil, formatErr(o.Name, "stream", "", -1, ErrTooLarge,
				"fixed stream of %d bytes: must be a multiple of 512 holding at most %d bytes of data and a footer", o.Size, o.MaxVirtualSize)
		}
		s.first = first
		s.end = -1
		if o.Size > 0 {
			s.end = o.Size - FooterSize
		}
		return s, nil
	}
	if err := ft.openValid(); err != nil {
		return nil, formatErr(o.Name, "footer copy", "", 0, err, "%v", err)
	}
	if ft.DiskType != DiskDynamic && ft.DiskType != DiskDifferencing {
		return nil, formatErr(o.Name, "footer copy", "disk type", footerOffDiskType, ErrFormat,
			"disk type %v with a header offset; want dynamic or differencing", ft.DiskType)
	}
	if ft.CurrentSize > uint64(o.MaxVirtualSize) {
		return nil, formatErr(o.Name, "footer copy", "current size", footerOffCurrSize, ErrTooLarge,
			"virtual size %d is over the limit of %d", ft.CurrentSize, o.MaxVirtualSize)
	}
	if ft.DataOffset < FooterSize {
		return nil, formatErr(o.Name, "footer copy", "data offset", footerOffDataOffset, ErrNotSequential,
			"header at %d lies inside the footer copy", ft.DataOffset)
	}
	if ft.DataOffset > uint64(o.MaxHead)-HeaderSize {
		return nil, formatErr(o.Name, "footer copy", "data offset", footerOffDataOffset, ErrTooLarge,
			"header at %d is past the metadata limit of %d bytes", ft.DataOffset, o.MaxHead)
	}
	s.Footer = ft
	s.head = first
	hoff := int64(ft.DataOffset)
	if err := s.readHead(hoff + HeaderSize); err != nil {
		return nil, err
	}
	h := new(Header)
	h.UnmarshalBinary(s.head[hoff:])
	switch {
	case string(h.Cookie[:]) != HeaderCookie:
		return nil, formatErr(o.Name, "header", "cookie", hoff, ErrCookie, "invalid cookie %q", h.Cookie[:])
	case h.ComputeChecksum() != h.Checksum:
		return nil, formatErr(o.Name, "header", "checksum", hoff+headerOffChecksum, ErrChecksum, "invalid checksum %#08x, want %#08x", h.Checksum, h.ComputeChecksum())
	case !validBlockSize(h.BlockSize):
		return nil, formatErr(o.Name, "header", "block size", hoff+headerOffBlockSize, ErrFormat,
			"invalid block size %d: must be a power of two from 512 to %d", h.BlockSize, MaxBlockSize)
	case h.TableOffset < FooterSize:
		return nil, formatErr(o.Name, "header", "table offset", hoff+headerOffTable, ErrFormat,
			"BAT at %d lies inside the footer copy", h.TableOffset)
	}
	bs := int64(h.BlockSize)
	need := (int64(ft.CurrentSize) + bs - 1) / bs
	if int64(h.MaxTableEntries) > max(need, 1)+SectorSize/4 || int64(h.MaxTableEntries)*4 > o.MaxHead {
		return nil, formatErr(o.Name, "header", "max table entries", hoff+headerOffMaxEntries, ErrTooLarge,
			"%d BAT entries for a disk of %d blocks: at most %d are accepted", h.MaxTableEntries, need, max(need, 1)+SectorSize/4)
	}
	s.Header = h
	// The metadata: BAT, batmap, locators; all before the first block.
	metaEnd := int64(h.TableOffset) + batBytes(h.MaxTableEntries)
	if metaEnd > o.MaxHead {
		return nil, formatErr(o.Name, "header", "table offset", hoff+headerOffTable, ErrTooLarge,
			"BAT ends at %d, past the metadata limit of %d bytes", metaEnd, o.MaxHead)
	}
	if err := s.readHead(metaEnd); err != nil {
		return nil, err
	}
	bat := make([]uint32, h.MaxTableEntries)
	for i := range bat {
		bat[i] = binary.BigEndian.Uint32(s.head[int64(h.TableOffset)+4*int64(i):])
	}
	if looks, _ := (&File{Footer: ft, Header: h}).hasBatmap(); looks {
		// The batmap header follows the BAT; the map follows it.
		if err := s.readHead(metaEnd + SectorSize); err != nil {
			return nil, err
		}
		var bh BatmapHeader
		bh.UnmarshalBinary(s.head[metaEnd:])
		if string(bh.Cookie[:]) == BatmapCookie {
			mapEnd := int64(bh.Offset) + int64(bh.Size)*SectorSize
			if bh.Offset < uint64(metaEnd+SectorSize) || mapEnd > o.MaxHead {
				return nil, formatErr(o.Name, "batmap", "offset", metaEnd+8, ErrNotSequential,
					"map of %d sectors at %d: must follow its header and end within %d bytes", bh.Size, bh.Offset, o.MaxHead)
			}
			if err := s.readHead(mapEnd); err != nil {
				return nil, err
			}
			s.batmap = &Batmap{Header: bh, HeaderOffset: metaEnd, Map: s.head[bh.Offset:mapEnd]}
			metaEnd = mapEnd
		} else {
			metaEnd += SectorSize
		}
	}
	for i, l := range h.Locators {
		if l.Code == PlatformNone {
			continue
		}
		end := int64(l.DataOffset) + l.Size()
		if l.DataOffset < FooterSize || end > o.MaxHead || end < 0 {
			return nil, formatErr(o.Name, fmt.Sprintf("parent locator %d", i), "data offset", hoff+headerOffLocators+int64(i)*locatorEntrySize,
				ErrTooLarge, "locator data at %d (%d bytes) must lie after the footer copy and end within %d bytes", l.DataOffset, l.Size(), o.MaxHead)
		}
		metaEnd = max(metaEnd, end)
	}
	if err := s.readHead(metaEnd); err != nil {
		return nil, err
	}
	// The blocks, in file order, each after the metadata and the block before.
	bmBytes := h.bitmapSectors() * SectorSize
	span := bmBytes + bs
	for blk, e := range bat {
		if e == Unallocated {
			continue
		}
		if int64(blk) >= need {
			continue // past the virtual size: never read
		}
		s.blocks = append(s.blocks, sblock{off: int64(e) * SectorSize, blk: int64(blk)})
	}
	slices.SortFunc(s.blocks, func(a, b sblock) int {
		if a.off != b.off {
			if a.off < b.off {
				return -1
			}
			return 1
		}
		return int(a.blk - b.blk)
	})
	end := metaEnd
	for _, b := range s.blocks {
		if b.off < end {
			return nil, formatErr(o.Name, "BAT", fmt.Sprintf("entry %d", b.blk), int64(h.TableOffset)+4*b.blk, ErrNotSequential,
				"block at %d lies before byte %d, which the metadata or an earlier block holds", b.off, end)
		}
		end = b.off + span
	}
	s.end = end
	if o.Size > 0 {
		if o.Size < end+FooterSize {
			return nil, formatErr(o.Name, "stream", "", -1, ErrTruncated,
				"stream of %d bytes is shorter than the %d its metadata needs", o.Size, end+FooterSize)
		}
		if o.Size-FooterSize-end > maxTrailing {
			return nil, formatErr(o.Name, "stream", "", -1, ErrTooLarge,
				"%d bytes between the last block and the footer, at most %d", o.Size-FooterSize-end, int64(maxTrailing))
		}
		s.end = o.Size - FooterSize
	}
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// readHead reads the stream up to byte end into s.head.
func (s *StreamReader) readHead(end int64) error {
	if end <= int64(len(s.head)) {
		return nil
	}
	if end > s.opts.MaxHead {
		return formatErr(s.opts.Name, "stream", "", int64(len(s.head)), ErrTooLarge, "metadata up to %d bytes, over the limit of %d", end, s.opts.MaxHead)
	}
	if s.opts.Size > 0 && end > s.opts.Size {
		return formatErr(s.opts.Name, "stream", "", int64(len(s.head)), ErrTruncated, "metadata up to %d bytes in a stream of %d", end, s.opts.Size)
	}
	old := len(s.head)
	s.head = append(s.head, make([]byte, end-int64(old))...)
	n, err := io.ReadFull(s.r, s.head[old:])
	s.pos += int64(n)
	if err != nil {
		return s.truncated("metadata", int64(old+n), err)
	}
	return nil
}

func (s *StreamReader) truncated(what string, off int64, err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return formatErr(s.opts.Name, "stream", "", off, ErrTruncated, "stream truncated at byte %d, in the %s", off, what)
	}
	return fmt.Errorf("vhd: %s: reading stream at %d: %w", s.opts.Name, off, err)
}

// headImage is the file the stream will be, as far as the metadata goes:
// the head, zeros for blocks, and the footer copy at the end.
type headImage struct {
	head   []byte
	size   int64
	footer []byte
}

func (h *headImage) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off >= h.size {
		return 0, io.EOF
	}
	n := min(int64(len(p)), h.size-off)
	q := p[:n]
	clear(q)
	if off < int64(len(h.head)) {
		copy(q, h.head[off:])
	}
	if fs := h.size - FooterSize; off+n > fs {
		a := max(off, fs)
		copy(q[a-off:], h.footer[a-fs:])
	}
	if n < int64(len(p)) {
		return int(n), io.EOF
	}
	return int(n), nil
}

// check runs Check's rules on the metadata.
func (s *StreamReader) check(ctx context.Context) error {
	img := &headImage{head: s.head, size: s.end + FooterSize, footer: s.head[:FooterSize]}
	co := s.opts.Check
	co.Name = s.opts.Name
	rep, err := Check(ctx, img, img.size, &co)
	if err != nil && co.Parents == nil && errors.Is(err, ErrIncomplete) && rep.ValidSoFar() {
		return nil // only the parent rules did not run, as documented
	}
	return err
}

// VirtualSize returns the stream's virtual size, 0 for a fixed stream
// until its footer has been read.
func (s *StreamReader) VirtualSize() int64 { return int64(s.Footer.CurrentSize) }

// Size returns the stream's length when it is known before the end (a
// dynamic or differencing stream, or ReadStreamOptions.Size), else -1.
func (s *StreamReader) Size() int64 {
	if s.end < 0 {
		return -1
	}
	return s.end + FooterSize
}

func (s *StreamReader) report() {
	if s.progress != nil {
		total := s.Size()
		s.progress(Progress{Phase: PhaseRead, Name: s.opts.Name, Done: s.pos, Total: max(total, 0)})
	}
}

// readN reads exactly len(b) bytes of the stream.
func (s *StreamReader) readN(b []byte) error {
	n, err := io.ReadFull(s.r, b)
	s.pos += int64(n)
	if err != nil {
		return s.truncated("body", s.pos, err)
	}
	return nil
}

// skipTo consumes the stream up to byte off, passing the bytes to out
// (nil discards them).
func (s *StreamReader) skipTo(off int64, out io.Writer, buf []byte) error {
	for s.pos < off {
		k := min(int64(len(buf)), off-s.pos)
		if err := s.readN(buf[:k]); err != nil {
			return err
		}
		if out != nil {
			if _, err := out.Write(buf[:k]); err != nil {
				return err
			}
		}
	}
	return nil
}

// readFooter reads the rest of the stream, at most maxTrailing bytes before
// a final 512-byte footer, passing everything but the footer to out, and
// returns the footer bytes.
func (s *StreamReader) readFooter(out io.Writer, buf []byte) ([]byte, error) {
	if s.end >= 0 {
		if err := s.skipTo(s.end, out, buf); err != nil {
			return nil, err
		}
		foot := make([]byte, FooterSize)
		if err := s.readN(foot); err != nil {
			return nil, err
		}
		if n, _ := io.ReadFull(s.r, make([]byte, 1)); n > 0 {
			return nil, formatErr(s.opts.Name, "stream", "", s.pos, ErrFormat, "bytes after the footer at %d", s.end)
		}
		return foot, nil
	}
	return nil, errors.New("vhd: stream of unknown length") // only fixed streams, handled by copyFixed
}

// checkFooter compares the footer at the end with the copy at offset 0.
func (s *StreamReader) checkFooter(foot []byte) error {
	if !bytes.Equal(foot, s.head[:FooterSize]) {
		return formatErr(s.opts.Name, "footer", "", s.end, ErrBackupMismatch, "the footer at the end differs from the copy at offset 0")
	}
	return nil
}

func (s *StreamReader) start() error {
	if s.used {
		return errors.New("vhd: stream already read")
	}
	s.used = true
	return nil
}

// WriteVHD copies the stream to w as it arrives, byte for byte, and
// returns the bytes written. It checks the footer at the end; when that
// fails, w has received everything but the footer.
func (s *StreamReader) WriteVHD(ctx context.Context, w io.Writer) (int64, error) {
	if err := s.start(); err != nil {
		return 0, err
	}
	cw := &countWriter{w: w}
	if s.Header == nil {
		return cw.n, s.copyFixed(ctx, cw, true)
	}
	if _, err := cw.Write(s.head); err != nil {
		return cw.n, err
	}
	buf := make([]byte, 1<<20)
	span := s.Header.bitmapSectors()*SectorSize + int64(s.Header.BlockSize)
	for _, b := range s.blocks {
		if err := ctx.Err(); err != nil {
			return cw.n, err
		}
		if err := s.skipTo(b.off+span, cw, buf); err != nil {
			return cw.n, err
		}
		s.report()
	}
	foot, err := s.readFooter(cw, buf)
	if err != nil {
		return cw.n, err
	}
	if err := s.checkFooter(foot); err != nil {
		return cw.n, err
	}
	_, err = cw.Write(foot)
	s.report()
	return cw.n, err
}

// copyFixed copies a fixed stream's data to w, holding back its last
// sector, then checks that sector as the footer; withFooter writes it too.
func (s *StreamReader) copyFixed(ctx context.Context, w io.Writer, withFooter bool) error {
	buf := make([]byte, 1<<20+FooterSize)
	held := copy(buf, s.first) // bytes at the front of buf not yet written
	var data int64
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := io.ReadFull(s.r, buf[held:])
		s.pos += int64(n)
		held += n
		if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
			return fmt.Errorf("vhd: %s: reading stream at %d: %w", s.opts.Name, s.pos, err)
		}
		eof := err != nil
		if held > FooterSize {
			k := held - FooterSize
			if data+int64(k) > s.opts.MaxVirtualSize {
				return formatErr(s.opts.Name, "stream", "", data, ErrTooLarge, "fixed stream longer than %d bytes of data", s.opts.MaxVirtualSize)
			}
			if _, werr := w.Write(buf[:k]); werr != nil {
				return werr
			}
			data += int64(k)
			copy(buf, buf[k:held])
			held = FooterSize
		}
		s.report()
		if eof {
			break
		}
	}
	if held < FooterSize {
		return formatErr(s.opts.Name, "stream", "", s.pos, ErrTruncated, "fixed stream of %d bytes has no footer", s.pos)
	}
	if s.opts.Size > 0 && s.pos != s.opts.Size {
		return formatErr(s.opts.Name, "stream", "", s.pos, ErrTruncated, "stream ends at %d, %d bytes expected", s.pos, s.opts.Size)
	}
	var ft Footer
	ft.UnmarshalBinary(buf[:FooterSize])
	if err := ft.openValid(); err != nil {
		return formatErr(s.opts.Name, "footer", "", data, err, "%v", err)
	}
	if ft.DiskType != DiskFixed || ft.CurrentSize != uint64(data) || data%SectorSize != 0 {
		return formatErr(s.opts.Name, "footer", "current size", data+footerOffCurrSize, ErrFormat,
			"%v disk of %d bytes after %d bytes of data; want a fixed disk of that size", ft.DiskType, ft.CurrentSize, data)
	}
	img := &headImage{size: data + FooterSize, footer: buf[:FooterSize]}
	co := s.opts.Check
	co.Name = s.opts.Name
	if _, err := Check(ctx, img, img.size, &co); err != nil {
		return err
	}
	s.Footer = ft
	if withFooter {
		if _, err := w.Write(buf[:FooterSize]); err != nil {
			return err
		}
	}
	return nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// WriteRaw writes the stream's virtual disk to w as a raw image, in order:
// a dynamic stream's blocks must lie in the file in the order of the
// virtual disk (else ErrNotSequential, before anything is written); sectors
// it does not hold are zeros. A differencing stream has no raw form
// without its parent and fails with ErrNoParentReader. When w is an
// *os.File at the end of a regular file, unallocated blocks become holes.
func (s *StreamReader) WriteRaw(ctx context.Context, w io.Writer) (int64, error) {
	if err := s.start(); err != nil {
		return 0, err
	}
	if s.Header == nil {
		cw := &countWriter{w: w}
		return cw.n, s.copyFixed(ctx, cw, false)
	}
	if s.Footer.DiskType == DiskDifferencing {
		return 0, fmt.Errorf("vhd: %s: a differencing stream to raw: %w", s.opts.Name, ErrNoParentReader)
	}
	for i := 1; i < len(s.blocks); i++ {
		if s.blocks[i].blk < s.blocks[i-1].blk {
			b := s.blocks[i]
			return 0, formatErr(s.opts.Name, "BAT", fmt.Sprintf("entry %d", b.blk), int64(s.Header.TableOffset)+4*b.blk, ErrNotSequential,
				"block %d lies in the file after block %d; raw output would need seeking backwards", s.blocks[i-1].blk, b.blk)
		}
	}
	out := newHoleWriter(w)
	bs := int64(s.Header.BlockSize)
	bmBytes := s.Header.bitmapSectors() * SectorSize
	vsize := s.VirtualSize()
	block := make([]byte, bmBytes+bs)
	var vpos int64
	for _, b := range s.blocks {
		if err := ctx.Err(); err != nil {
			return out.n, err
		}
		if err := s.skipTo(b.off, nil, block); err != nil {
			return out.n, err
		}
		if err := s.readN(block); err != nil {
			return out.n, err
		}
		vstart := b.blk * bs
		if err := out.zeros(vstart - vpos); err != nil {
			return out.n, err
		}
		n := min(bs, vsize-vstart)
		data := block[bmBytes : bmBytes+n]
		if s.batmap == nil || !s.batmap.Full(b.blk) {
			bitmap := block[:bmBytes]
			for sec := int64(0); sec*SectorSize < n; sec++ {
				if !bitSet(bitmap, sec) {
					clear(data[sec*SectorSize : min(n, (sec+1)*SectorSize)])
				}
			}
		}
		if err := out.write(data); err != nil {
			return out.n, err
		}
		vpos = vstart + n
		s.report()
	}
	foot, err := s.readFooter(nil, block)
	if err != nil {
		return out.n, err
	}
	if err := s.checkFooter(foot); err != nil {
		return out.n, err
	}
	if err := out.zeros(vsize - vpos); err != nil {
		return out.n, err
	}
	s.report()
	return out.n, out.finish()
}

// holeWriter writes raw output, seeking over zeros in a regular file.
type holeWriter struct {
	w     io.Writer
	f     *os.File
	start int64
	n     int64
	zero  []byte
}

func newHoleWriter(w io.Writer) *holeWriter {
	hw := &holeWriter{w: w}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
			if pos, err := f.Seek(0, io.SeekCurrent); err == nil && pos == st.Size() {
				hw.f, hw.start = f, pos
			}
		}
	}
	return hw
}

func (hw *holeWriter) write(b []byte) error {
	n, err := hw.w.Write(b)
	hw.n += int64(n)
	return err
}

func (hw *holeWriter) zeros(n int64) error {
	if n <= 0 {
		return nil
	}
	if hw.f != nil {
		if _, err := hw.f.Seek(n, io.SeekCurrent); err != nil {
			return err
		}
		hw.n += n
		return nil
	}
	if hw.zero == nil {
		hw.zero = make([]byte, 1<<20)
	}
	for n > 0 {
		k := min(n, int64(len(hw.zero)))
		if err := hw.write(hw.zero[:k]); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

func (hw *holeWriter) finish() error {
	if hw.f == nil {
		return nil
	}
	return hw.f.Truncate(hw.start + hw.n)
}

// ReceiveStream reads the VHD stream r into a new file at path, checking
// all metadata before any data is written (the parent rules of a
// differencing stream against its neighbours, through
// opts.Check.Parents, with the check's file name set to path). The file is
// written under a temporary name in the same directory, synced, and renamed
// to path only when the stream is whole and valid, so that nothing is left
// behind on error; an existing path is not replaced.
func ReceiveStream(ctx context.Context, r io.Reader, path string, opts *ReadStreamOptions) (*StreamReader, error) {
	o := ReadStreamOptions{}
	if opts != nil {
		o = *opts
	}
	if o.Name == "" {
		o.Name = path
	}
	if _, err := os.Lstat(path); err == nil {
		return nil, fmt.Errorf("vhd: receiving into %s: %w", path, os.ErrExist)
	}
	s, err := NewStreamReader(ctx, r, &o)
	if err != nil {
		return nil, err
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".receiving-*")
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := s.WriteVHD(ctx, tmp); err != nil {
		return nil, err
	}
	if err := tmp.Sync(); err != nil {
		return nil, err
	}
	if err := tmp.Close(); err != nil {
		return nil, err
	}
	// Link, not rename, so that a file created at path meanwhile is kept;
	// where hard links are not supported, rename after a last look.
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, err
		}
		if _, lerr := os.Lstat(path); lerr == nil {
			return nil, fmt.Errorf("vhd: receiving into %s: %w", path, os.ErrExist)
		}
		if rerr := os.Rename(tmp.Name(), path); rerr != nil {
			return nil, rerr
		}
	}
	ok = true
	os.Remove(tmp.Name())
	if d, err := os.Open(dir); err == nil {
		err = d.Sync()
		d.Close()
		if err != nil {
			return nil, err
		}
	}
	return s, nil
}
