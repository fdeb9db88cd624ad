package main

import "testing"

func TestRevert(t *testing.T) {
	ru := usage(revertUsage)
	runRefCases(t, []refCase{
		{cliCase: cliCase{name: "help", args: []string{"revert", "-h"}, want: result{Stdout: ru, Code: 22}}},
		{cliCase: cliCase{name: "no journal", args: []string{"revert", "-n", "a.vhd"}, want: result{Stdout: ru, Code: 22}}},
		{cliCase: cliCase{name: "sm revert, nothing to revert", setup: dynamic("a.vhd", 4*mib), args: []string{"revert", "--debug", "-n", "a.vhd", "-j", "j"},
			want: result{Stdout: "opening journal failed: -2\n", Code: 2}}, files: []string{"a.vhd"}},
		{cliCase: cliCase{name: "a blktap journal", setup: seq(dynamic("a.vhd", 4*mib), writeFile("j", append([]byte("vjournal"), make([]byte, 4088)...))), args: []string{"revert", "-n", "a.vhd", "-j", "j"},
			want: result{Stdout: "opening journal failed: -95\n", Stderr: "vhd-util: revert of a blktap resize journal is not supported by this implementation\n", Code: 95},
			then: expectSize("j", 4096)}, differs: "blktap's journal format is not read"},
	})
}
