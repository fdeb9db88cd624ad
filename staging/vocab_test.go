//go:build linux

package staging

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vhdkit/vhdkit/chain"
	"github.com/vhdkit/vhdkit/vhd"
	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

// progressLog records what a Progress callback saw.
type progressLog struct {
	Phases    []Phase // each phase once, in the order first seen
	Total     int64   // Total of the first report
	LastDone  int64
	Monotonic bool // Done never decreased
	Constant  bool // Total never changed
}

func (l *progressLog) record() func(Progress) {
	l.Monotonic, l.Constant = true, true
	n := 0
	return func(p Progress) {
		if n == 0 {
			l.Total = p.Total
		}
		n++
		if len(l.Phases) == 0 || l.Phases[len(l.Phases)-1] != p.Phase {
			l.Phases = append(l.Phases, p.Phase)
		}
		if p.Done < l.LastDone {
			l.Monotonic = false
		}
		if p.Total != l.Total {
			l.Constant = false
		}
		l.LastDone = p.Done
	}
}

// TestProgressMonotonic imports an archive from a regular file and exports
// the chain again: Done never decreases across the phases, Total is the
// archive's size (import) or the files' (export) from the first report on,
// and the last Done is Total.
func TestProgressMonotonic(t *testing.T) {
	img := imageDir(t, 3, nil)
	path := filepath.Join(t.TempDir(), "image.tgz")
	if err := os.WriteFile(path, tarGz(t, img), 0o644); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(path)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var im progressLog
	sr := newSR(t)
	res, err := Import(context.Background(), f, sr, &ImportOptions{Progress: im.record()})
	if err != nil {
		t.Fatal(err)
	}
	want := progressLog{
		Phases: []Phase{PhaseExtract, PhaseCheck, PhaseRelink, PhaseValidate, PhaseCommit},
		Total:  fi.Size(), LastDone: fi.Size(), Monotonic: true, Constant: true,
	}
	if diff := cmp.Diff(want, im); diff != "" {
		t.Errorf("Import progress (-want +got):\n%s", diff)
	}
	if res.Compressed != fi.Size() {
		t.Errorf("Result.Compressed = %d, want %d", res.Compressed, fi.Size())
	}

	var ex progressLog
	var sum int64
	for _, v := range res.VDIs {
		sum += v.FileSize
	}
	var out bytes.Buffer
	eres, err := Export(context.Background(), &out, sr, uuidsOf(res), &ExportOptions{Progress: ex.record()})
	if err != nil {
		t.Fatal(err)
	}
	want = progressLog{Phases: []Phase{PhasePack}, Total: sum, LastDone: sum, Monotonic: true, Constant: true}
	if diff := cmp.Diff(want, ex); diff != "" {
		t.Errorf("Export progress (-want +got):\n%s", diff)
	}
	if eres.Logical != sum || eres.Compressed != int64(out.Len()) {
		t.Errorf("ExportResult Logical %d Compressed %d, want %d and %d", eres.Logical, eres.Compressed, sum, out.Len())
	}
}

// TestImportMessages checks what a refusal says: one "staging:" prefix, no
// path inside the staging area, the names the importer takes, and the
// right sentinel of the package that owns the rule.
func TestImportMessages(t *testing.T) {
	files := func(names ...string) func(t *testing.T) []byte {
		return func(t *testing.T) []byte {
			d := t.TempDir()
			for _, n := range names {
				vhdtest.Dynamic(t, filepath.Join(d, n), 2*mib, nil)
			}
			return tarGz(t, d)
		}
	}
	chain3 := func(edit func(t *testing.T, d string)) func(t *testing.T) []byte {
		return func(t *testing.T) []byte {
			d := t.TempDir()
			vhdtest.Chain(t, d, 3, 8*mib, nil, chainWrites)
			edit(t, d)
			return tarGz(t, d)
		}
	}
	tests := []struct {
		name  string
		image func(t *testing.T) []byte
		opts  ImportOptions
		is    []error
		says  []string // substrings of the message
	}{
		{"upper-case name", files("0.VHD"), ImportOptions{}, []error{ErrNoImages},
			[]string{"no VHD in the image", "it holds 0.VHD", "0.vhd, 1.vhd", "snap.vhd, image.vhd, base.vhd"}},
		{"unknown name", files("0.vhd", "disk.vhd"), ImportOptions{}, []error{ErrUnknownName},
			[]string{"disk.vhd", "0.vhd, 1.vhd"}},
		{"nil UUID", files("0.vhd"), ImportOptions{UUIDs: []vhd.UUID{{}}}, []error{ErrNilUUID},
			[]string{"nil UUID"}},
		{"too few UUIDs", chain3(func(*testing.T, string) {}), ImportOptions{UUIDs: []vhd.UUID{vhd.NewUUID()}}, []error{ErrTooFewUUIDs},
			[]string{"1 given for 3 VHDs"}},
		{"hidden leaf", chain3(func(t *testing.T, d string) {
			vhdtest.PatchFooter(t, filepath.Join(d, "0.vhd"), vhdtest.Both, true, func(f *vhd.Footer) { f.Hidden = 1 })
		}), ImportOptions{}, []error{chain.ErrHiddenLeaf, ErrInvalidChain}, []string{"0.vhd"}},
		{"block size", func(t *testing.T) []byte {
			d := t.TempDir()
			vhdtest.Dynamic(t, filepath.Join(d, "1.vhd"), 8*mib, &vhdtest.Options{BlockSize: 512 << 10, Creator: vhd.Creator{'q', 'e', 'm', 'u'}, Hidden: 1})
			vhdtest.Child(t, filepath.Join(d, "0.vhd"), filepath.Join(d, "1.vhd"), nil)
			return tarGz(t, d)
		}, ImportOptions{}, []error{chain.ErrBlockSize, ErrInvalidChain}, []string{"2 MiB"}},
		{"differencing base", chain3(func(t *testing.T, d string) { os.Remove(filepath.Join(d, "2.vhd")) }),
			ImportOptions{}, []error{chain.ErrDifferencingBase}, []string{"1.vhd"}},
		{"too deep", chain3(func(*testing.T, string) {}), ImportOptions{MaxDepth: 2}, []error{chain.ErrTooDeep}, []string{"limit 2"}},
		{"corrupt VHD", chain3(func(t *testing.T, d string) {
			vhdtest.PatchHeader(t, filepath.Join(d, "1.vhd"), false, func(h *vhd.Header) { h.MaxTableEntries++ })
		}), ImportOptions{}, []error{ErrInvalidChain, vhd.ErrFormat}, []string{"1.vhd"}},
		{"not gzip", func(*testing.T) []byte { return []byte("this is not an archive") }, ImportOptions{}, nil,
			[]string{"gzip"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sr := newSR(t)
			_, err := Import(context.Background(), bytes.NewReader(tc.image(t)), sr, &tc.opts)
			if err == nil {
				t.Fatal("import succeeded")
			}
			for _, want := range tc.is {
				if !errors.Is(err, want) {
					t.Errorf("errors.Is(%v, %v) = false", err, want)
				}
			}
			msg := err.Error()
			if n := strings.Count(msg, "staging:"); n != 1 {
				t.Errorf("%q says staging: %d times", msg, n)
			}
			if strings.Contains(msg, Prefix) || strings.Contains(msg, sr) {
				t.Errorf("%q names a path inside the SR or its staging area", msg)
			}
			for _, s := range tc.says {
				if !strings.Contains(msg, s) {
					t.Errorf("%q does not say %q", msg, s)
				}
			}
		})
	}
}

// TestRecoverSkipsRemoved checks that an area its owner removed while
// Recover looked (gone between the directory listing and the journal's
// open) is not reported.
func TestRecoverSkipsRemoved(t *testing.T) {
	sr := t.TempDir()
	dir := filepath.Join(sr, Prefix+"gone")
	if ra, ok := recoverArea(sr, dir, &RecoverOptions{Grace: -1, ops: osFileOps{}}); ok {
		t.Errorf("a vanished area is reported: %+v", ra)
	}
}
