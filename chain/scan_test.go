package chain_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vhdkit/vhdkit/chain"
	"github.com/vhdkit/vhdkit/vhd"
	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

// srOf fills dir with n files copied from one dynamic disk, named
// 00000.vhd on, and returns their paths and the expected entry of a good
// one (without Path).
func srOf(t testing.TB, dir string, n int) ([]string, chain.ScanEntry) {
	t.Helper()
	tmpl := vhdtest.Dynamic(t, filepath.Join(t.TempDir(), "tmpl.vhd"), 10*mib, &vhdtest.Options{Hidden: 1})
	data, err := os.ReadFile(tmpl)
	if err != nil {
		t.Fatal(err)
	}
	paths := make([]string, n)
	for i := range paths {
		paths[i] = filepath.Join(dir, fmt.Sprintf("%05d.vhd", i))
		if err := os.WriteFile(paths[i], data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return paths, chain.ScanEntry{VirtualSize: 10 * mib, FileSize: int64(len(data)), Hidden: 1}
}

func TestScanEveryFile(t *testing.T) {
	for _, tc := range []struct {
		n    int
		fast bool
		long bool
	}{
		{n: 300}, {n: 300, fast: true}, {n: 10000, long: true}, {n: 10000, fast: true, long: true},
	} {
		t.Run(fmt.Sprintf("%d files fast=%v", tc.n, tc.fast), func(t *testing.T) {
			if tc.long && testing.Short() {
				t.Skip("10,000 files: skipped with -short")
			}
			dir := t.TempDir()
			paths, good := srOf(t, dir, tc.n)
			// A few corrupt files, a FIFO and a dangling symlink among them.
			bad := map[int]error{
				7:            vhd.ErrCookie,
				tc.n / 2:     vhd.ErrTruncated,
				tc.n - 3:     vhd.ErrNotRegular,
				tc.n - 1:     os.ErrNotExist,
				tc.n/3 + 1:   vhd.ErrCookie,
				2*tc.n/3 + 5: vhd.ErrCookie,
			}
			if err := os.WriteFile(paths[7], vhdtest.Pattern(9, 8192), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(paths[tc.n/2], 100); err != nil {
				t.Fatal(err)
			}
			os.Remove(paths[tc.n-3])
			if err := syscall.Mkfifo(paths[tc.n-3], 0o644); err != nil {
				t.Skipf("mkfifo: %v", err)
			}
			os.Remove(paths[tc.n-1])
			if err := os.Symlink("nowhere.vhd", paths[tc.n-1]); err != nil {
				t.Fatal(err)
			}
			// Both footer copies broken.
			vhdtest.Patch(t, paths[tc.n/3+1], 0, 'X')
			vhdtest.Patch(t, paths[tc.n/3+1], good.FileSize-512+1, 'X')
			vhdtest.PatchFooter(t, paths[tc.n/3+1], vhdtest.Both, false, func(f *vhd.Footer) { f.CurrentSize++ })
			if err := os.WriteFile(paths[2*tc.n/3+5], make([]byte, 4096), 0o644); err != nil {
				t.Fatal(err)
			}
			entries, err := chain.Scan(context.Background(), paths, &chain.ScanOptions{Fast: tc.fast})
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != tc.n {
				t.Fatalf("%d entries for %d files", len(entries), tc.n)
			}
			for i, e := range entries {
				if e.Path != paths[i] {
					t.Fatalf("entry %d is %s, want %s", i, e.Path, paths[i])
				}
				if want, ok := bad[i]; ok {
					var se *chain.ScanError
					if !errors.As(e.Err, &se) || se.Step != chain.ScanOpening || !errors.Is(e.Err, want) {
						t.Errorf("%s: err %v, want a ScanError at %q matching %v", e.Path, e.Err, chain.ScanOpening, want)
					}
					continue
				}
				want := good
				want.Path = paths[i]
				if diff := cmp.Diff(want, e); diff != "" {
					t.Errorf("%s: (-want +got)\n%s", e.Path, diff)
				}
			}
		})
	}
}

// TestScanSlowOpener scans 1,000 files with an opener that takes 10 ms a
// file: the scan keeps at least 32 opens in flight, so it ends within
// 1000/32·10 ms = 313 ms plus the work, well under a second.
func TestScanSlowOpener(t *testing.T) {
	paths, _ := srOf(t, t.TempDir(), 1000)
	var inFlight, peak, calls atomic.Int64
	open := func(name string) (*vhd.File, error) {
		n := inFlight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		calls.Add(1)
		time.Sleep(10 * time.Millisecond)
		inFlight.Add(-1)
		return vhd.Open(name)
	}
	start := time.Now()
	entries, err := chain.Scan(context.Background(), paths, &chain.ScanOptions{Open: open})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("1000 files with a 10 ms opener: %v, peak %d opens in flight", time.Since(start), peak.Load())
	for _, e := range entries {
		if e.Err != nil {
			t.Fatalf("%s: %v", e.Path, e.Err)
		}
	}
	if calls.Load() != 1000 {
		t.Errorf("%d opens for 1000 files, want one each", calls.Load())
	}
	if peak.Load() < 32 {
		t.Errorf("at most %d opens in flight, want at least 32", peak.Load())
	}
}

// TestScanStuckFile: a file whose open never returns (a dead NFS server)
// is reported as timed out, the others are scanned, and Scan returns.
func TestScanStuckFile(t *testing.T) {
	paths, good := srOf(t, t.TempDir(), 20)
	release := make(chan struct{})
	defer close(release)
	open := func(name string) (*vhd.File, error) {
		if name == paths[4] || name == paths[11] {
			<-release
		}
		return vhd.Open(name)
	}
	entries, err := chain.Scan(context.Background(), paths, &chain.ScanOptions{Open: open, Timeout: 100 * time.Millisecond, Concurrency: 2})
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range entries {
		if i == 4 || i == 11 {
			var se *chain.ScanError
			if !errors.Is(e.Err, chain.ErrScanTimeout) || !errors.As(e.Err, &se) || se.Step != chain.ScanOpening {
				t.Errorf("%s: err %v, want a timeout while opening", e.Path, e.Err)
			}
			continue
		}
		want := good
		want.Path = paths[i]
		if diff := cmp.Diff(want, e); diff != "" {
			t.Errorf("%s: (-want +got)\n%s", e.Path, diff)
		}
	}
}

func TestScanCanceled(t *testing.T) {
	paths, _ := srOf(t, t.TempDir(), 50)
	ctx, cancel := context.WithCancel(context.Background())
	open := func(name string) (*vhd.File, error) {
		if name == paths[10] {
			cancel()
		}
		return vhd.Open(name)
	}
	entries, err := chain.Scan(ctx, paths, &chain.ScanOptions{Open: open, Concurrency: 1})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	if len(entries) != len(paths) {
		t.Fatalf("%d entries for %d files", len(entries), len(paths))
	}
	if e := entries[len(entries)-1]; !errors.Is(e.Err, context.Canceled) {
		t.Errorf("last entry: err %v, want context.Canceled", e.Err)
	}
}

func TestScanParents(t *testing.T) {
	dir := t.TempDir()
	p := vhdtest.Dynamic(t, filepath.Join(dir, "p.vhd"), 4*mib, nil)
	c := vhdtest.Child(t, filepath.Join(dir, "c.vhd"), p, nil)
	for _, tc := range []struct {
		name string
		opts chain.ScanOptions
		want string
	}{
		{name: "resolved", want: p},
		{name: "fast: header name", opts: chain.ScanOptions{Fast: true}, want: "p.vhd"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			entries, err := chain.Scan(context.Background(), []string{c}, &tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if e := entries[0]; e.Err != nil || e.Parent != tc.want || e.RawParent {
				t.Errorf("entry %+v, want parent %s", e, tc.want)
			}
		})
	}
}

// BenchmarkScan scans a directory of 1,000 VHDs in-process.
func BenchmarkScan(b *testing.B) {
	paths, _ := srOf(b, b.TempDir(), 1000)
	for _, fast := range []bool{false, true} {
		b.Run(fmt.Sprintf("fast=%v", fast), func(b *testing.B) {
			for b.Loop() {
				if _, err := chain.Scan(context.Background(), paths, &chain.ScanOptions{Fast: fast}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
