package vhd_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vhdkit/vhdkit/vhd"
	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

// TestTornFooterCommit: a crash between the two writes of a footer commit
// leaves the new primary footer and the old copy at offset 0. Check
// reports the mismatch (as vhd-util check does); the next writer completes
// the commit first, so the file then passes Check. A copy at 0 that
// differs in anything a footer commit does not change is no torn commit,
// and writers still refuse the file.
func TestTornFooterCommit(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name   string
		commit func(t *testing.T, f *vhd.File) // the commit whose copy at 0 is lost
		edit   func(ft *vhd.Footer)            // then applied to the old copy at 0
		heals  bool
	}{
		{name: "hidden", commit: func(t *testing.T, f *vhd.File) { must(t, f.SetHidden(1)) }, heals: true},
		{name: "grown", commit: func(t *testing.T, f *vhd.File) { must(t, f.Grow(ctx, 8*mib, &vhd.GrowOptions{GrowTable: true})) }, heals: true},
		{name: "grown and hidden", commit: func(t *testing.T, f *vhd.File) {
			must(t, f.Grow(ctx, 8*mib, &vhd.GrowOptions{GrowTable: true}))
			must(t, f.SetHidden(1))
		}, heals: true},
		{name: "another UUID at 0", commit: func(t *testing.T, f *vhd.File) { must(t, f.SetHidden(1)) },
			edit: func(ft *vhd.Footer) { ft.UUID[0] ^= 1 }},
		{name: "another timestamp at 0", commit: func(t *testing.T, f *vhd.File) { must(t, f.SetHidden(1)) },
			edit: func(ft *vhd.Footer) { ft.Timestamp-- }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := vhdtest.Dynamic(t, filepath.Join(t.TempDir(), "d.vhd"), 6*mib, nil, vhdtest.Fill(1, 0, 4096))
			oldCopy := fileBytes(t, p)[:512]
			f, err := vhd.OpenFile(p, os.O_RDWR)
			must(t, err)
			tc.commit(t, f)
			must(t, f.Close())
			if tc.edit != nil {
				var ft vhd.Footer
				must(t, ft.UnmarshalBinary(oldCopy))
				tc.edit(&ft)
				ft.UpdateChecksum()
				oldCopy, _ = ft.MarshalBinary()
			}
			vhdtest.Patch(t, p, 0, oldCopy...) // the copy at 0 as the crash left it
			if r := check(t, p); r.Valid() || !errors.Is(r.Problems[0].Err, vhd.ErrBackupMismatch) {
				t.Fatalf("Check of the torn file: %v, want the footers' mismatch", r.Problems)
			}
			torn := fileBytes(t, p)
			f, err = vhd.OpenFile(p, os.O_RDWR)
			must(t, err)
			want := vhdtest.Pattern(9, 512)
			_, werr := f.WriteAt(want, 4096)
			must(t, f.Close())
			if !tc.heals {
				var ce *vhd.CheckError
				if !errors.As(werr, &ce) {
					t.Fatalf("WriteAt on a file whose footers differ in more than a commit: %v, want a *CheckError", werr)
				}
				if !bytes.Equal(fileBytes(t, p), torn) {
					t.Fatal("the refused write changed the file")
				}
				return
			}
			must(t, werr)
			b := fileBytes(t, p)
			if diff := cmp.Diff(b[len(b)-512:], b[:512]); diff != "" {
				t.Errorf("the copy at 0 is not the primary footer after the next write (-primary +copy):\n%s", diff)
			}
			if r := check(t, p); !r.Valid() {
				t.Errorf("Check after the next write: %v", r.Problems)
			}
			f, err = vhd.Open(p)
			must(t, err)
			defer f.Close()
			got := make([]byte, len(want))
			_, err = f.ReadAt(got, 4096)
			must(t, err)
			if !bytes.Equal(got, want) {
				t.Error("the write after completing the commit did not land")
			}
		})
	}
}

// check runs the full default Check, with the file's directory as the
// parents' root.
func check(t *testing.T, p string) *vhd.CheckReport {
	t.Helper()
	f, err := os.Open(p)
	must(t, err)
	defer f.Close()
	st, err := f.Stat()
	must(t, err)
	r, err := vhd.Check(context.Background(), f, st.Size(), &vhd.CheckOptions{Name: p})
	var ce *vhd.CheckError
	if err != nil && !errors.As(err, &ce) {
		t.Fatal(err)
	}
	return r
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
