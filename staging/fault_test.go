//go:build linux

package staging

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vhdkit/vhdkit/vhd"
	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

// TestImportFaults fails every step of an import in turn (each rename in
// staging, each relink, each fsync, each journal record, each move, ...),
// before and after the step is performed. A failure must leave the SR as it
// was; a simulated crash (stop at once, no rollback, no cleanup) followed by
// Recover must too, unless the journal already holds the committed record,
// in which case the import must be whole.
func TestImportFaults(t *testing.T) {
	img := imageDir(t, 3, nil)
	want := diskHash(t, filepath.Join(img, "0.vhd"), img)
	data := tarGz(t, img)
	for _, noReplace := range []bool{false, true} {
		t.Run(fmt.Sprintf("fallback=%v", noReplace), func(t *testing.T) {
			// A clean run counts the steps.
			probe := &faultOps{noReplace: noReplace}
			if _, err := Import(context.Background(), bytes.NewReader(data), newSR(t), &ImportOptions{ops: probe}); err != nil {
				t.Fatalf("clean import: %v", err)
			}
			steps := probe.trace
			t.Logf("%d steps: %q", len(steps), steps)
			if len(steps) < 15 {
				t.Fatalf("only %d steps traced", len(steps))
			}
			first := 0
			if noReplace {
				// Up to the commit both variants take the same steps.
				for first < len(steps) && !strings.HasPrefix(steps[first], "move ") {
					first++
				}
				first--
			}
			for i := first; i < len(steps); i++ {
				if noReplace && testing.Short() && !strings.HasPrefix(steps[i], "move ") &&
					!strings.HasPrefix(steps[i], "link ") && !strings.HasPrefix(steps[i], "remove ") {
					continue // -short: only the fallback's own steps
				}
				for _, after := range []bool{false, true} {
					for _, crash := range []bool{false, true} {
						if testing.Short() && after != crash {
							continue // -short: fail before each step, crash after it
						}
						name := fmt.Sprintf("%02d %s after=%v crash=%v", i+1, steps[i], after, crash)
						t.Run(name, func(t *testing.T) {
							faultRun(t, data, want, noReplace, i+1, after, crash)
						})
					}
				}
			}
		})
	}
}

func faultRun(t *testing.T, data []byte, want string, noReplace bool, at int, after, crash bool) {
	sr := newSR(t)
	before := srState(t, sr)
	ops := &faultOps{noReplace: noReplace, failAt: at, after: after, err: errInjected}
	if crash {
		ops.err = errCrash
	}
	res, err := Import(context.Background(), bytes.NewReader(data), sr, &ImportOptions{ops: ops})
	if err == nil {
		t.Fatalf("import succeeded despite a failure at step %d (%s)", at, ops.trace[at-1])
	}
	if !errors.Is(err, ops.err) {
		t.Errorf("err = %v, want the injected %v", err, ops.err)
	}
	_ = res
	committed := false
	if crash {
		if len(stagingLeft(t, sr)) == 1 {
			committed = committedJournal(journalOf(t, sr))
		}
		rep, err := Recover(context.Background(), sr, &RecoverOptions{Grace: -1})
		if err != nil {
			t.Fatalf("Recover: %v (%+v)", err, rep)
		}
	}
	if left := stagingLeft(t, sr); len(left) != 0 {
		t.Errorf("staging areas left: %v", left)
	}
	got := srState(t, sr)
	if !committed {
		if diff := cmp.Diff(before, got); diff != "" {
			t.Errorf("SR changed (-before +after):\n%s", diff)
		}
		return
	}
	// Past the committed record: the import is whole.
	var added []string
	for name := range got {
		if _, ok := before[name]; !ok {
			added = append(added, name)
		}
	}
	if len(added) != 3 {
		t.Fatalf("committed import added %v, want 3 files", added)
	}
	if c, err := Recover(context.Background(), sr, nil); err != nil || len(c.Areas) != 0 {
		t.Errorf("second Recover: %+v %v", c, err)
	}
	var leaves []string
	for _, name := range added {
		f, err := vhd.Open(filepath.Join(sr, name))
		if err != nil {
			t.Fatalf("committed file: %v", err)
		}
		if h, _ := f.Hidden(); h == 0 {
			leaves = append(leaves, name)
		}
		f.Close()
	}
	if len(leaves) != 1 {
		t.Fatalf("committed import has leaves %v, want one", leaves)
	}
	if got := diskHash(t, filepath.Join(sr, leaves[0]), sr); got != want {
		t.Errorf("committed leaf reads %s, want %s", got, want)
	}
}

// TestImportDirFaults fails each step of taking the VHDs out of a migration
// directory, and each later step once: the SR is left as it was, also after
// a simulated crash and Recover.
func TestImportDirFaults(t *testing.T) {
	build := func(t *testing.T) string {
		d := migDir(t)
		vhdtest.Chain(t, d, 3, 8*mib, nil, chainWrites)
		return d
	}
	probe := &faultOps{}
	if _, err := ImportDir(context.Background(), build(t), newSR(t), &ImportOptions{ops: probe}); err != nil {
		t.Fatalf("clean import: %v", err)
	}
	steps := probe.trace
	for i := range steps {
		if testing.Short() && i > 4 {
			break // the steps after the adoption are Import's, tested above
		}
		for _, crash := range []bool{false, true} {
			t.Run(fmt.Sprintf("%02d %s crash=%v", i+1, steps[i], crash), func(t *testing.T) {
				sr := newSR(t)
				before := srState(t, sr)
				ops := &faultOps{failAt: i + 1, err: errInjected}
				if crash {
					ops.err = errCrash
				}
				_, err := ImportDir(context.Background(), build(t), sr, &ImportOptions{ops: ops})
				if !errors.Is(err, ops.err) {
					t.Fatalf("err = %v, want %v", err, ops.err)
				}
				committed := false
				if crash {
					if len(stagingLeft(t, sr)) == 1 {
						committed = committedJournal(journalOf(t, sr))
					}
					if _, err := Recover(context.Background(), sr, &RecoverOptions{Grace: -1}); err != nil {
						t.Fatalf("Recover: %v", err)
					}
				}
				if left := stagingLeft(t, sr); len(left) != 0 {
					t.Errorf("staging areas left: %v", left)
				}
				if !committed {
					if diff := cmp.Diff(before, srState(t, sr)); diff != "" {
						t.Errorf("SR changed (-before +after):\n%s", diff)
					}
				}
			})
		}
	}
}

// TestImportRollbackFails fails a move and then each step of the rollback
// in turn: the import keeps its journal, and Recover then leaves the SR as
// it was.
func TestImportRollbackFails(t *testing.T) {
	data := tarGz(t, imageDir(t, 3, nil))
	probe := &faultOps{}
	if _, err := Import(context.Background(), bytes.NewReader(data), newSR(t), &ImportOptions{ops: probe}); err != nil {
		t.Fatal(err)
	}
	// Fail the leaf's move (the last move) ...
	leafMove := 0
	for i, s := range probe.trace {
		if strings.HasPrefix(s, "move ") {
			leafMove = i + 1
		}
	}
	// ... and then the k-th step after it: the aborted record's sync, the
	// removal of each moved file, the SR's sync, the rolled-back record.
	for k := 1; k <= 5; k++ {
		t.Run(fmt.Sprint(k), func(t *testing.T) {
			sr := newSR(t)
			before := srState(t, sr)
			ops := &faultOps{failAt: leafMove, failAlso: leafMove + k, err: errInjected}
			_, err := Import(context.Background(), bytes.NewReader(data), sr, &ImportOptions{ops: ops})
			if !errors.Is(err, errInjected) {
				t.Fatalf("err = %v", err)
			}
			t.Logf("trace after the failed move: %q", ops.trace[leafMove:])
			if left := stagingLeft(t, sr); len(left) != 1 {
				t.Errorf("staging areas after a failed rollback: %v, want the one kept for Recover", left)
			}
			rep, err := Recover(context.Background(), sr, nil)
			if err != nil {
				t.Fatalf("Recover: %v", err)
			}
			if diff := cmp.Diff(before, srState(t, sr)); diff != "" {
				t.Errorf("SR after Recover (-before +after):\n%s\nreport %+v", diff, rep)
			}
			if left := stagingLeft(t, sr); len(left) != 0 {
				t.Errorf("staging areas left after Recover: %v", left)
			}
		})
	}
}
