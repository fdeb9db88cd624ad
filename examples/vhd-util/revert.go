package main

import (
	"fmt"
	"io"
	"os"
)

func revertUsage(w io.Writer) {
	fmt.Fprint(w, "options: <-n name> <-j journal> [-h help]\n")
}

// runRevert is vhd-util revert -n NAME -j JOURNAL. This drop-in's resize
// grows disks in place, crash-safe, and never leaves a journal, so there is
// nothing of its own to revert: a missing journal is vhd-util's "opening
// journal failed: -2". A journal left by blktap's vhd-util is refused
// (EOPNOTSUPP) and left alone, for blktap's tool to revert.
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
	_ = name
	if _, err := os.Stat(jname); err != nil {
		e := errno(err)
		fmt.Fprintf(stdout, "opening journal failed: -%d\n", e)
		return e
	}
	fmt.Fprintf(stdout, "opening journal failed: -%d\n", errEOPNOTSUPP)
	fmt.Fprintf(stderr, "%s: revert of a blktap resize journal is not supported by this implementation\n", progName)
	return errEOPNOTSUPP
}
