package chain_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vhdkit/vhdkit/chain"
	"github.com/vhdkit/vhdkit/vhd"
	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

// chainExtents collects c's extent map, failing the test on error.
func chainExtents(t *testing.T, c *chain.Chain) []chain.Extent {
	t.Helper()
	var out []chain.Extent
	for e, err := range c.Extents(context.Background()) {
		if err != nil {
			t.Fatalf("Extents: %v", err)
		}
		out = append(out, e)
	}
	return out
}

// sectorOwner says, per sector, which link answers for it and whether it
// holds the data.
type sectorOwner struct {
	Link int
	Data bool
}

// TestChainExtents checks the chain's extent map, sector by sector,
// against the writes each link received: the nearest link that wrote a
// sector holds it, the rest fall to the base. It also checks that each
// held run's bytes in its link's file are what the chain reads there.
func TestChainExtents(t *testing.T) {
	tests := []struct {
		name  string
		depth int
		size  int64
		fixed bool // a fixed base
	}{
		{"1 deep", 1, 5 * mib, false},
		{"3 deep", 3, 7*mib + 1536, false},
		{"8 deep", 8, 9 * mib, false},
		{"3 deep fixed base", 3, 6*mib + 512, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := tempDir(t)
			writes := chainWrites(tt.depth, tt.size)
			paths := make([]string, tt.depth)
			for i := tt.depth - 1; i >= 0; i-- {
				paths[i] = filepath.Join(dir, strconv.Itoa(i)+".vhd")
				switch {
				case i < tt.depth-1:
					vhdtest.Child(t, paths[i], paths[i+1], nil, writes(i)...)
				case tt.fixed:
					vhdtest.Fixed(t, paths[i], tt.size, nil, writes(i)...)
				default:
					vhdtest.Dynamic(t, paths[i], tt.size, nil, writes(i)...)
				}
			}
			c, err := chain.Walk(context.Background(), paths[0], &chain.Options{Root: dir})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()

			sectors := (tt.size + 511) / 512
			want := make([]sectorOwner, sectors)
			for s := range want {
				want[s] = sectorOwner{Link: tt.depth - 1, Data: tt.fixed}
			}
			for i := tt.depth - 1; i >= 0; i-- {
				for _, w := range writes(i) {
					for s := w.Offset / 512; s*512 < w.Offset+int64(len(w.Data)); s++ {
						want[s] = sectorOwner{Link: i, Data: true}
					}
				}
			}
			ext := chainExtents(t, c)
			got := make([]sectorOwner, 0, sectors)
			files := make([][]byte, tt.depth)
			for i, p := range paths {
				if files[i], err = os.ReadFile(p); err != nil {
					t.Fatal(err)
				}
			}
			leaf := readAll(t, c.ReaderAt(), tt.size)
			var pos int64
			for i, e := range ext {
				if e.Offset != pos || e.Length <= 0 {
					t.Fatalf("extent %d %+v does not follow %d", i, e, pos)
				}
				for s := e.Offset / 512; s*512 < e.End(); s++ {
					got = append(got, sectorOwner{e.Link, e.Data})
				}
				if e.Data {
					sameBytes(t, "extent bytes", files[e.Link][e.FileOffset:e.FileOffset+e.Length], leaf[e.Offset:e.End()])
				}
				pos = e.End()
			}
			if pos != tt.size {
				t.Errorf("extents end at %d, virtual size %d", pos, tt.size)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("owners (-want +got):\n%s", diff)
			}
		})
	}
}

// TestChainExtentsSmallerParent: a child larger than its dynamic parent
// answers for the bytes past the parent's end itself, as zeros.
func TestChainExtentsSmallerParent(t *testing.T) {
	dir := tempDir(t)
	base := vhdtest.Dynamic(t, filepath.Join(dir, "b.vhd"), 4*mib, nil, vhdtest.Fill(1, 0, 4*mib))
	leaf := filepath.Join(dir, "l.vhd")
	info, err := vhd.ParentInfoFor(leaf, base)
	if err != nil {
		t.Fatal(err)
	}
	f, err := vhd.Create(leaf, &vhd.CreateOptions{Parent: info, Size: 6 * mib, UUID: vhdtest.NameUUID("l"), Time: vhdtest.Epoch})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	c, err := chain.Walk(context.Background(), leaf, &chain.Options{Root: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var got []chain.Extent
	for _, e := range chainExtents(t, c) {
		e.FileOffset = 0 // blocks lie 4 KiB-aligned, apart in the file
		if n := len(got); n > 0 && got[n-1].Link == e.Link && got[n-1].Data == e.Data {
			got[n-1].Length += e.Length
			continue
		}
		got = append(got, e)
	}
	want := []chain.Extent{
		{Offset: 0, Length: 4 * mib, Link: 1, Data: true},
		{Offset: 4 * mib, Length: 2 * mib, Link: 1, Data: false},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
