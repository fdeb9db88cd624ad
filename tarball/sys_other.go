//go:build !unix

package tarball

import "os"

// noFollow is zero where the platform has no O_NOFOLLOW; os.Root still
// keeps every open inside the directory.
const noFollow = 0

// setMode is a no-op where file modes are not POSIX permissions.
func setMode(*os.File, os.FileMode) error { return nil }

// syncDir is a no-op where directories cannot be opened for fsync.
func syncDir(*os.File) error { return nil }
