package tarball

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestProgressShape packs three files and unpacks the archive from a
// regular file: every report names its phase, Done never decreases, Total
// is known from the first report and never changes, and the last report
// has Done == Total.
func TestProgressShape(t *testing.T) {
	src := t.TempDir()
	writeFiles(t, src, map[string][]byte{
		"0.vhd": imageLike(9<<20+77, 1),
		"1.vhd": imageLike(3<<20, 2),
		"2.vhd": pseudoRandom(10<<20, 3),
	})
	const logical = 9<<20 + 77 + 3<<20 + 10<<20
	type summary struct {
		Phase        Phase
		Total        int64
		LastDone     int64
		LastLogical  int64
		Monotonic    bool
		TotalChanged bool
	}
	record := func(s *summary) func(Progress) {
		s.Monotonic = true
		first := true
		return func(p Progress) {
			if first {
				s.Phase, s.Total, first = p.Phase, p.Total, false
			}
			if p.Phase != s.Phase || p.Total != s.Total {
				s.TotalChanged = true
			}
			if p.Done < s.LastDone || p.Logical < s.LastLogical {
				s.Monotonic = false
			}
			s.LastDone, s.LastLogical = p.Done, p.Logical
		}
	}
	var pack summary
	var archive bytes.Buffer
	pres, err := Pack(context.Background(), &archive, src, &PackOptions{Level: 1, Progress: record(&pack)})
	if err != nil {
		t.Fatal(err)
	}
	want := summary{Phase: PhasePack, Total: logical, LastDone: logical, LastLogical: logical, Monotonic: true}
	if diff := cmp.Diff(want, pack); diff != "" {
		t.Errorf("Pack progress (-want +got):\n%s", diff)
	}
	if pres.Logical != logical || pres.Compressed != int64(archive.Len()) {
		t.Errorf("PackResult Logical %d Compressed %d, want %d and %d", pres.Logical, pres.Compressed, logical, archive.Len())
	}

	path := filepath.Join(t.TempDir(), "image.tgz")
	if err := os.WriteFile(path, archive.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var unpack summary
	ures, err := Unpack(context.Background(), f, t.TempDir(), &UnpackOptions{Progress: record(&unpack)})
	if err != nil {
		t.Fatal(err)
	}
	size := int64(archive.Len())
	want = summary{Phase: PhaseUnpack, Total: size, LastDone: size, LastLogical: logical, Monotonic: true}
	if diff := cmp.Diff(want, unpack); diff != "" {
		t.Errorf("Unpack progress (-want +got):\n%s", diff)
	}
	if ures.Logical != logical || ures.Compressed != size {
		t.Errorf("UnpackResult Logical %d Compressed %d, want %d and %d", ures.Logical, ures.Compressed, logical, size)
	}
}
