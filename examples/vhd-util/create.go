package main

import (
	"fmt"
	"io"

	"github.com/vhdkit/vhdkit/vhd"
)

func createUsage(w io.Writer) {
	fmt.Fprint(w, `usage: vhd-util create -n NAME -s MiB [-S MiB] [-r] [-h]
  -n NAME  the VHD to create (an existing file is replaced)
  -s MiB   virtual size in MiB, rounded up to a multiple of 2 MiB
  -S MiB   size the metadata for a disk of this many MiB (fast resize)
  -r       make a fixed (raw) disk instead of a dynamic one
  -h       this help
`)
}

// maxCreateName is vhd-util create's limit on the length of NAME.
const maxCreateName = 1022

// runCreate is vhd-util create: a dynamic disk (fixed with -r) of -s MiB
// rounded up to 2 MiB, blktap's layout, creator "tap" 1.3.
func runCreate(args []string, stdout, stderr io.Writer) int {
	var name string
	var size, msize uint64
	var haveName, haveSize, fixed bool
	opts, operands := getopt(args, "n:s:S:rh", stderr)
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
			msize = strtoull(o.arg)
		case o.c == 'r':
			fixed = true
		}
	}
	if !haveName || !haveSize || len(operands) > 0 {
		createUsage(stdout)
		return errEINVAL
	}
	if msize != 0 && msize < size {
		fmt.Fprintln(stderr, "Error: <-S size> must be greater than <-s size>")
		return errEINVAL
	}
	fail := func(e int) int {
		fmt.Fprintf(stderr, "%s: failed to create: -%d\n", name, e)
		return e
	}
	if len(name) > maxCreateName {
		return fail(errENAMETOOLONG)
	}
	const maxMiB = vhd.MaxSize >> 20
	if size > maxMiB || msize > maxMiB {
		return fail(errEINVAL)
	}
	o := &vhd.CreateOptions{
		Type:         vhd.DiskDynamic,
		Size:         roundUp2MiB(int64(size) << 20),
		MetadataSize: roundUp2MiB(int64(msize) << 20),
		Overwrite:    true,
	}
	if fixed {
		o.Type, o.MetadataSize = vhd.DiskFixed, 0
	}
	f, err := vhd.Create(name, o)
	if err != nil {
		return fail(errno(err))
	}
	if err := f.Close(); err != nil {
		return fail(errno(err))
	}
	return 0
}

func roundUp2MiB(n int64) int64 { return (n + compatBlock - 1) &^ (compatBlock - 1) }
