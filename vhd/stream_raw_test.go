package vhd_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/vhdkit/vhdkit/vhd"
	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

// sparseRaw writes a raw image of size bytes holding writes, with holes
// everywhere else (the file is truncated to size first).
func sparseRaw(t *testing.T, path string, size int64, writes ...vhdtest.Write) []byte {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	img := make([]byte, size)
	for _, w := range writes {
		if _, err := f.WriteAt(w.Data, w.Offset); err != nil {
			t.Fatal(err)
		}
		copy(img[w.Offset:], w.Data)
	}
	return img
}

// rawStream plans and writes a stream of the raw file at src into out.
func rawStream(t *testing.T, src, out string, opts *vhd.RawStreamOptions) (*vhd.RawStream, []byte) {
	t.Helper()
	f, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	p, err := vhd.PlanRawStream(context.Background(), f, st.Size(), opts)
	if err != nil {
		t.Fatalf("PlanRawStream: %v", err)
	}
	// Into the file itself, so that blocks go through sendfile on Linux.
	o, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	n, err := p.WriteStream(context.Background(), o)
	if err != nil {
		t.Fatalf("WriteStream: %v", err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if n != p.Size() || int64(len(b)) != p.Size() {
		t.Errorf("wrote %d bytes (returned %d), plan says %d", len(b), n, p.Size())
	}
	// And into a buffer, through user memory: the same bytes.
	var buf bytes.Buffer
	if _, err := p.WriteStream(context.Background(), &buf); err != nil {
		t.Fatalf("WriteStream to a buffer: %v", err)
	}
	if !bytes.Equal(buf.Bytes(), b) {
		t.Errorf("stream to a buffer differs from the one to a file: %s", firstDiff(buf.Bytes(), b))
	}
	return p, b
}

// TestRawStream converts raw images (holes, data, written zeros, sizes off
// 2 MiB multiples) to dynamic and fixed VHDs and checks the length against
// the plan, validity, determinism, the virtual size, the data, the blocks
// left out, and (with qemu-img) the size against qemu-img's own dynamic
// conversion plus blktap's 4 KiB alignment and batmap.
func TestRawStream(t *testing.T) {
	qemu := ""
	if p, err := exec.LookPath("qemu-img"); err == nil {
		qemu = p
	} else if vhdtest.InteropRequired() {
		t.Fatal("qemu-img is not installed (VHDKIT_INTEROP=required)")
	}
	tests := []struct {
		name   string
		size   int64
		writes []vhdtest.Write
		blocks int64 // allocated in the dynamic stream
	}{
		{"empty", 0, nil, 0},
		{"one sector", 512, []vhdtest.Write{vhdtest.Fill(1, 0, 512)}, 1},
		{"all holes", 9 * mib, nil, 0},
		{"odd size", 7*mib + 1536, []vhdtest.Write{vhdtest.Fill(2, 100, 5000), vhdtest.Fill(3, 7*mib+1024, 512)}, 2},
		{"written zeros", 8 * mib, []vhdtest.Write{{Offset: 2 * mib, Data: make([]byte, 2*mib)}, vhdtest.Fill(4, 6*mib+4096, 4096)}, 1},
	}
	for _, tt := range tests {
		for _, typ := range []vhd.DiskType{vhd.DiskDynamic, vhd.DiskFixed} {
			t.Run(tt.name+"/"+typ.String(), func(t *testing.T) {
				dir := t.TempDir()
				src := filepath.Join(dir, "in.raw")
				img := sparseRaw(t, src, tt.size, tt.writes...)
				out := filepath.Join(dir, "out.vhd")
				_, first := rawStream(t, src, out, &vhd.RawStreamOptions{Type: typ})
				_, second := rawStream(t, src, out, &vhd.RawStreamOptions{Type: typ})
				if !bytes.Equal(first, second) {
					t.Errorf("two runs differ: %s", firstDiff(second, first))
				}
				checkValid(t, out)
				f, err := vhd.Open(out)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				if f.VirtualSize() != tt.size || f.DiskType() != typ {
					t.Errorf("%v of %d bytes, want %v of %d", f.DiskType(), f.VirtualSize(), typ, tt.size)
				}
				if got := readAll(t, f); !bytes.Equal(got, img) {
					t.Errorf("data differs: %s", firstDiff(got, img))
				}
				if typ == vhd.DiskFixed {
					if f.FileSize() != tt.size+512 {
						t.Errorf("fixed file of %d bytes, want %d", f.FileSize(), tt.size+512)
					}
					return
				}
				if n, _ := f.AllocatedBlocks(); n != tt.blocks {
					t.Errorf("%d blocks allocated, want %d", n, tt.blocks)
				}
				if qemu == "" || tt.size == 0 {
					return
				}
				q := filepath.Join(dir, "q.vhd")
				runTool(t, qemu, "convert", "-f", "raw", "-O", "vpc", "-o", "subformat=dynamic", src, q)
				qs, err := os.Stat(q)
				if err != nil {
					t.Fatal(err)
				}
				batmapSecs := (f.Blocks()/8 + 511) / 512
				slack := tt.blocks*4096 + 512 + max(1, batmapSecs)*512 + 4096
				if got := int64(len(first)); got > qs.Size()+slack {
					t.Errorf("stream of %d bytes, qemu-img's %d + alignment and batmap %d", got, qs.Size(), slack)
				}
			})
		}
	}
}

// TestRawStreamRefusals: a size off 512, a cancelled write, a source
// changed between plan and write.
func TestRawStreamRefusals(t *testing.T) {
	dir := t.TempDir()
	if _, err := vhd.PlanRawStream(context.Background(), bytes.NewReader(make([]byte, 4196)), 4196, nil); !errors.Is(err, vhd.ErrTooLarge) {
		t.Errorf("size 4196: %v, want ErrTooLarge", err)
	}
	src := filepath.Join(dir, "in.raw")
	sparseRaw(t, src, 6*mib, vhdtest.Fill(1, 0, 3*mib))
	f, err := os.OpenFile(src, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p, err := vhd.PlanRawStream(context.Background(), f, 6*mib, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var buf bytes.Buffer
	if _, err := p.WriteStream(ctx, &buf); !errors.Is(err, context.Canceled) || int64(buf.Len()) >= p.Size() {
		t.Errorf("cancelled: %v after %d of %d bytes", err, buf.Len(), p.Size())
	}
	if _, err := f.WriteAt([]byte{0xEE}, 2*mib+5); err != nil {
		t.Fatal(err)
	}
	// The change is seen by its modification time, whose clock ticks
	// coarsely: move it clearly past the plan's.
	soon := time.Now().Add(time.Minute)
	if err := os.Chtimes(src, soon, soon); err != nil {
		t.Fatal(err)
	}
	buf.Reset()
	if _, err := p.WriteStream(context.Background(), &buf); !errors.Is(err, vhd.ErrChanged) || int64(buf.Len()) >= p.Size() {
		t.Errorf("changed data: %v after %d of %d bytes", err, buf.Len(), p.Size())
	}
	// A block that was a hole gets data: the modification time says so.
	p, err = vhd.PlanRawStream(context.Background(), f, 6*mib, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{0xEE}, 5*mib); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(src, later, later); err != nil {
		t.Fatal(err)
	}
	buf.Reset()
	if _, err := p.WriteStream(context.Background(), &buf); !errors.Is(err, vhd.ErrChanged) {
		t.Errorf("new data in a hole: %v", err)
	}
}
