package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"syscall"

	"github.com/vhdkit/vhdkit/vhd"
)

func queryUsage(w io.Writer) {
	fmt.Fprint(w, "options: <-n name> [-v print virtual size (in MB)] [-s print physical utilization (bytes)] [-p print parent] [-f print fields] [-m print marker] [-d print chain depth] [-S print max virtual size (MB) for fast resize] [-a print allocated block count] [-u don't resolve parent path] [-h help]\n")
}

// runQuery is vhd-util query. The lines come out in a fixed order
// (v, s, p, f, m, d, a, S) whatever the order of the flags; every item
// requested is printed even when an earlier one failed, and the exit status
// is the first error.
func runQuery(args []string, stdout, stderr io.Writer) int {
	var name string
	var haveName, virt, phys, parent, hidden, marker, depth, alloc, maxSize, raw bool
	opts, operands := getopt("query", args, "n:vspfdSmauh", stderr)
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

	f, err := vhd.OpenBlockDevice(name, os.O_RDONLY)
	if err != nil {
		e := openErrno(name, err)
		fmt.Fprintf(stdout, "error opening %s: -%d\n", name, e)
		return e
	}
	defer f.Close()
	c := newCompat(f)
	defer c.close()

	status := 0
	fail := func(err error) int {
		e := errno(err)
		if status == 0 {
			status = e
		}
		return e
	}
	if virt {
		printUint(stdout, "", f.Footer.CurrentSize>>20)
	}
	if phys {
		if n, err := c.physicalSize(); err != nil {
			fmt.Fprintf(stdout, "failed to get physical size: -%d\n", fail(err))
		} else {
			printUint(stdout, "", n)
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
		if h, err := c.hidden(); err != nil {
			fmt.Fprintf(stdout, "error checking 'hidden' field: -%d\n", fail(err))
		} else {
			printInt(stdout, "hidden: ", int64(int8(h))) // a C char
		}
	}
	if marker {
		if m, err := c.marker(); err != nil {
			fmt.Fprintf(stdout, "error checking 'marker' field: -%d\n", fail(err))
		} else {
			printInt(stdout, "marker: ", int64(int8(m))) // a C char
		}
	}
	if depth {
		if d, err := chainDepth(name); err != nil {
			e := depthErrno(err)
			fail(syscall.Errno(e))
			fmt.Fprintf(stdout, "error checking chain depth: -%d\n", e)
		} else {
			printInt(stdout, "chain depth: ", int64(d))
		}
	}
	if alloc {
		if n, err := c.allocated(); err != nil {
			fmt.Fprintf(stdout, "error reading bat: -%d\n", fail(err))
		} else {
			printInt(stdout, "", int64(n))
		}
	}
	if maxSize {
		var entries uint32
		if f.Header != nil {
			entries = f.Header.MaxTableEntries
		}
		printUint(stdout, "", uint64(entries<<1)) // 32 bits, as vhd-util computes it
	}
	return status
}

// compatBlock is the block size libvhd assumes when it reads the BAT,
// whatever the header says.
const compatBlock = 2 << 20

// printInt writes prefix, n in decimal and a newline, in one write. The
// answers query gives go out this way rather than through fmt, whose first
// call (its printer pool, a deeper stack) costs a measurable part of a
// query, which the storage manager forks once per disk.
func printInt(w io.Writer, prefix string, n int64) {
	var b [64]byte
	w.Write(append(strconv.AppendInt(append(b[:0], prefix...), n, 10), '\n'))
}

// printUint is printInt for an unsigned number.
func printUint(w io.Writer, prefix string, n uint64) {
	var b [64]byte
	w.Write(append(strconv.AppendUint(append(b[:0], prefix...), n, 10), '\n'))
}
