package main

import (
	"testing"

	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

func TestCopy(t *testing.T) {
	cu := usage(copyUsage)
	w := []vhdtest.Write{vhdtest.Fill(1, 0, 4096), vhdtest.Fill(2, 5*mib, 8192)}
	disk := dynamic("a.vhd", 10*mib, w...)
	runRefCases(t, []refCase{
		{cliCase: cliCase{name: "a dynamic disk", setup: disk, args: []string{"copy", "-n", "a.vhd", "-N", "b.vhd"},
			then: seq(expectSound("b.vhd", imageOf(10*mib, w...)), expect(result{Stdout: lines("10", "4203008", "2")}, "query", "-n", "b.vhd", "-vsa"))}},
		{cliCase: cliCase{name: "target exists", setup: seq(disk, writeFile("b.vhd", nil)), args: []string{"copy", "-n", "a.vhd", "-N", "b.vhd"},
			want: result{Stdout: "VHD file b.vhd already exists, chose a different name\n", Code: 22}}, files: []string{"a.vhd", "b.vhd"}},
		{cliCase: cliCase{name: "no new name", setup: disk, args: []string{"copy", "-n", "a.vhd"},
			want: result{Stdout: cu, Stderr: "Must supply both existing and new VHD names\n", Code: 22}}},
		{cliCase: cliCase{name: "missing source", args: []string{"copy", "-n", "a.vhd", "-N", "b.vhd"},
			want: result{Stdout: "error opening a.vhd: -2\n", Code: 2}, then: expectAbsent("b.vhd")}},
		{cliCase: cliCase{name: "a child", setup: seq(disk, child("c.vhd", "a.vhd")), args: []string{"copy", "-n", "c.vhd", "-N", "b.vhd"},
			want: result{Stdout: "error creating b.vhd: -22\n", Code: 22}, then: expectAbsent("b.vhd")}},
		{cliCase: cliCase{name: "a fixed disk", setup: fixed("f.vhd", 4*mib), args: []string{"copy", "-n", "f.vhd", "-N", "b.vhd"},
			want: result{Stdout: "error creating b.vhd: -22\n", Code: 22}, then: expectAbsent("b.vhd")}},
		{cliCase: cliCase{name: "encrypted copy", setup: seq(disk, writeFile("k", make([]byte, 32))), args: []string{"copy", "-n", "a.vhd", "-N", "b.vhd", "-k", "k"},
			want: result{Stdout: "failed to load crypto support library -22\n", Code: 22}, then: expectAbsent("b.vhd")},
			differs: "vhd-util creates the target before it finds no crypto library and leaves it behind"},
	})
}
