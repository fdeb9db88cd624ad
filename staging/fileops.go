package staging

import (
	"errors"
	"os"
	"syscall"
)

// fileOps is the layer through which every change staging makes to the
// file system passes: renames, links, removals, fsyncs, and named
// checkpoints between steps. The default, used when an options struct
// leaves it nil, is osFileOps. The package's fault tests wrap it to inject
// failures at any step.
type fileOps interface {
	// Rename renames oldpath to newpath inside a staging area; it may
	// replace newpath.
	Rename(oldpath, newpath string) error
	// RenameNoReplace renames oldpath to newpath and fails with an error
	// matching fs.ErrExist if newpath exists (renameat2 RENAME_NOREPLACE).
	// A file system that does not support the flag fails with EINVAL,
	// ENOSYS or EOPNOTSUPP; staging then uses Link and Remove.
	RenameNoReplace(oldpath, newpath string) error
	// Link makes newpath a hard link to oldpath; it never replaces newpath.
	Link(oldpath, newpath string) error
	// Remove removes a file or an empty directory.
	Remove(path string) error
	// Sync flushes a file or directory to stable storage (fsync).
	Sync(path string) error
	// Checkpoint is called at the named points between steps that do not
	// go through the other methods ("extracted", "relink 0.vhd", ...). An
	// error stops the operation as a failure of that step.
	Checkpoint(point string) error
}

// osFileOps is the fileOps that performs the operations on the file system.
type osFileOps struct{}

// Rename calls os.Rename.
func (osFileOps) Rename(oldpath, newpath string) error { return os.Rename(oldpath, newpath) }

// Link calls os.Link.
func (osFileOps) Link(oldpath, newpath string) error { return os.Link(oldpath, newpath) }

// Remove calls os.Remove.
func (osFileOps) Remove(path string) error { return os.Remove(path) }

// Sync opens path read-only and fsyncs it.
func (osFileOps) Sync(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	err = f.Sync()
	return errors.Join(err, f.Close())
}

// Checkpoint does nothing.
func (osFileOps) Checkpoint(string) error { return nil }

// noReplaceUnsupported reports whether err from RenameNoReplace means the
// file system does not support the flag (NFS answers EINVAL).
func noReplaceUnsupported(err error) bool {
	return errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOSYS) || errors.Is(err, syscall.EOPNOTSUPP)
}

// moveNoReplace moves oldpath to newpath without ever replacing newpath:
// renameat2(RENAME_NOREPLACE) or, where refused, link then unlink. It
// reports whether the fallback was used.
func moveNoReplace(ops fileOps, oldpath, newpath string) (fallback bool, err error) {
	err = ops.RenameNoReplace(oldpath, newpath)
	if err == nil || !noReplaceUnsupported(err) {
		return false, err
	}
	if err := ops.Link(oldpath, newpath); err != nil {
		return true, err
	}
	return true, ops.Remove(oldpath)
}
