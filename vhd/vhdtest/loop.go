package vhdtest

import (
	"os/exec"
	"strings"
	"testing"
)

// LoopDevice attaches the file img to a free loop device, a block device
// standing in for the logical volume an LVM-based SR keeps a VHD in, and
// returns the device's path and a function that detaches it, after which
// img holds whatever was written to the device; the test's cleanup
// detaches it too. The test is skipped where no loop device can be
// attached (no losetup(8), not root, not Linux): that is not an interop
// oracle, and VHDKIT_INTEROP does not make it one.
func LoopDevice(tb testing.TB, img string) (dev string, detach func()) {
	tb.Helper()
	losetup, err := exec.LookPath("losetup")
	if err != nil {
		tb.Skipf("no losetup: %v", err)
	}
	out, err := exec.Command(losetup, "--find", "--show", img).CombinedOutput()
	if err != nil {
		tb.Skipf("cannot attach a loop device: %v: %s", err, out)
	}
	dev = strings.TrimSpace(string(out))
	attached := true
	detach = func() {
		if attached {
			attached = false
			if out, err := exec.Command(losetup, "--detach", dev).CombinedOutput(); err != nil {
				tb.Errorf("losetup --detach %s: %v: %s", dev, err, out)
			}
		}
	}
	tb.Cleanup(detach)
	return dev, detach
}
