package vhd

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// sendFile copies n bytes at off of src to dst with sendfile(2), in the
// kernel. It returns the bytes copied; fewer than n with a nil error means
// sendfile cannot serve this pair (an O_APPEND file, say) and the caller
// copies the rest itself.
func sendFile(dst, src *os.File, off, n int64) (int64, error) {
	sc, err := src.SyscallConn()
	if err != nil {
		return 0, nil
	}
	dc, err := dst.SyscallConn()
	if err != nil {
		return 0, nil
	}
	var done int64
	var serr error
	cerr := sc.Control(func(sfd uintptr) {
		werr := dc.Write(func(dfd uintptr) bool {
			for done < n {
				o := off + done
				k, err := unix.Sendfile(int(dfd), int(sfd), &o, int(min(n-done, 1<<30)))
				if k > 0 {
					done += int64(k)
				}
				switch {
				case errors.Is(err, unix.EAGAIN):
					return false // wait until dst is writable
				case errors.Is(err, unix.EINTR):
					continue
				case err != nil:
					if done == 0 && (errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS)) {
						return true // not for this pair: the caller copies
					}
					serr = err
					return true
				case k == 0:
					serr = fmt.Errorf("vhd: sendfile: source ends at %d, %d bytes short: %w", o, n-done, ErrTruncated)
					return true
				}
			}
			return true
		})
		if serr == nil && werr != nil {
			serr = werr
		}
	})
	if serr == nil && cerr != nil {
		serr = cerr
	}
	return done, serr
}
