package main

import (
	"errors"
	"io/fs"
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

// openErrno is errno for the failure to open a VHD: a file too small to
// hold a footer (empty, for example) is EPIPE, as libvhd's short read
// reports it; anything else is as errno says.
func openErrno(err error) int {
	var en syscall.Errno
	if !errors.As(err, &en) && errors.Is(err, vhd.ErrTruncated) {
		return errEPIPE
	}
	return errno(err)
}
