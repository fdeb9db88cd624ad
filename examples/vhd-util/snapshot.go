package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/vhdkit/vhdkit/vhd"
)

func snapshotUsage(w io.Writer) {
	fmt.Fprint(w, "options: <-n name> <-p parent name> [-l snapshot depth limit] [-m parent_is_raw] [-S size (MB) for metadata preallocation (see vhd-util resize)] [-e link to supplied parent name even if it's empty] [-h help]\n")
}

// runSnapshot is vhd-util snapshot: a new differencing disk whose parent is
// PARENT, or by default the first ancestor of PARENT that is not an empty
// differencing disk. The parent is never written.
func runSnapshot(args []string, stdout, stderr io.Writer) int {
	var name, parent string
	var limit int64
	var msize uint64
	var haveName, haveParent, raw, noSkip bool
	opts, operands := getopt("snapshot", args, "n:p:S:l:meh", stderr)
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
		// vhd-util's size arithmetic wraps here; XenServer's limit.
		return errEINVAL
	}
	so := &vhd.SnapshotOptions{
		SkipEmptyParents: !noSkip,
		Parents:          newResolver(),
		Raw:              raw,
		Size:             roundUp2MiB(int64(msize) << 20),
		Overwrite:        true,
	}
	// vhd-util keeps the limit in a C int, and any nonzero one counts: a
	// negative limit is always exceeded (depth 1 + 1 > 1 finds the depth).
	lim := int(int32(limit))
	switch {
	case raw:
	case lim > 0:
		so.DepthLimit = lim
	case lim < 0:
		so.DepthLimit = 1
	}
	f, err := vhd.Snapshot(name, parent, so)
	if err == nil {
		err = f.Close()
	}
	var de *vhd.DepthError
	switch {
	case errors.As(err, &de):
		fmt.Fprintf(stdout, "snapshot depth exceeded: current depth: %d, limit: %d\n", de.Depth, lim)
		return errENOSPC
	case err != nil:
		if !raw {
			// A parent that does not open fails as libvhd's open fails.
			if pf, perr := vhd.Open(parent); perr != nil {
				return openErrno(parent, perr)
			} else {
				pf.Close()
			}
		}
		if _, perr := os.Stat(parent); perr == nil {
			if _, derr := os.Stat(filepath.Dir(name)); derr != nil {
				// vhd-util finds this when it opens the child, and says so.
				err = &fs.PathError{Op: "open", Path: name, Err: derr}
			}
		}
		if refusedParent(stderr, parent, err) {
			return errEINVAL
		}
		return createFailed(name, err, stderr)
	}
	return 0
}
