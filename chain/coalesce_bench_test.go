package chain

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/vhdkit/vhdkit/vhd"
	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

// BenchmarkCoalesceWholePath coalesces a 5-deep chain (each link holding
// 64 MiB, shifted 32 MiB from its parent's, so that the links overlap) into
// its base in one pass (CoalesceOptions.Into), alternating with coalescing
// it link by link (leaf into its parent, that into its parent, and so on,
// as a collector does one step at a time), and reports both medians and
// their ratio. The files are restored and synced before every run.
//
//	go test -run '^$' -bench CoalesceWholePath -benchtime 3x ./chain
func BenchmarkCoalesceWholePath(b *testing.B) {
	dir := b.TempDir()
	const size = 512 * miB
	paths := vhdtest.Chain(b, dir, 5, size, nil, nil)
	for i, p := range paths {
		f, err := vhd.OpenFile(p, os.O_RDWR)
		if err != nil {
			b.Fatal(err)
		}
		chunk := vhdtest.Pattern(uint64(i), 8*miB)
		base := int64(4-i) * 32 * miB
		for off := base; off < base+64*miB; off += 8 * miB {
			if _, err := f.WriteAt(chunk, off); err != nil {
				b.Fatal(err)
			}
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
	}
	saved := make([]string, len(paths))
	for i, p := range paths {
		saved[i] = p + ".orig"
		copyPath(b, p, saved[i])
	}
	restore := func() {
		for i, p := range paths {
			copyPath(b, saved[i], p)
		}
		syncAll(b, paths)
	}
	ctx := context.Background()
	opts := &CoalesceOptions{Mode: Compat}
	var whole, links []float64
	b.ResetTimer()
	for range b.N {
		restore()
		start := time.Now()
		if _, err := Coalesce(ctx, paths[0], &CoalesceOptions{Mode: Compat, Into: paths[4]}); err != nil {
			b.Fatal(err)
		}
		whole = append(whole, time.Since(start).Seconds())
		restore()
		start = time.Now()
		for _, p := range paths[:4] {
			if _, err := Coalesce(ctx, p, opts); err != nil {
				b.Fatal(err)
			}
		}
		links = append(links, time.Since(start).Seconds())
	}
	b.StopTimer()
	med := func(x []float64) float64 {
		s := slices.Clone(x)
		slices.Sort(s)
		return s[len(s)/2]
	}
	b.ReportMetric(med(whole), "whole-path-s")
	b.ReportMetric(med(links), "link-by-link-s")
	b.ReportMetric(med(links)/med(whole), "speedup")
}

func copyPath(tb testing.TB, from, to string) {
	tb.Helper()
	in, err := os.Open(from)
	if err != nil {
		tb.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		tb.Fatal(err)
	}
	if err := out.Close(); err != nil {
		tb.Fatal(err)
	}
}

func syncAll(tb testing.TB, paths []string) {
	tb.Helper()
	for _, p := range paths {
		f, err := os.OpenFile(p, os.O_RDWR, 0)
		if err != nil {
			tb.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			tb.Fatal(err)
		}
		f.Close()
	}
	if d, err := os.Open(filepath.Dir(paths[0])); err == nil {
		d.Sync()
		d.Close()
	}
}
