package chain

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

// TestCoalesceSparse checks what -s means: a block newly allocated in the
// parent stays a hole where the child holds nothing, and the parent's
// bytes (bitmaps included) are the same as without -s.
func TestCoalesceSparse(t *testing.T) {
	run := func(sparse bool) ([]byte, int64) {
		dir := t.TempDir()
		p := vhdtest.Dynamic(t, filepath.Join(dir, "p.vhd"), 16*miB, nil, vhdtest.Fill(1, 0, 4096))
		c := vhdtest.Child(t, filepath.Join(dir, "c.vhd"), p, nil,
			vhdtest.Fill(2, 4*miB, 4096), vhdtest.Fill(3, 8*miB+miB, 4096), vhdtest.Fill(4, 12*miB, 2*miB))
		if _, err := Coalesce(context.Background(), c, &CoalesceOptions{Mode: Compat, Sparse: sparse}); err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return readRaw(t, p), st.Sys().(*syscall.Stat_t).Blocks * 512
	}
	dense, denseUse := run(false)
	sparse, sparseUse := run(true)
	if !bytes.Equal(dense, sparse) {
		t.Errorf("sparse and dense parents differ at byte %d", firstDiff(dense, sparse))
	}
	// Two new blocks hold 4 KiB each: without -s they take 2 MiB each on disk.
	if denseUse-sparseUse < 3*miB {
		t.Errorf("disk use %d bytes sparse, %d dense: the new partial blocks were not left holes", sparseUse, denseUse)
	}
}
