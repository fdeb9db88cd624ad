package staging

import (
	"errors"
	"fmt"
	"strings"

	"github.com/vhdkit/vhdkit/vhd"
)

// Sentinel errors, always wrapped in an *Error naming the operation and the
// file (whose text begins "staging: "); test them with errors.Is. Where a
// rule belongs to the chain or vhd package its sentinel is used instead
// (chain.ErrHiddenLeaf, chain.ErrBlockSize, chain.ErrDifferencingBase,
// chain.ErrTooDeep, vhd.ErrNotRegular for a symbolic link, device or
// directory where a VHD was expected, ...), so that errors.Is matches
// across packages.
var (
	// ErrCrossDevice reports a directory that is not on the SR's filesystem,
	// so that files cannot be linked or renamed into the SR.
	ErrCrossDevice = errors.New("not on the SR's file system")
	// ErrNoImages reports an archive or directory without any VHD.
	ErrNoImages = errors.New("no VHD in the image")
	// ErrUnknownName reports a .vhd name outside the naming rules.
	ErrUnknownName = errors.New("VHD name outside the naming rules")
	// ErrMixedNames reports legacy names (snap.vhd, image.vhd, base.vhd)
	// mixed with numbered ones.
	ErrMixedNames = errors.New("legacy and numbered VHD names mixed")
	// ErrGap reports numbered names that are not exactly 0.vhd..(n-1).vhd.
	ErrGap = errors.New("VHD sequence has a gap")
	// ErrTooFewUUIDs reports fewer UUIDs than VHDs to import.
	ErrTooFewUUIDs = errors.New("too few UUIDs")
	// ErrDuplicateUUID reports a UUID given twice.
	ErrDuplicateUUID = errors.New("duplicate UUID")
	// ErrNilUUID reports the nil UUID 00000000-0000-0000-0000-000000000000,
	// which cannot name a VDI.
	ErrNilUUID = errors.New("the nil UUID cannot name a VDI")
	// ErrUUIDExists reports a UUID that already names a file in the SR.
	ErrUUIDExists = errors.New("UUID already names a file in the SR")
	// ErrHardLinked reports a file with more than one hard link in a
	// migration directory: relinking writes in place and would change the
	// other names too.
	ErrHardLinked = errors.New("file has more than one hard link")
	// ErrInvalidChain reports an image whose VHDs fail vhd.Check or do not
	// form the chain the sequence says; the *Error also wraps the vhd and
	// chain packages' errors.
	ErrInvalidChain = errors.New("invalid VHD chain")
	// ErrChanged reports, from Export, a source file whose size, ctime or
	// footer changed while it was streamed. It is vhd.ErrChanged, the one
	// sentinel for a source that changed under a reader.
	ErrChanged = vhd.ErrChanged
	// ErrJournal reports a journal that cannot be read or written.
	ErrJournal = errors.New("bad journal")
	// ErrBusy reports an operation on a staging area another process holds.
	ErrBusy = errors.New("staging area in use")
)

// errCrash is returned by a test fileOps to simulate a crash at a step: the
// operation stops at once, without rollback or cleanup, as if the process
// had died there (its journal lock is released, as the kernel would).
var errCrash = errors.New("simulated crash")

// Error is the error type of this package: what was being done, to which
// file, and why.
type Error struct {
	// Op is what was being done: "extract", "name", "uuid", "check",
	// "relink", "validate", "move", "export", "recover", ...
	Op string
	// Path is the file or directory concerned, or "". A file in a staging
	// area is named as the image named it ("0.vhd"), never by its
	// temporary path.
	Path string
	// Err is the cause, often one of this package's sentinels.
	Err error
}

// Error returns "staging: OP PATH: ERR", with the "staging: " of a nested
// error of this package dropped so the prefix appears once.
func (e *Error) Error() string {
	msg := "<nil>"
	if e.Err != nil {
		msg = strings.TrimPrefix(e.Err.Error(), "staging: ")
	}
	if e.Path == "" {
		return fmt.Sprintf("staging: %s: %s", e.Op, msg)
	}
	return fmt.Sprintf("staging: %s %s: %s", e.Op, e.Path, msg)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

func newErr(op, path string, err error) *Error { return &Error{Op: op, Path: path, Err: err} }

// renamed is an error whose text names files by the names the user knows:
// every occurrence of a staging path is replaced. errors.Is and errors.As
// see the original error.
type renamed struct {
	err  error
	repl *strings.Replacer
}

func (r *renamed) Error() string { return r.repl.Replace(r.err.Error()) }
func (r *renamed) Unwrap() error { return r.err }
