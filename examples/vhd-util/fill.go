package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/vhdkit/vhdkit/chain"
	"github.com/vhdkit/vhdkit/vhd"
)

func fillUsage(w io.Writer) {
	fmt.Fprint(w, "options: <-n name> [-h help] [-b initialise the BAT and bitmaps, "+
		"don't write to the data blocks (much faster)] [-f start "+
		"intialisation from this sector, only usable with -b] [-t "+
		"intialise up to this sector (inclusive), only usable with -b] "+
		"[-B ignore the 2 TB limit, only usable with -b]\n")
}

// runFill is vhd-util fill: every block of the table read and written back
// whole, so that every block is allocated and holds what the disk read as;
// with -b, the blocks of a sector range (-f, -t) are allocated without
// writing their data: their BAT entries and all-ones bitmaps.
func runFill(args []string, stdout, stderr io.Writer) int {
	var name string
	var haveName, initBAT, ignore2TB bool
	from, to := uint64(math.MaxUint64), uint64(math.MaxUint64)
	opts, operands := getopt("fill", args, "n:f:t:bBh", stderr)
	for _, o := range opts {
		switch {
		case o.bad, o.c == 'h':
			fillUsage(stdout)
			return errEINVAL
		case o.c == 'n':
			name, haveName = o.arg, true
		case o.c == 'f':
			from = strtoull(o.arg)
		case o.c == 't':
			to = strtoull(o.arg)
		case o.c == 'b':
			initBAT = true
		case o.c == 'B':
			ignore2TB = true
		}
	}
	if !haveName || len(operands) > 0 {
		fillUsage(stdout)
		return errEINVAL
	}
	if (from != math.MaxUint64 || to != math.MaxUint64) && !initBAT {
		fmt.Fprintf(stdout, "-f/-t can only be used with -b\n")
		fillUsage(stdout)
		return errEINVAL
	}
	if from != math.MaxUint64 && to != math.MaxUint64 && to < from {
		fmt.Fprintf(stdout, "invalid sector range %d-%d\n", from, to)
		fillUsage(stdout)
		return errEINVAL
	}
	if ignore2TB && !initBAT {
		fmt.Fprintf(stdout, "-B can only be used with -b\n")
		fillUsage(stdout)
		return errEINVAL
	}
	f, code := openWritable(name, stdout)
	if f == nil {
		return code
	}
	defer f.Close()
	if f.Header == nil || f.Header.MaxTableEntries < uint32(compatBlocks(f)) {
		return errEINVAL
	}
	if initBAT {
		return allocateFast(f, name, from, to, ignore2TB, stdout)
	}
	return fillBlocks(f, name)
}

// fillBlocks is fill: every block of the table written with what the disk
// reads as, through the chain (vhd.File.Fill). Like vhd-util it stops with
// ERANGE at the first block past the virtual size (a table preallocated for
// growth, or a last block the size ends within), having filled the ones
// before it.
func fillBlocks(f *vhd.File, name string) int {
	if f.HasParent() {
		c, err := chain.Walk(context.Background(), name, &chain.Options{Mode: chain.Compat, MaxDepth: maxDepth})
		if err != nil {
			return errno(err)
		}
		defer c.Close()
		// The parent's data, read through the rest of the chain.
		if len(c.Links) > 1 {
			f.AttachParent(c.Links[1].File)
		}
	}
	bs := int64(f.Header.BlockSize)
	whole := f.VirtualSize() / bs
	n := min(int64(f.Header.MaxTableEntries), whole)
	if err := f.Fill(context.Background(), 0, n*bs); err != nil {
		return errno(err)
	}
	if int64(f.Header.MaxTableEntries) > whole {
		return errERANGE
	}
	return 0
}

// allocateFast is fill -b: each unallocated block of the sector range gets
// a place at the end of the data and an all-ones bitmap, its data not
// written (vhd.File.Allocate). Unlike vhd-util it leaves blocks already
// allocated alone (vhd-util re-points them, losing their data) and writes
// the footer behind the new blocks (vhd-util leaves none), in crash-safe
// order.
func allocateFast(f *vhd.File, name string, from, to uint64, ignore2TB bool, stdout io.Writer) int {
	spb := uint64(f.Header.BlockSize) / vhd.SectorSize
	entries := compatBlocks(f)
	fromExt, toExt := uint64(0), entries-1
	if from != math.MaxUint64 {
		fromExt = from / spb
	}
	if to != math.MaxUint64 {
		toExt = to / spb
	}
	toExt = min(toExt, entries-1)
	if entries == 0 || fromExt > toExt {
		return 0
	}
	bs := int64(f.Header.BlockSize)
	off := int64(fromExt) * bs
	n := min(int64(toExt-fromExt+1)*bs, f.VirtualSize()-off)
	err := f.Allocate(context.Background(), off, n)
	var be *vhd.BlockError
	if errors.As(err, &be) && errors.Is(err, vhd.ErrTooLarge) {
		if !ignore2TB {
			fmt.Fprintf(stdout, "sector offset for extent %d exceeds the 2 TB limit\n", be.Block)
		}
		return errEOVERFLOW
	}
	if err != nil {
		return errno(err)
	}
	return 0
}

const errEOVERFLOW = 75
