package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/vhdkit/vhdkit/vhd"
	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

func TestCreate(t *testing.T) {
	cu := usage(createUsage)
	runCases(t, []cliCase{
		{name: "dynamic 100 MiB", args: []string{"create", "-n", "a.vhd", "-s", "100"},
			then: seq(expectSize("a.vhd", 3584), expect(result{Stdout: lines("100", "3584", "a.vhd has no parent", "hidden: 0", "marker: 0", "chain depth: 1", "0", "100")}, "query", "-n", "a.vhd", "-vspfmdaS"))},
		{name: "rounds up to 2 MiB", args: []string{"create", "-s101", "-na.vhd"},
			then: expect(result{Stdout: lines("102", "102")}, "query", "-n", "a.vhd", "-vS")},
		{name: "size zero", args: []string{"create", "-n", "a.vhd", "-s", "0"},
			then: seq(expectSize("a.vhd", 3584), expect(result{Stdout: lines("0")}, "query", "-n", "a.vhd", "-v"))},
		{name: "junk size is zero", args: []string{"create", "-n", "a.vhd", "-s", "junk"},
			then: expect(result{Stdout: lines("0")}, "query", "-n", "a.vhd", "-v")},
		{name: "fixed", args: []string{"create", "-n", "f.vhd", "-s", "3", "-r"},
			then: seq(expectSize("f.vhd", 4*mib+512), expect(result{Stdout: lines("4", "4194816", "error reading bat: -22"), Code: 22}, "query", "-n", "f.vhd", "-vsa"))},
		{name: "metadata preallocation", args: []string{"create", "-n", "a.vhd", "-s", "10", "-S", "2048"},
			then: expect(result{Stdout: lines("10", "0", "2048")}, "query", "-n", "a.vhd", "-vSa")},
		{name: "-S equal to -s", args: []string{"create", "-n", "a.vhd", "-s", "10", "-S", "10"},
			then: expect(result{Stdout: lines("10", "10")}, "query", "-n", "a.vhd", "-vS")},
		{name: "-S smaller than -s", args: []string{"create", "-n", "a.vhd", "-s", "10", "-S", "4"},
			want: result{Stdout: "Error: <-S size> must be greater than <-s size>\n", Code: 22}, then: expectAbsent("a.vhd")},
		{name: "replaces an existing file", setup: writeFile("a.vhd", vhdtest.Pattern(1, 1<<20)), args: []string{"create", "-n", "a.vhd", "-s", "4"},
			then: seq(expectSize("a.vhd", 3584), expect(result{Stdout: lines("4")}, "query", "-n", "a.vhd", "-v"))},
		{name: "debug ignored", args: []string{"create", "--debug", "-n", "a.vhd", "-s", "4"}, then: expectSize("a.vhd", 3584)},
		{name: "missing size", args: []string{"create", "-n", "a.vhd"}, want: result{Stdout: cu, Code: 22}, then: expectAbsent("a.vhd")},
		{name: "missing name", args: []string{"create", "-s", "4"}, want: result{Stdout: cu, Code: 22}},
		{name: "help exits 22", args: []string{"create", "-h"}, want: result{Stdout: cu, Code: 22}},
		{name: "unknown option", args: []string{"create", "-n", "a.vhd", "-s", "4", "-x"},
			want: result{Stdout: cu, Stderr: "create: invalid option -- 'x'\n", Code: 22}, then: expectAbsent("a.vhd")},
		{name: "missing directory", args: []string{"create", "-n", "no/a.vhd", "-s", "4"},
			want: result{Stderr: "no/a.vhd: failed to create: -2\n", Code: 2}},
		{name: "into a directory", setup: mkdir("d"), args: []string{"create", "-n", "d", "-s", "4"},
			want: result{Stderr: "d: failed to create: -21\n", Code: 21}},
		{name: "name too long", args: []string{"create", "-n", string(bytes.Repeat([]byte("x"), 1023)), "-s", "4"},
			want: result{Code: 36}},
		{name: "larger than 2040 GiB", args: []string{"create", "-n", "a.vhd", "-s", "2088962"},
			want: result{Stderr: "a.vhd: failed to create: -22\n", Code: 22}, then: expectAbsent("a.vhd")},
	})
}

func TestSet(t *testing.T) {
	su := usage(setUsage)
	runCases(t, []cliCase{
		{name: "hidden", setup: dynamic("a.vhd", 4*mib, vhdtest.Fill(1, 0, 4096)), args: []string{"set", "-n", "a.vhd", "-f", "hidden", "-v", "1"},
			then: expect(result{Stdout: lines("hidden: 1")}, "query", "-n", "a.vhd", "-f")},
		{name: "unhide", setup: func(t *testing.T, dir string) {
			vhdtest.Dynamic(t, filepath.Join(dir, "a.vhd"), 4*mib, &vhdtest.Options{Hidden: 1})
		}, args: []string{"set", "-n", "a.vhd", "-f", "hidden", "-v", "0"},
			then: expect(result{Stdout: lines("hidden: 0")}, "query", "-n", "a.vhd", "-f")},
		{name: "hidden restores a missing primary footer", setup: func(t *testing.T, dir string) {
			p := vhdtest.Dynamic(t, filepath.Join(dir, "a.vhd"), 4*mib, nil)
			if err := os.Truncate(p, 3072); err != nil {
				t.Fatal(err)
			}
		}, args: []string{"set", "-n", "a.vhd", "-f", "hidden", "-v", "1"},
			then: seq(expectSize("a.vhd", 3584), expect(result{Stdout: lines("hidden: 1")}, "query", "-n", "a.vhd", "-f"))},
		{name: "hidden on fixed", setup: fixed("f.vhd", 2*mib), args: []string{"set", "-n", "f.vhd", "-f", "hidden", "-v", "1"},
			then: seq(expectSize("f.vhd", 2*mib+512), expect(result{Stdout: lines("hidden: 1")}, "query", "-n", "f.vhd", "-f"))},
		{name: "2 is accepted", setup: dynamic("a.vhd", 4*mib), args: []string{"set", "-n", "a.vhd", "-f", "hidden", "-v", "2"},
			then: expect(result{Stdout: lines("hidden: 2")}, "query", "-n", "a.vhd", "-f")},
		{name: "junk value is 0", setup: func(t *testing.T, dir string) {
			vhdtest.Dynamic(t, filepath.Join(dir, "a.vhd"), 4*mib, &vhdtest.Options{Hidden: 1})
		}, args: []string{"set", "-n", "a.vhd", "-f", "hidden", "-v", "yes"},
			then: expect(result{Stdout: lines("hidden: 0")}, "query", "-n", "a.vhd", "-f")},
		{name: "leading digits count", setup: dynamic("a.vhd", 4*mib), args: []string{"set", "-na.vhd", "-fhidden", "-v1x"},
			then: expect(result{Stdout: lines("hidden: 1")}, "query", "-n", "a.vhd", "-f")},
		{name: "marker", setup: dynamic("a.vhd", 4*mib), args: []string{"set", "-n", "a.vhd", "-f", "marker", "-v", "1"},
			then: expect(result{Stdout: lines("hidden: 0", "marker: 1")}, "query", "-n", "a.vhd", "-fm")},
		{name: "value too large", setup: dynamic("a.vhd", 4*mib), args: []string{"set", "-n", "a.vhd", "-f", "hidden", "-v", "256"},
			want: result{Stdout: "invalid value 256\n" + su, Code: 22}, then: expect(result{Stdout: lines("hidden: 0")}, "query", "-n", "a.vhd", "-f")},
		{name: "negative value", setup: dynamic("a.vhd", 4*mib), args: []string{"set", "-n", "a.vhd", "-f", "hidden", "-v", "-1"},
			want: result{Stdout: "invalid value -1\n" + su, Code: 22}},
		{name: "invalid field", setup: dynamic("a.vhd", 4*mib), args: []string{"set", "-n", "a.vhd", "-f", "Hidden", "-v", "1"},
			want: result{Stdout: "invalid field Hidden\n" + su, Code: 22}},
		{name: "missing value", args: []string{"set", "-n", "a.vhd", "-f", "hidden"}, want: result{Stdout: su, Code: 22}},
		{name: "help exits 22", args: []string{"set", "-h"}, want: result{Stdout: su, Code: 22}},
		{name: "missing file", args: []string{"set", "-n", "a.vhd", "-f", "hidden", "-v", "1"},
			want: result{Stdout: "error opening a.vhd: -2\n", Code: 2}},
		{name: "empty file", setup: writeFile("a.vhd", nil), args: []string{"set", "-n", "a.vhd", "-f", "hidden", "-v", "1"},
			want: result{Stdout: "error opening a.vhd: -32\n", Code: 32}},
		{name: "poisoned", setup: func(t *testing.T, dir string) {
			p := vhdtest.Dynamic(t, filepath.Join(dir, "a.vhd"), 4*mib, nil)
			vhdtest.PatchFooter(t, p, vhdtest.Both, true, func(f *vhd.Footer) { copy(f.Cookie[:], vhd.DisabledCookie) })
		}, args: []string{"set", "-n", "a.vhd", "-f", "hidden", "-v", "1"},
			want: result{Stdout: "error opening a.vhd: -22\n", Code: 22},
			then: expect(result{Stdout: lines("hidden: 0")}, "query", "-n", "a.vhd", "-f")},
	})
}

func TestModify(t *testing.T) {
	mu := usage(modifyUsage)
	twoParents := seq(dynamic("p.vhd", 20*mib), dynamic("q.vhd", 20*mib), child("c.vhd", "p.vhd", vhdtest.Fill(4, 0, 4096)))
	runCases(t, []cliCase{
		{name: "new parent", setup: twoParents, args: []string{"modify", "-n", "c.vhd", "-p", "q.vhd"},
			then: expect(result{Stdout: lines("$D/q.vhd", "chain depth: 2", "1")}, "query", "-n", "c.vhd", "-pda")},
		{name: "new parent, absolute", setup: twoParents, args: []string{"modify", "--debug", "-n", "$D/c.vhd", "-p", "$D/q.vhd"},
			then: expect(result{Stdout: lines("./q.vhd")}, "query", "-n", "c.vhd", "-pu")},
		{name: "parent in another directory", setup: seq(twoParents, mkdir("sub"), rename("q.vhd", "sub/q.vhd")),
			args: []string{"modify", "-n", "c.vhd", "-p", "sub/q.vhd"},
			then: expect(result{Stdout: lines("./sub/q.vhd")}, "query", "-n", "c.vhd", "-pu")},
		{name: "raw parent", setup: seq(twoParents, writeFile("r.img", make([]byte, 20*mib))), args: []string{"modify", "-n", "c.vhd", "-p", "r.img", "-m"},
			then: expect(result{Stdout: lines("$D/r.img", "chain depth: 2")}, "query", "-n", "c.vhd", "-pd")},
		{name: "not a differencing disk", setup: twoParents, args: []string{"modify", "-n", "p.vhd", "-p", "q.vhd"},
			want: result{Stdout: "failed to set parent to 'q.vhd': -22\n", Code: 22}},
		{name: "missing new parent", setup: twoParents, args: []string{"modify", "-n", "c.vhd", "-p", "none.vhd"},
			want: result{Stdout: "failed to set parent to 'none.vhd': -2\n", Code: 2},
			then: expect(result{Stdout: lines("$D/p.vhd")}, "query", "-n", "c.vhd", "-p")},
		{name: "missing child", args: []string{"modify", "-n", "c.vhd", "-p", "p.vhd"},
			want: result{Stdout: "error opening c.vhd: -2\n", Code: 2}},
		{name: "nothing to do", setup: twoParents, args: []string{"modify", "-n", "c.vhd"}},
		{name: "missing name", args: []string{"modify", "-p", "p.vhd"}, want: result{Stdout: mu, Code: 22}},
		{name: "help exits 22", args: []string{"modify", "-h"}, want: result{Stdout: mu, Code: 22}},
		{name: "-s below the data", setup: twoParents, args: []string{"modify", "-n", "c.vhd", "-s", "1000000"},
			want: result{Stdout: "failed to set physical size to 1000000: -22\n", Code: 22}},
	})
}

func TestSnapshot(t *testing.T) {
	su := usage(snapshotUsage)
	// base holds data; mid is an empty child of base.
	baseMid := seq(dynamic("base.vhd", 20*mib, vhdtest.Fill(1, 0, 4096)), child("mid.vhd", "base.vhd"))
	runCases(t, []cliCase{
		{name: "of a dynamic disk", setup: dynamic("p.vhd", 20*mib), args: []string{"snapshot", "-n", "c.vhd", "-p", "p.vhd"},
			then: seq(expectSize("c.vhd", 5120), expect(result{Stdout: lines("20", "$D/p.vhd", "hidden: 0", "chain depth: 2", "0")}, "query", "-n", "c.vhd", "-vpfda"))},
		{name: "skips an empty parent", setup: baseMid, args: []string{"snapshot", "-n", "c.vhd", "-p", "mid.vhd"},
			then: expect(result{Stdout: lines("$D/base.vhd", "chain depth: 2")}, "query", "-n", "c.vhd", "-pd")},
		{name: "-e links the empty parent", setup: baseMid, args: []string{"snapshot", "-e", "-n", "c.vhd", "-p", "mid.vhd"},
			then: expect(result{Stdout: lines("$D/mid.vhd", "chain depth: 3")}, "query", "-n", "c.vhd", "-pd")},
		{name: "depth limit", setup: baseMid, args: []string{"snapshot", "-e", "-n", "c.vhd", "-p", "mid.vhd", "-l", "2"},
			want: result{Stdout: "snapshot depth exceeded: current depth: 2, limit: 2\n", Code: 28}, then: expectAbsent("c.vhd")},
		{name: "depth limit met", setup: baseMid, args: []string{"snapshot", "-e", "-n", "c.vhd", "-p", "mid.vhd", "-l3"},
			then: expect(result{Stdout: lines("chain depth: 3")}, "query", "-n", "c.vhd", "-d")},
		{name: "parent one directory up", setup: seq(mkdir("sub"), dynamic("p.vhd", 4*mib)), args: []string{"snapshot", "-n", "sub/c.vhd", "-p", "p.vhd"},
			then: expect(result{Stdout: lines("../p.vhd")}, "query", "-n", "sub/c.vhd", "-pu")},
		{name: "of a fixed disk", setup: fixed("f.vhd", 4*mib), args: []string{"snapshot", "-n", "c.vhd", "-p", "f.vhd"},
			then: expect(result{Stdout: lines("4", "$D/f.vhd", "chain depth: 2")}, "query", "-n", "c.vhd", "-vpd")},
		{name: "raw parent", setup: writeFile("r.img", make([]byte, 6*mib)), args: []string{"snapshot", "-n", "c.vhd", "-p", "r.img", "-m"},
			then: expect(result{Stdout: lines("6", "$D/r.img", "chain depth: 2")}, "query", "-n", "c.vhd", "-vpd")},
		{name: "metadata preallocation", setup: dynamic("p.vhd", 20*mib), args: []string{"snapshot", "-n", "c.vhd", "-p", "p.vhd", "-S", "1024"},
			then: expect(result{Stdout: lines("20", "1024")}, "query", "-n", "c.vhd", "-vS")},
		{name: "missing parent", args: []string{"snapshot", "-n", "c.vhd", "-p", "p.vhd"},
			want: result{Code: 2}, then: expectAbsent("c.vhd")},
		{name: "missing parent name", args: []string{"snapshot", "-n", "c.vhd"}, want: result{Stdout: su, Code: 22}},
		{name: "help exits 0", args: []string{"snapshot", "-h"}, want: result{Stdout: su}},
		{name: "unknown option", args: []string{"snapshot", "-n", "c.vhd", "-p", "p.vhd", "-r"},
			want: result{Stdout: su, Stderr: "snapshot: invalid option -- 'r'\n", Code: 22}},
	})

	// The parent is never written.
	t.Run("parent untouched", func(t *testing.T) {
		dir := tempDir(t)
		p := vhdtest.Dynamic(t, filepath.Join(dir, "p.vhd"), 4*mib, &vhdtest.Options{Hidden: 1}, vhdtest.Fill(2, 0, 8192))
		before := snapshotBytes(t, p)
		if r := invoke("snapshot", "-n", "c.vhd", "-p", "p.vhd"); r.Code != 0 {
			t.Fatalf("snapshot: %+v", r)
		}
		if !bytes.Equal(before, snapshotBytes(t, p)) {
			t.Error("snapshot changed the parent")
		}
	})
}
