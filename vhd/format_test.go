package vhd_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vhdkit/vhdkit/vhd"
	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

func TestGeometryForSize(t *testing.T) {
	tests := []struct {
		size uint64
		want vhd.Geometry
	}{
		{0, vhd.Geometry{Cylinders: 0, Heads: 4, SectorsPerTrack: 17}},
		{100 << 20, vhd.Geometry{Cylinders: 1003, Heads: 12, SectorsPerTrack: 17}}, // as blktap computes it (FORMAT.md, geometry)
		{2040 << 30, vhd.Geometry{Cylinders: 65535, Heads: 16, SectorsPerTrack: 255}},
		{127 << 30, vhd.Geometry{Cylinders: 65278, Heads: 16, SectorsPerTrack: 255}},
		{1 << 30, vhd.Geometry{Cylinders: 2080, Heads: 16, SectorsPerTrack: 63}},
	}
	for _, tc := range tests {
		if got := vhd.GeometryForSize(tc.size); got != tc.want {
			t.Errorf("GeometryForSize(%d) = %+v, want %+v", tc.size, got, tc.want)
		}
	}
}

func TestLocatorEncoding(t *testing.T) {
	tests := []struct {
		code    vhd.PlatformCode
		path    string
		encoded []byte
		decoded string
	}{
		{vhd.PlatformMacX, "./a.vhd", []byte("file://./a.vhd"), "./a.vhd"},
		{vhd.PlatformMacX, "../p.vhd", []byte("file://../p.vhd"), "../p.vhd"},
		{vhd.PlatformW2ku, "./a.vhd", utf16le(`.\a.vhd`), "./a.vhd"},
		{vhd.PlatformW2ru, "../p.vhd", utf16le(`.\..\p.vhd`), "./../p.vhd"},
		{vhd.PlatformW2ru, "./d2/p.vhd", utf16le(`.\d2\p.vhd`), "./d2/p.vhd"},
		{vhd.PlatformW2ku, "/abs/p.vhd", utf16le(`\abs\p.vhd`), "/abs/p.vhd"},
	}
	for _, tc := range tests {
		got, err := vhd.EncodeLocator(tc.code, tc.path)
		if err != nil {
			t.Fatalf("EncodeLocator(%v, %q): %v", tc.code, tc.path, err)
		}
		if diff := cmp.Diff(tc.encoded, got); diff != "" {
			t.Errorf("EncodeLocator(%v, %q) (-want +got):\n%s", tc.code, tc.path, diff)
		}
		dec, err := vhd.DecodeLocator(tc.code, got)
		if err != nil || dec != tc.decoded {
			t.Errorf("DecodeLocator(%v, %q) = %q, %v; want %q", tc.code, got, dec, err, tc.decoded)
		}
	}
}

func TestDecodeLocatorRejects(t *testing.T) {
	tests := []struct {
		name string
		code vhd.PlatformCode
		data []byte
		want string // "" means error expected
	}{
		{"MacX without scheme", vhd.PlatformMacX, []byte("./a.vhd"), ""},
		{"MacX non-ASCII", vhd.PlatformMacX, []byte("file://./\xc3\xa9.vhd"), ""},
		{"W2ku non-ASCII", vhd.PlatformW2ku, []byte{'.', 0, 0xe9, 0}, ""},
		{"Wi2k not decoded", vhd.PlatformWi2k, []byte("x"), ""},
		{"W2ku drive letter dropped", vhd.PlatformW2ku, utf16le(`C:\Users\x.vhd`), "/Users/x.vhd"},
		{"W2ku other drive kept", vhd.PlatformW2ku, utf16le(`D:\x.vhd`), "D:/x.vhd"},
		{"stops at NUL", vhd.PlatformW2ru, append(utf16le(`.\a.vhd`), 0, 0, 'x', 0), "./a.vhd"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := vhd.DecodeLocator(tc.code, tc.data)
			if tc.want == "" {
				if !errors.Is(err, vhd.ErrLocator) {
					t.Errorf("DecodeLocator = %q, %v; want ErrLocator", got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("DecodeLocator = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func utf16le(s string) []byte {
	b := make([]byte, 0, 2*len(s))
	for i := 0; i < len(s); i++ {
		b = append(b, s[i], 0)
	}
	return b
}

func TestLocatorSize(t *testing.T) {
	tests := []struct {
		space uint32
		want  int64
	}{{1, 512}, {0, 0}, {511, 511 * 512}, {512, 512}, {4096, 4096}, {65536, 65536}, {513, 0}}
	for _, tc := range tests {
		l := vhd.ParentLocator{DataSpace: tc.space}
		if got := l.Size(); got != tc.want {
			t.Errorf("DataSpace %d: Size() = %d, want %d", tc.space, got, tc.want)
		}
	}
}

func TestVHDTime(t *testing.T) {
	tests := []struct {
		t  time.Time
		ts uint32
	}{
		{time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), 0},
		{time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), 757479845},
		{time.Date(1999, 12, 31, 23, 59, 59, 0, time.UTC), 0xFFFFFFFF},
	}
	for _, tc := range tests {
		if got := vhd.VHDTime(tc.t); got != tc.ts {
			t.Errorf("VHDTime(%v) = %d, want %d", tc.t, got, tc.ts)
		}
		if tc.ts != 0xFFFFFFFF && !vhd.TimeFromVHD(tc.ts).Equal(tc.t) {
			t.Errorf("TimeFromVHD(%d) = %v, want %v", tc.ts, vhd.TimeFromVHD(tc.ts), tc.t)
		}
	}
}

func TestFooterRoundTripAndChecksumQuirk(t *testing.T) {
	p := vhdtest.Dynamic(t, filepath.Join(t.TempDir(), "a.vhd"), 8*mib, nil)
	raw, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var ft vhd.Footer
	if err := ft.UnmarshalBinary(raw[len(raw)-512:]); err != nil {
		t.Fatal(err)
	}
	out, _ := ft.MarshalBinary()
	if diff := cmp.Diff(raw[len(raw)-512:], out); diff != "" {
		t.Fatalf("footer does not round-trip:\n%s", diff)
	}
	if !ft.ChecksumValid() {
		t.Fatal("fresh footer has an invalid checksum")
	}
	// Old blktap set hidden without updating the checksum: accepted for tap 1.1 only.
	for _, tc := range []struct {
		version uint32
		want    bool
	}{{0x00010001, true}, {0x00010003, false}} {
		g := ft
		g.CreatorVersion = tc.version
		g.UpdateChecksum()
		g.Hidden = 1
		if got := g.ChecksumValid(); got != tc.want {
			t.Errorf("creator version %#x, hidden set without checksum: valid = %v, want %v", tc.version, got, tc.want)
		}
	}
}

func TestOpenFallsBackToBackupFooter(t *testing.T) {
	tests := []struct {
		name   string
		mangle func(t *testing.T, path string)
		want   vhd.FooterSource
	}{
		{"intact", func(*testing.T, string) {}, vhd.FooterPrimary},
		{"primary checksum", func(t *testing.T, p string) {
			vhdtest.PatchFooter(t, p, vhdtest.Primary, false, func(f *vhd.Footer) { f.Saved = 1 })
		}, vhd.FooterBackup},
		{"primary missing", func(t *testing.T, p string) {
			st, _ := os.Stat(p)
			os.Truncate(p, st.Size()-512)
		}, vhd.FooterBackup},
		{"short footer", func(t *testing.T, p string) {
			st, _ := os.Stat(p)
			os.Truncate(p, st.Size()-1)
		}, vhd.FooterShort},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := vhdtest.Dynamic(t, filepath.Join(t.TempDir(), "a.vhd"), 4*mib, nil, vhdtest.Fill(1, 0, 4096))
			tc.mangle(t, p)
			f, err := vhd.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if f.FooterSource() != tc.want {
				t.Errorf("FooterSource = %v, want %v", f.FooterSource(), tc.want)
			}
			if f.VirtualSize() != 4*mib {
				t.Errorf("VirtualSize = %d", f.VirtualSize())
			}
		})
	}
}

func TestOpenRefuses(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	huge := vhdtest.Dynamic(t, filepath.Join(dir, "huge.vhd"), 4*mib, nil)
	vhdtest.PatchHeader(t, huge, true, func(h *vhd.Header) { h.TableOffset = 1 << 40 })
	unaligned := vhdtest.Dynamic(t, filepath.Join(dir, "unaligned.vhd"), 4*mib, nil)
	vhdtest.PatchHeader(t, unaligned, true, func(h *vhd.Header) { h.TableOffset += 4 })
	bigBlock := vhdtest.Dynamic(t, filepath.Join(dir, "bigblock.vhd"), 4*mib, nil)
	vhdtest.PatchHeader(t, bigBlock, true, func(h *vhd.Header) { h.BlockSize = 4 << 20 })
	badCode := vhdtest.Dynamic(t, filepath.Join(dir, "code.vhd"), 4*mib, nil)
	vhdtest.PatchHeader(t, badCode, true, func(h *vhd.Header) { h.Locators[5].Code = 0x41414141 })

	tests := []struct {
		name    string
		path    string
		openErr error // from Open
		batErr  error // from BAT, when Open succeeds
	}{
		{"empty", write("empty.vhd", nil), vhd.ErrTruncated, nil},
		{"junk", write("junk.vhd", make([]byte, 4096)), vhd.ErrCookie, nil},
		{"missing", filepath.Join(dir, "nope.vhd"), os.ErrNotExist, nil},
		{"BAT past the end of the file", huge, nil, vhd.ErrTruncated},
		{"BAT not sector aligned", unaligned, nil, vhd.ErrFormat},
		{"block size 4 MiB", bigBlock, vhd.ErrFormat, nil},
		{"unknown locator code", badCode, vhd.ErrFormat, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := vhd.Open(tc.path)
			if tc.openErr != nil {
				if !errors.Is(err, tc.openErr) {
					t.Fatalf("Open error = %v, want %v", err, tc.openErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer f.Close()
			if _, err := f.BAT(); !errors.Is(err, tc.batErr) {
				t.Errorf("BAT error = %v, want %v", err, tc.batErr)
			}
			var fe *vhd.FormatError
			if _, err := f.BAT(); !errors.As(err, &fe) || fe.Offset < 0 || fe.Field == "" {
				t.Errorf("BAT error %v does not name field and offset", err)
			}
		})
	}
}

func TestSetHiddenRewritesBothFooters(t *testing.T) {
	p := vhdtest.Dynamic(t, filepath.Join(t.TempDir(), "a.vhd"), 4*mib, nil, vhdtest.Fill(1, 0, 512))
	before, _ := os.ReadFile(p)
	f, err := vhd.OpenFile(p, os.O_RDWR)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.SetHidden(1); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(p)
	var changed []int
	for i := range before {
		if before[i] != after[i] {
			changed = append(changed, i)
		}
	}
	n := len(after)
	// The hidden byte and the low byte of the checksum, in both copies.
	want := []int{67, 85, n - 512 + 67, n - 512 + 85}
	if diff := cmp.Diff(want, changed); diff != "" {
		t.Errorf("changed bytes (-want +got):\n%s", diff)
	}
	g, err := vhd.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if h, _ := g.Hidden(); h != 1 {
		t.Errorf("Hidden = %d, want 1", h)
	}
}

// TestZeroSizeDisk: blktap reserves one BAT sector even for no entries, and
// the batmap header follows it (vhd-util create -s 0 makes 3584 bytes).
func TestZeroSizeDisk(t *testing.T) {
	p := vhdtest.Dynamic(t, filepath.Join(t.TempDir(), "z.vhd"), 0, nil)
	f, err := vhd.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	phys, err := f.PhysicalSize()
	if err != nil || phys != 3584 || f.FileSize() != 3584 {
		t.Errorf("PhysicalSize = %d, %v; file size %d; want 3584", phys, err, f.FileSize())
	}
	if _, err := f.Batmap(); err != nil {
		t.Errorf("Batmap: %v", err)
	}
	if _, err := vhd.CheckFile(t.Context(), p, nil); err != nil {
		t.Errorf("CheckFile: %v", err)
	}
}
