package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/vhdkit/vhdkit/vhd"
)

func snapshotUsage(w io.Writer) {
	fmt.Fprint(w, `usage: vhd-util snapshot -n CHILD -p PARENT [-m] [-e] [-l LIMIT] [-S MiB] [-h]
  -n CHILD   the differencing VHD to create (an existing file is replaced)
  -p PARENT  its parent
  -m         PARENT is a raw image, not a VHD
  -e         link to PARENT even if it is an empty differencing disk
  -l LIMIT   refuse a chain deeper than LIMIT
  -S MiB     size the metadata for a disk of this many MiB (fast resize)
  -h         this help
`)
}

// runSnapshot is vhd-util snapshot: a new differencing disk whose parent is
// PARENT, or by default the first ancestor of PARENT that is not an empty
// differencing disk. The parent is never written.
func runSnapshot(args []string, stdout, stderr io.Writer) int {
	var name, parent string
	var limit int64
	var msize uint64
	var haveName, haveParent, raw, noSkip bool
	opts, operands := getopt(args, "n:p:S:l:meh", stderr)
	for _, o := range opts {
		switch {
		case o.bad:
			snapshotUsage(stdout)
			return errEINVAL
		case o.c == 'h':
			snapshotUsage(stdout)
			return 0
		case o.c == 'n':
			name, haveName = o.arg, true
		case o.c == 'p':
			parent, haveParent = o.arg, true
		case o.c == 'S':
			msize = strtoull(o.arg)
		case o.c == 'l':
			limit = strtol(o.arg)
		case o.c == 'm':
			raw = true
		case o.c == 'e':
			noSkip = true
		}
	}
	if !haveName || !haveParent || len(operands) > 0 {
		snapshotUsage(stdout)
		return errEINVAL
	}
	const maxMiB = vhd.MaxSize >> 20
	if msize > maxMiB {
		fmt.Fprintf(stdout, "failed to create %s: -%d\n", name, errEINVAL)
		return errEINVAL
	}
	so := &vhd.SnapshotOptions{
		SkipEmptyParents: !noSkip,
		Parents:          newResolver(),
		Raw:              raw,
		Size:             roundUp2MiB(int64(msize) << 20),
		Overwrite:        true,
	}
	if limit > 0 {
		so.DepthLimit = int(min(limit, 1<<30))
	}
	f, err := vhd.Snapshot(name, parent, so)
	if err == nil {
		err = f.Close()
	}
	var de *vhd.DepthError
	switch {
	case errors.As(err, &de):
		fmt.Fprintf(stdout, "snapshot depth exceeded: current depth: %d, limit: %d\n", de.Depth, de.Limit)
		return errENOSPC
	case err != nil:
		e := errno(err)
		fmt.Fprintf(stdout, "failed to create %s: -%d\n", name, e)
		return e
	}
	return 0
}
