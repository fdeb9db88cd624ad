//go:build unix

package vhd

import (
	"io"
	"io/fs"
	"os"
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

// openedFile is a descriptor opened by openFile, with what fstat said.
type openedFile struct {
	fd     int
	size   int64
	device bool // a block device: its size comes from seeking to its end
}

// openFile opens name without ever blocking: with O_NONBLOCK and O_NOCTTY,
// so that a FIFO without a writer, a terminal or a device that waits for a
// carrier returns at once; then fstat refuses anything but a regular file
// (and a block device when devices is set) with an error matching
// [ErrNotRegular], and O_NONBLOCK is cleared again for ordinary blocking
// I/O. flag is os.O_RDONLY or os.O_RDWR, with os.O_CREATE, os.O_EXCL and
// os.O_TRUNC as Create needs them.
func openFile(name string, flag int, perm fs.FileMode, devices bool) (openedFile, error) {
	var fd int
	var err error
	for {
		fd, err = syscall.Open(name, flag|syscall.O_NONBLOCK|syscall.O_NOCTTY|syscall.O_CLOEXEC, uint32(perm.Perm()))
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		if err == syscall.ENXIO || err == syscall.EOPNOTSUPP || err == syscall.EISDIR {
			// A socket (or a FIFO opened for writing): say what it is.
			if st, serr := os.Stat(name); serr == nil && !st.Mode().IsRegular() {
				return openedFile{}, notRegular(name, st.Mode(), devices)
			}
		}
		return openedFile{}, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		syscall.Close(fd)
		return openedFile{}, &fs.PathError{Op: "stat", Path: name, Err: err}
	}
	o := openedFile{fd: fd, size: st.Size}
	switch st.Mode & syscall.S_IFMT {
	case syscall.S_IFREG:
	case syscall.S_IFBLK:
		if !devices {
			syscall.Close(fd)
			return openedFile{}, notRegular(name, fs.ModeDevice, devices)
		}
		o.device = true
		end, err := syscall.Seek(fd, 0, io.SeekEnd)
		if err != nil {
			syscall.Close(fd)
			return openedFile{}, &fs.PathError{Op: "seek", Path: name, Err: err}
		}
		o.size = end
	default:
		syscall.Close(fd)
		return openedFile{}, notRegular(name, unixMode(uint32(st.Mode)), devices)
	}
	if err := syscall.SetNonblock(fd, false); err != nil {
		syscall.Close(fd)
		return openedFile{}, &fs.PathError{Op: "fcntl", Path: name, Err: err}
	}
	return o, nil
}

// unixMode turns a stat mode's file type into the fs.FileMode bits.
func unixMode(m uint32) fs.FileMode {
	switch m & syscall.S_IFMT {
	case syscall.S_IFDIR:
		return fs.ModeDir
	case syscall.S_IFIFO:
		return fs.ModeNamedPipe
	case syscall.S_IFSOCK:
		return fs.ModeSocket
	case syscall.S_IFCHR:
		return fs.ModeDevice | fs.ModeCharDevice
	case syscall.S_IFBLK:
		return fs.ModeDevice
	case syscall.S_IFLNK:
		return fs.ModeSymlink
	}
	return fs.ModeIrregular
}

// osFile wraps the descriptor in an *os.File for writing. O_NONBLOCK is
// clear, so the runtime treats it as an ordinary blocking file.
func (o openedFile) osFile(name string) *os.File { return os.NewFile(uintptr(o.fd), name) }

// reader wraps the descriptor for reading with pread.
func (o openedFile) reader(name string) *fdReader { return &fdReader{fd: o.fd, name: name} }

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
