//go:build linux

package staging

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// DefaultGrace is how old a staging area without a readable journal must be
// before Recover removes it: such an area belongs either to an operation
// that died before its first record, or to one that is starting right now.
const DefaultGrace = 10 * time.Minute

// RecoverOptions tunes Recover. The zero value (or nil) is the default.
type RecoverOptions struct {
	// Grace is how old a staging area without a journal record must be
	// before it is removed; 0 means DefaultGrace, a negative value none.
	Grace time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives what Recover does; nil means silent.
	Logger *slog.Logger

	// ops performs the file-system changes; nil means osFileOps.
	ops fileOps
}

// States of a staging area as Recover found it.
const (
	StateBusy       = "busy"        // its journal is locked: the operation is alive; left alone
	StateYoung      = "young"       // no journal record yet and younger than the grace period; left alone
	StateCommitted  = "committed"   // an import that committed: only the area was removed
	StateRolledBack = "rolled back" // an import that rolled back: only the area was removed
	StateUndone     = "undone"      // a dead import: its moved files were removed from the SR, then the area
	StateExport     = "export"      // a dead export: the area (hard links only) was removed
	StateEmpty      = "empty"       // no journal record: the area was removed
	StateDamaged    = "damaged"     // a journal Recover cannot read; left alone, see Err
)

// RecoveredArea is what Recover found and did in one staging area.
type RecoveredArea struct {
	// Dir is the staging area.
	Dir string
	// Op is the operation that made it, "import" or "export", or "".
	Op string
	// State is one of the State constants. An area its owner removed
	// while Recover looked at it is not reported.
	State string
	// Removed lists the SR files removed (names, such as "<uuid>.vhd").
	Removed []string
	// Cleaned reports that the staging area was removed.
	Cleaned bool
	// Err is why the area could not be recovered, or nil.
	Err error
}

// RecoverReport lists the staging areas of an SR and what Recover did.
type RecoverReport struct {
	Areas []RecoveredArea
}

// Recover finds the staging areas in the SR directory sr left by operations
// that died, and undoes them: for an import that had not committed it
// removes from the SR exactly the files its journal recorded as moved whose
// name, device and inode still match, and then the area; for a committed
// import or an export it only removes the area. Areas whose journal is
// locked belong to running operations and are left alone, so Recover is safe
// to run at any time. The error is the first failure; the report says what
// was done to every area.
func Recover(ctx context.Context, sr string, opts *RecoverOptions) (*RecoverReport, error) {
	var o RecoverOptions
	if opts != nil {
		o = *opts
	}
	if o.Grace == 0 {
		o.Grace = DefaultGrace
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.ops == nil {
		o.ops = osFileOps{}
	}
	log := logger(o.Logger)
	entries, err := os.ReadDir(sr)
	if err != nil {
		return nil, newErr("recover", sr, err)
	}
	rep := &RecoverReport{}
	var errs []error
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), Prefix) || e.Type() != fs.ModeDir {
			continue
		}
		if err := ctx.Err(); err != nil {
			return rep, newErr("recover", sr, err)
		}
		ra, ok := recoverArea(sr, filepath.Join(sr, e.Name()), &o)
		if !ok {
			continue // removed by its owner meanwhile
		}
		if ra.Err != nil {
			errs = append(errs, ra.Err)
		}
		log.Info("staging: recover", "dir", ra.Dir, "op", ra.Op, "state", ra.State, "removed", ra.Removed, "err", ra.Err)
		rep.Areas = append(rep.Areas, ra)
	}
	return rep, errors.Join(errs...)
}

// recoverArea recovers one staging area. It returns false when the area
// is gone, or going: its owner removed it while Recover looked.
func recoverArea(sr, dir string, o *RecoverOptions) (ra RecoveredArea, ok bool) {
	ra.Dir = dir
	gone := func() bool {
		_, err := os.Lstat(dir)
		return errors.Is(err, fs.ErrNotExist)
	}
	jpath := filepath.Join(dir, journalName)
	young := func() bool {
		fi, err := os.Lstat(dir)
		return err == nil && o.Now().Sub(fi.ModTime()) < o.Grace
	}
	clean := func() {
		if err := os.RemoveAll(dir); err != nil {
			ra.Err = newErr("recover", dir, err)
			return
		}
		ra.Cleaned = true
	}
	f, err := os.OpenFile(jpath, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if errors.Is(err, fs.ErrNotExist) {
		if gone() {
			return ra, false
		}
		if young() {
			ra.State = StateYoung
			return ra, true
		}
		ra.State = StateEmpty
		clean()
		return ra, true
	}
	if err != nil {
		ra.State, ra.Err = StateDamaged, newErr("recover", jpath, err)
		return ra, true
	}
	defer f.Close()
	locked, err := tryLock(f)
	if err != nil {
		ra.State, ra.Err = StateDamaged, newErr("recover", jpath, err)
		return ra, true
	}
	if !locked {
		ra.State = StateBusy
		return ra, true
	}
	// The owner may have finished and removed the area between our open and
	// our lock: then the file we hold is no longer the journal.
	if fi, err := f.Stat(); err != nil || nlink(fi) == 0 {
		return ra, false
	}
	if cur, _, err := lstatID(jpath); err != nil {
		return ra, false
	} else if fi, _ := f.Stat(); idOf(fi) != cur {
		return ra, false
	}
	b, err := io.ReadAll(io.LimitReader(f, 1<<20))
	if err != nil {
		ra.State, ra.Err = StateDamaged, newErr("recover", jpath, err)
		return ra, true
	}
	st, err := parseJournal(b)
	if err != nil {
		if len(b) == 0 || !strings.Contains(string(b), "\n") {
			// Died (or is about to write) before its first record.
			if young() {
				ra.State = StateYoung
				return ra, true
			}
			ra.State = StateEmpty
			clean()
			return ra, true
		}
		ra.State, ra.Err = StateDamaged, newErr("recover", jpath, err)
		return ra, true
	}
	ra.Op = st.Op
	switch {
	case st.Committed:
		ra.State = StateCommitted
	case st.RolledBack:
		ra.State = StateRolledBack
	case st.Op == "export":
		ra.State = StateExport
	default:
		ra.State = StateUndone
		removed, err := undoMoves(o.ops, sr, st.Moves)
		ra.Removed = removed
		if err == nil && len(removed) > 0 {
			err = o.ops.Sync(sr)
		}
		if err != nil {
			ra.Err = newErr("recover", dir, fmt.Errorf("undoing moves: %w", err))
			return ra, true
		}
	}
	clean()
	return ra, true
}
