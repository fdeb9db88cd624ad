//go:build unix

package vhd

import (
	"io"
	"io/fs"
	"syscall"
)

// fdReader reads a file opened read-only straight through its descriptor.
// Opening a VHD to ask one question is dominated by system calls; a plain
// descriptor skips the runtime poller's registration (an epoll_ctl that
// fails for regular files anyway) and the finalizer of an *os.File.
type fdReader struct {
	fd   int
	name string
}

// openReadOnly opens name for reading and returns the reader, the file's
// size, and its mode.
func openReadOnly(name string) (*fdReader, int64, fs.FileMode, error) {
	var fd int
	var err error
	for {
		fd, err = syscall.Open(name, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		return nil, 0, 0, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		syscall.Close(fd)
		return nil, 0, 0, &fs.PathError{Op: "stat", Path: name, Err: err}
	}
	r := &fdReader{fd: fd, name: name}
	var mode fs.FileMode
	switch st.Mode & syscall.S_IFMT {
	case syscall.S_IFREG:
	case syscall.S_IFDIR:
		mode = fs.ModeDir
	default:
		mode = fs.ModeDevice
	}
	size := st.Size
	if mode&fs.ModeDevice != 0 {
		if end, err := syscall.Seek(fd, 0, io.SeekEnd); err == nil {
			size = end
		}
	}
	return r, size, mode, nil
}

// ReadAt implements io.ReaderAt with pread, retrying short reads.
func (r *fdReader) ReadAt(p []byte, off int64) (int, error) {
	done := 0
	for done < len(p) {
		n, err := syscall.Pread(r.fd, p[done:], off+int64(done))
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return done, &fs.PathError{Op: "read", Path: r.name, Err: err}
		}
		if n == 0 {
			return done, io.EOF
		}
		done += n
	}
	return done, nil
}

// Close closes the descriptor.
func (r *fdReader) Close() error {
	if err := syscall.Close(r.fd); err != nil {
		return &fs.PathError{Op: "close", Path: r.name, Err: err}
	}
	return nil
}
