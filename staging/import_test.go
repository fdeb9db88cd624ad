//go:build linux

package staging

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vhdkit/vhdkit/chain"
	"github.com/vhdkit/vhdkit/vhd"
	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

// checkImported checks that the SR holds exactly before plus the result's
// files, that the chain validates inside the SR with the expected hidden
// flags, and that the leaf reads as want.
func checkImported(t *testing.T, sr string, before map[string]fileState, res *Result, wantHash string, wantHidden []bool) {
	t.Helper()
	after := srState(t, sr)
	var added []string
	for name := range after {
		if _, ok := before[name]; !ok {
			added = append(added, name)
		}
	}
	var want []string
	for _, v := range res.VDIs {
		want = append(want, v.UUID.String()+".vhd")
	}
	if diff := cmp.Diff(sortedCopy(want), sortedCopy(added)); diff != "" {
		t.Errorf("files added to the SR (-want +got):\n%s", diff)
	}
	for name, st := range before {
		if diff := cmp.Diff(st, after[name]); diff != "" {
			t.Errorf("SR file %s changed (-before +after):\n%s", name, diff)
		}
	}
	leaf := filepath.Join(sr, res.Leaf.UUID.String()+".vhd")
	c, err := validateChain(context.Background(), leaf, sr, 0)
	if err != nil {
		t.Fatalf("imported chain does not validate: %v", err)
	}
	var hidden []bool
	var paths []string
	for _, l := range c.Links {
		h, _ := l.File.Hidden()
		hidden = append(hidden, h != 0)
		paths = append(paths, filepath.Base(l.Path))
	}
	c.Close()
	if diff := cmp.Diff(want, paths); diff != "" {
		t.Errorf("chain links (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantHidden, hidden); diff != "" {
		t.Errorf("hidden flags (-want +got):\n%s", diff)
	}
	if got := diskHash(t, leaf, sr); got != wantHash {
		t.Errorf("imported disk hash %s, want %s", got, wantHash)
	}
}

func sortedCopy(s []string) []string {
	c := append([]string(nil), s...)
	for i := range c {
		for j := i + 1; j < len(c); j++ {
			if c[j] < c[i] {
				c[i], c[j] = c[j], c[i]
			}
		}
	}
	return c
}

func TestImportGNUTar(t *testing.T) {
	img := imageDir(t, 3, nil)
	want := diskHash(t, filepath.Join(img, "0.vhd"), img)
	archive := tarGz(t, img)
	for _, tc := range []struct {
		name         string
		hideInterior bool
		unhide       bool // clear the interior flags before packing
		wantHidden   []bool
	}{
		{name: "keep flags", wantHidden: []bool{false, true, true}},
		{name: "interior visible kept", unhide: true, wantHidden: []bool{false, false, false}},
		{name: "hide interior", unhide: true, hideInterior: true, wantHidden: []bool{false, true, true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := archive
			if tc.unhide {
				d := imageDir(t, 3, nil)
				for _, n := range []string{"1.vhd", "2.vhd"} {
					vhdtest.PatchFooter(t, filepath.Join(d, n), vhdtest.Both, true, func(f *vhd.Footer) { f.Hidden = 0 })
				}
				data = tarGz(t, d)
			}
			sr := newSR(t)
			before := srState(t, sr)
			uuids := []vhd.UUID{vhd.NewUUID(), vhd.NewUUID(), vhd.NewUUID(), vhd.NewUUID()}
			res, err := Import(context.Background(), bytes.NewReader(data), sr, &ImportOptions{UUIDs: uuids, HideInterior: tc.hideInterior})
			if err != nil {
				t.Fatalf("Import: %v", err)
			}
			if res.Leaf.UUID != uuids[0] || len(res.VDIs) != 3 || res.VDIs[2].UUID != uuids[2] {
				t.Errorf("result UUIDs %v, want the first three of %v", res.VDIs, uuids)
			}
			checkImported(t, sr, before, res, want, tc.wantHidden)
			if left := stagingLeft(t, sr); len(left) != 0 {
				t.Errorf("staging areas left: %v", left)
			}
			b, _ := json.Marshal(res)
			if got, want := string(b), fmt.Sprintf(`{"root":{"uuid":"%s"}}`, uuids[0]); got != want {
				t.Errorf("JSON %s, want %s", got, want)
			}
		})
	}
}

// TestImportQemuBase imports a chain whose base qemu-img made from a raw
// file (CHS size, no batmap, creator "qemu") under the legacy names, and
// reads the leaf back through python3-libvhdi too.
func TestImportQemuBase(t *testing.T) {
	qemu := vhdtest.Tool(t, "qemu-img")
	img := t.TempDir()
	raw := filepath.Join(t.TempDir(), "base.raw")
	if err := os.WriteFile(raw, bytes.Repeat(vhdtest.Pattern(7, 1<<20), 5), 0o644); err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(img, "base.vhd")
	if out, err := exec.Command(qemu, "convert", "-f", "raw", "-O", "vpc", raw, base).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img convert: %v\n%s", err, out)
	}
	vhdtest.Child(t, filepath.Join(img, "image.vhd"), base, &vhdtest.Options{Hidden: 1}, vhdtest.Fill(8, 1<<20, 8192))
	vhdtest.Child(t, filepath.Join(img, "snap.vhd"), filepath.Join(img, "image.vhd"), nil, vhdtest.Fill(9, 3<<20+4096, 16*4096))
	want := diskHash(t, filepath.Join(img, "snap.vhd"), img)
	// Bare names, as Python producers wrote them.
	data := tarGzFiles(t, img, "snap.vhd", "image.vhd", "base.vhd")
	sr := newSR(t)
	before := srState(t, sr)
	stack := []vhd.UUID{vhd.NewUUID(), vhd.NewUUID(), vhd.NewUUID(), vhd.NewUUID()}
	res, err := Import(context.Background(), bytes.NewReader(data), sr, &ImportOptions{UUIDs: FromStack(stack)})
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	if res.Leaf.UUID != stack[3] || res.VDIs[1].UUID != stack[2] || res.VDIs[2].UUID != stack[1] {
		t.Errorf("UUIDs not popped from the stack's end: %+v", res.VDIs)
	}
	if diff := cmp.Diff([]string{"snap.vhd", "image.vhd", "base.vhd"}, []string{res.VDIs[0].Source, res.VDIs[1].Source, res.VDIs[2].Source}); diff != "" {
		t.Errorf("sources (-want +got):\n%s", diff)
	}
	checkImported(t, sr, before, res, want, []bool{false, true, false})

	var args []string
	for _, v := range res.VDIs {
		args = append(args, v.Path)
	}
	out := filepath.Join(t.TempDir(), "pyvhdi.raw")
	vhdtest.PyVHDIRead(t, out, args...)
	if got := fileHash(t, out); got != want {
		t.Errorf("pyvhdi reads %s, want %s", got, want)
	}
}

func TestImportDir(t *testing.T) {
	sr := newSR(t)
	before := srState(t, sr)
	// The migration directory sits beside the SR on the same file system.
	mig := filepath.Join(filepath.Dir(sr), "mig-"+filepath.Base(sr))
	if err := os.Mkdir(mig, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(mig) })
	vhdtest.Chain(t, mig, 2, 8*mib, nil, chainWrites)
	want := diskHash(t, filepath.Join(mig, "0.vhd"), mig)
	if err := os.WriteFile(filepath.Join(mig, "notes.txt"), []byte("left alone"), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := ImportDir(context.Background(), mig, sr, nil)
	if err != nil {
		t.Fatalf("ImportDir: %v", err)
	}
	checkImported(t, sr, before, res, want, []bool{false, true})
	if diff := cmp.Diff([]string(nil), vhdFiles(t, mig)); diff != "" {
		t.Errorf("VHDs left in the migration directory:\n%s", diff)
	}
	if _, err := os.Stat(filepath.Join(mig, "notes.txt")); err != nil {
		t.Errorf("other file of the migration directory: %v", err)
	}
}

// TestImportRefused lists images that must be refused with a typed error
// and no change to the SR.
func TestImportRefused(t *testing.T) {
	existing := vhd.NewUUID()
	type image struct {
		data []byte // an archive, or
		dir  string // a migration directory
	}
	archive := func(build func(t *testing.T, dir string)) func(t *testing.T) image {
		return func(t *testing.T) image {
			d := t.TempDir()
			build(t, d)
			return image{data: tarGz(t, d)}
		}
	}
	chain3 := func(t *testing.T, d string) { vhdtest.Chain(t, d, 3, 8*mib, nil, chainWrites) }
	tests := []struct {
		name  string
		image func(t *testing.T) image
		opts  ImportOptions
		want  error
	}{
		{"gap", archive(func(t *testing.T, d string) {
			chain3(t, d)
			os.Rename(filepath.Join(d, "1.vhd"), filepath.Join(d, "3.vhd"))
		}), ImportOptions{}, ErrGap},
		{"unknown name", archive(func(t *testing.T, d string) {
			chain3(t, d)
			os.Rename(filepath.Join(d, "2.vhd"), filepath.Join(d, "disk.vhd"))
		}), ImportOptions{}, ErrUnknownName},
		{"mixed names", archive(func(t *testing.T, d string) {
			chain3(t, d)
			os.Rename(filepath.Join(d, "0.vhd"), filepath.Join(d, "snap.vhd"))
		}), ImportOptions{}, ErrMixedNames},
		{"no vhd", archive(func(t *testing.T, d string) {
			os.WriteFile(filepath.Join(d, "README"), []byte("hi"), 0o644)
			os.WriteFile(filepath.Join(d, "swap.vhd"), []byte("swap"), 0o644)
		}), ImportOptions{}, ErrNoImages},
		{"too few UUIDs", archive(chain3), ImportOptions{UUIDs: []vhd.UUID{vhd.NewUUID(), vhd.NewUUID()}}, ErrTooFewUUIDs},
		{"duplicate UUID", archive(chain3), ImportOptions{UUIDs: func() []vhd.UUID { u := vhd.NewUUID(); return []vhd.UUID{u, vhd.NewUUID(), u} }()}, ErrDuplicateUUID},
		{"existing UUID", archive(chain3), ImportOptions{UUIDs: []vhd.UUID{vhd.NewUUID(), existing, vhd.NewUUID()}}, ErrUUIDExists},
		{"hidden leaf", archive(func(t *testing.T, d string) {
			chain3(t, d)
			vhdtest.PatchFooter(t, filepath.Join(d, "0.vhd"), vhdtest.Both, true, func(f *vhd.Footer) { f.Hidden = 1 })
		}), ImportOptions{}, chain.ErrHiddenLeaf},
		{"differencing base", archive(func(t *testing.T, d string) {
			chain3(t, d)
			os.Remove(filepath.Join(d, "2.vhd"))
		}), ImportOptions{}, chain.ErrDifferencingBase},
		{"locator leaving staging", archive(func(t *testing.T, d string) {
			// A lone differencing disk whose locators point at a VDI of
			// the SR: importing it would graft the image onto another disk.
			other := t.TempDir()
			p := vhdtest.Dynamic(t, filepath.Join(other, existing.String()+".vhd"), 8*mib, nil)
			vhdtest.Child(t, filepath.Join(d, "0.vhd"), p, nil, vhdtest.Fill(3, 0, 4096))
		}), ImportOptions{}, chain.ErrDifferencingBase},
		{"512 KiB blocks", archive(func(t *testing.T, d string) {
			vhdtest.Dynamic(t, filepath.Join(d, "1.vhd"), 8*mib, &vhdtest.Options{BlockSize: 512 << 10, Creator: vhd.Creator{'q', 'e', 'm', 'u'}, Hidden: 1}, vhdtest.Fill(4, 0, 4096))
			vhdtest.Child(t, filepath.Join(d, "0.vhd"), filepath.Join(d, "1.vhd"), nil)
		}), ImportOptions{}, chain.ErrBlockSize},
		{"too deep", archive(chain3), ImportOptions{MaxDepth: 2}, chain.ErrTooDeep},
		{"corrupt VHD", archive(func(t *testing.T, d string) {
			chain3(t, d)
			vhdtest.PatchHeader(t, filepath.Join(d, "1.vhd"), false, func(h *vhd.Header) { h.MaxTableEntries++ })
		}), ImportOptions{}, ErrInvalidChain},
		{"corrupt data", archive(func(t *testing.T, d string) {
			chain3(t, d)
			os.WriteFile(filepath.Join(d, "1.vhd"), []byte("not a vhd at all"), 0o644)
		}), ImportOptions{}, ErrInvalidChain},
		{"hard-linked file in migration dir", func(t *testing.T) image {
			d := migDir(t)
			chain3(t, d)
			os.Link(filepath.Join(d, "1.vhd"), filepath.Join(d, "copy.img"))
			return image{dir: d}
		}, ImportOptions{}, ErrHardLinked},
		{"symlink in migration dir", func(t *testing.T) image {
			d := migDir(t)
			chain3(t, d)
			os.Rename(filepath.Join(d, "2.vhd"), filepath.Join(d, "real"))
			os.Symlink("real", filepath.Join(d, "2.vhd"))
			return image{dir: d}
		}, ImportOptions{}, vhd.ErrNotRegular},
		{"device in migration dir", func(t *testing.T) image {
			d := migDir(t)
			chain3(t, d)
			os.Remove(filepath.Join(d, "0.vhd"))
			if err := syscall.Mknod(filepath.Join(d, "0.vhd"), syscall.S_IFCHR|0o600, 1<<8|3); err != nil {
				t.Skipf("mknod: %v", err)
			}
			return image{dir: d}
		}, ImportOptions{}, vhd.ErrNotRegular},
		{"migration dir on another device", func(t *testing.T) image {
			if _, err := os.Stat("/dev/shm"); err != nil {
				t.Skip("no /dev/shm")
			}
			d, err := os.MkdirTemp("/dev/shm", "vhdkit-mig-")
			if err != nil {
				t.Skip(err)
			}
			t.Cleanup(func() { os.RemoveAll(d) })
			chain3(t, d)
			return image{dir: d}
		}, ImportOptions{}, ErrCrossDevice},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			img := tc.image(t)
			sr := newSR(t)
			vhdtest.Dynamic(t, filepath.Join(sr, existing.String()+".vhd"), 2*mib, nil, vhdtest.Fill(5, 0, 512))
			before := srState(t, sr)
			var err error
			if img.dir != "" {
				var migBefore map[string]fileState
				migBefore = srState(t, img.dir)
				_, err = ImportDir(context.Background(), img.dir, sr, &tc.opts)
				if diff := cmp.Diff(migBefore, srState(t, img.dir)); diff != "" {
					t.Errorf("migration directory changed by a refusal:\n%s", diff)
				}
			} else {
				_, err = Import(context.Background(), bytes.NewReader(img.data), sr, &tc.opts)
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			var se *Error
			if !errors.As(err, &se) {
				t.Errorf("err %T is not a *staging.Error", err)
			}
			if diff := cmp.Diff(before, srState(t, sr)); diff != "" {
				t.Errorf("SR changed (-before +after):\n%s", diff)
			}
		})
	}
}

// migDir makes a migration directory on the SRs' file system.
func migDir(t *testing.T) string {
	d, err := os.MkdirTemp(os.TempDir(), "vhdkit-mig-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// TestImportParallel runs 8 imports into one SR, holds them all after
// validation while Recover runs, and checks that Recover touched none of
// them and that all 8 then succeed.
func TestImportParallel(t *testing.T) {
	img := imageDir(t, 3, nil)
	want := diskHash(t, filepath.Join(img, "0.vhd"), img)
	data := tarGz(t, img)
	sr := newSR(t)
	const n = 8
	var ready sync.WaitGroup
	ready.Add(n)
	release := make(chan struct{})
	results := make([]*Result, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			var once sync.Once
			results[i], errs[i] = Import(context.Background(), bytes.NewReader(data), sr, &ImportOptions{
				BeforeCommit: func(ctx context.Context, r *Result) error {
					once.Do(ready.Done)
					<-release
					return nil
				},
			})
			once.Do(ready.Done) // a failed import must not hang the test
		})
	}
	ready.Wait()
	before := srState(t, sr)
	rep, err := Recover(context.Background(), sr, nil)
	if err != nil {
		t.Fatalf("Recover: %v", err)
	}
	var states []string
	for _, a := range rep.Areas {
		states = append(states, a.State)
		if len(a.Removed) > 0 || a.Cleaned {
			t.Errorf("Recover acted on a running import: %+v", a)
		}
	}
	if diff := cmp.Diff(strings.Repeat(StateBusy+" ", n), strings.Repeat(states[0]+" ", len(states))); diff != "" || len(states) != n {
		t.Errorf("Recover states %v, want %d x busy", states, n)
	}
	if diff := cmp.Diff(before, srState(t, sr)); diff != "" {
		t.Errorf("Recover changed the SR:\n%s", diff)
	}
	// Recover keeps running while the imports commit.
	stop := make(chan struct{})
	var rwg sync.WaitGroup
	rwg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := Recover(context.Background(), sr, nil); err != nil {
				t.Errorf("Recover during commits: %v", err)
			}
		}
	})
	close(release)
	wg.Wait()
	close(stop)
	rwg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("import %d: %v", i, errs[i])
		}
		leaf := filepath.Join(sr, results[i].Leaf.UUID.String()+".vhd")
		if got := diskHash(t, leaf, sr); got != want {
			t.Errorf("import %d reads %s, want %s", i, got, want)
		}
	}
	if got := len(vhdFiles(t, sr)); got != 2+3*n {
		t.Errorf("SR holds %d VHDs, want %d", got, 2+3*n)
	}
	if left := stagingLeft(t, sr); len(left) != 0 {
		t.Errorf("staging areas left: %v", left)
	}
}

// TestImportNoReplaceFallback answers RENAME_NOREPLACE with EINVAL, as NFS
// does: files move with link and unlink, and an existing file is never
// replaced.
func TestImportNoReplaceFallback(t *testing.T) {
	img := imageDir(t, 3, nil)
	want := diskHash(t, filepath.Join(img, "0.vhd"), img)
	data := tarGz(t, img)
	sr := newSR(t)
	before := srState(t, sr)
	ops := &faultOps{noReplace: true}
	res, err := Import(context.Background(), bytes.NewReader(data), sr, &ImportOptions{ops: ops})
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	if !res.Fallback {
		t.Errorf("Result.Fallback = false, want true")
	}
	var links int
	for _, s := range ops.trace {
		if strings.HasPrefix(s, "link ") {
			links++
		}
	}
	if links != 3 {
		t.Errorf("%d links made, want 3; trace %v", links, ops.trace)
	}
	checkImported(t, sr, before, res, want, []bool{false, true, true})
}

// TestImportOutOfSpace extracts into an SR on a 4 MiB tmpfs.
func TestImportOutOfSpace(t *testing.T) {
	sr := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", sr).CombinedOutput(); err != nil {
		if vhdtest.InteropRequired() {
			t.Fatalf("mount tmpfs: %v %s", err, out)
		}
		t.Skipf("cannot mount a tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", sr).Run() })
	vhdtest.Dynamic(t, filepath.Join(sr, vhd.NewUUID().String()+".vhd"), 4*mib, nil, vhdtest.Fill(1, 0, 64<<10))
	before := srState(t, sr)
	d := t.TempDir()
	vhdtest.Chain(t, d, 2, 16*mib, nil, func(i int) []vhdtest.Write {
		return []vhdtest.Write{vhdtest.Fill(uint64(i), 0, 3*mib)}
	})
	_, err := Import(context.Background(), bytes.NewReader(tarGz(t, d)), sr, nil)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("err = %v, want ENOSPC", err)
	}
	var se *Error
	if !errors.As(err, &se) || se.Op != "extract" {
		t.Errorf("err = %#v, want a *staging.Error of op extract", err)
	}
	if diff := cmp.Diff(before, srState(t, sr)); diff != "" {
		t.Errorf("SR changed (-before +after):\n%s", diff)
	}
}

// TestImportExistingNeverReplaced races the UUID check: a file appears in
// the SR under the leaf's name just before the leaf moves; the import fails,
// the file is left as it is, and the parents already moved are removed.
func TestImportExistingNeverReplaced(t *testing.T) {
	data := tarGz(t, imageDir(t, 3, nil))
	for _, noReplace := range []bool{false, true} {
		t.Run(fmt.Sprintf("fallback=%v", noReplace), func(t *testing.T) {
			sr := newSR(t)
			uuids := []vhd.UUID{vhd.NewUUID(), vhd.NewUUID(), vhd.NewUUID()}
			var before map[string]fileState
			ops := &faultOps{noReplace: noReplace, beforeMove: func(dst string) {
				if filepath.Base(dst) == uuids[0].String()+".vhd" {
					vhdtest.Dynamic(t, dst, 2*mib, nil, vhdtest.Fill(6, 0, 512))
					st := srState(t, sr)
					before = map[string]fileState{}
					for k, v := range st {
						if k == uuids[1].String()+".vhd" || k == uuids[2].String()+".vhd" || strings.HasPrefix(k, Prefix) {
							continue
						}
						before[k] = v
					}
				}
			}}
			_, err := Import(context.Background(), bytes.NewReader(data), sr, &ImportOptions{UUIDs: uuids, ops: ops})
			if !errors.Is(err, ErrUUIDExists) {
				t.Fatalf("err = %v, want ErrUUIDExists", err)
			}
			if diff := cmp.Diff(before, srState(t, sr)); diff != "" {
				t.Errorf("SR changed (-before +after):\n%s", diff)
			}
		})
	}
}

// TestImportCancel cancels the context at each phase: the import fails with
// context.Canceled and the SR is unchanged.
func TestImportCancel(t *testing.T) {
	data := tarGz(t, imageDir(t, 3, nil))
	for _, phase := range []Phase{PhaseExtract, PhaseCheck, PhaseRelink, PhaseValidate, PhaseCommit, "lock"} {
		t.Run(string(phase), func(t *testing.T) {
			sr := newSR(t)
			before := srState(t, sr)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			opts := &ImportOptions{Progress: func(p Progress) {
				if p.Phase == phase {
					cancel()
				}
			}}
			if phase == "lock" {
				opts.Lock = func(context.Context) (func(), error) { cancel(); return func() {}, nil }
			}
			_, err := Import(ctx, bytes.NewReader(data), sr, opts)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("err = %v, want context.Canceled", err)
			}
			if diff := cmp.Diff(before, srState(t, sr)); diff != "" {
				t.Errorf("SR changed (-before +after):\n%s", diff)
			}
		})
	}
}
