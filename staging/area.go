//go:build linux

package staging

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/vhdkit/vhdkit/vhd"
)

// Prefix begins the name of every staging area in an SR. The SR's storage
// manager scans only top-level *.vhd files, so an area is invisible to it.
const Prefix = ".vhdkit-staging-"

// extractDir is the sub-directory of a staging area that images are
// extracted into and staged in; the journal lives outside it.
const extractDir = "x"

// area is a staging area: a directory in the SR holding the journal and the
// extraction sub-directory.
type area struct {
	sr    string // the SR directory
	srID  fileID // the SR's device and inode
	dir   string // the area
	x     string // its extraction sub-directory
	j     *journal
	ops   fileOps
	crash bool // a simulated crash: leave everything as it is
}

// openArea makes a staging area for op ("import" or "export") in sr.
func openArea(sr, op string, ops fileOps) (*area, error) {
	fi, err := os.Stat(sr)
	if err != nil {
		return nil, newErr(op, sr, err)
	}
	if !fi.IsDir() {
		return nil, newErr(op, sr, fmt.Errorf("SR is not a directory: %w", vhd.ErrNotRegular))
	}
	a := &area{sr: sr, srID: idOf(fi), ops: ops}
	if a.dir, err = os.MkdirTemp(sr, Prefix+"*"); err != nil {
		return nil, newErr(op, sr, fmt.Errorf("making staging area: %w", err))
	}
	if a.j, err = createJournal(a.dir, op, ops); err != nil {
		if !errors.Is(err, errCrash) {
			os.RemoveAll(a.dir)
		}
		return nil, err
	}
	a.x = filepath.Join(a.dir, extractDir)
	if err := os.Mkdir(a.x, 0o700); err != nil {
		a.close()
		return nil, newErr(op, a.x, err)
	}
	// The area must be on the SR's device: a mount point placed at its
	// name would turn moves into copies (EXDEV).
	if xi, err := os.Stat(a.x); err != nil || idOf(xi).Dev != a.srID.Dev {
		a.close()
		return nil, newErr(op, a.x, ErrCrossDevice)
	}
	return a, nil
}

// close removes the staging area and then releases the journal's lock;
// after a simulated crash it only releases the lock, as process death
// would.
func (a *area) close() error {
	if a.crash {
		return a.j.close()
	}
	err := os.RemoveAll(a.dir)
	return errors.Join(err, a.j.close())
}

// sameDevice checks that dir is on the SR's file system.
func (a *area) sameDevice(op, dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return newErr(op, dir, err)
	}
	if !fi.IsDir() {
		return newErr(op, dir, fmt.Errorf("not a directory: %w", vhd.ErrNotRegular))
	}
	if idOf(fi).Dev != a.srID.Dev {
		return newErr(op, dir, fmt.Errorf("%w: %s", ErrCrossDevice, a.sr))
	}
	return nil
}

// scrub rewrites err's text so that it names no path inside the area: the
// pairs (old, new) first, then a file of the extraction directory by its
// base name, the directory as "the image" and the area as "the staging
// area". A top-level *Error stays on top. errors.Is and errors.As see the
// original error.
func (a *area) scrub(err error, pairs ...string) error {
	if err == nil {
		return nil
	}
	pairs = append(pairs, a.x+"/", "", a.x, "the image", a.dir, "the staging area")
	repl := strings.NewReplacer(pairs...)
	if se, ok := err.(*Error); ok {
		se.Path = repl.Replace(se.Path)
		se.Err = &renamed{err: se.Err, repl: repl}
		return se
	}
	return &renamed{err: err, repl: repl}
}
