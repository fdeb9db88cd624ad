package vhd_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/vhdkit/vhdkit/vhd"
	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

// Structure-aware fuzzing: the inputs are not file bytes but edits of
// valid files built with vhdtest, each edit setting one field of the
// footer, header, a locator, the batmap header or a BAT entry (see
// vhdtest.Fields) to an extreme or chosen value, or cutting, growing or
// flipping the file. Random bytes rarely get past the checksums; these do.

// fuzzImages are the valid files edits start from.
type fuzzImages struct {
	dir    string
	images [][]byte
	parent string // a valid VHD to relink to
}

// loadFuzzImages builds the files in f's temporary directory (in the
// coordinator and in every worker).
func loadFuzzImages(f *testing.F) *fuzzImages {
	dir := f.TempDir()
	fi := &fuzzImages{dir: dir}
	small := &vhdtest.Options{BlockSize: 4096, Creator: vhd.Creator{'v', 'h', 'd', 'k'}}
	tap := vhdtest.Dynamic(f, filepath.Join(dir, "tap.vhd"), 4*mib, nil, vhdtest.Fill(1, 100, 5000))
	empty := vhdtest.Dynamic(f, filepath.Join(dir, "empty.vhd"), 4*mib, nil)
	sm := vhdtest.Dynamic(f, filepath.Join(dir, "small.vhd"), 64<<10, small, vhdtest.Fill(2, 0, 5000), vhdtest.Fill(3, 40000, 700))
	paths := []string{
		tap,
		vhdtest.Child(f, filepath.Join(dir, "tapchild.vhd"), tap, nil, vhdtest.Fill(4, 3*mib+7, 3000)),
		sm,
		vhdtest.Child(f, filepath.Join(dir, "smallchild.vhd"), sm, small, vhdtest.Fill(5, 4096, 600)),
		vhdtest.Fixed(f, filepath.Join(dir, "fixed.vhd"), 16<<10, nil, vhdtest.Fill(6, 512, 1024)),
		empty,
		vhdtest.Child(f, filepath.Join(dir, "emptychild.vhd"), empty, nil),
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		fi.images = append(fi.images, b)
	}
	fi.parent = copyFile(f, filepath.Join(dir, "newparent.vhd"), tap)
	return fi
}

// editRecord is the size of one edit in a fuzz input: field, index, kind,
// and an 8-byte value.
const editRecord = 11

// applyEdits applies the edits encoded in edits to a copy of image.
func applyEdits(image, edits []byte) []byte {
	b := bytes.Clone(image)
	// At most 64 edits and 1 MiB of growth: the harness's own memory must
	// not hide the library's.
	edits = edits[:min(len(edits), 64*editRecord)]
	for len(edits) >= editRecord {
		e := edits[:editRecord]
		edits = edits[editRecord:]
		v := binary.BigEndian.Uint64(e[3:])
		fieldIdx := int(e[0])
		if fieldIdx >= len(vhdtest.Fields) {
			switch fieldIdx % 3 {
			case 0: // cut
				if len(b) > 0 {
					b = b[:v%uint64(len(b)+1)]
				}
			case 1: // grow by up to 64 KiB of zeros
				if len(b) < len(image)+1<<20 {
					b = append(b, make([]byte, v%(64<<10))...)
				}
			case 2: // flip a byte
				if len(b) > 0 {
					b[v%uint64(len(b))] ^= byte(v >> 56)
				}
			}
			continue
		}
		f := vhdtest.Fields[fieldIdx]
		switch e[2] % 6 {
		case 0:
			v = 0
		case 1:
			v = f.Max()
		case 2:
			v = f.Max() - 1
		case 3:
			v = 1 << (8*f.Size - 1)
		case 4:
			v %= 1 << 16 // small values: offsets and counts near real ones
		}
		vhdtest.SetFieldBytes(b, f, int(e[1]), v)
	}
	return b
}

// edit builds one edit record, for seeds.
func edit(field string, index, kind byte, v uint64) []byte {
	st, name, _ := cutField(field)
	for i, f := range vhdtest.Fields {
		if f.Struct == st && f.Name == name {
			b := []byte{byte(i), index, kind}
			return binary.BigEndian.AppendUint64(b, v)
		}
	}
	panic("no field " + field)
}

func cutField(s string) (string, string, bool) {
	for _, st := range []string{"batmap header", "footer", "header", "locator", "BAT"} {
		if len(s) > len(st) && s[:len(st)] == st && s[len(st)] == '/' {
			return st, s[len(st)+1:], true
		}
	}
	return "", s, false
}

// fuzzSeedEdits are the seeds of both targets: no edit, and the edits that
// found the problems of issue 8.
func fuzzSeedEdits(f *testing.F) {
	seeds := []struct {
		image byte
		edits []byte
	}{
		{0, nil}, {1, nil}, {2, nil}, {3, nil}, {4, nil}, {5, nil}, {6, nil},
		{0, edit("footer/current size", 0, 3, 0)},
		{1, edit("footer/current size", 0, 1, 0)},
		{0, edit("header/max table entries", 0, 4, 1<<28)},
		{0, edit("BAT/entry", 0, 4, 0x0FFF)},
		{1, append(edit("BAT/entry", 1, 4, 0x10), edit("BAT/entry", 0, 4, 0x10)...)},
		{1, edit("locator/data space", 0, 5, 0xfffffe00)},
		{1, edit("locator/data length", 1, 4, 21)},
		{6, edit("locator/data offset", 2, 3, 0)},
		{0, edit("batmap header/size", 0, 1, 0)},
		{0, edit("header/table offset", 0, 4, 1540)},
		{2, edit("header/block size", 0, 4, 1<<12+1)},
		{3, append(edit("footer/current size", 0, 5, 1<<40), edit("header/max table entries", 0, 1, 0)...)},
	}
	for _, s := range seeds {
		f.Add(s.image, s.edits)
	}
}

// guard runs fn and fails the fuzz input if it used more than 2 s of CPU
// or allocated more than 64 MiB, or is still running after a minute (a
// hang). CPU time, not wall time, so that a loaded machine does not fail
// the input; allocations are counted in-process because a fuzz worker's RSS
// includes the fuzzing engine's own 100 MiB shared-memory buffer. These are
// limits a hostile input must not reach, not speed assertions.
func guard(t *testing.T, fn func()) {
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	cpu0 := cpuTime()
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("input still running after a minute")
	}
	if d := cpuTime() - cpu0; d > 2*time.Second {
		t.Fatalf("input took %v of CPU", d)
	}
	runtime.ReadMemStats(&m1)
	if d := m1.TotalAlloc - m0.TotalAlloc; d > 64<<20 {
		t.Fatalf("input allocated %d MiB", d>>20)
	}
}

// FuzzOpenCheckFields opens, queries, reads and checks edited valid files:
// nothing may panic, hang, or allocate without bound (the worker's RSS is
// watched from outside); sizes never come out negative; the report and the
// error agree.
func FuzzOpenCheckFields(f *testing.F) {
	fuzzSeedEdits(f)
	fi := loadFuzzImages(f)
	f.Fuzz(func(t *testing.T, image byte, edits []byte) {
		b := applyEdits(fi.images[int(image)%len(fi.images)], edits)
		guard(t, func() {
			for _, o := range []*vhd.CheckOptions{nil, {Compat: true}, {CheckBitmaps: true, Parents: selfOpener{b}}} {
				rep, err := vhd.Check(context.Background(), bytes.NewReader(b), int64(len(b)), o)
				var ce *vhd.CheckError
				switch {
				case rep == nil:
					t.Fatal("nil report")
				case err == nil && !rep.Valid(), err != nil && rep.Valid():
					t.Fatalf("error %v with Valid %v", err, rep.Valid())
				case err != nil && !errors.As(err, &ce):
					t.Fatalf("unexpected error %v", err)
				}
			}
			v, err := vhd.New(bytes.NewReader(b), int64(len(b)))
			if err != nil {
				return
			}
			if vs := v.VirtualSize(); vs < 0 || vs > vhd.MaxSize || v.Blocks() < 0 {
				t.Fatalf("VirtualSize %d, Blocks %d", vs, v.Blocks())
			}
			for _, q := range []func() (int64, error){v.EndOfHeaders, v.EndOfData, v.PhysicalSize, v.AllocatedBlocks} {
				if n, err := q(); err == nil && n < 0 {
					t.Fatalf("negative size or count %d", n)
				}
			}
			v.Hidden()
			v.Marker()
			v.ParentName()
			v.ParentLocators()
			buf := make([]byte, 8192)
			for _, off := range []int64{0, 511, v.VirtualSize() / 2, v.VirtualSize() - 4096} {
				if off >= 0 {
					v.ReadAt(buf, off)
				}
			}
		})
	})
}

// FuzzSetParentFields relinks edited valid files, on a copy in memory:
// SetParent either refuses before writing anything (the copy stays
// byte-identical) or leaves a child that passes Check; it never writes far
// past the file, panics or hangs.
func FuzzSetParentFields(f *testing.F) {
	fuzzSeedEdits(f)
	fi := loadFuzzImages(f)
	f.Fuzz(func(t *testing.T, image byte, edits []byte) {
		orig := applyEdits(fi.images[int(image)%len(fi.images)], edits)
		guard(t, func() {
			mem := newMemStore(orig)
			mem.limit = int64(len(orig)) + 8<<20
			w, err := vhd.NewWritable(mem, int64(len(orig)))
			if err != nil {
				return
			}
			child := filepath.Join(fi.dir, "relinked.vhd")
			err = w.SetParent(context.Background(), fi.parent, &vhd.SetParentOptions{ChildPath: child})
			if mem.tooFar {
				t.Fatalf("SetParent wrote past %d bytes (file of %d)", mem.limit, len(orig))
			}
			if err != nil {
				if !bytes.Equal(mem.b, orig) {
					t.Fatalf("SetParent failed (%v) after changing the file", err)
				}
				return
			}
			rep, err := vhd.Check(context.Background(), bytes.NewReader(mem.b), int64(len(mem.b)), &vhd.CheckOptions{Name: child})
			if !rep.ValidSoFar() {
				t.Fatalf("relinked child fails check: %v", err)
			}
		})
	})
}
