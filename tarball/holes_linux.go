package tarball

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// dataRegion returns the start and end of the first region of f holding
// data at or after off, using SEEK_DATA and SEEK_HOLE. Bytes in [off, start)
// are a hole and read as zeros. When the file has no data after off it
// returns start == end == size. ok is false when the file system cannot
// tell; the caller then reads everything.
func dataRegion(f *os.File, off, size int64) (start, end int64, ok bool) {
	fd := int(f.Fd())
	start, err := unix.Seek(fd, off, unix.SEEK_DATA)
	if errors.Is(err, unix.ENXIO) {
		return size, size, true
	}
	if err != nil {
		return 0, 0, false
	}
	end, err = unix.Seek(fd, start, unix.SEEK_HOLE)
	if err != nil || end <= start {
		return 0, 0, false
	}
	return min(start, size), min(end, size), true
}
