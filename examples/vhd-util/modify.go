package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"syscall"

	"github.com/vhdkit/vhdkit/vhd"
)

func modifyUsage(w io.Writer) {
	fmt.Fprint(w, "*** Dangerous operations, use with care ***\n"+
		"options: <-n name> [-p NEW_PARENT set parent [-m raw]] [-s NEW_SIZE set size] [-z zero (kill data)] [-h help]\n")
}

// runModify is vhd-util modify -p: it links a differencing disk to a new
// parent. Unlike vhd-util it checks everything before the first write,
// grows locators when the new path is longer, and never leaves the child
// half-rewritten (vhd.File.SetParent).
func runModify(args []string, stdout, stderr io.Writer) int {
	var name, parent string
	var haveName, haveParent, raw, resize, zero bool
	var size int64
	opts, operands := getopt("modify", args, "n:s:p:mzh", stderr)
	for _, o := range opts {
		switch {
		case o.bad, o.c == 'h':
			modifyUsage(stdout)
			return errEINVAL
		case o.c == 'n':
			name, haveName = o.arg, true
		case o.c == 'p':
			parent, haveParent = o.arg, true
		case o.c == 'm':
			raw = true
		case o.c == 's':
			var ok bool
			if size, ok = parseSize(o.arg); !ok {
				fmt.Fprintf(stderr, "Invalid size '%s'\n", o.arg)
				modifyUsage(stdout)
				return errEINVAL
			}
			resize = true
		case o.c == 'z':
			zero = true
		}
	}
	if !haveName || len(operands) > 0 {
		modifyUsage(stdout)
		return errEINVAL
	}
	status := 0
	if zero || resize {
		if f, code := openWritable(name, stdout); f == nil {
			return code
		} else {
			f.Close()
		}
	}
	if zero {
		status = zeroDisk(name, stdout) // modify_zero.go
	}
	if resize {
		status = setPhysSize(name, size, stdout) // modify_size.go
	}
	if !haveParent {
		return status
	}
	f, code := openWritable(name, stdout)
	if f == nil {
		return code
	}
	err := f.SetParent(context.Background(), parent, &vhd.SetParentOptions{Raw: raw})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	var nr *vhd.NotRegularError
	if errors.As(err, &nr) {
		err = syscall.EINVAL // vhd-util: not a regular file or block device
	}
	if err != nil {
		e := errno(err)
		fmt.Fprintf(stdout, "failed to set parent to '%s': -%d\n", parent, e)
		refused(stderr, name, err)
		return e
	}
	return 0
}
