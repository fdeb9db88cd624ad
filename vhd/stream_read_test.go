package vhd_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/vhdkit/vhdkit/vhd"
	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

// onlyReader hides every method of r but Read, as an HTTP body or a pipe.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

// streamSources makes VHD streams the reader must take: vhdkit's raw
// conversions (dynamic, fixed) and qemu-img's (dynamic, fixed), with the
// raw image they hold.
func streamSources(t *testing.T) map[string]func(t *testing.T) (stream, raw []byte) {
	img := func(t *testing.T, dir string) (string, []byte) {
		src := filepath.Join(dir, "in.raw")
		return src, sparseRaw(t, src, 9*mib+1024,
			vhdtest.Fill(1, 0, 3000), vhdtest.Fill(2, 4*mib+512, 2*mib), vhdtest.Fill(3, 9*mib, 1024))
	}
	vhdkit := func(typ vhd.DiskType) func(t *testing.T) ([]byte, []byte) {
		return func(t *testing.T) ([]byte, []byte) {
			dir := t.TempDir()
			src, raw := img(t, dir)
			_, s := rawStream(t, src, filepath.Join(dir, "s.vhd"), &vhd.RawStreamOptions{Type: typ})
			return s, raw
		}
	}
	qemuMade := func(sub string) func(t *testing.T) ([]byte, []byte) {
		return func(t *testing.T) ([]byte, []byte) {
			qemu := vhdtest.Tool(t, "qemu-img")
			dir := t.TempDir()
			src, raw := img(t, dir)
			out := filepath.Join(dir, "q.vhd")
			runTool(t, qemu, "convert", "-f", "raw", "-O", "vpc", "-o", "subformat="+sub, src, out)
			b, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			f, err := vhd.Open(out)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			// qemu rounds the size up to its geometry: the tail reads as zeros.
			return b, append(raw, make([]byte, f.VirtualSize()-int64(len(raw)))...)
		}
	}
	return map[string]func(t *testing.T) ([]byte, []byte){
		"vhdkit dynamic": vhdkit(vhd.DiskDynamic),
		"vhdkit fixed":   vhdkit(vhd.DiskFixed),
		"qemu dynamic":   qemuMade("dynamic"),
		"qemu fixed":     qemuMade("fixed"),
	}
}

// TestReadStream brings streams through ReceiveStream (byte for byte, with
// and without a known length) and WriteRaw (the raw image).
func TestReadStream(t *testing.T) {
	for name, src := range streamSources(t) {
		t.Run(name, func(t *testing.T) {
			stream, raw := src(t)
			for _, size := range []int64{0, int64(len(stream))} {
				dir := t.TempDir()
				out := filepath.Join(dir, "r.vhd")
				if _, err := vhd.ReceiveStream(context.Background(), onlyReader{bytes.NewReader(stream)}, out, &vhd.ReadStreamOptions{Size: size}); err != nil {
					t.Fatalf("ReceiveStream (size %d): %v", size, err)
				}
				got, err := os.ReadFile(out)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, stream) {
					t.Errorf("received file differs from the stream: %s", firstDiff(got, stream))
				}
				if ents, _ := os.ReadDir(dir); len(ents) != 1 {
					t.Errorf("%d files in the directory, want 1", len(ents))
				}
			}
			s, err := vhd.NewStreamReader(context.Background(), onlyReader{bytes.NewReader(stream)}, nil)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			n, err := s.WriteRaw(context.Background(), &buf)
			if err != nil {
				t.Fatalf("WriteRaw: %v", err)
			}
			if n != int64(buf.Len()) || !bytes.Equal(buf.Bytes(), raw) {
				t.Errorf("raw (%d bytes, returned %d) differs: %s", buf.Len(), n, firstDiff(buf.Bytes(), raw))
			}
			// Into a regular file: holes where blocks are absent, same bytes.
			rf := filepath.Join(t.TempDir(), "raw")
			f, err := os.Create(rf)
			if err != nil {
				t.Fatal(err)
			}
			s, err = vhd.NewStreamReader(context.Background(), onlyReader{bytes.NewReader(stream)}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.WriteRaw(context.Background(), f); err != nil {
				t.Fatal(err)
			}
			f.Close()
			if b, _ := os.ReadFile(rf); !bytes.Equal(b, raw) {
				t.Errorf("raw file differs: %s", firstDiff(b, raw))
			}
		})
	}
}

// dynamicStream returns a vhdkit dynamic stream of 8 MiB with blocks 0, 2
// and 3 allocated, and where its BAT lies.
func dynamicStream(t *testing.T) []byte {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "in.raw")
	sparseRaw(t, src, 8*mib, vhdtest.Fill(1, 0, 512), vhdtest.Fill(2, 4*mib, 4*mib))
	_, s := rawStream(t, src, filepath.Join(dir, "s.vhd"), nil)
	return s
}

// setBATEntry sets entry i of the BAT at 1536 and returns the stream.
func setBATEntry(b []byte, i int, v uint32) []byte {
	binary.BigEndian.PutUint32(b[1536+4*i:], v)
	return b
}

// TestReadStreamRefusals: bad metadata and impossible orders are refused
// before anything is written, with typed errors, and leave nothing behind.
func TestReadStreamRefusals(t *testing.T) {
	base := dynamicStream(t)
	clone := func() []byte { return bytes.Clone(base) }
	bat := func(b []byte, i int) uint32 { return binary.BigEndian.Uint32(b[1536+4*i:]) }
	tests := []struct {
		name   string
		stream func() []byte
		opts   vhd.ReadStreamOptions
		want   error
	}{
		{"footer checksum", func() []byte { b := clone(); b[64] ^= 1; return b }, vhd.ReadStreamOptions{}, vhd.ErrChecksum},
		{"header cookie", func() []byte { b := clone(); b[512] = 'X'; return b }, vhd.ReadStreamOptions{}, vhd.ErrCookie},
		{"header checksum", func() []byte { b := clone(); b[512+28] ^= 1; return b }, vhd.ReadStreamOptions{}, vhd.ErrChecksum},
		{"BAT entry into the metadata", func() []byte { return setBATEntry(clone(), 2, 2) }, vhd.ReadStreamOptions{}, vhd.ErrNotSequential},
		{"BAT entries overlap", func() []byte { b := clone(); return setBATEntry(b, 3, bat(b, 2)+1) }, vhd.ReadStreamOptions{}, vhd.ErrNotSequential},
		{"BAT entry past the end, length known", func() []byte { return setBATEntry(clone(), 1, 1<<24) }, vhd.ReadStreamOptions{Size: int64(len(base))}, vhd.ErrTruncated},
		{"virtual size over the limit", clone, vhd.ReadStreamOptions{MaxVirtualSize: 4 * mib}, vhd.ErrTooLarge},
		{"metadata over the limit", clone, vhd.ReadStreamOptions{MaxHead: 2048}, vhd.ErrTooLarge},
		{"truncated body, length known", func() []byte { return clone()[:len(base)-4096] }, vhd.ReadStreamOptions{Size: int64(len(base)) - 4096}, vhd.ErrTruncated},
		{"truncated metadata", func() []byte { return clone()[:1000] }, vhd.ReadStreamOptions{}, vhd.ErrTruncated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := vhd.NewStreamReader(context.Background(), onlyReader{bytes.NewReader(tt.stream())}, &tt.opts)
			if !errors.Is(err, tt.want) {
				t.Errorf("NewStreamReader: %v, want %v", err, tt.want)
			}
			dir := t.TempDir()
			out := filepath.Join(dir, "r.vhd")
			if _, err := vhd.ReceiveStream(context.Background(), onlyReader{bytes.NewReader(tt.stream())}, out, &tt.opts); !errors.Is(err, tt.want) {
				t.Errorf("ReceiveStream: %v, want %v", err, tt.want)
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 0 {
				t.Errorf("%d files left behind", len(ents))
			}
		})
	}

	// Found only at the end: a truncated body of unknown length, a bad
	// last footer. Typed errors, and nothing left behind.
	for name, b := range map[string][]byte{
		"truncated body":      base[:len(base)-2*mib],
		"last footer differs": func() []byte { b := clone(); b[len(b)-512+85] = 1; return b }(),
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			_, err := vhd.ReceiveStream(context.Background(), onlyReader{bytes.NewReader(b)}, filepath.Join(dir, "r.vhd"), nil)
			if !errors.Is(err, vhd.ErrFormat) {
				t.Errorf("ReceiveStream: %v, want a FormatError", err)
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 0 {
				t.Errorf("%d files left behind", len(ents))
			}
		})
	}

	// Blocks out of the virtual disk's order: fine into a file, refused
	// for raw output before anything is written.
	t.Run("raw needs seeking", func(t *testing.T) {
		b := clone()
		e2, e3 := bat(b, 2), bat(b, 3)
		setBATEntry(b, 2, e3)
		setBATEntry(b, 3, e2)
		s, err := vhd.NewStreamReader(context.Background(), onlyReader{bytes.NewReader(b)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if _, err := s.WriteRaw(context.Background(), &out); !errors.Is(err, vhd.ErrNotSequential) || out.Len() != 0 {
			t.Errorf("WriteRaw: %v after %d bytes, want ErrNotSequential before any", err, out.Len())
		}
	})
}
