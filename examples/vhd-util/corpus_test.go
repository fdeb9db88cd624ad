package main

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vhdkit/vhdkit/vhd"
	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

// The hostile corpus: files made field by field wrong, and the commands run
// on each. TestReference runs it through this command and blktap's vhd-util
// and compares; TestCorpusNoCrash runs it through the built command alone.

// A corpusCase is one input: the files setup makes in an empty directory,
// and the commands run on a fresh copy of it, one copy per command.
type corpusCase struct {
	name  string
	setup func(t *testing.T, dir string)
	cmds  [][]string
}

// The files of the corpus. d.vhd is a 10 MiB dynamic disk holding blocks 0
// and 2 (5 BAT entries: the BAT at 1536, the batmap header at 2048, the map
// at 2560, block 0's bitmap at 3072 and its data at 4096); c.vhd is a child
// of p.vhd holding block 1; q.vhd is another 10 MiB dynamic disk; f.vhd a
// 4 MiB fixed disk.
const (
	corpusSize   = 10 * mib
	batmapHdrOff = 2048
	batOff       = 1536
	headerOff    = 512
)

func baseDynamic(t *testing.T, dir string) string {
	return vhdtest.Dynamic(t, filepath.Join(dir, "d.vhd"), corpusSize, nil,
		vhdtest.Fill(1, 0, 4096), vhdtest.Fill(2, 5*mib, 512))
}

func baseChain(t *testing.T, dir string) string {
	vhdtest.Dynamic(t, filepath.Join(dir, "p.vhd"), corpusSize, nil, vhdtest.Fill(3, 0, 4096))
	vhdtest.Dynamic(t, filepath.Join(dir, "q.vhd"), corpusSize, nil)
	return vhdtest.Child(t, filepath.Join(dir, "c.vhd"), filepath.Join(dir, "p.vhd"), nil, vhdtest.Fill(4, 3*mib, 4096))
}

func baseFixed(t *testing.T, dir string) string {
	return vhdtest.Fixed(t, filepath.Join(dir, "f.vhd"), 4*mib, nil, vhdtest.Fill(5, 0, 4096))
}

// Commands run on a mutated file of each kind.
func dynamicCmds(n string) [][]string {
	return [][]string{
		{"query", "-n", n, "-vspfmdaS"},
		{"check", "-n", n},
		{"set", "-n", n, "-f", "hidden", "-v", "1"},
		{"snapshot", "-n", "s.vhd", "-p", n},
	}
}

var childCmds = [][]string{
	{"query", "-n", "c.vhd", "-vspfmdaS"},
	{"query", "-n", "c.vhd", "-pu"},
	{"check", "-n", "c.vhd", "-p"},
	{"set", "-n", "c.vhd", "-f", "hidden", "-v", "1"},
	{"modify", "-n", "c.vhd", "-p", "q.vhd"},
	{"snapshot", "-n", "s.vhd", "-p", "c.vhd"},
}

var fixedCmds = [][]string{
	{"query", "-n", "f.vhd", "-vspfmdaS"},
	{"check", "-n", "f.vhd"},
	{"set", "-n", "f.vhd", "-f", "hidden", "-v", "1"},
	{"snapshot", "-n", "s.vhd", "-p", "f.vhd"},
}

// putBE writes the low size bytes of v big-endian at b[off:]; an 8- or
// 16-byte field of all ones is written for ^0.
func putBE(b []byte, off, size int, v uint64) {
	for i := size - 1; i >= 0; i-- {
		if size-1-i >= 8 {
			if v == ^uint64(0) {
				b[off+i] = 0xff
			} else {
				b[off+i] = 0
			}
			continue
		}
		b[off+i] = byte(v)
		v >>= 8
	}
}

// A field is a byte range of an on-disk structure and the values it is set to.
type field struct {
	name string
	off  int
	size int
	vals []uint64
}

const all1 = ^uint64(0)

// vhdNow is the current time as a VHD timestamp.
func vhdNow() uint64 { return uint64(time.Now().Unix() - 946684800) }

func footerFields() []field {
	now := vhdNow()
	return []field{
		{"cookie", 0, 8, []uint64{0, all1}},
		{"features", 8, 4, []uint64{0, 1, 3, 4, all1}},
		{"version", 12, 4, []uint64{0, 0x0000ffff, 0x00010001, all1}},
		{"data_offset", 16, 8, []uint64{0, 1, 1536, 1 << 40, 1<<63 - 1, 1 << 63, all1}},
		{"timestamp", 24, 4, []uint64{0, now + 1000, now + 7200, all1}},
		{"creator_app", 28, 4, []uint64{0, all1}},
		{"creator_version", 32, 4, []uint64{0, 1, 0x00000001, 0x00010001, 0x00010003, 0x00010004, all1}},
		{"creator_os", 36, 4, []uint64{0, all1}},
		{"original_size", 40, 8, []uint64{0, 1 << 63, all1}},
		{"current_size", 48, 8, []uint64{0, 1, 512, 2*mib + 1, 20 * mib, vhd.MaxSize, vhd.MaxSize + 1, 1 << 41, 1<<63 - 1, 1 << 63, all1}},
		{"geometry", 56, 4, []uint64{0, 0x01000101, all1}},
		{"disk_type", 60, 4, []uint64{0, 1, 2, 3, 4, 5, 6, all1}},
		{"uuid", 68, 16, []uint64{0, all1}},
		{"saved", 84, 1, []uint64{1, 2, 127, 128, 255}},
		{"hidden", 85, 1, []uint64{1, 2, 127, 128, 200, 255}},
		{"reserved[0]", 86, 1, []uint64{1, 255}},
		{"reserved[1]", 87, 1, []uint64{1, 255}},
		{"reserved[425]", 511, 1, []uint64{1, 255}},
	}
}

func headerFields() []field {
	now := vhdNow()
	return []field{
		{"cookie", 0, 8, []uint64{0, all1}},
		{"data_offset", 8, 8, []uint64{0, 512, all1 - 1}},
		{"table_offset", 16, 8, []uint64{0, 512, 1024, 1537, 2048, 4096, 1 << 20, 1 << 40, 1 << 63, all1}},
		{"version", 24, 4, []uint64{0, 0x00010001, all1}},
		{"max_table_entries", 28, 4, []uint64{0, 1, 4, 5, 6, 128, 129, 1 << 20, 1 << 28, 1 << 30, 1<<31 - 1, all1}},
		{"block_size", 32, 4, []uint64{0, 512, 1 << 20, 2<<20 - 512, 2<<20 + 512, 4 << 20, 1 << 31, all1}},
		{"checksum", 36, 4, nil},
		{"parent_uuid", 40, 16, []uint64{all1}},
		{"parent_timestamp", 56, 4, []uint64{now + 7200, all1}},
		{"reserved1", 60, 4, []uint64{1, all1}},
		{"parent_name[0]", 64, 1, []uint64{'a'}},
		{"parent_name[1]", 65, 1, []uint64{'a'}},
		{"locator[0].code", 576, 4, []uint64{0x57326B75}},
		{"locator[7].code", 576 + 7*24, 4, []uint64{0x4D616358, 1}},
		{"locator[7].data_space", 576 + 7*24 + 4, 4, []uint64{1}},
		{"reserved2[0]", 768, 1, []uint64{1}},
		{"reserved2[1]", 769, 1, []uint64{1}},
		{"reserved2[255]", 1023, 1, []uint64{1}},
	}
}

func locatorFields() []field {
	var fs []field
	for _, slot := range []int{0, 1, 2} {
		o := 576 + slot*24
		p := fmt.Sprintf("locator[%d].", slot)
		fs = append(fs,
			field{p + "code", o, 4, []uint64{0, 0x4D616320, 0x57693272, 0x5769326B, 0x57327275, 0x57326B75, 0x4D616358, 1, all1}},
			field{p + "data_space", o + 4, 4, []uint64{0, 1, 2, 511, 512, 513, 1024, 1 << 20, all1}},
			field{p + "data_length", o + 8, 4, []uint64{0, 1, 2, 511, 512, 513, all1}},
			field{p + "reserved", o + 12, 4, []uint64{1, all1}},
			field{p + "data_offset", o + 16, 8, []uint64{0, 1, 512, 3584, 4096, 1 << 20, 1 << 40, 1 << 63, all1}},
		)
	}
	return fs
}

func batmapFields() []field {
	return []field{
		{"cookie", 0, 8, []uint64{0, all1}},
		{"offset", 8, 8, []uint64{0, 1, 2048, 2561, 3072, 1 << 20, 1 << 40, all1}},
		{"size", 16, 4, []uint64{0, 1, 2, 8, 1 << 20, all1}},
		{"version", 20, 4, []uint64{0, 0x00010001, 0x00010003, all1}},
		{"checksum", 24, 4, []uint64{0, all1}},
		{"marker", 28, 1, []uint64{1, 2, 127, 128, 200, 255}},
		{"keyhash.cookie", 29, 1, []uint64{1, 2}},
		{"reserved[0]", 94, 1, []uint64{1}},
	}
}

// patchFooterField sets a footer field in the copies named by which.
func patchFooterField(which vhdtest.Footers, fix bool, f field, v uint64) func(*testing.T, string) {
	return func(t *testing.T, p string) {
		vhdtest.PatchFooter(t, p, which, fix, func(ft *vhd.Footer) {
			b, _ := ft.MarshalBinary()
			putBE(b, f.off, f.size, v)
			ft.UnmarshalBinary(b)
		})
	}
}

func patchHeaderField(fix bool, f field, v uint64) func(*testing.T, string) {
	return func(t *testing.T, p string) {
		vhdtest.PatchHeader(t, p, fix, func(h *vhd.Header) {
			b, _ := h.MarshalBinary()
			putBE(b, f.off, f.size, v)
			h.UnmarshalBinary(b)
		})
	}
}

func patchRaw(off int64, size int, v uint64) func(*testing.T, string) {
	return func(t *testing.T, p string) {
		b := make([]byte, size)
		putBE(b, 0, size, v)
		vhdtest.Patch(t, p, off, b...)
	}
}

func truncateTo(n int64) func(*testing.T, string) {
	return func(t *testing.T, p string) {
		if err := os.Truncate(p, n); err != nil {
			t.Fatal(err)
		}
	}
}

func appendBytes(b []byte) func(*testing.T, string) {
	return func(t *testing.T, p string) {
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.Write(b); err != nil {
			t.Fatal(err)
		}
	}
}

// mutate builds base in the directory and applies the edits to its file.
func mutate(base func(*testing.T, string) string, edits ...func(*testing.T, string)) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		p := base(t, dir)
		for _, e := range edits {
			e(t, p)
		}
	}
}

func hexv(v uint64) string {
	if v == all1 {
		return "max"
	}
	return fmt.Sprintf("%#x", v)
}

// corpus returns every case: the fields of every structure at 0, at their
// limits, one past and all ones; truncations at every structure boundary;
// junk; poisoned parents; and the argument errors of every command.
func corpus() []corpusCase {
	var cs []corpusCase
	add := func(name string, setup func(*testing.T, string), cmds [][]string) {
		cs = append(cs, corpusCase{name: name, setup: setup, cmds: cmds})
	}
	dyn := dynamicCmds("d.vhd")

	for _, f := range footerFields() {
		for _, v := range f.vals {
			n := fmt.Sprintf("footer.%s=%s", f.name, hexv(v))
			add(n, mutate(baseDynamic, patchFooterField(vhdtest.Both, true, f, v)), dyn)
			add(n+"/primary", mutate(baseDynamic, patchFooterField(vhdtest.Primary, true, f, v)),
				[][]string{{"query", "-n", "d.vhd", "-vspfmdaS"}, {"check", "-n", "d.vhd"}, {"check", "-n", "d.vhd", "-i"}})
			add(n+"/child", mutate(baseChain, patchFooterField(vhdtest.Both, true, f, v)), childCmds)
			add(n+"/parent", mutate(func(t *testing.T, dir string) string {
				baseChain(t, dir)
				return filepath.Join(dir, "p.vhd")
			}, patchFooterField(vhdtest.Both, true, f, v)), childCmds)
			add(n+"/fixed", mutate(baseFixed, patchFooterField(vhdtest.Primary, true, f, v)), fixedCmds)
		}
	}
	add("footer.checksum wrong", mutate(baseDynamic, patchFooterField(vhdtest.Both, false, field{off: 64, size: 4}, 1)), dyn)
	add("footer.checksum wrong/primary", mutate(baseDynamic, patchFooterField(vhdtest.Primary, false, field{off: 64, size: 4}, 1)), dyn)
	add("footer.cookie v_poison", mutate(baseDynamic, func(t *testing.T, p string) {
		vhdtest.PatchFooter(t, p, vhdtest.Both, true, func(f *vhd.Footer) { copy(f.Cookie[:], vhd.DisabledCookie) })
	}), dyn)
	add("footer.cookie v_poison/parent", mutate(func(t *testing.T, dir string) string {
		baseChain(t, dir)
		return filepath.Join(dir, "p.vhd")
	}, func(t *testing.T, p string) {
		vhdtest.PatchFooter(t, p, vhdtest.Both, true, func(f *vhd.Footer) { copy(f.Cookie[:], vhd.DisabledCookie) })
	}), childCmds)
	// Old tap creator versions: hidden set without a checksum update.
	for _, ver := range []uint64{0x00000001, 0x00010001, 0x00010002} {
		add(fmt.Sprintf("footer.old tap %#x hidden unsummed", ver), mutate(baseDynamic,
			patchFooterField(vhdtest.Both, true, field{off: 32, size: 4}, ver),
			patchFooterField(vhdtest.Both, false, field{off: 85, size: 1}, 1)), dyn)
	}

	for _, f := range headerFields() {
		if f.vals == nil {
			add("header."+f.name+" wrong", mutate(baseDynamic, patchHeaderField(false, field{off: 36, size: 4}, 1)), dyn)
			continue
		}
		for _, v := range f.vals {
			n := fmt.Sprintf("header.%s=%s", f.name, hexv(v))
			add(n, mutate(baseDynamic, patchHeaderField(true, f, v)), dyn)
			add(n+"/child", mutate(baseChain, patchHeaderField(true, f, v)), childCmds)
		}
	}
	for _, f := range locatorFields() {
		for _, v := range f.vals {
			add(fmt.Sprintf("header.%s=%s/child", f.name, hexv(v)), mutate(baseChain, patchHeaderField(true, f, v)), childCmds)
		}
	}
	for _, f := range batmapFields() {
		for _, v := range f.vals {
			n := fmt.Sprintf("batmap.%s=%s", f.name, hexv(v))
			add(n, mutate(baseDynamic, patchRaw(batmapHdrOff+int64(f.off), f.size, v)),
				append(dyn, []string{"set", "-n", "d.vhd", "-f", "marker", "-v", "7"}))
		}
	}
	add("batmap.map block 1 full", mutate(baseDynamic, patchRaw(2560, 1, 0x40)), dyn)
	add("batmap.map block 0 full", mutate(baseDynamic, patchRaw(2560, 1, 0x80)), dyn)
	add("batmap.map past the blocks", mutate(baseDynamic, patchRaw(2561, 1, 0x80)), dyn)

	// BAT entries: 0, into the headers, past EOF, overlapping, at the limit.
	for _, v := range []uint64{0, 1, 3, 4, 6, 7, 8, 0x1000, 0x100000, 0x7fffffff, 0xfffffffe} {
		add(fmt.Sprintf("bat[1]=%s", hexv(v)), mutate(baseDynamic, patchRaw(batOff+4, 4, v)), dyn)
		add(fmt.Sprintf("bat[4]=%s", hexv(v)), mutate(baseDynamic, patchRaw(batOff+16, 4, v)), dyn)
	}
	add("bat[5] past the size", mutate(baseDynamic, patchRaw(batOff+20, 4, 6)), dyn)
	add("bat[1]=bat[0]", mutate(baseDynamic, patchRaw(batOff+4, 4, 6)), dyn)
	add("bat[0]=max", mutate(baseDynamic, patchRaw(batOff, 4, 0xffffffff)), dyn)

	// Truncation at every structure boundary, and bytes past the footer.
	full := int64(4096 + 2*mib + 4096 + 2*mib + 512) // two blocks
	for _, n := range []int64{0, 1, 100, 511, 512, 513, 1023, 1024, 1535, 1536, 2047, 2048, 2559, 2560, 3071, 3072, 4095, 4096, 4096 + mib, full - 4096 - 2*mib - 512, full - 1024, full - 513, full - 512, full - 511, full - 1} {
		add(fmt.Sprintf("truncate d.vhd to %d", n), mutate(baseDynamic, truncateTo(n)), dyn)
	}
	add("d.vhd with 511 bytes more", mutate(baseDynamic, appendBytes(make([]byte, 511))), dyn)
	add("d.vhd with 512 zero bytes more", mutate(baseDynamic, appendBytes(make([]byte, 512))), dyn)
	add("d.vhd with 1 MiB of junk more", mutate(baseDynamic, appendBytes(vhdtest.Pattern(9, mib))), dyn)
	for _, n := range []int64{0, 511, 512, 2*mib - 1, 2 * mib, 4*mib + 511} {
		add(fmt.Sprintf("truncate f.vhd to %d", n), mutate(baseFixed, truncateTo(n)), fixedCmds)
	}
	for _, n := range []int64{0, 511, 512, 1536, 2048, 3072, 3584, 4096, 4608} {
		add(fmt.Sprintf("truncate c.vhd to %d", n), mutate(baseChain, truncateTo(n)), childCmds)
		add(fmt.Sprintf("truncate p.vhd to %d", n), mutate(func(t *testing.T, dir string) string {
			baseChain(t, dir)
			return filepath.Join(dir, "p.vhd")
		}, truncateTo(n)), childCmds)
	}

	// Junk and short files.
	junk := func(b []byte) func(*testing.T, string) { return writeFile("d.vhd", b) }
	for _, j := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"one byte", []byte{0}},
		{"511 zero bytes", make([]byte, 511)},
		{"512 zero bytes", make([]byte, 512)},
		{"512 bytes of 0xff", bytesOf(0xff, 512)},
		{"8 KiB of junk", vhdtest.Pattern(7, 8192)},
		{"1 MiB of zeros", make([]byte, mib)},
		{"conectix alone", []byte("conectix")},
		{"conectix sector", append([]byte("conectix"), make([]byte, 504)...)},
	} {
		add("junk: "+j.name, junk(j.data), dyn)
	}
	add("junk: a footer alone", func(t *testing.T, dir string) {
		p := baseDynamic(t, dir)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		writeFile("d.vhd", b[len(b)-512:])(t, dir)
	}, dyn)
	add("junk: footer and header only", func(t *testing.T, dir string) {
		p := baseDynamic(t, dir)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		writeFile("d.vhd", append(b[:1536:1536], b[len(b)-512:]...))(t, dir)
	}, dyn)
	add("junk: a directory", mkdir("d.vhd"), dyn)
	add("junk: missing", nil, dyn)
	add("junk: symlink to itself", func(t *testing.T, dir string) {
		if err := os.Symlink("d.vhd", filepath.Join(dir, "d.vhd")); err != nil {
			t.Fatal(err)
		}
	}, dyn)

	// Poisoned parents.
	parentIs := func(edit func(*testing.T, string)) func(*testing.T, string) {
		return func(t *testing.T, dir string) {
			baseChain(t, dir)
			edit(t, dir)
		}
	}
	add("parent missing", parentIs(func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, "p.vhd")) }), childCmds)
	add("parent is junk", parentIs(func(t *testing.T, dir string) { writeFile("p.vhd", vhdtest.Pattern(3, 8192))(t, dir) }), childCmds)
	add("parent is empty", parentIs(func(t *testing.T, dir string) { writeFile("p.vhd", nil)(t, dir) }), childCmds)
	add("parent is a directory", parentIs(func(t *testing.T, dir string) {
		os.Remove(filepath.Join(dir, "p.vhd"))
		mkdir("p.vhd")(t, dir)
	}), childCmds)
	add("parent is another disk", parentIs(func(t *testing.T, dir string) {
		os.Remove(filepath.Join(dir, "p.vhd"))
		vhdtest.Dynamic(t, filepath.Join(dir, "p.vhd"), corpusSize, nil)
	}), childCmds)
	add("parent is a fixed disk", parentIs(func(t *testing.T, dir string) {
		os.Remove(filepath.Join(dir, "p.vhd"))
		vhdtest.Fixed(t, filepath.Join(dir, "p.vhd"), corpusSize, nil)
	}), childCmds)
	add("parent is the child", parentIs(func(t *testing.T, dir string) {
		os.Remove(filepath.Join(dir, "p.vhd"))
		if err := os.Symlink("c.vhd", filepath.Join(dir, "p.vhd")); err != nil {
			t.Fatal(err)
		}
	}), [][]string{{"query", "-n", "c.vhd", "-vspfaS"}, {"query", "-n", "c.vhd", "-pu"}, {"check", "-n", "c.vhd"}})
	add("parent size 2^63", parentIs(func(t *testing.T, dir string) {
		patchFooterField(vhdtest.Both, true, field{off: 48, size: 8}, 1<<63)(t, filepath.Join(dir, "p.vhd"))
	}), childCmds)
	add("grandparent of size 2^63", func(t *testing.T, dir string) {
		baseChain(t, dir)
		vhdtest.Child(t, filepath.Join(dir, "g.vhd"), filepath.Join(dir, "c.vhd"), nil)
		patchFooterField(vhdtest.Both, true, field{off: 48, size: 8}, 1<<63)(t, filepath.Join(dir, "p.vhd"))
	}, [][]string{{"query", "-n", "g.vhd", "-vspfmdaS"}, {"check", "-n", "g.vhd", "-p"}, {"snapshot", "-n", "s.vhd", "-p", "g.vhd"}})
	add("empty child of an empty child", func(t *testing.T, dir string) {
		vhdtest.Dynamic(t, filepath.Join(dir, "p.vhd"), corpusSize, nil)
		vhdtest.Child(t, filepath.Join(dir, "c.vhd"), filepath.Join(dir, "p.vhd"), nil)
		vhdtest.Child(t, filepath.Join(dir, "g.vhd"), filepath.Join(dir, "c.vhd"), nil)
	}, [][]string{{"snapshot", "-n", "s.vhd", "-p", "g.vhd"}, {"snapshot", "-n", "s.vhd", "-p", "g.vhd", "-e"},
		{"snapshot", "-n", "s.vhd", "-p", "g.vhd", "-l", "2"}, {"snapshot", "-n", "s.vhd", "-p", "g.vhd", "-e", "-l", "3"},
		{"query", "-n", "g.vhd", "-d"}, {"check", "-n", "g.vhd", "-p"}})

	// Flags and arguments of every command.
	flagCase := func(name string, setup func(*testing.T, string), cmds ...[]string) { add("args: "+name, setup, cmds) }
	chainSetup := func(t *testing.T, dir string) { baseChain(t, dir); baseFixed(t, dir) }
	var q [][]string
	for _, fl := range []string{"-v", "-s", "-p", "-f", "-m", "-d", "-a", "-S", "-u", "-pu", "-h", "-vspfmdaSu", "-x", "-P", "-c", "-n", ""} {
		for _, n := range []string{"c.vhd", "p.vhd", "f.vhd"} {
			q = append(q, []string{"query", "-n", n, fl})
		}
	}
	q = append(q, []string{"query"}, []string{"query", "-v"}, []string{"query", "-n", "c.vhd", "extra"}, []string{"query", "-n"},
		[]string{"query", "-n", "c.vhd", "--", "-v"}, []string{"query", "--debug", "-n", "c.vhd", "-v"}, []string{"query", "-n", "", "-v"})
	flagCase("query", chainSetup, q...)
	var ck [][]string
	for _, fl := range []string{"", "-i", "-I", "-t", "-p", "-b", "-B", "-s", "-B -b", "-B -s", "-b -s", "-h", "-x", "-ipItb"} {
		for _, n := range []string{"c.vhd", "p.vhd", "f.vhd"} {
			cmd := []string{"check", "-n", n}
			if fl != "" {
				cmd = append(cmd, strings.Fields(fl)...)
			}
			ck = append(ck, cmd)
		}
	}
	ck = append(ck, []string{"check"}, []string{"check", "-n"}, []string{"check", "-n", "c.vhd", "extra"}, []string{"check", "-n", "missing.vhd"},
		[]string{"check", "-n", "."}, []string{"check", "-n", ""})
	flagCase("check", chainSetup, ck...)
	flagCase("snapshot", chainSetup,
		[]string{"snapshot", "-n", "s.vhd", "-p", "c.vhd"}, []string{"snapshot", "-n", "s.vhd", "-p", "f.vhd"},
		[]string{"snapshot", "-n", "s.vhd", "-p", "f.vhd", "-m"}, []string{"snapshot", "-n", "s.vhd", "-p", "c.vhd", "-e"},
		[]string{"snapshot", "-n", "s.vhd", "-p", "c.vhd", "-l", "1"}, []string{"snapshot", "-n", "s.vhd", "-p", "c.vhd", "-l", "2"},
		[]string{"snapshot", "-n", "s.vhd", "-p", "c.vhd", "-l", "3"}, []string{"snapshot", "-n", "s.vhd", "-p", "c.vhd", "-l", "0"},
		[]string{"snapshot", "-n", "s.vhd", "-p", "c.vhd", "-l", "-1"}, []string{"snapshot", "-n", "s.vhd", "-p", "c.vhd", "-l", "junk"},
		[]string{"snapshot", "-n", "s.vhd", "-p", "c.vhd", "-S", "100"}, []string{"snapshot", "-n", "s.vhd", "-p", "c.vhd", "-S", "4"},
		[]string{"snapshot", "-n", "s.vhd", "-p", "c.vhd", "-S", "10"}, []string{"snapshot", "-n", "s.vhd", "-p", "c.vhd", "-S", "junk"},
		[]string{"snapshot", "-n", "s.vhd", "-p", "c.vhd", "-S", "2088962"},
		[]string{"snapshot", "-n", "c.vhd", "-p", "c.vhd"}, []string{"snapshot", "-n", "p.vhd", "-p", "c.vhd"},
		[]string{"snapshot", "-n", "s.vhd", "-p", "missing.vhd"}, []string{"snapshot", "-n", "s.vhd", "-p", "."},
		[]string{"snapshot", "-n", "missing/s.vhd", "-p", "c.vhd"}, []string{"snapshot", "-n", "s.vhd"}, []string{"snapshot", "-p", "c.vhd"},
		[]string{"snapshot", "-h"}, []string{"snapshot", "-x"}, []string{"snapshot"}, []string{"snapshot", "-n", "s.vhd", "-p", "c.vhd", "x"},
		[]string{"snapshot", "-n", "s.vhd", "-p", "f.vhd", "-m", "-e"},
	)
	var cr [][]string
	for _, a := range [][]string{
		{"-s", "10"}, {"-s", "0"}, {"-s", "1"}, {"-s", "101"}, {"-s", "-1"}, {"-s", "junk"}, {"-s", ""}, {"-s", " 4"}, {"-s", "+4"}, {"-s", "4x"},
		{"-s", "2088960"}, {"-s", "2088961"}, {"-s", "2088962"}, {"-s", "4194304"}, {"-s", "17592186044415"}, {"-s", "17592186044416"},
		{"-s", "18446744073709551615"}, {"-s", "18446744073709551616"},
		{"-s", "10", "-S", "10"}, {"-s", "10", "-S", "4"}, {"-s", "10", "-S", "100"}, {"-s", "10", "-S", "junk"}, {"-s", "10", "-S", "0"},
		{"-s", "10", "-S", "2088962"}, {"-s", "0", "-S", "1"},
		{"-s", "4", "-r"}, {"-s", "0", "-r"}, {"-s", "4", "-r", "-S", "10"}, {"-s", "4", "-r", "-S", "2"},
		{"-h"}, {"-x"}, {}, {"-s"}, {"-s", "4", "extra"},
	} {
		cr = append(cr, append([]string{"create", "-n", "n.vhd"}, a...))
	}
	cr = append(cr, []string{"create", "-s", "4"}, []string{"create", "-n", "missing/n.vhd", "-s", "4"}, []string{"create", "-n", ".", "-s", "4"},
		[]string{"create", "-n", "", "-s", "4"}, []string{"create", "-n", "c.vhd", "-s", "4"},
		[]string{"create", "-n", strings.Repeat("x", 1022), "-s", "4"}, []string{"create", "-n", strings.Repeat("x", 1023), "-s", "4"},
		[]string{"create", "-n", strings.Repeat("x", 255), "-s", "4"}, []string{"create", "-n", strings.Repeat("x", 256), "-s", "4"})
	flagCase("create", chainSetup, cr...)
	var st [][]string
	for _, v := range []string{"0", "1", "2", "127", "128", "200", "255", "256", "-1", "-256", "2147483647", "2147483648", "4294967296",
		"99999999999999999999", "junk", "", " 1", "+1", "0x10", "1x", "010"} {
		st = append(st, []string{"set", "-n", "c.vhd", "-f", "hidden", "-v", v}, []string{"set", "-n", "c.vhd", "-f", "marker", "-v", v})
	}
	st = append(st, []string{"set", "-n", "f.vhd", "-f", "hidden", "-v", "1"}, []string{"set", "-n", "f.vhd", "-f", "marker", "-v", "1"},
		[]string{"set", "-n", "c.vhd", "-f", "bogus", "-v", "1"}, []string{"set", "-n", "c.vhd", "-f", "hidden"}, []string{"set", "-n", "c.vhd", "-v", "1"},
		[]string{"set", "-f", "hidden", "-v", "1"}, []string{"set", "-h"}, []string{"set", "-x"}, []string{"set"},
		[]string{"set", "-n", "missing.vhd", "-f", "hidden", "-v", "1"}, []string{"set", "-n", ".", "-f", "hidden", "-v", "1"},
		[]string{"set", "-n", "c.vhd", "-f", "hidden", "-v", "1", "extra"}, []string{"set", "-n", "c.vhd", "-f", "bogus", "-v", "300"},
		[]string{"set", "-n", "missing.vhd", "-f", "hidden", "-v", "300"}, []string{"set", "-n", "c.vhd", "-f", "", "-v", "1"})
	flagCase("set", chainSetup, st...)
	flagCase("modify", func(t *testing.T, dir string) {
		chainSetup(t, dir)
		writeFile("r.img", make([]byte, corpusSize))(t, dir)
		mkdir("sub")(t, dir)
		vhdtest.Dynamic(t, filepath.Join(dir, "sub", strings.Repeat("l", 200)+".vhd"), corpusSize, nil)
	},
		[]string{"modify", "-n", "c.vhd", "-p", "q.vhd"}, []string{"modify", "-n", "c.vhd", "-p", "p.vhd"},
		[]string{"modify", "-n", "c.vhd", "-p", "r.img", "-m"}, []string{"modify", "-n", "c.vhd", "-p", "q.vhd", "-m"},
		[]string{"modify", "-n", "c.vhd", "-p", "f.vhd"}, []string{"modify", "-n", "c.vhd", "-p", "c.vhd"},
		[]string{"modify", "-n", "c.vhd", "-p", "missing.vhd"}, []string{"modify", "-n", "c.vhd", "-p", "."},
		[]string{"modify", "-n", "c.vhd", "-p", "r.img"}, []string{"modify", "-n", "p.vhd", "-p", "q.vhd"},
		[]string{"modify", "-n", "f.vhd", "-p", "q.vhd"}, []string{"modify", "-n", "c.vhd", "-p", "sub/" + strings.Repeat("l", 200) + ".vhd"},
		[]string{"modify", "-n", "c.vhd"}, []string{"modify", "-p", "q.vhd"}, []string{"modify", "-h"}, []string{"modify", "-x"}, []string{"modify"},
		[]string{"modify", "-n", "c.vhd", "-p", "q.vhd", "extra"}, []string{"modify", "-n", "missing.vhd", "-p", "q.vhd"},
		[]string{"modify", "-n", "c.vhd", "-m"},
	)
	flagCase("top level", nil, []string{}, []string{"frobnicate"}, []string{"--debug"}, []string{"query", "--debug"})
	return cs
}

func bytesOf(b byte, n int) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = b
	}
	return out
}

var _ = binary.BigEndian
