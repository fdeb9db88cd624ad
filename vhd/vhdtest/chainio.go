package vhdtest

import (
	"os"
	"testing"

	"github.com/vhdkit/vhdkit/vhd"
)

// OpenChain opens the VHD paths[0] with each file of paths[1:] attached as
// the parent of the one before it (leaf first, as [Chain] returns them), so
// that reads of the leaf see the whole chain. The leaf is opened read-write
// when writable is set; every file is closed when the test ends.
func OpenChain(tb testing.TB, writable bool, paths ...string) *vhd.File {
	tb.Helper()
	var child *vhd.File
	var leaf *vhd.File
	for i, p := range paths {
		flag := os.O_RDONLY
		if i == 0 && writable {
			flag = os.O_RDWR
		}
		f, err := vhd.OpenFile(p, flag)
		if err != nil {
			tb.Fatalf("vhdtest: open %s: %v", p, err)
		}
		tb.Cleanup(func() { f.Close() })
		if child != nil {
			child.AttachParent(f)
		} else {
			leaf = f
		}
		child = f
	}
	return leaf
}

// WriteChain applies writes to the differencing disk paths[0] with its
// ancestors paths[1:] attached, so that partial-sector writes merge with the
// data of the whole chain, not only with the direct parent's ([Child] can
// only do the latter).
func WriteChain(tb testing.TB, paths []string, writes ...Write) {
	tb.Helper()
	f := OpenChain(tb, true, paths...)
	for _, w := range writes {
		if _, err := f.WriteAt(w.Data, w.Offset); err != nil {
			tb.Fatalf("vhdtest: write %d bytes at %d to %s: %v", len(w.Data), w.Offset, paths[0], err)
		}
	}
	if err := f.Sync(); err != nil {
		tb.Fatalf("vhdtest: sync %s: %v", paths[0], err)
	}
}
