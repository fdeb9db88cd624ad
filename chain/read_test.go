package chain_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vhdkit/vhdkit/chain"
	"github.com/vhdkit/vhdkit/vhd"
	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

// mixedChain builds a 3-deep chain whose links differ in block size, type
// and virtual size: a base (dynamic with 512 KiB blocks, or fixed) of
// 5 MiB, a middle link of 6 MiB (larger than its parent, so it reads zeros
// past the base's end), and a 2 MiB-block leaf of 6 MiB, with partial-sector
// writes everywhere. It returns the leaf and the expected image.
func mixedChain(t *testing.T, dir string, fixedBase bool) (string, []byte) {
	t.Helper()
	const baseSize, size = 5 * mib, 6 * mib
	baseWrites := []vhdtest.Write{vhdtest.Fill(1, 0, 700<<10), vhdtest.Fill(2, 3*mib+5, 1<<20), vhdtest.Fill(3, baseSize-1000, 1000)}
	base := filepath.Join(dir, "base.vhd")
	if fixedBase {
		vhdtest.Fixed(t, base, baseSize, nil, baseWrites...)
	} else {
		vhdtest.Dynamic(t, base, baseSize, &vhdtest.Options{BlockSize: 512 << 10, Creator: vhd.Creator{'v', 'b', 'o', 'x'}}, baseWrites...)
	}
	info, err := vhd.ParentInfoFor(filepath.Join(dir, "mid.vhd"), base)
	if err != nil {
		t.Fatal(err)
	}
	f, err := vhd.Create(filepath.Join(dir, "mid.vhd"), &vhd.CreateOptions{Size: size, Parent: info})
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	midWrites := []vhdtest.Write{vhdtest.Fill(4, 300, 2000), vhdtest.Fill(5, 512<<10-7, 14), vhdtest.Fill(6, baseSize-100, 300), vhdtest.Fill(7, size-513, 513)}
	mid := filepath.Join(dir, "mid.vhd")
	writeThrough(t, mid, base, midWrites)
	leaf := child(t, filepath.Join(dir, "leaf.vhd"), mid, false,
		vhdtest.Fill(8, 1, 1), vhdtest.Fill(9, 2*mib-1, 2), vhdtest.Fill(10, baseSize+17, 100), vhdtest.Fill(11, 4*mib, 2*mib))
	want := make([]byte, size)
	for _, ws := range [][]vhdtest.Write{baseWrites, midWrites, {vhdtest.Fill(8, 1, 1), vhdtest.Fill(9, 2*mib-1, 2), vhdtest.Fill(10, baseSize+17, 100), vhdtest.Fill(11, 4*mib, 2*mib)}} {
		for _, w := range ws {
			copy(want[w.Offset:], w.Data)
		}
	}
	return leaf, want
}

// writeThrough writes to the differencing disk at path, reading its parent
// chain (from parent) for partial sectors.
func writeThrough(t *testing.T, path, parent string, writes []vhdtest.Write) {
	t.Helper()
	pc, err := chain.Walk(context.Background(), parent, &chain.Options{Mode: chain.Compat})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	f, err := vhd.OpenFile(path, os.O_RDWR)
	if err != nil {
		t.Fatal(err)
	}
	f.AttachParent(pc.ReaderAt())
	for _, w := range writes {
		if _, err := f.WriteAt(w.Data, w.Offset); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestReadAtMixedChain reads a chain with mixed block sizes, a fixed or
// dynamic base and a parent smaller than its child, whole and at random
// unaligned ranges, and compares with the expected image and with the
// leaf's File.ReadAt.
func TestReadAtMixedChain(t *testing.T) {
	for _, fixed := range []bool{false, true} {
		name := map[bool]string{false: "dynamic 512 KiB base", true: "fixed base"}[fixed]
		t.Run(name, func(t *testing.T) {
			dir := tempDir(t)
			leaf, want := mixedChain(t, dir, fixed)
			c, err := chain.Walk(context.Background(), leaf, &chain.Options{Mode: chain.Compat})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			r := c.ReaderAt()
			sameBytes(t, "whole disk", readAll(t, r, int64(len(want))), want)
			sameBytes(t, "leaf File.ReadAt", readAll(t, c.Leaf(), int64(len(want))), want)
			rng := rand.New(rand.NewPCG(1, 2))
			for range 300 {
				off := rng.Int64N(int64(len(want)))
				n := rng.IntN(3*mib) + 1
				got := make([]byte, n)
				k, err := r.ReadAt(got, off)
				end := min(off+int64(n), int64(len(want)))
				if k != int(end-off) || (end < off+int64(n)) != (err == io.EOF) || (err != nil && err != io.EOF) {
					t.Fatalf("ReadAt(%d bytes at %d) = %d, %v", n, off, k, err)
				}
				if !bytes.Equal(got[:k], want[off:end]) {
					t.Fatalf("ReadAt(%d bytes at %d): %s", n, off, firstDiff(got[:k], want[off:end]))
				}
			}
			if n, err := r.ReadAt(make([]byte, 1), int64(len(want))); n != 0 || err != io.EOF {
				t.Errorf("ReadAt at the end = %d, %v; want 0, EOF", n, err)
			}
			if _, err := r.ReadAt(make([]byte, 1), -1); !errors.Is(err, vhd.ErrOutOfRange) {
				t.Errorf("ReadAt at -1: %v", err)
			}
			sameBytes(t, "WriteRaw", writeRaw(t, c), want)
		})
	}
}

// TestWriteRawWriters writes to a plain io.Writer, to a file already
// holding data at its end (holes allowed), and to a file positioned before
// its end (every zero written).
func TestWriteRawWriters(t *testing.T) {
	dir := tempDir(t)
	const size = 8 * mib
	writes := func(i int) []vhdtest.Write {
		if i == 1 {
			return []vhdtest.Write{vhdtest.Fill(1, 512, 4096), vhdtest.Fill(2, 6*mib, 512)}
		}
		return []vhdtest.Write{vhdtest.Fill(3, 3*mib, 1024)}
	}
	paths := vhdtest.Chain(t, dir, 2, size, nil, writes)
	want := expectImage(size, 2, writes)
	c, err := chain.Walk(context.Background(), paths[0], &chain.Options{Root: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	var buf bytes.Buffer
	if err := c.WriteRaw(context.Background(), &buf, nil); err != nil {
		t.Fatal(err)
	}
	sameBytes(t, "to a bytes.Buffer", buf.Bytes(), want)

	prefix := []byte("prefix")
	for _, tc := range []struct {
		name string
		seek int64
	}{{"appending", int64(len(prefix))}, {"overwriting", 2}} {
		p := filepath.Join(dir, tc.name)
		junk := bytes.Repeat([]byte{0xAA}, size+100)
		copy(junk, prefix)
		if tc.name == "appending" {
			junk = prefix
		}
		if err := os.WriteFile(p, junk, 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := os.OpenFile(p, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.Seek(tc.seek, io.SeekStart)
		if err := c.WriteRaw(context.Background(), f, nil); err != nil {
			t.Fatal(err)
		}
		pos, _ := f.Seek(0, io.SeekCurrent)
		f.Close()
		if pos != tc.seek+size {
			t.Errorf("%s: position %d after WriteRaw, want %d", tc.name, pos, tc.seek+size)
		}
		got, _ := os.ReadFile(p)
		sameBytes(t, tc.name, got[tc.seek:tc.seek+size], want)
		sameBytes(t, tc.name+" prefix", got[:tc.seek], prefix[:tc.seek])
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.WriteRaw(ctx, io.Discard, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled WriteRaw: %v", err)
	}
	if err := c.WriteRaw(context.Background(), failWriter{}, nil); !errors.Is(err, errWrite) {
		t.Errorf("failing writer: %v", err)
	}
}

var errWrite = errors.New("write failed")

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errWrite }

// TestReadCorruptBAT reads a chain whose leaf's BAT points past the end of
// the file: an error naming the file, no panic.
func TestReadCorruptBAT(t *testing.T) {
	dir := tempDir(t)
	paths := vhdtest.Chain(t, dir, 2, 4*mib, nil, func(i int) []vhdtest.Write {
		return []vhdtest.Write{vhdtest.Fill(uint64(i), 0, 4096)}
	})
	vhdtest.Patch(t, paths[0], 1536, 0x00, 0x10, 0x00, 0x00) // block 0 at sector 0x100000
	c, err := chain.Walk(context.Background(), paths[0], &chain.Options{Root: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.ReaderAt().ReadAt(make([]byte, 4096), 0)
	if !errors.Is(err, vhd.ErrTruncated) || !bytes.Contains([]byte(err.Error()), []byte(paths[0])) {
		t.Errorf("err = %v, want ErrTruncated naming %s", err, paths[0])
	}
	if err := c.WriteRaw(context.Background(), io.Discard, nil); !errors.Is(err, vhd.ErrTruncated) {
		t.Errorf("WriteRaw: %v", err)
	}
}

// TestWriteRawProgress checks every report WriteRaw makes: the phase, the
// leaf's name, Done from 0 up by chunks to the virtual size, Total the
// virtual size from the first report on.
func TestWriteRawProgress(t *testing.T) {
	for _, tc := range []struct {
		name string
		size int64
		want []int64 // Done of each report
	}{
		{"one partial chunk", 3 * mib, []int64{0, 3 * mib}},
		{"two chunks", 16 * mib, []int64{0, 8 * mib, 16 * mib}},
		{"a sector past a chunk", 8*mib + 2*mib, []int64{0, 8 * mib, 10 * mib}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := tempDir(t)
			leaf := vhdtest.Dynamic(t, filepath.Join(dir, "d.vhd"), tc.size, nil, vhdtest.Fill(1, 0, 4096))
			c, err := chain.Walk(context.Background(), leaf, &chain.Options{Root: dir})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			var got, want []chain.Progress
			for _, d := range tc.want {
				want = append(want, chain.Progress{Phase: chain.PhaseWriteRaw, Name: leaf, Done: d, Total: tc.size})
			}
			opts := &chain.WriteRawOptions{Progress: func(p chain.Progress) { got = append(got, p) }}
			if err := c.WriteRaw(context.Background(), io.Discard, opts); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("reports (-want +got):\n%s", diff)
			}
		})
	}
}
