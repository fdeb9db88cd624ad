package main

import (
	"errors"

	"golang.org/x/sys/unix"
)

func getMarkerXattr(path string) (uint8, error) {
	var b [1]byte
	n, err := unix.Getxattr(path, markerXattr, b[:])
	switch {
	case errors.Is(err, unix.ENODATA), errors.Is(err, unix.ENOTSUP), errors.Is(err, unix.ERANGE):
		return 0, nil
	case err != nil:
		return 0, err
	case n < 1:
		return 0, nil
	}
	return b[0], nil
}

func setMarkerXattr(path string, v uint8) error {
	return unix.Setxattr(path, markerXattr, []byte{v}, 0)
}
