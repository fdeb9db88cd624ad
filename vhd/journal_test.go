package vhd_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vhdkit/vhdkit/vhd"
	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

// journalOf is the journal of growing the disk orig to size, built from
// the disk's bytes as FORMAT.md §20 describes it.
func journalOf(t testing.TB, orig []byte, size int64) []byte {
	t.Helper()
	f, err := vhd.New(bytes.NewReader(orig), int64(len(orig)))
	if err != nil {
		t.Fatal(err)
	}
	j := vhd.Journal{UUID: f.Footer.UUID, OldSize: f.VirtualSize(), OldFileSize: int64(len(orig)), NewSize: size}
	copy(j.OldFooter[:], orig[len(orig)-vhd.FooterSize:])
	copy(j.OldHeader[:], orig[f.Footer.DataOffset:])
	b, err := j.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// hookStore calls first before its first write.
type hookStore struct {
	*memStore
	first func()
}

func (h *hookStore) WriteAt(p []byte, off int64) (int, error) {
	if h.first != nil {
		h.first()
		h.first = nil
	}
	return h.memStore.WriteAt(p, off)
}

func writeFileT(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestGrowJournalRevert grows disks behind a journal with a crash injected
// at every write, truncate and sync. The journal exists, complete, before
// the first write to the disk; after a crash at any point, Revert on any
// crash image with that journal puts the disk back to its old size: it
// opens, passes Check, reads the same data, and the journal is gone. An
// uncrashed grow leaves no journal.
func TestGrowJournalRevert(t *testing.T) {
	for _, tc := range tableCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			jpath := filepath.Join(dir, "j")
			want := journalOf(t, tc.orig, tc.size)
			grow := func(failAt int) (*memStore, error) {
				m := newMemStore(tc.orig)
				m.failAt = failAt
				h := &hookStore{memStore: m, first: func() {
					got, err := os.ReadFile(jpath)
					if err != nil || !bytes.Equal(got, want) {
						t.Fatalf("at the first write, the journal is %d bytes (%v), first difference at %d", len(got), err, firstDiffT(got, want))
					}
				}}
				f, err := vhd.NewWritable(h, int64(len(tc.orig)))
				if err != nil {
					t.Fatal(err)
				}
				return m, f.Grow(context.Background(), tc.size, &vhd.GrowOptions{GrowTable: true, Journal: jpath})
			}
			s, err := grow(0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := os.Lstat(jpath); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("the journal is left after the grow: %v", err)
			}
			revert := func(img []byte, at string) {
				writeFileT(t, jpath, want)
				m := newMemStore(img)
				f, err := vhd.NewWritable(m, int64(len(img)))
				if err != nil {
					t.Fatalf("%s: %v", at, err)
				}
				if err := f.Revert(context.Background(), jpath); err != nil {
					t.Fatalf("%s: revert: %v", at, err)
				}
				if len(m.pending) != 0 {
					t.Fatalf("%s: Revert returned with %d writes not synced", at, len(m.pending))
				}
				if _, err := os.Lstat(jpath); !errors.Is(err, fs.ErrNotExist) {
					t.Fatalf("%s: the journal is left after the revert: %v", at, err)
				}
				g := crashImage(t, tc, m.b, at+", reverted")
				if g.VirtualSize() != int64(len(tc.img)) {
					t.Fatalf("%s: reverted to %d bytes, want %d", at, g.VirtualSize(), len(tc.img))
				}
			}
			revert(s.durable, "no crash")
			images := 0
			for k := 1; k <= s.writes; k++ {
				c, err := grow(k)
				if !errors.Is(err, errInjected) {
					t.Fatalf("crash at operation %d: Grow returned %v", k, err)
				}
				for i, img := range c.crashImages() {
					images++
					revert(img, fmt.Sprintf("crash at operation %d, image %d", k, i))
				}
				os.Remove(jpath)
			}
			t.Logf("%d operations, %d crash images reverted", s.writes, images)
		})
	}
}

func firstDiffT(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestRevertCrash reverts a grown disk with a crash injected at every
// write, truncate and sync: every crash image has the old size or the new
// one, passes Check and reads the same data.
func TestRevertCrash(t *testing.T) {
	tc := tableCases(t)[0]
	g := newMemStore(tc.orig)
	f, err := vhd.NewWritable(g, int64(len(tc.orig)))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Grow(context.Background(), tc.size, &vhd.GrowOptions{GrowTable: true}); err != nil {
		t.Fatal(err)
	}
	grown := g.durable
	jpath := filepath.Join(t.TempDir(), "j")
	run := func(failAt int) (*memStore, error) {
		writeFileT(t, jpath, journalOf(t, tc.orig, tc.size))
		m := newMemStore(grown)
		m.failAt = failAt
		f, err := vhd.NewWritable(m, int64(len(grown)))
		if err != nil {
			t.Fatal(err)
		}
		return m, f.Revert(context.Background(), jpath)
	}
	s, err := run(0)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.pending) != 0 {
		t.Fatalf("Revert returned with %d writes not synced", len(s.pending))
	}
	if r := crashImage(t, tc, s.durable, "no crash"); r.VirtualSize() != int64(len(tc.img)) {
		t.Fatalf("reverted to %d bytes, want %d", r.VirtualSize(), len(tc.img))
	}
	for k := 1; k <= s.writes; k++ {
		c, err := run(k)
		if !errors.Is(err, errInjected) {
			t.Fatalf("crash at operation %d: Revert returned %v", k, err)
		}
		if _, err := os.Lstat(jpath); err != nil {
			t.Fatalf("crash at operation %d: the journal is gone: %v", k, err)
		}
		for i, img := range c.crashImages() {
			crashImage(t, tc, img, fmt.Sprintf("crash at operation %d, image %d", k, i))
		}
	}
}

// TestRevertRefusals: a journal for another disk, a disk used beyond the
// old size, a damaged journal: refused, with nothing written and the
// journal kept.
func TestRevertRefusals(t *testing.T) {
	dir := t.TempDir()
	a := fileBytesOf(t, vhdtest.Dynamic(t, filepath.Join(dir, "a.vhd"), 10*mib, nil, vhdtest.Fill(1, 0, 4096)))
	b := fileBytesOf(t, vhdtest.Dynamic(t, filepath.Join(dir, "b.vhd"), 10*mib, nil))
	grownBy := func(orig []byte, writes ...vhdtest.Write) []byte {
		m := newMemStore(orig)
		f, err := vhd.NewWritable(m, int64(len(orig)))
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Grow(context.Background(), 100*mib, &vhd.GrowOptions{GrowTable: true}); err != nil {
			t.Fatal(err)
		}
		for _, w := range writes {
			if _, err := f.WriteAt(w.Data, w.Offset); err != nil {
				t.Fatal(err)
			}
		}
		return m.b
	}
	corrupt := func(off int, v byte) []byte {
		j := journalOf(t, a, 100*mib)
		j[off] ^= v
		return j
	}
	for _, tc := range []struct {
		name    string
		disk    []byte
		journal []byte
		want    error
		field   string
		offset  int64
	}{
		{"another disk's journal", grownBy(a), journalOf(t, b, 100*mib), vhd.ErrJournal, "disk UUID", 16},
		{"used beyond the old size", grownBy(a, vhdtest.Fill(2, 50*mib, 512)), journalOf(t, a, 100*mib), vhd.ErrGrownSpaceUsed, "", 0},
		{"used in the last old block past the old size", grownBy(a, vhdtest.Fill(2, 10*mib, 512)), journalOf(t, a, 100*mib), vhd.ErrGrownSpaceUsed, "", 0},
		{"bad checksum", grownBy(a), corrupt(100, 1), vhd.ErrChecksum, "checksum", 2044},
		{"truncated journal", grownBy(a), journalOf(t, a, 100*mib)[:2000], vhd.ErrTruncated, "", -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			jpath := filepath.Join(t.TempDir(), "j")
			writeFileT(t, jpath, tc.journal)
			m := newMemStore(tc.disk)
			f, err := vhd.NewWritable(m, int64(len(tc.disk)))
			if err != nil {
				t.Fatal(err)
			}
			err = f.Revert(context.Background(), jpath)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Revert: %v, want %v", err, tc.want)
			}
			if tc.field != "" || tc.offset != 0 {
				var fe *vhd.FormatError
				if !errors.As(err, &fe) {
					t.Fatalf("Revert: %v is not a FormatError", err)
				}
				if d := cmp.Diff([2]any{tc.field, tc.offset}, [2]any{fe.Field, fe.Offset}); d != "" {
					t.Errorf("field and offset (-want +got):\n%s", d)
				}
			}
			if m.writes != 0 {
				t.Errorf("the refused revert wrote %d times", m.writes)
			}
			if _, err := os.Lstat(jpath); err != nil {
				t.Errorf("the journal is gone: %v", err)
			}
		})
	}
}

// TestJournalUnmarshal: each field validated, named with its offset.
func TestJournalUnmarshal(t *testing.T) {
	orig := fileBytesOf(t, vhdtest.Dynamic(t, filepath.Join(t.TempDir(), "a.vhd"), 10*mib, nil))
	good := journalOf(t, orig, 100*mib)
	edit := func(f func(b []byte)) []byte {
		b := bytes.Clone(good)
		f(b)
		binary.BigEndian.PutUint32(b[2044:], crc32.Checksum(b[:2044], crc32.MakeTable(crc32.Castagnoli)))
		return b
	}
	be := binary.BigEndian
	for _, tc := range []struct {
		name   string
		b      []byte
		want   error
		field  string
		offset int64
	}{
		{"valid", good, nil, "", 0},
		{"short", good[:100], vhd.ErrTruncated, "", -1},
		{"long", append(bytes.Clone(good), 0), vhd.ErrJournal, "", -1},
		{"magic", edit(func(b []byte) { b[0] = 'x' }), vhd.ErrJournal, "magic", 0},
		{"version", edit(func(b []byte) { be.PutUint32(b[8:], 2) }), vhd.ErrJournal, "version", 8},
		{"length", edit(func(b []byte) { be.PutUint32(b[12:], 4096) }), vhd.ErrJournal, "length", 12},
		{"checksum", func() []byte { b := bytes.Clone(good); b[20] ^= 1; return b }(), vhd.ErrChecksum, "checksum", 2044},
		{"reserved", edit(func(b []byte) { b[1700] = 1 }), vhd.ErrJournal, "reserved", 1700},
		{"old size unaligned", edit(func(b []byte) { be.PutUint64(b[32:], 1000) }), vhd.ErrJournal, "old size", 32},
		{"new size past 2040 GiB", edit(func(b []byte) { be.PutUint64(b[48:], 1<<60) }), vhd.ErrJournal, "new size", 48},
		{"a shrink", edit(func(b []byte) { be.PutUint64(b[48:], 2*mib) }), vhd.ErrJournal, "new size", 48},
		{"old footer of another disk", edit(func(b []byte) { b[16] ^= 1 }), vhd.ErrJournal, "old footer", 64 + 68},
		{"old footer's size", edit(func(b []byte) { be.PutUint64(b[32:], 2*mib) }), vhd.ErrJournal, "old footer", 64 + 48},
		{"old footer's cookie", edit(func(b []byte) { b[64] = 'x' }), vhd.ErrJournal, "old footer", 64},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var j vhd.Journal
			err := j.UnmarshalBinary(tc.b)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("UnmarshalBinary: %v, want %v", err, tc.want)
			}
			if err == nil {
				back, _ := j.MarshalBinary()
				if !bytes.Equal(back, tc.b) {
					t.Errorf("MarshalBinary does not give the bytes back, first difference at %d", firstDiffT(back, tc.b))
				}
				return
			}
			var fe *vhd.FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("%v is not a FormatError", err)
			}
			if d := cmp.Diff([2]any{tc.field, tc.offset}, [2]any{fe.Field, fe.Offset}); d != "" {
				t.Errorf("field and offset (-want +got):\n%s", d)
			}
		})
	}
}

// FuzzJournal: any bytes parse or fail with a FormatError, never panic;
// what parses encodes back to the same bytes.
func FuzzJournal(f *testing.F) {
	orig, err := os.ReadFile(vhdtest.Dynamic(f, filepath.Join(f.TempDir(), "a.vhd"), 10*mib, nil))
	if err != nil {
		f.Fatal(err)
	}
	good := journalOf(f, orig, 100*mib)
	f.Add(good)
	f.Add(good[:2044])
	f.Add(append(bytes.Clone(good), 0))
	f.Add([]byte{})
	f.Add([]byte("vhdkitrj"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var j vhd.Journal
		err := j.UnmarshalBinary(b)
		if err != nil {
			var fe *vhd.FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("%v is not a FormatError", err)
			}
			return
		}
		back, _ := j.MarshalBinary()
		if !bytes.Equal(back, b) {
			t.Fatalf("MarshalBinary does not give the bytes back, first difference at %d", firstDiffT(back, b))
		}
	})
}

// TestGrowJournalIOError fails each write, truncate and sync of a
// journaled grow in turn, once, as a transient I/O error would: Grow
// returns the error and removes the journal only with the old size back:
// whatever of its unsynced writes a crash then keeps, the disk has the
// old size.
func TestGrowJournalIOError(t *testing.T) {
	tc := tableCases(t)[0]
	jpath := filepath.Join(t.TempDir(), "j")
	for k := 1; ; k++ {
		m := newMemStore(tc.orig)
		m.failAt, m.failOnly = k, true
		f, err := vhd.NewWritable(m, int64(len(tc.orig)))
		if err != nil {
			t.Fatal(err)
		}
		err = f.Grow(context.Background(), tc.size, &vhd.GrowOptions{GrowTable: true, Journal: jpath})
		if err == nil {
			if k == 1 {
				t.Fatal("no operation failed")
			}
			break
		}
		if !errors.Is(err, errInjected) {
			t.Fatalf("failure at operation %d: Grow returned %v", k, err)
		}
		if _, err := os.Lstat(jpath); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("failure at operation %d: the journal is left: %v", k, err)
		}
		for i, img := range m.crashImages() {
			if g := crashImage(t, tc, img, fmt.Sprintf("failure at operation %d, image %d", k, i)); g.VirtualSize() != int64(len(tc.img)) {
				t.Fatalf("failure at operation %d, image %d: size %d, want the old %d", k, i, g.VirtualSize(), len(tc.img))
			}
		}
	}
}

// TestGrowCancelled cancels a journaled grow at its first write: Grow
// stops at the next step with the context's error, the disk sound at its
// old size in every state a crash could keep, and the journal removed.
func TestGrowCancelled(t *testing.T) {
	tc := tableCases(t)[2] // several blocks move
	jpath := filepath.Join(t.TempDir(), "j")
	ctx, cancel := context.WithCancel(context.Background())
	m := newMemStore(tc.orig)
	f, err := vhd.NewWritable(&hookStore{memStore: m, first: cancel}, int64(len(tc.orig)))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Grow(ctx, tc.size, &vhd.GrowOptions{GrowTable: true, Journal: jpath}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Grow: %v, want context.Canceled", err)
	}
	if _, err := os.Lstat(jpath); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the journal is left: %v", err)
	}
	for i, img := range m.crashImages() {
		if g := crashImage(t, tc, img, fmt.Sprintf("image %d", i)); g.VirtualSize() != int64(len(tc.img)) {
			t.Fatalf("image %d: size %d, want the old %d", i, g.VirtualSize(), len(tc.img))
		}
	}
	if m.writes > 10 {
		t.Errorf("Grow went on for %d operations after the cancel", m.writes)
	}
}
