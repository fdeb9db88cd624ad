package vhd_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vhdkit/vhdkit/vhd"
	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

const mib = vhdtest.MiB

// expected applies writes to a zero image of size bytes: what the virtual
// disk must read as.
func expected(size int64, base []byte, writes ...vhdtest.Write) []byte {
	img := make([]byte, size)
	copy(img, base)
	for _, w := range writes {
		copy(img[w.Offset:], w.Data)
	}
	return img
}

func readAll(t *testing.T, f *vhd.File) []byte {
	t.Helper()
	got := make([]byte, f.VirtualSize())
	if n, err := f.ReadAt(got, 0); n != len(got) || (err != nil && n != len(got)) {
		t.Fatalf("ReadAt: n=%d err=%v", n, err)
	}
	return got
}

var writeCases = []struct {
	name   string
	size   int64
	writes []vhdtest.Write
}{
	{"empty", 4 * mib, nil},
	{"one sector", 4 * mib, []vhdtest.Write{vhdtest.Fill(1, 512, 512)}},
	{"partial sectors", 6 * mib, []vhdtest.Write{vhdtest.Fill(2, 100, 1000), vhdtest.Fill(3, 2*mib-7, 20)}},
	{"whole block", 4 * mib, []vhdtest.Write{vhdtest.Fill(4, 2*mib, 2*mib)}},
	{"overwrite", 4 * mib, []vhdtest.Write{vhdtest.Fill(5, 0, 3*mib), vhdtest.Fill(6, mib+3, 5000)}},
	{"odd size", 3*mib + 512, []vhdtest.Write{vhdtest.Fill(7, 3*mib, 512)}},
}

func TestWriteReadDynamicAndFixed(t *testing.T) {
	for _, tc := range writeCases {
		for _, typ := range []string{"dynamic", "fixed"} {
			t.Run(tc.name+"/"+typ, func(t *testing.T) {
				p := filepath.Join(t.TempDir(), "d.vhd")
				if typ == "dynamic" {
					vhdtest.Dynamic(t, p, tc.size, nil, tc.writes...)
				} else {
					vhdtest.Fixed(t, p, tc.size, nil, tc.writes...)
				}
				f, err := vhd.Open(p)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				if got, want := readAll(t, f), expected(tc.size, nil, tc.writes...); !bytes.Equal(got, want) {
					t.Errorf("data differs: %s", firstDiff(got, want))
				}
				if typ == "dynamic" {
					phys, err := f.PhysicalSize()
					if err != nil {
						t.Fatal(err)
					}
					if phys != f.FileSize() {
						t.Errorf("PhysicalSize %d, file size %d", phys, f.FileSize())
					}
				}
			})
		}
	}
}

func TestDifferencingReadThroughParent(t *testing.T) {
	dir := t.TempDir()
	size := int64(6 * mib)
	baseW := []vhdtest.Write{vhdtest.Fill(10, 0, 5*mib)}
	base := vhdtest.Dynamic(t, filepath.Join(dir, "base.vhd"), size, nil, baseW...)
	childW := []vhdtest.Write{vhdtest.Fill(11, 700, 3), vhdtest.Fill(12, 2*mib+512, 4096), vhdtest.Fill(13, 5*mib-1, 2)}
	child := vhdtest.Child(t, filepath.Join(dir, "child.vhd"), base, nil, childW...)

	p, err := vhd.Open(base)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, err := vhd.Open(child)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.ReadAt(make([]byte, 512), 0); err == nil {
		t.Errorf("ReadAt without parent attached succeeded, want ErrNoParentReader")
	}
	c.AttachParent(p)
	want := expected(size, expected(size, nil, baseW...), childW...)
	if got := readAll(t, c); !bytes.Equal(got, want) {
		t.Errorf("data differs: %s", firstDiff(got, want))
	}
	info := struct {
		Type       vhd.DiskType
		ParentUUID string
		Name       string
		Locators   []string
	}{Type: c.DiskType(), ParentUUID: c.ParentUUID().String()}
	info.Name, _ = c.ParentName()
	for _, l := range c.ParentLocators() {
		info.Locators = append(info.Locators, l.Entry.Code.String()+":"+l.Path)
	}
	wantInfo := info
	wantInfo.Type = vhd.DiskDifferencing
	wantInfo.ParentUUID = p.Footer.UUID.String()
	wantInfo.Name = "base.vhd"
	wantInfo.Locators = []string{"MacX:./base.vhd", "W2ku:./base.vhd", "W2ru:./base.vhd"}
	if diff := cmp.Diff(wantInfo, info); diff != "" {
		t.Errorf("child metadata (-want +got):\n%s", diff)
	}
}

// TestQemuReadsOurFiles converts our files to raw with qemu-img and compares.
func TestQemuReadsOurFiles(t *testing.T) {
	qemu := vhdtest.Tool(t, "qemu-img")
	for _, tc := range writeCases {
		for _, typ := range []string{"dynamic", "fixed"} {
			t.Run(tc.name+"/"+typ, func(t *testing.T) {
				dir := t.TempDir()
				p := filepath.Join(dir, "d.vhd")
				if typ == "dynamic" {
					vhdtest.Dynamic(t, p, tc.size, nil, tc.writes...)
				} else {
					vhdtest.Fixed(t, p, tc.size, nil, tc.writes...)
				}
				raw := filepath.Join(dir, "d.raw")
				if out, err := exec.Command(qemu, "convert", "-f", "vpc", "-O", "raw", p, raw).CombinedOutput(); err != nil {
					t.Fatalf("qemu-img convert: %v\n%s", err, out)
				}
				got, err := os.ReadFile(raw)
				if err != nil {
					t.Fatal(err)
				}
				if want := expected(tc.size, nil, tc.writes...); !bytes.Equal(got, want) {
					t.Errorf("qemu reads other data (len %d, want %d): %s", len(got), len(want), firstDiff(got, want))
				}
			})
		}
	}
}

// TestReadQemuFiles reads images qemu-img made from raw data.
func TestReadQemuFiles(t *testing.T) {
	qemu := vhdtest.Tool(t, "qemu-img")
	for _, sub := range []string{"dynamic", "fixed"} {
		for _, size := range []int64{4 * mib, 5*mib + 3*512} {
			t.Run(sub, func(t *testing.T) {
				dir := t.TempDir()
				raw := filepath.Join(dir, "in.raw")
				data := expected(size, nil, vhdtest.Fill(20, 0, int(size)/3), vhdtest.Fill(21, size-4096, 4096))
				if err := os.WriteFile(raw, data, 0o644); err != nil {
					t.Fatal(err)
				}
				p := filepath.Join(dir, "q.vhd")
				if out, err := exec.Command(qemu, "convert", "-f", "raw", "-O", "vpc", "-o", "subformat="+sub, raw, p).CombinedOutput(); err != nil {
					t.Fatalf("qemu-img convert: %v\n%s", err, out)
				}
				f, err := vhd.Open(p)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				got := readAll(t, f)
				if int64(len(got)) < size {
					t.Fatalf("virtual size %d < %d", len(got), size)
				}
				if !bytes.Equal(got[:size], data) || bytes.Count(got[size:], []byte{0}) != len(got)-int(size) {
					t.Errorf("data differs: %s", firstDiff(got[:size], data))
				}
			})
		}
	}
}

func firstDiff(a, b []byte) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return "first difference at byte " + itoa(i)
		}
	}
	return "lengths " + itoa(len(a)) + " and " + itoa(len(b))
}

func itoa(i int) string { return fmtInt(int64(i)) }
