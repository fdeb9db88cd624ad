package tarball

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

// endless yields head once and then tail over and over, counting how many
// uncompressed bytes (perTail for each tail) it has handed out.
type endless struct {
	head, tail []byte
	perTail    int64
	off        int
	inHead     bool
	logical    int64
}

func newEndless(head, tail []byte, perTail int64) *endless {
	return &endless{head: head, tail: tail, perTail: perTail, inHead: true}
}

func (e *endless) Read(p []byte) (int, error) {
	src := e.tail
	if e.inHead {
		src = e.head
	}
	n := copy(p, src[e.off:])
	e.off += n
	if e.off == len(src) {
		if !e.inHead {
			e.logical += e.perTail
		}
		e.inHead, e.off = false, 0
	}
	return n, nil
}

// paxHeader builds a raw ustar header of type 'x' whose data is one PAX
// comment record, padded: tar readers loop over such headers looking for the
// entry they describe.
func paxHeader(recordLen int) []byte {
	var rec string
	for n := recordLen; ; n++ {
		body := " comment=" + strings.Repeat("a", recordLen) + "\n"
		if s := fmt.Sprint(n) + body; len(s) == n {
			rec = s
			break
		}
	}
	h := make([]byte, 512)
	copy(h, "PaxHeaders/x")
	copy(h[100:], "0000644\x00")
	copy(h[108:], "0000000\x00")
	copy(h[116:], "0000000\x00")
	copy(h[124:], fmt.Sprintf("%011o\x00", len(rec)))
	copy(h[136:], "00000000000\x00")
	h[156] = 'x'
	copy(h[257:], "ustar\x0000")
	copy(h[148:], "        ")
	sum := 0
	for _, c := range h {
		sum += int(c)
	}
	copy(h[148:], fmt.Sprintf("%06o\x00 ", sum))
	data := make([]byte, (len(rec)+511)/512*512)
	copy(data, rec)
	return append(h, data...)
}

// TestUnpackBombs feeds endless or oversized streams and checks that each is
// refused, quickly, having decompressed at most 256 MiB past the limit.
func TestUnpackBombs(t *testing.T) {
	const limit = 8 << 20
	oneMiBZeros := gz(t, make([]byte, 1<<20))
	indexed := func(b []byte) []byte { return assemble([]piece{honest(b, goDeflate(6)(b))}, false, 0, 0) }
	hugeHeader := func() []byte {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "./0.vhd", Size: 1 << 40, Format: tar.FormatGNU}); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes() // no data follows: the header alone must be refused
	}
	rootHeaders := bytes.Repeat(rawTar(t, tar.FormatGNU, false, typed("./", tar.TypeDir)), 2048)
	for _, tc := range []struct {
		name    string
		r       *endless
		wantErr error
	}{
		{"declared size over total", newEndless(gz(t, hugeHeader()), oneMiBZeros, 1<<20), ErrTotalTooLarge},
		{"zeros after the archive", newEndless(tgz(t, reg("0.vhd", []byte("disk"))), oneMiBZeros, 1<<20), ErrTotalTooLarge},
		{"indexed pieces of zeros after the archive", newEndless(indexed(rawTar(t, 0, true, reg("0.vhd", []byte("disk")))), indexed(make([]byte, 1<<20)), 1<<20), ErrTotalTooLarge},
		{"zeros without end blocks", newEndless(gz(t, rawTar(t, 0, false, reg("0.vhd", []byte("disk")))), oneMiBZeros, 1<<20), ErrTotalTooLarge},
		{"endless root entries", newEndless(gz(t, nil), gz(t, rootHeaders), int64(len(rootHeaders))), ErrTooManyEntries},
		{"endless pax headers", newEndless(gz(t, nil), gz(t, paxHeader(1<<19)), int64(len(paxHeader(1<<19)))), ErrTotalTooLarge},
		{"data larger than file limit", newEndless(gz(t, nil), gz(t, rawTar(t, tar.FormatGNU, false, reg("0.vhd", make([]byte, 1<<20)))), 0), ErrFileTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := t.TempDir()
			start := time.Now()
			opts := &UnpackOptions{MaxTotalSize: limit, MaxFileSize: limit / 16}
			if tc.name == "declared size over total" {
				opts.MaxFileSize = 0
			}
			_, err := Unpack(context.Background(), tc.r, dst, opts)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
			if tc.r.logical > limit+256<<20 {
				t.Errorf("decompressed %d bytes before refusing, limit %d", tc.r.logical, limit)
			}
			if got := readFiles(t, dst); len(got) != 0 {
				t.Errorf("refused archive left %v", got)
			}
			t.Logf("refused after %d decompressed bytes in %v: %v", tc.r.logical, time.Since(start), err)
		})
	}
}

// TestUnpackCancel checks that cancelling ctx stops Unpack of an endless
// stream and removes the partial file.
func TestUnpackCancel(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "./0.vhd", Size: 1 << 40, Format: tar.FormatGNU}); err != nil {
		t.Fatal(err)
	}
	data := pseudoRandom(1<<20, 3)
	indexed := func(b []byte) []byte { return assemble([]piece{honest(b, goDeflate(1)(b))}, false, 0, 0) }
	for _, tc := range []struct {
		name       string
		head, tail []byte
	}{
		{"plain members, decoded serially", gz(t, buf.Bytes()), gz(t, data)},
		{"indexed pieces, decoded in parallel", indexed(buf.Bytes()), indexed(data)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := t.TempDir()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			_, err := Unpack(ctx, newEndless(tc.head, tc.tail, 1<<20), dst, &UnpackOptions{
				Progress: func(p Progress) {
					if p.Logical >= 16<<20 {
						cancel()
					}
				},
			})
			var ee *EntryError
			if !errors.Is(err, context.Canceled) || !errors.As(err, &ee) || ee.Name != "./0.vhd" || ee.Offset < 16<<20 {
				t.Fatalf("error %v, want cancellation naming ./0.vhd past 16 MiB", err)
			}
			if got := readFiles(t, dst); len(got) != 0 {
				t.Errorf("cancelled unpack left %v", got)
			}
		})
	}
}

var _ io.Reader = (*endless)(nil)
