//go:build linux || darwin

package chain

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// lockFile takes an exclusive flock on f without waiting; it is released
// when f is closed.
func lockFile(f *os.File, path string) error {
	err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	if errors.Is(err, unix.EWOULDBLOCK) {
		return fmt.Errorf("chain: coalesce: %s: %w", path, ErrLocked)
	}
	if err != nil {
		return fmt.Errorf("chain: coalesce: lock %s: %w", path, err)
	}
	return nil
}

// syncDir makes the directory entry of path, and its size, durable.
func syncDir(path string) error {
	d, err := os.Open(dirOf(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
