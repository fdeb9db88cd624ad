package tarball

import (
	"bufio"
	"bytes"
	stdflate "compress/flate"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/flate"
)

// benchInput returns a directory holding the shared 256 MiB benchmark file
// (testdata/bench-data.sh: system files, then zeros) as 0.vhd, and the
// size gzip -6 makes of it (compress/gzip's when gzip is absent).
func benchInput(b *testing.B) (dir string, size, gzip6 int64) {
	b.Helper()
	data := ""
	if out, err := exec.Command("sh", "../testdata/bench-data.sh").Output(); err == nil {
		data = filepath.Join(strings.TrimSpace(string(out)), "mixed.raw")
	} else {
		data = filepath.Join(b.TempDir(), "mixed.raw")
		if err := os.WriteFile(data, append(imageLike(180<<20, 1), make([]byte, 76<<20)...), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	dir = b.TempDir()
	if err := os.Link(data, filepath.Join(dir, "0.vhd")); err != nil {
		b.Fatalf("linking benchmark data: %v", err)
	}
	fi, err := os.Stat(data)
	if err != nil {
		b.Fatal(err)
	}
	var cw countWriter
	if p, err := exec.LookPath("gzip"); err == nil {
		cmd := exec.Command(p, "-6", "-c", data)
		cmd.Stdout = &cw
		if err := cmd.Run(); err != nil {
			b.Fatal(err)
		}
	} else {
		f, err := os.Open(data)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		w := newStdGzip(&cw)
		if _, err := io.Copy(w, f); err != nil {
			b.Fatal(err)
		}
		w.Close()
	}
	return dir, fi.Size(), cw.n
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// runPeer runs a shell pipeline as a peer sub-benchmark, skipping when one
// of its tools is absent, and returns its stdout byte count.
func runPeer(b *testing.B, pipeline string, tools ...string) int64 {
	b.Helper()
	for _, tool := range tools {
		needTool(b, tool)
	}
	var cw countWriter
	cmd := exec.Command("sh", "-c", pipeline)
	cmd.Stdout = &cw
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		b.Fatalf("%s: %v\n%s", pipeline, err, stderr.String())
	}
	return cw.n
}

// BenchmarkPack compares Pack at the default level with tar -zc and
// tar | pigz -p 2 on the same data. size/gzip6 is the output size relative
// to gzip -6.
func BenchmarkPack(b *testing.B) {
	dir, size, gzip6 := benchInput(b)
	report := func(b *testing.B, out int64) {
		b.SetBytes(size)
		b.ReportMetric(float64(out)/float64(gzip6), "size/gzip6")
	}
	b.Run("vhdkit", func(b *testing.B) {
		var out int64
		for b.Loop() {
			res, err := Pack(context.Background(), io.Discard, dir, nil)
			if err != nil {
				b.Fatal(err)
			}
			out = res.Compressed
		}
		report(b, out)
	})
	b.Run("vhdkit-level1", func(b *testing.B) {
		var out int64
		for b.Loop() {
			res, err := Pack(context.Background(), io.Discard, dir, &PackOptions{Level: 1})
			if err != nil {
				b.Fatal(err)
			}
			out = res.Compressed
		}
		report(b, out)
	})
	b.Run("tar-zc", func(b *testing.B) {
		var out int64
		for b.Loop() {
			out = runPeer(b, "tar -zcf - -C "+dir+" .", "tar", "gzip")
		}
		report(b, out)
	})
	b.Run("tar-pigz-p2", func(b *testing.B) {
		var out int64
		for b.Loop() {
			out = runPeer(b, "tar -cf - -C "+dir+" . | pigz -p 2", "tar", "pigz")
		}
		report(b, out)
	})
}

// BenchmarkUnpack compares Unpack with tar -zx and pigz -dc | tar -x on
// the archive Pack makes of the benchmark data (own: pieces decoded on
// every core) and on the one tar -zc makes (gnu: one gzip member, decoded
// serially), extracting to the same file system each time. The pipe
// variants read through an io.Pipe, which cannot seek.
func BenchmarkUnpack(b *testing.B) {
	dir, size, _ := benchInput(b)
	archives := map[string]string{"own": filepath.Join(b.TempDir(), "own.tgz"), "gnu": filepath.Join(b.TempDir(), "gnu.tgz")}
	f, err := os.Create(archives["own"])
	if err != nil {
		b.Fatal(err)
	}
	if _, err := Pack(context.Background(), f, dir, nil); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	if _, err := exec.LookPath("tar"); err == nil {
		if out, err := exec.Command("sh", "-c", "tar -zcf "+archives["gnu"]+" -C "+dir+" .").CombinedOutput(); err != nil {
			b.Fatalf("tar -zc: %v\n%s", err, out)
		}
	} else {
		delete(archives, "gnu")
	}
	scratch := b.TempDir()
	fresh := func(b *testing.B) string {
		b.StopTimer()
		defer b.StartTimer()
		d := filepath.Join(scratch, "out")
		if err := os.RemoveAll(d); err != nil {
			b.Fatal(err)
		}
		if err := os.Mkdir(d, 0o755); err != nil {
			b.Fatal(err)
		}
		return d
	}
	for _, kind := range []string{"own", "gnu"} {
		archive, ok := archives[kind]
		if !ok {
			continue
		}
		for _, pipe := range []bool{false, true} {
			name := "vhdkit-" + kind
			if pipe {
				name += "-pipe"
			}
			b.Run(name, func(b *testing.B) {
				b.SetBytes(size)
				for b.Loop() {
					d := fresh(b)
					in, err := os.Open(archive)
					if err != nil {
						b.Fatal(err)
					}
					var r io.Reader = in
					if pipe {
						pr, pw := io.Pipe()
						go func() { _, err := io.Copy(pw, in); pw.CloseWithError(err) }()
						r = pr
					}
					_, err = Unpack(context.Background(), r, d, nil)
					in.Close()
					if err != nil {
						b.Fatal(err)
					}
				}
			})
		}
		b.Run("tar-zx-"+kind, func(b *testing.B) {
			b.SetBytes(size)
			for b.Loop() {
				runPeer(b, "tar -zxf "+archive+" -C "+fresh(b), "tar", "gzip")
			}
		})
		b.Run("pigz-dc-tar-x-"+kind, func(b *testing.B) {
			b.SetBytes(size)
			for b.Loop() {
				runPeer(b, "pigz -dc "+archive+" | tar -xf - -C "+fresh(b), "tar", "pigz")
			}
		})
	}
}

// BenchmarkInflate decodes the deflate stream gzip -6 makes of the
// benchmark data with compress/flate, klauspost/compress/flate and the
// package's inflater (streamed into 1 MiB chunks, as Unpack's serial path
// does), on one core, discarding the output.
func BenchmarkInflate(b *testing.B) {
	dir, size, _ := benchInput(b)
	data, err := os.ReadFile(filepath.Join(dir, "0.vhd"))
	if err != nil {
		b.Fatal(err)
	}
	var comp []byte
	if p, err := exec.LookPath("gzip"); err == nil {
		cmd := exec.Command(p, "-6", "-n", "-c")
		cmd.Stdin = bytes.NewReader(data)
		out, err := cmd.Output()
		if err != nil {
			b.Fatal(err)
		}
		comp = out[10 : len(out)-8]
	} else {
		comp = goDeflate(6)(data)
	}
	data = nil
	for _, d := range []struct {
		name string
		open func(io.Reader) io.Reader
	}{
		{"compress-flate", func(r io.Reader) io.Reader { return stdflate.NewReader(r) }},
		{"klauspost-flate", func(r io.Reader) io.Reader { return flate.NewReader(r) }},
	} {
		b.Run(d.name, func(b *testing.B) {
			b.SetBytes(size)
			for b.Loop() {
				n, err := io.Copy(io.Discard, d.open(bufio.NewReaderSize(bytes.NewReader(comp), 256<<10)))
				if err != nil || n != size {
					b.Fatalf("%d bytes, %v", n, err)
				}
			}
		})
	}
	b.Run("inflater", func(b *testing.B) {
		b.SetBytes(size)
		var free [][]byte
		for b.Loop() {
			var f inflater
			get := func(n int) []byte {
				if len(free) > 0 {
					buf := free[len(free)-1]
					free = free[:len(free)-1]
					return buf
				}
				return make([]byte, n)
			}
			n, err := f.stream(bufio.NewReaderSize(bytes.NewReader(comp), 256<<10), DefaultBlockSize, get, func(whole, _ []byte) bool {
				free = append(free, whole)
				return true
			})
			if err != nil || n != size {
				b.Fatalf("%d bytes, %v", n, err)
			}
		}
	})
}
