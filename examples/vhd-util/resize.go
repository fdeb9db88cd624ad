package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
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
// a blktap-made dynamic disk grown by vhd.File.Grow. -f grows in place
// when the block table has room, as disks created or snapshotted with -S
// have, and refuses otherwise; -j also grows the table, moving the data
// blocks in the way, behind vhdkit's resize journal (vhd/FORMAT.md §20),
// which it removes once the new size is durable. Shrinking is refused as
// vhd-util refuses it.
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
	f, err := vhd.OpenBlockDevice(name, os.O_RDONLY)
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
	if !haveJournal {
		return growFast(name, mb<<20, stdout)
	}
	if _, err := os.Lstat(jname); err == nil {
		fmt.Fprintf(stdout, "creating journal failed: -%d\n", errEEXIST)
		return errEEXIST
	}
	e, created := growJournaled(name, jname, mb, stdout, stderr)
	if e != 0 && created {
		fmt.Fprintf(stdout, "resize failed: -%d\n", e)
	}
	return e
}

// openForResize opens name for writing as resize does, refusing a disk
// disabled by a journaled operation.
func openForResize(name string) (*vhd.File, int) {
	f, err := vhd.OpenBlockDevice(name, os.O_RDWR)
	if err == nil && f.Footer.Disabled() {
		f.Close()
		err = vhd.ErrDisabled
	}
	if err != nil {
		return nil, openErrno(name, err)
	}
	if f.Header == nil {
		f.Close()
		return nil, errEINVAL
	}
	return f, 0
}

// growFast is resize -f: the size rounded up to 2 MiB, then vhd.File.Grow
// without table growth.
func growFast(name string, bytes uint64, stdout io.Writer) int {
	f, e := openForResize(name)
	if e != 0 {
		return e
	}
	defer f.Close()
	size := (bytes + compatBlock - 1) / compatBlock * compatBlock
	if size < f.Footer.CurrentSize {
		fmt.Fprintf(stdout, "%s: size (%d) < curr size (%d)\n", name, size, f.Footer.CurrentSize)
		return errEINVAL
	}
	err := f.Grow(context.Background(), int64(min(size, 1<<62)), nil)
	if errors.Is(err, vhd.ErrNoTableRoom) {
		return errEINVAL // as vhd-util -f
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return errno(err)
}

// growJournaled is resize -j: vhd-util compares the size in MB with the
// current one unrounded (a smaller one is its unimplemented shrink), then
// grows to the size rounded up to 2 MiB, the table too, behind the
// journal. created says the journal was created, so that a failure is
// vhd-util's "resize failed".
func growJournaled(name, jname string, mb uint64, stdout, stderr io.Writer) (errnum int, created bool) {
	f, e := openForResize(name)
	if e != 0 {
		// vhd-util opens the disk as it creates the journal.
		fmt.Fprintf(stdout, "creating journal failed: -%d\n", e)
		return e, false
	}
	defer f.Close()
	bytes := uint64(1 << 62)
	if mb < 1<<42 {
		bytes = mb << 20
	}
	switch cur := f.Footer.CurrentSize; {
	case bytes < cur:
		fmt.Fprintf(stdout, "dynamic shrink not fully implemented\n")
		return errENOSYS, true
	case bytes == cur:
		return 0, true
	}
	size := min((bytes+compatBlock-1)/compatBlock*compatBlock, uint64(vhd.MaxSize)+1)
	err := f.Grow(context.Background(), int64(size), &vhd.GrowOptions{GrowTable: true, Journal: jname})
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Op == "open" && pe.Path == jname {
		e := errno(err)
		fmt.Fprintf(stdout, "creating journal failed: -%d\n", e)
		return e, false
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", progName, err)
	}
	return errno(err), true
}
