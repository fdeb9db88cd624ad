package vhd

import (
	"context"
	"fmt"
	"slices"
)

// Unallocate makes every block of a dynamic or differencing disk
// unallocated, as vhd-util modify -z does: the batmap cleared, every BAT
// entry of the virtual size set to [Unallocated], the primary footer
// written at the end of the metadata ([File.EndOfHeaders]) and the file cut
// behind it. A dynamic disk then reads as zeros and a differencing disk as
// its parent (storage managers use this to drop a child's data). The bytes
// are the ones blktap's vhd-util leaves. A fixed disk fails with
// [ErrNotDynamic]; a disk with no block allocated is not written.
//
// The file is checked first, as every writer checks it, and nothing is
// written when it has problems. The changes are ordered so that a crash at
// any point leaves a file that opens with its primary footer and passes
// the full default Check: the batmap is cleared and synced first (a clear
// bit only sends reads to the block's bitmap), then the table is written
// in one write and synced (each block reads its old data until the write
// reaches the disk, the new afterwards; storage that tears the write leaves
// some blocks reading the old data and the others the new), then the
// footer is written at the end of the metadata and synced before the file
// is cut and the cut synced, as [File.Repair] does. Unallocate returns once
// the result is durable. The batmap's header and map are rewritten in one
// write when the map lies right behind its header, where blktap and
// [Create] put it, so that the map and its checksum change together; for a
// map elsewhere a crash between the two writes leaves a batmap whose
// checksum Check rejects.
//
// After an error the File forgets the tables it read and reads them again
// from the file, which holds the old state, the new one, or (for a failed
// table write) blocks of both.
func (f *File) Unallocate(ctx context.Context) error {
	if err := f.writable(); err != nil {
		return err
	}
	if f.Header == nil {
		return fmt.Errorf("vhd: %s: unallocate: %w", f.name, ErrNotDynamic)
	}
	if err := f.beginWrite(ctx, "unallocate its blocks"); err != nil {
		return err
	}
	defer f.mu.Unlock()
	if err := f.unallocate(); err != nil {
		f.forgetTables()
		return err
	}
	return nil
}

// unallocate does Unallocate's writes. The caller holds f.mu.
func (f *File) unallocate() error {
	fail := func(step string, err error) error {
		return fmt.Errorf("vhd: %s: unallocate: %s: %w", f.name, step, err)
	}
	eoh, err := f.endOfHeaders()
	if err != nil {
		return err
	}
	if bm := f.batmap; bm != nil && slices.ContainsFunc(bm.Map, func(b byte) bool { return b != 0 }) {
		m := make([]byte, len(bm.Map))
		hdr := bm.Header
		hdr.Checksum = (&Batmap{Header: hdr, Map: m}).ComputeChecksum(f.Footer.CurrentSize)
		if err := f.writeBatmap(hdr, m, 0, int64(len(m))/SectorSize); err != nil {
			return fail("clearing the batmap", err)
		}
		if err := f.Sync(); err != nil {
			return fail("syncing the batmap", err)
		}
		bm.Header, bm.Map = hdr, m
	}
	if slices.ContainsFunc(f.bat, func(e uint32) bool { return e != Unallocated }) {
		// The sectors holding the entries of the virtual size, whatever
		// else they hold (entries for a larger size, padding) kept.
		off := int64(f.Header.TableOffset)
		buf := make([]byte, pad512(int64(len(f.bat))*4))
		if err := f.readFull(buf, off); err != nil {
			return fail("reading the BAT", err)
		}
		for i := range len(f.bat) * 4 {
			buf[i] = 0xFF
		}
		if _, err := f.w.WriteAt(buf, off); err != nil {
			return fail(fmt.Sprintf("writing the BAT at %d", off), err)
		}
		if err := f.Sync(); err != nil {
			return fail("syncing the BAT", err)
		}
		for i := range f.bat {
			f.bat[i] = Unallocated
		}
	}
	f.eod = eoh
	return f.commitFooterAt(f.Footer, eoh, "unallocate")
}

// writeBatmap writes the batmap header hdr and sectors [lo, hi) of the map
// m (the whole map as it is to be). When the map lies right behind its
// header, as blktap and Create place it, the header and the map up to
// sector hi go in one write, so that no crash separates the map from its
// checksum; elsewhere the map sectors are written, then the header. The
// caller holds f.mu and updates f.batmap once the write is durable.
func (f *File) writeBatmap(hdr BatmapHeader, m []byte, lo, hi int64) error {
	bm := f.batmap
	hb, _ := hdr.MarshalBinary()
	if int64(hdr.Offset) == bm.HeaderOffset+SectorSize {
		buf := make([]byte, 0, (1+hi)*SectorSize)
		buf = append(append(buf, hb...), m[:hi*SectorSize]...)
		_, err := f.w.WriteAt(buf, bm.HeaderOffset)
		return err
	}
	if _, err := f.w.WriteAt(m[lo*SectorSize:hi*SectorSize], int64(hdr.Offset)+lo*SectorSize); err != nil {
		return err
	}
	_, err := f.w.WriteAt(hb, bm.HeaderOffset)
	return err
}

// forgetTables drops the BAT, the batmap and the end of the data read
// from the file, so that they are read again: after a failed write the
// file may hold other tables than those in memory. The caller holds f.mu.
func (f *File) forgetTables() {
	f.bat, f.batErr, f.batLoaded = nil, nil, false
	f.batmap, f.batmapErr, f.batmapLoaded = nil, nil, false
	f.eod = 0
}
