package vhd

import (
	"errors"
	"fmt"
	"io/fs"
	"syscall"
)

// Sentinel errors, matched with [errors.Is] through [FormatError] and the
// other error types of this package.
var (
	// ErrFormat is the cause of every structural problem in a file.
	ErrFormat = errors.New("vhd: invalid format")
	// ErrChecksum reports a footer or header whose checksum does not match.
	ErrChecksum = errors.New("vhd: checksum mismatch")
	// ErrCookie reports a structure whose cookie is wrong.
	ErrCookie = errors.New("vhd: invalid cookie")
	// ErrDisabled reports a footer whose cookie is "v_poison": the file is in
	// the middle of a journalled operation.
	ErrDisabled = errors.New("vhd: disabled (poisoned) VHD")
	// ErrTooLarge reports a size or count read from the file that cannot fit
	// in the file or exceeds what this package supports.
	ErrTooLarge = errors.New("vhd: size or count out of range")
	// ErrNotDynamic is returned by operations that need a dynamic or
	// differencing disk.
	ErrNotDynamic = errors.New("vhd: not a dynamic or differencing disk")
	// ErrNotDifferencing is returned by operations that need a differencing disk.
	ErrNotDifferencing = errors.New("vhd: not a differencing disk")
	// ErrReadOnly is returned by writes on a File opened for reading only.
	ErrReadOnly = errors.New("vhd: file is read-only")
	// ErrNoParentReader is returned when data of a differencing disk's parent
	// is needed and no parent reader was attached with [File.AttachParent].
	ErrNoParentReader = errors.New("vhd: parent data needed but no parent reader attached")
	// ErrOutOfRange is returned for virtual-disk accesses past the disk's size.
	ErrOutOfRange = errors.New("vhd: offset out of range")
	// ErrNoBatmap is returned by batmap operations on a file without one.
	ErrNoBatmap = errors.New("vhd: file has no batmap")
	// ErrLocator reports a parent locator that cannot be decoded or encoded.
	ErrLocator = errors.New("vhd: invalid parent locator")
	// ErrClosed is returned by operations on a closed File.
	ErrClosed = errors.New("vhd: file already closed")
	// ErrTruncated reports a file too short to hold a VHD footer, or a
	// structure that extends past the end of the file.
	ErrTruncated = errors.New("vhd: file truncated")
)

// A FormatError reports a problem with one field of a VHD file: which file,
// which structure, which field, at which byte offset of the file, and why.
type FormatError struct {
	File   string // the file's name, or "" when read from an io.ReaderAt
	Part   string // "footer", "backup footer", "header", "BAT", "batmap", "parent locator 2", ...
	Field  string // the field's name, or "" for the whole structure
	Offset int64  // byte offset of the field in the file, or -1 if unknown
	Msg    string // what is wrong
	Err    error  // a sentinel such as ErrChecksum; ErrFormat when none fits
}

// Error describes the problem: file, structure, field, offset and why.
func (e *FormatError) Error() string {
	s := "vhd: "
	if e.File != "" {
		s += e.File + ": "
	}
	s += e.Part
	if e.Field != "" {
		s += " field " + e.Field
	}
	if e.Offset >= 0 {
		s += fmt.Sprintf(" at offset %d", e.Offset)
	}
	return s + ": " + e.Msg
}

// Unwrap returns the sentinel cause and [ErrFormat], so that both match with
// [errors.Is].
func (e *FormatError) Unwrap() []error {
	if e.Err == nil || e.Err == ErrFormat {
		return []error{ErrFormat}
	}
	return []error{e.Err, ErrFormat}
}

func formatErr(file, part, field string, off int64, cause error, format string, args ...any) *FormatError {
	return &FormatError{File: file, Part: part, Field: field, Offset: off, Msg: fmt.Sprintf(format, args...), Err: cause}
}

// A NotRegularError reports a path that is not a regular file (nor, where
// the caller asked for one, a block device): a FIFO, socket, character
// device, directory or block device. Every function of this package that
// opens a path refuses these at once, without blocking in open(2) on a FIFO
// that has no writer. It matches [ErrNotRegular], and for a directory also
// syscall.EISDIR.
type NotRegularError struct {
	Path string
	Mode fs.FileMode // the file type bits, such as fs.ModeNamedPipe
	// BlockDevices says a block device would have been accepted.
	BlockDevices bool
}

// Error says what the path is and what is accepted.
func (e *NotRegularError) Error() string {
	what := "a regular file"
	if e.BlockDevices {
		what = "a regular file or block device"
	}
	return fmt.Sprintf("vhd: %s is %s, not %s", e.Path, fileKind(e.Mode), what)
}

// Unwrap returns [ErrNotRegular], and syscall.EISDIR for a directory.
func (e *NotRegularError) Unwrap() []error {
	if e.Mode.IsDir() {
		return []error{ErrNotRegular, syscall.EISDIR}
	}
	return []error{ErrNotRegular}
}

func notRegular(path string, mode fs.FileMode, devices bool) error {
	return &NotRegularError{Path: path, Mode: mode.Type(), BlockDevices: devices}
}

func fileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	}
	return "an irregular file"
}
