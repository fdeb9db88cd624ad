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

// openErrno is errno for the failure to open the VHD name. A file that
// is not a VHD, or whose header lies past its end, gets the errno libvhd's
// open gives: its footer reads try EOF-512, EOF-511 (a short footer) and
// offset 0; a read that starts at or past the end is EPIPE, one that
// crosses it EIO, one at an offset no seek reaches EINVAL (see
// compatFile.pread); a header read that fails after a good footer gives
// that read's errno; anything else EINVAL.
func openErrno(name string, err error) int {
	var en syscall.Errno
	var pe *fs.PathError
	if errors.As(err, &en) || errors.As(err, &pe) || !errors.Is(err, vhd.ErrFormat) && !errors.Is(err, vhd.ErrTruncated) {
		return errno(err)
	}
	f, oerr := os.Open(name)
	if oerr != nil {
		return errno(err)
	}
	defer f.Close()
	size, serr := sizeOf(f)
	if serr != nil {
		return errno(err)
	}
	c := &compatFile{osf: f, size: size}
	type try struct{ off, n int64 }
	var tries []try
	if size >= vhd.FooterSize {
		tries = append(tries, try{size - vhd.FooterSize, vhd.FooterSize})
	}
	if size%vhd.SectorSize == vhd.SectorSize-1 {
		tries = append(tries, try{size - (vhd.SectorSize - 1), vhd.SectorSize - 1})
	}
	tries = append(tries, try{0, vhd.FooterSize})
	last := errEINVAL
	for _, t := range tries {
		b := make([]byte, vhd.FooterSize)
		n, _ := f.ReadAt(b[:t.n], t.off)
		if int64(n) < t.n {
			last = errno(c.pread(b[:t.n], uint64(t.off)))
			continue
		}
		var ft vhd.Footer
		if ft.UnmarshalBinary(b) != nil || (string(ft.Cookie[:]) != vhd.FooterCookie && string(ft.Cookie[:]) != vhd.DisabledCookie) || !ft.ChecksumValid() {
			last = errEINVAL
			continue
		}
		if ft.DiskType == vhd.DiskDynamic || ft.DiskType == vhd.DiskDifferencing {
			if e := c.pread(make([]byte, 1024), ft.DataOffset); e != nil {
				return errno(e)
			}
		}
		return errno(err)
	}
	if size == 0 {
		return errEPIPE
	}
	return last
}
