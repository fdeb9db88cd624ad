package main

import (
	"testing"

	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

func TestFill(t *testing.T) {
	fu := usage(fillUsage)
	w := []vhdtest.Write{vhdtest.Fill(1, 0, 4096), vhdtest.Fill(2, 5*mib, 8192)}
	disk := dynamic("a.vhd", 10*mib, w...)
	a := []string{"a.vhd"}
	gap := "blktap leaves the old footer in the alignment gap before the first new block; the drop-in writes zeros there"
	runRefCases(t, []refCase{
		{cliCase: cliCase{name: "help", args: []string{"fill", "-h"}, want: result{Stdout: fu, Code: 22}}},
		{cliCase: cliCase{name: "-f without -b", setup: disk, args: []string{"fill", "-n", "a.vhd", "-f", "0"},
			want: result{Stdout: "-f/-t can only be used with -b\n" + fu, Code: 22}}, files: a},
		{cliCase: cliCase{name: "-B without -b", setup: disk, args: []string{"fill", "-n", "a.vhd", "-B"},
			want: result{Stdout: "-B can only be used with -b\n" + fu, Code: 22}}, files: a},
		{cliCase: cliCase{name: "range backwards", setup: disk, args: []string{"fill", "-n", "a.vhd", "-b", "-f", "9", "-t", "8"},
			want: result{Stdout: "invalid sector range 9-8\n" + fu, Code: 22}}, files: a},
		{cliCase: cliCase{name: "missing file", args: []string{"fill", "-n", "a.vhd"}, want: result{Stdout: "error opening a.vhd: -2\n", Code: 2}}},
		{cliCase: cliCase{name: "fixed disk", setup: fixed("f.vhd", 4*mib), args: []string{"fill", "-n", "f.vhd"}, want: result{Code: 22}}, files: []string{"f.vhd"}},
		{cliCase: cliCase{name: "every block written", setup: disk, args: []string{"fill", "-n", "a.vhd"},
			then: seq(expectSound("a.vhd", imageOf(10*mib, w...)), expect(result{Stdout: lines("5")}, "query", "-n", "a.vhd", "-a"))},
			files: a, differs: gap},
		{cliCase: cliCase{name: "full disk unchanged", setup: seq(disk, cli("fill", "-n", "a.vhd")), args: []string{"fill", "-n", "a.vhd"},
			then: expectSound("a.vhd", imageOf(10*mib, w...))}, files: a},
		{cliCase: cliCase{name: "preallocated table stops at the size", setup: cli("create", "-n", "a.vhd", "-s", "4", "-S", "20"), args: []string{"fill", "-n", "a.vhd"},
			want: result{Code: 34}, then: expect(result{Stdout: lines("2")}, "query", "-n", "a.vhd", "-a")}},
		{cliCase: cliCase{name: "child filled from its parent", setup: seq(dynamic("p.vhd", 4*mib, w[0]), child("c.vhd", "p.vhd", vhdtest.Fill(3, 2*mib, 512))),
			args: []string{"fill", "-n", "c.vhd"}, then: seq(expectSound("c.vhd", nil), expect(result{Stdout: lines("2")}, "query", "-n", "c.vhd", "-a"))},
			files: []string{"c.vhd", "p.vhd"}, differs: gap},
		{cliCase: cliCase{name: "fast allocation", setup: dynamic("a.vhd", 10*mib), args: []string{"fill", "-b", "-n", "a.vhd"},
			then: seq(expectSound("a.vhd", imageOf(10*mib)), expect(result{Stdout: lines("10506752", "5")}, "query", "-n", "a.vhd", "-as"))},
			differs: "blktap leaves no valid primary footer after -b; the drop-in writes it at the new end of the data"},
		{cliCase: cliCase{name: "fill after fast allocation marks the batmap", setup: seq(dynamic("a.vhd", 10*mib), cli("fill", "-b", "-n", "a.vhd")),
			args: []string{"fill", "-n", "a.vhd"}, then: expectSound("a.vhd", imageOf(10*mib))}, files: a},
		{cliCase: cliCase{name: "partial child blocks filled from the parent", setup: seq(dynamic("p.vhd", 4*mib, w[0]), child("c.vhd", "p.vhd", vhdtest.Fill(3, 512, 512), vhdtest.Fill(4, 3*mib, 4096))),
			args: []string{"fill", "-n", "c.vhd"}, then: seq(expectSound("c.vhd", nil), expect(result{Stdout: lines("2")}, "query", "-n", "c.vhd", "-a"))},
			files: []string{"c.vhd", "p.vhd"}},
		{cliCase: cliCase{name: "fast allocation of a range keeps the data", setup: disk, args: []string{"fill", "-b", "-f", "4096", "-t", "8191", "-n", "a.vhd"},
			then: seq(expectSound("a.vhd", imageOf(10*mib, w...)), expect(result{Stdout: lines("block: 0: offset: 3584", "block: 1: offset: 4206080", "block: 2: offset: 2104832")}, "read", "-b", "0", "-c", "3", "-n", "a.vhd"))},
			differs: "blktap leaves no valid primary footer after -b"},
	})
}
