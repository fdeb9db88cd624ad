package chain_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vhdkit/vhdkit/chain"
	"github.com/vhdkit/vhdkit/vhd"
	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

// TestWritable opens one link of a chain for writing, writes partial
// sectors and whole blocks into it, some across block boundaries and where
// only a grandparent holds data, and checks what every reader sees, before
// and after Close, and that no other file changed.
func TestWritable(t *testing.T) {
	const size, depth = 8 * mib, 3
	writes := []vhdtest.Write{
		vhdtest.Fill(1, 100, 10),               // partial sector over the base's data
		vhdtest.Fill(2, 2*mib-300, 700),        // across a block boundary
		vhdtest.Fill(3, 4*mib, int(2*mib)),     // a whole block
		vhdtest.Fill(4, size-512*8+3, 512*2),   // over the base's scattered run
		vhdtest.Fill(5, 6*mib+12345, 512*9+17), // where nothing is written yet
	}
	for _, tc := range []struct {
		name  string
		mode  chain.Mode
		depth int
	}{
		{"confined/leaf", chain.Confined, 0},
		{"confined/interior", chain.Confined, 1},
		{"confined/base", chain.Confined, 2},
		{"compat/leaf", chain.Compat, 0},
		{"compat/interior", chain.Compat, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := tempDir(t)
			linkWrites := chainWrites(depth, size)
			paths := vhdtest.Chain(t, dir, depth, size, nil, linkWrites)
			before := snapshotFiles(t, paths)
			// What link i reads as once the writes are done.
			image := func(top int, written bool) []byte {
				img := make([]byte, size)
				for i := depth - 1; i >= top; i-- {
					for _, w := range linkWrites(i) {
						copy(img[w.Offset:], w.Data)
					}
					if i == tc.depth && written {
						for _, w := range writes {
							copy(img[w.Offset:], w.Data)
						}
					}
				}
				return img
			}
			opts := &chain.Options{Root: dir, Mode: tc.mode, Writable: true, WriteDepth: tc.depth}
			c, err := chain.Walk(context.Background(), paths[0], opts)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if w := c.Writable(); w == nil || w.Depth != tc.depth || !w.File.Writable() {
				t.Fatalf("Writable() = %+v, want the link at depth %d, writable", w, tc.depth)
			}
			for i, l := range c.Links {
				if got, want := l.File.Writable(), i == tc.depth; got != want {
					t.Errorf("link %d writable %v, want %v", i, got, want)
				}
			}
			// Read first, so the engine has loaded the BATs the writes change.
			sameBytes(t, "ReaderAt before writing", readAll(t, c.ReaderAt(), size), image(0, false))
			w := c.Writable().File
			for _, wr := range writes {
				if _, err := w.WriteAt(wr.Data, wr.Offset); err != nil {
					t.Fatalf("WriteAt(%d bytes at %d): %v", len(wr.Data), wr.Offset, err)
				}
			}
			other := c.Links[(tc.depth+1)%depth].File
			if _, err := other.WriteAt([]byte{1}, 0); !errors.Is(err, vhd.ErrReadOnly) {
				t.Errorf("write to a read-only link: %v, want ErrReadOnly", err)
			}
			want := image(0, true)
			sameBytes(t, "ReaderAt", readAll(t, c.ReaderAt(), size), want)
			sameBytes(t, "leaf File.ReadAt", readAll(t, c.Leaf(), size), want)
			sameBytes(t, "WriteRaw", writeRaw(t, c), want)
			sameBytes(t, "written link File.ReadAt", readAll(t, w, size), image(tc.depth, true))
			// The extent map sees the blocks the writes allocated.
			var end int64
			for e, err := range c.Extents(context.Background()) {
				if err != nil {
					t.Fatalf("Extents after writing: %v", err)
				}
				if e.Offset <= 5*mib && 5*mib < e.End() && (!e.Data || e.Link > tc.depth) {
					t.Errorf("extent %+v over the written block, want data of a link at depth <= %d", e, tc.depth)
				}
				end = e.End()
			}
			if end != size {
				t.Errorf("extents end at %d, want %d", end, size)
			}
			if err := c.Sync(); err != nil {
				t.Fatal(err)
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}

			after := snapshotFiles(t, paths)
			for i, p := range paths {
				if changed := before[filepath.Base(p)] != after[filepath.Base(p)]; changed != (i == tc.depth) {
					t.Errorf("%s changed: %v, want %v", filepath.Base(p), changed, i == tc.depth)
				}
			}
			v, err := chain.Validate(context.Background(), paths[0], &chain.Options{Root: dir, Mode: tc.mode})
			if err != nil {
				t.Fatalf("after writing: %v", err)
			}
			defer v.Close()
			if v.Writable() != nil {
				t.Errorf("read-only chain has a writable link")
			}
			sameBytes(t, "reopened ReaderAt", readAll(t, v.ReaderAt(), size), want)
		})
	}
}

// TestWritableDepth refuses depths the chain has no link at, before
// opening anything for writing.
func TestWritableDepth(t *testing.T) {
	dir := tempDir(t)
	paths := vhdtest.Chain(t, dir, 2, mib, nil, chainWrites(2, mib))
	before := snapshotFiles(t, paths)
	for _, d := range []int{-1, 2, 30, 31} {
		c, err := chain.Walk(context.Background(), paths[0], &chain.Options{Root: dir, Writable: true, WriteDepth: d})
		if !errors.Is(err, chain.ErrWriteDepth) {
			c.Close()
			t.Errorf("WriteDepth %d: %v, want ErrWriteDepth", d, err)
		}
	}
	if diff := cmp.Diff(before, snapshotFiles(t, paths)); diff != "" {
		t.Errorf("files changed (-before +after):\n%s", diff)
	}
}

// TestAllowHiddenLeaf validates a chain from a hidden interior node, as a
// coalesce does, which confined mode refuses for a leaf to import.
func TestAllowHiddenLeaf(t *testing.T) {
	dir := tempDir(t)
	paths := vhdtest.Chain(t, dir, 3, mib, nil, chainWrites(3, mib))
	for _, tc := range []struct {
		allow bool
		want  error
	}{
		{false, chain.ErrHiddenLeaf},
		{true, nil},
	} {
		c, err := chain.Validate(context.Background(), paths[1], &chain.Options{Root: dir, AllowHiddenLeaf: tc.allow})
		if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("AllowHiddenLeaf %v: %v, want %v", tc.allow, err, tc.want)
		}
		c.Close()
	}
	// The option changes nothing but the leaf rule.
	vhdtest.PatchFooter(t, paths[2], vhdtest.Both, true, func(f *vhd.Footer) { f.Hidden = 2 })
	if _, err := chain.Validate(context.Background(), paths[1], &chain.Options{Root: dir, AllowHiddenLeaf: true}); !errors.Is(err, vhd.ErrFooterInvalid) {
		t.Errorf("hidden 2 in the base: %v, want ErrFooterInvalid", err)
	}
}
