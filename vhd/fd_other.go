//go:build !unix

package vhd

import (
	"io"
	"io/fs"
	"os"
)

type fdReader struct{ *os.File }

// openedFile is a file opened by openFile, with what Stat said.
type openedFile struct {
	f      *os.File
	size   int64
	device bool
}

// openFile opens name and refuses anything but a regular file (a device
// when devices is set), as the Unix version does. Windows has no FIFOs
// that block in open; named pipes live outside the file system.
func openFile(name string, flag int, perm fs.FileMode, devices bool) (openedFile, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return openedFile{}, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return openedFile{}, err
	}
	o := openedFile{f: f, size: st.Size()}
	switch {
	case st.Mode().IsRegular():
	case devices && st.Mode()&fs.ModeDevice != 0 && st.Mode()&fs.ModeCharDevice == 0:
		o.device = true
		if o.size, err = f.Seek(0, io.SeekEnd); err != nil {
			f.Close()
			return openedFile{}, err
		}
	default:
		f.Close()
		return openedFile{}, notRegular(name, st.Mode(), devices)
	}
	return o, nil
}

func (o openedFile) osFile(string) *os.File  { return o.f }
func (o openedFile) reader(string) *fdReader { return &fdReader{o.f} }
