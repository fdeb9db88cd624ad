package staging

import (
	"errors"
	"fmt"
)

// Sentinel errors, wrapped in an *Error naming the operation and the file;
// test them with errors.Is.
var (
	// ErrCrossDevice reports a directory that is not on the SR's filesystem,
	// so that files cannot be linked or renamed into the SR.
	ErrCrossDevice = errors.New("staging: not on the SR's filesystem")
	// ErrNoImages reports an archive or directory without any VHD.
	ErrNoImages = errors.New("staging: no VHD in the image")
	// ErrUnknownName reports a .vhd name outside the naming rules.
	ErrUnknownName = errors.New("staging: unknown VHD name")
	// ErrMixedNames reports legacy names (snap.vhd, image.vhd, base.vhd)
	// mixed with numbered ones.
	ErrMixedNames = errors.New("staging: legacy and numbered VHD names mixed")
	// ErrGap reports numbered names that are not exactly 0.vhd..(n-1).vhd.
	ErrGap = errors.New("staging: VHD sequence has a gap")
	// ErrTooDeep reports a sequence longer than the chain depth limit.
	ErrTooDeep = errors.New("staging: VHD sequence deeper than the limit")
	// ErrTooFewUUIDs reports fewer UUIDs than VHDs to import.
	ErrTooFewUUIDs = errors.New("staging: too few UUIDs")
	// ErrDuplicateUUID reports a UUID given twice.
	ErrDuplicateUUID = errors.New("staging: duplicate UUID")
	// ErrUUIDExists reports a UUID that already names a file in the SR.
	ErrUUIDExists = errors.New("staging: UUID already in the SR")
	// ErrNotRegular reports a symbolic link, device, directory or other
	// non-regular file where a VHD was expected.
	ErrNotRegular = errors.New("staging: not a regular file")
	// ErrHardLinked reports a file with more than one hard link in a
	// migration directory: relinking writes in place and would change the
	// other names too.
	ErrHardLinked = errors.New("staging: file has more than one hard link")
	// ErrInvalidChain reports a chain that failed validation; the *Error
	// also wraps the chain package's errors.
	ErrInvalidChain = errors.New("staging: invalid VHD chain")
	// ErrHiddenLeaf reports a leaf VHD marked hidden: the SR's garbage
	// collector would delete it.
	ErrHiddenLeaf = errors.New("staging: leaf VHD is hidden")
	// ErrBlockSize reports a VHD whose block size is not 2 MiB.
	ErrBlockSize = errors.New("staging: block size is not 2 MiB")
	// ErrDifferencingBase reports a base (last VHD of the sequence) that is
	// a differencing disk.
	ErrDifferencingBase = errors.New("staging: base VHD is a differencing disk")
	// ErrChanged reports, from Export, a source file whose size, ctime or
	// footer changed while it was streamed.
	ErrChanged = errors.New("staging: file changed while being exported")
	// ErrJournal reports a journal that cannot be read or written.
	ErrJournal = errors.New("staging: bad journal")
	// ErrBusy reports an operation on a staging area another process holds.
	ErrBusy = errors.New("staging: staging area in use")
)

// errCrash is returned by a test FileOps to simulate a crash at a step: the
// operation stops at once, without rollback or cleanup, as if the process
// had died there (its journal lock is released, as the kernel would).
var errCrash = errors.New("staging: simulated crash")

// Error is the error type of this package: what was being done, to which
// file, and why.
type Error struct {
	Op   string // "extract", "name", "uuid", "relink", "validate", "move", "export", ...
	Path string // the file or directory concerned, or ""
	Err  error  // the cause, often one of this package's sentinels
}

// Error returns "staging: OP PATH: ERR".
func (e *Error) Error() string {
	if e.Path == "" {
		return fmt.Sprintf("staging: %s: %v", e.Op, e.Err)
	}
	return fmt.Sprintf("staging: %s %s: %v", e.Op, e.Path, e.Err)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

func newErr(op, path string, err error) *Error { return &Error{Op: op, Path: path, Err: err} }
