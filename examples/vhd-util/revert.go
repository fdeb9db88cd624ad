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

func revertUsage(w io.Writer) {
	fmt.Fprint(w, "options: <-n name> <-j journal> [-h help]\n")
}

// blktapJournalCookie opens the journals blktap's vhd-util writes.
const blktapJournalCookie = "vjournal"

// runRevert is vhd-util revert -n NAME -j JOURNAL on vhdkit's resize
// journal (vhd/FORMAT.md §20), left by a resize -j that did not finish:
// vhd.File.Revert puts the disk back to the old virtual size, crash-safe,
// and removes the journal. The old byte layout is not restored: a table
// grown stays grown, every block where it is. A disk with data beyond the
// old size is refused (vhd-util would revert it and lose that data). A
// journal left by blktap's vhd-util is refused (EOPNOTSUPP) and left
// alone, for blktap's tool to revert.
func runRevert(args []string, stdout, stderr io.Writer) int {
	var name, jname string
	var haveName, haveJournal bool
	opts, operands := getopt("revert", args, "n:j:h", stderr)
	for _, o := range opts {
		switch {
		case o.bad, o.c == 'h':
			revertUsage(stdout)
			return errEINVAL
		case o.c == 'n':
			name, haveName = o.arg, true
		case o.c == 'j':
			jname, haveJournal = o.arg, true
		}
	}
	if !haveName || !haveJournal || len(operands) > 0 {
		revertUsage(stdout)
		return errEINVAL
	}
	failed := func(what string, err error) int {
		e := errno(err)
		fmt.Fprintf(stdout, "%s journal failed: -%d\n", what, e)
		if !errors.Is(err, fs.ErrNotExist) {
			fmt.Fprintf(stderr, "%s: %v\n", progName, err)
		}
		return e
	}
	if _, err := vhd.ReadJournal(jname); err != nil {
		if isBlktapJournal(jname) {
			fmt.Fprintf(stdout, "opening journal failed: -%d\n", errEOPNOTSUPP)
			fmt.Fprintf(stderr, "%s: revert of a blktap resize journal is not supported by this implementation\n", progName)
			return errEOPNOTSUPP
		}
		return failed("opening", err)
	}
	f, err := vhd.OpenBlockDevice(name, os.O_RDWR)
	if err != nil {
		e := openErrno(name, err)
		fmt.Fprintf(stdout, "opening journal failed: -%d\n", e)
		return e
	}
	defer f.Close()
	err = f.Revert(context.Background(), jname)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	var pe *fs.PathError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, vhd.ErrJournal):
		return failed("opening", err)
	case errors.As(err, &pe) && pe.Op == "remove":
		return failed("removing", err)
	}
	return failed("reverting", err)
}

// isBlktapJournal reports whether the file at name starts with the cookie
// of blktap's journals.
func isBlktapJournal(name string) bool {
	fd, err := os.Open(name)
	if err != nil {
		return false
	}
	defer fd.Close()
	b := make([]byte, len(blktapJournalCookie))
	_, err = io.ReadFull(fd, b)
	return err == nil && string(b) == blktapJournalCookie
}
