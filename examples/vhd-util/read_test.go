package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vhdkit/vhdkit/vhd"
	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

// utc makes ctime's local zone UTC for the test, as the reference runs
// with TZ=UTC.
func utc(t *testing.T) {
	old := time.Local
	time.Local = time.UTC
	t.Cleanup(func() { time.Local = old })
}

func TestRead(t *testing.T) {
	utc(t)
	rdu := usage(readUsage)
	w := []vhdtest.Write{vhdtest.Fill(1, 0, 4096), vhdtest.Fill(2, 5*mib, 8192)}
	cw := vhdtest.Fill(3, 2*mib+1024, 512)
	// a (10 MiB, blocks 0 and 2) <- c (block 1); the parent's mtime is fixed
	// so the child's header is the same in every run.
	pair := func(t *testing.T, dir string) {
		a := vhdtest.Dynamic(t, filepath.Join(dir, "a.vhd"), 10*mib, nil, w...)
		if err := os.Chtimes(a, vhdtest.Epoch, vhdtest.Epoch); err != nil {
			t.Fatal(err)
		}
		vhdtest.Child(t, filepath.Join(dir, "c.vhd"), a, nil, cw)
	}
	img := imageOf(10*mib, append(w, cw)...)(t, "")
	footer := func(dt, sum, uuid string) string {
		return "VHD Footer Summary:\n-------------------\nCookie              : conectix\nFeatures            : (0x00000002) <RESV>\n" +
			"File format version : Major: 1, Minor: 0\nData offset         : 512\nTimestamp           : Tue Jan  2 03:04:05 2024\n" +
			"Creator Application : 'tap'\nCreator version     : Major: 1, Minor: 3\nCreator OS          : Unknown!\n" +
			"Original disk size  : 10 MB (10485760 Bytes)\nCurrent disk size   : 10 MB (10485760 Bytes)\n" +
			"Geometry            : Cyl: 301, Hds: 4, Sctrs: 17\n                    : = 9 MB (10479616 Bytes)\n" +
			"Disk type           : " + dt + " hard disk\nChecksum            : " + sum + "\nUUID                : " + uuid + "\n" +
			"Saved state         : No\nHidden              : 0\n\n"
	}
	batmap := "VHD Batmap Summary:\n-------------------\nBatmap offset       : 2560\nBatmap size (secs)  : 1\n" +
		"Batmap version      : 0x00010002\nChecksum            : 0xffffffff|0xffffffff (Good!)\n\n"
	dynHeaders := footer("Dynamic", "0xfffff052|0xfffff052 (Good!)", "45db23d1-6a01-599a-8368-d9bca3d58b56") +
		"VHD Header Summary:\n-------------------\nCookie              : cxsparse\nData offset (unusd) : 18446744073709551615\n" +
		"Table offset        : 1536\nHeader version      : 0x00010000\nMax BAT size        : 5\nBlock size          : 2097152 (2 MB)\n" +
		"Parent name         : \nParent UUID         : 00000000-0000-0000-0000-000000000000\n" +
		"Parent timestamp    : Sat Jan  1 00:00:00 2000\nChecksum            : 0xfffff472|0xfffff472 (Good!)\n\n" + batmap
	loc := func(i, code, off string) string {
		return "locator:            : " + i + "\n       code         : PLAT_CODE_" + code + "\n       data_space   : 512\n" +
			"       data_length  : 14\n       data_offset  : " + off + "\n       decoded name : ./a.vhd\n\n"
	}
	// The bitmap of block 1 of c: sector 2 set.
	cBitmap := string(append([]byte{0x20}, make([]byte, 511)...))
	runRefCases(t, []refCase{
		{cliCase: cliCase{name: "help", args: []string{"read", "-h"}, want: result{Stdout: rdu, Code: 22}}},
		{cliCase: cliCase{name: "no name", args: []string{"read", "-p"}, want: result{Stdout: rdu, Code: 22}}},
		{cliCase: cliCase{name: "unknown option", args: []string{"read", "-q", "-n", "a.vhd"}, want: result{Stdout: rdu, Stderr: "read: invalid option -- 'q'\n", Code: 22}}},
		{cliCase: cliCase{name: "missing file", args: []string{"read", "-p", "-n", "a.vhd"},
			want: result{Stdout: "Failed to open a.vhd: -2\n\na.vhd appears invalid; dumping headers\n\n", Code: 2}}},
		{cliCase: cliCase{name: "fixed disk has no BAT", setup: fixed("f.vhd", 4*mib), args: []string{"read", "-p", "-n", "f.vhd"},
			want: result{Stdout: "Failed to get bat for f.vhd: -22\n", Code: 22}}},
		{cliCase: cliCase{name: "headers of a dynamic disk", setup: pair, args: []string{"read", "-p", "-n", "a.vhd"}, want: result{Stdout: dynHeaders}}},
		{cliCase: cliCase{name: "sm hasParent", setup: pair, args: []string{"read", "--debug", "-p", "-n", "c.vhd"},
			want: result{Stdout: footer("Differencing", "0xffffef83|0xffffef83 (Good!)", "2934c513-abf2-5a6d-9ef6-d347aab5b7bc") +
				"VHD Header Summary:\n-------------------\nCookie              : cxsparse\nData offset (unusd) : 18446744073709551615\n" +
				"Table offset        : 1536\nHeader version      : 0x00010000\nMax BAT size        : 5\nBlock size          : 2097152 (2 MB)\n" +
				"Parent name         : a.vhd\nParent UUID         : 45db23d1-6a01-599a-8368-d9bca3d58b56\n" +
				"Parent timestamp    : Tue Jan  2 03:04:05 2024\nChecksum            : 0xffffe489|0xffffe489 (Good!)\n\n" +
				"VHD Parent Locators:\n--------------------\n" + loc("0", "MACX", "3072") + loc("1", "W2KU", "3584") + loc("2", "W2RU", "4096") + batmap}}},
		{cliCase: cliCase{name: "sm getBlockBitmap", setup: pair, args: []string{"read", "--debug", "-B", "-n", "a.vhd"}, want: result{Stdout: "\xa0"}}},
		{cliCase: cliCase{name: "BAT bitmap of the child", setup: pair, args: []string{"read", "-B", "-n", "c.vhd"}, want: result{Stdout: "\x40"}}},
		{cliCase: cliCase{name: "translate", setup: pair, args: []string{"read", "-t", "4095", "-c", "3", "-n", "c.vhd"},
			want: result{Stdout: lines("logical sector 4095: block number: 0, sector offset: 4095, file offset: not allocated",
				"logical sector 4096: block number: 1, sector offset: 0, file offset: 8192",
				"logical sector 4097: block number: 1, sector offset: 1, file offset: 8704")}}},
		{cliCase: cliCase{name: "translate past the end", setup: pair, args: []string{"read", "-t", "20479", "-c", "2", "-n", "c.vhd"},
			want: result{Stderr: "sector 20481 past end of file\n", Code: 34}}},
		{cliCase: cliCase{name: "BAT entries", setup: pair, args: []string{"read", "-b", "0", "-c", "5", "-n", "a.vhd"},
			want: result{Stdout: lines("block: 0: offset: 3584", "block: 1: offset: not allocated", "block: 2: offset: 2104832",
				"block: 3: offset: not allocated", "block: 4: offset: not allocated")}}},
		{cliCase: cliCase{name: "BAT entries in hex", setup: pair, args: []string{"read", "-x", "-b", "2", "-n", "a.vhd"},
			want: result{Stdout: lines("block: 0x2: offset: 0x201e00")}}},
		{cliCase: cliCase{name: "BAT past the table", setup: pair, args: []string{"read", "-b", "4", "-c", "2", "-n", "a.vhd"},
			want: result{Stderr: "block 6 past end of file\n", Code: 34}}},
		{cliCase: cliCase{name: "bitmap", setup: pair, args: []string{"read", "-m", "0", "-c", "2", "-n", "c.vhd"},
			want: result{Stdout: cBitmap + "block 0 not allocated\n"}}},
		{cliCase: cliCase{name: "test bitmap", setup: pair, args: []string{"read", "-i", "4097", "-c", "3", "-n", "c.vhd"},
			want: result{Stdout: lines("block 1: sec: 1: 0", "block 1: sec: 2: 1", "block 1: sec: 3: 0")}}},
		{cliCase: cliCase{name: "extents", setup: pair, args: []string{"read", "-e", "0", "-c", "20480", "-n", "a.vhd"},
			want: result{Stdout: lines("0 8", "10240 16")}}},
		{cliCase: cliCase{name: "extents of a window", setup: pair, args: []string{"read", "-e", "4", "-c", "10244", "-n", "a.vhd"},
			want: result{Stdout: lines("4 4", "10240 8")}}},
		{cliCase: cliCase{name: "extents past the end", setup: pair, args: []string{"read", "-e", "20000", "-c", "481", "-n", "a.vhd"},
			want: result{Stdout: lines("sector 20000 past end of file"), Code: 34}}},
		{cliCase: cliCase{name: "batmap", setup: pair, args: []string{"read", "-a", "-n", "a.vhd"}, want: result{Stdout: string(make([]byte, 512))}}},
		{cliCase: cliCase{name: "test batmap", setup: pair, args: []string{"read", "-j", "0", "-c", "2", "-n", "a.vhd"},
			want: result{Stderr: lines("batmap for block 0: 0", "batmap for block 1: 0")}}},
		{cliCase: cliCase{name: "block data", setup: pair, args: []string{"read", "-d", "1", "-c", "2", "-n", "a.vhd"},
			want: result{Stdout: string(img[4*mib:6*mib]) + "block 1 not allocated\n"}}},
		{cliCase: cliCase{name: "sectors through the chain", setup: pair, args: []string{"read", "-r", "4094", "-c", "8", "-n", "c.vhd"},
			want: result{Stdout: string(img[4094*512 : 4102*512])}}},
		{cliCase: cliCase{name: "bytes", setup: pair, args: []string{"read", "-R", "5242870", "-c", "20", "-n", "a.vhd"},
			want: result{Stdout: string(img[5242870:5242890])}},
			differs: "vhd-util fails with EINVAL on a byte read from an allocated block that is not sector-aligned"},
		{cliCase: cliCase{name: "aligned bytes", setup: pair, args: []string{"read", "-R", "5242368", "-c", "1024", "-n", "a.vhd"},
			want: result{Stdout: string(img[5242368:5243392])}}},
		{cliCase: cliCase{name: "read past the end", setup: pair, args: []string{"read", "-R", "10485750", "-c", "20", "-n", "a.vhd"},
			want: result{Code: 34}}},
		{cliCase: cliCase{name: "fixed order", setup: pair, args: []string{"read", "-r", "0", "-c", "1", "-b", "0", "-n", "a.vhd"},
			want: result{Stdout: string(img[:512]) + "block: 0: offset: 3584\n"}}},
		{cliCase: cliCase{name: "fast open", setup: seq(pair, patchFooter("a.vhd", vhdtest.Primary, true, func(f *vhd.Footer) { f.Hidden = 1 })),
			args: []string{"read", "-C", "-p", "-n", "a.vhd"}, want: result{Stdout: dynHeaders}}},
		{cliCase: cliCase{name: "primary footer wins", setup: seq(pair, patchFooter("a.vhd", vhdtest.Primary, true, func(f *vhd.Footer) { f.Hidden = 1 })),
			args: []string{"read", "-p", "-n", "a.vhd"}, want: result{Stdout: strings.Replace(strings.Replace(dynHeaders, "Hidden              : 0", "Hidden              : 1", 1),
				"0xfffff052|0xfffff052", "0xfffff051|0xfffff051", 1)}}},
	})
}
