package vhdtest

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/vhdkit/vhdkit/vhd"
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

// Volume writes at img a file of size bytes holding the VHD at vhdPath at
// its start and its footer also at its end, as an LVM-based SR keeps a VHD
// in a logical volume larger than it (vhd-util modify -s); it returns img.
func Volume(tb testing.TB, img, vhdPath string, size int64) string {
	tb.Helper()
	b, err := os.ReadFile(vhdPath)
	if err != nil {
		tb.Fatal(err)
	}
	if int64(len(b)) > size-vhd.FooterSize {
		tb.Fatalf("vhdtest: %s (%d bytes) does not fit in a %d-byte volume", vhdPath, len(b), size)
	}
	v := make([]byte, size)
	copy(v, b)
	copy(v[size-vhd.FooterSize:], b[len(b)-vhd.FooterSize:])
	if err := os.WriteFile(img, v, 0o644); err != nil {
		tb.Fatal(err)
	}
	return img
}
