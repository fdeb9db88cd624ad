package chain

import (
	"errors"
	"fmt"
	"strings"

	"github.com/vhdkit/vhdkit/vhd"
)

// Sentinel errors. Every error this package returns for a problem with a
// chain wraps one of them or one of package vhd's (such as
// vhd.ErrNotDifferencing, vhd.ErrNotRegular, vhd.ErrTruncated), so callers
// can tell causes apart with [errors.Is]; the error structs below add the
// names of the files and locators involved. Their text is the tail of a
// message that names the file first.
var (
	// ErrMissingParent reports a differencing disk whose locators decode but
	// none of which leads to a readable file. The error also matches
	// fs.ErrNotExist when the file is absent.
	ErrMissingParent = errors.New("parent not found")
	// ErrUndecodableLocator reports a differencing disk whose locators could
	// not be decoded at all (not ASCII, bad UTF-16, no "file://" prefix).
	ErrUndecodableLocator = errors.New("parent locator cannot be decoded")
	// ErrOutsideRoot reports a path, or a locator, that resolves outside the
	// root of a confined walk, through "..", an absolute path or a symbolic
	// link.
	ErrOutsideRoot = errors.New("path outside the root")
	// ErrCycle reports a chain that reaches a file it already holds. Files
	// are compared by device and inode, not by name.
	ErrCycle = errors.New("cycle in the chain")
	// ErrTooDeep reports a chain of more links than Options.MaxDepth.
	ErrTooDeep = errors.New("chain too deep")
	// ErrDifferencingBase reports a chain whose last link is a differencing
	// disk: one without any parent locator, one with a raw parent in
	// confined mode, or the last file given to Relink.
	ErrDifferencingBase = errors.New("base is a differencing disk")
	// ErrUUIDMismatch reports a child whose header parent UUID is not its
	// parent's footer UUID; tapdisk refuses to open such a chain.
	ErrUUIDMismatch = errors.New("parent UUID mismatch")
	// ErrHiddenLeaf reports a leaf whose footer hidden flag is set
	// (confined mode).
	ErrHiddenLeaf = errors.New("leaf is hidden")
	// ErrSmallerThanParent reports a child whose virtual size is smaller
	// than its parent's (confined mode).
	ErrSmallerThanParent = errors.New("child smaller than its parent")
	// ErrBlockSize reports a dynamic or differencing link whose block size
	// is not 2 MiB, the only size tapdisk reads correctly (confined mode).
	ErrBlockSize = errors.New("block size is not 2 MiB")
	// ErrDuplicateUUID reports two links of one chain with the same footer
	// UUID (confined mode); see DuplicateUUIDError.
	ErrDuplicateUUID = errors.New("two links have the same UUID")
	// ErrWriteDepth reports an Options.WriteDepth the chain has no link at.
	ErrWriteDepth = errors.New("no link at the depth to write")
	// ErrNoRoot reports confined-mode options without a root directory.
	ErrNoRoot = errors.New("chain: confined mode needs a root directory")
)

// A LocatorError reports a parent locator of a differencing disk that could
// not be followed: which child, which slot (0..7), what the locator said and
// where it led.
type LocatorError struct {
	Child   string           // path of the differencing disk
	Slot    int              // locator slot 0..7, or -1 for the locators as a whole
	Code    vhd.PlatformCode // the slot's platform code
	Locator string           // the decoded locator path, "" when it could not be decoded
	Path    string           // the path it resolved to, or the candidate tried
	Err     error            // ErrMissingParent, ErrOutsideRoot or ErrUndecodableLocator
	Cause   error            // the underlying error, such as an *fs.PathError; may be nil
}

// Error describes the child, the slot and its locator, where it led, and why.
func (e *LocatorError) Error() string {
	var b strings.Builder
	b.WriteString(e.Child)
	if e.Slot >= 0 {
		fmt.Fprintf(&b, ": parent locator %d (%v)", e.Slot, e.Code)
	} else {
		b.WriteString(": parent locators")
	}
	if e.Locator != "" {
		fmt.Fprintf(&b, " %q", e.Locator)
	}
	if e.Path != "" && e.Path != e.Locator {
		fmt.Fprintf(&b, " -> %s", e.Path)
	}
	fmt.Fprintf(&b, ": %v", e.Err)
	if e.Cause != nil {
		fmt.Fprintf(&b, ": %v", e.Cause)
	}
	return b.String()
}

// Unwrap returns the sentinel and the underlying cause.
func (e *LocatorError) Unwrap() []error {
	if e.Cause == nil {
		return []error{e.Err}
	}
	return []error{e.Err, e.Cause}
}

// A WalkError reports why a walk stopped at a link: the link's path and
// depth (0 for the leaf), the parent it led to when known, and a sentinel
// such as ErrCycle, ErrTooDeep, ErrDifferencingBase or ErrOutsideRoot, or
// the error opening the file.
type WalkError struct {
	Path   string // the link where the walk stopped
	Depth  int    // its distance from the leaf
	Parent string // the parent path it resolved to, "" when none
	Err    error
}

// Error describes the link, its depth, its parent and the cause.
func (e *WalkError) Error() string {
	s := fmt.Sprintf("%s (depth %d)", e.Path, e.Depth)
	if e.Parent != "" {
		s += ": parent " + e.Parent
	}
	return s + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *WalkError) Unwrap() error { return e.Err }

// A UUIDMismatchError reports a child whose header names a parent UUID other
// than its parent's footer UUID.
type UUIDMismatchError struct {
	Child, Parent string   // the two paths
	Want          vhd.UUID // the child's header parent UUID
	Got           vhd.UUID // the parent's footer UUID
}

// Error describes both files and both UUIDs.
func (e *UUIDMismatchError) Error() string {
	return fmt.Sprintf("%s: parent UUID %v in header, but parent %s has UUID %v: %v",
		e.Child, e.Want, e.Parent, e.Got, ErrUUIDMismatch)
}

// Unwrap returns ErrUUIDMismatch.
func (e *UUIDMismatchError) Unwrap() error { return ErrUUIDMismatch }

// A LinkProblem is one problem of one link found by [Validate].
type LinkProblem struct {
	Path string // the link's path
	Err  error  // what is wrong: a *vhd.CheckError, a *UUIDMismatchError, an error wrapping a sentinel
}

// A ValidationError lists every problem [Validate] found, of every link, in
// chain order from the leaf.
type ValidationError struct {
	Problems []LinkProblem
}

// Error describes every problem, one per line.
func (e *ValidationError) Error() string {
	var b strings.Builder
	if len(e.Problems) == 1 {
		b.WriteString("chain has 1 problem:")
	} else {
		fmt.Fprintf(&b, "chain has %d problems:", len(e.Problems))
	}
	for _, p := range e.Problems {
		msg := p.Err.Error()
		if !strings.Contains(msg, p.Path) {
			msg = p.Path + ": " + msg
		}
		b.WriteString("\n\t")
		b.WriteString(msg)
	}
	return b.String()
}

// Unwrap returns every problem's error, so that [errors.Is] finds any of
// their sentinels.
func (e *ValidationError) Unwrap() []error {
	errs := make([]error, len(e.Problems))
	for i, p := range e.Problems {
		errs[i] = p.Err
	}
	return errs
}

// A RelinkError reports the link [Relink] could not relink, or the input it
// refused before writing anything.
type RelinkError struct {
	Index    int      // index of the child in the paths given to Relink
	Child    string   // its path
	Parent   string   // the parent it was to get, "" when the input was refused
	Relinked []string // the children already relinked, all nearer the base
	Err      error
}

// Error describes the child, its intended parent, the cause and what was already relinked.
func (e *RelinkError) Error() string {
	s := fmt.Sprintf("relink %s (index %d)", e.Child, e.Index)
	if e.Parent != "" {
		s += " to " + e.Parent
	}
	s += ": " + e.Err.Error()
	if len(e.Relinked) > 0 {
		s += fmt.Sprintf(" (already relinked: %s)", strings.Join(e.Relinked, ", "))
	}
	return s
}

// Unwrap returns the cause.
func (e *RelinkError) Unwrap() error { return e.Err }

// A FixedSizeError reports, in confined mode, a fixed disk whose footer
// claims a larger virtual size than the file holds before its footer.
type FixedSizeError struct {
	Path        string // the fixed disk
	VirtualSize uint64 // the footer's current size, the size claimed
	FileSize    int64  // the file's size, footer included
}

// Error names the file, the size claimed and the size of the file.
func (e *FixedSizeError) Error() string {
	return fmt.Sprintf("%s: fixed disk claims a virtual size of %d bytes, but the file holds %d bytes, footer included: %v",
		e.Path, e.VirtualSize, e.FileSize, vhd.ErrTruncated)
}

// Unwrap returns vhd.ErrTruncated.
func (e *FixedSizeError) Unwrap() error { return vhd.ErrTruncated }

// A DuplicateUUIDError reports, in confined mode, two links of a chain with
// the same footer UUID. (A null UUID is never a duplicate: the checker
// reports it as invalid in each link that has one.)
type DuplicateUUIDError struct {
	UUID  vhd.UUID
	Paths [2]string // the link nearer the leaf first
}

// Error names the UUID and both links.
func (e *DuplicateUUIDError) Error() string {
	return fmt.Sprintf("%s and %s have the same UUID %v: %v", e.Paths[0], e.Paths[1], e.UUID, ErrDuplicateUUID)
}

// Unwrap returns ErrDuplicateUUID.
func (e *DuplicateUUIDError) Unwrap() error { return ErrDuplicateUUID }
