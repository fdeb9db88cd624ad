package main

import (
	"testing"

	"github.com/vhdkit/vhdkit/vhd"
	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

func TestModifyZeroAndSize(t *testing.T) {
	mu := usage(modifyUsage)
	w := []vhdtest.Write{vhdtest.Fill(1, 0, 4096), vhdtest.Fill(2, 5*mib, 2*mib)}
	disk := dynamic("a.vhd", 10*mib, w...)
	pair := seq(dynamic("p.vhd", 10*mib, w...), child("c.vhd", "p.vhd", vhdtest.Fill(3, 2*mib, 512), vhdtest.Fill(4, 6*mib, 4096)))
	a := []string{"a.vhd"}
	runRefCases(t, []refCase{
		{cliCase: cliCase{name: "zero a dynamic disk", setup: disk, args: []string{"modify", "-z", "-n", "a.vhd"},
			then: seq(expectSize("a.vhd", 3584), expectSound("a.vhd", imageOf(10*mib)),
				expect(result{Stdout: lines("3584", "0")}, "query", "-n", "a.vhd", "-as"))}, files: a},
		{cliCase: cliCase{name: "sm killData on a child", setup: pair, args: []string{"modify", "--debug", "-z", "-n", "c.vhd"},
			then: seq(expectSize("c.vhd", 5120), expect(result{Stdout: lines("$D/p.vhd", "0")}, "query", "-n", "c.vhd", "-ap"))},
			files: []string{"c.vhd", "p.vhd"}},
		{cliCase: cliCase{name: "zero an empty disk", setup: dynamic("a.vhd", 10*mib), args: []string{"modify", "-z", "-n", "a.vhd"}}, files: a},
		{cliCase: cliCase{name: "zero a fixed disk", setup: fixed("f.vhd", 4*mib), args: []string{"modify", "-z", "-n", "f.vhd"},
			want: result{Stdout: "failed to zero VHD: -38\n", Code: 38}}, files: []string{"f.vhd"}},
		{cliCase: cliCase{name: "zero a poisoned disk", setup: seq(disk, patchFooter("a.vhd", vhdtest.Both, true, func(f *vhd.Footer) { copy(f.Cookie[:], vhd.DisabledCookie) })),
			args: []string{"modify", "-z", "-n", "a.vhd"}, want: result{Stdout: "error opening a.vhd: -22\n", Code: 22}}, files: a},
		{cliCase: cliCase{name: "zero, primary footer missing", setup: seq(disk, truncateBy("a.vhd", 512)), args: []string{"modify", "-z", "-n", "a.vhd"},
			then: expectSize("a.vhd", 3584)}, files: a},
		{cliCase: cliCase{name: "zero a missing file", args: []string{"modify", "-z", "-n", "a.vhd"},
			want: result{Stdout: "error opening a.vhd: -2\n", Code: 2}}},
		{cliCase: cliCase{name: "physical size grows", setup: disk, args: []string{"modify", "-s", "8388608", "-n", "a.vhd"},
			then: seq(expectSize("a.vhd", 8*mib), expectSound("a.vhd", imageOf(10*mib, w...)))}, files: a},
		{cliCase: cliCase{name: "sm setSizePhys without --debug", setup: disk, args: []string{"modify", "-s", "8393728", "-n", "a.vhd"},
			then: expectSize("a.vhd", 8393728)}, files: a},
		{cliCase: cliCase{name: "physical size unchanged", setup: disk, args: []string{"modify", "-s", "6304256", "-n", "a.vhd"}}, files: a},
		{cliCase: cliCase{name: "physical size below the data", setup: disk, args: []string{"modify", "-s", "6303744", "-n", "a.vhd"},
			want: result{Stdout: "failed to set physical size to 6303744: -22\n", Code: 22}}, files: a},
		{cliCase: cliCase{name: "physical size unaligned", setup: disk, args: []string{"modify", "-s", "8388609", "-n", "a.vhd"},
			want: result{Stdout: "failed to set physical size to 8388609: -22\n", Code: 22}}, files: a},
		{cliCase: cliCase{name: "physical size of a fixed disk", setup: fixed("f.vhd", 4*mib), args: []string{"modify", "-s", "5242880", "-n", "f.vhd"}},
			files: []string{"f.vhd"}},
		{cliCase: cliCase{name: "junk size is zero", setup: disk, args: []string{"modify", "-s", "junk", "-n", "a.vhd"},
			want: result{Stdout: "failed to set physical size to 0: -22\n", Code: 22}}, files: a},
		{cliCase: cliCase{name: "size out of range", setup: disk, args: []string{"modify", "-s", "99999999999999999999", "-n", "a.vhd"},
			want: result{Stdout: mu, Stderr: "Invalid size '99999999999999999999'\n", Code: 22}}, files: a},
		{cliCase: cliCase{name: "zero, then size", setup: disk, args: []string{"modify", "-z", "-s", "1048576", "-n", "a.vhd"},
			then: expectSize("a.vhd", mib)}, files: a},
	})
}
