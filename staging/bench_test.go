//go:build linux

package staging

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vhdkit/vhdkit/vhd"
	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

// benchUUIDs name the benchmark chain's files, leaf first.
var benchUUIDs = []vhd.UUID{
	vhdtest.UUID("b0000000-0000-4000-8000-000000000000"),
	vhdtest.UUID("b0000000-0000-4000-8000-000000000001"),
	vhdtest.UUID("b0000000-0000-4000-8000-000000000002"),
}

// benchChain returns an SR directory holding the benchmark chain, built
// once and kept beside the shared 256 MiB benchmark data
// (testdata/bench-data.sh): a 1 GiB dynamic base holding its first 160
// MiB, a snapshot holding the next 64 MiB at 256 MiB, and a leaf holding the
// last 32 MiB (zeros) over the base's data at 64 MiB; 256 MiB of file data
// in all, interior links hidden.
func benchChain(b *testing.B) string {
	b.Helper()
	dataDir := os.Getenv("VHDKIT_BENCH_DATA")
	if out, err := exec.Command("sh", "../testdata/bench-data.sh").Output(); err == nil {
		dataDir = strings.TrimSpace(string(out))
	}
	if dataDir == "" {
		b.Skip("no benchmark data: ../testdata/bench-data.sh failed and VHDKIT_BENCH_DATA unset")
	}
	data, err := os.ReadFile(filepath.Join(dataDir, "mixed.raw"))
	if err != nil || len(data) < 256<<20 {
		b.Skipf("benchmark data: %v (%d bytes)", err, len(data))
	}
	sr := filepath.Join(dataDir, "staging-chain-v1")
	if _, err := os.Stat(filepath.Join(sr, "done")); err == nil {
		return sr
	}
	os.RemoveAll(sr)
	if err := os.MkdirAll(sr, 0o755); err != nil {
		b.Fatal(err)
	}
	type part struct{ from, to, at int64 }
	parts := []part{{224 << 20, 256 << 20, 64 << 20}, {160 << 20, 224 << 20, 256 << 20}, {0, 160 << 20, 0}}
	for i := 2; i >= 0; i-- {
		path := filepath.Join(sr, benchUUIDs[i].String()+".vhd")
		opts := &vhd.CreateOptions{Size: 1 << 30, UUID: benchUUIDs[i]}
		if i < 2 {
			info, err := vhd.ParentInfoFor(path, filepath.Join(sr, benchUUIDs[i+1].String()+".vhd"))
			if err != nil {
				b.Fatal(err)
			}
			opts = &vhd.CreateOptions{Type: vhd.DiskDifferencing, Parent: info, UUID: benchUUIDs[i]}
		}
		f, err := vhd.Create(path, opts)
		if err != nil {
			b.Fatal(err)
		}
		p := parts[i]
		if _, err := f.WriteAt(data[p.from:p.to], p.at); err != nil {
			b.Fatal(err)
		}
		if i > 0 {
			if err := f.SetHidden(1); err != nil {
				b.Fatal(err)
			}
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(sr, "done"), nil, 0o644); err != nil {
		b.Fatal(err)
	}
	return sr
}

// pluginStaging hard-links the chain as 0.vhd, 1.vhd, 2.vhd into a new
// directory, as prepare_staging_area of nova's XenServer plugin does.
func pluginStaging(b *testing.B, sr string) (dir string, size int64) {
	b.Helper()
	dir = b.TempDir()
	for k, u := range benchUUIDs {
		src := filepath.Join(sr, u.String()+".vhd")
		if err := os.Link(src, filepath.Join(dir, fmt.Sprintf("%d.vhd", k))); err != nil {
			b.Fatal(err)
		}
		fi, _ := os.Stat(src)
		size += fi.Size()
	}
	return dir, size
}

func shell(b *testing.B, script string) {
	b.Helper()
	out, err := exec.Command("sh", "-c", script).CombinedOutput()
	if err != nil {
		b.Fatalf("%s: %v\n%s", script, err, out)
	}
}

// BenchmarkExport streams the benchmark chain as a tar.gz with Export (at
// the default level 6, and at level 1, vdi-transfer upload's default), and
// with the tar -zc of nova's XenServer plugin over its staging directory, in the same run.
// Bytes are the chain's file sizes.
func BenchmarkExport(b *testing.B) {
	sr := benchChain(b)
	staged, size := pluginStaging(b, sr)
	if _, err := exec.LookPath("tar"); err != nil {
		b.Skip("tar not installed")
	}
	b.Run("vhdkit", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			if _, err := Export(context.Background(), io.Discard, sr, benchUUIDs, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("vhdkit-level1", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			if _, err := Export(context.Background(), io.Discard, sr, benchUUIDs, &ExportOptions{Level: 1}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("tar-zc", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			shell(b, "tar -zc --directory="+staged+" . > /dev/null")
		}
	})
}

// BenchmarkImport imports a tar -zc image of the benchmark chain with
// Import (fsync on) into a fresh SR, beside tar -zx alone and nova's XenServer plugin's
// pipeline (tar -zx into a staging directory, then renames into the SR),
// in the same run. Bytes are the chain's file sizes.
func BenchmarkImport(b *testing.B) {
	sr := benchChain(b)
	staged, size := pluginStaging(b, sr)
	if _, err := exec.LookPath("tar"); err != nil {
		b.Skip("tar not installed")
	}
	archive := filepath.Join(b.TempDir(), "image.tgz")
	shell(b, "tar -zc --directory="+staged+" . > "+archive)
	work := b.TempDir()
	n := 0
	fresh := func() string {
		n++
		d := filepath.Join(work, fmt.Sprint(n))
		if err := os.Mkdir(d, 0o755); err != nil {
			b.Fatal(err)
		}
		return d
	}
	b.Run("vhdkit", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			b.StopTimer()
			dst := fresh()
			f, err := os.Open(archive)
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if _, err := Import(context.Background(), f, dst, nil); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			f.Close()
			os.RemoveAll(dst)
			b.StartTimer()
		}
	})
	b.Run("tar-zx", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			b.StopTimer()
			dst := fresh()
			b.StartTimer()
			shell(b, "tar -zx --directory="+dst+" < "+archive)
			b.StopTimer()
			os.RemoveAll(dst)
			b.StartTimer()
		}
	})
	b.Run("nova-plugin", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			b.StopTimer()
			dst := fresh()
			b.StartTimer()
			shell(b, fmt.Sprintf("set -e; s=$(mktemp -d %s/tmpXXXXXX); tar -zx --directory=$s < %s; "+
				"for i in 0 1 2; do mv $s/$i.vhd $s/$(cat /proc/sys/kernel/random/uuid).vhd; done; mv $s/*.vhd %s/; rmdir $s", dst, archive, dst))
			b.StopTimer()
			os.RemoveAll(dst)
			b.StartTimer()
		}
	})
}
