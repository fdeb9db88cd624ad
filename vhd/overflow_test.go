package vhd_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/vhdkit/vhdkit/vhd"
	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

// extremes are the values every field is set to: 0, its maximum, one less,
// and its top bit alone (2^63 for a 64-bit field).
func extremes(f vhdtest.Field) []uint64 {
	return []uint64{0, f.Max(), f.Max() - 1, 1 << (8*f.Size - 1)}
}

// exercise runs every query, a read, a write, Check, SetHidden and
// SetParent on a copy of the image b (a child at childPath, with parent
// available for SetParent), returning the first error of each. Nothing may
// panic.
func exercise(t *testing.T, b []byte, childPath, parent string) (openErr error) {
	t.Helper()
	for _, o := range []*vhd.CheckOptions{nil, {Compat: true}, {CheckBitmaps: true, Parents: selfOpener{b}}} {
		rep, err := vhd.Check(context.Background(), bytes.NewReader(b), int64(len(b)), o)
		if rep == nil {
			t.Fatalf("Check: nil report (%v)", err)
		}
	}
	f, err := vhd.New(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return err
	}
	if vs := f.VirtualSize(); vs < 0 || vs > vhd.MaxSize || f.Blocks() < 0 {
		t.Errorf("VirtualSize %d, Blocks %d", vs, f.Blocks())
	}
	f.BAT()
	f.Batmap()
	for _, q := range []func() (int64, error){f.EndOfHeaders, f.EndOfData, f.PhysicalSize, f.AllocatedBlocks} {
		if n, err := q(); err == nil && n < 0 {
			t.Errorf("negative size or count %d", n)
		} else if err != nil && !errors.Is(err, vhd.ErrFormat) && !errors.Is(err, vhd.ErrNotDynamic) {
			t.Errorf("query error %v is not a format error", err)
		}
	}
	f.Hidden()
	f.Marker()
	f.ParentName()
	f.ParentLocators()
	buf := make([]byte, 4096)
	for _, off := range []int64{0, f.VirtualSize() / 2, f.VirtualSize() - 1} {
		if off >= 0 {
			f.ReadAt(buf, off)
		}
	}
	limit := int64(len(b) + 16<<20)
	mem := &memStore{b: bytes.Clone(b), limit: limit}
	w, err := vhd.NewWritable(mem, int64(len(mem.b)))
	if err != nil {
		t.Fatalf("NewWritable after New succeeded: %v", err)
	}
	w.WriteAt([]byte{1}, 0)
	w.WriteAt(buf[:700], w.VirtualSize()/2)
	w.SetHidden(1)
	if mem.tooFar {
		t.Errorf("writes to a %d-byte file went past %d", len(b), limit)
	}
	mem = &memStore{b: bytes.Clone(b), limit: limit}
	w, _ = vhd.NewWritable(mem, int64(len(mem.b)))
	w.SetParent(context.Background(), parent, &vhd.SetParentOptions{ChildPath: childPath})
	if mem.tooFar {
		t.Errorf("SetParent on a %d-byte file wrote past %d", len(b), limit)
	}
	return nil
}

// TestFieldExtremes sets every field of the footer, header, locators,
// batmap header and BAT of a dynamic disk and of a differencing disk to 0,
// its maximum, its maximum less one and its top bit, then opens, queries,
// reads, writes, checks, relinks and snapshots the result: nothing panics,
// no size comes out negative, and a virtual size past 2040 GiB is a
// FormatError naming the current size field and its offset.
func TestFieldExtremes(t *testing.T) {
	dir := t.TempDir()
	base := vhdtest.Dynamic(t, filepath.Join(dir, "base.vhd"), 6*mib, nil, vhdtest.Fill(1, 0, 4096), vhdtest.Fill(2, 5*mib, 3000))
	child := vhdtest.Child(t, filepath.Join(dir, "child.vhd"), base, nil, vhdtest.Fill(3, 2*mib+100, 5000))
	other := copyFile(t, filepath.Join(dir, "other.vhd"), base)
	srcs := []string{base, child}
	if testing.Short() {
		srcs = srcs[1:] // the child has every structure the base has, and locators
	}
	for _, src := range srcs {
		orig := fileBytes(t, src)
		for _, fd := range vhdtest.Fields {
			for _, v := range extremes(fd) {
				name := fmt.Sprintf("%s/%s %s=%#x", filepath.Base(src), fd.Struct, fd.Name, v)
				t.Run(name, func(t *testing.T) {
					b := bytes.Clone(orig)
					index := 1
					if fd.Struct == "BAT" {
						index = 0
					}
					if !vhdtest.SetFieldBytes(b, fd, index, v) {
						t.Skip("no such structure")
					}
					openErr := exercise(t, b, filepath.Join(dir, "c.vhd"), other)
					if fd.Struct == "footer" && fd.Name == "current size" && v > vhd.MaxSize {
						var fe *vhd.FormatError
						if !errors.As(openErr, &fe) || fe.Field != "current size" || fe.Offset != int64(len(b)-512+48) || !errors.Is(openErr, vhd.ErrTooLarge) {
							t.Errorf("Open error %v, want a FormatError for the current size at %d", openErr, len(b)-512+48)
						}
					}
					// Snapshot onto the image as a parent.
					pp := filepath.Join(t.TempDir(), "p.vhd")
					if err := os.WriteFile(pp, b, 0o644); err != nil {
						t.Fatal(err)
					}
					if s, err := vhd.Snapshot(filepath.Join(filepath.Dir(pp), "s.vhd"), pp, nil); err == nil {
						if vs := s.VirtualSize(); vs < 0 || vs > vhd.MaxSize {
							t.Errorf("snapshot of virtual size %d", vs)
						}
						s.Close()
					}
				})
			}
		}
	}
}
