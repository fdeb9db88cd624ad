package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/vhdkit/vhdkit/vhd"
)

func repairUsage(w io.Writer) {
	fmt.Fprint(w, "options: <-n name> <-b use the back-up footer> [-h help]\n")
}

// runRepair is vhd-util repair [-b]: the footer the file opens with (with
// -b, the copy at offset 0) becomes the primary footer at the end of the
// data, the file is cut behind it, and a dynamic disk's copy at offset 0 is
// rewritten; a null UUID gets a fresh one. vhd.File.Repair checks the file
// first and orders the writes so that a crash leaves the old file or the
// repaired one.
func runRepair(args []string, stdout, stderr io.Writer) int {
	var name string
	var haveName, backup bool
	opts, operands := getopt("repair", args, "n:bh", stderr)
	for _, o := range opts {
		switch {
		case o.bad, o.c == 'h':
			repairUsage(stdout)
			return errEINVAL
		case o.c == 'n':
			name, haveName = o.arg, true
		case o.c == 'b':
			backup = true
		}
	}
	if !haveName || len(operands) > 0 {
		repairUsage(stdout)
		return errEINVAL
	}
	var f *vhd.File
	var err error
	if backup {
		f, err = vhd.OpenWithFooter(name, os.O_RDWR, vhd.FooterBackup)
		if err == nil && f.Footer.Disabled() {
			f.Close()
			err = vhd.ErrDisabled
		}
		if err != nil {
			e := openErrno(name, err)
			fmt.Fprintf(stdout, "error opening %s: -%d\n", name, e)
			return e
		}
	} else {
		var code int
		if f, code = openWritable(name, stdout); f == nil {
			return code
		}
	}
	_, err = f.Repair(context.Background(), nil)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		e := errno(err)
		fmt.Fprintf(stdout, "error writing footer: -%d\n", e)
		return e
	}
	return 0
}
