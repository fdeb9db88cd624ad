//go:build linux

package staging

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
)

// commit moves the staged files into the SR, base first and leaf last,
// never replacing anything, under the caller's lock; any failure after the
// first move removes what was moved.
func (im *importer) commit(ctx context.Context) (err error) {
	im.phase(PhaseCommit, "")
	if im.o.Lock != nil {
		unlock, err := im.o.Lock(ctx)
		if err != nil {
			return newErr("lock", im.sr, err)
		}
		if unlock != nil {
			defer unlock()
		}
	}
	// Checked again under the lock: another import may have taken a UUID.
	if err := im.checkFree(im.staged); err != nil {
		return err
	}
	// The journal must be findable after a power loss before anything
	// moves: sync the area (the journal's entry) and the SR (the area's).
	if im.sync {
		for _, d := range []string{im.a.dir, im.sr} {
			if err := im.ops.Sync(d); err != nil {
				return newErr("sync", d, err)
			}
		}
	}
	defer func() {
		if err != nil {
			err = im.rollback(err)
		}
	}()
	for k := len(im.staged) - 1; k >= 0; k-- {
		if err := ctx.Err(); err != nil {
			return newErr("move", im.sr, err)
		}
		name := im.staged[k]
		m := journalMove{Name: name, Dev: im.ids[k].Dev, Ino: im.ids[k].Ino}
		if err := im.a.j.append(fmt.Sprintf("%s %s %d %d", recMove, m.Name, m.Dev, m.Ino)); err != nil {
			return err
		}
		im.moves = append(im.moves, m)
		src, dst := im.stagedPath(k), filepath.Join(im.sr, name)
		fallback, err := moveNoReplace(im.ops, src, dst)
		if fallback {
			im.res.Fallback = true
		}
		if err != nil {
			if errors.Is(err, fs.ErrExist) {
				err = fmt.Errorf("%w: %w", ErrUUIDExists, err)
			}
			return newErr("move", dst, err)
		}
		im.log.Debug("staging: moved", "file", dst, "fallback", fallback)
	}
	if im.sync {
		if err := im.ops.Sync(im.sr); err != nil {
			return newErr("sync", im.sr, err)
		}
	}
	return im.a.j.append(recCommitted)
}

// rollback removes from the SR every file a move record names whose device
// and inode are still those recorded, syncs the SR directory, and records
// the rollback. After a simulated crash it does nothing; if a removal fails
// the staging area and its journal are kept for Recover.
func (im *importer) rollback(cause error) error {
	if errors.Is(cause, errCrash) {
		im.a.crash = true
		return cause
	}
	// The committed record may have reached the journal before its fsync
	// failed: cancel it before undoing anything, so that Recover, should
	// the rollback fail, undoes the rest.
	if err := im.a.j.append(recAborted); err != nil {
		im.a.crash = true
		return errors.Join(cause, newErr("rollback", im.sr, err))
	}
	removed, err := undoMoves(im.ops, im.sr, im.moves)
	if err == nil && len(removed) > 0 && im.sync {
		err = im.ops.Sync(im.sr)
	}
	if err == nil {
		err = im.a.j.append(recRolledBack)
	}
	if err != nil {
		im.a.crash = true // keep the journal for Recover
		im.log.Error("staging: rollback failed; run Recover", "staging", im.a.dir, "err", err)
		return errors.Join(cause, newErr("rollback", im.sr, err))
	}
	im.log.Info("staging: rolled back", "removed", removed)
	return cause
}

// undoMoves removes, last first, the SR files named by moves that are still
// the files moved (same device and inode). It returns the names removed.
func undoMoves(ops fileOps, sr string, moves []journalMove) ([]string, error) {
	var removed []string
	for i := len(moves) - 1; i >= 0; i-- {
		m := moves[i]
		p := filepath.Join(sr, m.Name)
		id, _, err := lstatID(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return removed, err
		}
		if id != (fileID{m.Dev, m.Ino}) {
			continue // not ours: never touched
		}
		if err := ops.Remove(p); err != nil {
			return removed, err
		}
		removed = append(removed, m.Name)
	}
	return removed, nil
}
