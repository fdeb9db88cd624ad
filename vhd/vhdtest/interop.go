package vhdtest

import (
	"os"
	"os/exec"
	"testing"
)

// InteropRequired reports whether VHDKIT_INTEROP=required is set: interop
// tests must then fail, not skip, when their tool is absent.
func InteropRequired() bool { return os.Getenv("VHDKIT_INTEROP") == "required" }

// Tool returns the path of the program name for an interop test. When it is
// not installed the test is skipped, or fails under VHDKIT_INTEROP=required.
func Tool(tb testing.TB, name string) string {
	tb.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		missing(tb, name+" is not installed")
	}
	return p
}

// PyVHDI returns /usr/bin/python3 after checking that it can import pyvhdi
// (Debian's python3-libvhdi). When it cannot, the test is skipped, or fails
// under VHDKIT_INTEROP=required.
func PyVHDI(tb testing.TB) string {
	tb.Helper()
	const py = "/usr/bin/python3"
	if out, err := exec.Command(py, "-c", "import pyvhdi").CombinedOutput(); err != nil {
		missing(tb, "python3-libvhdi is not usable: "+string(out))
	}
	return py
}

func missing(tb testing.TB, why string) {
	tb.Helper()
	if InteropRequired() {
		tb.Fatalf("interop oracle missing (VHDKIT_INTEROP=required): %s", why)
	}
	tb.Skip(why)
}
