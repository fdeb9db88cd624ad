package main

import (
	"path/filepath"
	"testing"

	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

// TestReferenceGolden holds one case for each difference from blktap's
// vhd-util that TestReference found and that was fixed: the expected
// output is vhd-util's, as TestReference saw it, so the fixes stay fixed
// where no reference vhd-util is installed.
func TestReferenceGolden(t *testing.T) {
	chain := func(t *testing.T, dir string) { baseChain(t, dir); baseFixed(t, dir) }
	dyn := func(edit func(*testing.T, string)) func(*testing.T, string) {
		return func(t *testing.T, dir string) { edit(t, baseDynamic(t, dir)) }
	}
	runCases(t, []cliCase{
		// Usage texts are vhd-util's, word for word.
		{name: "top level usage", args: nil, want: result{Stdout: "usage: vhd-util COMMAND [OPTIONS]\n" +
			"COMMAND := { create | snapshot | query | read | set | repair | resize | fill | coalesce | modify | scan | check | revert | key | copy }\n"}},
		{name: "query -h", args: []string{"query", "-h"}, want: result{Stdout: "options: <-n name> [-v print virtual size (in MB)] [-s print physical utilization (bytes)] [-p print parent] [-f print fields] [-m print marker] [-d print chain depth] [-S print max virtual size (MB) for fast resize] [-a print allocated block count] [-u don't resolve parent path] [-h help]\n"}},
		{name: "check -x", args: []string{"check", "-x"}, want: result{Code: 22, Stderr: "check: invalid option -- 'x'\n",
			Stdout: "options: -n <file> [-i ignore missing primary footers] [-I ignore parent uuids] [-t ignore timestamps] [-B do not check BAT for overlapping (precludes -s, -b)] [-p check parents] [-b check bitmaps] [-s stats] [-h help]\n"}},
		{name: "set -h", args: []string{"set", "-h"}, want: result{Code: 22, Stdout: "options: <-n name> <-f field> <-v value> [-h help]\n"}},
		{name: "modify -h", args: []string{"modify", "-h"}, want: result{Code: 22, Stdout: "*** Dangerous operations, use with care ***\n" +
			"options: <-n name> [-p NEW_PARENT set parent [-m raw]] [-s NEW_SIZE set size] [-z zero (kill data)] [-h help]\n"}},
		{name: "create -h", args: []string{"create", "-h"}, want: result{Code: 22, Stdout: "options: <-n name> <-s size (MB)> [-r reserve] [-h help] [<-S size (MB) for metadata preallocation (see vhd-util resize)>]\n"}},
		{name: "snapshot -h", args: []string{"snapshot", "-h"}, want: result{Stdout: "options: <-n name> <-p parent name> [-l snapshot depth limit] [-m parent_is_raw] [-S size (MB) for metadata preallocation (see vhd-util resize)] [-e link to supplied parent name even if it's empty] [-h help]\n"}},

		// create: the -S complaint is on stdout; -S alone is a size; a
		// fixed disk with -S fails; only an open failure says anything.
		{name: "create -S smaller", args: []string{"create", "-n", "n.vhd", "-s", "10", "-S", "4"},
			want: result{Stdout: "Error: <-S size> must be greater than <-s size>\n", Code: 22}, then: expectAbsent("n.vhd")},
		{name: "create -S alone", args: []string{"create", "-n", "n.vhd", "-S", "10"},
			then: expect(result{Stdout: lines("0", "10")}, "query", "-n", "n.vhd", "-vS")},
		{name: "create -r -S", args: []string{"create", "-n", "n.vhd", "-s", "4", "-r", "-S", "10"}, want: result{Code: 22}, then: expectAbsent("n.vhd")},
		{name: "create name of 1023", args: []string{"create", "-n", string(make1023()), "-s", "4"}, want: result{Code: 36}},
		{name: "create in a missing directory", args: []string{"create", "-n", "missing/n.vhd", "-s", "4"},
			want: result{Stderr: "missing/n.vhd: failed to create: -2\n", Code: 2}},

		// snapshot: failures are silent but for an unopenable child; any
		// nonzero -l counts, a negative one always exceeded.
		{name: "snapshot of a missing parent", args: []string{"snapshot", "-n", "s.vhd", "-p", "missing.vhd"}, want: result{Code: 2}},
		{name: "snapshot of a directory", args: []string{"snapshot", "-n", "s.vhd", "-p", "."}, want: result{Code: 21}},
		{name: "snapshot into a missing directory", setup: chain, args: []string{"snapshot", "-n", "missing/s.vhd", "-p", "c.vhd"},
			want: result{Stderr: "missing/s.vhd: failed to create: -2\n", Code: 2}},
		{name: "snapshot -S below the size", setup: chain, args: []string{"snapshot", "-n", "s.vhd", "-p", "c.vhd", "-S", "4"},
			want: result{Code: 22}, then: expectAbsent("s.vhd")},
		{name: "snapshot -l -1", setup: chain, args: []string{"snapshot", "-n", "s.vhd", "-p", "c.vhd", "-l", "-1"},
			want: result{Stdout: "snapshot depth exceeded: current depth: 2, limit: -1\n", Code: 28}, then: expectAbsent("s.vhd")},

		// hidden and marker are C chars: above 127 they print negative.
		{name: "hidden 200", setup: dyn(patchFooterField(vhdtest.Both, true, field{off: 85, size: 1}, 200)),
			args: []string{"query", "-n", "d.vhd", "-f"}, want: result{Stdout: "hidden: -56\n"}},
		{name: "hidden 128", setup: dyn(patchFooterField(vhdtest.Both, true, field{off: 85, size: 1}, 128)),
			args: []string{"query", "-n", "d.vhd", "-f"}, want: result{Stdout: "hidden: -128\n"}},
		{name: "marker 255", setup: dyn(patchRaw(batmapHdrOff+28, 1, 255)),
			args: []string{"query", "-n", "d.vhd", "-m"}, want: result{Stdout: "marker: -1\n"}},
		{name: "set marker 200", setup: func(t *testing.T, dir string) { baseDynamic(t, dir) }, args: []string{"set", "-n", "d.vhd", "-f", "marker", "-v", "200"},
			then: expect(result{Stdout: "marker: -56\n"}, "query", "-n", "d.vhd", "-m")},
	})
	_ = filepath.Join
}

func make1023() []byte {
	b := make([]byte, 1023)
	for i := range b {
		b[i] = 'x'
	}
	return b
}
