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
