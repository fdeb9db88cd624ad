package main

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/vhdkit/vhdkit/vhd"
	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

func symlink(target, name string) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
}

func fifo(name string) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		if err := syscall.Mkfifo(filepath.Join(dir, name), 0o644); err != nil {
			t.Skipf("mkfifo: %v", err)
		}
	}
}

func hiddenDynamic(name string, size int64) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		vhdtest.Dynamic(t, filepath.Join(dir, name), size, &vhdtest.Options{Hidden: 1})
	}
}

func TestScan(t *testing.T) {
	su := usage(scanUsage)
	// a (hidden) <- b <- c, x beside b; j is junk, e empty, f fixed.
	sr := seq(hiddenDynamic("a.vhd", 10*mib), child("b.vhd", "a.vhd", vhdtest.Fill(1, 0, 4096)),
		child("c.vhd", "b.vhd"), child("x.vhd", "a.vhd"), writeFile("j.vhd", vhdtest.Pattern(3, 8192)),
		writeFile("e.vhd", nil), fixed("f.vhd", 4*mib))
	pair := seq(hiddenDynamic("a.vhd", 10*mib), child("b.vhd", "a.vhd"))
	const (
		lineA  = "vhd=a.vhd capacity=10485760 size=3584 hidden=1 parent=none"
		lineB  = "vhd=b.vhd capacity=10485760 size=2105856 hidden=0 parent=a.vhd"
		lineB0 = "vhd=b.vhd capacity=10485760 size=5120 hidden=0 parent=a.vhd"
		lineC  = "vhd=c.vhd capacity=10485760 size=5120 hidden=0 parent=b.vhd"
		lineX  = "vhd=x.vhd capacity=10485760 size=5120 hidden=0 parent=a.vhd"
		lineE  = "vhd=e.vhd scan-error=-32 error-message='opening file'"
		lineF  = "vhd=f.vhd capacity=4194304 size=4194816 hidden=0 parent=none"
		lineFf = "vhd=f.vhd scan-error=-22 error-message='opening file'"
		lineJ  = "vhd=j.vhd scan-error=-22 error-message='opening file'"
	)
	runRefCases(t, []refCase{
		{cliCase: cliCase{name: "help", args: []string{"scan", "-h"}, want: result{Stdout: su}}},
		{cliCase: cliCase{name: "no files", args: []string{"scan", "-f"}, want: result{Stdout: su, Code: 22}}},
		{cliCase: cliCase{name: "unknown option", args: []string{"scan", "-q", "a.vhd"},
			want: result{Stdout: su, Stderr: "scan: invalid option -- 'q'\n", Code: 22}}},
		{cliCase: cliCase{name: "LVM refused", args: []string{"scan", "-f", "-l", "VG_XenStorage-1", "-m", "VHD-*"},
			want: result{Stderr: "vhd-util: scan -l (LVM volume groups) is not supported by this implementation\n", Code: 95}},
			differs: "LVM volume groups are not implemented"},
		{cliCase: cliCase{name: "sm getAllVHDs", setup: pair, args: []string{"scan", "--debug", "-f", "-m", "*.vhd"},
			want: result{Stdout: lines(lineA, lineB0)}}, unordered: true},
		{cliCase: cliCase{name: "no match is no output", setup: pair, args: []string{"scan", "-f", "-m", "q*.vhd"}}},
		{cliCase: cliCase{name: "braces", setup: pair, args: []string{"scan", "-f", "-m", "{b,a}.vhd"},
			want: result{Stdout: lines(lineB0, lineA)}}},
		{cliCase: cliCase{name: "dot files are not matched", setup: seq(pair, rename("b.vhd", ".b.vhd")), args: []string{"scan", "-f", "-m", "*.vhd"},
			want: result{Stdout: lines(lineA)}}},
		{cliCase: cliCase{name: "operands", setup: pair, args: []string{"scan", "b.vhd", "a.vhd"},
			want: result{Stdout: lines(lineB0, lineA)}}},
		{cliCase: cliCase{name: "full scan of an SR", setup: sr, args: []string{"scan", "-c", "-m", "*.vhd"},
			want: result{Stdout: lines(lineA, lineB, lineC, lineE, lineF, lineJ, lineX)}}},
		{cliCase: cliCase{name: "fast scan of an SR", setup: sr, args: []string{"scan", "-f", "-c", "-m", "*.vhd"},
			want: result{Stdout: lines(lineA, lineB, lineC, lineE, lineFf, lineJ, lineX)}}, unordered: true},
		{cliCase: cliCase{name: "stops at the first error", setup: sr, args: []string{"scan", "-m", "*.vhd"},
			want: result{Stdout: lines(lineA, lineB, lineC, lineE), Code: 32}}},
		{cliCase: cliCase{name: "verbose", setup: pair, args: []string{"scan", "-v", "$D/b.vhd"},
			want: result{Stdout: lines("vhd=$D/b.vhd capacity=10485760 size=5120 hidden=0 parent=$D/a.vhd")}}},
		{cliCase: cliCase{name: "verbose fast gives the header's name", setup: pair, args: []string{"scan", "-f", "-v", "$D/b.vhd"},
			want: result{Stdout: lines("vhd=$D/b.vhd capacity=10485760 size=5120 hidden=0 parent=a.vhd")}}},
		{cliCase: cliCase{name: "markers", setup: seq(pair, cli("set", "-n", "b.vhd", "-f", "marker", "-v", "1")), args: []string{"scan", "-M", "a.vhd", "b.vhd"},
			want: result{Stdout: lines("vhd=a.vhd capacity=10485760 size=3584 hidden=1 marker=0 keyhash= parent=none",
				"vhd=b.vhd capacity=10485760 size=5120 hidden=0 marker=1 keyhash= parent=a.vhd")}}},
		{cliCase: cliCase{name: "fast hidden comes from the copy at 0", setup: func(t *testing.T, dir string) {
			p := vhdtest.Dynamic(t, filepath.Join(dir, "a.vhd"), 10*mib, nil)
			vhdtest.PatchFooter(t, p, vhdtest.Primary, true, func(f *vhd.Footer) { f.Hidden = 1 })
		}, args: []string{"scan", "-f", "a.vhd"}, want: result{Stdout: lines("vhd=a.vhd capacity=10485760 size=3584 hidden=0 parent=none")},
			then: expect(result{Stdout: lines("hidden: 1")}, "query", "-n", "a.vhd", "-f")}},
		{cliCase: cliCase{name: "parents", setup: sr, args: []string{"scan", "-a", "-c", "c.vhd"},
			want: result{Stdout: lines(lineC, lineB, lineA)}}},
		{cliCase: cliCase{name: "parents of several, once each", setup: sr, args: []string{"scan", "-a", "-f", "-m", "[cx].vhd"},
			want: result{Stdout: lines(lineC, lineX, lineB, lineA)}}, unordered: true},
		{cliCase: cliCase{name: "missing parent", setup: seq(sr, rename("a.vhd", "gone.vhd")), args: []string{"scan", "-a", "-c", "-f", "x.vhd"},
			want: result{Stdout: lines(lineX, "vhd=a.vhd scan-error=-2 error-message='failure scanning target'")}}},
		{cliCase: cliCase{name: "missing parent, full open", setup: seq(sr, rename("a.vhd", "gone.vhd")), args: []string{"scan", "x.vhd"},
			want: result{Stdout: lines("vhd=x.vhd capacity=10485760 size=5120 hidden=0 parent=a.vhd")}}},
		{cliCase: cliCase{name: "raw parent", setup: func(t *testing.T, dir string) {
			writeFile("r.raw", make([]byte, 2*mib))(t, dir)
			cli("snapshot", "-n", "c.vhd", "-p", "r.raw", "-m")(t, dir)
		}, args: []string{"scan", "-a", "c.vhd"},
			want: result{Stdout: lines("vhd=c.vhd capacity=2097152 size=5120 hidden=0 parent=r.raw", "vhd=r.raw capacity=2097152 size=2097152 hidden=1 parent=none")}}},
		{cliCase: cliCase{name: "pretty", setup: sr, args: []string{"scan", "-p", "-c", "-m", "*.vhd"},
			want: result{Stdout: lines(
				"vhd=$D/e.vhd scan-error=-32 error-message='opening file'",
				"vhd=$D/j.vhd scan-error=-22 error-message='opening file'",
				lineA, "   "+lineB, "      "+lineC, "   "+lineX, lineF)}}},
		{cliCase: cliCase{name: "pretty, parent not scanned", setup: sr, args: []string{"scan", "-p", "c.vhd"},
			want: result{Stdout: lines(lineC + " (not found in scan)")}}},
		{cliCase: cliCase{name: "pretty verbose", setup: pair, args: []string{"scan", "-p", "-v", "-m", "*.vhd"},
			want: result{Stdout: lines("vhd=$D/a.vhd capacity=10485760 size=3584 hidden=1 parent=none",
				"   vhd=$D/b.vhd capacity=10485760 size=5120 hidden=0 parent=$D/a.vhd")}}},
		{cliCase: cliCase{name: "directory", setup: mkdir("d.vhd"), args: []string{"scan", "-c", "d.vhd"},
			want: result{Stdout: lines("vhd=d.vhd scan-error=-21 error-message='opening file'")}}},
		{cliCase: cliCase{name: "dangling symlink ends the scan", setup: seq(pair, symlink("nowhere", "0.vhd")), args: []string{"scan", "-f", "-m", "*.vhd"},
			want: result{Stdout: lines("vhd=0.vhd scan-error=-2 error-message='failure scanning target'"),
				Stderr: "scan failed: -2. Check syslog for details\n", Code: 2}}},
		{cliCase: cliCase{name: "dangling symlink, continue", setup: seq(pair, symlink("nowhere", "0.vhd")), args: []string{"scan", "-f", "-c", "-m", "*.vhd"},
			want: result{Stdout: lines("vhd=0.vhd scan-error=-2 error-message='failure scanning target'", lineA, lineB0)}},
			differs: "vhd-util also prints a bogus entry 'vhd=. capacity=0 size=0 hidden=1 parent=none' for the missing file"},
		{cliCase: cliCase{name: "fifo never blocks", setup: seq(pair, fifo("p.vhd")), args: []string{"scan", "-f", "-c", "-m", "*.vhd"},
			want: result{Stdout: lines(lineA, lineB0, "vhd=p.vhd scan-error=-22 error-message='opening file'")}},
			differs: "vhd-util blocks forever in open(2) on a FIFO"},
	})
}
