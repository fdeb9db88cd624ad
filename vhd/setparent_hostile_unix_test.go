//go:build unix

package vhd_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/vhdkit/vhdkit/vhd"
	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

// TestSetParentHugeLocatorSpace: a child whose locator reserves 4 GiB
// (data_space 0xfffffe00) in a sparse file large enough to hold it passes
// Check; blktap's modify -p writes the new path over the old and leaves the
// file alone, and so must SetParent: a few KiB written, the size kept, in
// well under the guard's deadline (it zeroed or wrote 4 GiB).
func TestSetParentHugeLocatorSpace(t *testing.T) {
	dir := t.TempDir()
	base := vhdtest.Dynamic(t, filepath.Join(dir, "base.vhd"), 8*mib, nil)
	other := copyFile(t, filepath.Join(dir, "other.vhd"), base)
	child := vhdtest.Child(t, filepath.Join(dir, "c.vhd"), base, nil)
	// Give locator 2 (the last) 4 GiB and move the footer past it.
	f, err := vhd.Open(child)
	if err != nil {
		t.Fatal(err)
	}
	loc := f.Header.Locators[2]
	footer := fileBytes(t, child)[:512]
	f.Close()
	end := int64(loc.DataOffset) + 0xfffffe00
	vhdtest.PatchHeader(t, child, true, func(h *vhd.Header) { h.Locators[2].DataSpace = 0xfffffe00 })
	if err := os.Truncate(child, end); err != nil {
		t.Fatal(err)
	}
	vhdtest.Patch(t, child, end, footer...)
	if rep, err := vhd.CheckFile(context.Background(), child, &vhd.CheckOptions{Parents: spOpener{}}); err != nil {
		t.Fatalf("the child fails check: %v %v", err, rep.NotRun)
	}
	used := func() int64 {
		var st syscall.Stat_t
		if err := syscall.Stat(child, &st); err != nil {
			t.Fatal(err)
		}
		return st.Blocks * 512
	}
	before, sizeBefore := used(), int64(len(footer))+end
	done := make(chan error, 1)
	go func() {
		f, err := vhd.OpenFile(child, os.O_RDWR)
		if err != nil {
			done <- err
			return
		}
		err = f.SetParent(context.Background(), other, nil)
		f.Close()
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("SetParent still running after 20 s")
	}
	if d := used() - before; d > 1<<20 {
		t.Errorf("SetParent made the file occupy %d more bytes", d)
	}
	st, _ := os.Stat(child)
	if st.Size() != sizeBefore {
		t.Errorf("size %d, was %d", st.Size(), sizeBefore)
	}
	g, err := vhd.Open(child)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	for _, l := range g.ParentLocators() {
		if l.Err != nil || l.Path != "./other.vhd" {
			t.Errorf("locator %d: %q, %v", l.Slot, l.Path, l.Err)
		}
	}
}
