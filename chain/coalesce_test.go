package chain

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vhdkit/vhdkit/vhd"
	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

const miB = vhdtest.MiB

// coalesceCase builds a chain in dir and returns the child to coalesce, the
// files the parent reads through afterwards (parent first), and the path of
// a raw parent ("" when the parent is a VHD).
type coalesceCase struct {
	name  string
	build func(t *testing.T, dir string) (child string, parent []string, raw string)
	into  func(parent []string) string // whole path: the ancestor; nil for the parent
}

func fileSum(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// readVirtual reads the whole virtual disk of paths[0] through paths[1:].
func readVirtual(t *testing.T, paths ...string) []byte {
	t.Helper()
	f := vhdtest.OpenChain(t, false, paths...)
	b := make([]byte, f.VirtualSize())
	if _, err := f.ReadAt(b, 0); err != nil && !errors.Is(err, io.EOF) {
		t.Fatalf("read %s: %v", paths[0], err)
	}
	return b
}

func readRaw(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rawChild makes a raw image of size bytes holding base, and a differencing
// child of it holding writes.
func rawChild(t *testing.T, dir string, size int64, base []vhdtest.Write, writes ...vhdtest.Write) (child, raw string) {
	t.Helper()
	raw = filepath.Join(dir, "raw.img")
	img := make([]byte, size)
	for _, w := range base {
		copy(img[w.Offset:], w.Data)
	}
	if err := os.WriteFile(raw, img, 0o644); err != nil {
		t.Fatal(err)
	}
	child = filepath.Join(dir, "child.vhd")
	f, err := vhd.Create(child, &vhd.CreateOptions{Type: vhd.DiskDifferencing, Size: size, Time: vhdtest.Epoch,
		UUID: vhdtest.NameUUID("child"), Parent: &vhd.ParentInfo{Name: "raw.img", Path: "./raw.img", ModTime: vhdtest.Epoch, Size: size}})
	if err != nil {
		t.Fatal(err)
	}
	r, err := os.Open(raw)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	f.AttachParent(r)
	for _, w := range writes {
		if _, err := f.WriteAt(w.Data, w.Offset); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return child, raw
}

// mixedWrites are child writes that overlap the parent's data, cover
// whole blocks, partial blocks and partial sectors, reach blocks the parent
// never allocated, and write zeros over parent data.
func mixedWrites(size int64) []vhdtest.Write {
	ws := []vhdtest.Write{
		vhdtest.Fill(11, 0, 2*miB),                       // a whole block over parent data
		vhdtest.Fill(12, 2*miB+1000, 3000),               // partial sectors inside a parent block
		vhdtest.Fill(13, 4*miB+512*7, 512*9),             // a block the parent never allocated, partly
		{Offset: 3*miB + 4096, Data: make([]byte, 8192)}, // zeros over parent data
	}
	if size > 6*miB {
		ws = append(ws, vhdtest.Fill(14, size-3*512-100, 3*512+100)) // the last, partial block
	}
	return ws
}

func parentWrites() []vhdtest.Write {
	return []vhdtest.Write{vhdtest.Fill(1, 0, 4*miB), vhdtest.Fill(2, 6*miB, 300)}
}

func coalesceCases() []coalesceCase {
	const size = 8*miB + 512*13 // not a multiple of 2 MiB
	return []coalesceCase{
		{name: "dynamic", build: func(t *testing.T, dir string) (string, []string, string) {
			p := vhdtest.Dynamic(t, filepath.Join(dir, "p.vhd"), size, nil, parentWrites()...)
			c := vhdtest.Child(t, filepath.Join(dir, "c.vhd"), p, &vhdtest.Options{Hidden: 1}, mixedWrites(size)...)
			return c, []string{p}, ""
		}},
		{name: "dynamic-empty-parent", build: func(t *testing.T, dir string) (string, []string, string) {
			p := vhdtest.Dynamic(t, filepath.Join(dir, "p.vhd"), size, nil)
			c := vhdtest.Child(t, filepath.Join(dir, "c.vhd"), p, nil, mixedWrites(size)...)
			return c, []string{p}, ""
		}},
		{name: "dynamic-trailing-space", build: func(t *testing.T, dir string) (string, []string, string) {
			p := vhdtest.Dynamic(t, filepath.Join(dir, "p.vhd"), size, nil, parentWrites()...)
			moveFooter(t, p, 16*miB) // unused space the coalesce cuts off
			c := vhdtest.Child(t, filepath.Join(dir, "c.vhd"), p, nil, mixedWrites(size)...)
			return c, []string{p}, ""
		}},
		{name: "fixed", build: func(t *testing.T, dir string) (string, []string, string) {
			p := vhdtest.Fixed(t, filepath.Join(dir, "p.vhd"), size, nil, parentWrites()...)
			c := vhdtest.Child(t, filepath.Join(dir, "c.vhd"), p, nil, mixedWrites(size)...)
			return c, []string{p}, ""
		}},
		{name: "differencing", build: func(t *testing.T, dir string) (string, []string, string) {
			g := vhdtest.Dynamic(t, filepath.Join(dir, "g.vhd"), size, nil, vhdtest.Fill(5, miB, 5*miB))
			p := vhdtest.Child(t, filepath.Join(dir, "p.vhd"), g, &vhdtest.Options{Hidden: 1}, parentWrites()...)
			c := vhdtest.Child(t, filepath.Join(dir, "c.vhd"), p, nil)
			vhdtest.WriteChain(t, []string{c, p, g}, mixedWrites(size)...)
			return c, []string{p, g}, ""
		}},
		{name: "raw", build: func(t *testing.T, dir string) (string, []string, string) {
			c, raw := rawChild(t, dir, size, parentWrites(), mixedWrites(size)...)
			return c, nil, raw
		}},
		{name: "small-child-blocks", build: func(t *testing.T, dir string) (string, []string, string) {
			p := vhdtest.Dynamic(t, filepath.Join(dir, "p.vhd"), size, nil, parentWrites()...)
			c := vhdtest.Child(t, filepath.Join(dir, "c.vhd"), p, &vhdtest.Options{BlockSize: 512 << 10, Creator: vhd.Creator{'v', 'k', 't', ' '}}, mixedWrites(size)...)
			return c, []string{p}, ""
		}},
		{name: "small-parent-blocks", build: func(t *testing.T, dir string) (string, []string, string) {
			p := vhdtest.Dynamic(t, filepath.Join(dir, "p.vhd"), size, &vhdtest.Options{BlockSize: 256 << 10, Creator: vhd.Creator{'v', 'k', 't', ' '}}, parentWrites()...)
			c := vhdtest.Child(t, filepath.Join(dir, "c.vhd"), p, nil, mixedWrites(size)...)
			return c, []string{p}, ""
		}},
		{name: "child-smaller", build: func(t *testing.T, dir string) (string, []string, string) {
			p := vhdtest.Dynamic(t, filepath.Join(dir, "p.vhd"), size+4*miB, nil, parentWrites()...)
			c := vhdtest.Child(t, filepath.Join(dir, "c.vhd"), p, nil)
			f, err := vhd.Create(c, &vhd.CreateOptions{Type: vhd.DiskDifferencing, Size: size, Time: vhdtest.Epoch, Overwrite: true,
				Parent: mustParentInfo(t, c, p)})
			if err != nil {
				t.Fatal(err)
			}
			f.Close()
			vhdtest.WriteChain(t, []string{c, p}, mixedWrites(size)...)
			return c, []string{p}, ""
		}},
		{name: "whole-path", build: func(t *testing.T, dir string) (string, []string, string) {
			paths := vhdtest.Chain(t, dir, 5, size, nil, func(i int) []vhdtest.Write {
				return []vhdtest.Write{vhdtest.Fill(uint64(20+i), int64(i)*miB+int64(i)*1024, miB+512*5)}
			})
			return paths[0], paths[3:], ""
		}, into: func(parent []string) string { return parent[0] }},
	}
}

// moveFooter moves the primary footer of the VHD at path extra bytes
// further, leaving unused space behind the data.
func moveFooter(t *testing.T, path string, extra int64) {
	t.Helper()
	b := readRaw(t, path)
	footer := b[len(b)-512:]
	b = append(b[:len(b)-512], make([]byte, extra)...)
	b = append(b, footer...)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustParentInfo(t *testing.T, child, parent string) *vhd.ParentInfo {
	t.Helper()
	info, err := vhd.ParentInfoFor(child, parent)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// readParent reads what the parent (the first of parent, or raw) reads as.
func readParent(t *testing.T, parent []string, raw string) []byte {
	if raw != "" {
		return readRaw(t, raw)
	}
	return readVirtual(t, parent...)
}

func TestCoalesce(t *testing.T) {
	for _, tc := range coalesceCases() {
		for _, sparse := range []bool{false, true} {
			name := tc.name
			if sparse {
				name += "/sparse"
			}
			t.Run(name, func(t *testing.T) {
				dir := t.TempDir()
				child, parent, raw := tc.build(t, dir)
				want := readChildView(t, child, raw)
				childSum := fileSum(t, child)
				before := parentIdentity(t, parent, raw)
				opts := &CoalesceOptions{Mode: Compat, Sparse: sparse}
				if tc.into != nil {
					opts.Into = tc.into(parent)
				}
				res, err := Coalesce(context.Background(), child, opts)
				if err != nil {
					t.Fatalf("Coalesce: %v", err)
				}
				got := readParent(t, parent, raw)
				if len(got) > len(want) {
					// A parent larger than the child keeps its own tail.
					got = got[:len(want)]
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("parent reads differently from the child at byte %d", firstDiff(got, want))
				}
				if fileSum(t, child) != childSum {
					t.Error("the child was written")
				}
				if diff := cmp.Diff(before, parentIdentity(t, parent, raw)); diff != "" {
					t.Errorf("parent identity changed (-before +after):\n%s", diff)
				}
				if raw == "" {
					if _, err := vhd.CheckFile(context.Background(), parent[0], &vhd.CheckOptions{Parents: CompatResolver()}); err != nil {
						t.Errorf("parent fails check: %v", err)
					}
				}
				if res.Sectors == 0 || res.Logical != res.Sectors*512 {
					t.Errorf("result %+v", res)
				}
				// A second run changes nothing.
				sum := fileSum(t, res.Parent)
				if _, err := Coalesce(context.Background(), child, opts); err != nil {
					t.Fatalf("second Coalesce: %v", err)
				}
				if fileSum(t, res.Parent) != sum {
					t.Error("a second coalesce changed the parent")
				}
				entries, _ := os.ReadDir(dir)
				for _, e := range entries {
					if n := e.Name(); filepath.Ext(n) != ".vhd" && n != "raw.img" {
						t.Errorf("stray file %s", n)
					}
				}
			})
		}
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// readChildView reads the child's virtual disk through its chain.
func readChildView(t *testing.T, child, raw string) []byte {
	t.Helper()
	c, err := Walk(context.Background(), child, &Options{Mode: Compat})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b := make([]byte, c.VirtualSize())
	if _, err := c.ReaderAt().ReadAt(b, 0); err != nil {
		t.Fatal(err)
	}
	return b
}

type identity struct {
	UUID    vhd.UUID
	Hidden  uint8
	VSize   int64
	RawSize int64
}

func parentIdentity(t *testing.T, parent []string, raw string) identity {
	t.Helper()
	if raw != "" {
		st, err := os.Stat(raw)
		if err != nil {
			t.Fatal(err)
		}
		return identity{RawSize: st.Size()}
	}
	f, err := vhd.Open(parent[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return identity{UUID: f.Footer.UUID, Hidden: f.Footer.Hidden, VSize: f.VirtualSize()}
}

func TestCoalesceRefuses(t *testing.T) {
	dir := t.TempDir()
	p := vhdtest.Dynamic(t, filepath.Join(dir, "p.vhd"), 4*miB, nil, vhdtest.Fill(1, 0, miB))
	big := filepath.Join(dir, "big.vhd")
	f, err := vhd.Create(big, &vhd.CreateOptions{Type: vhd.DiskDifferencing, Size: 8 * miB, Time: vhdtest.Epoch,
		Parent: mustParentInfo(t, big, p)})
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	vhdtest.WriteChain(t, []string{big, p}, vhdtest.Fill(2, 6*miB, miB))
	sum := fileSum(t, p)
	if _, err := Coalesce(context.Background(), big, &CoalesceOptions{Mode: Compat}); !errors.Is(err, ErrLargerThanParent) {
		t.Errorf("larger child: err = %v, want ErrLargerThanParent", err)
	}
	if fileSum(t, p) != sum {
		t.Error("a larger child's coalesce wrote the parent")
	}
	if _, err := Coalesce(context.Background(), p, &CoalesceOptions{Mode: Compat}); !errors.Is(err, vhd.ErrNotDifferencing) {
		t.Errorf("dynamic input: err = %v, want ErrNotDifferencing", err)
	}
	c := vhdtest.Child(t, filepath.Join(dir, "c.vhd"), p, nil, vhdtest.Fill(3, 0, miB))
	// A parent failing vhd.Check is refused before any write.
	vhdtest.PatchHeader(t, p, true, func(h *vhd.Header) { h.MaxTableEntries = 1 })
	sum = fileSum(t, p)
	if _, err := Coalesce(context.Background(), c, &CoalesceOptions{Mode: Compat}); err == nil {
		t.Error("parent failing check: no error")
	}
	if fileSum(t, p) != sum {
		t.Error("a refused coalesce wrote the parent")
	}
	if _, err := Coalesce(context.Background(), c, &CoalesceOptions{Mode: Compat, Into: big}); !errors.Is(err, ErrNotAncestor) {
		t.Errorf("Into a non-ancestor: err = %v, want ErrNotAncestor", err)
	}

	// Confined: a parent outside the root is never opened for writing.
	root := filepath.Join(dir, "root")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	out := vhdtest.Dynamic(t, filepath.Join(dir, "out.vhd"), 4*miB, nil)
	in := vhdtest.Child(t, filepath.Join(root, "in.vhd"), out, nil, vhdtest.Fill(4, 0, 4096))
	sum = fileSum(t, out)
	if _, err := Coalesce(context.Background(), in, &CoalesceOptions{Root: root}); !errors.Is(err, ErrOutsideRoot) {
		t.Errorf("parent outside the root: err = %v, want ErrOutsideRoot", err)
	}
	if fileSum(t, out) != sum {
		t.Error("a parent outside the root was written")
	}
}

func TestCoalesceProgressCancelLock(t *testing.T) {
	build := func(t *testing.T) (dir, p, c string) {
		dir = t.TempDir()
		p = vhdtest.Dynamic(t, filepath.Join(dir, "p.vhd"), 16*miB, nil, vhdtest.Fill(1, 0, 4*miB))
		c = vhdtest.Child(t, filepath.Join(dir, "c.vhd"), p, nil, vhdtest.Fill(2, miB, 10*miB), vhdtest.Fill(3, 13*miB+512, 4096))
		return dir, p, c
	}
	// The uninterrupted result, and its progress reports.
	_, p, c := build(t)
	var reports []Progress
	opts := &CoalesceOptions{Mode: Compat, Progress: func(pr Progress) { reports = append(reports, pr) }}
	res, err := coalesce(context.Background(), c, opts, coalesceHooks{batch: 2 * miB})
	if err != nil {
		t.Fatal(err)
	}
	want := readRaw(t, p)
	if len(reports) < 3 {
		t.Fatalf("%d progress reports", len(reports))
	}
	for i, pr := range reports {
		if pr.Phase != PhaseCoalesce || pr.Name != p || pr.Total != res.Logical || (i > 0 && pr.Done < reports[i-1].Done) {
			t.Fatalf("report %d: %+v (total %d)", i, pr, res.Logical)
		}
	}
	if last := reports[len(reports)-1]; last.Done != last.Total {
		t.Errorf("last report %+v", last)
	}

	// Cancelled after each report in turn: a valid parent, and a rerun
	// finishes with the same bytes.
	for stop := 1; stop < len(reports); stop++ {
		_, p, c := build(t)
		ctx, cancel := context.WithCancel(context.Background())
		n := 0
		opts := &CoalesceOptions{Mode: Compat, Progress: func(Progress) {
			if n++; n == stop {
				cancel()
			}
		}}
		if _, err := coalesce(ctx, c, opts, coalesceHooks{batch: 2 * miB}); !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled after report %d: err = %v", stop, err)
		}
		cancel()
		if _, err := vhd.CheckFile(context.Background(), p, &vhd.CheckOptions{Parents: CompatResolver()}); err != nil {
			t.Fatalf("cancelled after report %d: %v", stop, err)
		}
		if _, err := coalesce(context.Background(), c, &CoalesceOptions{Mode: Compat}, coalesceHooks{batch: 2 * miB}); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(readRaw(t, p), want) {
			t.Fatalf("cancelled after report %d: the rerun gives other bytes", stop)
		}
	}

	// A second coalesce of a locked parent is refused.
	if runtime.GOOS != "linux" && runtime.GOOS != "darwin" {
		return
	}
	_, p, c = build(t)
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := lockFile(f, p); err != nil {
		t.Fatal(err)
	}
	if _, err := Coalesce(context.Background(), c, &CoalesceOptions{Mode: Compat}); !errors.Is(err, ErrLocked) {
		t.Errorf("locked parent: err = %v, want ErrLocked", err)
	}
}
