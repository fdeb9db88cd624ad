package chain_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/vhdkit/vhdkit/chain"
	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

// FuzzScanFile feeds arbitrary bytes to the work Scan does on one file, in
// both modes and with markers: it must not panic or hang, and must give
// one entry that is either an error (a *ScanError) or consistent with the
// file.
func FuzzScanFile(f *testing.F) {
	dir := f.TempDir()
	p := vhdtest.Dynamic(f, filepath.Join(dir, "p.vhd"), 4*mib, nil)
	c := vhdtest.Child(f, filepath.Join(dir, "c.vhd"), p, nil)
	for _, name := range []string{p, c} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(vhdtest.Pattern(1, 1024))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		name := filepath.Join(t.TempDir(), "f.vhd")
		if err := os.WriteFile(name, data, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, fast := range []bool{false, true} {
			entries, err := chain.Scan(context.Background(), []string{name}, &chain.ScanOptions{Fast: fast, Markers: true})
			if err != nil || len(entries) != 1 {
				t.Fatalf("fast=%v: %d entries, err %v", fast, len(entries), err)
			}
			e := entries[0]
			if e.Err != nil {
				var se *chain.ScanError
				if !errors.As(e.Err, &se) || se.Path != name {
					t.Fatalf("fast=%v: error %v is not a ScanError for %s", fast, e.Err, name)
				}
				continue
			}
			if e.FileSize != int64(len(data)) || e.VirtualSize < 0 {
				t.Fatalf("fast=%v: entry %+v for %d bytes", fast, e, len(data))
			}
		}
	})
}
