package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/vhdkit/vhdkit/chain"
	"github.com/vhdkit/vhdkit/vhd"
)

func coalesceUsage(w io.Writer) {
	fmt.Fprint(w, "options: <-n name> [-s sparse] [-p progress] [-h help]\n")
}

// errERANGE is what vhd-util coalesce fails with, midway, when the child
// is larger than its parent; this drop-in refuses before writing.
const errERANGE = 34

// errEBUSY reports a parent another coalesce holds locked.
const errEBUSY = 16

// runCoalesce is vhd-util coalesce -n CHILD [-s] [-p]: it copies the
// child's sectors into its parent with chain.Coalesce, which checks both
// files first, refuses a child larger than its parent before writing, and
// orders its writes so that a crash leaves a valid parent and a rerun
// finishes the job. Its output is vhd-util's, byte for byte.
func runCoalesce(args []string, stdout, stderr io.Writer) int {
	var name string
	var haveName, sparse, progress bool
	opts, operands := getopt("coalesce", args, "n:o:a:x:sph", stderr)
	for _, o := range opts {
		switch {
		case o.bad, o.c == 'h', o.c == 'o', o.c == 'a', o.c == 'x':
			coalesceUsage(stdout)
			return errEINVAL
		case o.c == 'n':
			name, haveName = o.arg, true
		case o.c == 's':
			sparse = true
		case o.c == 'p':
			progress = true
		}
	}
	if !haveName || len(operands) > 0 {
		coalesceUsage(stdout)
		return errEINVAL
	}
	fail := func(code int) int {
		fmt.Fprintf(stdout, "error coalescing: -%d\n", code)
		return code
	}
	child, err := vhd.OpenBlockDevice(name, os.O_RDONLY)
	if err != nil {
		code := openErrno(name, err)
		fmt.Fprintf(stdout, "error opening %s: -%d\n", name, code)
		return fail(code)
	}
	entries := int64(0)
	if child.Header != nil {
		entries = int64(child.Header.MaxTableEntries)
	}
	if !child.HasParent() {
		child.Close()
		fmt.Fprintf(stdout, "coalescing of non-differencing disks is not supported\n")
		return fail(errEINVAL)
	}
	pname, err := parentPath(child)
	raw := child.ParentUUID().IsZero()
	child.Close()
	if err != nil {
		code := errno(err)
		fmt.Fprintf(stdout, "error finding %s parent: -%d\n", name, code)
		return fail(code)
	}
	// Open the parent as vhd-util does, for its messages; chain.Coalesce
	// opens it again.
	if raw {
		f, err := os.OpenFile(pname, os.O_RDWR, 0)
		if err != nil {
			code := errno(err)
			fmt.Fprintf(stdout, "failed to open parent %s: -%d\n", pname, code)
			return fail(code)
		}
		f.Close()
	} else {
		if sparse {
			fmt.Fprintf(stdout, "opening for sparse writes\n")
		}
		p, err := vhd.OpenBlockDevice(pname, os.O_RDWR)
		if err == nil && p.Footer.Disabled() {
			err = vhd.ErrDisabled
		}
		if err != nil {
			code := openErrno(pname, err)
			fmt.Fprintf(stdout, "error opening %s: -%d\n", pname, code)
			return fail(code)
		}
		p.Close()
	}
	pr := &percent{w: stdout, entries: entries}
	copts := &chain.CoalesceOptions{Mode: chain.Compat, Sparse: sparse}
	if progress {
		copts.Progress = pr.update
	}
	res, err := chain.Coalesce(context.Background(), name, copts)
	if err != nil {
		return fail(coalesceErrno(err))
	}
	if progress {
		pr.finish()
	}
	fmt.Fprintf(stdout, "Coalesced %d sectors", res.Sectors)
	return 0
}

// coalesceErrno maps a chain.Coalesce error to vhd-util's errno.
func coalesceErrno(err error) int {
	switch {
	case errors.Is(err, chain.ErrLargerThanParent):
		return errERANGE
	case errors.Is(err, chain.ErrLocked):
		return errEBUSY
	}
	return errno(err)
}

// percent prints vhd-util coalesce -p's progress: "\r%6.2f%%" before each
// of the child's BAT entries, then "\r100.00%\n". The lines depend only on
// the number of entries; they are printed as the copy gets through them.
type percent struct {
	w       io.Writer
	entries int64
	printed int64
}

func (p *percent) update(pr chain.Progress) {
	upto := p.entries
	if pr.Total > 0 {
		upto = pr.Done * p.entries / pr.Total
	}
	p.upto(upto)
}

func (p *percent) upto(n int64) {
	for ; p.printed < min(n, p.entries); p.printed++ {
		// blktap computes (float)i / (float)entries * 100.00.
		v := float64(float32(p.printed)/float32(p.entries)) * 100.00
		fmt.Fprintf(p.w, "\r%6.2f%%", v)
	}
}

func (p *percent) finish() {
	p.upto(p.entries)
	fmt.Fprintf(p.w, "\r100.00%%\n")
}
