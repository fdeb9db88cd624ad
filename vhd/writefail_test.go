package vhd_test

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"

	"github.com/vhdkit/vhdkit/vhd"
	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

// TestWriteAtRefusedLeavesFile: a write that cannot be done is refused
// before the file changes, every time: on a differencing disk without its
// parent attached (three failed 1-byte writes grew a 5 KiB child to 6 MiB),
// across a block boundary where only the second block needs the parent,
// past the virtual size, read-only, and on a file that fails Check.
func TestWriteAtRefusedLeavesFile(t *testing.T) {
	dir := t.TempDir()
	base := vhdtest.Dynamic(t, filepath.Join(dir, "base.vhd"), 4*mib, nil, vhdtest.Fill(1, 0, 4*mib))
	child := vhdtest.Child(t, filepath.Join(dir, "child.vhd"), base, nil)
	dyn := vhdtest.Dynamic(t, filepath.Join(dir, "dyn.vhd"), 4*mib, nil, vhdtest.Fill(2, 0, 4096))
	badBAT := copyFile(t, filepath.Join(dir, "bad.vhd"), dyn)
	vhdtest.SetField(t, badBAT, vhdtest.FieldNamed("BAT", "entry"), 0, 0x0FFFFFFF)
	fixed := vhdtest.Fixed(t, filepath.Join(dir, "fixed.vhd"), 64<<10, nil)
	fixedLie := copyFile(t, filepath.Join(dir, "lie.vhd"), fixed)
	vhdtest.PatchFooter(t, fixedLie, vhdtest.Primary, true, func(f *vhd.Footer) { f.CurrentSize = 1 << 20 })

	tests := []struct {
		name     string
		path     string
		readOnly bool
		off      int64
		n        int
		want     error
	}{
		{"no parent, 1 byte", child, false, 0, 1, vhd.ErrNoParentReader},
		{"no parent, second block only", child, false, 2*mib - 512, 513, vhd.ErrNoParentReader},
		{"no parent, partial sector in a later block", child, false, 100, 2*mib + 1000, vhd.ErrNoParentReader},
		{"past the virtual size", dyn, false, 4*mib - 1, 2, vhd.ErrOutOfRange},
		{"read-only", dyn, true, 0, 512, vhd.ErrReadOnly},
		{"BAT entry past the end of the file", badBAT, false, 0, 512, vhd.ErrBATInvalid},
		{"fixed disk claiming more than it holds", fixedLie, false, 512 << 10, 512, vhd.ErrTruncated},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			orig := fileBytes(t, tc.path)
			mem := &memStore{b: bytes.Clone(orig)}
			f := openMem(t, mem, tc.readOnly)
			for range 3 {
				if _, err := f.WriteAt(vhdtest.Pattern(9, tc.n), tc.off); !errors.Is(err, tc.want) {
					t.Fatalf("WriteAt error %v, want %v", err, tc.want)
				}
			}
			if !bytes.Equal(mem.b, orig) {
				t.Errorf("the file changed: %d bytes, was %d; %s", len(mem.b), len(orig), firstDiff(mem.b, orig))
			}
		})
	}
}

// TestWriteAtFaultInjection fails each write the storage sees during one
// WriteAt, one at a time, as a transient I/O error would: the WriteAt
// fails, the file is byte-identical to what it was, the File still reads
// the old data, and the same write then succeeds and gives the bytes an
// undisturbed write gives.
func TestWriteAtFaultInjection(t *testing.T) {
	dir := t.TempDir()
	base := vhdtest.Dynamic(t, filepath.Join(dir, "base.vhd"), 6*mib, nil, vhdtest.Fill(1, 0, 6*mib))
	dyn := vhdtest.Dynamic(t, filepath.Join(dir, "dyn.vhd"), 6*mib, nil, vhdtest.Fill(2, 2*mib+4096, 8192))
	child := vhdtest.Child(t, filepath.Join(dir, "child.vhd"), base, nil, vhdtest.Fill(3, 0, 1000))
	fixed := vhdtest.Fixed(t, filepath.Join(dir, "fixed.vhd"), 1*mib, nil)
	parent, err := vhd.Open(base)
	if err != nil {
		t.Fatal(err)
	}
	defer parent.Close()
	tests := []struct {
		name   string
		path   string
		parent bool
		w      vhdtest.Write
	}{
		{"new full block, batmap marked full", dyn, false, vhdtest.Fill(4, 0, 2*mib)},
		{"partial sectors in an allocated block", dyn, false, vhdtest.Fill(5, 2*mib+100, 5000)},
		{"allocated block then new blocks", dyn, false, vhdtest.Fill(6, 2*mib+mib, 3*mib)},
		{"child, partial sectors merged with the parent", child, true, vhdtest.Fill(7, 3*mib+7, 700)},
		{"child, allocated and new", child, true, vhdtest.Fill(8, 300, 2*mib)},
		{"fixed", fixed, false, vhdtest.Fill(9, 1000, 3000)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			orig := fileBytes(t, tc.path)
			open := func(mem *memStore) *vhd.File {
				f, err := vhd.NewWritable(mem, int64(len(mem.b)))
				if err != nil {
					t.Fatal(err)
				}
				if tc.parent {
					f.AttachParent(parent)
				}
				return f
			}
			clean := &memStore{b: bytes.Clone(orig)}
			cf := open(clean)
			if _, err := cf.WriteAt(tc.w.Data, tc.w.Offset); err != nil {
				t.Fatal(err)
			}
			n := clean.writes
			oldData := make([]byte, len(tc.w.Data))
			of := open(&memStore{b: bytes.Clone(orig)})
			if _, err := of.ReadAt(oldData, tc.w.Offset); err != nil {
				t.Fatal(err)
			}
			for k := 1; k <= n; k++ {
				mem := &memStore{b: bytes.Clone(orig), failAt: k, failOnly: true}
				f := open(mem)
				if _, err := f.WriteAt(tc.w.Data, tc.w.Offset); !errors.Is(err, errInjected) {
					t.Fatalf("k=%d: WriteAt error %v, want the injected one", k, err)
				}
				if !bytes.Equal(mem.b, orig) {
					t.Fatalf("k=%d of %d: file not restored: %d bytes, was %d; %s", k, n, len(mem.b), len(orig), firstDiff(mem.b, orig))
				}
				got := make([]byte, len(tc.w.Data))
				if _, err := f.ReadAt(got, tc.w.Offset); err != nil || !bytes.Equal(got, oldData) {
					t.Fatalf("k=%d: the File reads other data after the failure (%v)", k, err)
				}
				mem.failAt = 0
				if _, err := f.WriteAt(tc.w.Data, tc.w.Offset); err != nil {
					t.Fatalf("k=%d: retry: %v", k, err)
				}
				if !bytes.Equal(mem.b, clean.b) {
					t.Fatalf("k=%d: the retried write gives other bytes; %s", k, firstDiff(mem.b, clean.b))
				}
			}
			t.Logf("%d writes, each failed once", n)
		})
	}
}
