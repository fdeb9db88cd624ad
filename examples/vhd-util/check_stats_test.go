package main

import (
	"testing"

	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

func TestCheckStats(t *testing.T) {
	base := []vhdtest.Write{vhdtest.Fill(1, 0, 4096), vhdtest.Fill(2, 5*mib, 2*mib)}
	sr := seq(dynamic("b.vhd", 10*mib, base...), child("m.vhd", "b.vhd", vhdtest.Fill(3, 0, 8192)),
		child("l.vhd", "m.vhd", vhdtest.Fill(4, 4096, 8192), vhdtest.Fill(5, 9*mib, 512)))
	runRefCases(t, []refCase{
		{cliCase: cliCase{name: "one file", setup: sr, args: []string{"check", "-s", "-n", "b.vhd"},
			want: result{Stdout: lines("b.vhd: secs allocated: 0x3000 secs written: 0x1008 (33.40%)")}}},
		{cliCase: cliCase{name: "a chain", setup: sr, args: []string{"check", "-s", "-p", "-n", "$D/l.vhd"},
			want: result{Stdout: lines("b.vhd: secs allocated: 0x3000 secs written: 0x1008 (33.40%)",
				"m.vhd: secs allocated: 0x1000 secs written: 0x10 (0.39%) secs not in parent: 0x8 (50.00%) secs not in ancestors: 0x8 (50.00%)",
				"l.vhd: secs allocated: 0x2000 secs written: 0x11 (0.21%) secs not in parent: 0x9 (52.94%) secs not in ancestors: 0x9 (52.94%)")}}},
		{cliCase: cliCase{name: "fixed disk", setup: fixed("f.vhd", 4*mib), args: []string{"check", "-s", "-n", "f.vhd"}}},
		{cliCase: cliCase{name: "with -B", setup: sr, args: []string{"check", "-s", "-B", "-n", "b.vhd"}, want: result{Stdout: usage(checkUsage), Code: 22}}},
	})
}
