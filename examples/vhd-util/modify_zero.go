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

// zeroDisk is modify -z: every block unallocated (the BAT entries libvhd
// reads set unused, the batmap cleared), the footer rewritten at the new end
// of the data and the file cut behind it, so that a differencing disk then
// reads as its parent. The bytes left are blktap's; the order is safer:
// batmap, BAT, then the footer, each synced before the next, so a crash
// leaves a file that opens and reads either the old data or (no block
// allocated) the new.
func zeroDisk(name string, stdout io.Writer) int {
	e := zeroBlocks(name)
	if e != 0 {
		fmt.Fprintf(stdout, "failed to zero VHD: -%d\n", e)
	}
	return e
}

func zeroBlocks(name string) int {
	f, err := vhd.Open(name)
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
	// Refuse what any writer refuses; the parent is not needed here.
	rep, err := f.Check(context.Background(), &vhd.CheckOptions{Name: name, UseBackupFooter: true})
	if rep == nil || !rep.ValidSoFar() {
		if err != nil {
			return errno(err)
		}
		return errEINVAL
	}
	w, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return errno(err)
	}
	defer w.Close()
	// The batmap first: a clear bit only sends reads to the bitmap.
	bm, err := f.Batmap()
	switch {
	case err == nil:
		spb := uint64(f.Header.BlockSize) / vhd.SectorSize
		clearBytes := sectorsNoZero((f.Footer.CurrentSize/vhd.SectorSize/spb)>>3) * vhd.SectorSize
		clear(bm.Map[:min(uint64(len(bm.Map)), clearBytes)])
		bm.Header.Checksum = bm.ComputeChecksum(f.Footer.CurrentSize)
		mapBytes := sectorsNoZero(f.Footer.CurrentSize>>24) * vhd.SectorSize
		if _, err := w.WriteAt(bm.Map[:min(uint64(len(bm.Map)), mapBytes)], int64(bm.Header.Offset)); err != nil {
			return errno(err)
		}
		hb, _ := bm.Header.MarshalBinary()
		if _, err := w.WriteAt(hb, bm.HeaderOffset); err != nil {
			return errno(err)
		}
		if err := w.Sync(); err != nil {
			return errno(err)
		}
	case !errors.Is(err, vhd.ErrNoBatmap):
		return errno(err)
	}
	// Then the BAT: the entries libvhd reads, in the sectors it writes.
	n := compatBlocks(f)
	bat := make([]byte, sectorsNoZero(n*4)*vhd.SectorSize)
	if _, err := w.ReadAt(bat, int64(f.Header.TableOffset)); err != nil {
		return errno(err)
	}
	for i := range n * 4 {
		bat[i] = 0xff
	}
	if _, err := w.WriteAt(bat, int64(f.Header.TableOffset)); err != nil {
		return errno(err)
	}
	if err := w.Sync(); err != nil {
		return errno(err)
	}
	// Finally the footer, at the end of the metadata.
	c := newCompat(f)
	defer c.close()
	eod, err := c.endOfHeaders()
	if err != nil {
		return errno(err)
	}
	return rewriteFooterAt(w, &f.Footer, eod)
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
