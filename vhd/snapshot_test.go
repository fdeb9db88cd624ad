package vhd_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vhdkit/vhdkit/vhd"
	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

// snapInfo is what a snapshot records, for comparison.
type snapInfo struct {
	Type        vhd.DiskType
	Size        int64
	Entries     uint32
	FileSize    int64
	Hidden      uint8
	ParentUUID  vhd.UUID
	ParentName  string
	ParentTime  int64
	Locators    []string
	LocatorOffs []uint64
}

func readSnapInfo(t *testing.T, path string) snapInfo {
	t.Helper()
	f, err := vhd.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pf := readParentFields(t, f)
	h, _ := f.Hidden()
	si := snapInfo{Type: f.DiskType(), Size: f.VirtualSize(), Entries: f.Header.MaxTableEntries, FileSize: f.FileSize(), Hidden: h,
		ParentUUID: pf.ParentUUID, ParentName: pf.ParentName, ParentTime: pf.ParentTime, Locators: pf.Locators}
	for _, l := range f.Header.Locators {
		if l.Code != vhd.PlatformNone {
			si.LocatorOffs = append(si.LocatorOffs, l.DataOffset)
		}
	}
	return si
}

func mtime(t *testing.T, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.ModTime().Unix()
}

func footerUUID(t *testing.T, path string) vhd.UUID {
	t.Helper()
	f, err := vhd.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return f.Footer.UUID
}

func TestSnapshot(t *testing.T) {
	locs := func(rel string) []string {
		return []string{"0:MacX:" + rel, "1:W2ku:" + roundTrip(t, vhd.PlatformW2ku, rel), "2:W2ru:" + roundTrip(t, vhd.PlatformW2ru, rel)}
	}
	tests := []struct {
		name string
		// setup returns the parent path to pass, the file the child must
		// be linked to, and options.
		setup    func(t *testing.T, dir string) (parent, target string, opts *vhd.SnapshotOptions)
		raw      bool
		wantSize int64
		wantFile int64 // file size of the child, 0 to skip
		entries  uint32
	}{
		{"100 MiB dynamic parent (spec 1.11 layout)", func(t *testing.T, dir string) (string, string, *vhd.SnapshotOptions) {
			p := vhdtest.Dynamic(t, filepath.Join(dir, "p.vhd"), 100*mib, nil, vhdtest.Fill(1, 0, 4096))
			return p, p, nil
		}, false, 100 * mib, 5120, 50},
		{"fixed parent", func(t *testing.T, dir string) (string, string, *vhd.SnapshotOptions) {
			p := vhdtest.Fixed(t, filepath.Join(dir, "p.vhd"), 3*mib+512, nil, vhdtest.Fill(1, 0, 4096))
			return p, p, nil
		}, false, 3*mib + 512, 0, 2},
		{"raw parent", func(t *testing.T, dir string) (string, string, *vhd.SnapshotOptions) {
			p := filepath.Join(dir, "p.raw")
			os.WriteFile(p, vhdtest.Pattern(3, 5*mib), 0o644)
			return p, p, &vhd.SnapshotOptions{Raw: true}
		}, true, 5 * mib, 0, 3},
		{"metadata size", func(t *testing.T, dir string) (string, string, *vhd.SnapshotOptions) {
			p := vhdtest.Dynamic(t, filepath.Join(dir, "p.vhd"), 4*mib, nil)
			return p, p, &vhd.SnapshotOptions{Size: 64 * mib}
		}, false, 4 * mib, 0, 32},
		{"empty parent kept without skipping", func(t *testing.T, dir string) (string, string, *vhd.SnapshotOptions) {
			b := vhdtest.Dynamic(t, filepath.Join(dir, "base.vhd"), 4*mib, nil, vhdtest.Fill(1, 0, 4096))
			mid := vhdtest.Child(t, filepath.Join(dir, "mid.vhd"), b, nil)
			return mid, mid, &vhd.SnapshotOptions{Parents: spOpener{}}
		}, false, 4 * mib, 0, 2},
		{"empty parents skipped", func(t *testing.T, dir string) (string, string, *vhd.SnapshotOptions) {
			paths := vhdtest.Chain(t, dir, 4, 4*mib, nil, func(i int) []vhdtest.Write {
				if i == 2 {
					return []vhdtest.Write{vhdtest.Fill(5, 0, 512)}
				}
				return nil
			})
			return paths[0], paths[2], &vhd.SnapshotOptions{SkipEmptyParents: true, Parents: spOpener{}}
		}, false, 4 * mib, 0, 2},
		{"non-empty parent not skipped", func(t *testing.T, dir string) (string, string, *vhd.SnapshotOptions) {
			paths := vhdtest.Chain(t, dir, 2, 4*mib, nil, func(i int) []vhdtest.Write { return []vhdtest.Write{vhdtest.Fill(5, 0, 512)} })
			return paths[0], paths[0], &vhd.SnapshotOptions{SkipEmptyParents: true, Parents: spOpener{}}
		}, false, 4 * mib, 0, 2},
		{"empty parent of a raw image skipped", func(t *testing.T, dir string) (string, string, *vhd.SnapshotOptions) {
			r := filepath.Join(dir, "base.raw")
			os.WriteFile(r, vhdtest.Pattern(3, 4*mib), 0o644)
			mid, err := vhd.Snapshot(filepath.Join(dir, "mid.vhd"), r, &vhd.SnapshotOptions{Raw: true})
			if err != nil {
				t.Fatal(err)
			}
			mid.Close()
			return mid.Name(), r, &vhd.SnapshotOptions{SkipEmptyParents: true, Parents: spOpener{}}
		}, true, 4 * mib, 0, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			parent, target, opts := tc.setup(t, dir)
			parentBytes := fileBytes(t, parent)
			targetData := fileBytes(t, target)
			child := filepath.Join(dir, "child.vhd")
			if opts == nil {
				opts = &vhd.SnapshotOptions{}
			}
			opts.Time = vhdtest.Epoch
			f, err := vhd.Snapshot(child, parent, opts)
			if err != nil {
				t.Fatalf("Snapshot: %v", err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			got := readSnapInfo(t, child)
			want := snapInfo{
				Type: vhd.DiskDifferencing, Size: tc.wantSize, Entries: tc.entries, FileSize: got.FileSize,
				ParentName: filepath.Base(target), ParentTime: mtime(t, target), Locators: locs("./" + filepath.Base(target)),
				LocatorOffs: got.LocatorOffs,
			}
			if tc.wantFile != 0 {
				want.FileSize = tc.wantFile
				want.LocatorOffs = []uint64{3072, 3584, 4096}
			}
			if !tc.raw {
				want.ParentUUID = footerUUID(t, target)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("child (-want +got):\n%s", diff)
			}
			if !bytes.Equal(parentBytes, fileBytes(t, parent)) || !bytes.Equal(targetData, fileBytes(t, target)) {
				t.Errorf("the parent changed")
			}
			assertLayout(t, child)
			assertCheck(t, child)
			// The child reads as its parent.
			c := openChain(t, child)
			var wantData []byte
			if tc.raw {
				wantData = targetData
			} else {
				wantData = chainData(t, target)[:tc.wantSize]
			}
			// The first and last 2 MiB are enough: the child holds nothing.
			n := min(int64(len(wantData)), 2*mib)
			for _, off := range []int64{0, int64(len(wantData)) - n} {
				got := make([]byte, n)
				if _, err := c.ReadAt(got, off); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, wantData[off:off+n]) {
					t.Errorf("child data at %d differs from parent: %s", off, firstDiff(got, wantData[off:off+n]))
				}
			}
		})
	}
}

func TestSnapshotErrors(t *testing.T) {
	dir := t.TempDir()
	paths := vhdtest.Chain(t, dir, 3, 4*mib, nil, nil) // depth 3 at paths[0]
	nullUUID := vhdtest.Dynamic(t, filepath.Join(dir, "null.vhd"), 4*mib, nil)
	vhdtest.PatchFooter(t, nullUUID, vhdtest.Both, true, func(ft *vhd.Footer) { ft.UUID = vhd.UUID{} })
	oddRaw := filepath.Join(dir, "odd.raw")
	os.WriteFile(oddRaw, make([]byte, 1000), 0o644)
	existing := vhdtest.Dynamic(t, filepath.Join(dir, "exists.vhd"), 4*mib, nil)

	tests := []struct {
		name    string
		child   string
		parent  string
		opts    vhd.SnapshotOptions
		wantErr error
		wantMsg string
	}{
		{"depth limit", "", paths[0], vhd.SnapshotOptions{DepthLimit: 3, Parents: spOpener{}}, vhd.ErrDepthExceeded,
			"snapshot depth exceeded: current depth: 3, limit: 3"},
		{"depth limit on a skipped parent", "", paths[0], vhd.SnapshotOptions{DepthLimit: 1, SkipEmptyParents: true, Parents: spOpener{}}, vhd.ErrDepthExceeded,
			"snapshot depth exceeded: current depth: 1, limit: 1"},
		{"depth limit needs Parents", "", paths[0], vhd.SnapshotOptions{DepthLimit: 3}, nil, ""},
		{"skipping needs Parents", "", paths[0], vhd.SnapshotOptions{SkipEmptyParents: true}, nil, ""},
		{"null vhd.UUID parent", "", nullUUID, vhd.SnapshotOptions{}, vhd.ErrNullParentUUID, ""},
		{"missing parent", "", filepath.Join(dir, "nope.vhd"), vhd.SnapshotOptions{}, fs.ErrNotExist, ""},
		{"raw size not sectors", "", oddRaw, vhd.SnapshotOptions{Raw: true}, vhd.ErrFormat, ""},
		{"size below the parent's", "", paths[2], vhd.SnapshotOptions{Size: 2 * mib}, vhd.ErrTooLarge, ""},
		{"child exists", existing, paths[2], vhd.SnapshotOptions{}, fs.ErrExist, ""},
		{"child is the parent", paths[2], paths[2], vhd.SnapshotOptions{Overwrite: true}, vhd.ErrSameFile, ""},
		{"non-ASCII parent name", "", copyFile(t, filepath.Join(dir, "ü.vhd"), paths[2]), vhd.SnapshotOptions{}, vhd.ErrLocator, ""},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			child := tc.child
			if child == "" {
				child = filepath.Join(dir, "child"+itoa(i)+".vhd")
			}
			before, _ := os.ReadFile(child)
			parentBefore, _ := os.ReadFile(tc.parent)
			f, err := vhd.Snapshot(child, tc.parent, &tc.opts)
			if err == nil {
				f.Close()
				t.Fatalf("Snapshot succeeded")
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("error %v, want %v", err, tc.wantErr)
			}
			if tc.wantMsg != "" && err.Error() != tc.wantMsg {
				t.Errorf("message %q, want %q", err.Error(), tc.wantMsg)
			}
			var de *vhd.DepthError
			if errors.Is(err, vhd.ErrDepthExceeded) && !errors.As(err, &de) {
				t.Errorf("not a *DepthError: %T", err)
			}
			after, _ := os.ReadFile(child)
			if !bytes.Equal(before, after) {
				t.Errorf("child file changed or was created")
			}
			if parentAfter, _ := os.ReadFile(tc.parent); !bytes.Equal(parentBefore, parentAfter) {
				t.Errorf("parent changed")
			}
		})
	}
}

// TestSnapshotDepthLimitAllows checks the boundary: a chain of depth D
// takes a snapshot under limit D+1.
func TestSnapshotDepthLimitAllows(t *testing.T) {
	dir := t.TempDir()
	paths := vhdtest.Chain(t, dir, 3, 4*mib, nil, nil)
	f, err := vhd.Snapshot(filepath.Join(dir, "c.vhd"), paths[0], &vhd.SnapshotOptions{DepthLimit: 4, Parents: spOpener{}, Time: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// TestSnapshotCopiesKeyhash: a parent whose batmap keyhash cookie is 1
// passes its key hash to the child, as vhd-util snapshot does.
func TestSnapshotCopiesKeyhash(t *testing.T) {
	for _, cookie := range []byte{0, 1} {
		t.Run(itoa(int(cookie)), func(t *testing.T) {
			dir := t.TempDir()
			parent := vhdtest.Dynamic(t, filepath.Join(dir, "p.vhd"), 4*mib, nil)
			pf, err := vhd.Open(parent)
			if err != nil {
				t.Fatal(err)
			}
			bm, err := pf.Batmap()
			pf.Close()
			if err != nil {
				t.Fatal(err)
			}
			kh := append([]byte{cookie}, vhdtest.Pattern(9, 64)...)
			vhdtest.Patch(t, parent, bm.HeaderOffset+29, kh...)
			f, err := vhd.Snapshot(filepath.Join(dir, "c.vhd"), parent, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			cbm, err := f.Batmap()
			if err != nil {
				t.Fatal(err)
			}
			var want vhd.Keyhash
			if cookie == 1 {
				want.Cookie = 1
				copy(want.Nonce[:], kh[1:33])
				copy(want.Hash[:], kh[33:])
			}
			if diff := cmp.Diff(want, cbm.Header.Keyhash); diff != "" {
				t.Errorf("child keyhash (-want +got):\n%s", diff)
			}
			c, err := vhd.Open(f.Name())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			dbm, err := c.Batmap()
			if err != nil || dbm.Header.Keyhash != want {
				t.Errorf("keyhash on disk %+v, %v", dbm.Header.Keyhash, err)
			}
		})
	}
}
