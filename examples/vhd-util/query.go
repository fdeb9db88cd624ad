package main

import (
	"fmt"
	"io"

	"github.com/vhdkit/vhdkit/vhd"
)

func queryUsage(w io.Writer) {
	fmt.Fprint(w, `usage: vhd-util query -n NAME [-v] [-s] [-p] [-f] [-m] [-d] [-a] [-S] [-u] [-h]
  -n NAME  the VHD to query
  -v       virtual size in MiB (rounded down)
  -s       physical size in bytes, from the metadata
  -p       resolved path of the parent
  -u       with -p: the parent locator as stored, unresolved
  -f       the hidden flag
  -m       the marker flag
  -d       depth of the chain (this VHD and its ancestors)
  -a       number of allocated blocks
  -S       largest virtual size in MiB reachable by fast resize
  -h       this help
`)
}

// runQuery is vhd-util query. The lines come out in a fixed order
// (v, s, p, f, m, d, a, S) whatever the order of the flags; every item
// requested is printed even when an earlier one failed, and the exit status
// is the first error.
func runQuery(args []string, stdout, stderr io.Writer) int {
	var name string
	var haveName, virt, phys, parent, hidden, marker, depth, alloc, maxSize, raw bool
	opts, operands := getopt(args, "n:vspfdSmauh", stderr)
	for _, o := range opts {
		switch {
		case o.bad:
			queryUsage(stdout)
			return errEINVAL
		case o.c == 'n':
			name, haveName = o.arg, true
		case o.c == 'v':
			virt = true
		case o.c == 's':
			phys = true
		case o.c == 'p':
			parent = true
		case o.c == 'f':
			hidden = true
		case o.c == 'm':
			marker = true
		case o.c == 'd':
			depth = true
		case o.c == 'a':
			alloc = true
		case o.c == 'S':
			maxSize = true
		case o.c == 'u':
			raw = true
		case o.c == 'h':
			queryUsage(stdout)
			return 0
		}
	}
	if !haveName || len(operands) > 0 {
		queryUsage(stdout)
		return errEINVAL
	}

	f, err := vhd.Open(name)
	if err != nil {
		e := openErrno(err)
		fmt.Fprintf(stdout, "error opening %s: -%d\n", name, e)
		return e
	}
	defer f.Close()

	status := 0
	fail := func(err error) int {
		e := errno(err)
		if status == 0 {
			status = e
		}
		return e
	}
	if virt {
		fmt.Fprintf(stdout, "%d\n", f.Footer.CurrentSize>>20)
	}
	if phys {
		if n, err := physicalSize(f); err != nil {
			fmt.Fprintf(stdout, "failed to get physical size: -%d\n", fail(err))
		} else {
			fmt.Fprintf(stdout, "%d\n", n)
		}
	}
	if parent {
		switch {
		case !f.HasParent():
			fmt.Fprintf(stdout, "%s has no parent\n", name)
		case raw:
			if p, err := rawLocator(f); err != nil {
				fail(err)
				fmt.Fprintln(stdout, "query failed")
			} else {
				fmt.Fprintln(stdout, p)
			}
		default:
			if p, err := parentPath(f); err != nil {
				fail(err)
				fmt.Fprintln(stdout, "query failed")
			} else {
				fmt.Fprintln(stdout, p)
			}
		}
	}
	if hidden {
		if h, err := f.Hidden(); err != nil {
			fmt.Fprintf(stdout, "error checking 'hidden' field: -%d\n", fail(err))
		} else {
			fmt.Fprintf(stdout, "hidden: %d\n", h)
		}
	}
	if marker {
		if m, err := readMarker(f); err != nil {
			fmt.Fprintf(stdout, "error checking 'marker' field: -%d\n", fail(err))
		} else {
			fmt.Fprintf(stdout, "marker: %d\n", m)
		}
	}
	if depth {
		if d, err := chainDepth(name); err != nil {
			fmt.Fprintf(stdout, "error checking chain depth: -%d\n", fail(err))
		} else {
			fmt.Fprintf(stdout, "chain depth: %d\n", d)
		}
	}
	if alloc {
		if n, err := allocatedBlocks(f); err != nil {
			fmt.Fprintf(stdout, "error reading bat: -%d\n", fail(err))
		} else {
			fmt.Fprintf(stdout, "%d\n", n)
		}
	}
	if maxSize {
		var entries uint32
		if f.Header != nil {
			entries = f.Header.MaxTableEntries
		}
		fmt.Fprintf(stdout, "%d\n", uint64(entries)*2)
	}
	return status
}

// compatBlock is the block size libvhd assumes when it reads the BAT,
// whatever the header says (spec 11.2).
const compatBlock = 2 << 20

// compatEntries is the number of BAT entries libvhd reads: one per 2 MiB of
// virtual size, at most the table's size.
func compatEntries(f *vhd.File, bat []uint32) []uint32 {
	n := (f.Footer.CurrentSize + compatBlock - 1) / compatBlock
	return bat[:min(uint64(len(bat)), n)]
}

// allocatedBlocks is query -a: allocated entries among the BAT entries
// libvhd reads. A fixed disk has no BAT: EINVAL.
func allocatedBlocks(f *vhd.File) (int64, error) {
	if f.Header == nil {
		return 0, vhd.ErrNotDynamic
	}
	bat, err := f.BAT()
	if err != nil {
		return 0, err
	}
	var n int64
	for _, e := range compatEntries(f, bat) {
		if e != vhd.Unallocated {
			n++
		}
	}
	return n, nil
}

// physicalSize is query -s: the end of data plus the footer, from the
// metadata, counting only the BAT entries libvhd reads (spec 1.13, 11.2).
func physicalSize(f *vhd.File) (int64, error) {
	if f.Header == nil {
		return f.PhysicalSize()
	}
	end, err := f.EndOfHeaders()
	if err != nil {
		return 0, err
	}
	bat, err := f.BAT()
	if err != nil {
		return 0, err
	}
	spb := int64(f.Header.BlockSize) / vhd.SectorSize
	bmSecs := max(1, (spb/8+vhd.SectorSize-1)/vhd.SectorSize)
	for _, e := range compatEntries(f, bat) {
		if e != vhd.Unallocated {
			end = max(end, (int64(e)+bmSecs+spb)*vhd.SectorSize)
		}
	}
	return end + vhd.FooterSize, nil
}
