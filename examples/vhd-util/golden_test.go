package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vhdkit/vhdkit/vhd"
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
	cases := []cliCase{
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
		{name: "hidden of an old-tap fixed disk", setup: func(t *testing.T, dir string) {
			patchFooterField(vhdtest.Primary, true, field{off: 32, size: 4}, 0x00010001)(t, baseFixed(t, dir))
		}, args: []string{"query", "-n", "f.vhd", "-f"}, want: result{Stdout: "hidden: 0\n"}},

		// set: range errors print the usage too; a long field has no name.
		{name: "set -v 256", setup: chain, args: []string{"set", "-n", "c.vhd", "-f", "hidden", "-v", "256"},
			want: result{Stdout: "invalid value 256\noptions: <-n name> <-f field> <-v value> [-h help]\n", Code: 22}},
		{name: "set a long field", setup: chain, args: []string{"set", "-n", "c.vhd", "-f", "hiddenhiddenhiddenhiddenhidden", "-v", "1"},
			want: result{Stdout: "invalid field\noptions: <-n name> <-f field> <-v value> [-h help]\n", Code: 22}},

		// query reads as libvhd reads: the BAT entries the size needs, or
		// EINVAL when max_table_entries is smaller; the batmap checked; the
		// errno of a read past the end (EPIPE), across it (EIO) or at an
		// unaligned offset (EINVAL); 32-bit -S; signed ends of headers.
		{name: "max_table_entries smaller than the size needs", setup: dyn(patchHeaderField(true, field{off: 28, size: 4}, 4)),
			args: []string{"query", "-n", "d.vhd", "-vsaS"}, want: result{Stdout: lines("10", "failed to get physical size: -22", "error reading bat: -22", "8"), Code: 22}},
		{name: "max_table_entries of 2^32-1", setup: dyn(patchHeaderField(true, field{off: 28, size: 4}, 0xffffffff)),
			args: []string{"query", "-n", "d.vhd", "-aS"}, want: result{Stdout: lines("2", "4294967294")}},
		{name: "BAT at an unaligned offset", setup: dyn(patchHeaderField(true, field{off: 16, size: 8}, 0x601)),
			args: []string{"query", "-n", "d.vhd", "-sma"}, want: result{Stdout: lines("failed to get physical size: -22", "error checking 'marker' field: -22", "error reading bat: -22"), Code: 22}},
		{name: "BAT past the end", setup: dyn(patchHeaderField(true, field{off: 16, size: 8}, 1<<40)),
			args: []string{"query", "-n", "d.vhd", "-sma"}, want: result{Stdout: lines("failed to get physical size: -32", "error checking 'marker' field: -32", "error reading bat: -32"), Code: 32}},
		{name: "batmap checksum wrong", setup: dyn(patchRaw(batmapHdrOff+24, 4, 0)),
			args: []string{"query", "-n", "d.vhd", "-sma"}, want: result{Stdout: lines("failed to get physical size: -22", "marker: 0", "2"), Code: 22}},
		{name: "batmap of 2^20 sectors", setup: dyn(patchRaw(batmapHdrOff+16, 4, 1<<20)),
			args: []string{"query", "-n", "d.vhd", "-s"}, want: result{Stdout: lines("536873984")}},
		{name: "locator past 2^63", setup: func(t *testing.T, dir string) {
			patchHeaderField(true, field{off: 576 + 16, size: 8}, 1<<63)(t, baseChain(t, dir))
		}, args: []string{"query", "-n", "c.vhd", "-s"}, want: result{Stdout: lines("2105856")}},
		{name: "a file of one byte", setup: writeFile("d.vhd", []byte{0}), args: []string{"query", "-n", "d.vhd", "-v"},
			want: result{Stdout: "error opening d.vhd: -5\n", Code: 5}},
		{name: "a short footer alone", setup: dyn(truncateTo(511)), args: []string{"query", "-n", "d.vhd", "-v"},
			want: result{Stdout: "error opening d.vhd: -32\n", Code: 32}},
		{name: "a header past the end", setup: dyn(patchFooterField(vhdtest.Both, true, field{off: 16, size: 8}, 1<<40)),
			args: []string{"query", "-n", "d.vhd", "-v"}, want: result{Stdout: "error opening d.vhd: -32\n", Code: 32}},
		{name: "a header no seek reaches", setup: dyn(patchFooterField(vhdtest.Both, true, field{off: 16, size: 8}, 1<<63-1)),
			args: []string{"query", "-n", "d.vhd", "-v"}, want: result{Stdout: "error opening d.vhd: -22\n", Code: 22}},
		{name: "chain depth: poisoned parent", setup: func(t *testing.T, dir string) {
			baseChain(t, dir)
			vhdtest.PatchFooter(t, filepath.Join(dir, "p.vhd"), vhdtest.Both, true, func(f *vhd.Footer) { copy(f.Cookie[:], vhd.DisabledCookie) })
		}, args: []string{"query", "-n", "c.vhd", "-d"}, want: result{Stdout: "error checking chain depth: -22\n", Code: 22}},
		{name: "chain depth: empty parent", setup: func(t *testing.T, dir string) {
			baseChain(t, dir)
			writeFile("p.vhd", nil)(t, dir)
		}, args: []string{"query", "-n", "c.vhd", "-d"}, want: result{Stdout: "error checking chain depth: -32\n", Code: 32}},

		// modify -p to what is not a regular file: EINVAL.
		{name: "modify -p a directory", setup: chain, args: []string{"modify", "-n", "c.vhd", "-p", "."},
			want: result{Stdout: "failed to set parent to '.': -22\n", Code: 22}},
	}
	runCases(t, cases)
	if ref := os.Getenv("VHDKIT_VHDUTIL"); ref != "" {
		// The expectations are vhd-util's own: check them against it.
		for _, tc := range cases {
			t.Run("vhd-util/"+tc.name, func(t *testing.T) {
				dir, err := filepath.EvalSymlinks(t.TempDir())
				if err != nil {
					t.Fatal(err)
				}
				if tc.setup != nil {
					tc.setup(t, dir)
				}
				cmd := exec.Command(ref, tc.args...)
				cmd.Args[0] = "vhd-util"
				cmd.Dir = dir
				var out, errb bytes.Buffer
				cmd.Stdout, cmd.Stderr = &out, &errb
				code := 0
				if err := cmd.Run(); err != nil {
					var ee *exec.ExitError
					if !errors.As(err, &ee) {
						t.Fatal(err)
					}
					code = ee.ExitCode()
				}
				got := result{Stdout: strings.ReplaceAll(out.String(), dir, "$D"), Stderr: strings.ReplaceAll(errb.String(), dir, "$D"), Code: code}
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("blktap vhd-util %s: (-want +got)\n%s", strings.Join(tc.args, " "), diff)
				}
			})
		}
	}
}

func make1023() []byte {
	b := make([]byte, 1023)
	for i := range b {
		b[i] = 'x'
	}
	return b
}

// TestReferenceFixes holds one case for each difference from blktap's
// vhd-util that TestReference found in check, snapshot and set on corrupt
// and out-of-range inputs and that was fixed. The expectations are
// vhd-util's, and with VHDKIT_VHDUTIL each case is run through the
// reference too: its exit status, output (a failing check's up to the
// metadata dump) and the files named must match.
func TestReferenceFixes(t *testing.T) {
	dyn := func(edits ...func(*testing.T, string)) func(*testing.T, string) { return mutate(baseDynamic, edits...) }
	child := func(edits ...func(*testing.T, string)) func(*testing.T, string) { return mutate(baseChain, edits...) }
	dataOffset := field{off: 16, size: 8}
	currentSize := field{off: 48, size: 8}
	diskType := field{off: 60, size: 4}
	invalid := func(name string, first ...string) string {
		return lines(append(first, name+" appears invalid; dumping metadata")...)
	}
	snapshot := []string{"snapshot", "-n", "s.vhd", "-p", "c.vhd"}
	cases := []refCase{
		// check reads the footer and the header as blktap does, with
		// O_DIRECT: an unaligned offset is EINVAL, one no seek reaches too.
		{cliCase: cliCase{name: "check: header at an unaligned offset", setup: dyn(patchFooterField(vhdtest.Both, true, dataOffset, 1)),
			args: []string{"check", "-n", "d.vhd"}, want: result{Stdout: invalid("d.vhd", "error reading header: -22"), Code: 22}}, cutDump: true},
		{cliCase: cliCase{name: "check: header no seek reaches", setup: dyn(patchFooterField(vhdtest.Both, true, dataOffset, 1<<63-1)),
			args: []string{"check", "-n", "d.vhd"}, want: result{Stdout: invalid("d.vhd", "error seeking to header: -22"), Code: 22}}, cutDump: true},
		{cliCase: cliCase{name: "check -p: child's header no seek reaches", setup: child(patchFooterField(vhdtest.Both, true, dataOffset, 1<<63-1)),
			args: []string{"check", "-n", "c.vhd", "-p"}, want: result{Stdout: invalid("c.vhd", "error seeking to header: -22"), Code: 22}}, cutDump: true},
		{cliCase: cliCase{name: "check: a size of 512n+1", setup: dyn(truncateTo(513)),
			args: []string{"check", "-n", "d.vhd"}, want: result{Stdout: invalid("d.vhd", "error reading primary footer: -22"), Code: 22}}, cutDump: true},
		{cliCase: cliCase{name: "check: a size of 512n+1 after the data", setup: dyn(truncateTo(4202497)),
			args: []string{"check", "-n", "d.vhd"}, want: result{Stdout: invalid("d.vhd", "error reading primary footer: -22"), Code: 22}}, cutDump: true},
		// check -i: the open (which takes a valid primary) fails with
		// libvhd's errno: EPIPE past the end, EINVAL beyond a seek.
		{cliCase: cliCase{name: "check -i: primary's header past the end", setup: dyn(patchFooterField(vhdtest.Primary, true, dataOffset, 1<<40)),
			args: []string{"check", "-n", "d.vhd", "-i"}, want: result{Stdout: invalid("d.vhd"), Code: 32}}, cutDump: true},
		{cliCase: cliCase{name: "check -i: primary's header no seek reaches", setup: dyn(patchFooterField(vhdtest.Primary, true, dataOffset, 1<<63)),
			args: []string{"check", "-n", "d.vhd", "-i"}, want: result{Stdout: invalid("d.vhd"), Code: 22}}, cutDump: true},

		// check -i checks the header with the backup footer, but the file
		// opens with a valid primary: the BAT is read for its size and type.
		{cliCase: cliCase{name: "check -i: a primary whose size the BAT is too small for", setup: dyn(patchFooterField(vhdtest.Primary, true, currentSize, 20*mib)),
			args: []string{"check", "-n", "d.vhd", "-i"}, want: result{Stdout: invalid("d.vhd", "error reading bat: -22"), Code: 22}}, cutDump: true},
		{cliCase: cliCase{name: "check -i: a primary of type 0", setup: dyn(patchFooterField(vhdtest.Primary, true, diskType, 0)),
			args: []string{"check", "-n", "d.vhd", "-i"}, want: result{Stdout: invalid("d.vhd", "error reading bat: -22"), Code: 22}}, cutDump: true},
		{cliCase: cliCase{name: "check -i: a primary of type differencing", setup: dyn(patchFooterField(vhdtest.Primary, true, diskType, 4)),
			args: []string{"check", "-n", "d.vhd", "-i"}, want: result{Stdout: invalid("d.vhd", "could not find parent "), Code: 22}}, cutDump: true},

		// check places blocks in blktap's 32-bit sectors: one at 2^32-2
		// wraps over block 0.
		{cliCase: cliCase{name: "check: a block that wraps past 2^32 sectors", setup: dyn(patchRaw(batOff+4, 4, 0xfffffffe)),
			args: []string{"check", "-n", "d.vhd"}, want: result{Stdout: invalid("d.vhd", "block 1 (offset 0xfffffffe) clobbers block 0 (offset 0x7)"), Code: 22}}, cutDump: true},
		{cliCase: cliCase{name: "check: the last block wraps past 2^32 sectors", setup: dyn(patchRaw(batOff+16, 4, 0xfffffffe)),
			args: []string{"check", "-n", "d.vhd"}, want: result{Stdout: invalid("d.vhd", "block 4 (offset 0xfffffffe) clobbers block 0 (offset 0x7)"), Code: 22}}, cutDump: true},

		// check adds the ends of the metadata as libvhd does, in signed 64
		// bits, so a locator past 2^63 is a locator fault, not blocks
		// clobbering headers; its wrapping sum passes "invalid size".
		{cliCase: cliCase{name: "check -p: a locator at 2^63", setup: child(patchHeaderField(true, field{off: 576 + 16, size: 8}, 1<<63)),
			args: []string{"check", "-n", "c.vhd", "-p"}, want: result{Stdout: invalid("c.vhd", "invalid parent locator 0: invalid size"), Code: 22}}, cutDump: true},
		{cliCase: cliCase{name: "check -p: a locator at 2^64-1", setup: child(patchHeaderField(true, field{off: 576 + 24 + 16, size: 8}, all1)),
			args: []string{"check", "-n", "c.vhd", "-p"}, want: result{Stdout: invalid("c.vhd", "error reading parent locator 1: -22"), Code: 22}}, cutDump: true},

		// the batmap is read as libvhd reads it: EINVAL unaligned or past a
		// seek, EPIPE past the end.
		{cliCase: cliCase{name: "check: batmap at an unaligned offset", setup: dyn(patchRaw(batmapHdrOff+8, 8, 0xa01)),
			args: []string{"check", "-n", "d.vhd"}, want: result{Stdout: invalid("d.vhd", "error calculating end of metadata: -22"), Code: 22}}, cutDump: true},
		{cliCase: cliCase{name: "check: batmap past the end", setup: dyn(patchRaw(batmapHdrOff+8, 8, 1<<40)),
			args: []string{"check", "-n", "d.vhd"}, want: result{Stdout: invalid("d.vhd", "error calculating end of metadata: -32"), Code: 32}}, cutDump: true},
		{cliCase: cliCase{name: "check: batmap at 2^64-1", setup: dyn(patchRaw(batmapHdrOff+8, 8, all1)),
			args: []string{"check", "-n", "d.vhd"}, want: result{Stdout: invalid("d.vhd", "error calculating end of metadata: -22"), Code: 22}}, cutDump: true},

		// snapshot walks past empty parents reading each BAT as libvhd
		// does, takes a size of 0 for the target's, and refuses a child
		// smaller than the target.
		{cliCase: cliCase{name: "snapshot of an empty child of size 0", setup: child(patchFooterField(vhdtest.Both, true, currentSize, 0)),
			args: snapshot, then: expect(result{Stdout: lines("10", "$D/p.vhd")}, "query", "-n", "s.vhd", "-vp")}},
		{cliCase: cliCase{name: "snapshot of an empty child smaller than its parent", setup: child(patchFooterField(vhdtest.Both, true, currentSize, 512)),
			args: snapshot, want: result{Code: 22}, then: expectAbsent("s.vhd")}},
		{cliCase: cliCase{name: "snapshot of a child whose BAT is too small", setup: child(patchHeaderField(true, field{off: 28, size: 4}, 1)),
			args: snapshot, want: result{Code: 22}, then: expectAbsent("s.vhd")}},
		{cliCase: cliCase{name: "snapshot of a child whose BAT has no entry", setup: child(patchHeaderField(true, field{off: 28, size: 4}, 0)),
			args: snapshot, want: result{Code: 22}, then: expectAbsent("s.vhd")}},
		{cliCase: cliCase{name: "snapshot of a child whose BAT is past the end", setup: child(patchHeaderField(true, field{off: 16, size: 8}, 1<<40)),
			args: snapshot, want: result{Code: 32}, then: expectAbsent("s.vhd")}},
		{cliCase: cliCase{name: "snapshot of a child cut after its header", setup: child(truncateTo(1536)),
			args: snapshot, want: result{Code: 32}, then: expectAbsent("s.vhd")}},

		// set: a fixed disk's footer is not written over its last data
		// byte; the marker's header is written with zero reserved bytes.
		{cliCase: cliCase{name: "set hidden on a fixed disk with a short footer", setup: mutate(baseFixed, truncateTo(4*mib+511)),
			args: []string{"set", "-n", "f.vhd", "-f", "hidden", "-v", "1"}, want: result{Code: 22}}, files: []string{"f.vhd"}},
		{cliCase: cliCase{name: "set marker zeroes the batmap's reserved bytes", setup: dyn(patchRaw(batmapHdrOff+94, 1, 1)),
			args: []string{"set", "-n", "d.vhd", "-f", "marker", "-v", "7"},
			then: func(t *testing.T, dir string) {
				b, err := os.ReadFile(filepath.Join(dir, "d.vhd"))
				if err != nil {
					t.Fatal(err)
				}
				if got := b[batmapHdrOff+28 : batmapHdrOff+95]; got[0] != 7 || got[66] != 0 {
					t.Errorf("batmap header marker %d, reserved[0] %d; want 7, 0", got[0], got[66])
				}
			}}, files: []string{"d.vhd"}},
	}
	runRefCases(t, cases)
}
