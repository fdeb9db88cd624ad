package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/vhdkit/vhdkit/vhd"
	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

// expectSound checks that a file passes vhd.Check (parent rules aside)
// and reads as want, the virtual disk's bytes.
func expectSound(name string, want func(t *testing.T, dir string) []byte) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		t.Helper()
		p := filepath.Join(dir, name)
		rep, err := vhd.CheckFile(context.Background(), p, nil)
		if rep == nil { // an error without a report; parent rules not run are fine
			t.Fatal(err)
		}
		if !rep.ValidSoFar() {
			t.Errorf("%s after the command: %v", name, rep.Problems)
		}
		if want == nil {
			return
		}
		f, err := vhd.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		got := make([]byte, f.VirtualSize())
		if _, err := f.ReadAt(got, 0); err != nil {
			t.Fatal(err)
		}
		if w := want(t, dir); !bytes.Equal(got, w) {
			t.Errorf("%s reads differently after the command, first difference at %d", name, firstDiff(got, w))
		}
	}
}

// imageOf returns the virtual disk a list of writes makes.
func imageOf(size int64, writes ...vhdtest.Write) func(*testing.T, string) []byte {
	return func(*testing.T, string) []byte {
		b := make([]byte, size)
		for _, w := range writes {
			copy(b[w.Offset:], w.Data)
		}
		return b
	}
}

func truncateBy(name string, n int64) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		p := filepath.Join(dir, name)
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(p, st.Size()-n); err != nil {
			t.Fatal(err)
		}
	}
}

func appendTo(name string, data []byte) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.Write(data); err != nil {
			t.Fatal(err)
		}
	}
}

func patchFooter(name string, which vhdtest.Footers, fix bool, edit func(*vhd.Footer)) func(*testing.T, string) {
	return func(t *testing.T, dir string) { vhdtest.PatchFooter(t, filepath.Join(dir, name), which, fix, edit) }
}

func TestRepair(t *testing.T) {
	ru := usage(repairUsage)
	w := []vhdtest.Write{vhdtest.Fill(1, 0, 4096), vhdtest.Fill(2, 5*mib, 8192)}
	img := imageOf(10*mib, w...)
	disk := dynamic("a.vhd", 10*mib, w...)
	files := []string{"a.vhd"}
	runRefCases(t, []refCase{
		{cliCase: cliCase{name: "help", args: []string{"repair", "-h"}, want: result{Stdout: ru, Code: 22}}},
		{cliCase: cliCase{name: "no name", args: []string{"repair", "-b"}, want: result{Stdout: ru, Code: 22}}},
		{cliCase: cliCase{name: "extra operand", setup: disk, args: []string{"repair", "-n", "a.vhd", "b.vhd"}, want: result{Stdout: ru, Code: 22}}},
		{cliCase: cliCase{name: "missing file", args: []string{"repair", "-n", "a.vhd"}, want: result{Stdout: "error opening a.vhd: -2\n", Code: 2}}},
		{cliCase: cliCase{name: "sound file is unchanged", setup: disk, args: []string{"repair", "-n", "a.vhd"},
			then: seq(expectSize("a.vhd", 4203008), expectSound("a.vhd", img))}, files: files},
		{cliCase: cliCase{name: "primary footer missing", setup: seq(disk, truncateBy("a.vhd", 512)), args: []string{"repair", "-n", "a.vhd"},
			then: expectSound("a.vhd", img)}, files: files},
		{cliCase: cliCase{name: "primary footer torn", setup: seq(disk, truncateBy("a.vhd", 200)), args: []string{"repair", "-n", "a.vhd"},
			then: expectSound("a.vhd", img)}, files: files},
		{cliCase: cliCase{name: "primary footer corrupt", setup: seq(disk, patchFooter("a.vhd", vhdtest.Primary, false, func(f *vhd.Footer) { f.CurrentSize = 4 * mib })),
			args: []string{"repair", "-n", "a.vhd"}, then: expectSound("a.vhd", img)}, files: files},
		{cliCase: cliCase{name: "junk after the footer", setup: seq(disk, appendTo("a.vhd", vhdtest.Pattern(5, 4096))), args: []string{"repair", "-n", "a.vhd"},
			then: expectSound("a.vhd", img)}, files: files},
		{cliCase: cliCase{name: "footer beyond the data", setup: func(t *testing.T, dir string) {
			disk(t, dir)
			p := filepath.Join(dir, "a.vhd")
			b, _ := os.ReadFile(p)
			foot := append([]byte(nil), b[len(b)-512:]...)
			b = append(append(b[:len(b)-512], make([]byte, 1536)...), foot...)
			os.WriteFile(p, b, 0o644)
		}, args: []string{"repair", "-n", "a.vhd"}, then: expectSound("a.vhd", img)}, files: files},
		{cliCase: cliCase{name: "-b takes the copy at 0", setup: seq(disk, patchFooter("a.vhd", vhdtest.Primary, true, func(f *vhd.Footer) { f.Hidden = 1 })),
			args: []string{"repair", "-b", "-n", "a.vhd"}, then: seq(expect(result{Stdout: lines("hidden: 0")}, "query", "-n", "a.vhd", "-f"), expectSound("a.vhd", img))}, files: files},
		{cliCase: cliCase{name: "without -b the primary wins", setup: seq(disk, patchFooter("a.vhd", vhdtest.Primary, true, func(f *vhd.Footer) { f.Hidden = 1 })),
			args: []string{"repair", "-n", "a.vhd"}, then: seq(expect(result{Stdout: lines("vhd=a.vhd capacity=10485760 size=4203008 hidden=1 parent=none")}, "scan", "-f", "a.vhd"), expectSound("a.vhd", img))}, files: files},
		{cliCase: cliCase{name: "-b with the copy at 0 corrupt", setup: seq(disk, patchFooter("a.vhd", vhdtest.Backup, false, func(f *vhd.Footer) { f.Hidden = 1 })),
			args: []string{"repair", "-b", "-n", "a.vhd"}, want: result{Stdout: "error opening a.vhd: -22\n", Code: 22}}, files: files},
		{cliCase: cliCase{name: "fixed disk", setup: fixed("f.vhd", 4*mib), args: []string{"repair", "-n", "f.vhd"}}, files: []string{"f.vhd"}},
		{cliCase: cliCase{name: "-b on a fixed disk", setup: fixed("f.vhd", 4*mib), args: []string{"repair", "-b", "-n", "f.vhd"},
			want: result{Stdout: "error opening f.vhd: -22\n", Code: 22}}, files: []string{"f.vhd"}},
		{cliCase: cliCase{name: "poisoned", setup: seq(disk, patchFooter("a.vhd", vhdtest.Both, true, func(f *vhd.Footer) { copy(f.Cookie[:], vhd.DisabledCookie) })),
			args: []string{"repair", "-n", "a.vhd"}, want: result{Stdout: "error opening a.vhd: -22\n", Code: 22}}, files: files},
		{cliCase: cliCase{name: "child, primary footer missing", setup: seq(dynamic("p.vhd", 10*mib, w...), child("c.vhd", "p.vhd", vhdtest.Fill(3, 2*mib, 512)), truncateBy("c.vhd", 512)),
			args: []string{"repair", "-n", "c.vhd"}, then: expect(result{Stdout: lines("$D/p.vhd", "chain depth: 2", "1")}, "query", "-n", "c.vhd", "-pda")}, files: []string{"c.vhd", "p.vhd"}},
		{cliCase: cliCase{name: "null UUID gets one", setup: seq(disk, patchFooter("a.vhd", vhdtest.Both, true, func(f *vhd.Footer) { f.UUID = vhd.UUID{} })),
			args: []string{"repair", "-n", "a.vhd"}, then: func(t *testing.T, dir string) {
				f, err := vhd.Open(filepath.Join(dir, "a.vhd"))
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				if f.Footer.UUID.IsZero() {
					t.Error("the UUID is still null")
				}
				expectSound("a.vhd", img)(t, dir)
			}}},
	})
}
