package vhd

import (
	"errors"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// randomBytes fills b from getrandom(2), the source crypto/rand reads on
// Linux, and from /dev/urandom on kernels without it (before 3.17). It
// reads the kernel directly because crypto/rand brings in the Go
// cryptographic module, whose initialisation every program importing vhd
// would pay at start; vhd-util is forked once per call.
func randomBytes(b []byte) {
	for len(b) > 0 {
		n, err := unix.Getrandom(b, 0)
		switch {
		case err == nil:
			b = b[n:]
		case errors.Is(err, unix.EINTR):
		case errors.Is(err, unix.ENOSYS):
			urandom(b)
			return
		default:
			panic("vhd: getrandom: " + err.Error())
		}
	}
}

func urandom(b []byte) {
	f, err := os.Open("/dev/urandom")
	if err == nil {
		_, err = io.ReadFull(f, b)
		f.Close()
	}
	if err != nil {
		panic("vhd: no random source: " + err.Error())
	}
}
