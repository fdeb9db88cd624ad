package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/vhdkit/vhdkit/vhd"
)

// BenchmarkCoalesceCommand times the built command, default flags, on the
// chain of bigCoalesceChain (a 300 MiB child of whole and partial blocks
// over a parent holding data), as processes alternating with its peers:
// blktap's vhd-util coalesce when VHDKIT_VHDUTIL names one, and dd
// conv=fsync writing the child's allocated bytes. Before every run the
// parent is restored from a copy and everything is synced; the page cache
// stays warm. It reports each command's median seconds and the ratios.
//
//	go test -run '^$' -bench CoalesceCommand -benchtime 5x ./examples/vhd-util
func BenchmarkCoalesceCommand(b *testing.B) {
	dir := b.TempDir()
	bin := filepath.Join(dir, "vhd-util")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	data := bigCoalesceChain(b, dir)
	p, pristine := filepath.Join(dir, "p.vhd"), filepath.Join(dir, "p.orig")
	copyFile(b, p, pristine)
	raw := allocatedBytes(b, filepath.Join(dir, "c.vhd"), filepath.Join(dir, "child.raw"))
	if st, err := os.Stat(raw); err != nil || st.Size() != data {
		b.Fatalf("child.raw: %v, %d bytes, want %d", err, st.Size(), data)
	}
	ref := os.Getenv("VHDKIT_VHDUTIL")
	restore := func() {
		copyFile(b, pristine, p)
		os.Remove(filepath.Join(dir, "dd.out"))
		exec.Command("sync").Run()
	}
	timed := func(name string, args ...string) time.Duration {
		restore()
		cmd := exec.Command(name, args...)
		cmd.Dir = dir
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
		return time.Since(start)
	}
	var ours, theirs, dd []float64
	b.ResetTimer()
	for range b.N {
		ours = append(ours, timed(bin, "coalesce", "-n", "c.vhd").Seconds())
		if ref != "" {
			theirs = append(theirs, timed(ref, "coalesce", "-n", "c.vhd").Seconds())
		}
		dd = append(dd, timed("dd", "if="+raw, "of=dd.out", "bs=2M", "conv=fsync").Seconds())
	}
	b.StopTimer()
	med := func(x []float64) float64 {
		s := slices.Clone(x)
		slices.Sort(s)
		return s[len(s)/2]
	}
	b.ReportMetric(med(ours), "vhdkit-s")
	b.ReportMetric(med(dd), "dd-s")
	b.ReportMetric(med(ours)/med(dd), "vhdkit/dd")
	if ref != "" {
		b.ReportMetric(med(theirs), "vhd-util-s")
		b.ReportMetric(med(theirs)/med(ours), "vhd-util/vhdkit")
	}
	b.ReportMetric(float64(data)/(1<<20), "child-MiB")
}

// allocatedBytes writes to out the data region of every block the VHD at
// path allocates, as stored (zeros where no sector is held): the bytes dd
// copies as coalesce's peer.
func allocatedBytes(tb testing.TB, path, out string) string {
	tb.Helper()
	f, err := vhd.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	bat, err := f.BAT()
	if err != nil {
		tb.Fatal(err)
	}
	in, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer in.Close()
	w, err := os.Create(out)
	if err != nil {
		tb.Fatal(err)
	}
	buf := make([]byte, f.BlockSize())
	for _, e := range bat {
		if e == vhd.Unallocated {
			continue
		}
		if _, err := in.ReadAt(buf, int64(e)*vhd.SectorSize+vhd.SectorSize); err != nil {
			tb.Fatal(err)
		}
		if _, err := w.Write(buf); err != nil {
			tb.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return out
}
