package vhd_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/vhdkit/vhdkit/vhd"
	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

// TestSetParentKeepsSize relinks a child back and forth, with blocks and
// without: the file keeps its size, as blktap's modify -p keeps it (the
// storage manager sees the physical size; it grew by 2 KiB per relink of a
// child without blocks). With VHDKIT_VHDUTIL naming blktap's vhd-util, its
// modify -p on a copy keeps the same size.
func TestSetParentKeepsSize(t *testing.T) {
	dir := t.TempDir()
	a := vhdtest.Dynamic(t, filepath.Join(dir, "a.vhd"), 8*mib, nil, vhdtest.Fill(1, 0, mib))
	b := copyFile(t, filepath.Join(dir, "b.vhd"), a)
	for _, tc := range []struct {
		name   string
		writes []vhdtest.Write
	}{
		{"no blocks", nil},
		{"blocks", []vhdtest.Write{vhdtest.Fill(2, 100, 5000), vhdtest.Fill(3, 6*mib, 4096)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			child := vhdtest.Child(t, filepath.Join(dir, tc.name+".vhd"), a, nil, tc.writes...)
			size := int64(len(fileBytes(t, child)))
			want := chainData(t, child)
			f, err := vhd.OpenFile(child, os.O_RDWR)
			if err != nil {
				t.Fatal(err)
			}
			for i, p := range []string{b, a, b, a, b} {
				if err := f.SetParent(context.Background(), p, nil); err != nil {
					t.Fatalf("relink %d: %v", i, err)
				}
				if got := f.FileSize(); got != size {
					t.Errorf("relink %d to %s: file of %d bytes, was %d", i, filepath.Base(p), got, size)
				}
			}
			f.Close()
			assertLayout(t, child)
			assertCheck(t, child)
			if got := chainData(t, child); !bytes.Equal(got, want) {
				t.Errorf("data differs: %s", firstDiff(got, want))
			}
			if vu := os.Getenv("VHDKIT_VHDUTIL"); vu != "" {
				c := copyFile(t, filepath.Join(dir, "ref-"+tc.name+".vhd"), child)
				before := len(fileBytes(t, c))
				if out, err := exec.Command(vu, "modify", "-n", c, "-p", a).CombinedOutput(); err != nil {
					t.Fatalf("vhd-util modify -p: %v\n%s", err, out)
				}
				if after := len(fileBytes(t, c)); after != before {
					t.Errorf("vhd-util modify -p changed the size from %d to %d", before, after)
				}
			}
		})
	}
}

// TestSetParentRefusesBadFiles: SetParent runs the full default Check
// first, on the child and on the new parent, and refuses either with
// problems before writing anything; the *CheckError with its problems is
// in the error. Among them the amplification cases: every BAT entry at the
// same place right after the metadata (SetParent moved every block, 2 MiB
// and two fsyncs each), and a locator whose data_space claims 4 GiB in a
// small file.
func TestSetParentRefusesBadFiles(t *testing.T) {
	dir := t.TempDir()
	base := vhdtest.Dynamic(t, filepath.Join(dir, "base.vhd"), 64*mib, nil, vhdtest.Fill(1, 0, mib))
	good := vhdtest.Child(t, filepath.Join(dir, "good.vhd"), base, nil, vhdtest.Fill(2, 0, 4096))
	badParent := copyFile(t, filepath.Join(dir, "badparent.vhd"), base)
	vhdtest.SetField(t, badParent, vhdtest.FieldNamed("BAT", "entry"), 0, 0x0FFFFFFF)

	// Every block at the first block's place.
	pile := vhdtest.Child(t, filepath.Join(dir, "pile.vhd"), base, nil)
	pf, err := vhd.OpenFile(pile, os.O_RDWR)
	if err != nil {
		t.Fatal(err)
	}
	pf.AttachParent(nil)
	for i := int64(0); i < 32; i++ {
		if _, err := pf.WriteAt(vhdtest.Pattern(uint64(i), 512), i*2*mib); err != nil {
			t.Fatal(err)
		}
	}
	bat, _ := pf.BAT()
	first, tableOff := bat[0], int64(pf.Header.TableOffset)
	pf.Close()
	for i := int64(1); i < 32; i++ {
		vhdtest.Patch(t, pile, tableOff+4*i, byte(first>>24), byte(first>>16), byte(first>>8), byte(first))
	}
	hugeSpace := copyFile(t, filepath.Join(dir, "space.vhd"), good)
	vhdtest.SetField(t, hugeSpace, vhdtest.FieldNamed("locator", "data space"), 0, 0xfffffe00)

	tests := []struct {
		name, child, parent string
		want                error
	}{
		{"blocks piled on one place", pile, base, vhd.ErrBATOverlap},
		{"locator claiming 4 GiB", hugeSpace, base, vhd.ErrLocatorInvalid},
		{"parent failing check", good, badParent, vhd.ErrBATInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			orig := fileBytes(t, tc.child)
			mem := newMemStore(orig)
			f, err := vhd.NewWritable(mem, int64(len(orig)))
			if err != nil {
				t.Fatal(err)
			}
			err = f.SetParent(context.Background(), tc.parent, &vhd.SetParentOptions{ChildPath: tc.child})
			var ce *vhd.CheckError
			var pe *vhd.ParentError
			if !errors.Is(err, tc.want) || !errors.As(err, &ce) || len(ce.Problems) == 0 || !errors.As(err, &pe) {
				t.Fatalf("SetParent: %v, want a ParentError with the CheckError (%v)", err, tc.want)
			}
			if mem.writes != 0 || !bytes.Equal(mem.b, orig) {
				t.Errorf("%d writes before refusing", mem.writes)
			}
		})
	}
	// Snapshot onto the parent failing check is refused too, and leaves no child.
	snap := filepath.Join(dir, "snap.vhd")
	if _, err := vhd.Snapshot(snap, badParent, nil); !errors.Is(err, vhd.ErrBATInvalid) {
		t.Errorf("Snapshot onto a bad parent: %v", err)
	}
	if _, err := os.Stat(snap); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Snapshot left %s: %v", snap, err)
	}
}
