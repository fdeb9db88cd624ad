package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/vhdkit/vhdkit/vhd"
)

// errENOSYS is modify -z's status for a fixed disk.
const errENOSYS = 38

// zeroDisk is modify -z: every block unallocated, the footer at the end of
// the metadata and the file cut behind it, so that a differencing disk then
// reads as its parent (vhd.File.Unallocate). The bytes left are blktap's;
// the order is crash-safe: batmap, BAT, then the footer and the cut, each
// synced before the next.
func zeroDisk(name string, stdout io.Writer) int {
	e := zeroBlocks(name)
	if e != 0 {
		fmt.Fprintf(stdout, "failed to zero VHD: -%d\n", e)
	}
	return e
}

func zeroBlocks(name string) int {
	f, err := vhd.OpenFile(name, os.O_RDWR)
	if err != nil {
		return openErrno(name, err)
	}
	defer f.Close()
	if f.Header == nil {
		return errENOSYS
	}
	if f.Header.MaxTableEntries < uint32(compatBlocks(f)) {
		return errEINVAL
	}
	if err := f.Unallocate(context.Background()); err != nil {
		var ce *vhd.CheckError
		if errors.As(err, &ce) {
			return errEINVAL // refused, as any writer refuses such a file
		}
		return errno(err)
	}
	return 0
}

// rewriteFooterAt writes ft (checksum recomputed) at off, syncs, cuts the
// file behind it, syncs, and writes the copy at offset 0 of a dynamic disk,
// synced: blktap's footer rewrite (FORMAT.md §9.5) in crash-safe order.
func rewriteFooterAt(w *os.File, ft *vhd.Footer, off int64) int {
	ft.UpdateChecksum()
	b, _ := ft.MarshalBinary()
	if _, err := w.WriteAt(b, off); err != nil {
		return errno(err)
	}
	if err := w.Sync(); err != nil {
		return errno(err)
	}
	if err := w.Truncate(off + vhd.FooterSize); err != nil {
		return errno(err)
	}
	if err := w.Sync(); err != nil {
		return errno(err)
	}
	if ft.IsDynamic() {
		if _, err := w.WriteAt(b, 0); err != nil {
			return errno(err)
		}
		if err := w.Sync(); err != nil {
			return errno(err)
		}
	}
	return 0
}

// sectorsNoZero is libvhd's secs_round_up_no_zero: bytes rounded up to
// whole sectors, at least one.
func sectorsNoZero(bytes uint64) uint64 {
	return max(1, (bytes+vhd.SectorSize-1)/vhd.SectorSize)
}
