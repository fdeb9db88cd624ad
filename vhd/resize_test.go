package vhd_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/vhdkit/vhdkit/vhd"
	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

// roomyDisk creates a dynamic disk of size bytes with a table for meta
// bytes, holding writes, and returns its bytes and its virtual disk.
func roomyDisk(t *testing.T, size, meta int64, writes ...vhdtest.Write) ([]byte, []byte) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "a.vhd")
	f, err := vhd.Create(p, &vhd.CreateOptions{Size: size, MetadataSize: meta, UUID: vhdtest.NameUUID("a"), Time: vhdtest.Epoch})
	if err != nil {
		t.Fatal(err)
	}
	img := make([]byte, size)
	for _, w := range writes {
		if _, err := f.WriteAt(w.Data, w.Offset); err != nil {
			t.Fatal(err)
		}
		copy(img[w.Offset:], w.Data)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return fileBytesOf(t, p), img
}

// TestGrowCrash grows a disk with a crash injected at every write,
// truncate and sync: the durable file opens with the old size or the new
// one, passes Check and reads the old data (zeros beyond it); the
// uncrashed grow returns with everything synced.
func TestGrowCrash(t *testing.T) {
	orig, img := roomyDisk(t, 10*mib, 100*mib, vhdtest.Fill(1, 0, 4096), vhdtest.Fill(2, 5*mib, 8192))
	grow := func(failAt int) (*syncStore, error) {
		s := newSyncStore(orig, failAt)
		f, err := vhd.NewWritable(s, int64(len(orig)))
		if err != nil {
			t.Fatal(err)
		}
		return s, f.Grow(context.Background(), 50*mib, nil)
	}
	s, err := grow(0)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(s.durable, s.cur) || s.log[len(s.log)-1] != "sync" {
		t.Fatalf("Grow returned with unsynced changes: %v", s.log)
	}
	check := func(b []byte, k int) {
		got, err := openBytes(t, b, true)
		if err != nil {
			t.Fatalf("crash at operation %d: %v", k, err)
		}
		if n := got.Footer.CurrentSize; n != 10*mib && n != 50*mib {
			t.Errorf("crash at operation %d: size %d, want the old or the new", k, n)
		}
		want := append(append([]byte(nil), img...), make([]byte, len(got.Data)-len(img))...)
		if !bytes.Equal(got.Data, want) {
			t.Errorf("crash at operation %d: the data changed", k)
		}
	}
	check(s.durable, 0)
	for k := 1; k <= s.ops; k++ {
		c, err := grow(k)
		if !errors.Is(err, errCrash) {
			t.Fatalf("crash at operation %d: Grow returned %v", k, err)
		}
		check(c.durable, k)
	}
}

func TestGrowRefusals(t *testing.T) {
	orig, _ := roomyDisk(t, 10*mib, 20*mib)
	for _, tc := range []struct {
		name string
		size int64
		want error
	}{
		{"shrink", 4 * mib, vhd.ErrShrink},
		{"past the table", 22 * mib, vhd.ErrNoTableRoom},
		{"past the format", vhd.MaxSize + 1, vhd.ErrFormat},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSyncStore(orig, 0)
			f, err := vhd.NewWritable(s, int64(len(orig)))
			if err != nil {
				t.Fatal(err)
			}
			if err := f.Grow(context.Background(), tc.size, nil); !errors.Is(err, tc.want) {
				t.Errorf("Grow(%d): %v, want %v", tc.size, err, tc.want)
			}
			if s.ops != 0 {
				t.Errorf("the refused grow wrote: %v", s.log)
			}
		})
	}
}

// TestGrow1GiBTo100GiB grows a populated 1 GiB disk to 100 GiB: every byte
// reads as before and the new space reads as zeros.
func TestGrow1GiBTo100GiB(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 1 GiB; skipped with -short")
	}
	p := filepath.Join(t.TempDir(), "a.vhd")
	f, err := vhd.Create(p, &vhd.CreateOptions{Size: 1 << 30, MetadataSize: 100 << 30})
	if err != nil {
		t.Fatal(err)
	}
	for off := int64(0); off < 1<<30; off += 4 * mib {
		if _, err := f.WriteAt(vhdtest.Pattern(uint64(off), 4*mib), off); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Grow(context.Background(), 100<<30, nil); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	g, err := vhd.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if g.VirtualSize() != 100<<30 {
		t.Fatalf("virtual size %d, want 100 GiB", g.VirtualSize())
	}
	rep, err := g.Check(context.Background(), nil)
	if err != nil || !rep.Valid() {
		t.Fatalf("check: %v %v", err, rep)
	}
	buf := make([]byte, 4*mib)
	for off := int64(0); off < 1<<30; off += 4 * mib {
		if _, err := g.ReadAt(buf, off); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf, vhdtest.Pattern(uint64(off), 4*mib)) {
			t.Fatalf("data at %d changed", off)
		}
	}
	for _, off := range []int64{1 << 30, 50 << 30, 100<<30 - 4*mib} {
		if _, err := g.ReadAt(buf, off); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf, make([]byte, len(buf))) {
			t.Errorf("the new space at %d does not read as zeros", off)
		}
	}
}
