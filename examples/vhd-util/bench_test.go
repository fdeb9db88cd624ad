package main

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

// BenchmarkQueryProcess forks the command as it ships (CGO_ENABLED=0) for
// "vhd-util query -n F -f", the storage manager's most frequent question,
// warm cache, and reports the cost of one call. When VHDKIT_VHDUTIL names a
// blktap vhd-util, each iteration runs the two in turn, and the benchmark
// reports both costs and their ratio (ours/vhd-util; the goal is at most
// 1.3).
//
// Both programs run from copies made the same way, as installing a program
// makes them. A program's cost at start depends on how its file came into
// the page cache: the Go linker writes its output through a shared mapping,
// which leaves it in 4 KiB pages, where a copy written with write(2) is
// cached in large folios on kernels that have them (Linux 6.x on ext4), and
// mapping a freshly linked 4.6 MB binary costs about 0.15x of blktap's call
// more than mapping the same bytes copied. Timing the linker's output
// against a copied reference, or the reverse, would measure that instead
// of the programs.
func BenchmarkQueryProcess(b *testing.B) {
	dir := b.TempDir()
	bin := copyProgram(b, buildCommand(b, b.TempDir()), filepath.Join(dir, "vhdkit-vhd-util"))
	name := vhdtest.Dynamic(b, filepath.Join(dir, "a.vhd"), 100*mib, &vhdtest.Options{Hidden: 1}, vhdtest.Fill(1, 0, 4096))
	ref := os.Getenv("VHDKIT_VHDUTIL")
	if ref != "" {
		ref = copyProgram(b, ref, filepath.Join(dir, "blktap-vhd-util"))
	}
	run := func(prog string) time.Duration {
		cmd := exec.Command(prog, "query", "-n", name, "-f")
		start := time.Now()
		out, err := cmd.Output()
		d := time.Since(start)
		if err != nil || string(out) != "hidden: 1\n" {
			b.Fatalf("%s query: %v, output %q", prog, err, out)
		}
		return d
	}
	run(bin) // warm the page cache
	if ref != "" {
		run(ref)
	}
	var ours, theirs time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ours += run(bin)
		if ref != "" {
			theirs += run(ref)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(ours.Nanoseconds())/float64(b.N), "ns/query")
	if ref != "" {
		b.ReportMetric(float64(theirs.Nanoseconds())/float64(b.N), "ns/vhd-util-query")
		b.ReportMetric(float64(ours)/float64(theirs), "ratio")
	}
}

// copyProgram copies the program src to dst with read(2) and write(2), as a
// package manager writes a program it installs, and returns dst.
func copyProgram(b *testing.B, src, dst string) string {
	b.Helper()
	in, err := os.Open(src)
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		b.Fatal(err)
	}
	// Only Write shows, so io.Copy does plain reads and writes rather than
	// copy_file_range(2).
	if _, err := io.Copy(struct{ io.Writer }{out}, in); err != nil {
		b.Fatal(err)
	}
	if err := out.Close(); err != nil {
		b.Fatal(err)
	}
	return dst
}
