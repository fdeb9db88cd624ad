package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/vhdkit/vhdkit/vhd"
	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

// interruptedResize leaves name grown to size MiB (the table too) with
// the journal jname of that grow, as a crash just before resize -j removes
// its journal leaves them; writes go into the grown disk afterwards.
func interruptedResize(name, jname string, size int64, writes ...vhdtest.Write) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		p := filepath.Join(dir, name)
		orig, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		f, err := vhd.OpenFile(p, os.O_RDWR)
		if err != nil {
			t.Fatal(err)
		}
		j := vhd.Journal{UUID: f.Footer.UUID, OldSize: f.VirtualSize(), OldFileSize: int64(len(orig)), NewSize: size << 20}
		copy(j.OldFooter[:], orig[len(orig)-vhd.FooterSize:])
		copy(j.OldHeader[:], orig[f.Footer.DataOffset:])
		b, _ := j.MarshalBinary()
		if err := os.WriteFile(filepath.Join(dir, jname), b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := f.Grow(context.Background(), size<<20, &vhd.GrowOptions{GrowTable: true}); err != nil {
			t.Fatal(err)
		}
		for _, w := range writes {
			if _, err := f.WriteAt(w.Data, w.Offset); err != nil {
				t.Fatal(err)
			}
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// patchFile flips bits of the byte at off of name.
func patchFile(name string, off int64, x byte) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		p := filepath.Join(dir, name)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		b[off] ^= x
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRevert(t *testing.T) {
	ru := usage(revertUsage)
	w := []vhdtest.Write{vhdtest.Fill(1, 0, 4096), vhdtest.Fill(2, 5*mib, 8192)}
	a := []string{"a.vhd"}
	grown := seq(dynamic("a.vhd", 10*mib, w...), interruptedResize("a.vhd", "j", 100))
	ours := "vhd-util's revert reads blktap's journal format, not vhdkit's"
	runRefCases(t, []refCase{
		{cliCase: cliCase{name: "help", args: []string{"revert", "-h"}, want: result{Stdout: ru, Code: 22}}},
		{cliCase: cliCase{name: "no journal", args: []string{"revert", "-n", "a.vhd"}, want: result{Stdout: ru, Code: 22}}},
		{cliCase: cliCase{name: "sm revert, nothing to revert", setup: dynamic("a.vhd", 4*mib), args: []string{"revert", "--debug", "-n", "a.vhd", "-j", "j"},
			want: result{Stdout: "opening journal failed: -2\n", Code: 2}}, files: a},
		{cliCase: cliCase{name: "sm revert of an interrupted resize", setup: grown, args: []string{"revert", "--debug", "-n", "a.vhd", "-j", "j"},
			then: seq(expect(result{Stdout: lines("10")}, "query", "-n", "a.vhd", "-v"), expect(result{Stdout: "a.vhd is valid\n"}, "check", "-n", "a.vhd"),
				expectSound("a.vhd", imageOf(10*mib, w...)), expectAbsent("j"))}, differs: ours},
		{cliCase: cliCase{name: "revert, then resize again", setup: grown, args: []string{"revert", "-n", "a.vhd", "-j", "j"},
			then: seq(expect(result{}, "resize", "-n", "a.vhd", "-s", "300", "-j", "j"), expect(result{Stdout: lines("300")}, "query", "-n", "a.vhd", "-v"),
				expectSound("a.vhd", imageOf(300*mib, w...)), expectAbsent("j"))}, differs: ours},
		{cliCase: cliCase{name: "resize crashed before the size commit", setup: seq(dynamic("a.vhd", 10*mib, w...), interruptedResize("a.vhd", "j", 10)),
			args: []string{"revert", "-n", "a.vhd", "-j", "j"},
			then: seq(expect(result{Stdout: lines("10")}, "query", "-n", "a.vhd", "-v"), expectAbsent("j"))}, differs: ours},
		{cliCase: cliCase{name: "the disk was used after the resize", setup: seq(dynamic("a.vhd", 10*mib, w...), interruptedResize("a.vhd", "j", 100, vhdtest.Fill(3, 50*mib, 512))),
			args: []string{"revert", "-n", "a.vhd", "-j", "j"},
			want: result{Stdout: "reverting journal failed: -22\n", Stderr: "vhd-util: vhd: a.vhd: revert to 10485760 bytes: block 25 (at byte 52428800 of the disk) is allocated: vhd: the disk holds data beyond the size to revert to\n", Code: 22},
			then: seq(expect(result{Stdout: lines("100")}, "query", "-n", "a.vhd", "-v"), expectSize("j", vhd.JournalSize))},
			differs: "vhd-util reverts a disk used after the resize, losing what was written beyond the old size; the drop-in refuses"},
		{cliCase: cliCase{name: "another disk's journal", setup: seq(grown, dynamic("b.vhd", 10*mib)), args: []string{"revert", "-n", "b.vhd", "-j", "j"},
			want: result{Stdout: "opening journal failed: -22\n", Code: 22, Stderr: "vhd-util: vhd: j: resize journal field disk UUID at offset 16: the journal is for disk " +
				vhdtest.NameUUID("vhdtest:a.vhd").String() + "; b.vhd is " + vhdtest.NameUUID("vhdtest:b.vhd").String() + "\n"},
			then: seq(expect(result{Stdout: lines("100")}, "query", "-n", "a.vhd", "-v"), expectSize("j", vhd.JournalSize))}, differs: ours},
		{cliCase: cliCase{name: "a damaged journal", setup: seq(grown, patchFile("j", 40, 1)), args: []string{"revert", "-n", "a.vhd", "-j", "j"},
			want: result{Stdout: "opening journal failed: -22\n", Code: 22, Stderr: "vhd-util: vhd: j: resize journal field checksum at offset 2044: CRC-32C 0x7290ddc0, the record's is 0xd2172eb6\n"},
			then: expect(result{Stdout: lines("100")}, "query", "-n", "a.vhd", "-v")}, differs: ours},
		{cliCase: cliCase{name: "a blktap journal", setup: seq(dynamic("a.vhd", 4*mib), writeFile("j", append([]byte("vjournal"), make([]byte, 4088)...))), args: []string{"revert", "-n", "a.vhd", "-j", "j"},
			want: result{Stdout: "opening journal failed: -95\n", Stderr: "vhd-util: revert of a blktap resize journal is not supported by this implementation\n", Code: 95},
			then: expectSize("j", 4096)}, differs: "blktap's journal format is not read"},
	})
}
