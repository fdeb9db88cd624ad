package vhd_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vhdkit/vhdkit/vhd"
	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

// fuzzSeeds adds small valid files of every kind: an empty blktap dynamic
// disk, a dynamic disk with 4 KiB blocks and data, a fixed disk, and a
// differencing child with data.
func fuzzSeeds(f *testing.F) {
	dir := f.TempDir()
	other := &vhdtest.Options{BlockSize: 4096, Creator: vhd.Creator{'v', 'h', 'd', 'k'}}
	paths := []string{
		vhdtest.Dynamic(f, filepath.Join(dir, "empty.vhd"), 4*mib, nil),
		vhdtest.Dynamic(f, filepath.Join(dir, "small.vhd"), 64<<10, other, vhdtest.Fill(1, 0, 5000), vhdtest.Fill(2, 40000, 700)),
		vhdtest.Fixed(f, filepath.Join(dir, "fixed.vhd"), 16<<10, nil, vhdtest.Fill(3, 512, 1024)),
	}
	base := vhdtest.Dynamic(f, filepath.Join(dir, "base.vhd"), 64<<10, other, vhdtest.Fill(4, 0, 8192))
	paths = append(paths, base, vhdtest.Child(f, filepath.Join(dir, "child.vhd"), base, other, vhdtest.Fill(5, 4096, 600)))
	paths = append(paths, vhdtest.Child(f, filepath.Join(dir, "tapchild.vhd"), paths[0], nil))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// FuzzOpen opens arbitrary bytes with New and runs every query on what
// opens: nothing may panic, hang or allocate without bound.
func FuzzOpen(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := vhd.New(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			if v != nil {
				t.Fatal("New returned a File with an error")
			}
			return
		}
		v.BAT()
		v.Batmap()
		v.EndOfHeaders()
		v.EndOfData()
		v.PhysicalSize()
		v.AllocatedBlocks()
		v.Hidden()
		v.Marker()
		v.ParentName()
		v.ParentTime()
		for _, l := range v.ParentLocators() {
			if l.Slot < 0 || l.Slot > 7 {
				t.Fatalf("locator slot %d", l.Slot)
			}
		}
		buf := make([]byte, 4096)
		vs := v.VirtualSize()
		for _, off := range []int64{0, 511, vs / 2, vs - 1, vs - 4096, vs} {
			if off < 0 {
				continue
			}
			n, err := v.ReadAt(buf, off)
			if n < 0 || n > len(buf) || (err == nil && n != len(buf)) {
				t.Fatalf("ReadAt(%d) = %d, %v", off, n, err)
			}
		}
		v.Close()
	})
}

// selfOpener resolves every locator to one path and opens the fuzzed bytes
// themselves as the parent.
type selfOpener struct{ data []byte }

func (o selfOpener) Resolve(child *vhd.File, loc vhd.Locator) (string, error) {
	if loc.Slot == 1 {
		return "", os.ErrNotExist
	}
	return "self", nil
}

func (o selfOpener) Open(string) (*vhd.File, error) {
	return vhd.New(bytes.NewReader(o.data), int64(len(o.data)))
}

// FuzzCheck checks arbitrary bytes with and without options: nothing may
// panic or hang, and the report and the error must agree.
func FuzzCheck(f *testing.F) {
	fuzzSeeds(f)
	now := func() time.Time { return vhdtest.Epoch.Add(time.Hour) }
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, o := range []*vhd.CheckOptions{
			nil,
			{Compat: true, Now: now},
			{UseBackupFooter: true, CheckBitmaps: true, IgnoreTimestamps: true, Parents: selfOpener{data}, MaxProblems: 3},
			{Compat: true, SkipOverlapCheck: true, IgnoreParentUUID: true, Parents: selfOpener{data}, Now: now},
		} {
			rep, err := vhd.Check(context.Background(), bytes.NewReader(data), int64(len(data)), o)
			if rep == nil {
				t.Fatal("nil report")
			}
			var ce *vhd.CheckError
			switch {
			case err == nil:
				if !rep.Valid() {
					t.Fatalf("no error but %d problems", len(rep.Problems))
				}
			case errors.As(err, &ce):
				if rep.Valid() || len(ce.Problems) != len(rep.Problems) || len(ce.Problems) == 0 && len(rep.NotRun) == 0 {
					t.Fatalf("CheckError with %d problems, report %d", len(ce.Problems), len(rep.Problems))
				}
			default:
				t.Fatalf("unexpected error %v", err)
			}
			for _, p := range rep.Problems {
				if p.Msg == "" || p.Err == nil || p.Part == "" {
					t.Fatalf("incomplete problem %+v", p)
				}
			}
			if o != nil && o.MaxProblems > 0 && len(rep.Problems) > o.MaxProblems {
				t.Fatalf("%d problems listed, max %d", len(rep.Problems), o.MaxProblems)
			}
		}
	})
}
