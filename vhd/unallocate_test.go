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

// vpc is a creator without blktap's batmap.
var vpc = &vhdtest.Options{Creator: vhd.Creator{'v', 'p', 'c', ' '}}

// diskCase is a disk a crash test changes: dynamic, or a differencing
// disk over a parent full of data.
type diskCase struct {
	name   string
	size   int64
	opt    *vhdtest.Options // nil: blktap's, with a batmap
	child  bool
	writes []vhdtest.Write
	blocks []int64 // the blocks compared; nil means every block
}

// diskCases cover blocks full (marked in the batmap) and partial, with and
// without a batmap, dynamic and differencing, a table of several sectors
// and a batmap map of two sectors.
func diskCases() []diskCase {
	w := []vhdtest.Write{vhdtest.Fill(1, 0, 2*mib), vhdtest.Fill(2, 3*mib, 4096), vhdtest.Fill(3, 4*mib+100, 1000)}
	return []diskCase{
		{name: "dynamic, batmap", size: 6 * mib, writes: w},
		{name: "dynamic, no batmap", size: 6 * mib, opt: vpc, writes: w},
		{name: "child, batmap", size: 6 * mib, child: true, writes: w},
		{name: "child, no batmap", size: 6 * mib, opt: vpc, child: true, writes: w},
		{name: "dynamic, nothing allocated", size: 6 * mib},
		{name: "child, nothing allocated", size: 6 * mib, child: true},
		{name: "dynamic, odd size, last block partial", size: 5 * mib, writes: []vhdtest.Write{vhdtest.Fill(4, 4*mib, mib)}},
		{name: "table of 3 sectors", size: 600 * mib, blocks: []int64{0, 1, 150, 299},
			writes: []vhdtest.Write{vhdtest.Fill(5, 0, 2*mib), vhdtest.Fill(6, 300*mib+512, 512), vhdtest.Fill(7, 598*mib, 2*mib)}},
		{name: "batmap of 2 sectors", size: 9 << 30, blocks: []int64{0, 4100, 4607},
			writes: []vhdtest.Write{vhdtest.Fill(8, 0, 2*mib), vhdtest.Fill(9, 4100*2*mib, 2*mib), vhdtest.Fill(10, 4607*2*mib, 4096)}},
	}
}

// build writes the case's files into a fresh directory and returns the
// disk's path and, for a child, its parent opened.
func (dc diskCase) build(t *testing.T) (string, *vhd.File) {
	t.Helper()
	dir := t.TempDir()
	if !dc.child {
		return vhdtest.Dynamic(t, filepath.Join(dir, "a.vhd"), dc.size, dc.opt, dc.writes...), nil
	}
	n := min(dc.size, 8*mib)
	base := vhdtest.Dynamic(t, filepath.Join(dir, "base.vhd"), dc.size, dc.opt, vhdtest.Fill(99, 0, int(n)))
	c := vhdtest.Child(t, filepath.Join(dir, "c.vhd"), base, dc.opt, dc.writes...)
	p, err := vhd.Open(base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return c, p
}

// TestUnallocateCrash unallocates every block of each disk with a crash at
// each write, truncate and sync in turn, and with each of them failing
// once: every file a crash can leave opens with its primary footer, passes
// the full default Check and reads, block by block, the old data or the
// new (zeros, or the parent's); the result has no block allocated and ends
// at the end of the metadata; Unallocate returns with everything synced.
func TestUnallocateCrash(t *testing.T) {
	for _, dc := range diskCases() {
		t.Run(dc.name, func(t *testing.T) {
			p, parent := dc.build(t)
			c := &crashRun{name: p, orig: fileBytes(t, p), parent: parent, blocks: dc.blocks,
				op: func(f *vhd.File) error { return f.Unallocate(context.Background()) }}
			got := c.check(t)
			f := c.open(t, got)
			if n, err := f.AllocatedBlocks(); n != 0 || err != nil {
				t.Errorf("%d blocks allocated (%v)", n, err)
			}
			eoh, err := f.EndOfHeaders()
			if err != nil || int64(len(got)) != eoh+vhd.FooterSize {
				t.Errorf("the file is %d bytes, the metadata ends at %d (%v)", len(got), eoh, err)
			}
			if len(dc.writes) == 0 && !bytes.Equal(got, c.orig) {
				t.Errorf("a disk with nothing allocated changed: %s", firstDiff(got, c.orig))
			}
		})
	}
}

// TestUnallocateRefused: a fixed disk, a read-only File and a file that
// fails Check are refused before anything is written.
func TestUnallocateRefused(t *testing.T) {
	dir := t.TempDir()
	dyn := vhdtest.Dynamic(t, filepath.Join(dir, "a.vhd"), 4*mib, nil, vhdtest.Fill(1, 0, 4096))
	bad := copyFile(t, filepath.Join(dir, "bad.vhd"), dyn)
	vhdtest.SetField(t, bad, vhdtest.FieldNamed("BAT", "entry"), 0, 0x0FFFFFFF)
	fixed := vhdtest.Fixed(t, filepath.Join(dir, "f.vhd"), mib, nil)
	for _, tc := range []struct {
		name     string
		path     string
		readOnly bool
		want     error
	}{
		{"fixed", fixed, false, vhd.ErrNotDynamic},
		{"read-only", dyn, true, vhd.ErrReadOnly},
		{"BAT entry past the end of the file", bad, false, vhd.ErrBATInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			orig := fileBytes(t, tc.path)
			mem := newMemStore(orig)
			f := openMem(t, mem, tc.readOnly)
			if err := f.Unallocate(context.Background()); !errors.Is(err, tc.want) {
				t.Errorf("Unallocate: %v, want %v", err, tc.want)
			}
			if mem.writes != 0 || !bytes.Equal(mem.b, orig) {
				t.Errorf("the refused Unallocate did %d writes", mem.writes)
			}
		})
	}
}
