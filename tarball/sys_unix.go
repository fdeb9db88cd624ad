//go:build unix

package tarball

import (
	"os"
	"syscall"
)

// noFollow is added to every open: the final path element must not be a
// symbolic link.
const noFollow = syscall.O_NOFOLLOW

// setMode forces the mode of a created file to perm, whatever the umask.
func setMode(f *os.File, perm os.FileMode) error { return f.Chmod(perm) }

// syncDir flushes the directory entry of newly created files to disk.
func syncDir(d *os.File) error { return d.Sync() }
