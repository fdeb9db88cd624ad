//go:build !unix

package chain

import "os"

// readable reports whether path can be opened for reading, as blktap's
// access(R_OK) does on Unix.
func readable(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	return f.Close()
}

// openNonblock is or-ed into the flags of every open of a file that has
// not been checked to be a regular file yet (O_NONBLOCK on Unix).
const openNonblock = 0
