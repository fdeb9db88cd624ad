package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"

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

// fillBlocks reads each block of the table through the chain and writes it
// back. Like vhd-util it stops with ERANGE at the first block past the
// virtual size (a table preallocated for growth).
func fillBlocks(f *vhd.File, name string) int {
	var src io.ReaderAt = f
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
	buf := make([]byte, bs)
	for i := int64(0); i < int64(f.Header.MaxTableEntries); i++ {
		if (i+1)*bs > f.VirtualSize() {
			return errERANGE
		}
		if _, err := src.ReadAt(buf, i*bs); err != nil {
			return errno(err)
		}
		if _, err := f.WriteAt(buf, i*bs); err != nil {
			return errno(err)
		}
	}
	if err := f.Sync(); err != nil {
		return errno(err)
	}
	return 0
}

// allocateFast is fill -b: each unallocated block of the range gets a BAT
// entry at the end of the data (its data page-aligned, as blktap places
// blocks) and an all-ones bitmap; the data is not written and reads as
// zeros. Unlike vhd-util it leaves blocks already allocated alone (vhd-util
// re-points them, losing their data) and writes the footer at the new end
// of the data (vhd-util leaves none), with the bitmaps, the BAT and the
// footer each synced before the next.
func allocateFast(f *vhd.File, name string, from, to uint64, ignore2TB bool, stdout io.Writer) int {
	spb := uint64(f.Header.BlockSize) / vhd.SectorSize
	bmSecs := sectorsNoZero(spb / 8)
	entries := compatBlocks(f)
	fromExt, toExt := uint64(0), entries-1
	if from != math.MaxUint64 {
		fromExt = from / spb
	}
	if to != math.MaxUint64 {
		toExt = to / spb
	}
	toExt = min(toExt, entries-1)
	c := newCompat(f)
	defer c.close()
	phys, err := c.physicalSize()
	if err != nil {
		return errno(err)
	}
	const spp = 4096 / vhd.SectorSize
	next := (phys - vhd.FooterSize) / vhd.SectorSize
	align := func() {
		if r := (next + bmSecs) % spp; r != 0 {
			next += spp - r
		}
	}
	align()
	w, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return errno(err)
	}
	defer w.Close()
	batBuf := make([]byte, sectorsNoZero(entries*4)*vhd.SectorSize)
	if _, err := w.ReadAt(batBuf, int64(f.Header.TableOffset)); err != nil {
		return errno(err)
	}
	ones := make([]byte, bmSecs*vhd.SectorSize)
	for i := range ones[:spb/8] {
		ones[i] = 0xff
	}
	end := uint64(0)
	for i := fromExt; i <= toExt && fromExt <= toExt; i++ {
		e := be32(batBuf[i*4:])
		if e != vhd.Unallocated {
			continue
		}
		if next > math.MaxUint32 && !ignore2TB {
			fmt.Fprintf(stdout, "sector offset for extent %d exceeds the 2 TB limit\n", i)
			return errEOVERFLOW
		}
		if next > math.MaxUint32 {
			return errEOVERFLOW // a BAT entry cannot hold it
		}
		putBE32(batBuf[i*4:], uint32(next))
		if _, err := w.WriteAt(ones, int64(next)*vhd.SectorSize); err != nil {
			return errno(err)
		}
		end = (next + bmSecs + spb) * vhd.SectorSize
		next += bmSecs + spb
		align()
	}
	if end == 0 {
		return 0
	}
	if err := w.Sync(); err != nil {
		return errno(err)
	}
	if _, err := w.WriteAt(batBuf, int64(f.Header.TableOffset)); err != nil {
		return errno(err)
	}
	if err := w.Sync(); err != nil {
		return errno(err)
	}
	ft := f.Footer
	return rewriteFooterAt(w, &ft, int64(end))
}

const errEOVERFLOW = 75

func be32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func putBE32(b []byte, v uint32) {
	b[0], b[1], b[2], b[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
}
