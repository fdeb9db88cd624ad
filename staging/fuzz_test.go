//go:build linux

package staging

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vhdkit/vhdkit/chain"
	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

// field is a field of an on-disk structure: its offset and width.
type field struct{ off, width int }

var (
	footerFields = []field{{0, 8}, {8, 4}, {12, 4}, {16, 8}, {24, 4}, {28, 4}, {32, 4}, {36, 4}, {40, 8}, {48, 8},
		{56, 4}, {60, 4}, {64, 4}, {68, 16}, {84, 1}, {85, 1}, {86, 1}}
	headerFields = []field{{0, 8}, {8, 8}, {16, 8}, {24, 4}, {28, 4}, {32, 4}, {36, 4}, {40, 16}, {56, 4}, {60, 4},
		{64, 2}, {66, 2}, {126, 2}, {574, 2}}
	locatorFields = []field{{0, 4}, {4, 4}, {8, 4}, {12, 4}, {16, 8}}
)

// fuzzImage is the valid image the fuzz target mutates: a dynamic base and
// its child, as bytes.
type fuzzImage struct{ files [2][]byte }

func newFuzzImage(t testing.TB) *fuzzImage {
	d := t.TempDir()
	paths := vhdtest.Chain(t, d, 2, 4*mib, nil, func(i int) []vhdtest.Write {
		return []vhdtest.Write{vhdtest.Fill(uint64(50+i), int64(i)*mib+512, 8192)}
	})
	var im fuzzImage
	for i, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		im.files[i] = b
	}
	return &im
}

// mutate applies a program of 12-byte operations to copies of the image's
// files: [kind, file, a, b, value (8 bytes)]. Kinds pick a footer, header,
// BAT, locator entry or locator data field by structure, a raw byte, or a
// truncation; values are taken as they are, or as 0, the field's maximum,
// or the current value plus a small delta. Checksums are then fixed unless
// the first byte of prog is odd. It also returns the tar operations.
func (im *fuzzImage) mutate(prog []byte) (files [][]byte, tarOps []byte) {
	files = [][]byte{bytes.Clone(im.files[0]), bytes.Clone(im.files[1])}
	fix := len(prog) == 0 || prog[0]&1 == 0
	for len(prog) >= 12 {
		op := prog[:12]
		prog = prog[12:]
		kind, fi, a, b := op[0]%9, int(op[1]%2), int(op[2]), int(op[3])
		v := binary.BigEndian.Uint64(op[4:])
		f := files[fi]
		if len(f) < 1536 {
			continue
		}
		hdr := int64(binary.BigEndian.Uint64(f[16:24]))
		var at, width int
		switch kind {
		case 0: // the footer copy at 0 (and the primary with it)
			fl := footerFields[a%len(footerFields)]
			at, width = fl.off, fl.width
		case 1:
			fl := headerFields[a%len(headerFields)]
			at, width = int(min(hdr, int64(len(f))))+fl.off, fl.width
		case 2: // a BAT entry
			tab := int64(0)
			if hdr >= 0 && hdr+24 <= int64(len(f)) {
				tab = int64(binary.BigEndian.Uint64(f[hdr+16:]))
			}
			at, width = int(min(tab, int64(len(f))))+4*(a<<8|b)%2048, 4
		case 3: // a locator entry
			fl := locatorFields[b%len(locatorFields)]
			at, width = int(min(hdr, int64(len(f))))+576+24*(a%8)+fl.off, fl.width
		case 4: // a byte of locator data, at a locator's offset
			l := int(min(hdr, int64(len(f)))) + 576 + 24*(a%8) + 16
			if l+8 <= len(f) {
				at = int(min(binary.BigEndian.Uint64(f[l:]), uint64(len(f)))) + b
			}
			width = 1
		case 5: // a raw byte
			at, width = int(v>>8)%len(f), 1
			v &= 0xff
		case 6: // truncate
			files[fi] = f[:int(v%uint64(len(f)+1))]
			continue
		case 7, 8: // archive operations
			tarOps = append(tarOps, op[1], op[2])
			continue
		}
		if at < 0 || at+width > len(f) {
			continue
		}
		cur := make([]byte, 8)
		copy(cur[8-min(width, 8):], f[at:at+min(width, 8)])
		c := binary.BigEndian.Uint64(cur)
		switch (op[1] >> 1) % 4 {
		case 1:
			v = 0
		case 2:
			v = ^uint64(0)
		case 3:
			v = c + uint64(int64(int8(v)))
		}
		for i := width - 1; i >= 0; i-- {
			if i >= width-8 {
				f[at+i] = byte(v)
				v >>= 8
			} else {
				f[at+i] = byte(v)
			}
		}
		if kind == 0 && len(f) >= 512 {
			copy(f[len(f)-512:], f[:512])
		}
	}
	if fix {
		for _, f := range files {
			fixChecksums(f)
		}
	}
	return files, tarOps
}

// fixChecksums recomputes the checksums of both footers and the header.
func fixChecksums(f []byte) {
	sum := func(b []byte, at int) {
		binary.BigEndian.PutUint32(b[at:], 0)
		var s uint32
		for _, c := range b {
			s += uint32(c)
		}
		binary.BigEndian.PutUint32(b[at:], ^s)
	}
	if len(f) < 512 {
		return
	}
	sum(f[:512], 64)
	sum(f[len(f)-512:], 64)
	hdr := binary.BigEndian.Uint64(f[16:24])
	if hdr < uint64(len(f)) && hdr+1024 <= uint64(len(f)) {
		sum(f[hdr:hdr+1024], 36)
	}
}

// archive packs files as 0.vhd, 1.vhd, ... after the tar operations, each
// [what, arg]: rename a file, change its type, drop it, add a junk entry or
// a duplicate, or switch the header format.
func archive(files [][]byte, ops []byte) []byte {
	type entry struct {
		hdr  tar.Header
		data []byte
	}
	names := []string{"0.vhd", "1.vhd", "snap.vhd", "image.vhd", "base.vhd", "0.VHD", "2.vhd", "../1.vhd", "a/0.vhd", "swap.vhd", "x.vhd", "./0.vhd", "00.vhd", ""}
	types := []byte{tar.TypeSymlink, tar.TypeLink, tar.TypeDir, tar.TypeFifo, tar.TypeChar, tar.TypeGNUSparse, 'Z'}
	var entries []entry
	for i, f := range files {
		entries = append(entries, entry{tar.Header{Typeflag: tar.TypeReg, Name: "./" + names[i], Size: int64(len(f)), Mode: 0o644}, f})
	}
	format := tar.FormatGNU
	for i := 0; i+1 < len(ops); i += 2 {
		what, arg := ops[i]%6, int(ops[i+1])
		if len(entries) == 0 {
			break
		}
		e := &entries[arg%len(entries)]
		switch what {
		case 0:
			e.hdr.Name = names[arg%len(names)]
		case 1:
			e.hdr.Typeflag, e.hdr.Size, e.data = types[arg%len(types)], 0, nil
			e.hdr.Linkname = "0.vhd"
		case 2:
			entries = append(entries[:arg%len(entries)], entries[arg%len(entries)+1:]...)
		case 3:
			entries = append(entries, entry{tar.Header{Typeflag: tar.TypeReg, Name: "README", Size: 3, Mode: 0o644}, []byte("hi\n")})
		case 4:
			entries = append(entries, *e)
		case 5:
			format = tar.FormatPAX
		}
	}
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: "./", Mode: 0o755, Format: format})
	for _, e := range entries {
		e.hdr.Format = format
		if e.hdr.Typeflag == tar.TypeGNUSparse || e.hdr.Typeflag == 'Z' {
			e.hdr.Format = tar.FormatUnknown
		}
		if tw.WriteHeader(&e.hdr) != nil {
			continue
		}
		tw.Write(e.data)
	}
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

// cpuTime returns the CPU time (user and system) the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// fuzzMax keeps the largest wall time, CPU time and allocation of one
// Import call seen, and writes each new maximum to the file named by
// $VHDKIT_FUZZ_STATS, for reporting a long fuzzing run.
type fuzzMax struct {
	wall, cpu time.Duration
	alloc     int64
}

var fuzzStats fuzzMax

func (m *fuzzMax) record(wall, cpu time.Duration, alloc int64) {
	if wall <= m.wall && cpu <= m.cpu && alloc <= m.alloc {
		return
	}
	m.wall, m.cpu, m.alloc = max(m.wall, wall), max(m.cpu, cpu), max(m.alloc, alloc)
	if name := os.Getenv("VHDKIT_FUZZ_STATS"); name != "" {
		line := fmt.Sprintf("pid %d max wall %v cpu %v alloc %d KiB\n", os.Getpid(), m.wall, m.cpu, m.alloc>>10)
		if f, err := os.OpenFile(name, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
			f.WriteString(line)
			f.Close()
		}
	}
}

// FuzzImport imports archives of one or two VHDs made from a valid chain
// with fields of footers, headers, BATs and locators and the tar headers
// mutated. Whatever the input, Import must not panic or take over 2 s; a
// refused image leaves the SR empty; an accepted one is a chain that
// validates inside the SR; no staging area is ever left.
func FuzzImport(f *testing.F) {
	im := newFuzzImage(f)
	op := func(kind, file, a, b byte, v uint64) []byte {
		o := []byte{kind, file, a, b, 0, 0, 0, 0, 0, 0, 0, 0}
		binary.BigEndian.PutUint64(o[4:], v)
		return o
	}
	f.Add([]byte{})
	f.Add(op(2, 0, 0, 1, 1))                                       // a BAT entry pointing into the headers
	f.Add(op(3, 0, 0, 1, 0xfffffe00))                              // a locator's data_space
	f.Add(op(1, 2, 4, 0, 0))                                       // max_table_entries to 0
	f.Add(op(1, 4, 4, 0, 0))                                       // max_table_entries to all ones
	f.Add(op(0, 4, 9, 0, 0))                                       // current_size to all ones
	f.Add(op(0, 0, 15, 0, 1))                                      // the leaf hidden
	f.Add(append(op(6, 1, 0, 0, 5000), op(0, 0, 0, 0, 0)...))      // the base truncated
	f.Add(op(7, 1, 0, 0, 0))                                       // 1.vhd dropped... or renamed
	f.Add(op(8, 0, 1, 0, 0))                                       // a type changed
	f.Add(append([]byte{1}, op(5, 0, 0, 0, 0x200<<8|0xff)[1:]...)) // a raw byte, checksums left
	f.Fuzz(func(t *testing.T, prog []byte) {
		if len(prog) > 12*16 {
			return
		}
		files, ops := im.mutate(prog)
		data := archive(files, ops)
		sr := t.TempDir()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		cpu0 := cpuTime()
		start := time.Now()
		res, err := Import(ctx, bytes.NewReader(data), sr, &ImportOptions{NoSync: true})
		wall, cpu := time.Since(start), cpuTime()-cpu0
		// CPU time, not wall time, is the measure of work on a shared
		// machine; a wait (a blocking open) shows as wall time with the
		// context's deadline as the backstop.
		if cpu > 2*time.Second || wall > 8*time.Second {
			t.Fatalf("Import took %v of CPU, %v in all (err %v)", cpu, wall, err)
		}
		// What this input made Import allocate bounds what it needs
		// resident. (The worker's VmHWM is no measure: the fuzzing engine
		// itself holds ~100 MiB in a worker.)
		runtime.ReadMemStats(&after)
		alloc := int64(after.TotalAlloc - before.TotalAlloc)
		if alloc > 64*mib {
			t.Fatalf("Import allocated %d MiB for this input (err %v)", alloc/mib, err)
		}
		fuzzStats.record(wall, cpu, alloc)
		if len(prog) == 0 && err != nil {
			t.Fatalf("the unmutated image is refused: %v", err)
		}
		entries, rerr := os.ReadDir(sr)
		if rerr != nil {
			t.Fatal(rerr)
		}
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), Prefix) {
				t.Fatalf("staging area left: %s (err %v)", e.Name(), err)
			}
		}
		if err != nil {
			var se *Error
			if !errors.As(err, &se) {
				t.Errorf("error %T is not a *staging.Error: %v", err, err)
			}
			if len(entries) != 0 {
				t.Fatalf("refused import (%v) left %d files in the SR", err, len(entries))
			}
			return
		}
		if len(entries) != len(res.VDIs) {
			t.Fatalf("imported %d VDIs, the SR holds %d files", len(res.VDIs), len(entries))
		}
		c, err := chain.Validate(ctx, filepath.Join(sr, res.Leaf.UUID.String()+".vhd"), &chain.Options{Root: sr})
		if err != nil {
			t.Fatalf("accepted image does not validate in the SR: %v", err)
		}
		defer c.Close()
		buf := make([]byte, 64<<10)
		if _, err := c.Leaf().ReadAt(buf, 0); err != nil {
			t.Fatalf("reading the accepted leaf: %v", err)
		}
	})
}
