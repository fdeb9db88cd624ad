package vhd

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// nextData returns the offset of the first byte of data at or after off in
// f, using SEEK_DATA: the bytes before it are a hole and read as zeros. It
// returns size when no data follows, and ok false when the file system
// cannot tell.
func nextData(f *os.File, off, size int64) (int64, bool) {
	d, err := unix.Seek(int(f.Fd()), off, unix.SEEK_DATA)
	if errors.Is(err, unix.ENXIO) {
		return size, true
	}
	if err != nil {
		return 0, false
	}
	return min(d, size), true
}
