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
	target := parent
	if so.SkipEmptyParents {
		t, code := snapshotTarget(parent)
		if code != 0 {
			return code
		}
		if t != "" && t != parent {
			size, tsize := virtualSize(parent), virtualSize(t)
			switch {
			case size == 0:
				// vhd-util takes a size of 0 for "the target's".
				target, so.SkipEmptyParents = t, false
			case size < tsize:
				// vhd-util refuses a child smaller than its parent.
				return errEINVAL
			}
		}
	}
	f, err := vhd.Snapshot(name, target, so)
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
			if pf, perr := vhd.OpenBlockDevice(parent, os.O_RDONLY); perr != nil {
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

// snapshotTarget walks from parent past the differencing disks that hold
// no block, as vhd-util snapshot finds the disk it links the child to,
// reading each BAT as libvhd does: a BAT smaller than the disk's size needs
// fails with EINVAL, one past the end with EPIPE; that errno is returned.
// The walk stops with target "" where vhd.Snapshot's own walk decides
// (a link that does not open, a parent that does not resolve, a raw
// parent): it reports those failures as vhd-util does.
func snapshotTarget(parent string) (target string, code int) {
	cur := parent
	for range 1024 {
		f, err := vhd.OpenBlockDevice(cur, os.O_RDONLY)
		if err != nil || f.Footer.Disabled() {
			if f != nil {
				f.Close()
			}
			return "", 0
		}
		if f.Footer.DiskType != vhd.DiskDifferencing {
			f.Close()
			return cur, 0
		}
		c := newCompat(f)
		n, err := c.allocated()
		c.close()
		if err != nil || n > 0 || f.ParentUUID().IsZero() {
			f.Close()
			if err != nil {
				return "", errno(err)
			}
			if n > 0 {
				return cur, 0
			}
			return "", 0
		}
		next, _, err := newResolver().Parent(f)
		f.Close()
		if err != nil {
			return "", 0
		}
		cur = next
	}
	return "", 0
}

// virtualSize is the footer's current size of the VHD at name, 0 when it
// does not open.
func virtualSize(name string) uint64 {
	f, err := vhd.OpenBlockDevice(name, os.O_RDONLY)
	if err != nil {
		return 0
	}
	defer f.Close()
	return f.Footer.CurrentSize
}
