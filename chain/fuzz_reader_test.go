package chain_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime/metrics"
	"strings"
	"testing"
	"time"

	"github.com/vhdkit/vhdkit/chain"
	"github.com/vhdkit/vhdkit/vhd"
	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

// A fuzzChain is a small valid chain the reader fuzz target mutates: the
// paths of its pristine files, leaf first, and where their structures lie.
// Each exec copies the files and mutates the copies on disk, so that the
// fuzzing process holds none of their bytes.
type fuzzChain struct {
	paths []string
	names []string
	info  []fuzzLayout
}

// fuzzLayout is where the structures of one file lie in its valid form.
type fuzzLayout struct {
	dynamic   bool
	header    int64   // offset of the dynamic header
	bat       int64   // offset of the BAT
	entries   int     // BAT entries
	blocks    []int64 // byte offset of each allocated block's bitmap
	batmap    int64   // offset of the batmap header, or -1
	batmapMap int64   // offset of the batmap's map
}

// fuzzChains builds the chains the target starts from: blktap's layout (2
// MiB blocks, batmaps, three links, partial blocks and a full one),
// another creator's 4 KiB blocks, and a fixed base under a child.
func fuzzChains(tb testing.TB) []*fuzzChain {
	dir := tb.(interface{ TempDir() string }).TempDir()
	var out []*fuzzChain
	add := func(paths ...string) {
		fc := &fuzzChain{}
		for _, p := range paths {
			f, err := vhd.Open(p)
			if err != nil {
				tb.Fatal(err)
			}
			lay := fuzzLayout{batmap: -1}
			if f.Header != nil {
				lay.dynamic = true
				lay.header = int64(f.Footer.DataOffset)
				lay.bat = int64(f.Header.TableOffset)
				lay.entries = int(f.Header.MaxTableEntries)
				bat, _ := f.BAT()
				for _, e := range bat {
					if e != vhd.Unallocated {
						lay.blocks = append(lay.blocks, int64(e)*512)
					}
				}
				if bm, err := f.Batmap(); err == nil {
					lay.batmap, lay.batmapMap = bm.HeaderOffset, int64(bm.Header.Offset)
				}
			}
			f.Close()
			fc.paths = append(fc.paths, p)
			fc.names = append(fc.names, filepath.Base(p))
			fc.info = append(fc.info, lay)
		}
		out = append(out, fc)
	}
	// blktap's layout.
	d := filepath.Join(dir, "tap")
	os.Mkdir(d, 0o755)
	// One block each, to keep the files (and the fuzzing process) small.
	base := vhdtest.Dynamic(tb, filepath.Join(d, "base.vhd"), 4*mib, nil, vhdtest.Fill(1, 0, int(2*mib)))
	mid := vhdtest.Child(tb, filepath.Join(d, "mid.vhd"), base, &vhdtest.Options{Hidden: 1}, vhdtest.Fill(3, 512, 1024))
	leaf := vhdtest.Child(tb, filepath.Join(d, "leaf.vhd"), mid, nil, vhdtest.Fill(4, 2*mib+512, 1024), vhdtest.Fill(5, 3*mib+4096, 512))
	add(leaf, mid, base)
	// Small blocks of another creator.
	d = filepath.Join(dir, "small")
	os.Mkdir(d, 0o755)
	opt := &vhdtest.Options{BlockSize: 4096, Creator: vhd.Creator{'v', 'k', 't', 0}}
	base = vhdtest.Dynamic(tb, filepath.Join(d, "base.vhd"), 64<<10, opt, vhdtest.Fill(6, 0, 8192), vhdtest.Fill(7, 40<<10, 700))
	leaf = vhdtest.Child(tb, filepath.Join(d, "leaf.vhd"), base, opt, vhdtest.Fill(8, 4096-512, 1536), vhdtest.Fill(9, 50<<10, 512))
	add(leaf, base)
	// A fixed base.
	d = filepath.Join(dir, "fixed")
	os.Mkdir(d, 0o755)
	base = vhdtest.Fixed(tb, filepath.Join(d, "base.vhd"), 2*mib, nil, vhdtest.Fill(10, 0, 8192))
	leaf = vhdtest.Child(tb, filepath.Join(d, "leaf.vhd"), base, nil, vhdtest.Fill(11, 4096, 512))
	add(leaf, base)
	return out
}

// Field offsets and widths.
var (
	fuzzFooterFields = [][2]int{{0, 8}, {8, 4}, {12, 4}, {16, 8}, {24, 4}, {28, 4}, {32, 4}, {36, 4},
		{40, 8}, {48, 8}, {56, 4}, {60, 4}, {64, 4}, {68, 8}, {76, 8}, {84, 1}, {85, 1}, {86, 1}}
	fuzzHeaderFields = func() [][2]int {
		f := [][2]int{{0, 8}, {8, 8}, {16, 8}, {24, 4}, {28, 4}, {32, 4}, {36, 4}, {40, 8}, {48, 8},
			{56, 4}, {60, 4}, {64, 2}, {66, 2}, {70, 2}}
		for i := range 8 {
			o := 576 + 24*i
			f = append(f, [2]int{o, 4}, [2]int{o + 4, 4}, [2]int{o + 8, 4}, [2]int{o + 12, 4}, [2]int{o + 16, 8})
		}
		return f
	}()
	fuzzBatmapFields = [][2]int{{0, 8}, {8, 8}, {16, 4}, {20, 4}, {24, 4}, {28, 1}}
	// Values at the edges of what the fields hold.
	fuzzValues = []uint64{0, 1, 2, 7, 8, 511, 512, 513, 1024, 1536, 4096, 1 << 16, 1 << 20, 2 << 20, 2<<20 + 512,
		4 << 20, 1 << 28, 1<<31 - 1, 1 << 31, math.MaxUint32 - 1, math.MaxUint32, 1 << 32, 1 << 41,
		vhd.MaxSize, vhd.MaxSize + 512, 1 << 62, math.MaxInt64 - 511, 1 << 63, math.MaxUint64 - 511, math.MaxUint64}
)

// A fuzzFile is a copy of a chain's file being mutated.
type fuzzFile struct {
	f    *os.File
	size int64
}

// put writes v's low width bytes big-endian at off, if they fit.
func (ff *fuzzFile) put(off int64, width int, v uint64) {
	if off < 0 || off+int64(width) > ff.size {
		return
	}
	var w [8]byte
	binary.BigEndian.PutUint64(w[:], v)
	ff.f.WriteAt(w[8-width:], off)
}

// fix recomputes the checksum of the footer (n = 512) or header (n =
// 1024) at off.
func (ff *fuzzFile) fix(off int64, n int) {
	if off < 0 || off+int64(n) > ff.size {
		return
	}
	b := make([]byte, n)
	if _, err := ff.f.ReadAt(b, off); err != nil {
		return
	}
	var enc []byte
	if n == 512 {
		var ft vhd.Footer
		ft.UnmarshalBinary(b)
		ft.UpdateChecksum()
		enc, _ = ft.MarshalBinary()
	} else {
		var h vhd.Header
		h.UnmarshalBinary(b)
		h.UpdateChecksum()
		enc, _ = h.MarshalBinary()
	}
	ff.f.WriteAt(enc, off)
}

// mutate copies the files of fc into dir and applies the mutations data
// encodes: records of 12 bytes, each a file, a structure, a field, a
// choice of value and 8 bytes of value. A field byte with its top bit set
// recomputes the structure's checksum after the write.
func (fc *fuzzChain) mutate(dir string, data []byte) error {
	files := make([]fuzzFile, len(fc.paths))
	for i, p := range fc.paths {
		src, err := os.Open(p)
		if err != nil {
			return err
		}
		dst, err := os.Create(filepath.Join(dir, fc.names[i]))
		if err == nil {
			_, err = io.Copy(dst, src) // copy_file_range: no bytes in this process
		}
		src.Close()
		if err != nil {
			return err
		}
		defer dst.Close()
		st, err := dst.Stat()
		if err != nil {
			return err
		}
		files[i] = fuzzFile{dst, st.Size()}
	}
	for n := 0; len(data) >= 12 && n < 32; n++ {
		rec := data[:12]
		data = data[12:]
		li := int(rec[0]) % len(files)
		ff, lay := &files[li], fc.info[li]
		fix := rec[2]&0x80 != 0
		field := int(rec[2] & 0x7F)
		v := binary.BigEndian.Uint64(rec[4:])
		if rec[3] != 0 {
			v = fuzzValues[int(rec[3])%len(fuzzValues)]
			if rec[3]&0x80 != 0 { // relative to the file's size
				v = uint64(ff.size) + v%1024 - 512
			}
		}
		size := ff.size
		switch rec[1] % 9 {
		case 0, 1: // the primary footer, or the copy at offset 0
			off := size - 512
			if rec[1]%9 == 1 {
				off = 0
			}
			f := fuzzFooterFields[field%len(fuzzFooterFields)]
			ff.put(off+int64(f[0]), f[1], v)
			if fix {
				ff.fix(off, 512)
			}
		case 2: // the dynamic header
			if !lay.dynamic {
				continue
			}
			f := fuzzHeaderFields[field%len(fuzzHeaderFields)]
			ff.put(lay.header+int64(f[0]), f[1], v)
			if fix {
				ff.fix(lay.header, 1024)
			}
		case 3: // a BAT entry
			if !lay.dynamic || lay.entries == 0 {
				continue
			}
			ff.put(lay.bat+4*int64(int(rec[2])%lay.entries), 4, v)
		case 4: // a byte of an allocated block's bitmap
			if len(lay.blocks) == 0 {
				continue
			}
			ff.put(lay.blocks[field%len(lay.blocks)]+int64(v>>8)%512, 1, v)
		case 5: // the batmap header
			if lay.batmap < 0 {
				continue
			}
			f := fuzzBatmapFields[field%len(fuzzBatmapFields)]
			ff.put(lay.batmap+int64(f[0]), f[1], v)
		case 6: // a byte of the batmap's map
			if lay.batmap < 0 {
				continue
			}
			ff.put(lay.batmapMap+int64(field), 1, v)
		case 7: // any byte
			if size > 0 {
				ff.put(int64(v>>8%uint64(size)), 1, v)
			}
		case 8: // truncate or extend the file
			n := int64(v % uint64(size+4096))
			if err := ff.f.Truncate(n); err != nil {
				return err
			}
			ff.size = n
		}
	}
	return nil
}

// FuzzChainRead mutates fields of the footers, headers, BATs, bitmaps and
// batmaps of small valid chains, then walks each in both modes and reads
// the leaf's disk through every sector range, in pieces that cross sector
// and block boundaries: nothing may panic or hang; the read-through engine
// and the leaf's File.ReadAt must agree wherever both succeed; and a chain
// that Validate accepts must read whole without error. (WriteRaw runs the
// same engine; leaving it out keeps each exec's allocations small.)
func FuzzChainRead(f *testing.F) {
	chains := fuzzChains(f)
	rec := func(file, kind, field, choice byte, v uint64) []byte {
		b := []byte{0, file, kind, field, choice}
		return binary.BigEndian.AppendUint64(b, v)[1:]
	}
	for ci := range chains {
		f.Add(uint8(ci), []byte{})
		f.Add(uint8(ci), rec(0, 0, 0x80|9, 23, 0))                                   // leaf's current size 2040 GiB, checksum fixed
		f.Add(uint8(ci), rec(1, 0, 0x80|9, 26, 0))                                   // parent's current size near 2^63
		f.Add(uint8(ci), rec(0, 2, 0x80|4, 16, 0))                                   // max table entries 2^28
		f.Add(uint8(ci), rec(0, 3, 0, 0, 0x10))                                      // a BAT entry into the headers
		f.Add(uint8(ci), rec(1, 3, 1, 0x80|1, 0))                                    // a BAT entry at the end of the file
		f.Add(uint8(ci), rec(0, 4, 0, 0, 0xFFFF))                                    // a bitmap byte set
		f.Add(uint8(ci), rec(0, 6, 0, 0, 0xFF))                                      // the batmap says full
		f.Add(uint8(ci), rec(0, 2, 0x80|15, 0, 0xFFFFFFFF))                          // locator 0 data space
		f.Add(uint8(ci), rec(1, 8, 0, 0, 4000))                                      // the parent truncated
		f.Add(uint8(ci), rec(1, 0, 0x80|11, 0, 2))                                   // the parent becomes fixed
		f.Add(uint8(ci), rec(0, 2, 0x80|5, 10, 0))                                   // block size 4096 in the leaf
		f.Add(uint8(ci), append(rec(0, 2, 0x80|2, 0, 1<<40), rec(0, 1, 0, 0, 0)...)) // BAT far away, backup zeroed
	}
	dir := f.TempDir()
	slow := slowLog()
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		defer slow(time.Now(), heapAllocs(), which, data)
		fc := chains[int(which)%len(chains)]
		if err := fc.mutate(dir, data); err != nil {
			t.Fatal(err)
		}
		defer func() {
			for _, n := range fc.names {
				os.Remove(filepath.Join(dir, n))
			}
		}()
		leaf := filepath.Join(dir, fc.names[0])
		ctx := context.Background()
		for _, mode := range []chain.Mode{chain.Confined, chain.Compat} {
			c, err := chain.Walk(ctx, leaf, &chain.Options{Root: dir, Mode: mode})
			if err != nil {
				continue
			}
			readThrough(t, c, false)
			c.Close()
		}
		c, err := chain.Validate(ctx, leaf, &chain.Options{Root: dir})
		if err != nil {
			return
		}
		defer c.Close()
		readThrough(t, c, true)
	})
}

// slowLog returns a function that, when VHDKIT_FUZZ_LOG names a file,
// appends to it each exec slower than any before or allocating more than
// 8 MiB (its duration, the bytes it allocated, the process's memory, and
// its input), so a long fuzzing run can show that no exec took over 2 s nor
// the process more than 64 MiB. It does nothing otherwise.
func slowLog() func(start time.Time, allocs0 uint64, which uint8, data []byte) {
	path := os.Getenv("VHDKIT_FUZZ_LOG")
	if path == "" {
		return func(time.Time, uint64, uint8, []byte) {}
	}
	var slowest time.Duration
	return func(start time.Time, allocs0 uint64, which uint8, data []byte) {
		d := time.Since(start)
		allocs := heapAllocs() - allocs0
		if d <= slowest && allocs <= 8<<20 {
			return
		}
		slowest = max(slowest, d)
		// VmHWM counts the fuzzing engine's shared memory too; RssAnon
		// and the Go runtime's total are the process's own.
		var mem []string
		if st, err := os.ReadFile("/proc/self/status"); err == nil {
			for _, line := range strings.Split(string(st), "\n") {
				for _, k := range []string{"VmHWM:", "RssAnon:", "RssFile:"} {
					if strings.HasPrefix(line, k) {
						mem = append(mem, k+" "+strings.Join(strings.Fields(line)[1:], " "))
					}
				}
			}
		}
		sample := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/objects:bytes"}}
		metrics.Read(sample)
		mem = append(mem, fmt.Sprintf("go total: %d kB, heap objects: %d kB", sample[0].Value.Uint64()>>10, sample[1].Value.Uint64()>>10))
		f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return
		}
		fmt.Fprintf(f, "pid %d: %v, allocated %d kB, %s, chain %d, input %x\n",
			os.Getpid(), d, allocs>>10, strings.Join(mem, ", "), which, data)
		f.Close()
	}
}

// heapAllocs returns the bytes the process has allocated so far.
func heapAllocs() uint64 {
	sample := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(sample)
	return sample[0].Value.Uint64()
}

// readThrough reads the leaf's disk through c in pieces that cross sector
// and block boundaries, with Chain.ReaderAt and with the leaf's
// File.ReadAt, and compares them. A disk larger than 16 MiB is read at its
// edges and at sampled offsets only. With valid, every read must succeed.
func readThrough(t *testing.T, c *chain.Chain, valid bool) {
	size := c.VirtualSize()
	var offs []int64
	if size <= 16*mib {
		for off := int64(0); off < size; off += 64<<10 - 512 - 7 {
			offs = append(offs, off)
		}
	} else {
		for _, o := range []int64{0, 512, 2*mib - 512, size/2 + 3, size - 64<<10, size - 512, size - 1} {
			offs = append(offs, max(o, 0))
		}
	}
	offs = append(offs, size, size+1, math.MaxInt64-100)
	r := c.ReaderAt()
	a := make([]byte, 64<<10)
	b := make([]byte, 64<<10)
	for _, off := range offs {
		na, erra := r.ReadAt(a, off)
		nb, errb := c.Leaf().ReadAt(b, off)
		if erra == io.EOF {
			erra = nil
		}
		if errb == io.EOF {
			errb = nil
		}
		if valid && erra != nil && !errors.Is(erra, vhd.ErrTooLarge) {
			t.Fatalf("validated chain: ReaderAt(%d): %v", off, erra)
		}
		if erra == nil && errb == nil {
			if na != nb {
				t.Fatalf("ReadAt(%d): engine read %d bytes, File %d", off, na, nb)
			}
			if !bytes.Equal(a[:na], b[:nb]) {
				t.Fatalf("ReadAt(%d) of %d: %s", off, size, firstDiff(a[:na], b[:nb]))
			}
		}
	}
}
