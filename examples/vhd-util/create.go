package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/vhdkit/vhdkit/vhd"
)

func createUsage(w io.Writer) {
	fmt.Fprint(w, "options: <-n name> <-s size (MB)> [-r reserve] [-h help] [<-S size (MB) for metadata preallocation (see vhd-util resize)>]\n")
}

// maxCreateName is vhd-util create's limit on the length of NAME.
const maxCreateName = 1022

// runCreate is vhd-util create: a dynamic disk (fixed with -r) of -s MiB
// rounded up to 2 MiB, blktap's layout, creator "tap" 1.3. As in vhd-util,
// -S alone is enough (the size is then 0), and a failure says nothing
// except when the file cannot be opened.
func runCreate(args []string, stdout, stderr io.Writer) int {
	var name string
	var size, msize uint64
	var haveName, haveSize, fixed bool
	opts, operands := getopt("create", args, "n:s:S:rh", stderr)
	for _, o := range opts {
		switch {
		case o.bad, o.c == 'h':
			createUsage(stdout)
			return errEINVAL
		case o.c == 'n':
			name, haveName = o.arg, true
		case o.c == 's':
			size, haveSize = strtoull(o.arg), true
		case o.c == 'S':
			msize, haveSize = strtoull(o.arg), true
		case o.c == 'r':
			fixed = true
		}
	}
	if !haveName || !haveSize || len(operands) > 0 {
		createUsage(stdout)
		return errEINVAL
	}
	if msize != 0 && msize < size {
		fmt.Fprintln(stdout, "Error: <-S size> must be greater than <-s size>")
		return errEINVAL
	}
	if len(name) > maxCreateName {
		return errENAMETOOLONG
	}
	if fixed && msize != 0 {
		// blktap cannot give a fixed disk a metadata size.
		return errEINVAL
	}
	const maxMiB = vhd.MaxSize >> 20
	if size > maxMiB || msize > maxMiB {
		// vhd-util's size arithmetic wraps here; XenServer's limit.
		fmt.Fprintf(stderr, "%s: failed to create: -%d\n", name, errEINVAL)
		return errEINVAL
	}
	o := &vhd.CreateOptions{
		Type:         vhd.DiskDynamic,
		Size:         roundUp2MiB(int64(size) << 20),
		MetadataSize: roundUp2MiB(int64(msize) << 20),
		Overwrite:    true,
	}
	if fixed {
		o.Type = vhd.DiskFixed
	}
	f, err := vhd.Create(name, o)
	if err == nil {
		err = f.Close()
	}
	if err != nil {
		return createFailed(name, err, stderr)
	}
	return 0
}

// createFailed is the exit status of a failed create or snapshot; like
// vhd-util, it says why only when the file could not be opened, on stderr.
func createFailed(name string, err error, stderr io.Writer) int {
	e := errno(err)
	var pe *fs.PathError
	var nr *vhd.NotRegularError
	if errors.As(err, &pe) && pe.Op == "open" && pe.Path == name || errors.As(err, &nr) && nr.Path == name {
		fmt.Fprintf(stderr, "%s: failed to create: -%d\n", name, e)
	}
	return e
}

func roundUp2MiB(n int64) int64 { return (n + compatBlock - 1) &^ (compatBlock - 1) }
