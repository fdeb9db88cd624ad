package tarball

import (
	"errors"
	"fmt"
)

// Sentinel errors. Unpack and Pack wrap them in an *EntryError naming the
// entry, so test them with errors.Is.
var (
	// ErrAbsolute reports an entry whose name is an absolute path.
	ErrAbsolute = errors.New("tarball: absolute name")
	// ErrDotDot reports an entry whose name has a ".." element.
	ErrDotDot = errors.New("tarball: name has a .. element")
	// ErrNested reports an entry whose name has more than one path element.
	ErrNested = errors.New("tarball: nested name")
	// ErrBadName reports a name that is empty, not valid UTF-8, holds a NUL,
	// or is not local in the sense of filepath.IsLocal.
	ErrBadName = errors.New("tarball: bad name")
	// ErrSymlink reports a symbolic link entry (or, for Pack, a symlinked file).
	ErrSymlink = errors.New("tarball: symbolic link")
	// ErrHardLink reports a hard link entry.
	ErrHardLink = errors.New("tarball: hard link")
	// ErrDevice reports a character or block device entry.
	ErrDevice = errors.New("tarball: device node")
	// ErrFIFO reports a named pipe entry.
	ErrFIFO = errors.New("tarball: fifo")
	// ErrUnsupportedType reports any other entry type that is not a regular
	// file, including directories other than the root "./".
	ErrUnsupportedType = errors.New("tarball: unsupported entry type")
	// ErrDuplicate reports a second entry for the same file ("./0.vhd" and
	// "0.vhd" are the same file), or a name Pack was given twice.
	ErrDuplicate = errors.New("tarball: duplicate entry")
	// ErrTooManyEntries reports an archive with more entries than
	// UnpackOptions.MaxEntries.
	ErrTooManyEntries = errors.New("tarball: too many entries")
	// ErrFileTooLarge reports an entry larger than UnpackOptions.MaxFileSize.
	ErrFileTooLarge = errors.New("tarball: file too large")
	// ErrTotalTooLarge reports an archive whose decompressed size exceeds
	// UnpackOptions.MaxTotalSize.
	ErrTotalTooLarge = errors.New("tarball: archive too large")
	// ErrSizeChanged reports, from Pack, a file whose size changed while it
	// was being streamed.
	ErrSizeChanged = errors.New("tarball: file changed size while being archived")
	// ErrNotEmpty reports that Unpack's target directory is not empty.
	ErrNotEmpty = errors.New("tarball: directory not empty")
	// ErrSkip is returned by an UnpackOptions.Filter to skip an entry: its
	// data is read and discarded, never written.
	ErrSkip = errors.New("tarball: skip entry")
)

// EntryError is the error Pack and Unpack return for a failure that belongs
// to one archive entry.
type EntryError struct {
	// Name is the entry's name as it appears in the archive (Unpack) or the
	// file's base name (Pack). It is empty when the failure happened between
	// entries.
	Name string
	// Offset is how many bytes of the entry's data had been written
	// (Unpack) or read (Pack) when the failure happened. When Name is
	// empty it is the offset in the decompressed stream.
	Offset int64
	// Err is the underlying error, often one of the sentinels of this package.
	Err error
}

// Error returns "tarball: entry NAME at offset N: ERR".
func (e *EntryError) Error() string {
	if e.Name == "" {
		return fmt.Sprintf("tarball: at stream offset %d: %v", e.Offset, e.Err)
	}
	return fmt.Sprintf("tarball: entry %q at offset %d: %v", e.Name, e.Offset, e.Err)
}

// Unwrap returns the underlying error.
func (e *EntryError) Unwrap() error { return e.Err }
