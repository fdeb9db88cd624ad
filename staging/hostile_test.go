//go:build linux

package staging

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vhdkit/vhdkit/vhd"
	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

// wchar returns the bytes this process has passed to write(2) and its
// relatives so far (/proc/self/io), or -1 when the kernel does not say.
func wchar(t testing.TB) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "wchar: "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err == nil {
				return n
			}
		}
	}
	return -1
}

// batOffset returns the BAT offset and entry count of a dynamic or
// differencing VHD.
func batOffset(t testing.TB, path string) (int64, int) {
	t.Helper()
	f, err := vhd.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return int64(f.Header.TableOffset), int(f.Header.MaxTableEntries)
}

// patchBAT sets BAT entries of path; edit gets the table and changes it.
func patchBAT(t testing.TB, path string, edit func(bat []uint32)) {
	t.Helper()
	off, n := batOffset(t, path)
	raw := make([]byte, 4*n)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.ReadAt(raw, off); err != nil {
		t.Fatal(err)
	}
	f.Close()
	bat := make([]uint32, n)
	for i := range bat {
		bat[i] = binary.BigEndian.Uint32(raw[4*i:])
	}
	edit(bat)
	for i, v := range bat {
		binary.BigEndian.PutUint32(raw[4*i:], v)
	}
	vhdtest.Patch(t, path, off, raw...)
}

// TestImportHostile imports images whose leaf blktap's check rejects, or
// whose relink would write far more than the image holds. Each must be
// refused before anything is written to a staged file: the error carries
// vhd.Check's problems, the SR is byte-identical, and the import wrote no
// more than the extracted files plus a little journal.
func TestImportHostile(t *testing.T) {
	const size = 64 * mib
	build := func(edit func(t *testing.T, leaf string)) func(t *testing.T) (data []byte, logical int64) {
		return func(t *testing.T) ([]byte, int64) {
			d := t.TempDir()
			paths := vhdtest.Chain(t, d, 2, size, nil, func(i int) []vhdtest.Write {
				return []vhdtest.Write{vhdtest.Fill(uint64(30+i), int64(i)*2*mib, 64<<10)}
			})
			edit(t, paths[0])
			var logical int64
			for _, p := range paths {
				fi, err := os.Stat(p)
				if err != nil {
					t.Fatal(err)
				}
				logical += fi.Size()
			}
			return tarGz(t, d), logical
		}
	}
	firstBlock := func(t *testing.T, leaf string) uint32 {
		off, n := batOffset(t, leaf)
		return uint32((off + int64(4*n) + 511) / 512)
	}
	tests := []struct {
		name  string
		image func(t *testing.T) ([]byte, int64)
	}{
		{"block clobbers headers", build(func(t *testing.T, leaf string) {
			patchBAT(t, leaf, func(bat []uint32) { bat[1] = 1 })
		})},
		{"locator data_space 0xfffffe00", build(func(t *testing.T, leaf string) {
			vhdtest.PatchHeader(t, leaf, true, func(h *vhd.Header) { h.Locators[0].DataSpace = 0xfffffe00 })
		})},
		{"BAT entry far past EOF", build(func(t *testing.T, leaf string) {
			patchBAT(t, leaf, func(bat []uint32) { bat[5] = 0x0fffffff })
		})},
		{"every BAT entry right after the metadata", build(func(t *testing.T, leaf string) {
			first := firstBlock(t, leaf)
			patchBAT(t, leaf, func(bat []uint32) {
				for i := range bat {
					bat[i] = first
				}
			})
		})},
		{"huge locator data_space on every locator", build(func(t *testing.T, leaf string) {
			vhdtest.PatchHeader(t, leaf, true, func(h *vhd.Header) {
				for i := range h.Locators {
					if h.Locators[i].Code != vhd.PlatformNone {
						h.Locators[i].DataSpace = 0x7ffffe00
					}
				}
			})
		})},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data, logical := tc.image(t)
			sr := newSR(t)
			before := srState(t, sr)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			w0 := wchar(t)
			start := time.Now()
			_, err := Import(ctx, bytes.NewReader(data), sr, nil)
			elapsed := time.Since(start)
			written := wchar(t) - w0
			t.Logf("refused after %v, %d bytes written: %v", elapsed, written, err)
			if !errors.Is(err, ErrInvalidChain) {
				t.Fatalf("err = %v, want ErrInvalidChain", err)
			}
			var ce *vhd.CheckError
			if !errors.As(err, &ce) || len(ce.Problems) == 0 {
				t.Errorf("err = %v, want vhd.Check's problems in it", err)
			}
			if diff := cmp.Diff(before, srState(t, sr)); diff != "" {
				t.Errorf("SR changed (-before +after):\n%s", diff)
			}
			if left := stagingLeft(t, sr); len(left) != 0 {
				t.Errorf("staging areas left: %v", left)
			}
			if w0 >= 0 && written > logical+4*mib {
				t.Errorf("the refused import wrote %d bytes for %d bytes of files", written, logical)
			}
		})
	}
}
