package vhd_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vhdkit/vhdkit/vhd"
	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

// dirOpener is a test-only ParentOpener: it resolves a locator relative to
// the child's directory and opens the result with vhd.Open. (The real ones
// come from the chain package.)
type dirOpener struct{}

func (dirOpener) Resolve(child *vhd.File, loc vhd.Locator) (string, error) {
	if loc.Err != nil {
		return "", loc.Err
	}
	p := filepath.Join(filepath.Dir(child.Name()), filepath.FromSlash(loc.Path))
	if _, err := os.Stat(p); err != nil {
		return "", err
	}
	return p, nil
}

func (dirOpener) Open(p string) (*vhd.File, error) { return vhd.Open(p) }

// blindOpener resolves without looking whether anything is there.
type blindOpener struct{ dirOpener }

func (blindOpener) Resolve(child *vhd.File, loc vhd.Locator) (string, error) {
	return filepath.Join(filepath.Dir(child.Name()), filepath.FromSlash(loc.Path)), nil
}

// Layout of the files the cases start from (see FORMAT.md, what create and snapshot write): a 4 MiB
// dynamic disk has its BAT at 1536, the batmap header at 2048, the map at
// 2560 and the footer at 3072; a child of it has MacX, W2ku and W2ru data at
// 3072, 3584 and 4096 and the footer at 4608.
const (
	offBatmapHdr = 2048
	offBatmap    = 2560
)

func emptyDisk(t *testing.T, dir string) string {
	return vhdtest.Dynamic(t, filepath.Join(dir, "d.vhd"), 4*mib, nil)
}

// dataDisk has blocks 0 and 1 allocated, block 2 not.
func dataDisk(t *testing.T, dir string) string {
	return vhdtest.Dynamic(t, filepath.Join(dir, "d.vhd"), 6*mib, nil, vhdtest.Fill(1, 0, 1024), vhdtest.Fill(2, 2*mib+4096, 512))
}

func childWithBlock(t *testing.T, dir string) string {
	base := vhdtest.Dynamic(t, filepath.Join(dir, "p.vhd"), 4*mib, nil)
	return vhdtest.Child(t, filepath.Join(dir, "c.vhd"), base, nil, vhdtest.Fill(3, 0, 512))
}

func childDisk(t *testing.T, dir string) string {
	base := vhdtest.Dynamic(t, filepath.Join(dir, "p.vhd"), 4*mib, nil)
	return vhdtest.Child(t, filepath.Join(dir, "c.vhd"), base, nil)
}

func fixedDisk(t *testing.T, dir string) string {
	return vhdtest.Fixed(t, filepath.Join(dir, "f.vhd"), 64<<10, nil, vhdtest.Fill(3, 0, 4096))
}

func bat(t *testing.T, p string) []uint32 {
	t.Helper()
	f, err := vhd.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := f.BAT()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func setBAT(t *testing.T, p string, i int, v uint32) {
	t.Helper()
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	vhdtest.Patch(t, p, 1536+4*int64(i), b[:]...)
}

func patchU32(t *testing.T, p string, off int64, v uint32) {
	t.Helper()
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	vhdtest.Patch(t, p, off, b[:]...)
}

func future() uint32 { return vhd.VHDTime(time.Now().Add(48 * time.Hour)) }

func footer(fn func(*vhd.Footer)) func(*testing.T, string) {
	return func(t *testing.T, p string) { vhdtest.PatchFooter(t, p, vhdtest.Primary, true, fn) }
}

func bothFooters(fn func(*vhd.Footer)) func(*testing.T, string) {
	return func(t *testing.T, p string) { vhdtest.PatchFooter(t, p, vhdtest.Both, true, fn) }
}

func header(fn func(*vhd.Header)) func(*testing.T, string) {
	return func(t *testing.T, p string) { vhdtest.PatchHeader(t, p, true, fn) }
}

type checkCase struct {
	name  string
	make  func(*testing.T, string) string // builds the file in dir
	edit  func(*testing.T, string)        // corrupts it
	opts  vhd.CheckOptions
	want  []string // messages; {name} is the path, {dir} its directory, {bN} BAT entry N in hex
	first error    // sentinel of the first problem
}

func runCheckCases(t *testing.T, cases []checkCase) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := tc.make(t, dir)
			var entries []uint32
			if f, err := vhd.Open(p); err == nil {
				entries, _ = f.BAT()
				f.Close()
			}
			if tc.edit != nil {
				tc.edit(t, p)
			}
			opts := tc.opts
			rep, err := vhd.CheckFile(context.Background(), p, &opts)
			if rep == nil {
				t.Fatalf("CheckFile: no report, %v", err)
			}
			var got []string
			for _, pr := range rep.Problems {
				got = append(got, pr.Msg)
				if pr.Err == nil || pr.Part == "" {
					t.Errorf("incomplete problem %+v", pr)
				}
			}
			var want []string
			for _, w := range tc.want {
				w = strings.ReplaceAll(w, "{name}", p)
				w = strings.ReplaceAll(w, "{dir}", dir)
				for i, e := range entries {
					w = strings.ReplaceAll(w, fmt.Sprintf("{b%d}", i), fmt.Sprintf("0x%x", e))
				}
				want = append(want, w)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
			if len(want) == 0 {
				if len(rep.NotRun) > 0 {
					// Rules left out: never "valid", only valid so far.
					if !errors.Is(err, vhd.ErrIncomplete) || errors.Is(err, vhd.ErrFormat) || rep.Valid() || !rep.ValidSoFar() {
						t.Errorf("err = %v, Valid %v, ValidSoFar %v; want ErrIncomplete", err, rep.Valid(), rep.ValidSoFar())
					}
				} else if err != nil {
					t.Errorf("err = %v, want nil", err)
				}
				return
			}
			var ce *vhd.CheckError
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want *CheckError", err)
			}
			if !errors.Is(err, vhd.ErrFormat) {
				t.Errorf("err does not match ErrFormat")
			}
			if tc.first != nil {
				if !errors.Is(err, tc.first) || rep.Problems[0].Err != tc.first {
					t.Errorf("first problem's error = %v, want %v", rep.Problems[0].Err, tc.first)
				}
			}
		})
	}
}

func TestCheckFooter(t *testing.T) {
	now := time.Now()
	runCheckCases(t, []checkCase{
		{name: "valid dynamic", make: emptyDisk},
		{name: "valid fixed", make: fixedDisk},
		{name: "valid with data", make: dataDisk},
		{name: "hidden 1 is fine", make: emptyDisk, edit: bothFooters(func(f *vhd.Footer) { f.Hidden = 1 })},
		{name: "cookie", make: emptyDisk, edit: footer(func(f *vhd.Footer) { copy(f.Cookie[:], "xonectix") }),
			want: []string{"primary footer invalid: invalid cookie"}, first: vhd.ErrFooterInvalid},
		{name: "poisoned cookie", make: emptyDisk, edit: footer(func(f *vhd.Footer) { copy(f.Cookie[:], "v_poison") }),
			want: []string{"primary footer invalid: invalid cookie"}, first: vhd.ErrFooterInvalid},
		{name: "checksum", make: emptyDisk,
			edit: func(t *testing.T, p string) {
				vhdtest.PatchFooter(t, p, vhdtest.Primary, false, func(f *vhd.Footer) { f.OriginalSize += 512 })
			},
			want: []string{"primary footer invalid: invalid checksum"}, first: vhd.ErrFooterInvalid},
		{name: "reserved feature", make: emptyDisk, edit: footer(func(f *vhd.Footer) { f.Features = 0 }),
			want: []string{"primary footer invalid: invalid 'reserved' feature"}},
		{name: "extra features", make: emptyDisk, edit: footer(func(f *vhd.Footer) { f.Features |= 4 }),
			want: []string{"primary footer invalid: invalid extra features"}},
		{name: "format version", make: emptyDisk, edit: footer(func(f *vhd.Footer) { f.FormatVersion = 0x00020000 }),
			want: []string{"primary footer invalid: invalid file format version"}},
		{name: "fixed with data offset", make: fixedDisk, edit: footer(func(f *vhd.Footer) { f.DataOffset = 512 }),
			want: []string{"primary footer invalid: invalid data offset"}},
		{name: "type 5 is invalid data offset first", make: emptyDisk, edit: footer(func(f *vhd.Footer) { f.DiskType = 5 }),
			want: []string{"primary footer invalid: invalid data offset", "primary footer invalid: invalid type"}},
		{name: "creation time in future", make: emptyDisk,
			edit:  bothFooters(func(f *vhd.Footer) { f.Timestamp = future() }),
			want:  []string{"primary footer invalid: creation time in future", "backup footer invalid: creation time in future"},
			first: vhd.ErrFutureTime},
		{name: "creation time within slack", make: emptyDisk,
			edit: bothFooters(func(f *vhd.Footer) { f.Timestamp = vhd.VHDTime(now.Add(1700 * time.Second)) }),
			opts: vhd.CheckOptions{Now: func() time.Time { return now }}},
		{name: "creation time in future ignored", make: emptyDisk,
			edit: bothFooters(func(f *vhd.Footer) { f.Timestamp = future() }), opts: vhd.CheckOptions{IgnoreTimestamps: true}},
		{name: "tap creator version", make: emptyDisk, edit: footer(func(f *vhd.Footer) { f.CreatorVersion = 0x00010004 }),
			want: []string{"primary footer invalid: unsupported tap creator version"}},
		{name: "geometry", make: emptyDisk, edit: footer(func(f *vhd.Footer) { f.Geometry = vhd.Geometry{Cylinders: 65535, Heads: 16, SectorsPerTrack: 255} }),
			want: []string{"primary footer invalid: geometry too large"}},
		{name: "type", make: fixedDisk, edit: footer(func(f *vhd.Footer) { f.DiskType = 1 }),
			want: []string{"primary footer invalid: invalid type"}},
		{name: "saved", make: emptyDisk, edit: footer(func(f *vhd.Footer) { f.Saved = 2 }),
			want: []string{"primary footer invalid: invalid 'saved' state"}},
		{name: "hidden 2", make: fixedDisk, edit: footer(func(f *vhd.Footer) { f.Hidden = 2 }),
			want: []string{"primary footer invalid: invalid 'hidden' state"}},
		{name: "reserved bits", make: emptyDisk, edit: footer(func(f *vhd.Footer) { f.Reserved[3] = 1 }),
			want: []string{"primary footer invalid: invalid 'reserved' bits"}},
		{name: "reserved byte 86 by default", make: emptyDisk, edit: footer(func(f *vhd.Footer) { f.Reserved[0] = 1 }),
			want: []string{"primary footer invalid: invalid 'reserved' bits"}},
		{name: "reserved byte 86 passes in compat (11.1)", make: emptyDisk, edit: bothFooters(func(f *vhd.Footer) { f.Reserved[0] = 1 }),
			opts: vhd.CheckOptions{Compat: true}},
		{name: "null uuid", make: emptyDisk, edit: bothFooters(func(f *vhd.Footer) { f.UUID = vhd.UUID{} }),
			want: []string{"primary footer invalid: invalid (NULL) uuid", "backup footer invalid: invalid (NULL) uuid"}},
		{name: "every reason of a footer", make: fixedDisk,
			edit: footer(func(f *vhd.Footer) { f.Saved, f.Hidden, f.UUID = 2, 3, vhd.UUID{} }),
			want: []string{"primary footer invalid: invalid 'saved' state", "primary footer invalid: invalid 'hidden' state", "primary footer invalid: invalid (NULL) uuid"}},
		{name: "backup", make: emptyDisk,
			edit: func(t *testing.T, p string) {
				vhdtest.PatchFooter(t, p, vhdtest.Backup, true, func(f *vhd.Footer) { f.Saved = 2 })
			},
			want: []string{"backup footer invalid: invalid 'saved' state"}, first: vhd.ErrFooterInvalid},
		{name: "mismatch", make: emptyDisk,
			edit: func(t *testing.T, p string) {
				vhdtest.PatchFooter(t, p, vhdtest.Backup, true, func(f *vhd.Footer) { f.OriginalSize += 512 })
			},
			want: []string{"primary and backup footers do not match"}, first: vhd.ErrBackupMismatch},
		{name: "mismatch accepted with -i", make: emptyDisk, opts: vhd.CheckOptions{UseBackupFooter: true},
			edit: func(t *testing.T, p string) {
				vhdtest.PatchFooter(t, p, vhdtest.Backup, true, func(f *vhd.Footer) { f.OriginalSize += 512 })
			}},
		{name: "invalid primary accepted with -i", make: emptyDisk, opts: vhd.CheckOptions{UseBackupFooter: true},
			edit: footer(func(f *vhd.Footer) { f.Saved = 2 })},
		// -i checks the header with the backup, but the file opens with
		// the primary: its size and type are what the BAT is read for.
		{name: "-i: the BAT is read for the size the file opens with", make: emptyDisk, opts: vhd.CheckOptions{UseBackupFooter: true},
			edit: footer(func(f *vhd.Footer) { f.CurrentSize = 8 * mib }), want: []string{"error reading bat: -22"}, first: vhd.ErrBATInvalid},
		{name: "-i: a primary of type 0 opens with no BAT", make: emptyDisk, opts: vhd.CheckOptions{UseBackupFooter: true},
			edit: footer(func(f *vhd.Footer) { f.DiskType = 0 }), want: []string{"error reading bat: -22"}, first: vhd.ErrBATInvalid},
		{name: "old tap hidden checksum quirk", make: emptyDisk,
			edit: func(t *testing.T, p string) {
				vhdtest.PatchFooter(t, p, vhdtest.Both, true, func(f *vhd.Footer) { f.CreatorVersion = 0x00010001 })
				vhdtest.PatchFooter(t, p, vhdtest.Backup, false, func(f *vhd.Footer) { f.Hidden = 1 })
			}},
	})
}

func TestCheckFooterReads(t *testing.T) {
	dir := t.TempDir()
	p := emptyDisk(t, dir)
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		data []byte
		size int64
		want []string
	}{
		{"empty file", nil, 0, []string{"error calculating end of file: -22"}},
		{"100 bytes", data[:100], 100, []string{"error calculating end of file: -22"}},
		{"short read", data, int64(len(data)) + 512, []string{"error reading primary footer: -5"}},
		{"511-byte file", data[len(data)-512 : len(data)-1], 511, []string{
			"error reading backup footer: -5", "error reading header: -5", "Failed to open x.vhd: -5"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := vhd.Check(context.Background(), bytes.NewReader(tc.data), tc.size, &vhd.CheckOptions{Name: "x.vhd"})
			var got []string
			for _, p := range rep.Problems {
				got = append(got, p.Msg)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
			if !errors.Is(err, vhd.ErrFooterInvalid) && !errors.Is(err, vhd.ErrHeaderInvalid) {
				t.Errorf("err = %v", err)
			}
		})
	}
}

func TestCheckHeader(t *testing.T) {
	open := "Failed to open {name}: -22"
	runCheckCases(t, []checkCase{
		{name: "cookie", make: emptyDisk, edit: header(func(h *vhd.Header) { copy(h.Cookie[:], "xxsparse") }),
			want: []string{"header is invalid: invalid cookie", open}, first: vhd.ErrHeaderInvalid},
		{name: "checksum", make: emptyDisk,
			edit: func(t *testing.T, p string) {
				vhdtest.PatchHeader(t, p, false, func(h *vhd.Header) { h.Checksum ^= 1 })
			},
			want: []string{"header is invalid: invalid checksum", open}},
		{name: "version", make: emptyDisk, edit: header(func(h *vhd.Header) { h.Version = 0x00020000 }),
			want: []string{"header is invalid: invalid header version", open}},
		{name: "data offset", make: emptyDisk, edit: header(func(h *vhd.Header) { h.DataOffset = 0 }),
			want: []string{"header is invalid: invalid data offset", open}},
		{name: "table offset unaligned", make: emptyDisk, edit: header(func(h *vhd.Header) { h.TableOffset = 1000 }),
			want: []string{"header is invalid: invalid table offset", "error reading batmap: -22"}},
		{name: "table past EOF", make: emptyDisk, edit: header(func(h *vhd.Header) { h.MaxTableEntries = 0xFFFFFFFF }),
			want: []string{"header is invalid: invalid table offset", "error reading batmap: -32"}},
		{name: "block size not a power of two", make: emptyDisk, edit: header(func(h *vhd.Header) { h.BlockSize = 3 << 20 }),
			want: []string{"header is invalid: invalid block size", open}},
		{name: "block size 4 MiB (11.9)", make: emptyDisk, edit: header(func(h *vhd.Header) { h.BlockSize = 4 << 20 }),
			want: []string{"header is invalid: invalid block size", open}, first: vhd.ErrHeaderInvalid},
		{name: "block size 4 MiB in compat: no specific message", make: emptyDisk, opts: vhd.CheckOptions{Compat: true},
			edit: header(func(h *vhd.Header) { h.BlockSize = 4 << 20 }),
			want: []string{open}, first: vhd.ErrOpenFailed},
		{name: "reserved 1", make: emptyDisk, edit: header(func(h *vhd.Header) { h.Reserved1 = 1 }),
			want: []string{"header is invalid: invalid reserved bits"}},
		{name: "reserved 2", make: emptyDisk, edit: header(func(h *vhd.Header) { h.Reserved2[7] = 1 }),
			want: []string{"header is invalid: invalid reserved bits"}},
		{name: "reserved 2 byte 0 by default", make: emptyDisk, edit: header(func(h *vhd.Header) { h.Reserved2[0] = 1 }),
			want: []string{"header is invalid: invalid reserved bits"}},
		{name: "reserved 2 byte 0 passes in compat (11.1)", make: emptyDisk, opts: vhd.CheckOptions{Compat: true},
			edit: header(func(h *vhd.Header) { h.Reserved2[0] = 1 })},
		{name: "header past EOF", make: emptyDisk, edit: bothFooters(func(f *vhd.Footer) { f.DataOffset = 1 << 20 }),
			want: []string{"error reading header: -5", "Failed to open {name}: -5"}},
		{name: "header offset beyond seeking", make: emptyDisk, edit: bothFooters(func(f *vhd.Footer) { f.DataOffset = 1 << 63 }),
			want: []string{"error seeking to header: -22", "Failed to open {name}: -5"}},
		{name: "blktap 0.1 does not open", make: emptyDisk, edit: bothFooters(func(f *vhd.Footer) { f.CreatorVersion = 1 }),
			want: []string{open}, first: vhd.ErrOpenFailed},
	})
}

func TestCheckDifferencingHeader(t *testing.T) {
	runCheckCases(t, []checkCase{
		{name: "valid child", make: childDisk, opts: vhd.CheckOptions{Parents: dirOpener{}}},
		{name: "parent time in future", make: childDisk, edit: header(func(h *vhd.Header) { h.ParentTimestamp = future() }),
			want: []string{"differencing header is invalid: parent creation time in future"}, first: vhd.ErrFutureTime},
		{name: "parent time in future ignored", make: childDisk, opts: vhd.CheckOptions{IgnoreTimestamps: true},
			edit: header(func(h *vhd.Header) { h.ParentTimestamp = future() })},
		{name: "parent name not ASCII", make: childDisk, edit: header(func(h *vhd.Header) { h.ParentName[0], h.ParentName[1] = 0, 0xe9 }),
			want: []string{"differencing header is invalid: invalid parent name"}, first: vhd.ErrDiffHeaderInvalid},
		{name: "junk after the parent name's NUL fails by default too", make: childDisk,
			edit: header(func(h *vhd.Header) { h.ParentName[500] = 0xe9 }),
			want: []string{"differencing header is invalid: invalid parent name"}},
		{name: "junk after the parent name's NUL fails in compat", make: childDisk, opts: vhd.CheckOptions{Compat: true},
			edit: header(func(h *vhd.Header) { h.ParentName[500] = 0xe9 }),
			want: []string{"differencing header is invalid: invalid parent name"}},
		{name: "dynamic with parent name", make: emptyDisk, edit: header(func(h *vhd.Header) { h.ParentName[1] = 'a' }),
			want: []string{"differencing header is invalid: invalid non-null parent name"}},
		{name: "dynamic with parent name byte 0 by default", make: emptyDisk, edit: header(func(h *vhd.Header) { h.ParentName[0] = 'a' }),
			want: []string{"differencing header is invalid: invalid non-null parent name"}},
		{name: "dynamic with parent name byte 0 passes in compat (11.1)", make: emptyDisk, opts: vhd.CheckOptions{Compat: true},
			edit: header(func(h *vhd.Header) { h.ParentName[0] = 'a' })},
		{name: "dynamic with locator in slot 1", make: emptyDisk,
			edit: header(func(h *vhd.Header) { h.Locators[1].Code = vhd.PlatformMacX }),
			want: []string{"differencing header is invalid: invalid non-null parent locators"}},
		{name: "dynamic with locator in slot 0 by default", make: emptyDisk,
			edit: header(func(h *vhd.Header) { h.Locators[0].Code = vhd.PlatformMacX }),
			want: []string{"differencing header is invalid: invalid non-null parent locators"}},
		{name: "dynamic with locator in slot 0 passes in compat (11.1)", make: emptyDisk, opts: vhd.CheckOptions{Compat: true},
			edit: header(func(h *vhd.Header) { h.Locators[0].Code = vhd.PlatformMacX })},
		{name: "dynamic with parent uuid", make: emptyDisk, edit: header(func(h *vhd.Header) { h.ParentUUID = vhd.NewUUID() }),
			want: []string{"differencing header is invalid: invalid non-null parent uuid"}},
		{name: "dynamic with parent time", make: emptyDisk, edit: header(func(h *vhd.Header) { h.ParentTimestamp = 5 }),
			want: []string{"differencing header is invalid: invalid non-zero parent timestamp"}},
	})
}

// oneBlock is a 4 MiB dynamic disk with only block 0 allocated.
func oneBlock(t *testing.T, dir string) string {
	return vhdtest.Dynamic(t, filepath.Join(dir, "d.vhd"), 4*mib, nil, vhdtest.Fill(1, 0, 512))
}

// partialLast is a 3 MiB disk with only its second, partial block allocated.
func partialLast(t *testing.T, dir string) string {
	return vhdtest.Dynamic(t, filepath.Join(dir, "d.vhd"), 3*mib, nil, vhdtest.Fill(1, 2*mib, 512))
}

func TestCheckBAT(t *testing.T) {
	small := &vhdtest.Options{BlockSize: 1 << 20, Creator: vhd.Creator{'v', 'h', 'd', 'k'}}
	runCheckCases(t, []checkCase{
		{name: "file size", make: emptyDisk,
			edit: func(t *testing.T, p string) {
				f, _ := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
				f.Write(make([]byte, 100))
				f.Close()
			},
			want: []string{"primary footer invalid: invalid cookie", "invalid file size: 0xe64"}},
		{name: "virtual size past the BAT", make: emptyDisk,
			edit: bothFooters(func(f *vhd.Footer) { f.CurrentSize = 6 * mib }),
			want: []string{"error reading bat: -22"}, first: vhd.ErrBATInvalid},
		{name: "virtual size past the BAT with 1 MiB blocks",
			make: func(t *testing.T, dir string) string {
				return vhdtest.Dynamic(t, filepath.Join(dir, "s.vhd"), 4*mib, small)
			},
			edit: bothFooters(func(f *vhd.Footer) { f.CurrentSize = 5 * mib }),
			want: []string{"VHD size (5 blocks) exceeds BAT size (4)"}},
		{name: "virtual size past the BAT with 1 MiB blocks passes in compat (2 MiB assumed)", opts: vhd.CheckOptions{Compat: true},
			make: func(t *testing.T, dir string) string {
				return vhdtest.Dynamic(t, filepath.Join(dir, "s.vhd"), 4*mib, small)
			},
			edit: bothFooters(func(f *vhd.Footer) { f.CurrentSize = 5 * mib })},
		{name: "clobbers headers", make: oneBlock, edit: func(t *testing.T, p string) { setBAT(t, p, 0, 2) },
			want: []string{"block 0 (offset 0x2) clobbers headers"}, first: vhd.ErrBATInvalid},
		{name: "clobbers footer", make: oneBlock, edit: func(t *testing.T, p string) { setBAT(t, p, 0, bat(t, p)[0]+1) },
			want: []string{"block 0 (offset 0x8) clobbers footer"}},
		{name: "missing primary footer", make: oneBlock, edit: func(t *testing.T, p string) { os.Truncate(p, mustSize(t, p)-512) },
			want: []string{"primary footer invalid: invalid cookie", "block 0 (offset 0x7) clobbers footer"}},
		{name: "missing primary footer accepted with -i", make: oneBlock, opts: vhd.CheckOptions{UseBackupFooter: true},
			edit: func(t *testing.T, p string) { os.Truncate(p, mustSize(t, p)-512) }},
		{name: "partial last block is checked by default", make: partialLast,
			edit: func(t *testing.T, p string) { setBAT(t, p, 1, bat(t, p)[1]+1) },
			want: []string{"block 1 (offset 0x8) clobbers footer"}},
		{name: "partial last block is not checked in compat (curr_size>>21)", make: partialLast, opts: vhd.CheckOptions{Compat: true},
			edit: func(t *testing.T, p string) { setBAT(t, p, 1, bat(t, p)[1]+1) }},
		{name: "clobbers block", make: dataDisk, edit: func(t *testing.T, p string) { setBAT(t, p, 1, bat(t, p)[0]+8) },
			want: []string{"block 0 (offset {b0}) clobbers block 1 (offset 0xf)"}, first: vhd.ErrBATOverlap},
		{name: "overlap not checked with -B", make: dataDisk, opts: vhd.CheckOptions{SkipOverlapCheck: true},
			edit: func(t *testing.T, p string) { setBAT(t, p, 1, bat(t, p)[0]+8) }},
		{name: "clobbers block and headers", make: dataDisk, edit: func(t *testing.T, p string) { setBAT(t, p, 1, 2) },
			want: []string{"block 0 (offset {b0}) clobbers block 1 (offset 0x2)", "block 1 (offset 0x2) clobbers headers"}},
		{name: "batmap cookie", make: emptyDisk, edit: func(t *testing.T, p string) { vhdtest.Patch(t, p, offBatmapHdr, 'x') },
			want: []string{"error calculating end of metadata: -22", "batmap is invalid: invalid cookie"}, first: vhd.ErrBatmapInvalid},
		// blktap places a block in 32-bit sectors: one whose end passes 2^32
		// wraps to the start of the file, where its reads and writes land.
		{name: "block past 2^32 sectors clobbers the footer", make: dataDisk, edit: func(t *testing.T, p string) { setBAT(t, p, 1, 0xfffffffe) },
			want: []string{"block 1 (offset 0xfffffffe) clobbers footer"}},
		{name: "block past 2^32 sectors wraps over block 0 in compat", make: dataDisk, opts: vhd.CheckOptions{Compat: true},
			edit: func(t *testing.T, p string) { setBAT(t, p, 1, 0xfffffffe) },
			want: []string{"block 1 (offset 0xfffffffe) clobbers block 0 (offset {b0})"}, first: vhd.ErrBATOverlap},
		{name: "the last block wraps over block 0 in compat", make: dataDisk, opts: vhd.CheckOptions{Compat: true},
			edit: func(t *testing.T, p string) { setBAT(t, p, 1, 0xffffff00) },
			want: []string{"block 1 (offset 0xffffff00) clobbers block 0 (offset {b0})"}},
		// vhd-util calls these valid; their sectors wrap over sector 0.
		{name: "a wrapping block that misses every block clobbers the footer in compat", make: dataDisk, opts: vhd.CheckOptions{Compat: true},
			edit: func(t *testing.T, p string) { setBAT(t, p, 1, 0xfffff000) }, want: []string{"block 1 (offset 0xfffff000) clobbers footer"}},
		{name: "a wrapping block clobbers the footer in compat with -B", make: dataDisk, opts: vhd.CheckOptions{Compat: true, SkipOverlapCheck: true},
			edit: func(t *testing.T, p string) { setBAT(t, p, 1, 0xfffffffe) }, want: []string{"block 1 (offset 0xfffffffe) clobbers footer"}},
	})
}

func TestCheckOverlapsAllReported(t *testing.T) {
	dir := t.TempDir()
	p := vhdtest.Dynamic(t, filepath.Join(dir, "d.vhd"), 8*mib, nil,
		vhdtest.Fill(1, 0, 512), vhdtest.Fill(2, 2*mib, 512), vhdtest.Fill(3, 4*mib, 512), vhdtest.Fill(4, 6*mib, 512))
	b := bat(t, p)
	// Blocks 1, 2 and 3 all at block 3's place: three pairs.
	setBAT(t, p, 1, b[3])
	setBAT(t, p, 2, b[3])
	for _, max := range []int{0, 2} {
		rep, err := vhd.CheckFile(context.Background(), p, &vhd.CheckOptions{MaxProblems: max})
		var got []string
		for _, pr := range rep.Problems {
			got = append(got, pr.Msg)
		}
		o := fmt.Sprintf("0x%x", b[3])
		want := []string{
			"block 1 (offset " + o + ") clobbers block 2 (offset " + o + ")",
			"block 1 (offset " + o + ") clobbers block 3 (offset " + o + ")",
			"block 2 (offset " + o + ") clobbers block 3 (offset " + o + ")",
		}
		wantTrunc := 0
		if max == 2 {
			want, wantTrunc = want[:2], 1
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("max %d: problems (-want +got):\n%s", max, diff)
		}
		if rep.Truncated != wantTrunc || !errors.Is(err, vhd.ErrBATOverlap) {
			t.Errorf("max %d: truncated %d, err %v", max, rep.Truncated, err)
		}
	}
}

func TestCheckBitmaps(t *testing.T) {
	dataSector := func(t *testing.T, p string, sector int64, b ...byte) {
		off := (int64(bat(t, p)[0]) + 1 + sector) * 512
		vhdtest.Patch(t, p, off, b...)
	}
	runCheckCases(t, []checkCase{
		{name: "bitmaps agree", make: dataDisk, opts: vhd.CheckOptions{CheckBitmaps: true}},
		{name: "data where bitmap is clear", make: oneBlock, opts: vhd.CheckOptions{CheckBitmaps: true},
			edit:  func(t *testing.T, p string) { dataSector(t, p, 5, 0, 7); dataSector(t, p, 9, 0, 0, 1) },
			want:  []string{"sector 0x5 of block 0x0 has data where bitmap is clear", "sector 0x9 of block 0x0 has data where bitmap is clear"},
			first: vhd.ErrBitmapInvalid},
		{name: "overlapping blocks are reported, not read", make: dataDisk, opts: vhd.CheckOptions{CheckBitmaps: true},
			edit: func(t *testing.T, p string) { setBAT(t, p, 1, bat(t, p)[0]); dataSector(t, p, 5, 0, 7) },
			want: []string{"block 0 (offset {b0}) clobbers block 1 (offset {b0})"}},
		{name: "overlapping blocks are not read with -B either", make: dataDisk, opts: vhd.CheckOptions{CheckBitmaps: true, SkipOverlapCheck: true},
			edit: func(t *testing.T, p string) { setBAT(t, p, 1, bat(t, p)[0]); dataSector(t, p, 5, 0, 7) }},
		{name: "not read without -b", make: oneBlock,
			edit: func(t *testing.T, p string) { dataSector(t, p, 5, 0, 7) }},
		{name: "first byte only by default", make: oneBlock, opts: vhd.CheckOptions{CheckBitmaps: true},
			edit: func(t *testing.T, p string) { dataSector(t, p, 5, 7) },
			want: []string{"sector 0x5 of block 0x0 has data where bitmap is clear"}},
		{name: "first byte only passes in compat (11.1)", make: oneBlock, opts: vhd.CheckOptions{CheckBitmaps: true, Compat: true},
			edit: func(t *testing.T, p string) { dataSector(t, p, 5, 7) }},
	})
}

func TestCheckCancel(t *testing.T) {
	dir := t.TempDir()
	p := dataDisk(t, dir)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := vhd.CheckFile(ctx, p, &vhd.CheckOptions{CheckBitmaps: true})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func TestCheckBatmap(t *testing.T) {
	runCheckCases(t, []checkCase{
		{name: "version", make: emptyDisk, edit: func(t *testing.T, p string) { patchU32(t, p, offBatmapHdr+20, 0x00010003) },
			want: []string{"error calculating end of metadata: -22", "batmap is invalid: unsupported batmap version"}},
		{name: "checksum", make: emptyDisk, edit: func(t *testing.T, p string) { patchU32(t, p, offBatmapHdr+24, 1) },
			want: []string{"error calculating end of metadata: -22", "batmap is invalid: invalid checksum"}},
		{name: "size zero", make: emptyDisk, edit: func(t *testing.T, p string) { patchU32(t, p, offBatmapHdr+16, 0) },
			want: []string{
				"batmap of 0 sectors is smaller than the 512 bytes read for the virtual size (vhd-util aborts)",
				"batmap is invalid: invalid size zero", "batmap is invalid: batmap-BAT size mismatch"},
			first: vhd.ErrBatmapTooSmall},
		{name: "offset", make: emptyDisk, edit: func(t *testing.T, p string) { vhdtest.Patch(t, p, offBatmapHdr+15, 1) },
			want: []string{"error calculating end of metadata: -22", "error reading batmap: -22",
				"batmap is invalid: invalid batmap offset", "batmap is invalid: invalid batmap size"}},
		{name: "map past the end", make: emptyDisk, edit: func(t *testing.T, p string) { vhdtest.Patch(t, p, offBatmapHdr+11, 1) },
			want: []string{"error calculating end of metadata: -32", "error reading batmap: -32", "batmap is invalid: invalid batmap size"}},
		{name: "map at an offset no seek reaches", make: emptyDisk, edit: func(t *testing.T, p string) { vhdtest.Patch(t, p, offBatmapHdr+8, 0x80) },
			want: []string{"error calculating end of metadata: -22", "error reading batmap: -22", "batmap is invalid: invalid batmap size"}},
		{name: "size past the footer", make: emptyDisk, edit: func(t *testing.T, p string) { patchU32(t, p, offBatmapHdr+16, 2) },
			want: []string{"batmap is invalid: invalid batmap size"}},
		{name: "unallocated block full", make: emptyDisk,
			edit: func(t *testing.T, p string) {
				vhdtest.Patch(t, p, offBatmap, 0x40)
				patchU32(t, p, offBatmapHdr+24, ^uint32(0x40))
			},
			want: []string{"batmap shows unallocated block 1 full"}, first: vhd.ErrBatmapInvalid},
		{name: "version 1.1 sums signed bytes", make: dataDisk,
			edit: func(t *testing.T, p string) {
				vhdtest.PatchFooter(t, p, vhdtest.Both, true, func(f *vhd.Footer) { f.CreatorVersion = 0x00010001 })
				patchU32(t, p, offBatmapHdr+20, 0x00010001)
				vhdtest.Patch(t, p, offBatmap, 0xC0)
				patchU32(t, p, offBatmapHdr+24, 63) // ^(-64)
			}},
		{name: "version 1.2 sums unsigned bytes", make: dataDisk,
			edit: func(t *testing.T, p string) {
				vhdtest.Patch(t, p, offBatmap, 0xC0)
				patchU32(t, p, offBatmapHdr+24, 63)
			},
			want: []string{"error calculating end of metadata: -22", "batmap is invalid: invalid checksum"}},
		{name: "short footer passes by default (11.11)", make: emptyDisk,
			edit: func(t *testing.T, p string) { os.Truncate(p, 3583) }},
		{name: "short footer fails in compat (11.11)", make: emptyDisk, opts: vhd.CheckOptions{Compat: true},
			edit: func(t *testing.T, p string) { os.Truncate(p, 3583) },
			want: []string{"batmap is invalid: invalid batmap size"}},
	})
}

func locator(i int, fn func(*vhd.ParentLocator)) func(*testing.T, string) {
	return header(func(h *vhd.Header) { fn(&h.Locators[i]) })
}

func TestCheckLocators(t *testing.T) {
	par := vhd.CheckOptions{Parents: dirOpener{}}
	parent := filepath.Join("{dir}", "p.vhd")
	runCheckCases(t, []checkCase{
		{name: "platform code", make: childDisk, opts: par, edit: locator(1, func(l *vhd.ParentLocator) { l.Code = 0x12345678 }),
			want: []string{"Failed to open {name}: -22", "invalid parent locator 1: invalid platform code"}},
		{name: "non-zero locator", make: childDisk, opts: par, edit: locator(5, func(l *vhd.ParentLocator) { l.DataSpace = 512 }),
			want: []string{"invalid parent locator 5: non-zero locator"}, first: vhd.ErrLocatorInvalid},
		{name: "data offset", make: childDisk, opts: par, edit: locator(0, func(l *vhd.ParentLocator) { l.DataOffset = 0 }),
			want: []string{"invalid parent locator 0: invalid data offset"}},
		{name: "data space", make: childDisk, opts: par, edit: locator(0, func(l *vhd.ParentLocator) { l.DataSpace = 0 }),
			want: []string{"invalid parent locator 0: invalid data space"}},
		{name: "data length", make: childDisk, opts: par, edit: locator(0, func(l *vhd.ParentLocator) { l.DataLength = 0 }),
			want: []string{"invalid parent locator 0: invalid data length"}},
		{name: "size", make: childDisk, opts: par, edit: locator(2, func(l *vhd.ParentLocator) { l.DataSpace = 1024 }),
			want: []string{"invalid parent locator 2: invalid size"}},
		{name: "reserved", make: childDisk, opts: par, edit: locator(0, func(l *vhd.ParentLocator) { l.Reserved = 1 }),
			want: []string{"invalid parent locator 0: invalid reserved bits"}},
		{name: "every reason of a locator", make: childDisk, opts: par,
			edit: locator(0, func(l *vhd.ParentLocator) { l.DataSpace, l.DataLength, l.Reserved = 0, 0, 9 }),
			want: []string{"invalid parent locator 0: invalid data space", "invalid parent locator 0: invalid data length", "invalid parent locator 0: invalid reserved bits"}},
		{name: "duplicate", make: childDisk, opts: par, edit: locator(2, func(l *vhd.ParentLocator) { l.Code = vhd.PlatformW2ku }),
			want: []string{"duplicate platform code in locator 2: 0x57326b75"}},
		// libvhd adds the ends of the metadata in signed 64 bits: in
		// compat a locator past 2^63 is a locator fault, not a block
		// clobbering headers, and one whose sum wraps fails its read.
		{name: "locator at 2^63", make: childWithBlock, opts: par, edit: locator(0, func(l *vhd.ParentLocator) { l.DataOffset = 1 << 63 }),
			want: []string{"block 0 (offset {b0}) clobbers headers", "invalid parent locator 0: invalid size"}},
		{name: "locator at 2^63 in compat", make: childWithBlock, opts: vhd.CheckOptions{Parents: dirOpener{}, Compat: true},
			edit: locator(0, func(l *vhd.ParentLocator) { l.DataOffset = 1 << 63 }), want: []string{"invalid parent locator 0: invalid size"}},
		{name: "locator at 2^64-1", make: childWithBlock, opts: par, edit: locator(0, func(l *vhd.ParentLocator) { l.DataOffset = 1<<64 - 1 }),
			want: []string{"block 0 (offset {b0}) clobbers headers", "invalid parent locator 0: invalid size"}},
		{name: "locator at 2^64-1 in compat", make: childWithBlock, opts: vhd.CheckOptions{Parents: dirOpener{}, Compat: true},
			edit: locator(0, func(l *vhd.ParentLocator) { l.DataOffset = 1<<64 - 1 }), want: []string{"error reading parent locator 0: -22"}},
		{name: "undecodable", make: childDisk, opts: par, edit: func(t *testing.T, p string) { vhdtest.Patch(t, p, 3072, 'x') },
			want: []string{"error reading parent locator 0: -22"}},
		{name: "data space not sectors nor bytes", make: childDisk, opts: par, edit: locator(1, func(l *vhd.ParentLocator) { l.DataSpace = 700 }),
			want: []string{"error reading parent locator 1: -22"}},
		{name: "name mismatch", make: childDisk, opts: par,
			edit: header(func(h *vhd.Header) { h.SetParentUnicodeName("q.vhd") }),
			want: []string{
				"parent locator 0 name (p.vhd) does not match header name (q.vhd)",
				"parent locator 1 name (p.vhd) does not match header name (q.vhd)",
				"parent locator 2 name (p.vhd) does not match header name (q.vhd)",
			}, first: vhd.ErrLocatorInvalid},
		{name: "windows parent name by default", make: childDisk, opts: par,
			edit: header(func(h *vhd.Header) { h.SetParentUnicodeName(`C:\Users\me\p.vhd`) })},
		{name: "windows parent name in compat", make: childDisk, opts: vhd.CheckOptions{Parents: dirOpener{}, Compat: true},
			edit: header(func(h *vhd.Header) { h.SetParentUnicodeName(`C:\Users\me\p.vhd`) }),
			want: []string{
				"parent locator 0 name (p.vhd) does not match header name (/Users/me/p.vhd)",
				"parent locator 1 name (p.vhd) does not match header name (/Users/me/p.vhd)",
				"parent locator 2 name (p.vhd) does not match header name (/Users/me/p.vhd)",
			}},
		{name: "parent missing", make: childDisk, opts: par, edit: func(t *testing.T, p string) { os.Remove(filepath.Join(filepath.Dir(p), "p.vhd")) },
			want:  []string{"error resolving ./p.vhd: -2", "error resolving ./p.vhd: -2", "error resolving ./p.vhd: -2", "could not find parent p.vhd"},
			first: vhd.ErrParentInvalid},
		{name: "parent missing after resolving", make: childDisk, opts: vhd.CheckOptions{Parents: blindOpener{}},
			edit: func(t *testing.T, p string) { os.Remove(filepath.Join(filepath.Dir(p), "p.vhd")) },
			want: []string{
				"parent locator 0 points to missing file ./p.vhd (resolved to " + parent + ")",
				"invalid parent " + parent + ": error opening parent", "invalid parent " + parent + ": error opening parent",
				"could not find parent p.vhd"}},
		{name: "parent does not open", make: childDisk, opts: par,
			edit: func(t *testing.T, p string) {
				os.WriteFile(filepath.Join(filepath.Dir(p), "p.vhd"), make([]byte, 4096), 0o644)
			},
			want: []string{
				"invalid parent " + parent + ": error opening parent", "invalid parent " + parent + ": error opening parent",
				"invalid parent " + parent + ": error opening parent", "could not find parent p.vhd"}},
		{name: "parent uuid", make: childDisk, opts: par, edit: header(func(h *vhd.Header) { h.ParentUUID = vhd.NewUUID() }),
			want: []string{
				"invalid parent " + parent + ": invalid parent uuid", "invalid parent " + parent + ": invalid parent uuid",
				"invalid parent " + parent + ": invalid parent uuid", "could not find parent p.vhd"}},
		{name: "parent uuid ignored with -I", make: childDisk, opts: vhd.CheckOptions{Parents: dirOpener{}, IgnoreParentUUID: true},
			edit: header(func(h *vhd.Header) { h.ParentUUID = vhd.NewUUID() })},
		{name: "raw parent is not opened", make: childDisk, opts: par,
			edit: func(t *testing.T, p string) {
				vhdtest.PatchHeader(t, p, true, func(h *vhd.Header) { h.ParentUUID = vhd.UUID{} })
				os.WriteFile(filepath.Join(filepath.Dir(p), "p.vhd"), make([]byte, 4096), 0o644)
			}},
		{name: "no locator at all", make: childDisk, opts: par,
			edit: header(func(h *vhd.Header) { h.Locators = [8]vhd.ParentLocator{} }),
			want: []string{"could not find parent p.vhd"}},
	})
}

// TestCheckNoParentOpener: a differencing disk checked without a parent
// opener is not Valid (its parent rules did not run), only ValidSoFar, and
// the error says so with ErrIncomplete, not a format problem.
func TestCheckNoParentOpener(t *testing.T) {
	dir := t.TempDir()
	p := childDisk(t, dir)
	os.Remove(filepath.Join(dir, "p.vhd"))
	rep, err := vhd.CheckFile(context.Background(), p, nil)
	var ce *vhd.CheckError
	if !errors.Is(err, vhd.ErrIncomplete) || errors.Is(err, vhd.ErrFormat) || !errors.As(err, &ce) || len(ce.NotRun) == 0 {
		t.Fatalf("CheckFile: %v, want an incomplete CheckError", err)
	}
	if got := []bool{rep.Valid(), rep.ValidSoFar(), rep.Complete()}; !cmp.Equal(got, []bool{false, true, false}) {
		t.Errorf("Valid, ValidSoFar, Complete = %v, want false, true, false", got)
	}
	if len(rep.NotRun) == 0 || !strings.HasPrefix(rep.NotRun[0], "parent locators: no parent opener") {
		t.Errorf("NotRun = %q, want the parent rules", rep.NotRun)
	}
	if rep.Type != vhd.DiskDifferencing || rep.File != p {
		t.Errorf("report = %+v", rep)
	}
}

func TestCheckManyProblems(t *testing.T) {
	dir := t.TempDir()
	p := dataDisk(t, dir)
	vhdtest.PatchFooter(t, p, vhdtest.Both, true, func(f *vhd.Footer) { f.Hidden = 2 })
	vhdtest.PatchHeader(t, p, true, func(h *vhd.Header) { h.Reserved1 = 1; h.ParentTimestamp = 1 })
	setBAT(t, p, 2, 3)
	rep, err := vhd.CheckFile(context.Background(), p, nil)
	var got []string
	for _, pr := range rep.Problems {
		got = append(got, pr.Msg)
	}
	want := []string{
		"primary footer invalid: invalid 'hidden' state",
		"backup footer invalid: invalid 'hidden' state",
		"header is invalid: invalid reserved bits",
		"differencing header is invalid: invalid non-zero parent timestamp",
		"block 0 (offset 0x7) clobbers block 2 (offset 0x3)",
		"block 2 (offset 0x3) clobbers headers",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
	for _, s := range []error{vhd.ErrFooterInvalid, vhd.ErrHeaderInvalid, vhd.ErrDiffHeaderInvalid, vhd.ErrBATInvalid, vhd.ErrFormat} {
		if !errors.Is(err, s) {
			t.Errorf("err does not match %v", s)
		}
	}
	if errors.Is(err, vhd.ErrLocatorInvalid) {
		t.Errorf("err matches ErrLocatorInvalid")
	}
	if rep.Problems[0].Offset != mustSize(t, p)-512+85 {
		t.Errorf("offset of the hidden flag = %d", rep.Problems[0].Offset)
	}
}

func mustSize(t *testing.T, p string) int64 {
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

func TestCheckFileErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := vhd.CheckFile(context.Background(), filepath.Join(dir, "missing.vhd"), nil); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: err = %v", err)
	}
	if _, err := vhd.CheckFile(context.Background(), dir, nil); !errors.Is(err, vhd.ErrNotRegular) {
		t.Errorf("directory: err = %v", err)
	}
}

// TestHugeBATClaimFailsCheaply: a 4 KiB file whose header claims 0xFFFFFFFF
// BAT entries: the two entries the size needs are read, the batmap the
// claim puts past the end of the file fails, and nothing is allocated for
// the claim.
func TestHugeBATClaimFailsCheaply(t *testing.T) {
	dir := t.TempDir()
	p := emptyDisk(t, dir)
	vhdtest.PatchHeader(t, p, true, func(h *vhd.Header) { h.MaxTableEntries = 0xFFFFFFFF })
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	// Grow it to 4 KiB, the footer staying last.
	data = append(append(data[:len(data)-512:len(data)-512], make([]byte, 4096-len(data))...), data[len(data)-512:]...)
	if len(data) != 4096 {
		t.Fatalf("file of %d bytes", len(data))
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f, err := vhd.New(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	_, batErr := f.BAT()
	_, eodErr := f.EndOfData()
	_, bmErr := f.Batmap()
	rep, checkErr := vhd.Check(context.Background(), bytes.NewReader(data), int64(len(data)), nil)
	runtime.ReadMemStats(&after)
	if batErr != nil || !errors.Is(eodErr, vhd.ErrTruncated) {
		t.Errorf("BAT: %v, EndOfData: %v", batErr, eodErr)
	}
	_ = bmErr
	if !errors.Is(checkErr, vhd.ErrHeaderInvalid) || rep.Problems[0].Msg != "header is invalid: invalid table offset" {
		t.Errorf("Check: %v", checkErr)
	}
	if d := after.TotalAlloc - before.TotalAlloc; d > 1<<20 {
		t.Errorf("allocated %d bytes", d)
	}
}

// TestCheckSparseLarge checks large sparse disks: every block allocated
// (in order, then with two entries swapped so that the overlap rule sorts),
// and a few blocks with their data read (-b).
func TestCheckSparseLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-GiB sparse files")
	}
	dir := t.TempDir()
	p := vhdtest.SparseDynamic(t, filepath.Join(dir, "full.vhd"), 40<<30, nil)
	check := func(opts *vhd.CheckOptions, want ...string) {
		t.Helper()
		rep, _ := vhd.CheckFile(context.Background(), p, opts)
		var got []string
		for _, pr := range rep.Problems {
			got = append(got, pr.Msg)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("problems (-want +got):\n%s", diff)
		}
	}
	check(nil)
	b := bat(t, p)
	n := len(b)
	setBAT(t, p, 0, b[n-1])
	setBAT(t, p, n-1, b[0])
	check(nil)
	setBAT(t, p, 5, b[6])
	check(nil, fmt.Sprintf("block 5 (offset 0x%x) clobbers block 6 (offset 0x%x)", b[6], b[6]))
	check(&vhd.CheckOptions{SkipOverlapCheck: true})

	q := vhdtest.SparseDynamic(t, filepath.Join(dir, "some.vhd"), 40<<30, func(i int64) bool { return i%2000 == 0 })
	rep, err := vhd.CheckFile(context.Background(), q, &vhd.CheckOptions{CheckBitmaps: true})
	if err != nil || len(rep.Problems) != 0 {
		t.Errorf("sparse disk with -b: %v", err)
	}
	f, err := vhd.Open(q)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if n, err := f.AllocatedBlocks(); n != 11 || err != nil {
		t.Errorf("AllocatedBlocks = %d, %v; want 11", n, err)
	}
}

// failingReader fails every read that covers a given offset.
type failingReader struct {
	r    *bytes.Reader
	from int64
}

var errDisk = errors.New("disk on fire")

func (f failingReader) ReadAt(p []byte, off int64) (int, error) {
	if off <= f.from && f.from < off+int64(len(p)) {
		return 0, errDisk
	}
	return f.r.ReadAt(p, off)
}

// TestCheckIOError: an I/O error stops the check and is returned as is,
// with the problems found before it.
func TestCheckIOError(t *testing.T) {
	dir := t.TempDir()
	p := childDisk(t, dir)
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	size := int64(len(data))
	for _, from := range []int64{0, 512, 1536, 2048, 2560, 3072, size - 512} {
		r := failingReader{bytes.NewReader(data), from}
		rep, err := vhd.Check(context.Background(), r, size, &vhd.CheckOptions{Parents: dirOpener{}})
		if !errors.Is(err, errDisk) || rep == nil {
			t.Errorf("failing from %d: err = %v", from, err)
		}
		var ce *vhd.CheckError
		if errors.As(err, &ce) {
			t.Errorf("failing from %d: an I/O error reported as problems", from)
		}
	}
}

func TestFileCheck(t *testing.T) {
	dir := t.TempDir()
	p := dataDisk(t, dir)
	f, err := vhd.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rep, err := f.Check(context.Background(), &vhd.CheckOptions{CheckBitmaps: true})
	if err != nil || rep.File != p || rep.Type != vhd.DiskDynamic || !rep.Valid() {
		t.Errorf("File.Check = %+v, %v", rep, err)
	}
}
