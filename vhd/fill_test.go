package vhd_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"path/filepath"
	"testing"

	"github.com/vhdkit/vhdkit/vhd"
	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

// fillCases are diskCases with the range each fills: the whole disk, or
// for the large ones the blocks they compare.
func fillCases() []struct {
	diskCase
	off, n int64
} {
	var out []struct {
		diskCase
		off, n int64
	}
	for _, dc := range diskCases() {
		off, n := int64(0), dc.size
		switch dc.name {
		case "table of 3 sectors":
			off, n = 127*2*mib, 3*2*mib // blocks 127 to 129, in two BAT sectors
			dc.blocks = []int64{127, 128, 129}
		case "batmap of 2 sectors":
			off, n = 4099*2*mib, 3*2*mib // blocks 4099 to 4101
			dc.blocks = []int64{4099, 4100, 4101}
		}
		out = append(out, struct {
			diskCase
			off, n int64
		}{dc, off, n})
	}
	small := &vhdtest.Options{BlockSize: 4096, Creator: vpc.Creator}
	sw := []vhdtest.Write{vhdtest.Fill(11, 0, 4096), vhdtest.Fill(12, 5*4096+512, 512), vhdtest.Fill(13, 65*4096, 1024)}
	cases := []diskCase{{name: "4 KiB blocks, two batches", size: 66 * 4096, opt: small, writes: sw}}
	if !testing.Short() {
		// The slowest case, some 150 operations: not under -short.
		cases = append(cases, diskCase{name: "4 KiB blocks, two batches, child", size: 66 * 4096, opt: small, child: true, writes: sw})
	}
	for _, dc := range cases {
		out = append(out, struct {
			diskCase
			off, n int64
		}{dc, 0, dc.size})
	}
	return out
}

// TestFillCrash fills each disk with a crash at each write, truncate and
// sync in turn, and with each of them failing once: every file a crash
// can leave opens with its primary footer, passes the full default Check
// and reads the same data; the filled disk has every block of the range
// allocated and every sector of it set in its bitmap, and full blocks
// marked in the batmap; Fill returns with everything synced.
func TestFillCrash(t *testing.T) {
	for _, fc := range fillCases() {
		t.Run(fc.name, func(t *testing.T) {
			p, parent := fc.build(t)
			c := &crashRun{name: p, orig: fileBytes(t, p), parent: parent, blocks: fc.blocks,
				op: func(f *vhd.File) error { return f.Fill(context.Background(), fc.off, fc.n) }}
			got := c.check(t)
			before := c.readBlocks(t, c.open(t, c.orig))
			after := c.readBlocks(t, c.open(t, got))
			for i := range before {
				if !bytes.Equal(before[i], after[i]) {
					t.Errorf("compared block %d reads differently after the fill", i)
				}
			}
			f := c.open(t, got)
			bat, err := f.BAT()
			if err != nil {
				t.Fatal(err)
			}
			bm, _ := f.Batmap()
			bs := f.BlockSize()
			for blk := fc.off / bs; blk <= (fc.off+fc.n-1)/bs; blk++ {
				if bat[blk] == vhd.Unallocated {
					t.Fatalf("block %d is not allocated", blk)
				}
				full := (blk+1)*bs <= f.VirtualSize()
				if bm != nil && bm.Full(blk) != full {
					t.Errorf("block %d: batmap says full=%v, want %v", blk, bm.Full(blk), full)
				}
			}
			// Filling again changes nothing.
			mem := newMemStore(got)
			g := c.writable(t, mem)
			if err := g.Fill(context.Background(), fc.off, fc.n); err != nil || mem.writes != 0 {
				t.Errorf("a second fill: %v, %d writes", err, mem.writes)
			}
		})
	}
}

// TestAllocateCrash allocates the blocks of each disk without their data
// (vhd-util fill -b), with a crash at each write, truncate and sync in
// turn, and with each of them failing once: every file a crash can leave
// opens with its primary footer, passes the full default Check and reads,
// block by block, the old data or the new (zeros in the blocks it
// allocates); blocks already allocated keep their data.
func TestAllocateCrash(t *testing.T) {
	for _, fc := range fillCases() {
		t.Run(fc.name, func(t *testing.T) {
			p, parent := fc.build(t)
			c := &crashRun{name: p, orig: fileBytes(t, p), parent: parent, blocks: fc.blocks,
				op: func(f *vhd.File) error { return f.Allocate(context.Background(), fc.off, fc.n) }}
			got := c.check(t)
			of, nf := c.open(t, c.orig), c.open(t, got)
			oldBAT, _ := of.BAT()
			newBAT, _ := nf.BAT()
			before, after := c.readBlocks(t, of), c.readBlocks(t, nf)
			blocks := fc.blocks
			if blocks == nil {
				for i := range of.Blocks() {
					blocks = append(blocks, i)
				}
			}
			for i, blk := range blocks {
				switch {
				case newBAT[blk] == vhd.Unallocated:
					t.Errorf("block %d is not allocated", blk)
				case oldBAT[blk] != vhd.Unallocated:
					if newBAT[blk] != oldBAT[blk] || !bytes.Equal(before[i], after[i]) {
						t.Errorf("allocated block %d moved or changed", blk)
					}
				case !bytes.Equal(after[i], make([]byte, len(after[i]))):
					t.Errorf("new block %d does not read as zeros", blk)
				}
			}
		})
	}
}

// TestAllocateLongerFile allocates blocks in a file longer than its data
// (physical size set past it, the space holding junk): the file is cut
// behind the new blocks, which read as zeros, crash-safe all the way.
func TestAllocateLongerFile(t *testing.T) {
	for _, op := range []struct {
		name string
		do   func(f *vhd.File, n int64) error
	}{
		{"allocate", func(f *vhd.File, n int64) error { return f.Allocate(context.Background(), 0, n) }},
		{"fill", func(f *vhd.File, n int64) error { return f.Fill(context.Background(), 0, n) }},
	} {
		t.Run(op.name, func(t *testing.T) {
			p := vhdtest.Dynamic(t, filepath.Join(t.TempDir(), "a.vhd"), 6*mib, nil, vhdtest.Fill(1, 2*mib, 4096))
			b := fileBytes(t, p)
			foot := b[len(b)-512:]
			// 3 MiB of junk between the data and the footer.
			long := append(append(bytes.Clone(b[:len(b)-512]), vhdtest.Pattern(5, 3*mib)...), foot...)
			c := &crashRun{name: p, orig: long, op: func(f *vhd.File) error { return op.do(f, 6*mib) }}
			got := c.check(t)
			f := c.open(t, got)
			eod, err := f.EndOfData()
			if err != nil || int64(len(got)) != eod+vhd.FooterSize || eod <= int64(len(b)) {
				t.Errorf("the file is %d bytes, the data ends at %d (%v)", len(got), eod, err)
			}
		})
	}
}

// sparseStore is a huge file that holds head, then zeros, then tail at
// its end; it fails every write.
type sparseStore struct {
	head, tail []byte
	size       int64
	writes     int
}

func (s *sparseStore) ReadAt(p []byte, off int64) (int, error) {
	if off >= s.size {
		return 0, io.EOF
	}
	n := len(p)
	var err error
	if int64(n) > s.size-off {
		n, err = int(s.size-off), io.EOF
	}
	clear(p[:n])
	if off < int64(len(s.head)) {
		copy(p[:n], s.head[off:])
	}
	if t := s.size - int64(len(s.tail)); off+int64(n) > t {
		lo := max(off, t)
		copy(p[lo-off:n], s.tail[lo-t:])
	}
	return n, err
}

func (s *sparseStore) WriteAt(p []byte, off int64) (int, error) {
	s.writes++
	return 0, errInjected
}

// TestAllocatePast2TiB: blocks that would lie past the 2 TiB a table entry
// addresses are refused with a BlockError naming the block, before
// anything is written, by Allocate and Fill alike.
func TestAllocatePast2TiB(t *testing.T) {
	p := vhdtest.Dynamic(t, filepath.Join(t.TempDir(), "a.vhd"), 8*mib, vpc, vhdtest.Fill(1, 0, 512))
	b := fileBytes(t, p)
	h, err := vhd.New(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	// Block 0 moves to end at sector 0xFFFFF000: block 1 fits behind
	// it, block 2 would start past 2 TiB.
	const bitmap0 = 0xFFFFE000 - 1
	binary.BigEndian.PutUint32(b[h.Header.TableOffset:], bitmap0)
	s := &sparseStore{head: b[:len(b)-512], tail: b[len(b)-512:], size: 0xFFFFF000*512 + 512}
	for _, op := range []struct {
		name string
		do   func(f *vhd.File) error
	}{
		{"allocate", func(f *vhd.File) error { return f.Allocate(context.Background(), 0, 8*mib) }},
		{"fill", func(f *vhd.File) error { return f.Fill(context.Background(), 0, 8*mib) }},
	} {
		t.Run(op.name, func(t *testing.T) {
			f, err := vhd.NewWritable(s, s.size)
			if err != nil {
				t.Fatal(err)
			}
			err = op.do(f)
			var be *vhd.BlockError
			if !errors.As(err, &be) || be.Block != 2 || !errors.Is(err, vhd.ErrTooLarge) {
				t.Fatalf("error %v, want a BlockError for block 2", err)
			}
			if s.writes != 0 {
				t.Errorf("%d writes before the refusal", s.writes)
			}
			t.Log(err)
		})
	}
}

// TestFillRefused: a range past the virtual size, a fixed disk, a
// differencing disk without its parent and a read-only File are refused
// before anything is written.
func TestFillRefused(t *testing.T) {
	dir := t.TempDir()
	dyn := vhdtest.Dynamic(t, filepath.Join(dir, "a.vhd"), 4*mib, nil, vhdtest.Fill(1, 0, 4096))
	child := vhdtest.Child(t, filepath.Join(dir, "c.vhd"), dyn, nil)
	fixed := vhdtest.Fixed(t, filepath.Join(dir, "f.vhd"), mib, nil)
	fill := func(f *vhd.File, off, n int64) error { return f.Fill(context.Background(), off, n) }
	alloc := func(f *vhd.File, off, n int64) error { return f.Allocate(context.Background(), off, n) }
	for _, tc := range []struct {
		name     string
		path     string
		readOnly bool
		do       func(*vhd.File, int64, int64) error
		off, n   int64
		want     error
	}{
		{"fill past the size", dyn, false, fill, 2 * mib, 2*mib + 1, vhd.ErrOutOfRange},
		{"allocate past the size", dyn, false, alloc, -1, 10, vhd.ErrOutOfRange},
		{"fill a fixed disk", fixed, false, fill, 0, mib, vhd.ErrNotDynamic},
		{"allocate a fixed disk", fixed, false, alloc, 0, mib, vhd.ErrNotDynamic},
		{"fill a child without its parent", child, false, fill, 0, 4 * mib, vhd.ErrNoParentReader},
		{"fill read-only", dyn, true, fill, 0, 4 * mib, vhd.ErrReadOnly},
		{"allocate read-only", dyn, true, alloc, 0, 4 * mib, vhd.ErrReadOnly},
	} {
		t.Run(tc.name, func(t *testing.T) {
			orig := fileBytes(t, tc.path)
			mem := newMemStore(orig)
			f := openMem(t, mem, tc.readOnly)
			if err := tc.do(f, tc.off, tc.n); !errors.Is(err, tc.want) {
				t.Errorf("error %v, want %v", err, tc.want)
			}
			if mem.writes != 0 || !bytes.Equal(mem.b, orig) {
				t.Errorf("the refused call did %d writes", mem.writes)
			}
		})
	}
}
