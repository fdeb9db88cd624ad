//go:build !linux && !darwin

package chain

import "os"

// lockFile does nothing where flock does not exist (Windows opens are
// not shared for writing by default tools anyway).
func lockFile(f *os.File, path string) error { return nil }

// syncDir does nothing where directories cannot be synced.
func syncDir(path string) error { return nil }
