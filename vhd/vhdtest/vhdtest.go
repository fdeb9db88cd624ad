// Package vhdtest builds synthetic VHD files for tests: fixed, dynamic and
// differencing disks, chains of them, deterministic data patterns, and
// corruption of any field with or without a fixed-up checksum.
//
// Builders take a testing.TB and fail the test on error, so a test reads as
// a list of the files it needs.
package vhdtest

import (
	"crypto/sha1"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/vhdkit/vhdkit/vhd"
)

// MiB is a mebibyte, for sizes in tests.
const MiB = 1 << 20

// Epoch is the fixed creation time builders use, so that files are
// reproducible byte for byte.
var Epoch = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

// A Write is data to put into the virtual disk at Offset.
type Write struct {
	Offset int64
	Data   []byte
}

// Pattern returns n bytes of deterministic pseudo-random data for seed.
func Pattern(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	for i := n &^ 7; i < n; i++ {
		b[i] = byte(r.Uint32())
	}
	return b
}

// Fill returns a Write of n pattern bytes at off.
func Fill(seed uint64, off int64, n int) Write {
	return Write{Offset: off, Data: Pattern(seed, n)}
}

// Options tune a built file beyond its type and size.
type Options struct {
	BlockSize uint32      // 0 for 2 MiB
	Creator   vhd.Creator // zero for "tap"
	UUID      vhd.UUID    // zero for one derived from the file name
	Hidden    uint8
}

// deterministic UUID from a name, so rebuilt files are identical.
func nameUUID(name string) vhd.UUID {
	return NameUUID("vhdtest:" + name)
}

// NameUUID returns a name-based (version 5, SHA-1) UUID of name, so tests can
// give files identities that are the same on every run.
func NameUUID(name string) vhd.UUID {
	sum := sha1.Sum([]byte(name))
	var u vhd.UUID
	copy(u[:], sum[:16])
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	return u
}

// UUID parses s with vhd.ParseUUID and panics if it is not a UUID; it is
// for literals in tests.
func UUID(s string) vhd.UUID {
	u, err := vhd.ParseUUID(s)
	if err != nil {
		panic(err)
	}
	return u
}

func create(tb testing.TB, path string, o *vhd.CreateOptions, opt *Options, writes []Write) string {
	tb.Helper()
	if opt == nil {
		opt = &Options{}
	}
	o.BlockSize = opt.BlockSize
	o.Creator = opt.Creator
	if o.Creator != (vhd.Creator{}) && o.Creator != vhd.CreatorTap && o.CreatorVersion == 0 {
		o.CreatorVersion = 0x00050003
	}
	o.UUID = opt.UUID
	if o.UUID.IsZero() {
		o.UUID = nameUUID(filepath.Base(path))
	}
	if o.Time.IsZero() {
		o.Time = Epoch
	}
	o.Overwrite = true
	f, err := vhd.Create(path, o)
	if err != nil {
		tb.Fatalf("vhdtest: create %s: %v", path, err)
	}
	if o.Parent != nil && len(writes) > 0 {
		if p, err := vhd.Open(parentPathOf(path, o.Parent)); err == nil {
			defer p.Close()
			f.AttachParent(p)
		}
	}
	for _, w := range writes {
		if _, err := f.WriteAt(w.Data, w.Offset); err != nil {
			tb.Fatalf("vhdtest: write %d bytes at %d to %s: %v", len(w.Data), w.Offset, path, err)
		}
	}
	if opt.Hidden != 0 {
		if err := f.SetHidden(opt.Hidden); err != nil {
			tb.Fatalf("vhdtest: set hidden on %s: %v", path, err)
		}
	}
	if err := f.Close(); err != nil {
		tb.Fatalf("vhdtest: close %s: %v", path, err)
	}
	return path
}

func parentPathOf(child string, p *vhd.ParentInfo) string {
	return filepath.Join(filepath.Dir(child), filepath.FromSlash(p.Path))
}

// Dynamic creates a dynamic disk of size bytes at path holding writes, and
// returns path.
func Dynamic(tb testing.TB, path string, size int64, opt *Options, writes ...Write) string {
	return create(tb, path, &vhd.CreateOptions{Type: vhd.DiskDynamic, Size: size}, opt, writes)
}

// Fixed creates a fixed disk of size bytes at path holding writes, and
// returns path.
func Fixed(tb testing.TB, path string, size int64, opt *Options, writes ...Write) string {
	return create(tb, path, &vhd.CreateOptions{Type: vhd.DiskFixed, Size: size}, opt, writes)
}

// Child creates a differencing disk at path whose parent is the VHD at
// parent, linked as blktap's snapshot links it (relative locators, the
// parent's UUID, name and mtime), holding writes; it returns path. Partial
// sectors in writes merge with the parent's data.
func Child(tb testing.TB, path, parent string, opt *Options, writes ...Write) string {
	tb.Helper()
	info, err := vhd.ParentInfoFor(path, parent)
	if err != nil {
		tb.Fatalf("vhdtest: parent of %s: %v", path, err)
	}
	return create(tb, path, &vhd.CreateOptions{Type: vhd.DiskDifferencing, Parent: info}, opt, writes)
}

// Chain creates a chain of depth files in dir named by name(i) for i = 0
// (the leaf) to depth-1 (the base, a dynamic disk of size bytes). Each link
// i gets writes(i), and every link but the leaf is hidden, as XenServer
// keeps interior nodes. It returns the paths, leaf first.
func Chain(tb testing.TB, dir string, depth int, size int64, name func(i int) string, writes func(i int) []Write) []string {
	tb.Helper()
	if name == nil {
		name = func(i int) string { return strconv.Itoa(i) + ".vhd" }
	}
	if writes == nil {
		writes = func(int) []Write { return nil }
	}
	paths := make([]string, depth)
	for i := depth - 1; i >= 0; i-- {
		p := name(i)
		if !filepath.IsAbs(p) && filepath.Dir(p) == "." {
			p = filepath.Join(dir, p)
		}
		opt := &Options{}
		if i > 0 {
			opt.Hidden = 1
		}
		if i == depth-1 {
			Dynamic(tb, p, size, opt, writes(i)...)
		} else {
			Child(tb, p, paths[i+1], opt, writes(i)...)
		}
		paths[i] = p
	}
	return paths
}
