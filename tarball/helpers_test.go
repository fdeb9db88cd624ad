package tarball

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// needTool returns the path of an oracle tool, skipping the test when it is
// absent unless VHDKIT_INTEROP=required, in which case the test fails.
func needTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("VHDKIT_INTEROP") == "required" {
			t.Fatalf("VHDKIT_INTEROP=required but %s is absent: %v", name, err)
		}
		t.Skipf("%s not installed: %v", name, err)
	}
	return p
}

// entry is one member of a test archive.
type entry struct {
	hdr  tar.Header
	data []byte
}

func reg(name string, data []byte) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeReg, Name: name, Size: int64(len(data)), Mode: 0o644}, data: data}
}

func typed(name string, flag byte) entry {
	return entry{hdr: tar.Header{Typeflag: flag, Name: name, Mode: 0o755}}
}

// rawTar builds an uncompressed tar of entries in the given format (0 lets
// archive/tar choose). With end false the end-of-archive blocks are omitted.
func rawTar(t testing.TB, format tar.Format, end bool, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := e.hdr
		h.Format = format
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatalf("writing header %q: %v", h.Name, err)
		}
		if _, err := tw.Write(e.data); err != nil {
			t.Fatalf("writing %q: %v", h.Name, err)
		}
	}
	if end {
		if err := tw.Close(); err != nil {
			t.Fatal(err)
		}
	} else if err := tw.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// gz compresses b as one gzip member.
func gz(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// tgz builds a gzip-compressed tar of entries.
func tgz(t testing.TB, entries ...entry) []byte {
	t.Helper()
	return gz(t, rawTar(t, 0, true, entries...))
}

// rename replaces the name of the first tar header named from with to
// (same length or shorter) and fixes the header checksum, so that names
// archive/tar refuses to write can still be tested.
func rename(t testing.TB, raw []byte, from, to string) []byte {
	t.Helper()
	raw = bytes.Clone(raw)
	for off := 0; off+512 <= len(raw); off += 512 {
		h := raw[off : off+512]
		if string(bytes.TrimRight(h[:100], "\x00")) != from {
			continue
		}
		clear(h[:100])
		copy(h[:100], to)
		copy(h[148:156], "        ")
		sum := 0
		for _, c := range h {
			sum += int(c)
		}
		copy(h[148:156], []byte(octal6(sum)+"\x00 "))
		return raw
	}
	t.Fatalf("no header named %q", from)
	return nil
}

func octal6(v int) string {
	s := []byte("000000")
	for i := 5; i >= 0; i-- {
		s[i] = byte('0' + v&7)
		v >>= 3
	}
	return string(s)
}

// node describes one path of a snapshot.
type node struct {
	Mode os.FileMode
	Size int64
	Hash string // content hash for files, target for symlinks
}

// snapshot records every path under dir (dir itself included, as ".").
func snapshot(t testing.TB, dir string) map[string]node {
	t.Helper()
	m := map[string]node{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		n := node{Mode: fi.Mode()}
		switch {
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			n.Size, n.Hash = fi.Size(), hex.EncodeToString(sum[:])
		case fi.Mode()&fs.ModeSymlink != 0:
			n.Hash, _ = os.Readlink(p)
		}
		m[rel] = n
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// writeFiles creates dir/name with the given contents.
func writeFiles(t testing.TB, dir string, files map[string][]byte) {
	t.Helper()
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// digests maps each name to the size and SHA-256 of its contents, which
// cmp.Diff compares quickly and prints readably.
func digests(files map[string][]byte) map[string]string {
	m := map[string]string{}
	for name, b := range files {
		sum := sha256.Sum256(b)
		m[name] = fmt.Sprintf("%d:%x", len(b), sum[:8])
	}
	return m
}

// readFiles returns the digests of every file at the top of dir.
func readFiles(t testing.TB, dir string) map[string]string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string][]byte{}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		m[e.Name()] = b
	}
	return digests(m)
}

// pseudoRandom returns n bytes that compress poorly, deterministically.
func pseudoRandom(n int, seed uint64) []byte {
	b := make([]byte, (n+7)/8*8)
	x := seed | 1
	for i := 0; i < len(b); i += 8 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		binary.LittleEndian.PutUint64(b[i:], x)
	}
	return b[:n]
}

// imageLike returns n bytes mixing data pages, zero pages and text, like a
// disk image.
func imageLike(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := pseudoRandom(n, seed)
	text := bytes.Repeat([]byte("vhdkit tarball "), 4096/15+1)
	for off := 0; off < n; off += 4096 {
		end := min(off+4096, n)
		switch (off / 4096) % 5 {
		case 0, 1:
			copy(b[off:end], r[off:end])
		case 2:
			copy(b[off:end], text)
		}
	}
	return b
}

func newGunzip(b []byte) (io.Reader, error) { return gzip.NewReader(bytes.NewReader(b)) }

// newStdGzip is compress/gzip at level 6, the reference when gzip is absent.
func newStdGzip(w io.Writer) *gzip.Writer {
	z, _ := gzip.NewWriterLevel(w, 6)
	return z
}
