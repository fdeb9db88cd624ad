package vhd_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/vhdkit/vhdkit/vhd"
	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

// BenchmarkCheck2040GiBFull checks a 2040 GiB dynamic disk with all of its
// 1044480 blocks allocated (a sparse file): the BAT overlap rule sorts the
// entries once, so the check is O(n log n) in blocks. vhd-util's pairwise
// comparison takes 634 s on such a file.
func BenchmarkCheck2040GiBFull(b *testing.B) {
	p := vhdtest.SparseDynamic(b, filepath.Join(b.TempDir(), "full.vhd"), 2040<<30, nil)
	f, err := os.Open(p)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		rep, err := vhd.Check(ctx, f, st.Size(), &vhd.CheckOptions{Name: p})
		if err != nil {
			b.Fatalf("Check: %v", err)
		}
		if len(rep.Problems) != 0 {
			b.Fatalf("problems: %v", rep.Problems)
		}
	}
}

// BenchmarkOpenHidden is what a storage manager's "query -f" costs: open a
// small dynamic disk, read its hidden flag, close it. The "syscalls"
// sub-benchmark is the floor any implementation pays: open, stat, read the
// footer and the header, close, with nothing parsed.
func BenchmarkOpenHidden(b *testing.B) {
	p := vhdtest.Dynamic(b, filepath.Join(b.TempDir(), "d.vhd"), 100*mib, &vhdtest.Options{Hidden: 1})
	b.Run("vhd", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			f, err := vhd.Open(p)
			if err != nil {
				b.Fatal(err)
			}
			h, err := f.Hidden()
			if err != nil || h != 1 {
				b.Fatalf("Hidden = %d, %v", h, err)
			}
			f.Close()
		}
	})
	// "parse" is the library's own cost: the same file from memory.
	b.Run("parse", func(b *testing.B) {
		data, err := os.ReadFile(p)
		if err != nil {
			b.Fatal(err)
		}
		r := bytes.NewReader(data)
		b.ReportAllocs()
		for b.Loop() {
			f, err := vhd.New(r, int64(len(data)))
			if err != nil {
				b.Fatal(err)
			}
			if h, err := f.Hidden(); err != nil || h != 1 {
				b.Fatalf("Hidden = %d, %v", h, err)
			}
		}
	})
	b.Run("syscalls", func(b *testing.B) {
		buf := make([]byte, vhd.HeaderSize)
		b.ReportAllocs()
		for b.Loop() {
			f, err := os.Open(p)
			if err != nil {
				b.Fatal(err)
			}
			st, err := f.Stat()
			if err != nil {
				b.Fatal(err)
			}
			if _, err := f.ReadAt(buf[:vhd.FooterSize], st.Size()-vhd.FooterSize); err != nil {
				b.Fatal(err)
			}
			if _, err := f.ReadAt(buf, vhd.SectorSize); err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
	})
}
