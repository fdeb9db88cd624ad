package vhd_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"testing"

	"github.com/vhdkit/vhdkit/vhd"
)

// crashRun is a change to a disk whose every crash image must open with
// its primary footer, pass the full default Check and read, block by
// block, the old data or the new.
type crashRun struct {
	name   string    // the disk's path: Check resolves a child's parent from it
	orig   []byte    // the disk before the change
	parent *vhd.File // the parent of a differencing disk, else nil
	op     func(*vhd.File) error
	blocks []int64 // the blocks compared; nil means every block
}

// open returns b as a read-only File with the parent attached.
func (c *crashRun) open(t *testing.T, b []byte) *vhd.File {
	t.Helper()
	f, err := vhd.New(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("%s does not open: %v", c.name, err)
	}
	if c.parent != nil {
		f.AttachParent(c.parent)
	}
	return f
}

// writable returns a File over mem with the parent attached.
func (c *crashRun) writable(t *testing.T, mem *memStore) *vhd.File {
	t.Helper()
	f, err := vhd.NewWritable(mem, int64(len(mem.b)))
	if err != nil {
		t.Fatal(err)
	}
	if c.parent != nil {
		f.AttachParent(c.parent)
	}
	return f
}

// readBlocks reads the compared blocks of f.
func (c *crashRun) readBlocks(t *testing.T, f *vhd.File) [][]byte {
	t.Helper()
	blocks := c.blocks
	if blocks == nil {
		for i := range f.Blocks() {
			blocks = append(blocks, i)
		}
	}
	bs := f.BlockSize()
	out := make([][]byte, len(blocks))
	for i, b := range blocks {
		out[i] = make([]byte, min(bs, f.VirtualSize()-b*bs))
		if n, err := f.ReadAt(out[i], b*bs); n != len(out[i]) {
			t.Fatalf("reading block %d: %v", b, err)
		}
	}
	return out
}

// valid fails the test unless img opens with its primary footer and
// passes the full default Check, and returns how many compared blocks read
// the new data (the others reading the old).
func (c *crashRun) valid(t *testing.T, img []byte, old, new [][]byte, where string) int {
	t.Helper()
	f, err := vhd.New(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		t.Fatalf("%s: the file does not open: %v", where, err)
	}
	if f.FooterSource() != vhd.FooterPrimary {
		t.Errorf("%s: opened with the %v footer", where, f.FooterSource())
	}
	opts := &vhd.CheckOptions{Name: c.name}
	if c.parent != nil {
		opts.Parents = spOpener{}
	}
	rep, err := vhd.Check(context.Background(), bytes.NewReader(img), int64(len(img)), opts)
	if err != nil || !rep.Valid() {
		t.Errorf("%s: Check: %v (not run: %v)", where, err, rep.NotRun)
	}
	if c.parent != nil {
		f.AttachParent(c.parent)
	}
	got := c.readBlocks(t, f)
	nNew := 0
	for i := range got {
		switch {
		case bytes.Equal(got[i], new[i]):
			nNew++
		case !bytes.Equal(got[i], old[i]):
			t.Errorf("%s: compared block %d reads neither the old data nor the new: %s", where, i, firstDiff(got[i], old[i]))
		}
	}
	return nNew
}

// run does the change on a copy of orig, failing at operation failAt
// (0: never), and returns the store, the File and op's error.
func (c *crashRun) run(t *testing.T, failAt int, only bool) (*memStore, *vhd.File, error) {
	t.Helper()
	mem := newMemStore(c.orig)
	mem.failAt, mem.failOnly = failAt, only
	f := c.writable(t, mem)
	return mem, f, c.op(f)
}

// check runs the change undisturbed, then crashed at each of its writes,
// truncates and syncs in turn, then with each of them failing once, and
// returns the bytes of the changed disk. An undisturbed change must leave
// nothing unsynced and read the new data everywhere; every crash image
// and every file left by a failed operation must be valid; a failed
// change retried on the same File must give the same bytes.
func (c *crashRun) check(t *testing.T) []byte {
	t.Helper()
	clean, _, err := c.run(t, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(clean.pending) > 0 || !bytes.Equal(clean.durable, clean.b) {
		t.Fatalf("returned with %d writes not synced", len(clean.pending))
	}
	old := c.readBlocks(t, c.open(t, c.orig))
	new := c.readBlocks(t, c.open(t, clean.b))
	if n := c.valid(t, clean.b, old, new, "the changed file"); n != len(new) {
		t.Fatalf("the changed file reads %d of %d blocks as new", n, len(new))
	}
	// Crashes at different operations often leave the same file: each is
	// checked once.
	seed := maphash.MakeSeed()
	seen := map[uint64]bool{}
	images := 0
	for k := 1; k <= clean.writes; k++ {
		mem, _, err := c.run(t, k, false)
		if !errors.Is(err, errInjected) {
			t.Fatalf("crash at operation %d of %d: error %v, want the injected one", k, clean.writes, err)
		}
		eachCrashImage(mem, func(i int, img []byte) {
			images++
			if h := maphash.Bytes(seed, img); !seen[h] {
				seen[h] = true
				c.valid(t, img, old, new, fmt.Sprintf("crash at operation %d, image %d", k, i))
			}
		})
	}
	for k := 1; k <= clean.writes; k++ {
		mem, f, err := c.run(t, k, true)
		if !errors.Is(err, errInjected) {
			t.Fatalf("operation %d failing: error %v, want the injected one", k, err)
		}
		c.valid(t, mem.b, old, new, fmt.Sprintf("operation %d failed", k))
		if err := c.op(f); err != nil {
			t.Fatalf("operation %d failed, then the retry: %v", k, err)
		}
		if !bytes.Equal(mem.b, clean.b) {
			t.Errorf("operation %d failed, then the retry gives other bytes: %s", k, firstDiff(mem.b, clean.b))
		}
	}
	t.Logf("%d operations, each crashed and each failed once; %d crash images, %d different; %d -> %d bytes",
		clean.writes, images, len(seen), len(c.orig), len(clean.b))
	return clean.b
}

// eachCrashImage calls fn with each file a crash could leave in m, the
// images crashImages lists, built one at a time in one buffer that fn must
// not keep.
func eachCrashImage(m *memStore, fn func(i int, img []byte)) {
	buf := bytes.Clone(m.durable)
	fn(0, buf)
	for i, op := range m.pending {
		buf = apply(append(buf[:0], m.durable...), op)
		fn(i+1, buf)
	}
	if len(m.pending) > 1 {
		buf = append(buf[:0], m.durable...)
		for _, op := range m.pending {
			buf = apply(buf, op)
		}
		fn(len(m.pending)+1, buf)
	}
}
