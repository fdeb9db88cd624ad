package main

import (
	"errors"
	"io/fs"
	"os"
	"syscall"

	"github.com/vhdkit/vhdkit/vhd"
)

// Errno values vhd-util's exit statuses and messages use. They are the
// Linux numbers, whatever the platform, since vhd-util's callers compare
// them as numbers.
const (
	errENOENT       = 2
	errEIO          = 5
	errEACCES       = 13
	errEEXIST       = 17
	errEISDIR       = 21
	errEINVAL       = 22
	errENOSPC       = 28
	errEPIPE        = 32
	errENAMETOOLONG = 36
	errELOOP        = 40
	errEOPNOTSUPP   = 95
)

// errno maps a Go error to the positive errno vhd-util would report for
// it: a syscall.Errno as is, the io/fs sentinels to their errno, and every
// format problem to EINVAL, libvhd's answer to anything it dislikes in a
// file.
func errno(err error) int {
	if err == nil {
		return 0
	}
	var en syscall.Errno
	if isLinux && errors.As(err, &en) && en != 0 {
		return int(en)
	}
	for _, e := range []struct {
		err   error
		errno int
	}{
		{syscall.EISDIR, errEISDIR},
		{syscall.ENOSPC, errENOSPC},
		{syscall.ENAMETOOLONG, errENAMETOOLONG},
		{syscall.ELOOP, errELOOP},
		{syscall.EIO, errEIO},
	} {
		if errors.Is(err, e.err) {
			return e.errno
		}
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return errENOENT
	case errors.Is(err, fs.ErrPermission):
		return errEACCES
	case errors.Is(err, fs.ErrExist):
		return errEEXIST
	}
	return errEINVAL
}

// openErrno is errno for the failure to open the VHD name. A structure
// that lies past the end of the file gets the errno libvhd's read gives
// there: EPIPE for a read starting at or past the end (an empty file),
// EIO for one crossing it (a file shorter than a footer), EINVAL for an
// offset no seek reaches (see compatFile.pread).
func openErrno(name string, err error) int {
	var en syscall.Errno
	if errors.As(err, &en) || !errors.Is(err, vhd.ErrTruncated) {
		return errno(err)
	}
	st, serr := os.Stat(name)
	if serr != nil {
		return errno(err)
	}
	size := st.Size()
	if size < vhd.FooterSize {
		if size == 0 {
			return errEPIPE
		}
		return errEIO
	}
	// The footer was read; the header is what lies past the end.
	f, oerr := os.Open(name)
	if oerr != nil {
		return errno(err)
	}
	defer f.Close()
	var ft vhd.Footer
	b := make([]byte, vhd.FooterSize)
	for _, off := range []int64{size - vhd.FooterSize, 0} {
		if _, rerr := f.ReadAt(b, off); rerr == nil && ft.UnmarshalBinary(b) == nil &&
			(string(ft.Cookie[:]) == vhd.FooterCookie || string(ft.Cookie[:]) == vhd.DisabledCookie) && ft.ChecksumValid() {
			c := &compatFile{osf: f, size: size}
			return errno(c.pread(make([]byte, 1024), ft.DataOffset))
		}
	}
	return errEPIPE
}
