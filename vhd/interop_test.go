package vhd_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vhdkit/vhdkit/vhd"
	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

// qemuVirtualSize returns the virtual size qemu-img info reports.
func qemuVirtualSize(t *testing.T, qemu, path string) int64 {
	t.Helper()
	out, err := exec.Command(qemu, "info", "-f", "vpc", "--output=json", path).Output()
	if err != nil {
		t.Fatalf("qemu-img info %s: %v", path, err)
	}
	var info struct {
		VirtualSize int64 `json:"virtual-size"`
	}
	if err := json.Unmarshal(out, &info); err != nil {
		t.Fatalf("qemu-img info: %v\n%s", err, out)
	}
	return info.VirtualSize
}

func runTool(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

// TestInteropQemuCreate opens empty images qemu-img creates, fixed and
// dynamic, on and off 2 MiB multiples, up to 2040 GiB.
func TestInteropQemuCreate(t *testing.T) {
	qemu := vhdtest.Tool(t, "qemu-img")
	sizes := []struct {
		arg   string
		large bool
	}{
		{"1M", false},
		{"4M", false},
		{"5M", false},
		{"100M", false},
		{"1049088K", false}, // 1 GiB + 512 KiB
		{"127G", true},
		{"1025G", true},
		{"2040G", true},
	}
	for _, sub := range []string{"dynamic", "fixed"} {
		for _, sz := range sizes {
			t.Run(sub+"/"+sz.arg, func(t *testing.T) {
				if sz.large && testing.Short() {
					t.Skip("multi-GiB image under -short")
				}
				p := filepath.Join(t.TempDir(), "q.vhd")
				runTool(t, qemu, "create", "-q", "-f", "vpc", "-o", "subformat="+sub, p, sz.arg)
				f, err := vhd.Open(p)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				want := struct {
					Type        vhd.DiskType
					VirtualSize int64
				}{vhd.DiskDynamic, qemuVirtualSize(t, qemu, p)}
				if sub == "fixed" {
					want.Type = vhd.DiskFixed
				}
				got := want
				got.Type, got.VirtualSize = f.DiskType(), f.VirtualSize()
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("(-qemu +ours):\n%s", diff)
				}
				checkValid(t, p)
				if n, err := f.AllocatedBlocks(); sub == "dynamic" && (err != nil || n != 0) {
					t.Errorf("AllocatedBlocks = %d, %v; want 0", n, err)
				}
				// Both ends of the disk read as zeros.
				for _, off := range []int64{0, f.VirtualSize() - 4096} {
					b := make([]byte, 4096)
					if _, err := f.ReadAt(b, off); err != nil {
						t.Fatalf("ReadAt %d: %v", off, err)
					}
					if !bytes.Equal(b, make([]byte, 4096)) {
						t.Errorf("data at %d is not zero", off)
					}
				}
			})
		}
	}
}

// TestInteropQemuConvert reads images qemu-img converts from raw data,
// sizes on and off 2 MiB multiples, through ReadAt.
func TestInteropQemuConvert(t *testing.T) {
	qemu := vhdtest.Tool(t, "qemu-img")
	for _, sub := range []string{"dynamic", "fixed"} {
		for _, size := range []int64{512 * 1024, 2 * mib, 7*mib + 512, 33 * mib} {
			t.Run(fmt.Sprintf("%s/%d", sub, size), func(t *testing.T) {
				dir := t.TempDir()
				raw := filepath.Join(dir, "in.raw")
				data := expected(size, nil,
					vhdtest.Fill(30, 0, 1000),
					vhdtest.Fill(31, size/2-333, 70000),
					vhdtest.Fill(32, size-512-7, 519))
				if err := os.WriteFile(raw, data, 0o644); err != nil {
					t.Fatal(err)
				}
				p := filepath.Join(dir, "q.vhd")
				runTool(t, qemu, "convert", "-f", "raw", "-O", "vpc", "-o", "subformat="+sub, raw, p)
				f, err := vhd.Open(p)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				if got, want := f.VirtualSize(), qemuVirtualSize(t, qemu, p); got != want {
					t.Errorf("VirtualSize %d, qemu says %d", got, want)
				}
				got := readAll(t, f)
				if int64(len(got)) < size {
					t.Fatalf("virtual size %d < %d", len(got), size)
				}
				if !bytes.Equal(got[:size], data) {
					t.Errorf("data differs: %s", firstDiff(got[:size], data))
				}
				if !bytes.Equal(got[size:], make([]byte, len(got)-int(size))) {
					t.Errorf("the tail past the raw size is not zero")
				}
				checkValid(t, p)
			})
		}
	}
}

// pyvhdiRead returns the virtual disk of the chain paths (leaf first) as
// python3-libvhdi reads it.
func pyvhdiRead(t *testing.T, paths ...string) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "pyvhdi.raw")
	vhdtest.PyVHDIRead(t, out, paths...)
	return fileBytes(t, out)
}

// toPage is n pattern bytes from off up to the next 4 KiB boundary at or
// past off+n: libvhdi 20210425 reads every sector after the first set bit
// of a bitmap byte from the child, so runs of written sectors must end on
// a byte of the bitmap (8 sectors) for it to read them right; they may
// start anywhere, inside a sector too.
func toPage(seed uint64, off int64, n int) vhdtest.Write {
	end := (off + int64(n) + 4095) &^ 4095
	return vhdtest.Fill(seed, off, int(end-off))
}

// chainWrites are partial-sector writes for link i of a test chain.
func chainWrites(size int64) func(i int) []vhdtest.Write {
	return func(i int) []vhdtest.Write {
		s := uint64(100 + i)
		return []vhdtest.Write{
			toPage(s, int64(i)*777+3, 1500),
			toPage(s+10, 2*mib-100+int64(i)*512, 300),
			vhdtest.Fill(s+20, size-2*mib+int64(i)*4096+1, int(2*mib-int64(i)*4096-1)), // to the end of the disk
		}
	}
}

// TestInteropPyvhdiChains reads our differencing chains with python3-libvhdi.
func TestInteropPyvhdiChains(t *testing.T) {
	vhdtest.PyVHDI(t)
	for _, tc := range []struct {
		depth int
		size  int64
	}{{2, 4 * mib}, {3, 7*mib + 512}, {5, 10 * mib}} {
		t.Run(fmt.Sprint("depth=", tc.depth), func(t *testing.T) {
			dir := t.TempDir()
			w := chainWrites(tc.size)
			// Child merges partial sectors with its direct parent only:
			// links further down get their data once the chain is built.
			paths := vhdtest.Chain(t, dir, tc.depth, tc.size, nil, func(i int) []vhdtest.Write {
				if i >= tc.depth-2 {
					return w(i)
				}
				return nil
			})
			for i := tc.depth - 3; i >= 0; i-- {
				vhdtest.WriteChain(t, paths[i:], w(i)...)
			}
			want := make([]byte, tc.size)
			for i := tc.depth - 1; i >= 0; i-- {
				want = expected(tc.size, want, w(i)...)
			}
			if got := chainData(t, paths[0]); !bytes.Equal(got, want) {
				t.Fatalf("our own read differs: %s", firstDiff(got, want))
			}
			if got := pyvhdiRead(t, paths...); !bytes.Equal(got, want) {
				t.Errorf("pyvhdi reads other data: %s", firstDiff(got, want))
			}
		})
	}
}

// TestInteropPyvhdiSnapshot reads a child made by Snapshot, then written,
// through python3-libvhdi.
func TestInteropPyvhdiSnapshot(t *testing.T) {
	vhdtest.PyVHDI(t)
	dir := t.TempDir()
	size := int64(6 * mib)
	baseW := []vhdtest.Write{vhdtest.Fill(1, 0, int(size))}
	base := vhdtest.Dynamic(t, filepath.Join(dir, "base.vhd"), size, nil, baseW...)
	f, err := vhd.Snapshot(filepath.Join(dir, "snap.vhd"), base, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := vhd.Open(base)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	f.AttachParent(p)
	w := []vhdtest.Write{toPage(2, 511, 2), toPage(3, 3*mib, 12345)}
	for _, x := range w {
		if _, err := f.WriteAt(x.Data, x.Offset); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	want := expected(size, expected(size, nil, baseW...), w...)
	if got := pyvhdiRead(t, filepath.Join(dir, "snap.vhd"), base); !bytes.Equal(got, want) {
		t.Errorf("pyvhdi reads other data: %s", firstDiff(got, want))
	}
	checkValid(t, filepath.Join(dir, "snap.vhd"))
}

var vhdiinfoLine = regexp.MustCompile(`(?m)^\s*([A-Za-z ]+?)\s*:\s*(.*?)\s*$`)

// vhdiinfo runs vhdiinfo on path and returns its "key : value" lines.
func vhdiinfo(t *testing.T, path string) map[string]string {
	t.Helper()
	tool := vhdtest.Tool(t, "vhdiinfo")
	out := runTool(t, tool, path)
	m := map[string]string{}
	for _, sm := range vhdiinfoLine.FindAllStringSubmatch(string(out), -1) {
		m[sm[1]] = sm[2]
	}
	return m
}

// TestInteropVhdiinfo checks what libvhdi's vhdiinfo shows of our files.
func TestInteropVhdiinfo(t *testing.T) {
	vhdtest.Tool(t, "vhdiinfo")
	dir := t.TempDir()
	size := int64(20 * mib)
	base := vhdtest.Dynamic(t, filepath.Join(dir, "base.vhd"), size, nil, vhdtest.Fill(1, 0, 4096))
	fixed := vhdtest.Fixed(t, filepath.Join(dir, "fixed.vhd"), size, nil)
	child := vhdtest.Child(t, filepath.Join(dir, "child.vhd"), base, nil, vhdtest.Fill(2, 100, 100))
	snapF, err := vhd.Snapshot(filepath.Join(dir, "snap.vhd"), child, nil)
	if err != nil {
		t.Fatal(err)
	}
	snapF.Close()
	other := copyFile(t, filepath.Join(dir, "renamed-parent.vhd"), base)
	relinked := vhdtest.Child(t, filepath.Join(dir, "relinked.vhd"), base, nil, vhdtest.Fill(3, 0, 512))
	rf, err := vhd.OpenFile(relinked, os.O_RDWR)
	if err != nil {
		t.Fatal(err)
	}
	if err := rf.SetParent(context.Background(), other, nil); err != nil {
		t.Fatal(err)
	}
	rf.Close()

	for _, tc := range []struct {
		path, typ, parent string
	}{
		{base, "Dynamic", ""},
		{fixed, "Fixed", ""},
		{child, "Differential", base},
		{snapF.Name(), "Differential", child},
		{relinked, "Differential", other},
	} {
		t.Run(filepath.Base(tc.path), func(t *testing.T) {
			f, err := vhd.Open(tc.path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			want := map[string]string{
				"Disk type":  tc.typ,
				"Media size": fmt.Sprintf("%d MiB (%d bytes)", f.VirtualSize()>>20, f.VirtualSize()),
				"Identifier": f.Footer.UUID.String(),
			}
			if tc.parent != "" {
				want["Parent identifier"] = footerUUID(t, tc.parent).String()
				want["Parent filename"] = filepath.Base(tc.parent)
			}
			info := vhdiinfo(t, tc.path)
			got := map[string]string{}
			for k := range want {
				got[k] = info[k]
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("vhdiinfo (-want +got):\n%s\nfull output: %v", diff, info)
			}
			if _, ok := info["Parent identifier"]; tc.parent == "" && ok {
				t.Errorf("vhdiinfo shows a parent for a %s disk", tc.typ)
			}
		})
	}
}

// TestInteropSetParent re-links children to a parent whose path is too
// long for their old locators, one with allocated blocks and one without
// locators at all: both must pass check in vhd-util compatibility mode and
// read, through python3-libvhdi, the same data as before.
func TestInteropSetParent(t *testing.T) {
	vhdtest.PyVHDI(t)
	size := int64(9 * mib)
	baseW := []vhdtest.Write{vhdtest.Fill(1, 0, int(size))}
	childW := []vhdtest.Write{toPage(2, 0, 4097), toPage(3, 2*mib-5, 10), toPage(4, 8*mib+1, 1000)}
	for _, tc := range []struct {
		name         string
		noLocators   bool
		pathLen      int
		wantMovesMin int
	}{
		{"long path, blocks allocated", false, 950, 1},
		{"no locators", true, 0, 0},
		{"no locators, long path", true, 950, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			base := vhdtest.Dynamic(t, filepath.Join(dir, "base.vhd"), size, nil, baseW...)
			child := vhdtest.Child(t, filepath.Join(dir, "child.vhd"), base, nil, childW...)
			before := pyvhdiRead(t, child, base)
			if want := expected(size, expected(size, nil, baseW...), childW...); !bytes.Equal(before, want) {
				t.Fatalf("pyvhdi reads other data before SetParent: %s", firstDiff(before, want))
			}
			if tc.noLocators {
				vhdtest.PatchHeader(t, child, true, func(h *vhd.Header) { h.Locators = [8]vhd.ParentLocator{} })
			}
			np := filepath.Join(dir, "new-parent.vhd")
			if tc.pathLen > 0 {
				np = filepath.Join(deepDir(t, dir, tc.pathLen), "new-parent.vhd")
			}
			copyFile(t, np, base)
			f, err := vhd.OpenFile(child, os.O_RDWR)
			if err != nil {
				t.Fatal(err)
			}
			batBefore, _ := f.BAT()
			batBefore = append([]uint32(nil), batBefore...)
			if err := f.SetParent(context.Background(), np, nil); err != nil {
				t.Fatal(err)
			}
			batAfter, _ := f.BAT()
			moves := 0
			for i := range batBefore {
				if batBefore[i] != batAfter[i] {
					moves++
				}
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			if moves < tc.wantMovesMin {
				t.Errorf("%d blocks moved, want at least %d", moves, tc.wantMovesMin)
			}
			checkValid(t, child)
			if after := pyvhdiRead(t, child, np); !bytes.Equal(after, before) {
				t.Errorf("pyvhdi reads other data after SetParent: %s", firstDiff(after, before))
			}
			if info := vhdiinfo(t, child); info["Parent filename"] != "new-parent.vhd" {
				t.Errorf("vhdiinfo parent filename %q", info["Parent filename"])
			}
		})
	}
}

// checkValid asserts that path passes Check (both modes, parents resolved)
// and, for a dynamic or differencing disk, our own layout rules.
func checkValid(t *testing.T, path string) {
	t.Helper()
	f, err := vhd.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	typ := f.DiskType()
	f.Close()
	assertCheck(t, path)
	if typ == vhd.DiskDynamic || typ == vhd.DiskDifferencing {
		assertLayout(t, path)
	}
}
