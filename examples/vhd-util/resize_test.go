package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/vhdkit/vhdkit/vhd"
	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

// writeData writes into a VHD through vhd.File.WriteAt.
func writeData(name string, writes ...vhdtest.Write) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		f, err := vhd.OpenFile(filepath.Join(dir, name), os.O_RDWR)
		if err != nil {
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

func TestResize(t *testing.T) {
	ru := usage(resizeUsage)
	w := []vhdtest.Write{vhdtest.Fill(1, 0, 4096), vhdtest.Fill(2, 5*mib, 8192)}
	roomy := seq(func(t *testing.T, dir string) {
		f, err := vhd.Create(filepath.Join(dir, "a.vhd"), &vhd.CreateOptions{Size: 10 * mib, MetadataSize: 100 * mib,
			UUID: vhdtest.NameUUID("a.vhd"), Time: vhdtest.Epoch})
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
	}, writeData("a.vhd", w...))
	a := []string{"a.vhd"}
	runRefCases(t, []refCase{
		{cliCase: cliCase{name: "help", args: []string{"resize", "-h"}, want: result{Stdout: ru, Code: 22}}},
		{cliCase: cliCase{name: "no size", args: []string{"resize", "-n", "a.vhd", "-f"}, want: result{Stdout: ru, Code: 22}}},
		{cliCase: cliCase{name: "neither -f nor -j", args: []string{"resize", "-n", "a.vhd", "-s", "20"}, want: result{Stdout: ru, Code: 22}}},
		{cliCase: cliCase{name: "both -f and -j", args: []string{"resize", "-n", "a.vhd", "-s", "20", "-f", "-j", "j"}, want: result{Stdout: ru, Code: 22}}},
		{cliCase: cliCase{name: "missing file", args: []string{"resize", "-n", "a.vhd", "-s", "20", "-f"}, want: result{Stdout: "error opening a.vhd: -2\n", Code: 2}}},
		{cliCase: cliCase{name: "not made by blktap", setup: func(t *testing.T, dir string) {
			vhdtest.Dynamic(t, dir+"/q.vhd", 4*mib, &vhdtest.Options{Creator: [4]byte{'q', 'e', 'm', 'u'}})
		}, args: []string{"resize", "-n", "q.vhd", "-s", "20", "-f"}, want: result{Stdout: "q.vhd not created by xen; resize not supported\n", Code: 22}}, files: []string{"q.vhd"}},
		{cliCase: cliCase{name: "sm setSizeVirtFast", setup: roomy, args: []string{"resize", "--debug", "-s", "50", "-n", "a.vhd", "-f"},
			then: seq(expect(result{Stdout: lines("50", "100")}, "query", "-n", "a.vhd", "-vS"), expectSound("a.vhd", imageOf(50*mib, w...)))}, files: a},
		{cliCase: cliCase{name: "up to the table", setup: roomy, args: []string{"resize", "-s", "100", "-n", "a.vhd", "-f"},
			then: expect(result{Stdout: lines("100")}, "query", "-n", "a.vhd", "-v")}, files: a},
		{cliCase: cliCase{name: "rounds up to 2 MiB", setup: roomy, args: []string{"resize", "-s", "33", "-n", "a.vhd", "-f"},
			then: expect(result{Stdout: lines("34")}, "query", "-n", "a.vhd", "-v")}, files: a},
		{cliCase: cliCase{name: "same size", setup: roomy, args: []string{"resize", "-s", "10", "-n", "a.vhd", "-f"}}, files: a},
		{cliCase: cliCase{name: "past the table", setup: roomy, args: []string{"resize", "-s", "102", "-n", "a.vhd", "-f"}, want: result{Code: 22}}, files: a},
		{cliCase: cliCase{name: "shrink refused", setup: roomy, args: []string{"resize", "-s", "4", "-n", "a.vhd", "-f"},
			want: result{Stdout: "a.vhd: size (4194304) < curr size (10485760)\n", Code: 22}}, files: a},
		{cliCase: cliCase{name: "fixed disk", setup: fixed("f.vhd", 4*mib), args: []string{"resize", "-s", "8", "-n", "f.vhd", "-f"}, want: result{Code: 22}}, files: []string{"f.vhd"}},
		{cliCase: cliCase{name: "journal exists", setup: seq(roomy, writeFile("j", nil)), args: []string{"resize", "-s", "50", "-n", "a.vhd", "-j", "j"},
			want: result{Stdout: "creating journal failed: -17\n", Code: 17}}, files: a},
		{cliCase: cliCase{name: "sm setSizeVirt, room in the table", setup: roomy, args: []string{"resize", "--debug", "-s", "50", "-n", "a.vhd", "-j", "j"},
			then: seq(expect(result{Stdout: lines("50")}, "query", "-n", "a.vhd", "-v"), expectAbsent("j"))},
			differs: "vhd-util's journaled resize of a disk whose table has room adds the growth to the table's size (create -s 10 -S 100, then resize -s 50 -j: 140 MB); the drop-in grows to the size asked, as -f does"},
		{cliCase: cliCase{name: "sm setSizeVirt, the table grows", setup: dynamic("a.vhd", 10*mib, w...), args: []string{"resize", "--debug", "-s", "100", "-n", "a.vhd", "-j", "j"},
			then: seq(expect(result{Stdout: lines("100")}, "query", "-n", "a.vhd", "-v"), expect(result{Stdout: "a.vhd is valid\n"}, "check", "-n", "a.vhd"),
				expectSound("a.vhd", imageOf(100*mib, w...)), expectAbsent("j"))}, files: a},
		{cliCase: cliCase{name: "an empty disk's table grows", setup: dynamic("a.vhd", 100*mib), args: []string{"resize", "-s", "333", "-n", "a.vhd", "-j", "j"},
			then: seq(expect(result{Stdout: lines("334")}, "query", "-n", "a.vhd", "-v"), expect(result{Stdout: "a.vhd is valid\n"}, "check", "-n", "a.vhd"),
				expectSize("a.vhd", 4096), expectAbsent("j"))}, files: a},
		{cliCase: cliCase{name: "a full disk grows to 1 TiB", setup: dynamic("a.vhd", 6*mib, vhdtest.Fill(3, 0, 6*mib)), args: []string{"resize", "-s", "1048576", "-n", "a.vhd", "-j", "j"},
			then: seq(expect(result{Stdout: lines("1048576")}, "query", "-n", "a.vhd", "-v"), expect(result{Stdout: "a.vhd is valid\n"}, "check", "-n", "a.vhd"),
				expectAbsent("j"))}}, // not byte-identical: its temporary copy of 2 MiB of metadata moves one block more than vhd-util's journal does
		{cliCase: cliCase{name: "journaled, same size", setup: dynamic("a.vhd", 10*mib), args: []string{"resize", "-s", "10", "-n", "a.vhd", "-j", "j"},
			then: seq(expect(result{Stdout: lines("10")}, "query", "-n", "a.vhd", "-v"), expectAbsent("j"))}, files: a},
		{cliCase: cliCase{name: "journaled shrink", setup: dynamic("a.vhd", 10*mib, w...), args: []string{"resize", "-s", "4", "-n", "a.vhd", "-j", "j"},
			want: result{Stdout: "dynamic shrink not fully implemented\nresize failed: -38\n", Code: 38},
			then: seq(expect(result{Stdout: lines("10")}, "query", "-n", "a.vhd", "-v"), expectAbsent("j"))}, files: a},
		{cliCase: cliCase{name: "journaled, fixed disk", setup: fixed("f.vhd", 4*mib), args: []string{"resize", "-s", "8", "-n", "f.vhd", "-j", "j"},
			want: result{Stdout: "creating journal failed: -22\n", Code: 22}, then: expectAbsent("j")}, files: []string{"f.vhd"}},
		{cliCase: cliCase{name: "journal in a missing directory", setup: dynamic("a.vhd", 10*mib), args: []string{"resize", "-s", "100", "-n", "a.vhd", "-j", "no/j"},
			want: result{Stdout: "creating journal failed: -2\n", Code: 2},
			then: expect(result{Stdout: lines("10")}, "query", "-n", "a.vhd", "-v")}, files: a},
		{cliCase: cliCase{name: "a differencing disk's table grows", setup: func(t *testing.T, dir string) {
			vhdtest.Dynamic(t, filepath.Join(dir, "p.vhd"), 10*mib, nil, vhdtest.Fill(5, 0, 3*mib))
			vhdtest.Child(t, filepath.Join(dir, "c.vhd"), filepath.Join(dir, "p.vhd"), nil, vhdtest.Fill(6, mib, 4096))
		}, args: []string{"resize", "-s", "40", "-n", "c.vhd", "-j", "j"},
			then: seq(expect(result{Stdout: lines("40")}, "query", "-n", "c.vhd", "-v"), expect(result{Stdout: "c.vhd is valid\n"}, "check", "-n", "c.vhd"),
				expect(result{Stdout: "$D/p.vhd\n"}, "query", "-n", "c.vhd", "-p"), expectAbsent("j"))}},
	})
}
