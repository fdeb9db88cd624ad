package vhd_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/vhdkit/vhdkit/vhd"
	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

// TestSetHiddenCrash sets the hidden flag with a crash at each write,
// truncate and sync in turn, and with each of them failing once. Every
// file a crash can leave is the old one, the new one, or the new primary
// footer with the old copy at offset 0 (never the other way round): that
// one opens with the new flag, reads the same data, passes Check with the
// backup footer accepted (by default Check reports only the footers'
// mismatch, as vhd-util check does), and Repair makes it the new file.
// SetHidden returns with everything synced, and setting the flag the file
// has writes nothing.
func TestSetHiddenCrash(t *testing.T) {
	w := []vhdtest.Write{vhdtest.Fill(1, 0, 4096), vhdtest.Fill(2, 3*mib, 2*mib)}
	dir := t.TempDir()
	grown := vhdtest.Dynamic(t, filepath.Join(dir, "grown.vhd"), 6*mib, nil, w...)
	b := fileBytes(t, grown)
	// A file longer than its data (vhd-util modify -s): the footer moves
	// to the end of the data and the file is cut behind it.
	b = append(append(b[:len(b)-512:len(b)-512], make([]byte, 8192)...), b[len(b)-512:]...)
	fixedShort := fileBytes(t, vhdtest.Fixed(t, filepath.Join(dir, "fs.vhd"), mib, &vhdtest.Options{}, vhdtest.Fill(4, mib-512, 512)))
	fixedShort = fixedShort[:len(fixedShort)-1]
	for _, tc := range []struct {
		name string
		orig []byte
	}{
		{"dynamic", fileBytes(t, vhdtest.Dynamic(t, filepath.Join(dir, "a.vhd"), 6*mib, nil, w...))},
		{"dynamic, no batmap", fileBytes(t, vhdtest.Dynamic(t, filepath.Join(dir, "v.vhd"), 6*mib, vpc, w...))},
		{"fixed", fileBytes(t, vhdtest.Fixed(t, filepath.Join(dir, "f.vhd"), mib, nil))},
		// A 511-byte footer: the new one goes after the data, not over its last byte.
		{"fixed, short footer", fixedShort},
		{"longer than its data", b},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run := func(failAt int, only bool) (*memStore, *vhd.File, error) {
				mem := newMemStore(tc.orig)
				mem.failAt, mem.failOnly = failAt, only
				f, err := vhd.NewWritable(mem, int64(len(tc.orig)))
				if err != nil {
					t.Fatal(err)
				}
				return mem, f, f.SetHidden(1)
			}
			clean, _, err := run(0, false)
			if err != nil {
				t.Fatal(err)
			}
			if len(clean.pending) > 0 || !bytes.Equal(clean.durable, clean.b) {
				t.Fatalf("SetHidden returned with %d writes not synced", len(clean.pending))
			}
			newFile := clean.b
			data := func(img []byte) []byte {
				f, err := vhd.New(bytes.NewReader(img), int64(len(img)))
				if err != nil {
					t.Fatalf("the file does not open: %v", err)
				}
				d := make([]byte, f.VirtualSize())
				if _, err := f.ReadAt(d, 0); err != nil {
					t.Fatal(err)
				}
				return d
			}
			oldData := data(tc.orig)
			between := 0
			valid := func(img []byte, where string) {
				t.Helper()
				f, err := vhd.New(bytes.NewReader(img), int64(len(img)))
				if err != nil {
					t.Fatalf("%s: the file does not open: %v", where, err)
				}
				if !bytes.Equal(data(img), oldData) {
					t.Errorf("%s: the data changed", where)
				}
				var backup vhd.Footer
				backup.UnmarshalBinary(img[:512])
				if f.Footer.DiskType == vhd.DiskFixed {
					backup = f.Footer
				}
				rep, err := vhd.Check(context.Background(), bytes.NewReader(img), int64(len(img)), nil)
				switch {
				case f.FooterSource() != vhd.FooterPrimary && !(f.FooterSource() == vhd.FooterShort && bytes.Equal(img, tc.orig)):
					t.Fatalf("%s: opened with the %v footer", where, f.FooterSource())
				case f.Footer.Hidden == backup.Hidden:
					// The old state or the new (perhaps with the footer
					// already at the end of the data, the file not yet cut).
					if err != nil || !rep.Valid() {
						t.Errorf("%s: Check: %v", where, err)
					}
					return
				case f.Footer.Hidden != 1:
					t.Fatalf("%s: the copy at 0 changed before the primary footer was durable", where)
				}
				between++
				if err == nil || len(rep.Problems) != 1 || !errors.Is(rep.Problems[0].Err, vhd.ErrBackupMismatch) {
					t.Errorf("%s: Check: %v, want only the footers' mismatch", where, err)
				}
				if rep, err := vhd.Check(context.Background(), bytes.NewReader(img), int64(len(img)),
					&vhd.CheckOptions{UseBackupFooter: true}); err != nil || !rep.Valid() {
					t.Errorf("%s: Check with the backup footer accepted: %v", where, err)
				}
				mem := newMemStore(img)
				r, err := vhd.NewWritable(mem, int64(len(img)))
				if err != nil {
					t.Fatal(err)
				}
				if _, err := r.Repair(context.Background(), nil); err != nil || !bytes.Equal(mem.b, newFile) {
					t.Errorf("%s: Repair (%v) does not give the new file: %s", where, err, firstDiff(mem.b, newFile))
				}
			}
			valid(newFile, "the changed file")
			for k := 1; k <= clean.writes; k++ {
				mem, _, err := run(k, false)
				if !errors.Is(err, errInjected) {
					t.Fatalf("crash at operation %d: error %v", k, err)
				}
				for i, img := range mem.crashImages() {
					valid(img, fmt.Sprintf("crash at operation %d, image %d", k, i))
				}
				mem, f, err := run(k, true)
				if !errors.Is(err, errInjected) {
					t.Fatalf("operation %d failing: error %v", k, err)
				}
				valid(mem.b, fmt.Sprintf("operation %d failed", k))
				if err := f.SetHidden(1); err != nil || !bytes.Equal(mem.b, newFile) {
					t.Errorf("operation %d failed, then the retry: %v; %s", k, err, firstDiff(mem.b, newFile))
				}
			}
			again := newMemStore(newFile)
			f, err := vhd.NewWritable(again, int64(len(newFile)))
			if err != nil {
				t.Fatal(err)
			}
			if err := f.SetHidden(1); err != nil || again.writes != 0 {
				t.Errorf("setting the flag again: %v, %d writes", err, again.writes)
			}
			t.Logf("%d operations; %d crash images between the old file and the new", clean.writes, between)
		})
	}
}
