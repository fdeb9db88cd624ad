package vhd

import (
	"errors"
	"fmt"
)

// undoLog records what a write changes, so that a failed write can be
// undone: the old bytes of every region overwritten within the old file,
// the old size, and the in-memory state.
type undoLog struct {
	size, eod    int64
	grew         bool // a write went past the old size
	source       FooterSource
	regions      []savedRegion
	bat          []batUndo
	batmapHeader *BatmapHeader
	batmapBits   []int64
}

type savedRegion struct {
	off int64
	old []byte
}

type batUndo struct {
	blk int64
	old uint32
}

// beginUndo starts recording the writes of one operation. The caller holds
// f.mu.
func (f *File) beginUndo() *undoLog {
	f.undo = &undoLog{size: f.size, eod: f.eod, source: f.source}
	return f.undo
}

// writeAt writes b at off, first saving the bytes it overwrites within the
// file as it was when the undo log began. The caller holds f.mu.
func (f *File) writeAt(b []byte, off int64) error {
	if u := f.undo; u != nil && off+int64(len(b)) > u.size {
		u.grew = true
	}
	if u := f.undo; u != nil && off < u.size {
		n := min(int64(len(b)), u.size-off)
		old := make([]byte, n)
		if err := f.readFull(old, off); err != nil {
			return err
		}
		u.regions = append(u.regions, savedRegion{off, old})
	}
	_, err := f.w.WriteAt(b, off)
	return err
}

// rollback undoes the writes recorded in u, newest first, truncates the
// file to its old size when the storage can be truncated, restores the
// in-memory state, and returns err (joined with any failure to undo). The
// caller holds f.mu.
func (f *File) rollback(u *undoLog, err error) error {
	f.undo = nil
	var undoErr error
	for i := len(u.regions) - 1; i >= 0; i-- {
		r := u.regions[i]
		if _, e := f.w.WriteAt(r.old, r.off); e != nil && undoErr == nil {
			undoErr = e
		}
	}
	if u.grew {
		if t, ok := f.w.(interface{ Truncate(int64) error }); ok && f.isRegular() {
			if e := t.Truncate(u.size); e != nil && undoErr == nil {
				undoErr = e
			}
		}
	}
	for i := len(u.bat) - 1; i >= 0; i-- {
		f.bat[u.bat[i].blk] = u.bat[i].old
	}
	if bm := f.batmap; bm != nil {
		for _, blk := range u.batmapBits {
			bm.Map[blk/8] &^= 0x80 >> (blk % 8)
		}
		if u.batmapHeader != nil {
			bm.Header = *u.batmapHeader
		}
	}
	f.size, f.eod, f.source = u.size, u.eod, u.source
	if undoErr != nil {
		return errors.Join(err, fmt.Errorf("vhd: %s: undoing the failed write: %w", f.name, undoErr))
	}
	return err
}
