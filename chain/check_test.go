package chain_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/vhdkit/vhdkit/chain"
	"github.com/vhdkit/vhdkit/vhd"
	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

// TestCheckFile checks single files with their parent resolved in their
// own directory: a complete verdict, where vhd.CheckFile without a parent
// opener leaves the parent rules not run.
func TestCheckFile(t *testing.T) {
	dir := tempDir(t)
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	base := vhdtest.Dynamic(t, filepath.Join(dir, "base.vhd"), mib, nil)
	good := vhdtest.Child(t, filepath.Join(dir, "good.vhd"), base, nil)
	// A child whose header names another UUID than its parent's.
	wrongUUID := vhdtest.Child(t, filepath.Join(dir, "uuid.vhd"), base, nil)
	vhdtest.PatchHeader(t, wrongUUID, true, func(h *vhd.Header) { h.ParentUUID = vhdtest.NameUUID("other") })
	// A child whose parent lies outside its directory.
	outside := vhdtest.Child(t, filepath.Join(sub, "outside.vhd"), base, nil)
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skip(err)
	}

	for _, tc := range []struct {
		name    string
		path    string
		parents vhd.ParentOpener
		want    error // nil for a complete, valid verdict
	}{
		{"dynamic", base, nil, nil},
		{"child", good, nil, nil},
		{"parent UUID", wrongUUID, nil, vhd.ErrParentInvalid},
		{"parent outside the directory", outside, nil, vhd.ErrParentInvalid},
		{"parent outside, compatible resolver", outside, chain.CompatResolver(), nil},
		{"FIFO", fifo, nil, vhd.ErrNotRegular},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := chain.CheckFile(context.Background(), tc.path, &vhd.CheckOptions{Parents: tc.parents})
			if tc.want == nil {
				if err != nil || !rep.Valid() || len(rep.NotRun) > 0 {
					t.Fatalf("err %v, report %+v: want a complete valid verdict", err, rep)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			if rep != nil && rep.Valid() {
				t.Errorf("report valid with error %v", err)
			}
		})
	}
}
