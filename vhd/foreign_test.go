package vhd_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vhdkit/vhdkit/vhd"
)

// foreignDir returns ../../shared/foreign-vhd, the VHDs made by other tools
// (qemu, VirtualBox, XenServer, Windows), or skips the test when it is absent.
func foreignDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join("..", "..", "shared", "foreign-vhd")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("foreign VHDs not available: %v", err)
	}
	return dir
}

// TestForeignVHDs: the files open with the sizes their README gives and
// pass Check by default, the Windows child included (its parent win8.vhd is
// beside it).
func TestForeignVHDs(t *testing.T) {
	dir := foreignDir(t)
	tests := []struct {
		file    string
		typ     vhd.DiskType
		size    int64
		entries uint32 // BAT entries, 0 to skip
	}{
		{"qemu.vhd", vhd.DiskDynamic, 41953280, 0},
		{"vbox.vhd", vhd.DiskDynamic, 41943040, 0},
		{"xapi.vhd", vhd.DiskDynamic, 41943040, 20},
		{"win8.vhd", vhd.DiskDynamic, 41943040, 0},
		{"win8.1-1GB.vhd", vhd.DiskDynamic, 1 << 30, 512},
		{"win8-child.vhd", vhd.DiskDifferencing, 41943040, 0},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			p := filepath.Join(dir, tc.file)
			f, err := vhd.Open(p)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer f.Close()
			if f.DiskType() != tc.typ || f.VirtualSize() != tc.size {
				t.Errorf("type %v size %d, want %v %d", f.DiskType(), f.VirtualSize(), tc.typ, tc.size)
			}
			if tc.entries != 0 && f.Header.MaxTableEntries != tc.entries {
				t.Errorf("BAT entries %d, want %d", f.Header.MaxTableEntries, tc.entries)
			}
			for _, compat := range []bool{false, true} {
				if compat && tc.typ == vhd.DiskDifferencing {
					continue // TestForeignWindowsChildCompat
				}
				rep, err := vhd.CheckFile(context.Background(), p, &vhd.CheckOptions{Parents: dirOpener{}, Compat: compat})
				if err != nil {
					t.Errorf("Check (compat %v): %v", compat, err)
				}
				if rep != nil && len(rep.NotRun) != 0 {
					t.Errorf("Check (compat %v): not run: %q", compat, rep.NotRun)
				}
			}
		})
	}
}

// TestForeignWindowsChildCompat: in Compat mode the Windows child gets
// vhd-util's verdict, the locator-name rule failing first.
func TestForeignWindowsChildCompat(t *testing.T) {
	dir := foreignDir(t)
	p := filepath.Join(dir, "win8-child.vhd")
	rep, err := vhd.CheckFile(context.Background(), p, &vhd.CheckOptions{Parents: dirOpener{}, Compat: true})
	if err == nil {
		t.Fatal("Check in compat mode passed the Windows child")
	}
	var got []string
	for _, pr := range rep.Problems {
		got = append(got, pr.Msg)
	}
	want := []string{
		"parent locator 0 name (win8.vhd) does not match header name (/Users/sergi/Downloads/win8.vhd)",
		"error resolving /Users/sergi/Downloads/win8.vhd: -2",
		"parent locator 1 name (win8.vhd) does not match header name (/Users/sergi/Downloads/win8.vhd)",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}
