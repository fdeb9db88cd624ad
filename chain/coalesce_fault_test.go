package chain

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/vhdkit/vhdkit/vhd"
)

var errInjected = errors.New("injected fault")

// faultFile is an in-memory parent with a crash model: it keeps, besides
// what the file holds now, what it held at its last successful sync and
// the writes and truncates since, so that a crash can keep only the synced
// state, or that plus any subset of the later operations. Operation number
// failAt (counting every write, sync and truncate from 1) fails, and so does
// every operation after it.
type faultFile struct {
	cur, durable []byte
	since        []fileOp
	ops, failAt  int
}

type fileOp struct {
	trunc bool
	off   int64
	data  []byte
}

func newFaultFile(b []byte, failAt int) *faultFile {
	return &faultFile{cur: bytes.Clone(b), durable: bytes.Clone(b), failAt: failAt}
}

func (f *faultFile) fault() error {
	f.ops++
	if f.failAt > 0 && f.ops >= f.failAt {
		return fmt.Errorf("operation %d: %w", f.ops, errInjected)
	}
	return nil
}

func apply(b []byte, op fileOp) []byte {
	if op.trunc {
		if op.off <= int64(len(b)) {
			return b[:op.off]
		}
		return append(b, make([]byte, op.off-int64(len(b)))...)
	}
	if end := op.off + int64(len(op.data)); end > int64(len(b)) {
		b = append(b, make([]byte, end-int64(len(b)))...)
	}
	copy(b[op.off:], op.data)
	return b
}

func (f *faultFile) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(f.cur)) {
		return 0, io.EOF
	}
	n := copy(p, f.cur[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *faultFile) WriteAt(p []byte, off int64) (int, error) {
	if err := f.fault(); err != nil {
		return 0, err
	}
	op := fileOp{off: off, data: bytes.Clone(p)}
	f.cur = apply(f.cur, op)
	f.since = append(f.since, op)
	return len(p), nil
}

func (f *faultFile) Truncate(n int64) error {
	if err := f.fault(); err != nil {
		return err
	}
	op := fileOp{trunc: true, off: n}
	f.cur = apply(f.cur, op)
	f.since = append(f.since, op)
	return nil
}

func (f *faultFile) Sync() error {
	if err := f.fault(); err != nil {
		return err
	}
	f.durable, f.since = bytes.Clone(f.cur), nil
	return nil
}

// crash returns what the disk holds after a crash: the synced state, plus
// the operations since for which keep (when not nil) says yes, in order.
func (f *faultFile) crash(keep func(fileOp) bool) []byte {
	b := bytes.Clone(f.durable)
	if keep == nil {
		return b
	}
	for _, op := range f.since {
		if keep(op) {
			b = apply(b, op)
		}
	}
	return b
}

// runFaulty runs a coalesce of child whose parent writes go to a faultFile
// failing at operation failAt (0: never) and returns the file.
func runFaulty(t *testing.T, child string, opts *CoalesceOptions, batch int64, device bool, failAt int) (*faultFile, error) {
	t.Helper()
	var ff *faultFile
	_, err := coalesce(context.Background(), child, opts, coalesceHooks{batch: batch, noDir: true, device: device, wrap: func(fd *os.File) targetFile {
		st, err := fd.Stat()
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, st.Size())
		if _, err := fd.ReadAt(b, 0); err != nil {
			t.Fatal(err)
		}
		ff = newFaultFile(b, failAt)
		return ff
	}})
	if ff == nil {
		t.Fatalf("coalesce did not reach the parent: %v", err)
	}
	return ff, err
}

// TestCoalesceFaults fails every write, sync and truncate of a coalesce in
// turn, as an error (the file keeps every write made) and as a crash (the
// file keeps only what was synced, or that and a random subset of the
// writes since), and checks that the parent then passes vhd.Check, reads
// sector by sector either as before or as the child, and that a second
// coalesce gives the bytes of an uninterrupted one.
func TestCoalesceFaults(t *testing.T) {
	names := map[string]bool{"dynamic": true, "dynamic-trailing-space": true, "dynamic-empty-parent": true, "differencing": true, "fixed": true, "raw": true, "whole-path": true}
	for _, tc := range coalesceCases() {
		if !names[tc.name] {
			continue
		}
		for _, sparse := range []bool{false, true} {
			for _, batch := range []int64{0, 2 * miB} {
				name := tc.name
				if sparse {
					name += "/sparse"
				}
				if batch > 0 {
					name += "/batch-per-block"
				}
				// Sparse writes change only new blocks' data writes.
				if sparse && tc.name != "dynamic" && tc.name != "dynamic-empty-parent" {
					continue
				}
				// -short: a parent that allocates first, one with unused
				// space to cut, a differencing one; one sync per block,
				// which has the most crash points.
				if testing.Short() && (sparse || batch == 0 || tc.name != "dynamic-empty-parent" && tc.name != "differencing" && tc.name != "dynamic-trailing-space") {
					continue
				}
				t.Run(name, func(t *testing.T) {
					testFaults(t, tc, sparse, batch, false)
				})
			}
		}
	}
}

// TestCoalesceFaultsDevice is TestCoalesceFaults for a parent written as a
// block device is (an LVM SR's logical volume): its footer stays at its end
// and nothing is cut, so the new blocks go between the data and the footer.
func TestCoalesceFaultsDevice(t *testing.T) {
	for _, tc := range coalesceCases() {
		if tc.name == "dynamic-trailing-space" { // room between the data and the footer
			t.Run(tc.name+"/batch-per-block", func(t *testing.T) { testFaults(t, tc, false, 2*miB, true) })
		}
	}
}

func testFaults(t *testing.T, tc coalesceCase, sparse bool, batch int64, device bool) {
	dir := t.TempDir()
	child, parent, raw := tc.build(t, dir)
	target := raw
	if target == "" {
		target = parent[0]
	}
	opts := &CoalesceOptions{Mode: Compat, Sparse: sparse}
	if tc.into != nil {
		opts.Into = tc.into(parent)
	}
	orig := readRaw(t, target)
	before := readParent(t, parent, raw)
	want := readChildView(t, child, raw)

	// The uninterrupted run, and how many operations it makes.
	ff, err := runFaulty(t, child, opts, batch, device, 0)
	if err != nil {
		t.Fatal(err)
	}
	final, nops := ff.cur, ff.ops
	if device && (len(final) != len(orig) || !bytes.Equal(final[len(final)-512:], orig[len(orig)-512:])) {
		t.Fatalf("written as a device, the parent changed size (%d, was %d) or its footer at the end", len(final), len(orig))
	}
	if !bytes.Equal(ff.crash(nil), final) {
		t.Fatal("a crash right after Coalesce returned loses writes: not durable on return")
	}
	if nops < 3 {
		t.Fatalf("only %d operations", nops)
	}
	restore := func(b []byte) {
		t.Helper()
		if err := os.WriteFile(target, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	type outcome struct {
		name string
		img  func(ff *faultFile) []byte
	}
	outcomes := []outcome{
		{"error", func(ff *faultFile) []byte { return ff.cur }},
		{"crash", func(ff *faultFile) []byte { return ff.crash(nil) }},
		// The metadata-sized writes since the last sync reach the disk
		// and the data writes do not: what a missing sync exposes.
		{"crash-small-writes-kept", func(ff *faultFile) []byte {
			return ff.crash(func(op fileOp) bool { return op.trunc || len(op.data) <= 4096 })
		}},
		// The other way round: data and truncates persist, small writes
		// (footers, BAT sectors, bitmaps) do not.
		{"crash-large-writes-kept", func(ff *faultFile) []byte {
			return ff.crash(func(op fileOp) bool { return op.trunc || len(op.data) > 4096 })
		}},
	}
	for seed := range 2 {
		outcomes = append(outcomes, outcome{fmt.Sprintf("crash-random-%d", seed), func(ff *faultFile) []byte {
			r := rand.New(rand.NewPCG(uint64(seed), uint64(ff.ops)))
			return ff.crash(func(fileOp) bool { return r.IntN(2) == 0 })
		}})
	}
	if testing.Short() {
		outcomes = outcomes[:5]
	}
	seen := make(map[[32]byte]bool) // images already checked
	for at := 1; at <= nops; at++ {
		restore(orig)
		ff, err := runFaulty(t, child, opts, batch, device, at)
		if !errors.Is(err, errInjected) {
			t.Fatalf("fault at %d: err = %v, want the injected fault", at, err)
		}
		for _, oc := range outcomes {
			img := oc.img(ff)
			if sum := sha256.Sum256(img); seen[sum] {
				continue
			} else {
				seen[sum] = true
			}
			restore(img)
			where := fmt.Sprintf("fault at operation %d of %d (%s)", at, nops, oc.name)
			if raw == "" {
				if _, err := vhd.Check(context.Background(), bytes.NewReader(img), int64(len(img)), &vhd.CheckOptions{Name: target, Parents: CompatResolver()}); err != nil {
					t.Fatalf("%s: parent fails check: %v", where, err)
				}
			}
			got := readParent(t, parent, raw)
			for s := 0; s+512 <= len(want); s += 512 {
				g := got[s : s+512]
				if !bytes.Equal(g, before[s:s+512]) && !bytes.Equal(g, want[s:s+512]) {
					t.Fatalf("%s: sector %d reads neither as before nor as the child", where, s/512)
				}
			}
			// The rerun, in memory too (the real file's fsyncs are slow).
			rerun, err := runFaulty(t, child, opts, batch, device, 0)
			if err != nil {
				t.Fatalf("%s: rerun: %v", where, err)
			}
			if after := rerun.cur; !bytes.Equal(after, final) {
				t.Fatalf("%s: rerun gives other bytes than an uninterrupted run (size %d, want %d; first difference at %d)",
					where, len(after), len(final), firstDiff(after, final))
			}
		}
	}
}
