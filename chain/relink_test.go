package chain_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vhdkit/vhdkit/chain"
	"github.com/vhdkit/vhdkit/vhd"
	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

// stage builds a 5-deep chain 0.vhd (leaf) .. 4.vhd (base) in dir, reads
// it through, then renames every file to a UUID name, as an importer
// stages an image, so that every locator is stale. It returns the new
// paths, leaf first, and the bytes the chain read before.
func stage(t *testing.T, dir string) ([]string, []byte) {
	t.Helper()
	const depth, size = 5, 8 * mib
	old := vhdtest.Chain(t, dir, depth, size, nil, chainWrites(depth, size))
	c, err := chain.Walk(context.Background(), old[0], &chain.Options{Root: dir})
	if err != nil {
		t.Fatal(err)
	}
	before := readAll(t, c.ReaderAt(), size)
	c.Close()
	sameBytes(t, "staged chain", before, expectImage(size, depth, chainWrites(depth, size)))
	paths := make([]string, depth)
	for i, p := range old {
		paths[i] = filepath.Join(dir, vhdtest.NameUUID(fmt.Sprint("relink", i)).String()+".vhd")
		if err := os.Rename(p, paths[i]); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := chain.Walk(context.Background(), paths[0], &chain.Options{Root: dir}); !errors.Is(err, chain.ErrMissingParent) {
		t.Fatalf("renamed chain walks (err %v): its locators should be stale", err)
	}
	return paths, before
}

// TestRelink relinks a 5-deep chain staged under new names: every header
// then names its new parent, the chain validates and reads the same bytes.
func TestRelink(t *testing.T) {
	for _, mode := range []chain.Mode{chain.Confined, chain.Compat} {
		t.Run(mode.String(), func(t *testing.T) {
			dir := tempDir(t)
			paths, before := stage(t, dir)
			if err := chain.Relink(context.Background(), paths, &chain.RelinkOptions{Root: dir, Mode: mode}); err != nil {
				t.Fatal(err)
			}
			for i := range len(paths) - 1 {
				f, err := vhd.Open(paths[i])
				if err != nil {
					t.Fatal(err)
				}
				p, err := vhd.Open(paths[i+1])
				if err != nil {
					t.Fatal(err)
				}
				name, err := f.ParentName()
				if err != nil {
					t.Fatal(err)
				}
				type header struct {
					Name     string
					UUID     vhd.UUID
					Locators []string
				}
				got := header{Name: name, UUID: f.ParentUUID()}
				for _, l := range f.ParentLocators() {
					got.Locators = append(got.Locators, fmt.Sprintf("%v %s", l.Entry.Code, l.Path))
				}
				rel := "./" + filepath.Base(paths[i+1])
				want := header{Name: filepath.Base(paths[i+1]), UUID: p.Footer.UUID,
					Locators: []string{"MacX " + rel, "W2ku " + rel, "W2ru " + rel}}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("%s header (-want +got):\n%s", filepath.Base(paths[i]), diff)
				}
				f.Close()
				p.Close()
			}
			c, err := chain.Validate(context.Background(), paths[0], &chain.Options{Root: dir})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if diff := cmp.Diff(paths, c.Paths()); diff != "" {
				t.Errorf("paths (-want +got):\n%s", diff)
			}
			sameBytes(t, "read-through after relink", readAll(t, c.ReaderAt(), c.VirtualSize()), before)
		})
	}
}

// TestRelinkRefusesBadInput checks that bad input is refused, naming the
// file, before anything is written.
func TestRelinkRefusesBadInput(t *testing.T) {
	tests := []struct {
		name      string
		paths     func(t *testing.T, tmp string, p []string) []string
		opts      chain.RelinkOptions
		wantErr   error
		wantIndex int
	}{
		{"base is a differencing disk", func(t *testing.T, tmp string, p []string) []string { return p[:3] }, chain.RelinkOptions{}, chain.ErrDifferencingBase, 2},
		{"interior is not a differencing disk", func(t *testing.T, tmp string, p []string) []string {
			return []string{p[0], p[4], p[3]}
		}, chain.RelinkOptions{}, vhd.ErrNotDifferencing, 1},
		{"same file twice", func(t *testing.T, tmp string, p []string) []string {
			return []string{p[0], p[1], p[0], p[4]}
		}, chain.RelinkOptions{}, chain.ErrCycle, 2},
		{"same file under another name", func(t *testing.T, tmp string, p []string) []string {
			l := filepath.Join(filepath.Dir(p[0]), "link.vhd")
			if err := os.Link(p[1], l); err != nil {
				t.Skip(err)
			}
			return []string{p[0], p[1], l, p[4]}
		}, chain.RelinkOptions{}, chain.ErrCycle, 2},
		{"file outside the root", func(t *testing.T, tmp string, p []string) []string {
			o := vhdtest.Dynamic(t, filepath.Join(tmp, "outside.vhd"), 8*mib, nil)
			return []string{p[0], p[1], o}
		}, chain.RelinkOptions{}, chain.ErrOutsideRoot, 2},
		{"too many files", func(t *testing.T, tmp string, p []string) []string { return p }, chain.RelinkOptions{MaxDepth: 4}, chain.ErrTooDeep, 4},
		{"missing file", func(t *testing.T, tmp string, p []string) []string {
			return []string{p[0], filepath.Join(filepath.Dir(p[0]), "nope.vhd"), p[4]}
		}, chain.RelinkOptions{}, os.ErrNotExist, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tmp := tempDir(t)
			dir := filepath.Join(tmp, "root")
			os.Mkdir(dir, 0o755)
			p, _ := stage(t, dir)
			snap := snapshotFiles(t, p)
			tc.opts.Root = dir
			err := chain.Relink(context.Background(), tc.paths(t, tmp, p), &tc.opts)
			t.Log(err)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			var re *chain.RelinkError
			if !errors.As(err, &re) {
				t.Fatalf("err %T is not a *RelinkError", err)
			}
			if re.Index != tc.wantIndex || len(re.Relinked) != 0 {
				t.Errorf("RelinkError index %d, relinked %v; want %d, none", re.Index, re.Relinked, tc.wantIndex)
			}
			if diff := cmp.Diff(snap, snapshotFiles(t, p)); diff != "" {
				t.Errorf("files changed:\n%s", diff)
			}
		})
	}
}

// TestRelinkFailsMidway makes one step fail (a parent with a null UUID,
// which SetParent refuses) and checks the error names it, lists the links
// relinked before it, and leaves the failing child and those nearer the
// leaf byte for byte unchanged.
func TestRelinkFailsMidway(t *testing.T) {
	dir := tempDir(t)
	p, _ := stage(t, dir)
	vhdtest.PatchFooter(t, p[2], vhdtest.Both, true, func(f *vhd.Footer) { f.UUID = vhd.UUID{} })
	snap := snapshotFiles(t, p[:3])
	err := chain.Relink(context.Background(), p, &chain.RelinkOptions{Root: dir})
	t.Log(err)
	// p[2] fails vhd.Check (null UUID), so SetParent refuses to touch it.
	var re *chain.RelinkError
	var ce *vhd.CheckError
	if !errors.As(err, &re) || !errors.As(err, &ce) || !errors.Is(err, vhd.ErrFooterInvalid) {
		t.Fatalf("err = %v, want a *RelinkError wrapping the *vhd.CheckError of p[2]", err)
	}
	type got struct {
		Index         int
		Child, Parent string
		Relinked      []string
	}
	if diff := cmp.Diff(got{2, p[2], p[3], []string{p[3]}}, got{re.Index, re.Child, re.Parent, re.Relinked}); diff != "" {
		t.Errorf("RelinkError (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(snap, snapshotFiles(t, p[:3])); diff != "" {
		t.Errorf("the refused child or those nearer the leaf changed:\n%s", diff)
	}
	// The links relinked form a valid chain with the base.
	c, err := chain.Walk(context.Background(), p[3], &chain.Options{Root: dir})
	if err != nil {
		t.Fatalf("relinked part: %v", err)
	}
	c.Close()
}

// snapshotFiles returns the size and hash of each file, by base name.
func snapshotFiles(t *testing.T, paths []string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		m[filepath.Base(p)] = fmt.Sprintf("%d bytes, sha256 %x", len(b), sha256.Sum256(b))
	}
	return m
}
