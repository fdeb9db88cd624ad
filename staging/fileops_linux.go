//go:build linux

package staging

import (
	"os"

	"golang.org/x/sys/unix"
)

// RenameNoReplace calls renameat2 with RENAME_NOREPLACE.
func (osFileOps) RenameNoReplace(oldpath, newpath string) error {
	err := unix.Renameat2(unix.AT_FDCWD, oldpath, unix.AT_FDCWD, newpath, unix.RENAME_NOREPLACE)
	if err != nil {
		return &os.LinkError{Op: "renameat2", Old: oldpath, New: newpath, Err: err}
	}
	return nil
}
