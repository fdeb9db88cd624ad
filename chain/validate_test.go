package chain_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vhdkit/vhdkit/chain"
	"github.com/vhdkit/vhdkit/vhd"
	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

// TestValidateDepths validates good chains of several depths in both modes.
// Their interior nodes are hidden, which both modes accept.
func TestValidateDepths(t *testing.T) {
	for _, depth := range []int{1, 2, 3, 16, 30} {
		for _, mode := range []chain.Mode{chain.Confined, chain.Compat} {
			t.Run(filepathSafe(depth)+"/"+mode.String(), func(t *testing.T) {
				dir := tempDir(t)
				paths := vhdtest.Chain(t, dir, depth, 4*mib, nil, chainWrites(depth, 4*mib))
				c, err := chain.Validate(context.Background(), paths[0], &chain.Options{Root: dir, Mode: mode})
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				if diff := cmp.Diff(paths, c.Paths()); diff != "" {
					t.Errorf("paths (-want +got):\n%s", diff)
				}
				for i, l := range c.Links[1:] {
					if h, _ := l.File.Hidden(); h != 1 {
						t.Errorf("link %d not hidden", i+1)
					}
				}
			})
		}
	}
	t.Run("depth31", func(t *testing.T) {
		dir := tempDir(t)
		paths := vhdtest.Chain(t, dir, 31, 4*mib, nil, nil)
		_, err := chain.Validate(context.Background(), paths[0], &chain.Options{Root: dir})
		var ve *chain.ValidationError
		if !errors.As(err, &ve) || !errors.Is(err, chain.ErrTooDeep) {
			t.Fatalf("err = %v, want a ValidationError with ErrTooDeep", err)
		}
		if last := ve.Problems[len(ve.Problems)-1]; last.Path != paths[29] {
			t.Errorf("depth problem names %s, want %s", last.Path, paths[29])
		}
	})
}

// problem is what a test expects of one LinkProblem: the file's base name
// and a sentinel.
type problem struct {
	File string
	Err  error
}

func problems(err error) []problem {
	var ve *chain.ValidationError
	if !errors.As(err, &ve) {
		return nil
	}
	var out []problem
	for _, p := range ve.Problems {
		out = append(out, problem{filepath.Base(p.Path), p.Err})
	}
	return out
}

// TestValidateFailures checks each rule of Validate, with the typed error
// and the file it names, in both modes: confined mode adds the import rules,
// compatible mode none.
func TestValidateFailures(t *testing.T) {
	sentinels := []error{chain.ErrUUIDMismatch, chain.ErrHiddenLeaf, chain.ErrSmallerThanParent,
		chain.ErrBlockSize, chain.ErrMissingParent, chain.ErrCycle, chain.ErrOutsideRoot, vhd.ErrFormat}
	tests := []struct {
		name         string
		setup        func(t *testing.T, dir string) string
		ignoreUUID   bool
		confined     []problem // want, by base name and sentinel
		compat       []problem
		wantMismatch *[2]string // child and parent of the UUIDMismatchError
	}{
		{
			name: "good chain with hidden interior",
			setup: func(t *testing.T, dir string) string {
				return vhdtest.Chain(t, dir, 3, 4*mib, nil, nil)[0]
			},
		},
		{
			name: "UUID mismatch",
			setup: func(t *testing.T, dir string) string {
				p := vhdtest.Chain(t, dir, 3, 4*mib, nil, nil)
				vhdtest.PatchHeader(t, p[1], true, func(h *vhd.Header) { h.ParentUUID = vhdtest.UUID("01234567-89ab-cdef-0123-456789abcdef") })
				return p[0]
			},
			confined:     []problem{{"1.vhd", chain.ErrUUIDMismatch}},
			compat:       []problem{{"1.vhd", chain.ErrUUIDMismatch}},
			wantMismatch: &[2]string{"1.vhd", "2.vhd"},
		},
		{
			name: "UUID mismatch ignored",
			setup: func(t *testing.T, dir string) string {
				p := vhdtest.Chain(t, dir, 3, 4*mib, nil, nil)
				vhdtest.PatchHeader(t, p[1], true, func(h *vhd.Header) { h.ParentUUID = vhdtest.UUID("01234567-89ab-cdef-0123-456789abcdef") })
				return p[0]
			},
			ignoreUUID: true,
		},
		{
			name: "hidden leaf",
			setup: func(t *testing.T, dir string) string {
				p := vhdtest.Chain(t, dir, 2, 4*mib, nil, nil)
				f, err := vhd.OpenFile(p[0], os.O_RDWR)
				if err != nil {
					t.Fatal(err)
				}
				if err := f.SetHidden(1); err != nil {
					t.Fatal(err)
				}
				f.Close()
				return p[0]
			},
			confined: []problem{{"0.vhd", chain.ErrHiddenLeaf}},
		},
		{
			name: "child smaller than parent",
			setup: func(t *testing.T, dir string) string {
				base := vhdtest.Dynamic(t, filepath.Join(dir, "base.vhd"), 8*mib, nil)
				info, err := vhd.ParentInfoFor(filepath.Join(dir, "leaf.vhd"), base)
				if err != nil {
					t.Fatal(err)
				}
				f, err := vhd.Create(filepath.Join(dir, "leaf.vhd"), &vhd.CreateOptions{Size: 4 * mib, Parent: info})
				if err != nil {
					t.Fatal(err)
				}
				f.Close()
				return filepath.Join(dir, "leaf.vhd")
			},
			confined: []problem{{"leaf.vhd", chain.ErrSmallerThanParent}},
		},
		{
			name: "512 KiB-block link",
			setup: func(t *testing.T, dir string) string {
				base := vhdtest.Dynamic(t, filepath.Join(dir, "base.vhd"), 4*mib,
					&vhdtest.Options{BlockSize: 512 << 10, Creator: vhd.Creator{'v', 'b', 'o', 'x'}},
					vhdtest.Fill(1, 0, mib))
				return vhdtest.Child(t, filepath.Join(dir, "leaf.vhd"), base, nil)
			},
			confined: []problem{{"base.vhd", chain.ErrBlockSize}},
		},
		{
			name: "every problem of every link at once",
			setup: func(t *testing.T, dir string) string {
				base := vhdtest.Dynamic(t, filepath.Join(dir, "base.vhd"), 8*mib,
					&vhdtest.Options{BlockSize: 1 << 20, Creator: vhd.Creator{'v', 'b', 'o', 'x'}})
				info, err := vhd.ParentInfoFor(filepath.Join(dir, "mid.vhd"), base)
				if err != nil {
					t.Fatal(err)
				}
				f, err := vhd.Create(filepath.Join(dir, "mid.vhd"), &vhd.CreateOptions{Size: 4 * mib, Parent: info})
				if err != nil {
					t.Fatal(err)
				}
				f.Close()
				leaf := vhdtest.Child(t, filepath.Join(dir, "leaf.vhd"), filepath.Join(dir, "mid.vhd"), &vhdtest.Options{Hidden: 1})
				vhdtest.PatchHeader(t, leaf, true, func(h *vhd.Header) { h.ParentUUID = vhdtest.UUID("01234567-89ab-cdef-0123-456789abcdef") })
				return leaf
			},
			confined: []problem{
				{"leaf.vhd", chain.ErrUUIDMismatch}, {"leaf.vhd", chain.ErrHiddenLeaf},
				{"mid.vhd", chain.ErrSmallerThanParent}, {"base.vhd", chain.ErrBlockSize},
			},
			compat:       []problem{{"leaf.vhd", chain.ErrUUIDMismatch}},
			wantMismatch: &[2]string{"leaf.vhd", "mid.vhd"},
		},
		{
			name: "missing parent after a bad link",
			setup: func(t *testing.T, dir string) string {
				p := vhdtest.Chain(t, dir, 3, 4*mib, nil, nil)
				vhdtest.PatchHeader(t, p[0], true, func(h *vhd.Header) { h.ParentUUID = vhdtest.UUID("01234567-89ab-cdef-0123-456789abcdef") })
				os.Remove(p[2])
				return p[0]
			},
			confined:     []problem{{"0.vhd", chain.ErrUUIDMismatch}, {"1.vhd", vhd.ErrFormat}, {"1.vhd", chain.ErrMissingParent}},
			compat:       []problem{{"0.vhd", chain.ErrUUIDMismatch}, {"1.vhd", vhd.ErrFormat}, {"1.vhd", chain.ErrMissingParent}},
			wantMismatch: &[2]string{"0.vhd", "1.vhd"},
		},
		{
			name: "second locator leaving the root",
			setup: func(t *testing.T, dir string) string {
				os.Mkdir(filepath.Join(dir, "root"), 0o755)
				vhdtest.Dynamic(t, filepath.Join(dir, "p.vhd"), 4*mib, nil)
				p := vhdtest.Chain(t, filepath.Join(dir, "root"), 2, 4*mib, nil, nil)
				// Slot 0 resolves inside the root; slot 1 names ../p.vhd.
				b, _ := vhd.EncodeLocator(vhd.PlatformW2ku, "../p.vhd")
				patchLocator(t, p[0], 1, b)
				return p[0]
			},
			// vhd.Check requires every locator to resolve: through the
			// confined resolver slot 1 does not.
			confined: []problem{{"0.vhd", vhd.ErrFormat}, {"0.vhd", chain.ErrOutsideRoot}},
			compat:   []problem{{"0.vhd", vhd.ErrFormat}},
		},
	}
	for _, tc := range tests {
		for _, mode := range []chain.Mode{chain.Confined, chain.Compat} {
			t.Run(tc.name+"/"+mode.String(), func(t *testing.T) {
				dir := tempDir(t)
				leaf := tc.setup(t, dir)
				root := dir
				if _, err := os.Stat(filepath.Join(dir, "root")); err == nil {
					root = filepath.Join(dir, "root")
				}
				c, err := chain.Validate(context.Background(), leaf, &chain.Options{Root: root, Mode: mode, IgnoreParentUUID: tc.ignoreUUID})
				want := tc.confined
				if mode == chain.Compat {
					want = tc.compat
				}
				if err == nil {
					c.Close()
					if len(want) > 0 {
						t.Fatalf("Validate passed, want %v", want)
					}
					return
				}
				t.Log(err)
				var ve *chain.ValidationError
				if !errors.As(err, &ve) {
					t.Fatalf("err %T (%v) is not a *ValidationError", err, err)
				}
				// Compare by file and the first matching sentinel.
				var got []problem
				for _, p := range problems(err) {
					for _, s := range sentinels {
						if errors.Is(p.Err, s) {
							p.Err = s
							break
						}
					}
					got = append(got, p)
				}
				if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b error) bool { return a == b })); diff != "" {
					t.Errorf("problems (-want +got):\n%s", diff)
				}
				for _, w := range want {
					if !errors.Is(err, w.Err) {
						t.Errorf("errors.Is(err, %v) = false", w.Err)
					}
				}
				if tc.wantMismatch != nil {
					var me *chain.UUIDMismatchError
					if !errors.As(err, &me) {
						t.Fatalf("no *UUIDMismatchError in %v", err)
					}
					if got := [2]string{filepath.Base(me.Child), filepath.Base(me.Parent)}; got != *tc.wantMismatch {
						t.Errorf("UUIDMismatchError names %v, want %v", got, *tc.wantMismatch)
					}
					if me.Want == me.Got {
						t.Errorf("UUIDMismatchError with equal UUIDs %v", me.Want)
					}
				}
			})
		}
	}
}

// TestCanceled checks that a canceled context stops Walk, Validate and
// Relink before they write anything.
func TestCanceled(t *testing.T) {
	dir := tempDir(t)
	paths := vhdtest.Chain(t, dir, 3, 4*mib, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	opts := &chain.Options{Root: dir}
	if _, err := chain.Walk(ctx, paths[0], opts); !errors.Is(err, context.Canceled) {
		t.Errorf("Walk: %v", err)
	}
	if _, err := chain.Validate(ctx, paths[0], opts); !errors.Is(err, context.Canceled) {
		t.Errorf("Validate: %v", err)
	}
	before, err := os.ReadFile(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := chain.Relink(ctx, paths, &chain.RelinkOptions{Root: dir}); !errors.Is(err, context.Canceled) {
		t.Errorf("Relink: %v", err)
	}
	after, _ := os.ReadFile(paths[0])
	if string(before) != string(after) {
		t.Errorf("canceled Relink changed %s", paths[0])
	}
}
