package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

// BenchmarkScanProcess times `vhd-util scan -f -m DIR/*.vhd` over 1,000
// VHDs as a whole process, the built drop-in alternating with the
// reference when VHDKIT_VHDUTIL names one (warm cache).
func BenchmarkScanProcess(b *testing.B) {
	dir := b.TempDir()
	bin := buildCommand(b, dir)
	sr := filepath.Join(dir, "sr")
	if err := os.Mkdir(sr, 0o755); err != nil {
		b.Fatal(err)
	}
	tmpl := vhdtest.Dynamic(b, filepath.Join(dir, "t.vhd"), 100*mib, &vhdtest.Options{Hidden: 1})
	data, err := os.ReadFile(tmpl)
	if err != nil {
		b.Fatal(err)
	}
	const n = 1000
	for i := range n {
		if err := os.WriteFile(filepath.Join(sr, fmt.Sprintf("%08x-0000-0000-0000-000000000000.vhd", i)), data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	ref := os.Getenv("VHDKIT_VHDUTIL")
	run := func(prog string) time.Duration {
		cmd := exec.Command(prog, "scan", "-f", "-m", filepath.Join(sr, "*.vhd"))
		start := time.Now()
		out, err := cmd.Output()
		d := time.Since(start)
		if err != nil || strings.Count(string(out), "\n") != n {
			b.Fatalf("%s scan: %v, %d lines", prog, err, strings.Count(string(out), "\n"))
		}
		return d
	}
	run(bin)
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
	b.ReportMetric(float64(ours.Nanoseconds())/float64(b.N), "ns/scan")
	if ref != "" {
		b.ReportMetric(float64(theirs.Nanoseconds())/float64(b.N), "ns/vhd-util-scan")
		b.ReportMetric(float64(theirs)/float64(ours), "speedup")
	}
}
