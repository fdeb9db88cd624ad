package main

import (
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

// TestMarkerXattr: a VHD without a batmap keeps its marker in an extended
// attribute.
func TestMarkerXattr(t *testing.T) {
	dir := tempDir(t)
	p := vhdtest.Fixed(t, filepath.Join(dir, "f.vhd"), 2*mib, nil)
	if err := unix.Setxattr(p, "user.probe", []byte{1}, 0); err != nil {
		t.Skipf("no user xattrs on %s: %v", dir, err)
	}
	if diff := cmp.Diff(result{Stdout: "marker: 0\n"}, invoke("query", "-n", "f.vhd", "-m")); diff != "" {
		t.Errorf("query -m before: (-want +got)\n%s", diff)
	}
	if diff := cmp.Diff(result{}, invoke("set", "-n", "f.vhd", "-f", "marker", "-v", "1")); diff != "" {
		t.Errorf("set -f marker: (-want +got)\n%s", diff)
	}
	if diff := cmp.Diff(result{Stdout: "marker: 1\n"}, invoke("query", "-n", "f.vhd", "-m")); diff != "" {
		t.Errorf("query -m after: (-want +got)\n%s", diff)
	}
}
