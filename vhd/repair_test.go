package vhd_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vhdkit/vhdkit/vhd"
	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

// syncStore is an in-memory file with a crash model: writes and truncates
// change what reads see at once, but only a successful Sync makes them
// durable; a crash (the failAt-th write, truncate or sync, counting from 1,
// and everything after it fails) leaves only what the last successful sync
// made durable.
type syncStore struct {
	cur, durable []byte
	ops, failAt  int
	log          []string
}

func newSyncStore(b []byte, failAt int) *syncStore {
	return &syncStore{cur: bytes.Clone(b), durable: bytes.Clone(b), failAt: failAt}
}

var errCrash = errors.New("injected crash")

func (s *syncStore) op(what string) error {
	s.ops++
	s.log = append(s.log, what)
	if s.failAt > 0 && s.ops >= s.failAt {
		return errCrash
	}
	return nil
}

func (s *syncStore) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(s.cur)) {
		return 0, io.EOF
	}
	n := copy(p, s.cur[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (s *syncStore) WriteAt(p []byte, off int64) (int, error) {
	if err := s.op("write"); err != nil {
		return 0, err
	}
	if end := off + int64(len(p)); end > int64(len(s.cur)) {
		s.cur = append(s.cur, make([]byte, end-int64(len(s.cur)))...)
	}
	return copy(s.cur[off:], p), nil
}

func (s *syncStore) Truncate(n int64) error {
	if err := s.op("truncate"); err != nil {
		return err
	}
	if n <= int64(len(s.cur)) {
		s.cur = s.cur[:n]
	} else {
		s.cur = append(s.cur, make([]byte, n-int64(len(s.cur)))...)
	}
	return nil
}

func (s *syncStore) Sync() error {
	if err := s.op("sync"); err != nil {
		return err
	}
	s.durable = bytes.Clone(s.cur)
	return nil
}

// opened is what matters of a file after a crash: the footer it opens
// with and its virtual disk.
type opened struct {
	Footer vhd.Footer
	Data   []byte
}

func openBytes(t *testing.T, b []byte, mustCheck bool) (opened, error) {
	t.Helper()
	f, err := vhd.New(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return opened{}, err
	}
	data := make([]byte, f.VirtualSize())
	if _, err := f.ReadAt(data, 0); err != nil {
		return opened{}, err
	}
	if mustCheck {
		rep, err := vhd.Check(context.Background(), bytes.NewReader(b), int64(len(b)), &vhd.CheckOptions{UseBackupFooter: true})
		if err != nil {
			return opened{}, err
		}
		if !rep.ValidSoFar() {
			t.Errorf("check: %v", rep.Problems)
		}
	}
	return opened{Footer: f.Footer, Data: data}, nil
}

func fileBytesOf(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRepairCrash repairs damaged files with a crash injected at every
// write, truncate and sync in turn: the durable file always is the old one
// or opens with the old footer or the repaired one, reads the same data,
// and passes Check (the backup footer accepted) whenever the old file did;
// the repaired file passes Check; an uncrashed repair leaves nothing
// unsynced.
func TestRepairCrash(t *testing.T) {
	w := []vhdtest.Write{vhdtest.Fill(1, 0, 4096), vhdtest.Fill(2, 3*mib, 8192)}
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, p string)
	}{
		{name: "primary footer missing", damage: func(t *testing.T, p string) { truncate(t, p, -512) }},
		{name: "primary footer torn", damage: func(t *testing.T, p string) { truncate(t, p, -100) }},
		{name: "junk after the footer", damage: func(t *testing.T, p string) { truncate(t, p, 3000) }},
		{name: "primary footer corrupt", damage: func(t *testing.T, p string) {
			vhdtest.PatchFooter(t, p, vhdtest.Primary, false, func(f *vhd.Footer) { f.OriginalSize = 1 })
		}},
		{name: "primary differs from the copy at 0", damage: func(t *testing.T, p string) {
			vhdtest.PatchFooter(t, p, vhdtest.Primary, true, func(f *vhd.Footer) { f.Hidden = 1 })
		}},
		{name: "null UUID", damage: func(t *testing.T, p string) {
			vhdtest.PatchFooter(t, p, vhdtest.Both, true, func(f *vhd.Footer) { f.UUID = vhd.UUID{} })
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := vhdtest.Dynamic(t, filepath.Join(t.TempDir(), "a.vhd"), 4*mib, nil, w...)
			tc.damage(t, p)
			orig := fileBytesOf(t, p)
			oldFile, err := vhd.New(bytes.NewReader(orig), int64(len(orig)))
			if err != nil {
				t.Fatal(err)
			}
			old := opened{Footer: oldFile.Footer, Data: make([]byte, oldFile.VirtualSize())}
			if _, err := oldFile.ReadAt(old.Data, 0); err != nil {
				t.Fatal(err)
			}
			// A state between the old file and the new one must pass Check
			// when the old file did.
			oldRep, err := vhd.Check(context.Background(), bytes.NewReader(orig), int64(len(orig)), &vhd.CheckOptions{UseBackupFooter: true})
			oldValid := err == nil && oldRep.ValidSoFar()
			repair := func(failAt int) (*syncStore, error) {
				s := newSyncStore(orig, failAt)
				f, err := vhd.NewWritable(s, int64(len(orig)))
				if err != nil {
					t.Fatal(err)
				}
				_, err = f.Repair(context.Background(), &vhd.RepairOptions{UUID: vhdtest.NameUUID("fresh")})
				return s, err
			}
			s, err := repair(0)
			if err != nil {
				t.Fatal(err)
			}
			if s.ops == 0 || s.log[len(s.log)-1] != "sync" {
				t.Errorf("an uncrashed repair does %v: it must end with a sync", s.log)
			}
			if !bytes.Equal(s.durable, s.cur) {
				t.Fatalf("repair returned with unsynced changes (operations %v)", s.log)
			}
			repaired, err := openBytes(t, s.durable, true)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(old.Data, repaired.Data) {
				t.Fatal("the repaired file reads differently")
			}
			for k := 1; k <= s.ops; k++ {
				c, err := repair(k)
				if !errors.Is(err, errCrash) {
					t.Fatalf("crash at operation %d (%s): Repair returned %v", k, c.log[k-1], err)
				}
				if bytes.Equal(c.durable, orig) {
					continue // the old file, untouched
				}
				got, err := openBytes(t, c.durable, oldValid)
				if err != nil {
					t.Fatalf("crash at operation %d (%s): the file does not open: %v", k, c.log[k-1], err)
				}
				if !bytes.Equal(got.Data, old.Data) {
					t.Errorf("crash at operation %d (%s): the data changed", k, c.log[k-1])
				}
				if got.Footer != old.Footer && got.Footer != repaired.Footer {
					t.Errorf("crash at operation %d (%s): the footer is neither the old nor the new one", k, c.log[k-1])
				}
			}
		})
	}
}

// truncate changes the size of the file at p by delta bytes (growing it
// with junk).
func truncate(t *testing.T, p string, delta int64) {
	t.Helper()
	b := fileBytesOf(t, p)
	if delta < 0 {
		b = b[:int64(len(b))+delta]
	} else {
		b = append(b, vhdtest.Pattern(77, int(delta))...)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestRepairDryRun reports what a repair would do and writes nothing.
func TestRepairDryRun(t *testing.T) {
	p := vhdtest.Dynamic(t, filepath.Join(t.TempDir(), "a.vhd"), 10*mib, nil, vhdtest.Fill(1, 0, 512))
	good := fileBytesOf(t, p)
	truncate(t, p, -300)
	orig := fileBytesOf(t, p)
	s := newSyncStore(orig, 0)
	f, err := vhd.NewWritable(s, int64(len(orig)))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := f.Repair(context.Background(), &vhd.RepairOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	want := &vhd.RepairReport{Source: vhd.FooterBackup, FooterOffset: int64(len(good)) - 512, OldFileSize: int64(len(orig)),
		NewFileSize: int64(len(good)), Primary: true, UUID: f.Footer.UUID}
	if f.FooterSource() == vhd.FooterPrimary {
		t.Fatal("the damaged file opened with its primary footer")
	}
	if diff := cmp.Diff(want, rep); diff != "" || !rep.Changed() {
		t.Errorf("dry run report (-want +got)\n%s", diff)
	}
	if s.ops != 0 || !bytes.Equal(s.cur, orig) {
		t.Errorf("the dry run wrote: %v", s.log)
	}
	if _, err := f.Repair(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(s.durable, good) {
		t.Errorf("the repaired file is not the original one, first difference at %d", firstDifference(s.durable, good))
	}
	// A sound file needs nothing: no write at all.
	s = newSyncStore(good, 0)
	if f, err = vhd.NewWritable(s, int64(len(good))); err != nil {
		t.Fatal(err)
	}
	if rep, err = f.Repair(context.Background(), nil); err != nil || rep.Changed() || s.ops != 0 {
		t.Errorf("repair of a sound file: %+v, %v, operations %v", rep, err, s.log)
	}
}

// TestRepairRefusesUnsound: a repair that would leave a file Check
// refuses writes nothing.
func TestRepairRefusesUnsound(t *testing.T) {
	p := vhdtest.Dynamic(t, filepath.Join(t.TempDir(), "a.vhd"), 10*mib, nil, vhdtest.Fill(1, 0, 512))
	truncate(t, p, -512)
	// The BAT points past the end of the file: the data is gone.
	vhdtest.Patch(t, p, 1536, 0, 0, 0x40, 0)
	orig := fileBytesOf(t, p)
	s := newSyncStore(orig, 0)
	f, err := vhd.NewWritable(s, int64(len(orig)))
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.Repair(context.Background(), nil)
	if !errors.Is(err, vhd.ErrTruncated) {
		t.Fatalf("Repair: %v, want ErrTruncated", err)
	}
	if s.ops != 0 {
		t.Errorf("the refused repair wrote: %v", s.log)
	}
}

func firstDifference(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
