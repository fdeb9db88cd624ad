package chain_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vhdkit/vhdkit/chain"
	"github.com/vhdkit/vhdkit/vhd"
	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

// TestDepths walks, validates and reads chains of several depths in both
// modes.
func TestDepths(t *testing.T) {
	const size = 8 * mib
	for _, depth := range []int{1, 2, 3, 16, 30} {
		t.Run(filepathSafe(depth), func(t *testing.T) {
			dir := tempDir(t)
			writes := chainWrites(depth, size)
			paths := vhdtest.Chain(t, dir, depth, size, nil, writes)
			want := expectImage(size, depth, writes)
			for _, mode := range []chain.Mode{chain.Confined, chain.Compat} {
				t.Run(mode.String(), func(t *testing.T) {
					c, err := chain.Walk(context.Background(), paths[0], &chain.Options{Root: dir, Mode: mode})
					if err != nil {
						t.Fatal(err)
					}
					defer c.Close()
					if diff := cmp.Diff(paths, c.Paths()); diff != "" {
						t.Errorf("paths (-want +got):\n%s", diff)
					}
					var depths []int
					for _, l := range c.Links {
						depths = append(depths, l.Depth)
					}
					wantDepths := make([]int, depth)
					for i := range wantDepths {
						wantDepths[i] = i
					}
					if diff := cmp.Diff(wantDepths, depths); diff != "" {
						t.Errorf("depths (-want +got):\n%s", diff)
					}
					if got := c.Base().DiskType(); got != vhd.DiskDynamic {
						t.Errorf("base type %v", got)
					}
					sameBytes(t, "ReaderAt", readAll(t, c.ReaderAt(), size), want)
					sameBytes(t, "leaf File.ReadAt", readAll(t, c.Leaf(), size), want)
					sameBytes(t, "WriteRaw", writeRaw(t, c), want)
				})
			}
		})
	}
}

func filepathSafe(depth int) string {
	return "depth" + string(rune('0'+depth/10)) + string(rune('0'+depth%10))
}

// writeRaw runs WriteRaw into a new file and returns its contents.
func writeRaw(t *testing.T, c *chain.Chain) []byte {
	t.Helper()
	p := filepath.Join(t.TempDir(), "raw")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	last := int64(-1)
	err = c.WriteRaw(context.Background(), f, &chain.WriteRawOptions{Progress: func(p chain.Progress) {
		if p.Phase != chain.PhaseWriteRaw || p.Name != c.Links[0].Path || p.Done < last || p.Total != c.VirtualSize() ||
			last < 0 && p.Done != 0 {
			t.Errorf("progress %+v after %d", p, last)
		}
		last = p.Done
	}})
	if err != nil {
		t.Fatal(err)
	}
	if last != c.VirtualSize() {
		t.Errorf("progress ended at %d, want %d", last, c.VirtualSize())
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestTooDeep checks the depth limit: 30 links pass, 31 are refused, and
// MaxDepth changes the limit.
func TestTooDeep(t *testing.T) {
	dir := tempDir(t)
	paths := vhdtest.Chain(t, dir, 31, 4*mib, nil, nil)
	tests := []struct {
		name     string
		leaf     int
		opts     chain.Options
		wantErr  error
		wantPath string // the link the walk stopped at
	}{
		{"31 links", 0, chain.Options{Root: dir}, chain.ErrTooDeep, paths[0]},
		{"31 links compat", 0, chain.Options{Mode: chain.Compat}, chain.ErrTooDeep, paths[0]},
		{"30 links", 1, chain.Options{Root: dir}, nil, ""},
		{"limit 5, 6 links", 25, chain.Options{Root: dir, MaxDepth: 5}, chain.ErrTooDeep, paths[25]},
		{"limit 5, 5 links", 26, chain.Options{Root: dir, MaxDepth: 5}, nil, ""},
		{"limit 31", 0, chain.Options{Root: dir, MaxDepth: 31}, nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := chain.Walk(context.Background(), paths[tc.leaf], &tc.opts)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err == nil {
				defer c.Close()
				if got, want := len(c.Links), 31-tc.leaf; got != want {
					t.Errorf("%d links, want %d", got, want)
				}
				return
			}
			var we *chain.WalkError
			if !errors.As(err, &we) {
				t.Fatalf("err %T is not a *WalkError", err)
			}
			max := tc.opts.MaxDepth
			if max == 0 {
				max = chain.DefaultMaxDepth
			}
			// The walk stops at the link whose parent would be one too many.
			last := tc.leaf + max - 1
			if got, want := filepath.Base(we.Path), filepath.Base(paths[last]); got != want && last != tc.leaf {
				t.Errorf("stopped at %s, want %s", got, want)
			}
			if we.Depth != max-1 {
				t.Errorf("depth %d, want %d", we.Depth, max-1)
			}
		})
	}
}

// TestWalkFailures checks each failure's typed error and the names in it.
func TestWalkFailures(t *testing.T) {
	type result struct {
		Slot    int
		Locator string
		Child   string
		Path    string
	}
	tests := []struct {
		name string
		// setup builds files in tmp (root is tmp/root) and returns the leaf.
		setup   func(t *testing.T, tmp, root string) string
		mode    chain.Mode
		wantErr error
		also    error // another error the result must match
		// want is the LocatorError expected (nil: a *WalkError is expected,
		// with walkPath and walkParent).
		want       func(tmp, root string) *result
		walkPath   func(tmp, root string) string
		walkParent func(tmp, root string) string
	}{
		{
			name: "missing parent",
			setup: func(t *testing.T, tmp, root string) string {
				p := vhdtest.Chain(t, root, 2, 4*mib, nil, nil)
				os.Remove(p[1])
				return p[0]
			},
			wantErr: chain.ErrMissingParent, also: fs.ErrNotExist,
			want: func(tmp, root string) *result {
				return &result{0, "./1.vhd", filepath.Join(root, "0.vhd"), filepath.Join(root, "1.vhd")}
			},
		},
		{
			name: "cycle a->a",
			setup: func(t *testing.T, tmp, root string) string {
				vhdtest.Dynamic(t, filepath.Join(root, "x.vhd"), 4*mib, nil)
				a := vhdtest.Child(t, filepath.Join(root, "a.vhd"), filepath.Join(root, "x.vhd"), nil)
				pointAt(t, a, "./a.vhd")
				return a
			},
			wantErr:    chain.ErrCycle,
			walkPath:   func(tmp, root string) string { return filepath.Join(root, "a.vhd") },
			walkParent: func(tmp, root string) string { return filepath.Join(root, "a.vhd") },
		},
		{
			name: "cycle a->b->a",
			setup: func(t *testing.T, tmp, root string) string {
				vhdtest.Dynamic(t, filepath.Join(root, "x.vhd"), 4*mib, nil)
				b := vhdtest.Child(t, filepath.Join(root, "b.vhd"), filepath.Join(root, "x.vhd"), nil)
				a := vhdtest.Child(t, filepath.Join(root, "a.vhd"), b, nil)
				pointAt(t, b, "./a.vhd")
				return a
			},
			wantErr:    chain.ErrCycle,
			walkPath:   func(tmp, root string) string { return filepath.Join(root, "b.vhd") },
			walkParent: func(tmp, root string) string { return filepath.Join(root, "a.vhd") },
		},
		{
			name: "cycle through a hard link (by inode, not by name)",
			setup: func(t *testing.T, tmp, root string) string {
				vhdtest.Dynamic(t, filepath.Join(root, "x.vhd"), 4*mib, nil)
				b := vhdtest.Child(t, filepath.Join(root, "b.vhd"), filepath.Join(root, "x.vhd"), nil)
				a := vhdtest.Child(t, filepath.Join(root, "a.vhd"), b, nil)
				if err := os.Link(a, filepath.Join(root, "c.vhd")); err != nil {
					t.Skip(err)
				}
				pointAt(t, b, "./c.vhd")
				return a
			},
			wantErr:    chain.ErrCycle,
			walkPath:   func(tmp, root string) string { return filepath.Join(root, "b.vhd") },
			walkParent: func(tmp, root string) string { return filepath.Join(root, "c.vhd") },
		},
		{
			name: "locator to ../outside.vhd",
			setup: func(t *testing.T, tmp, root string) string {
				vhdtest.Dynamic(t, filepath.Join(tmp, "outside.vhd"), 4*mib, nil)
				return vhdtest.Child(t, filepath.Join(root, "leaf.vhd"), filepath.Join(tmp, "outside.vhd"), nil)
			},
			wantErr: chain.ErrOutsideRoot,
			want: func(tmp, root string) *result {
				return &result{0, "../outside.vhd", filepath.Join(root, "leaf.vhd"), filepath.Join(tmp, "outside.vhd")}
			},
		},
		{
			name: "absolute path outside the root",
			setup: func(t *testing.T, tmp, root string) string {
				vhdtest.Dynamic(t, filepath.Join(root, "base.vhd"), 4*mib, nil)
				vhdtest.Dynamic(t, filepath.Join(tmp, "other.vhd"), 4*mib, nil)
				leaf := vhdtest.Child(t, filepath.Join(root, "leaf.vhd"), filepath.Join(root, "base.vhd"), nil)
				pointAt(t, leaf, filepath.ToSlash(filepath.Join(tmp, "other.vhd")))
				return leaf
			},
			wantErr: chain.ErrOutsideRoot,
			want: func(tmp, root string) *result {
				o := filepath.Join(tmp, "other.vhd")
				return &result{0, filepath.ToSlash(o), filepath.Join(root, "leaf.vhd"), o}
			},
		},
		{
			name: "absolute path to a missing file outside the root",
			setup: func(t *testing.T, tmp, root string) string {
				vhdtest.Dynamic(t, filepath.Join(root, "base.vhd"), 4*mib, nil)
				leaf := vhdtest.Child(t, filepath.Join(root, "leaf.vhd"), filepath.Join(root, "base.vhd"), nil)
				pointAt(t, leaf, "/nonexistent/base.vhd")
				return leaf
			},
			wantErr: chain.ErrOutsideRoot,
			want: func(tmp, root string) *result {
				return &result{0, "/nonexistent/base.vhd", filepath.Join(root, "leaf.vhd"), filepath.FromSlash("/nonexistent/base.vhd")}
			},
		},
		{
			name: "symlink leaving the root",
			setup: func(t *testing.T, tmp, root string) string {
				vhdtest.Dynamic(t, filepath.Join(tmp, "outside.vhd"), 4*mib, nil)
				p := vhdtest.Dynamic(t, filepath.Join(root, "p.vhd"), 4*mib, nil)
				leaf := vhdtest.Child(t, filepath.Join(root, "leaf.vhd"), p, nil)
				os.Remove(p)
				if err := os.Symlink(filepath.Join("..", "outside.vhd"), p); err != nil {
					t.Skip(err)
				}
				return leaf
			},
			wantErr: chain.ErrOutsideRoot,
			want: func(tmp, root string) *result {
				return &result{0, "./p.vhd", filepath.Join(root, "leaf.vhd"), filepath.Join(tmp, "outside.vhd")}
			},
		},
		{
			name: "symlinked directory leaving the root",
			setup: func(t *testing.T, tmp, root string) string {
				os.Mkdir(filepath.Join(tmp, "elsewhere"), 0o755)
				vhdtest.Dynamic(t, filepath.Join(tmp, "elsewhere", "p.vhd"), 4*mib, nil)
				os.Mkdir(filepath.Join(root, "d"), 0o755)
				p := vhdtest.Dynamic(t, filepath.Join(root, "d", "p.vhd"), 4*mib, nil)
				leaf := vhdtest.Child(t, filepath.Join(root, "leaf.vhd"), p, nil)
				os.RemoveAll(filepath.Join(root, "d"))
				if err := os.Symlink(filepath.Join(tmp, "elsewhere"), filepath.Join(root, "d")); err != nil {
					t.Skip(err)
				}
				return leaf
			},
			wantErr: chain.ErrOutsideRoot,
			want: func(tmp, root string) *result {
				return &result{0, "./d/p.vhd", filepath.Join(root, "leaf.vhd"), filepath.Join(tmp, "elsewhere", "p.vhd")}
			},
		},
		{
			name: "undecodable locators (non-ASCII MacX, bad UTF-16)",
			setup: func(t *testing.T, tmp, root string) string {
				p := vhdtest.Chain(t, root, 2, 4*mib, nil, nil)
				patchLocator(t, p[0], 0, []byte("file://./\xc3\xa9.vhd"))
				patchLocator(t, p[0], 1, []byte{'.', 0, '\\', 0, 0x00, 0xD8, '.', 0}) // unpaired surrogate
				patchLocator(t, p[0], 2, []byte{'.', 0, '\\', 0, 0xE9, 0x00})         // U+00E9
				return p[0]
			},
			wantErr: chain.ErrUndecodableLocator, also: vhd.ErrLocator,
			want: func(tmp, root string) *result {
				return &result{0, "", filepath.Join(root, "0.vhd"), ""}
			},
		},
		{
			name: "differencing base without locators",
			setup: func(t *testing.T, tmp, root string) string {
				base := vhdtest.Dynamic(t, filepath.Join(root, "base.vhd"), 4*mib, nil)
				info, err := vhd.ParentInfoFor(filepath.Join(root, "mid.vhd"), base)
				if err != nil {
					t.Fatal(err)
				}
				info.Path = "" // no locators
				f, err := vhd.Create(filepath.Join(root, "mid.vhd"), &vhd.CreateOptions{Parent: info})
				if err != nil {
					t.Fatal(err)
				}
				f.Close()
				return vhdtest.Child(t, filepath.Join(root, "leaf.vhd"), filepath.Join(root, "mid.vhd"), nil)
			},
			wantErr:    chain.ErrDifferencingBase,
			walkPath:   func(tmp, root string) string { return filepath.Join(root, "mid.vhd") },
			walkParent: func(tmp, root string) string { return "" },
		},
		{
			name: "raw parent in confined mode",
			setup: func(t *testing.T, tmp, root string) string {
				p := vhdtest.Chain(t, root, 2, 4*mib, nil, nil)
				vhdtest.PatchHeader(t, p[0], true, func(h *vhd.Header) { h.ParentUUID = vhd.UUID{} })
				return p[0]
			},
			wantErr:    chain.ErrDifferencingBase,
			walkPath:   func(tmp, root string) string { return filepath.Join(root, "0.vhd") },
			walkParent: func(tmp, root string) string { return "" },
		},
		{
			name: "leaf outside the root",
			setup: func(t *testing.T, tmp, root string) string {
				return vhdtest.Dynamic(t, filepath.Join(tmp, "outside.vhd"), 4*mib, nil)
			},
			wantErr:    chain.ErrOutsideRoot,
			walkPath:   func(tmp, root string) string { return filepath.Join(tmp, "outside.vhd") },
			walkParent: func(tmp, root string) string { return "" },
		},
		{
			name: "parent is not a VHD",
			setup: func(t *testing.T, tmp, root string) string {
				p := vhdtest.Chain(t, root, 2, 4*mib, nil, nil)
				os.WriteFile(p[1], []byte("not a vhd"), 0o644)
				return p[0]
			},
			wantErr:    vhd.ErrTruncated,
			walkPath:   func(tmp, root string) string { return filepath.Join(root, "1.vhd") },
			walkParent: func(tmp, root string) string { return "" },
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tmp := tempDir(t)
			root := filepath.Join(tmp, "root")
			if err := os.Mkdir(root, 0o755); err != nil {
				t.Fatal(err)
			}
			leaf := tc.setup(t, tmp, root)
			c, err := chain.Walk(context.Background(), leaf, &chain.Options{Root: root, Mode: tc.mode})
			if err == nil {
				c.Close()
				t.Fatalf("Walk succeeded with %d links, want %v", len(c.Links), tc.wantErr)
			}
			t.Log(err)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if tc.also != nil && !errors.Is(err, tc.also) {
				t.Errorf("err = %v, does not match %v", err, tc.also)
			}
			if tc.want != nil {
				var le *chain.LocatorError
				if !errors.As(err, &le) {
					t.Fatalf("err %T is not a *LocatorError", err)
				}
				got := &result{le.Slot, le.Locator, le.Child, le.Path}
				if diff := cmp.Diff(tc.want(tmp, root), got); diff != "" {
					t.Errorf("LocatorError (-want +got):\n%s", diff)
				}
				return
			}
			var we *chain.WalkError
			if !errors.As(err, &we) {
				t.Fatalf("err %T is not a *WalkError", err)
			}
			if got, want := [2]string{we.Path, we.Parent}, [2]string{tc.walkPath(tmp, root), tc.walkParent(tmp, root)}; got != want {
				t.Errorf("WalkError names %q, want %q", got, want)
			}
		})
	}
}

// TestModesSideBySide runs the same files through both modes.
func TestModesSideBySide(t *testing.T) {
	t.Run("parent one directory up", func(t *testing.T) {
		tmp := tempDir(t)
		root := filepath.Join(tmp, "root")
		os.Mkdir(root, 0o755)
		base := vhdtest.Dynamic(t, filepath.Join(tmp, "base.vhd"), 4*mib, nil, vhdtest.Fill(1, 0, 4096))
		leaf := vhdtest.Child(t, filepath.Join(root, "leaf.vhd"), base, nil)

		c, err := chain.Walk(context.Background(), leaf, &chain.Options{Mode: chain.Compat})
		if err != nil {
			t.Fatalf("compat: %v", err)
		}
		if diff := cmp.Diff([]string{leaf, base}, c.Paths()); diff != "" {
			t.Errorf("compat paths (-want +got):\n%s", diff)
		}
		c.Close()
		// Under a root that holds both, confined mode agrees.
		c, err = chain.Walk(context.Background(), leaf, &chain.Options{Root: tmp})
		if err != nil {
			t.Fatalf("confined to %s: %v", tmp, err)
		}
		c.Close()
		// Under a root below the parent, it is refused.
		_, err = chain.Walk(context.Background(), leaf, &chain.Options{Root: root})
		var le *chain.LocatorError
		if !errors.Is(err, chain.ErrOutsideRoot) || !errors.As(err, &le) || le.Locator != "../base.vhd" {
			t.Errorf("confined to %s: err = %v, want ErrOutsideRoot for ../base.vhd", root, err)
		}
	})
	t.Run("absolute locator", func(t *testing.T) {
		tmp := tempDir(t)
		root := filepath.Join(tmp, "root")
		os.Mkdir(root, 0o755)
		other := vhdtest.Dynamic(t, filepath.Join(tmp, "other.vhd"), 4*mib, nil)
		vhdtest.Dynamic(t, filepath.Join(root, "base.vhd"), 4*mib, nil)
		leaf := vhdtest.Child(t, filepath.Join(root, "leaf.vhd"), filepath.Join(root, "base.vhd"), nil)
		pointAt(t, leaf, filepath.ToSlash(other))
		c, err := chain.Walk(context.Background(), leaf, &chain.Options{Mode: chain.Compat})
		if err != nil {
			t.Fatalf("compat: %v", err)
		}
		if diff := cmp.Diff([]string{leaf, other}, c.Paths()); diff != "" {
			t.Errorf("compat follows the absolute path as written (-want +got):\n%s", diff)
		}
		c.Close()
		if _, err := chain.Walk(context.Background(), leaf, &chain.Options{Root: root}); !errors.Is(err, chain.ErrOutsideRoot) {
			t.Errorf("confined: err = %v, want ErrOutsideRoot", err)
		}
	})
	t.Run("raw parent", func(t *testing.T) {
		root := tempDir(t)
		rawData := vhdtest.Pattern(9, 3*mib)
		raw := filepath.Join(root, "raw.img")
		if err := os.WriteFile(raw, rawData, 0o644); err != nil {
			t.Fatal(err)
		}
		leaf := filepath.Join(root, "leaf.vhd")
		f, err := vhd.Create(leaf, &vhd.CreateOptions{Size: 4 * mib, Parent: &vhd.ParentInfo{Name: "raw.img", Path: "./raw.img"}})
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
		c, err := chain.Walk(context.Background(), leaf, &chain.Options{Mode: chain.Compat})
		if err != nil {
			t.Fatalf("compat: %v", err)
		}
		defer c.Close()
		if c.RawParent != raw || len(c.Links) != 1 {
			t.Errorf("compat: raw parent %q, %d links; want %q, 1", c.RawParent, len(c.Links), raw)
		}
		want := append(append([]byte{}, rawData...), make([]byte, mib)...)
		sameBytes(t, "read-through of raw parent", readAll(t, c.ReaderAt(), 4*mib), want)
		sameBytes(t, "File.ReadAt of raw parent", readAll(t, c.Leaf(), 4*mib), want)
		if _, err := chain.Walk(context.Background(), leaf, &chain.Options{Root: root}); !errors.Is(err, chain.ErrDifferencingBase) {
			t.Errorf("confined: err = %v, want ErrDifferencingBase", err)
		}

		// A missing raw parent still walks (vhd-util counts it unopened),
		// but reading what only it holds fails, naming the locator.
		os.Remove(raw)
		c2, err := chain.Walk(context.Background(), leaf, &chain.Options{Mode: chain.Compat})
		if err != nil {
			t.Fatalf("compat without the raw parent: %v", err)
		}
		defer c2.Close()
		if c2.RawParent != "" || !errors.Is(c2.RawParentErr, chain.ErrMissingParent) {
			t.Errorf("RawParent %q, RawParentErr %v; want \"\", ErrMissingParent", c2.RawParent, c2.RawParentErr)
		}
		if _, err := c2.ReaderAt().ReadAt(make([]byte, 512), 0); !errors.Is(err, chain.ErrMissingParent) {
			t.Errorf("read-through without the raw parent: %v", err)
		}
	})
}

// TestFirstResolvingSlotWins checks blktap's slot order: a slot that does
// not decode, or does not resolve, gives way to the next.
func TestFirstResolvingSlotWins(t *testing.T) {
	tests := []struct {
		name     string
		patch    func(t *testing.T, leaf string)
		wantSlot int
	}{
		{"all good", func(*testing.T, string) {}, 0},
		{"MacX not ASCII", func(t *testing.T, leaf string) { patchLocator(t, leaf, 0, []byte("file://./\xff.vhd")) }, 1},
		{"MacX without file://", func(t *testing.T, leaf string) { patchLocator(t, leaf, 0, []byte("./1.vhd")) }, 1},
		{"MacX to a missing file", func(t *testing.T, leaf string) { patchLocator(t, leaf, 0, []byte("file://./9.vhd")) }, 1},
		{"MacX and W2ku missing", func(t *testing.T, leaf string) {
			patchLocator(t, leaf, 0, []byte("file://./9.vhd"))
			b, _ := vhd.EncodeLocator(vhd.PlatformW2ku, "./8.vhd")
			patchLocator(t, leaf, 1, b)
		}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := tempDir(t)
			p := vhdtest.Chain(t, root, 2, 4*mib, nil, nil)
			tc.patch(t, p[0])
			for _, mode := range []chain.Mode{chain.Confined, chain.Compat} {
				c, err := chain.Walk(context.Background(), p[0], &chain.Options{Root: root, Mode: mode})
				if err != nil {
					t.Fatalf("%v: %v", mode, err)
				}
				if got := c.Links[1].Locator.Slot; got != tc.wantSlot || c.Links[1].Path != p[1] {
					t.Errorf("%v: parent %s through slot %d, want %s through %d", mode, c.Links[1].Path, got, p[1], tc.wantSlot)
				}
				c.Close()
			}
		})
	}
}

// TestResolverAsParentOpener uses the Resolver through vhd.ParentOpener.
func TestResolverAsParentOpener(t *testing.T) {
	tmp := tempDir(t)
	root := filepath.Join(tmp, "root")
	os.Mkdir(root, 0o755)
	p := vhdtest.Chain(t, root, 2, 4*mib, nil, nil)
	res, err := chain.NewResolver(root)
	if err != nil {
		t.Fatal(err)
	}
	var opener vhd.ParentOpener = res
	leaf, err := vhd.Open(p[0])
	if err != nil {
		t.Fatal(err)
	}
	defer leaf.Close()
	var got []string
	for _, loc := range leaf.ParentLocators() {
		path, err := opener.Resolve(leaf, loc)
		if err != nil {
			t.Fatalf("slot %d: %v", loc.Slot, err)
		}
		got = append(got, path)
	}
	if diff := cmp.Diff([]string{p[1], p[1], p[1]}, got); diff != "" {
		t.Errorf("resolved (-want +got):\n%s", diff)
	}
	f, err := opener.Open(p[1])
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := opener.Open(filepath.Join(tmp, "x.vhd")); !errors.Is(err, chain.ErrOutsideRoot) && !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open outside root: %v", err)
	}
	vhdtest.Dynamic(t, filepath.Join(tmp, "x.vhd"), mib, nil)
	if _, err := opener.Open(filepath.Join(tmp, "x.vhd")); !errors.Is(err, chain.ErrOutsideRoot) {
		t.Errorf("Open outside root: err = %v, want ErrOutsideRoot", err)
	}
	if _, err := chain.NewResolver(""); !errors.Is(err, chain.ErrNoRoot) {
		t.Errorf("NewResolver(\"\"): %v", err)
	}
	if _, err := chain.Walk(context.Background(), p[0], nil); !errors.Is(err, chain.ErrNoRoot) {
		t.Errorf("Walk without root: %v", err)
	}
}

// TestLoggerAndClose checks that Walk reports each link to the logger and
// that Close may be called twice and on nil.
func TestLoggerAndClose(t *testing.T) {
	dir := tempDir(t)
	paths := vhdtest.Chain(t, dir, 3, 4*mib, nil, nil)
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, err := chain.Walk(context.Background(), paths[0], &chain.Options{Root: dir, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(buf.String(), "chain link"); got != 3 {
		t.Errorf("%d link records, want 3:\n%s", got, buf.String())
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	var nilChain *chain.Chain
	if err := nilChain.Close(); err != nil {
		t.Errorf("nil Close: %v", err)
	}
}
