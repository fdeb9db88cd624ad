//go:build unix

package chain

import (
	"io/fs"

	"golang.org/x/sys/unix"
)

// readable reports, with access(R_OK) as blktap does, whether path can be
// read.
func readable(path string) error {
	if err := unix.Access(path, unix.R_OK); err != nil {
		return &fs.PathError{Op: "access", Path: path, Err: err}
	}
	return nil
}

// openNonblock is or-ed into the flags of every open of a file that has
// not been checked to be a regular file yet: opening a FIFO without it
// blocks until a writer comes.
const openNonblock = unix.O_NONBLOCK
