package main

import (
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
func BenchmarkQueryProcess(b *testing.B) {
	dir := b.TempDir()
	bin := buildCommand(b, dir)
	name := vhdtest.Dynamic(b, filepath.Join(dir, "a.vhd"), 100*mib, &vhdtest.Options{Hidden: 1}, vhdtest.Fill(1, 0, 4096))
	ref := os.Getenv("VHDKIT_VHDUTIL")
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
