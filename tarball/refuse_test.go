package tarball

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestUnpackRefuses feeds one malicious or over-limit archive per case and
// checks the typed error, the entry it names, and that nothing changed
// anywhere: not the target's parent, not a sibling directory, and not the
// target itself (files written before the refusal are removed).
func TestUnpackRefuses(t *testing.T) {
	good := reg("./1.vhd", imageLike(10000, 1))
	dev := func(name string, flag byte) entry {
		e := typed(name, flag)
		e.hdr.Devmajor, e.hdr.Devminor = 1, 3
		return e
	}
	link := func(name, target string, flag byte) entry {
		e := typed(name, flag)
		e.hdr.Linkname = target
		return e
	}
	for _, tc := range []struct {
		name     string
		entries  func(base string) []entry
		raw      func(t *testing.T, base string) []byte // instead of entries
		opts     UnpackOptions
		wantErr  error
		wantName string
	}{
		{name: "absolute", entries: func(base string) []entry {
			return []entry{good, reg(filepath.Join(base, "outside.txt"), []byte("pwned"))}
		}, wantErr: ErrAbsolute},
		{name: "dotdot", entries: func(string) []entry { return []entry{good, reg("../sibling/0.vhd", []byte("pwned"))} },
			wantErr: ErrDotDot, wantName: "../sibling/0.vhd"},
		{name: "dot slash dotdot", entries: func(string) []entry { return []entry{good, reg("./../outside.txt", []byte("pwned"))} },
			wantErr: ErrDotDot, wantName: "./../outside.txt"},
		{name: "backslash dotdot", entries: func(string) []entry { return []entry{reg(`..\outside.txt`, []byte("pwned"))} },
			wantErr: ErrDotDot, wantName: `..\outside.txt`},
		{name: "nested", entries: func(string) []entry { return []entry{good, reg("./sibling/0.vhd", []byte("pwned"))} },
			wantErr: ErrNested, wantName: "./sibling/0.vhd"},
		{name: "nested backslash", entries: func(string) []entry { return []entry{reg(`a\0.vhd`, []byte("x"))} },
			wantErr: ErrNested, wantName: `a\0.vhd`},
		{name: "symlink absolute", entries: func(base string) []entry {
			return []entry{good, link("./0.vhd", filepath.Join(base, "outside.txt"), tar.TypeSymlink), reg("./0.vhd", []byte("pwned"))}
		}, wantErr: ErrSymlink, wantName: "./0.vhd"},
		{name: "symlink relative", entries: func(string) []entry { return []entry{link("0.vhd", "../sibling/0.vhd", tar.TypeSymlink)} },
			wantErr: ErrSymlink, wantName: "0.vhd"},
		{name: "hard link", entries: func(string) []entry { return []entry{good, link("./0.vhd", "../outside.txt", tar.TypeLink)} },
			wantErr: ErrHardLink, wantName: "./0.vhd"},
		{name: "hard link inside", entries: func(string) []entry { return []entry{good, link("./0.vhd", "./1.vhd", tar.TypeLink)} },
			wantErr: ErrHardLink, wantName: "./0.vhd"},
		{name: "char device", entries: func(string) []entry { return []entry{good, dev("./0.vhd", tar.TypeChar)} },
			wantErr: ErrDevice, wantName: "./0.vhd"},
		{name: "block device", entries: func(string) []entry { return []entry{good, dev("./0.vhd", tar.TypeBlock)} },
			wantErr: ErrDevice, wantName: "./0.vhd"},
		{name: "fifo", entries: func(string) []entry { return []entry{good, typed("./0.vhd", tar.TypeFifo)} },
			wantErr: ErrFIFO, wantName: "./0.vhd"},
		{name: "subdirectory", entries: func(string) []entry { return []entry{good, typed("./sub/", tar.TypeDir)} },
			wantErr: ErrUnsupportedType, wantName: "./sub/"},
		{name: "contiguous file type", entries: func(string) []entry { return []entry{good, typed("./0.vhd", tar.TypeCont)} },
			wantErr: ErrUnsupportedType, wantName: "./0.vhd"},
		{name: "duplicate", entries: func(string) []entry { return []entry{good, reg("1.vhd", []byte("again"))} },
			wantErr: ErrDuplicate, wantName: "1.vhd"},
		{name: "root as file", entries: func(string) []entry { return []entry{good, reg(".", []byte("x"))} },
			wantErr: ErrBadName, wantName: "."},
		{name: "too many entries", opts: UnpackOptions{MaxEntries: 2}, entries: func(string) []entry {
			return []entry{typed("./", tar.TypeDir), good, reg("2.vhd", nil), reg("3.vhd", nil)}
		}, wantErr: ErrTooManyEntries, wantName: "3.vhd"},
		{name: "second root counts", opts: UnpackOptions{MaxEntries: 1}, entries: func(string) []entry {
			return []entry{typed("./", tar.TypeDir), good, typed("./", tar.TypeDir)}
		}, wantErr: ErrTooManyEntries, wantName: "./"},
		{name: "file too large", opts: UnpackOptions{MaxFileSize: 5000}, entries: func(string) []entry { return []entry{good} },
			wantErr: ErrFileTooLarge, wantName: "./1.vhd"},
		{name: "total too large", opts: UnpackOptions{MaxTotalSize: 15000}, entries: func(string) []entry {
			return []entry{good, reg("2.vhd", imageLike(10000, 2))}
		}, wantErr: ErrTotalTooLarge, wantName: "2.vhd"},
		{name: "bad utf-8", raw: func(t *testing.T, _ string) []byte {
			return gz(t, rename(t, rawTar(t, tar.FormatGNU, true, good, reg("aaaa.vhd", []byte("x"))), "aaaa.vhd", "\xff\xfeaa.vhd"))
		}, wantErr: ErrBadName, wantName: "\xff\xfeaa.vhd"},
		{name: "absolute via rename", raw: func(t *testing.T, _ string) []byte {
			return gz(t, rename(t, rawTar(t, tar.FormatGNU, true, reg("aaaaaa", []byte("x"))), "aaaaaa", "/etc/x"))
		}, wantErr: ErrAbsolute, wantName: "/etc/x"},
		{name: "corrupt header checksum", raw: func(t *testing.T, _ string) []byte {
			b := rawTar(t, tar.FormatGNU, true, good, reg("2.vhd", []byte("x")))
			b[512+(10000+511)/512*512+148] ^= 1 // checksum of the second header
			return gz(t, b)
		}, wantErr: tar.ErrHeader},
		{name: "truncated archive", raw: func(t *testing.T, _ string) []byte {
			b := tgz(t, good)
			return b[:len(b)/2]
		}, wantErr: errAny},
		{name: "not gzip", raw: func(t *testing.T, _ string) []byte { return rawTar(t, 0, true, good) }, wantErr: errAny},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := t.TempDir()
			parent := filepath.Join(base, "parent")
			target := filepath.Join(parent, "target")
			for _, d := range []string{parent, target, filepath.Join(parent, "sibling")} {
				if err := os.Mkdir(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			writeFiles(t, base, map[string][]byte{"outside.txt": []byte("keep")})
			writeFiles(t, filepath.Join(parent, "sibling"), map[string][]byte{"0.vhd": []byte("sibling disk")})
			writeFiles(t, parent, map[string][]byte{"outside.txt": []byte("keep too")})
			if err := os.Symlink(filepath.Join(base, "outside.txt"), filepath.Join(parent, "sibling", "link")); err != nil {
				t.Fatal(err)
			}
			before := snapshot(t, base)

			var archive []byte
			if tc.raw != nil {
				archive = tc.raw(t, base)
			} else {
				archive = gz(t, rawTar(t, tar.FormatGNU, true, tc.entries(base)...))
			}
			wantName := tc.wantName
			if tc.name == "absolute" {
				wantName = filepath.Join(base, "outside.txt")
			}
			_, err := Unpack(context.Background(), bytes.NewReader(archive), target, &tc.opts)
			if err == nil {
				t.Fatal("Unpack accepted the archive")
			}
			if tc.wantErr != errAny && !errors.Is(err, tc.wantErr) {
				t.Errorf("error %v, want %v", err, tc.wantErr)
			}
			var ee *EntryError
			if wantName != "" && (!errors.As(err, &ee) || ee.Name != wantName) {
				t.Errorf("error %v does not name entry %q", err, wantName)
			}
			if wantName != "" && !strings.Contains(err.Error(), strconv.Quote(wantName)) {
				t.Errorf("message %q does not name the entry", err)
			}
			if diff := cmp.Diff(before, snapshot(t, base)); diff != "" {
				t.Errorf("file system changed (-before +after):\n%s", diff)
			}
		})
	}
}

// errAny marks cases where any error will do.
var errAny = errors.New("any error")

func TestCheckName(t *testing.T) {
	for _, tc := range []struct {
		name string
		want error
	}{
		{"0.vhd", nil},
		{"snap.vhd", nil},
		{"..vhd", nil},
		{"", ErrBadName},
		{".", ErrBadName},
		{"a\x00b", ErrBadName},
		{"\xff", ErrBadName},
		{"/0.vhd", ErrAbsolute},
		{`\0.vhd`, ErrAbsolute},
		{"..", ErrDotDot},
		{"a/../b", ErrDotDot},
		{"a/b", ErrNested},
		{"a/", ErrNested},
		{`a\b`, ErrNested},
	} {
		if got := checkName(tc.name); !errors.Is(got, tc.want) || (tc.want == nil && got != nil) {
			t.Errorf("checkName(%q) = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestNaturalOrder(t *testing.T) {
	names := []string{"10.vhd", "2.vhd", "1.vhd", "0.vhd", "base.vhd", "01.vhd", "1a.vhd", "a10", "a9", "100.vhd"}
	sortNatural(names)
	want := []string{"0.vhd", "01.vhd", "1.vhd", "1a.vhd", "2.vhd", "10.vhd", "100.vhd", "a9", "a10", "base.vhd"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
}
