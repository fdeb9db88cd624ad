package main

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vhdkit/vhdkit/vhd"
	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

// A checkCase is a golden test of vhd-util check. A valid file's output is
// compared whole (want); a failing one's first line must be msg, followed
// by "NAME appears invalid; dumping metadata" and a dump whose format is
// free, then the lines of tail.
type checkCase struct {
	name  string
	setup func(*testing.T, string)
	args  []string // after "check"
	want  string   // whole stdout, when msg is empty
	msg   string   // the first line of a failure
	file  string   // the file that appears invalid; "a.vhd" when empty
	head  []string // lines before msg (check -p: the valid links)
	tail  []string // the last lines, after the dump
	code  int
}

// libMsg as a checkCase's msg stands for the first problem vhd.CheckFile
// reports, for failures vhd-util has no message for.
const libMsg = "(library message)"

func runCheckCases(t *testing.T, cases []checkCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := tempDir(t)
			if tc.setup != nil {
				tc.setup(t, dir)
			}
			sub := func(s string) string { return strings.ReplaceAll(s, "$D", dir) }
			args := []string{"check"}
			for _, a := range tc.args {
				args = append(args, sub(a))
			}
			r := invoke(args...)
			if r.Code != tc.code || r.Stderr != "" {
				t.Errorf("vhd-util %s: exit %d, stderr %q; want exit %d, no stderr\nstdout:\n%s", strings.Join(args, " "), r.Code, r.Stderr, tc.code, r.Stdout)
			}
			if tc.msg == "" {
				if diff := cmp.Diff(sub(tc.want), r.Stdout); diff != "" {
					t.Errorf("vhd-util %s: stdout (-want +got)\n%s", strings.Join(args, " "), diff)
				}
				return
			}
			file := tc.file
			if file == "" {
				file = "a.vhd"
			}
			got := strings.Split(strings.TrimSuffix(r.Stdout, "\n"), "\n")
			var want []string
			for _, l := range tc.head {
				want = append(want, sub(l))
			}
			msg := sub(tc.msg)
			if msg == libMsg {
				// Not a vhd-util message: whatever the library says.
				rep, _ := vhd.CheckFile(context.Background(), file, &vhd.CheckOptions{Compat: true, Parents: newResolver()})
				if rep == nil || len(rep.Problems) == 0 {
					t.Fatalf("vhd.CheckFile(%s) found no problem", file)
				}
				msg = rep.Problems[0].Msg
			}
			want = append(want, msg, sub(file)+" appears invalid; dumping metadata")
			n := len(want)
			if len(got) < n+1+len(tc.tail) {
				t.Fatalf("vhd-util %s: %d lines, want at least %d (with a dump):\n%s", strings.Join(args, " "), len(got), n+1+len(tc.tail), r.Stdout)
			}
			if diff := cmp.Diff(want, got[:n]); diff != "" {
				t.Errorf("vhd-util %s: first lines (-want +got)\n%s", strings.Join(args, " "), diff)
			}
			var tail []string
			for _, l := range tc.tail {
				tail = append(tail, sub(l))
			}
			if diff := cmp.Diff(tail, got[len(got)-len(tail):]); len(tail) > 0 && diff != "" {
				t.Errorf("vhd-util %s: last lines (-want +got)\n%s", strings.Join(args, " "), diff)
			}
		})
	}
}

// Builders of broken files. a.vhd is a 10 MiB dynamic disk with data in
// block 0 (BAT entry 7: the bitmap at 3584, the data at 4096, the footer
// at 0x201000); c.vhd is a child of p.vhd (20 MiB, locators MacX, W2ku,
// W2ru in slots 0-2).

func aDisk(t *testing.T, dir string) string {
	return vhdtest.Dynamic(t, filepath.Join(dir, "a.vhd"), 10*mib, nil, vhdtest.Fill(1, 0, 4096))
}

func footer(which vhdtest.Footers, fix bool, edit func(*vhd.Footer)) func(*testing.T, string) {
	return func(t *testing.T, dir string) { vhdtest.PatchFooter(t, aDisk(t, dir), which, fix, edit) }
}

func header(fix bool, edit func(*vhd.Header)) func(*testing.T, string) {
	return func(t *testing.T, dir string) { vhdtest.PatchHeader(t, aDisk(t, dir), fix, edit) }
}

func childDisk(t *testing.T, dir string) string {
	vhdtest.Dynamic(t, filepath.Join(dir, "p.vhd"), 20*mib, nil, vhdtest.Fill(1, 0, 4096))
	return vhdtest.Child(t, filepath.Join(dir, "c.vhd"), filepath.Join(dir, "p.vhd"), nil, vhdtest.Fill(2, 2*mib, 4096))
}

func childHeader(edit func(*vhd.Header)) func(*testing.T, string) {
	return func(t *testing.T, dir string) { vhdtest.PatchHeader(t, childDisk(t, dir), true, edit) }
}

func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// bat sets BAT entries of a.vhd.
func bat(entries map[int]uint32) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		p := aDisk(t, dir)
		for i, e := range entries {
			vhdtest.Patch(t, p, 1536+4*int64(i), u32(e)...)
		}
	}
}

// batmapHeader patches bytes of a.vhd's batmap header (at 2048).
func batmapHeader(off int64, data ...byte) func(*testing.T, string) {
	return func(t *testing.T, dir string) { vhdtest.Patch(t, aDisk(t, dir), 2048+off, data...) }
}

func future() uint32 { return vhd.VHDTime(time.Now().Add(3 * time.Hour)) }

func utf16be(s string) (b [512]byte) {
	for i, r := range s {
		binary.BigEndian.PutUint16(b[2*i:], uint16(r))
	}
	return b
}

func TestCheck(t *testing.T) {
	cu := usage(checkUsage)
	valid := "a.vhd is valid\n"
	runCheckCases(t, []checkCase{
		// Usage.
		{name: "help", args: []string{"-h"}, want: cu},
		{name: "missing name", args: []string{"-p"}, want: cu, code: 22},
		{name: "-B with -b", setup: footer(0, false, nil), args: []string{"-n", "a.vhd", "-B", "-b"}, want: cu, code: 22},

		// Success.
		{name: "dynamic", setup: footer(0, false, nil), args: []string{"-n", "a.vhd"}, want: valid},
		{name: "all options", setup: footer(0, false, nil), args: []string{"-n", "a.vhd", "-iItpb", "--debug"}, want: valid},
		{name: "-B", setup: footer(0, false, nil), args: []string{"-Bn", "a.vhd"}, want: valid},
		{name: "fixed prints nothing", setup: fixed("a.vhd", 4*mib), args: []string{"-n", "a.vhd"}},
		{name: "child", setup: func(t *testing.T, dir string) { childDisk(t, dir) }, args: []string{"-n", "c.vhd"}, want: "c.vhd is valid\n"},
		{name: "hidden 1 is valid", setup: footer(vhdtest.Both, true, func(f *vhd.Footer) { f.Hidden = 1 }), args: []string{"-n", "a.vhd"}, want: valid},
		{name: "zero test skips byte 0: first reserved byte ignored", setup: footer(vhdtest.Both, true, func(f *vhd.Footer) { f.Reserved[0] = 1 }), args: []string{"-n", "a.vhd"}, want: valid},

		// Before the footer.
		{name: "missing", args: []string{"-n", "none.vhd"}, want: "cannot stat none.vhd: 2\n", code: 2},
		{name: "directory", setup: mkdir("d"), args: []string{"-n", "d"}, want: "d is not a regular file or block device\n", code: 22},

		// Primary footer, in the order of the rules (vhd/FORMAT.md, section 15.2).
		{name: "junk", setup: writeFile("a.vhd", vhdtest.Pattern(3, 4096)), args: []string{"-n", "a.vhd"}, msg: "primary footer invalid: invalid cookie", code: 22},
		{name: "cookie", setup: footer(vhdtest.Primary, true, func(f *vhd.Footer) { copy(f.Cookie[:], "conectiy") }), args: []string{"-n", "a.vhd"}, msg: "primary footer invalid: invalid cookie", code: 22},
		{name: "poisoned", setup: footer(vhdtest.Both, true, func(f *vhd.Footer) { copy(f.Cookie[:], vhd.DisabledCookie) }), args: []string{"-n", "a.vhd"}, msg: "primary footer invalid: invalid cookie", code: 22},
		{name: "checksum", setup: footer(vhdtest.Primary, false, func(f *vhd.Footer) { f.Timestamp++ }), args: []string{"-n", "a.vhd"}, msg: "primary footer invalid: invalid checksum", code: 22},
		{name: "reserved feature", setup: footer(vhdtest.Both, true, func(f *vhd.Footer) { f.Features = 0 }), args: []string{"-n", "a.vhd"}, msg: "primary footer invalid: invalid 'reserved' feature", code: 22},
		{name: "extra features", setup: footer(vhdtest.Both, true, func(f *vhd.Footer) { f.Features |= 4 }), args: []string{"-n", "a.vhd"}, msg: "primary footer invalid: invalid extra features", code: 22},
		{name: "format version", setup: footer(vhdtest.Both, true, func(f *vhd.Footer) { f.FormatVersion = 0x00020000 }), args: []string{"-n", "a.vhd"}, msg: "primary footer invalid: invalid file format version", code: 22},
		{name: "type 5 is a data offset problem", setup: footer(vhdtest.Both, true, func(f *vhd.Footer) { f.DiskType = 5 }), args: []string{"-n", "a.vhd"}, msg: "primary footer invalid: invalid data offset", code: 22},
		{name: "creation time in future", setup: footer(vhdtest.Both, true, func(f *vhd.Footer) { f.Timestamp = future() }), args: []string{"-n", "a.vhd"}, msg: "primary footer invalid: creation time in future", code: 22},
		{name: "-t skips creation time", setup: footer(vhdtest.Both, true, func(f *vhd.Footer) { f.Timestamp = future() }), args: []string{"-t", "-n", "a.vhd"}, want: valid},
		{name: "tap version", setup: footer(vhdtest.Both, true, func(f *vhd.Footer) { f.CreatorVersion = 0x00010004 }), args: []string{"-n", "a.vhd"}, msg: "primary footer invalid: unsupported tap creator version", code: 22},
		{name: "geometry", setup: footer(vhdtest.Both, true, func(f *vhd.Footer) { f.Geometry = vhd.Geometry{Cylinders: 65535, Heads: 16, SectorsPerTrack: 255} }), args: []string{"-n", "a.vhd"}, msg: "primary footer invalid: geometry too large", code: 22},
		{name: "type", setup: footer(vhdtest.Both, true, func(f *vhd.Footer) { f.DiskType, f.DataOffset = 5, ^uint64(0) }), args: []string{"-n", "a.vhd"}, msg: "primary footer invalid: invalid type", code: 22},
		{name: "saved", setup: footer(vhdtest.Both, true, func(f *vhd.Footer) { f.Saved = 2 }), args: []string{"-n", "a.vhd"}, msg: "primary footer invalid: invalid 'saved' state", code: 22},
		{name: "hidden 2", setup: footer(vhdtest.Both, true, func(f *vhd.Footer) { f.Hidden = 2 }), args: []string{"-n", "a.vhd"}, msg: "primary footer invalid: invalid 'hidden' state", code: 22},
		{name: "reserved bits", setup: footer(vhdtest.Both, true, func(f *vhd.Footer) { f.Reserved[1] = 1 }), args: []string{"-n", "a.vhd"}, msg: "primary footer invalid: invalid 'reserved' bits", code: 22},
		{name: "null uuid", setup: footer(vhdtest.Both, true, func(f *vhd.Footer) { f.UUID = vhd.UUID{} }), args: []string{"-n", "a.vhd"}, msg: "primary footer invalid: invalid (NULL) uuid", code: 22},
		{name: "fixed with bad footer", setup: func(t *testing.T, dir string) {
			vhdtest.PatchFooter(t, vhdtest.Fixed(t, filepath.Join(dir, "a.vhd"), 4*mib, nil), vhdtest.Primary, false, func(f *vhd.Footer) { f.Timestamp++ })
		}, args: []string{"-n", "a.vhd"}, msg: "primary footer invalid: invalid checksum", code: 22},

		// Backup footer.
		{name: "backup checksum", setup: footer(vhdtest.Backup, false, func(f *vhd.Footer) { f.Timestamp++ }), args: []string{"-n", "a.vhd"}, msg: "backup footer invalid: invalid checksum", code: 22},
		{name: "footers differ", setup: footer(vhdtest.Backup, true, func(f *vhd.Footer) { f.Timestamp++ }), args: []string{"-n", "a.vhd"}, msg: "primary and backup footers do not match", code: 22},
		{name: "-i uses the backup", setup: footer(vhdtest.Primary, false, func(f *vhd.Footer) { f.Timestamp++ }), args: []string{"-i", "-n", "a.vhd"}, want: valid},

		// Header.
		{name: "header cookie", setup: header(true, func(h *vhd.Header) { copy(h.Cookie[:], "cxsparsf") }), args: []string{"-n", "a.vhd"}, msg: "header is invalid: invalid cookie", code: 22},
		{name: "header checksum", setup: header(false, func(h *vhd.Header) { h.MaxTableEntries++ }), args: []string{"-n", "a.vhd"}, msg: "header is invalid: invalid checksum", code: 22},
		{name: "header version", setup: header(true, func(h *vhd.Header) { h.Version = 0x00010001 }), args: []string{"-n", "a.vhd"}, msg: "header is invalid: invalid header version", code: 22},
		{name: "header data offset", setup: header(true, func(h *vhd.Header) { h.DataOffset = 0 }), args: []string{"-n", "a.vhd"}, msg: "header is invalid: invalid data offset", code: 22},
		{name: "table offset", setup: header(true, func(h *vhd.Header) { h.TableOffset = 1000 }), args: []string{"-n", "a.vhd"}, msg: "header is invalid: invalid table offset", code: 22},
		{name: "block size", setup: header(true, func(h *vhd.Header) { h.BlockSize = 3 << 19 }), args: []string{"-n", "a.vhd"}, msg: "header is invalid: invalid block size", code: 22},
		{name: "header reserved", setup: header(true, func(h *vhd.Header) { h.Reserved1 = 1 }), args: []string{"-n", "a.vhd"}, msg: "header is invalid: invalid reserved bits", code: 22},

		// Differencing header.
		{name: "parent time in future", setup: childHeader(func(h *vhd.Header) { h.ParentTimestamp = future() }), args: []string{"-n", "c.vhd"}, file: "c.vhd",
			msg: "differencing header is invalid: parent creation time in future", code: 22},
		{name: "-t skips parent time", setup: childHeader(func(h *vhd.Header) { h.ParentTimestamp = future() }), args: []string{"-n", "c.vhd", "-t"}, want: "c.vhd is valid\n"},
		{name: "parent name not ASCII", setup: childHeader(func(h *vhd.Header) { h.ParentName = utf16be("p\u00e9.vhd") }), args: []string{"-n", "c.vhd"}, file: "c.vhd",
			msg: "differencing header is invalid: invalid parent name", code: 22},
		{name: "non-null parent name", setup: header(true, func(h *vhd.Header) { h.ParentName = utf16be("p.vhd") }), args: []string{"-n", "a.vhd"},
			msg: "differencing header is invalid: invalid non-null parent name", code: 22},
		{name: "non-null parent locators", setup: header(true, func(h *vhd.Header) { h.Locators[1].DataSpace = 512 }), args: []string{"-n", "a.vhd"},
			msg: "differencing header is invalid: invalid non-null parent locators", code: 22},
		{name: "non-null parent uuid", setup: header(true, func(h *vhd.Header) { h.ParentUUID = vhd.NewUUID() }), args: []string{"-n", "a.vhd"},
			msg: "differencing header is invalid: invalid non-null parent uuid", code: 22},
		{name: "non-zero parent timestamp", setup: header(true, func(h *vhd.Header) { h.ParentTimestamp = 1 }), args: []string{"-n", "a.vhd"},
			msg: "differencing header is invalid: invalid non-zero parent timestamp", code: 22},

		// BAT.
		{name: "VHD larger than BAT", setup: footer(vhdtest.Both, true, func(f *vhd.Footer) {
			f.CurrentSize = 20 * mib
			f.Geometry = vhd.GeometryForSize(20 * mib)
		}), args: []string{"-n", "a.vhd"}, msg: "error reading bat: -22", code: 22}, // libvhd reads the BAT before comparing sizes
		{name: "clobbers headers", setup: bat(map[int]uint32{0: 2}), args: []string{"-n", "a.vhd"}, msg: "block 0 (offset 0x2) clobbers headers", code: 22},
		{name: "clobbers footer", setup: bat(map[int]uint32{0: 100}), args: []string{"-n", "a.vhd"}, msg: "block 0 (offset 0x64) clobbers footer", code: 22},
		{name: "clobbers block", setup: bat(map[int]uint32{1: 7}), args: []string{"-n", "a.vhd"}, msg: "block 0 (offset 0x7) clobbers block 1 (offset 0x7)", code: 22},
		{name: "-B skips overlaps", setup: bat(map[int]uint32{1: 7}), args: []string{"-B", "-n", "a.vhd"}, want: valid},
		{name: "batmap cookie", setup: batmapHeader(0, 'x'), args: []string{"-n", "a.vhd"}, msg: "error calculating end of metadata: -22", code: 22},
		{name: "file size", setup: func(t *testing.T, dir string) {
			p := aDisk(t, dir)
			f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.Write(make([]byte, 100))
			f.Close()
			// blktap reads the footer at EOF-511 with O_DIRECT: EINVAL.
		}, args: []string{"-i", "-n", "a.vhd"}, msg: "error reading primary footer: -22", code: 22},
		{name: "bitmap clear", setup: func(t *testing.T, dir string) {
			// The data's first byte is zero: vhd-util's zero test skips it.
			p := vhdtest.Dynamic(t, filepath.Join(dir, "a.vhd"), 10*mib, nil, vhdtest.Write{Offset: 1024, Data: []byte{0, 1}})
			vhdtest.Patch(t, p, 3584, 0)
		}, args: []string{"-b", "-n", "a.vhd"}, msg: "sector 0x2 of block 0x0 has data where bitmap is clear", code: 22},
		{name: "zero test skips byte 0: -b skips a sector whose first byte is set", setup: func(t *testing.T, dir string) {
			p := vhdtest.Dynamic(t, filepath.Join(dir, "a.vhd"), 10*mib, nil, vhdtest.Write{Offset: 1024, Data: []byte{1, 1}})
			vhdtest.Patch(t, p, 3584, 0)
		}, args: []string{"-b", "-n", "a.vhd"}, want: valid},
		{name: "bitmap clear without -b", setup: func(t *testing.T, dir string) { vhdtest.Patch(t, aDisk(t, dir), 3584, 0) }, args: []string{"-n", "a.vhd"}, want: valid},

		// Batmap (header at 2048, map at 2560).
		{name: "batmap size zero (vhd-util aborts)", setup: batmapHeader(16, u32(0)...), args: []string{"-n", "a.vhd"}, msg: libMsg, code: 22},
		// libvhd reads the map with O_DIRECT: EINVAL at an unaligned offset.
		{name: "batmap offset", setup: batmapHeader(8, 0, 0, 0, 0, 0, 0, 0x0a, 0x01), args: []string{"-n", "a.vhd"}, msg: "error calculating end of metadata: -22", code: 22},
		{name: "batmap past the end", setup: batmapHeader(8, 0, 0, 0, 0, 0, 0x20, 0x10, 0x00), args: []string{"-n", "a.vhd"}, msg: "error calculating end of metadata: -22", code: 22},
		{name: "short footer compared with the wrong end", setup: func(t *testing.T, dir string) {
			if err := os.Truncate(vhdtest.Dynamic(t, filepath.Join(dir, "a.vhd"), 10*mib, nil), 3583); err != nil {
				t.Fatal(err)
			}
		}, args: []string{"-n", "a.vhd"}, msg: "batmap is invalid: invalid batmap size", code: 22},
		{name: "batmap-BAT size mismatch", setup: func(t *testing.T, dir string) {
			// 4097 blocks need a 2-sector map, but the checksum covers only
			// curr_size>>24 = 512 bytes, so a 1-sector map reads fine.
			p := vhdtest.Dynamic(t, filepath.Join(dir, "a.vhd"), 8<<30+2*mib, nil)
			vhdtest.Patch(t, p, 1536+16896+16, u32(1)...)
		}, args: []string{"-n", "a.vhd"}, msg: "batmap is invalid: batmap-BAT size mismatch", code: 22},
		{name: "batmap full bit", setup: func(t *testing.T, dir string) {
			p := aDisk(t, dir)
			vhdtest.Patch(t, p, 2560, 0x40)
			vhdtest.Patch(t, p, 2048+24, u32(^uint32(0x40))...)
		}, args: []string{"-n", "a.vhd"}, msg: "batmap shows unallocated block 1 full", code: 22},

		// Parent locators of c.vhd.
		{name: "non-zero locator", setup: childHeader(func(h *vhd.Header) { h.Locators[4].DataSpace = 512 }), args: []string{"-n", "c.vhd"}, file: "c.vhd",
			msg: "invalid parent locator 4: non-zero locator", code: 22},
		{name: "locator data offset", setup: childHeader(func(h *vhd.Header) { h.Locators[1].DataOffset = 0 }), args: []string{"-n", "c.vhd"}, file: "c.vhd",
			msg: "invalid parent locator 1: invalid data offset", code: 22},
		{name: "locator data space", setup: childHeader(func(h *vhd.Header) { h.Locators[1].DataSpace = 0 }), args: []string{"-n", "c.vhd"}, file: "c.vhd",
			msg: "invalid parent locator 1: invalid data space", code: 22},
		{name: "locator data length", setup: childHeader(func(h *vhd.Header) { h.Locators[2].DataLength = 0 }), args: []string{"-n", "c.vhd"}, file: "c.vhd",
			msg: "invalid parent locator 2: invalid data length", code: 22},
		{name: "locator size", setup: func(t *testing.T, dir string) {
			seq(dynamic("p.vhd", 20*mib), child("c.vhd", "p.vhd"))(t, dir)
			vhdtest.PatchHeader(t, filepath.Join(dir, "c.vhd"), true, func(h *vhd.Header) { h.Locators[0].DataOffset = 4608 })
		}, args: []string{"-n", "c.vhd"}, file: "c.vhd",
			msg: "invalid parent locator 0: invalid size", code: 22},
		{name: "locator reserved", setup: childHeader(func(h *vhd.Header) { h.Locators[0].Reserved = 1 }), args: []string{"-n", "c.vhd"}, file: "c.vhd",
			msg: "invalid parent locator 0: invalid reserved bits", code: 22},
		{name: "duplicate code", setup: childHeader(func(h *vhd.Header) { h.Locators[2].Code = vhd.PlatformW2ku }), args: []string{"-n", "c.vhd"}, file: "c.vhd",
			msg: "duplicate platform code in locator 2: 0x57326b75", code: 22},
		{name: "locator name", setup: childHeader(func(h *vhd.Header) { h.ParentName = utf16be("q.vhd") }), args: []string{"-n", "c.vhd"}, file: "c.vhd",
			msg: "parent locator 0 name (p.vhd) does not match header name (q.vhd)", code: 22},
		{name: "parent missing", setup: seq(func(t *testing.T, dir string) { childDisk(t, dir) }, rename("p.vhd", "q.vhd")), args: []string{"-n", "c.vhd"}, file: "c.vhd",
			msg: "error resolving ./p.vhd: -2", code: 2},
		{name: "parent uuid", setup: childHeader(func(h *vhd.Header) { h.ParentUUID = vhd.NewUUID() }), args: []string{"-n", "c.vhd"}, file: "c.vhd",
			msg: "invalid parent $D/p.vhd: invalid parent uuid", code: 22},
		{name: "-I ignores parent uuid", setup: childHeader(func(h *vhd.Header) { h.ParentUUID = vhd.NewUUID() }), args: []string{"-I", "-n", "c.vhd"}, want: "c.vhd is valid\n"},
		{name: "parent does not open", setup: seq(func(t *testing.T, dir string) { childDisk(t, dir) }, writeFile("p.vhd", vhdtest.Pattern(5, 4096))), args: []string{"-n", "c.vhd"}, file: "c.vhd",
			msg: "invalid parent $D/p.vhd: error opening parent", code: 22},
		{name: "no locator", setup: childHeader(func(h *vhd.Header) {
			for i := range 3 {
				h.Locators[i] = vhd.ParentLocator{}
			}
		}), args: []string{"-n", "c.vhd"}, file: "c.vhd", msg: "could not find parent p.vhd", code: 22},
		{name: "parent one directory up", setup: seq(mkdir("sub"), dynamic("p.vhd", 4*mib), child("sub/c.vhd", "p.vhd")), args: []string{"-n", "sub/c.vhd", "-p"},
			want: "sub/c.vhd is valid\n$D/p.vhd is valid\n"},
	})
}

func TestCheckChains(t *testing.T) {
	runCheckCases(t, []checkCase{
		{name: "depth 1", setup: chainOf(1), args: []string{"-p", "-n", "0.vhd"}, want: "0.vhd is valid\n"},
		{name: "depth 2", setup: chainOf(2), args: []string{"-p", "-n", "0.vhd"}, want: "0.vhd is valid\n$D/1.vhd is valid\n"},
		{name: "depth 3", setup: chainOf(3), args: []string{"-n", "0.vhd", "-p"}, want: "0.vhd is valid\n$D/1.vhd is valid\n$D/2.vhd is valid\n"},
		{name: "depth 3 absolute", setup: chainOf(3), args: []string{"-pn", "$D/0.vhd"}, want: "$D/0.vhd is valid\n$D/1.vhd is valid\n$D/2.vhd is valid\n"},
		{name: "depth 3 without -p", setup: chainOf(3), args: []string{"-n", "0.vhd"}, want: "0.vhd is valid\n"},
		{name: "interior", setup: chainOf(3), args: []string{"-n", "1.vhd", "-p"}, want: "1.vhd is valid\n$D/2.vhd is valid\n"},
		{name: "broken base", setup: func(t *testing.T, dir string) {
			chainOf(3)(t, dir)
			vhdtest.PatchFooter(t, filepath.Join(dir, "2.vhd"), vhdtest.Primary, false, func(f *vhd.Footer) { f.Timestamp++ })
		}, args: []string{"-n", "0.vhd", "-p"}, head: []string{"0.vhd is valid", "$D/1.vhd is valid"}, file: "$D/2.vhd",
			msg: "primary footer invalid: invalid checksum", tail: []string{"error checking parents: -22"}, code: 22},
		{name: "missing grandparent", setup: seq(chainOf(3), rename("2.vhd", "x.vhd")), args: []string{"-n", "0.vhd", "-p"},
			head: []string{"0.vhd is valid"}, file: "$D/1.vhd", msg: "error resolving ./2.vhd: -2", tail: []string{"error checking parents: -2"}, code: 2},
		{name: "raw parent ends the walk", setup: func(t *testing.T, dir string) {
			writeFile("r.img", make([]byte, 4*mib))(t, dir)
			cli("snapshot", "-m", "-n", "1.vhd", "-p", "r.img")(t, dir)
			cli("snapshot", "-n", "0.vhd", "-p", "1.vhd", "-e")(t, dir)
		}, args: []string{"-n", "0.vhd", "-p"}, want: "0.vhd is valid\n$D/1.vhd is valid\n"},
	})
}
