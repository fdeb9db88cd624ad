package vhd_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vhdkit/vhdkit/vhd"
	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

// tableCase is a disk whose table must grow: its bytes, what it holds, and
// for a differencing disk its parent's data.
type tableCase struct {
	name   string
	orig   []byte
	img    []byte // the virtual disk, old size
	parent []byte // nil for a dynamic disk
	path   string // where the disk was made, for a differencing disk's parent
	size   int64  // to grow to
}

func tableCases(t *testing.T) []tableCase {
	t.Helper()
	dir := t.TempDir()
	w := []vhdtest.Write{vhdtest.Fill(1, 0, 4096), vhdtest.Fill(2, 5*mib, 8192), vhdtest.Fill(3, 10*mib-512, 512)}
	img := func(size int64, ws ...vhdtest.Write) []byte {
		b := make([]byte, size)
		for _, x := range ws {
			copy(b[x.Offset:], x.Data)
		}
		return b
	}
	dyn := func(name string, size int64, ws ...vhdtest.Write) []byte {
		return fileBytesOf(t, vhdtest.Dynamic(t, filepath.Join(dir, name), size, nil, ws...))
	}
	full := make([]vhdtest.Write, 0, 5)
	for b := int64(0); b < 5; b++ {
		full = append(full, vhdtest.Fill(uint64(10+b), b*2*mib, 2*mib))
	}
	parentW := []vhdtest.Write{vhdtest.Fill(7, 0, 2*mib), vhdtest.Fill(8, 9*mib, mib)}
	pp := vhdtest.Dynamic(t, filepath.Join(dir, "p.vhd"), 10*mib, nil, parentW...)
	child := vhdtest.Child(t, filepath.Join(dir, "c.vhd"), pp, nil, vhdtest.Fill(4, 3*mib, 4096))
	childImg := img(10*mib, append(parentW, vhdtest.Fill(4, 3*mib, 4096))...)
	roomy, roomyImg := roomyDisk(t, 10*mib, 20*mib, w...)
	return []tableCase{
		{name: "one block moves", orig: dyn("a.vhd", 10*mib, w...), img: img(10*mib, w...), size: 300 * mib},
		{name: "empty disk", orig: dyn("e.vhd", 10*mib), img: img(10 * mib), size: 300 * mib},
		{name: "every block, table of 1 MiB", orig: dyn("f.vhd", 10*mib, full...), img: img(10*mib, full...), size: 512 << 30},
		{name: "differencing, grows in place", orig: fileBytesOf(t, child), img: childImg, parent: img(10*mib, parentW...), path: child, size: 64 * mib},
		{name: "table made for 20 MiB, grows in place", orig: roomy, img: roomyImg, size: 100 * mib},
		{name: "differencing, the table moves", orig: fileBytesOf(t, child), img: childImg, parent: img(10*mib, parentW...), path: child, size: 300 * mib},
	}
}

// crashImage is what a test asserts of a durable file: it opens, passes
// the default Check, has the old size or the new one, reads the old data
// and zeros (or the parent) beyond.
func crashImage(t *testing.T, tc tableCase, b []byte, at string) *vhd.File {
	t.Helper()
	f, err := vhd.New(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("%s: open: %v", at, err)
	}
	old := int64(len(tc.img))
	checkCrashImage(t, b, tc.path, at)
	if n := f.VirtualSize(); n != old && n != tc.size {
		t.Fatalf("%s: size %d, want %d or %d", at, n, old, tc.size)
	}
	if tc.parent != nil {
		f.AttachParent(bytes.NewReader(tc.parent))
	}
	got := make([]byte, old)
	if _, err := f.ReadAt(got, 0); err != nil {
		t.Fatalf("%s: read: %v", at, err)
	}
	if !bytes.Equal(got, tc.img) {
		t.Fatalf("%s: the data changed", at)
	}
	if f.VirtualSize() > old {
		tail := make([]byte, min(f.VirtualSize()-old, 4*mib))
		for _, off := range []int64{old, f.VirtualSize() - int64(len(tail))} {
			if _, err := f.ReadAt(tail, off); err != nil {
				t.Fatalf("%s: read at %d: %v", at, off, err)
			}
			if !bytes.Equal(tail, make([]byte, len(tail))) {
				t.Fatalf("%s: the new space at %d does not read as zeros", at, off)
			}
		}
	}
	return f
}

// checkCrashImage runs the default Check on b (with the parent beside
// path, when set). One state is let through: after the size commit's
// primary footer and before its copy at offset 0, which no order of two
// sector writes avoids; the copies then differ, and the file must pass
// Check with the primary (which every reader opens with) copied to offset
// 0, as the commit would finish it.
func checkCrashImage(t *testing.T, b []byte, path string, at string) {
	t.Helper()
	opts := vhd.CheckOptions{Name: path}
	if path != "" {
		opts.Parents = dirOpener{}
	}
	rep, err := vhd.Check(context.Background(), bytes.NewReader(b), int64(len(b)), &opts)
	if errors.Is(err, vhd.ErrBackupMismatch) {
		// The file as the commit would finish it: the primary copied to 0.
		done := bytes.Clone(b)
		copy(done, b[len(b)-vhd.FooterSize:])
		rep, err = vhd.Check(context.Background(), bytes.NewReader(done), int64(len(done)), &opts)
	}
	if err != nil {
		t.Fatalf("%s: check: %v", at, err)
	}
	if !rep.Valid() {
		t.Fatalf("%s: check: %v, not run: %v", at, rep.Problems, rep.NotRun)
	}
}

// layoutOf is where a file's metadata lies.
type layoutOf struct {
	TableOffset, Entries uint32
	BatmapHeader         int64
	FileSize, Physical   int64
}

func fileLayout(t *testing.T, f *vhd.File) layoutOf {
	t.Helper()
	l := layoutOf{TableOffset: uint32(f.Header.TableOffset), Entries: f.Header.MaxTableEntries, FileSize: f.FileSize()}
	if bm, err := f.Batmap(); err == nil {
		l.BatmapHeader = bm.HeaderOffset
	}
	var err error
	if l.Physical, err = f.PhysicalSize(); err != nil {
		t.Fatal(err)
	}
	return l
}

// TestGrowTableCrash grows disks whose table must grow with a crash
// injected at every write, truncate and sync in turn: every durable file
// opens, passes Check, has the old size or the new one and reads the same
// data; the uncrashed grow returns with everything synced and leaves
// blktap's layout (the table where it was, the batmap right behind it,
// the footer at the end of the data).
func TestGrowTableCrash(t *testing.T) {
	for _, tc := range tableCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			grow := func(failAt int) (*memStore, error) {
				m := newMemStore(tc.orig)
				m.failAt = failAt
				f, err := vhd.NewWritable(m, int64(len(tc.orig)))
				if err != nil {
					t.Fatal(err)
				}
				return m, f.Grow(context.Background(), tc.size, &vhd.GrowOptions{GrowTable: true})
			}
			s := newMemStore(tc.orig)
			f, err := vhd.NewWritable(s, int64(len(tc.orig)))
			if err != nil {
				t.Fatal(err)
			}
			if err := f.Grow(context.Background(), tc.size, nil); !errors.Is(err, vhd.ErrNoTableRoom) || s.writes != 0 {
				t.Fatalf("Grow without GrowTable: %v after %d writes, want ErrNoTableRoom and none", err, s.writes)
			}
			s, err = grow(0)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(s.durable, s.b) || len(s.pending) != 0 {
				t.Fatalf("Grow returned with %d writes not synced", len(s.pending))
			}
			g := crashImage(t, tc, s.durable, "no crash")
			old, err := vhd.New(bytes.NewReader(tc.orig), int64(len(tc.orig)))
			if err != nil {
				t.Fatal(err)
			}
			entries := uint32(tc.size / (2 * mib))
			want := layoutOf{TableOffset: uint32(old.Header.TableOffset), Entries: entries,
				BatmapHeader: int64(old.Header.TableOffset) + (int64(entries)*4+511)/512*512}
			got := fileLayout(t, g)
			want.FileSize, want.Physical = got.Physical, got.Physical
			if d := cmp.Diff(want, got); d != "" || g.VirtualSize() != tc.size {
				t.Errorf("size %d, layout (-want +got):\n%s", g.VirtualSize(), d)
			}
			images := 0
			for k := 1; k <= s.writes; k++ {
				c, err := grow(k)
				if !errors.Is(err, errInjected) {
					t.Fatalf("crash at operation %d: Grow returned %v", k, err)
				}
				for i, img := range c.crashImages() {
					images++
					crashImage(t, tc, img, fmt.Sprintf("crash at operation %d, image %d", k, i))
				}
			}
			t.Logf("%d operations, %d crash images, %d bytes to %d", s.writes, images, len(tc.orig), len(s.durable))
		})
	}
}

// TestGrowTable1GiBTo100GiB grows a populated 1 GiB disk made without room
// in its table to 100 GiB behind a journal: the table grows, every byte
// reads as before, the new space reads as zeros, the file passes Check
// and the journal is gone.
func TestGrowTable1GiBTo100GiB(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 1 GiB; skipped with -short")
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "a.vhd")
	f, err := vhd.Create(p, &vhd.CreateOptions{Size: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	for off := int64(0); off < 1<<30; off += 4 * mib {
		if _, err := f.WriteAt(vhdtest.Pattern(uint64(off), 4*mib), off); err != nil {
			t.Fatal(err)
		}
	}
	j := filepath.Join(dir, "a.journal")
	if err := f.Grow(context.Background(), 100<<30, nil); !errors.Is(err, vhd.ErrNoTableRoom) {
		t.Fatalf("Grow without GrowTable: %v, want ErrNoTableRoom", err)
	}
	if err := f.Grow(context.Background(), 100<<30, &vhd.GrowOptions{GrowTable: true, Journal: j}); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(j); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the journal is left: %v", err)
	}
	g, err := vhd.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	got := layoutOf{TableOffset: uint32(g.Header.TableOffset), Entries: g.Header.MaxTableEntries}
	if d := cmp.Diff(layoutOf{TableOffset: 1536, Entries: 51200}, got); d != "" || g.VirtualSize() != 100<<30 {
		t.Fatalf("virtual size %d, table (-want +got):\n%s", g.VirtualSize(), d)
	}
	rep, err := g.Check(context.Background(), nil)
	if err != nil || !rep.Valid() {
		t.Fatalf("check: %v %v", err, rep)
	}
	buf := make([]byte, 4*mib)
	for off := int64(0); off < 1<<30; off += 4 * mib {
		if _, err := g.ReadAt(buf, off); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf, vhdtest.Pattern(uint64(off), 4*mib)) {
			t.Fatalf("data at %d changed", off)
		}
	}
	for _, off := range []int64{1 << 30, 50 << 30, 100<<30 - 4*mib} {
		if _, err := g.ReadAt(buf, off); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf, make([]byte, len(buf))) {
			t.Errorf("the new space at %d does not read as zeros", off)
		}
	}
}
