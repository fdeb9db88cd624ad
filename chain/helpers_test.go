package chain_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/vhdkit/vhdkit/chain"
	"github.com/vhdkit/vhdkit/vhd"
	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

const mib = vhdtest.MiB

// chainWrites returns, for a chain of depth links of size bytes, sector-
// aligned writes in which every link overwrites part of what its parent
// holds, some of them across block boundaries.
func chainWrites(depth int, size int64) func(i int) []vhdtest.Write {
	return func(i int) []vhdtest.Write {
		seed := uint64(1000*depth + i)
		sectors := size / 512
		if i == depth-1 { // the base: a large run and a scattered one
			return []vhdtest.Write{
				vhdtest.Fill(seed, 0, int(min(size, 3*mib))),
				vhdtest.Fill(seed+500, (sectors-8)*512, 8*512),
			}
		}
		a := (int64(i)*613 + 37) % (sectors - 64)
		b := (int64(i)*4099 + 4000) % (sectors - 64)
		return []vhdtest.Write{
			vhdtest.Fill(seed, a*512, 512*int(1+i%7)),
			vhdtest.Fill(seed+100, b*512, 512*(32+i%30)),
		}
	}
}

// expectImage applies the writes of every link, base first, to a zero
// image of size bytes: what the leaf reads as.
func expectImage(size int64, depth int, writes func(i int) []vhdtest.Write) []byte {
	img := make([]byte, size)
	for i := depth - 1; i >= 0; i-- {
		for _, w := range writes(i) {
			copy(img[w.Offset:], w.Data)
		}
	}
	return img
}

// child creates a differencing disk at path over parent, like
// vhdtest.Child, but reads the parent through its whole chain, so writes
// of partial sectors may fall where only a grandparent holds data.
func child(t testing.TB, path, parent string, hidden bool, writes ...vhdtest.Write) string {
	t.Helper()
	vhdtest.Child(t, path, parent, nil)
	if len(writes) == 0 && !hidden {
		return path
	}
	pc, err := chain.Walk(context.Background(), parent, &chain.Options{Mode: chain.Compat})
	if err != nil {
		t.Fatalf("walk parent %s: %v", parent, err)
	}
	defer pc.Close()
	f, err := vhd.OpenFile(path, os.O_RDWR)
	if err != nil {
		t.Fatal(err)
	}
	f.AttachParent(pc.ReaderAt())
	for _, w := range writes {
		if _, err := f.WriteAt(w.Data, w.Offset); err != nil {
			t.Fatalf("write %d bytes at %d to %s: %v", len(w.Data), w.Offset, path, err)
		}
	}
	if hidden {
		if err := f.SetHidden(1); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// pointAt rewrites every MacX, W2ku and W2ru locator of the differencing
// disk at path to hold target (a '/'-separated path) and fixes the
// header's data lengths and checksum, leaving the rest of the header alone.
func pointAt(t testing.TB, path, target string) {
	t.Helper()
	f, err := vhd.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	h := *f.Header
	f.Close()
	lens := map[int]uint32{}
	for i, l := range h.Locators {
		if !l.Code.Decodable() {
			continue
		}
		data, err := vhd.EncodeLocator(l.Code, target)
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(data)) > l.Size() {
			t.Fatalf("locator %q does not fit in %d bytes", target, l.Size())
		}
		vhdtest.Patch(t, path, int64(l.DataOffset), data...)
		lens[i] = uint32(len(data))
	}
	vhdtest.PatchHeader(t, path, true, func(h *vhd.Header) {
		for i, n := range lens {
			h.Locators[i].DataLength = n
		}
	})
}

// patchLocator replaces the data of locator slot of the file at path with
// data (of any length up to the slot's space).
func patchLocator(t testing.TB, path string, slot int, data []byte) {
	t.Helper()
	f, err := vhd.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	l := f.Header.Locators[slot]
	f.Close()
	vhdtest.Patch(t, path, int64(l.DataOffset), data...)
	vhdtest.PatchHeader(t, path, true, func(h *vhd.Header) { h.Locators[slot].DataLength = uint32(len(data)) })
}

// realPath returns path with symbolic links evaluated.
func realPath(t testing.TB, path string) string {
	t.Helper()
	p, err := filepath.EvalSymlinks(path)
	if err != nil {
		t.Fatal(err)
	}
	p, err = filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// tempDir returns a new temporary directory with symbolic links evaluated.
func tempDir(t testing.TB) string {
	t.Helper()
	return realPath(t, t.TempDir())
}

// readAll reads the whole of r, size bytes.
func readAll(t testing.TB, r io.ReaderAt, size int64) []byte {
	t.Helper()
	b := make([]byte, size)
	n, err := r.ReadAt(b, 0)
	if n != len(b) || (err != nil && err != io.EOF) {
		t.Fatalf("ReadAt: n=%d of %d, err=%v", n, len(b), err)
	}
	return b
}

// firstDiff describes where two byte slices first differ.
func firstDiff(got, want []byte) string {
	if len(got) != len(want) {
		return fmt.Sprintf("length %d, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			j := min(len(got), i+16)
			return fmt.Sprintf("first difference at byte %d (sector %d): got % x, want % x", i, i/512, got[i:j], want[i:j])
		}
	}
	return "equal"
}

func sameBytes(t testing.TB, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Errorf("%s: %s", what, firstDiff(got, want))
	}
}
