package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/vhdkit/vhdkit/vhd"
)

func resizeUsage(w io.Writer) {
	fmt.Fprint(w, "options: <-n name> <-s size (in MB)> (<-j journal>|<-f fast>) "+
		"[-h help]\n\n"+
		"The resize operation can only be performed offline "+
		"and must be journaled because resizing the metadata "+
		"might require moving data blocks. However, if a "+
		"VHD was created with -S <msize> option (during "+
		"vhd-util create/snapshot), which preallocates the "+
		"metadata for growing the VHD up to size <msize>, then "+
		"resizing such a VHD up to <msize> can be performed "+
		"online without journaling (-f option).\n")
}

// runResize is vhd-util resize -s MB (-f | -j JOURNAL): the virtual size of
// a blktap-made dynamic disk grown in place (vhd.File.Grow) when its block
// table has room, as disks created or snapshotted with -S have. Growing
// one whose table must grow (moving data blocks) is not implemented yet:
// -j refuses it with EOPNOTSUPP and leaves the disk and the journal name
// untouched. Shrinking is refused as vhd-util refuses it.
func runResize(args []string, stdout, stderr io.Writer) int {
	var name, jname string
	var haveName, haveJournal, fast, haveSize bool
	var mb uint64
	opts, operands := getopt("resize", args, "n:s:j:fh", stderr)
	for _, o := range opts {
		switch {
		case o.bad, o.c == 'h':
			resizeUsage(stdout)
			return errEINVAL
		case o.c == 'n':
			name, haveName = o.arg, true
		case o.c == 'j':
			jname, haveJournal = o.arg, true
		case o.c == 'f':
			fast = true
		case o.c == 's':
			mb, haveSize = strtoull(o.arg), true
		}
	}
	if !haveSize || !haveName || (!haveJournal && !fast) || len(operands) > 0 || (haveJournal && fast) {
		resizeUsage(stdout)
		return errEINVAL
	}
	f, err := vhd.Open(name)
	if err != nil {
		e := openErrno(name, err)
		fmt.Fprintf(stdout, "error opening %s: -%d\n", name, e)
		return e
	}
	tap := f.Footer.CreatorApp == vhd.CreatorTap
	f.Close()
	if !tap {
		fmt.Fprintf(stdout, "%s not created by xen; resize not supported\n", name)
		return errEINVAL
	}
	if haveJournal {
		if _, err := os.Lstat(jname); err == nil {
			fmt.Fprintf(stdout, "creating journal failed: -%d\n", errEEXIST)
			return errEEXIST
		}
	}
	e := grow(name, mb<<20, haveJournal, stdout)
	if haveJournal && e != 0 {
		fmt.Fprintf(stdout, "resize failed: -%d\n", e)
	}
	return e
}

// grow is resize's work: the size rounded up to 2 MiB, then vhd.File.Grow.
func grow(name string, bytes uint64, journaled bool, stdout io.Writer) int {
	f, err := vhd.OpenFile(name, os.O_RDWR)
	if err == nil && f.Footer.Disabled() {
		f.Close()
		err = vhd.ErrDisabled
	}
	if err != nil {
		return openErrno(name, err)
	}
	defer f.Close()
	if f.Header == nil {
		return errEINVAL
	}
	size := (bytes + compatBlock - 1) / compatBlock * compatBlock
	if size < f.Footer.CurrentSize {
		fmt.Fprintf(stdout, "%s: size (%d) < curr size (%d)\n", name, size, f.Footer.CurrentSize)
		return errEINVAL
	}
	err = f.Grow(context.Background(), int64(min(size, 1<<62)))
	if errors.Is(err, vhd.ErrNoTableRoom) {
		if journaled {
			return errEOPNOTSUPP // blocks would have to move: not implemented
		}
		return errEINVAL // as vhd-util -f
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return errno(err)
}
