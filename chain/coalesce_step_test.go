package chain

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vhdkit/vhdkit/vhd"
	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

// stepChain builds p <- c (hidden) <- g1, g2, and an unrelated file.
func stepChain(t *testing.T, dir string) (p, c string, kids []string) {
	t.Helper()
	p = vhdtest.Dynamic(t, filepath.Join(dir, "p.vhd"), 8*miB, &vhdtest.Options{Hidden: 1}, vhdtest.Fill(1, 0, 3*miB))
	c = vhdtest.Child(t, filepath.Join(dir, "c.vhd"), p, &vhdtest.Options{Hidden: 1}, vhdtest.Fill(2, miB, 3*miB))
	g1 := vhdtest.Child(t, filepath.Join(dir, "g1.vhd"), c, nil, vhdtest.Fill(3, 5*miB, 4096))
	g2 := vhdtest.Child(t, filepath.Join(dir, "g2.vhd"), c, nil)
	vhdtest.Child(t, filepath.Join(dir, "other.vhd"), p, nil)
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not a VHD"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p, c, []string{g1, g2}
}

func TestChildren(t *testing.T) {
	dir := t.TempDir()
	p, c, kids := stepChain(t, dir)
	got, err := Children(context.Background(), dir, c, nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(kids, got); diff != "" {
		t.Errorf("children of c (-want +got):\n%s", diff)
	}
	got, err = Children(context.Background(), dir, p, &Options{Mode: Compat})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{c, filepath.Join(dir, "other.vhd")}, got); diff != "" {
		t.Errorf("children of p (-want +got):\n%s", diff)
	}
}

func TestCoalesceStep(t *testing.T) {
	for _, interrupted := range []string{"", "after coalesce", "after one relink", "after all relinks"} {
		t.Run("interrupted "+interrupted, func(t *testing.T) {
			dir := t.TempDir()
			p, c, kids := stepChain(t, dir)
			var want [][]byte
			for _, k := range kids {
				want = append(want, readChildView(t, k, ""))
			}
			opts := &CoalesceOptions{Root: dir}
			// Do part of the step by hand, as a crash would leave it.
			if interrupted != "" {
				if _, err := Coalesce(context.Background(), c, opts); err != nil {
					t.Fatal(err)
				}
			}
			relinked := map[string]int{"after one relink": 1, "after all relinks": 2}[interrupted]
			for _, k := range kids[:relinked] {
				if err := relinkTo(context.Background(), k, p, false, opts); err != nil {
					t.Fatal(err)
				}
			}
			var phases []Phase
			opts.Progress = func(pr Progress) {
				if n := len(phases); n == 0 || phases[n-1] != pr.Phase {
					phases = append(phases, pr.Phase)
				}
			}
			res, err := CoalesceStep(context.Background(), c, opts)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(kids[relinked:], res.Relinked) {
				t.Errorf("relinked %v, want %v", res.Relinked, kids[relinked:])
			}
			if _, err := os.Stat(c); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("child still there: %v", err)
			}
			for i, k := range kids {
				if got := readChildView(t, k, ""); !bytes.Equal(got, want[i]) {
					t.Errorf("%s reads differently after the step", k)
				}
				if _, err := vhd.CheckFile(context.Background(), k, &vhd.CheckOptions{Parents: CompatResolver()}); err != nil {
					t.Errorf("%s: %v", k, err)
				}
			}
			if len(phases) == 0 || phases[0] != PhaseCoalesce || phases[len(phases)-1] != PhaseRemove {
				t.Errorf("phases %v", phases)
			}
			if _, err := CoalesceStep(context.Background(), c, opts); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("a finished step: err = %v, want fs.ErrNotExist", err)
			}
		})
	}
}
