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

// pyvhdiReadScript opens the files named after the output path (leaf
// first), links each to the next with set_parent, and writes the leaf's
// virtual disk to the output path.
const pyvhdiReadScript = `
import sys, pyvhdi
out, paths = sys.argv[1], sys.argv[2:]
files = []
for p in paths:
    f = pyvhdi.file()
    f.open(p)
    files.append(f)
for child, parent in zip(files, files[1:]):
    child.set_parent(parent)
leaf = files[0]
size = leaf.get_media_size()
with open(out, "wb") as w:
    off = 0
    while off < size:
        n = min(4 << 20, size - off)
        w.write(leaf.read_buffer_at_offset(n, off))
        off += n
`

// PyVHDIRead writes to the file out the virtual disk of the chain paths
// (leaf first) as python3-libvhdi reads it, each file given the next as its
// parent with set_parent. It skips or fails like [PyVHDI] when the module
// is missing. libvhdi 20210425 reads a sector whose bitmap bit is clear as
// zeros, not as the parent's data, when an earlier bit of the same bitmap
// byte is set; tests keep written runs ending on 4 KiB boundaries, or skip
// those sectors.
func PyVHDIRead(tb testing.TB, out string, paths ...string) {
	tb.Helper()
	py := PyVHDI(tb)
	if b, err := exec.Command(py, append([]string{"-c", pyvhdiReadScript, out}, paths...)...).CombinedOutput(); err != nil {
		tb.Fatalf("python3-libvhdi read of %v: %v\n%s", paths, err, b)
	}
}
