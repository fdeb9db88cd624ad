package vhd

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
)

// dataAlign is the alignment blktap gives the data region of new blocks.
const dataAlign = 4096

// prepare loads the BAT and batmap of a dynamic disk before I/O.
func (f *File) prepare() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return ErrClosed
	}
	if f.Header == nil {
		return nil
	}
	if _, err := f.loadBAT(); err != nil {
		return err
	}
	if _, err := f.loadBatmap(); err != nil && err != ErrNoBatmap {
		return err
	}
	return nil
}

// ReadAt reads len(p) bytes of the virtual disk at off. Sectors a dynamic
// disk does not hold read as zeros; sectors a differencing disk does not
// hold are read from the parent attached with [File.AttachParent] (zeros
// past the parent's end). It returns io.EOF when the read reaches the end of
// the virtual disk.
func (f *File) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("vhd: ReadAt at negative offset %d: %w", off, ErrOutOfRange)
	}
	vsize := f.VirtualSize()
	if off >= vsize {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	var eof error
	if int64(len(p)) > vsize-off {
		p = p[:vsize-off]
		eof = io.EOF
	}
	if err := f.prepare(); err != nil {
		return 0, err
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.Header == nil {
		if err := f.readFull(p, off); err != nil {
			return 0, err
		}
		return len(p), eof
	}
	n, err := f.eachBlock(p, off, f.readBlock)
	if err != nil {
		return n, err
	}
	return n, eof
}

// eachBlock splits p, the virtual bytes at off, at block boundaries and
// calls do for each piece with its block number and offset in the block.
// It returns the bytes done before the first error.
func (f *File) eachBlock(p []byte, off int64, do func(p []byte, blk, within int64) error) (int, error) {
	bs := int64(f.Header.BlockSize)
	done := 0
	for done < len(p) {
		pos := off + int64(done)
		blk, within := pos/bs, pos%bs
		n := int(min(int64(len(p)-done), bs-within))
		if err := do(p[done:done+n], blk, within); err != nil {
			return done, err
		}
		done += n
	}
	return done, nil
}

// blockEntry returns the BAT entry of block blk, Unallocated past the BAT.
func (f *File) blockEntry(blk int64) uint32 {
	if blk >= int64(len(f.bat)) {
		return Unallocated
	}
	return f.bat[blk]
}

// readBlock reads p from block blk at byte offset within. The caller holds f.mu.
func (f *File) readBlock(p []byte, blk, within int64) error {
	entry := f.blockEntry(blk)
	vpos := blk*int64(f.Header.BlockSize) + within
	if entry == Unallocated {
		return f.readAbsent(p, vpos)
	}
	dataOff := (int64(entry) + f.Header.bitmapSectors()) * SectorSize
	if f.batmap != nil && f.batmap.Full(blk) {
		return f.readFull(p, dataOff+within)
	}
	bitmap, err := f.readBitmap(entry)
	if err != nil {
		return err
	}
	// Walk runs of sectors whose bits agree.
	for i := 0; i < len(p); {
		sec := (within + int64(i)) / SectorSize
		set := bitSet(bitmap, sec)
		j := i
		for j < len(p) {
			s := (within + int64(j)) / SectorSize
			if bitSet(bitmap, s) != set {
				break
			}
			j = int(min(int64(len(p)), (s+1)*SectorSize-within))
		}
		var err error
		if set {
			err = f.readFull(p[i:j], dataOff+within+int64(i))
		} else {
			err = f.readAbsent(p[i:j], vpos+int64(i))
		}
		if err != nil {
			return err
		}
		i = j
	}
	return nil
}

// readAbsent fills p with what a sector the file does not hold reads as.
func (f *File) readAbsent(p []byte, vpos int64) error {
	if f.Footer.DiskType != DiskDifferencing {
		clear(p)
		return nil
	}
	if f.parent == nil {
		return fmt.Errorf("vhd: %s: reading virtual offset %d: %w", f.name, vpos, ErrNoParentReader)
	}
	n, err := f.parent.ReadAt(p, vpos)
	if err == io.EOF || (err == nil && n < len(p)) {
		clear(p[n:])
		return nil
	}
	return err
}

func (f *File) readBitmap(entry uint32) ([]byte, error) {
	b := make([]byte, f.Header.bitmapSectors()*SectorSize)
	if err := f.readFull(b, int64(entry)*SectorSize); err != nil {
		return nil, fmt.Errorf("vhd: %s: reading bitmap at sector %#x: %w", f.name, entry, err)
	}
	return b, nil
}

func bitSet(bitmap []byte, i int64) bool { return bitmap[i/8]&(0x80>>(i%8)) != 0 }
func setBit(bitmap []byte, i int64)      { bitmap[i/8] |= 0x80 >> (i % 8) }

// WriteAt writes p to the virtual disk at off, allocating blocks at the end
// of the data as blktap does (data 4 KiB-aligned, new blocks zero-filled)
// and moving the primary footer behind them. A partial-sector write to a
// sector a differencing disk does not hold yet merges with the parent's
// data, which needs [File.AttachParent]. Writes past the virtual size fail
// with [ErrOutOfRange].
//
// Everything a write needs (the range, a file that passes [Check], the BAT
// entries, the parent's data for partial sectors, room below 2 TiB) is
// checked and read before the file changes, so a refused write leaves the
// file as it was. If a write to the storage fails midway, what was written
// is undone (the old bytes put back, the file truncated to its old size
// when it can be) before the error is returned. Like any file write, the
// data is durable after [File.Sync] or [File.Close].
func (f *File) WriteAt(p []byte, off int64) (int, error) {
	if f.w == nil {
		return 0, fmt.Errorf("vhd: %s: %w", f.name, ErrReadOnly)
	}
	if f.Footer.Disabled() {
		return 0, fmt.Errorf("vhd: %s: %w", f.name, ErrDisabled)
	}
	if off < 0 || off > f.VirtualSize() || int64(len(p)) > f.VirtualSize()-off {
		return 0, fmt.Errorf("vhd: %s: write of %d bytes at %d past virtual size %d: %w", f.name, len(p), off, f.VirtualSize(), ErrOutOfRange)
	}
	if err := f.beginWrite(context.Background(), "write"); err != nil {
		return 0, err
	}
	defer f.mu.Unlock()
	if f.Header == nil {
		if end := off + int64(len(p)); end > f.size-FooterSize {
			// The data would run into the footer: the file holds less
			// than the footer claims.
			return 0, formatErr(f.name, f.footerPart(), "current size", f.footerOffset()+footerOffCurrSize, ErrTruncated,
				"fixed disk of %d bytes holds %d bytes of data, not the %d its footer claims", f.size, f.size-FooterSize, f.VirtualSize())
		}
		u := f.beginUndo()
		if err := f.writeAt(p, off); err != nil {
			return 0, f.rollback(u, err)
		}
		f.undo = nil
		return len(p), nil
	}
	plan, err := f.planWrite(p, off)
	if err != nil {
		return 0, err
	}
	u := f.beginUndo()
	for _, w := range plan {
		if err := f.applyBlockWrite(w); err != nil {
			return 0, f.rollback(u, err)
		}
	}
	f.undo = nil
	return len(p), nil
}

// blockWrite is the part of a WriteAt that falls in one block, planned
// before anything is written.
type blockWrite struct {
	blk      int64
	entry    uint32 // the block's bitmap sector, existing or planned
	allocate bool   // the block is new: entry is where it goes
	bitmap   []byte // the bitmap as it will be
	changed  bool   // bitmap differs from the one on disk
	buf      []byte // whole sectors of data
	start    int64  // byte offset of buf within the block
}

// planWrite splits p at block boundaries and works out, reading only, what
// each block needs: its place (allocating at the end of the data, as
// blktap does), its new bitmap, and whole sectors of data with partial
// sectors merged with what they read as now. The caller holds f.mu.
func (f *File) planWrite(p []byte, off int64) ([]blockWrite, error) {
	h := f.Header
	bs := int64(h.BlockSize)
	bmBytes := h.bitmapSectors() * SectorSize
	eod, err := f.endOfData()
	if err != nil {
		return nil, err
	}
	var plan []blockWrite
	_, err = f.eachBlock(p, off, func(q []byte, blk, within int64) error {
		if blk >= int64(len(f.bat)) {
			return formatErr(f.name, "BAT", "", int64(h.TableOffset), ErrTooLarge, "block %d is past the %d BAT entries", blk, len(f.bat))
		}
		w := blockWrite{blk: blk, entry: f.bat[blk]}
		if w.entry == Unallocated {
			bitmapOff := (eod+bmBytes+dataAlign-1)/dataAlign*dataAlign - bmBytes
			if bitmapOff/SectorSize >= Unallocated {
				return fmt.Errorf("vhd: %s: block %d would lie past 2 TiB: %w", f.name, blk, ErrTooLarge)
			}
			w.allocate = true
			w.entry = uint32(bitmapOff / SectorSize)
			w.bitmap = make([]byte, bmBytes)
			eod = bitmapOff + bmBytes + bs
		} else {
			var err error
			if w.bitmap, err = f.readBitmap(w.entry); err != nil {
				return err
			}
		}
		dataOff := int64(w.entry)*SectorSize + bmBytes
		first := within / SectorSize
		last := (within + int64(len(q)) - 1) / SectorSize
		w.buf, w.start = q, within
		if within%SectorSize != 0 || (within+int64(len(q)))%SectorSize != 0 {
			w.buf = make([]byte, (last-first+1)*SectorSize)
			w.start = first * SectorSize
			for _, s := range []int64{first, last} {
				sec := w.buf[(s-first)*SectorSize : (s-first+1)*SectorSize]
				var err error
				if !w.allocate && bitSet(w.bitmap, s) {
					err = f.readFull(sec, dataOff+s*SectorSize)
				} else {
					err = f.readAbsent(sec, blk*bs+s*SectorSize)
				}
				if err != nil {
					return err
				}
			}
			copy(w.buf[within-w.start:], q)
		}
		for s := first; s <= last; s++ {
			if !bitSet(w.bitmap, s) {
				setBit(w.bitmap, s)
				w.changed = true
			}
		}
		plan = append(plan, w)
		return nil
	})
	return plan, err
}

// applyBlockWrite writes one planned block: for a new block the footer
// behind it first (until the BAT points at the block, a crash leaves a
// valid file with a little unused space), then the data, the bitmap, the
// BAT entry and the batmap. The caller holds f.mu.
func (f *File) applyBlockWrite(w blockWrite) error {
	h := f.Header
	bmBytes := h.bitmapSectors() * SectorSize
	if w.allocate {
		if err := f.allocateBlock(w.entry); err != nil {
			return err
		}
	}
	dataOff := int64(w.entry)*SectorSize + bmBytes
	if err := f.writeAt(w.buf, dataOff+w.start); err != nil {
		return err
	}
	if w.changed {
		if err := f.writeAt(w.bitmap, int64(w.entry)*SectorSize); err != nil {
			return err
		}
	}
	if w.allocate {
		if err := f.writeBATEntry(w.blk, w.entry); err != nil {
			return err
		}
	}
	if w.changed && f.batmap != nil && !f.batmap.Full(w.blk) && bitmapFull(w.bitmap, int64(h.BlockSize)/SectorSize) {
		return f.markFull(w.blk)
	}
	return nil
}

func bitmapFull(bitmap []byte, sectors int64) bool {
	for i := int64(0); i < sectors/8; i++ {
		if bitmap[i] != 0xFF {
			return false
		}
	}
	for i := sectors &^ 7; i < sectors; i++ {
		if !bitSet(bitmap, i) {
			return false
		}
	}
	return true
}

// allocateBlock makes room for a new block whose bitmap goes at sector
// entry, at the end of the data: it writes the footer behind the block and
// zeroes the space the block takes from the old file. The BAT entry is
// written by the caller once the block holds its data. The caller holds
// f.mu.
func (f *File) allocateBlock(entry uint32) error {
	h := f.Header
	eod, err := f.endOfData()
	if err != nil {
		return err
	}
	bmBytes := h.bitmapSectors() * SectorSize
	end := int64(entry)*SectorSize + bmBytes + int64(h.BlockSize)
	if err := f.writeFooterAt(end); err != nil {
		return err
	}
	// Zero what of the block's space the old file held (the old footer,
	// perhaps trailing bytes); the rest of the file is new and reads as zeros.
	if zeroEnd := min(f.size, end); zeroEnd > eod {
		if err := f.writeZeros(eod, zeroEnd-eod); err != nil {
			return err
		}
	}
	f.size = max(f.size, end+FooterSize)
	f.eod = end
	return nil
}

func (f *File) writeZeros(off, n int64) error {
	zero := make([]byte, min(n, 1<<20))
	for n > 0 {
		k := min(n, int64(len(zero)))
		if err := f.writeAt(zero[:k], off); err != nil {
			return err
		}
		off += k
		n -= k
	}
	return nil
}

// writeBATEntry stores entry for block blk, writing the BAT sector that
// holds it (the table is sector aligned: an unaligned one does not load).
func (f *File) writeBATEntry(blk int64, entry uint32) error {
	if f.undo != nil {
		f.undo.bat = append(f.undo.bat, batUndo{blk, f.bat[blk]})
	}
	f.bat[blk] = entry
	first := blk &^ (SectorSize/4 - 1)
	sec := make([]byte, SectorSize)
	n := min(int64(SectorSize/4), int64(len(f.bat))-first)
	for i := range n {
		binary.BigEndian.PutUint32(sec[4*i:], f.bat[first+i])
	}
	if n < SectorSize/4 {
		// The rest of the sector: entries the virtual size does not need
		// (kept as they are on disk) or padding.
		rest := sec[4*n:]
		if err := f.readFull(rest, int64(f.Header.TableOffset)+4*(first+n)); err != nil {
			return err
		}
	}
	return f.writeAt(sec, int64(f.Header.TableOffset)+first*4)
}

// markFull sets block blk's bit in the batmap and rewrites the map sector
// and the header with the new checksum.
func (f *File) markFull(blk int64) error {
	bm := f.batmap
	if blk/8 >= int64(len(bm.Map)) {
		return nil
	}
	if f.undo != nil && f.undo.batmapHeader == nil {
		hdr := bm.Header
		f.undo.batmapHeader = &hdr
	}
	if f.undo != nil {
		f.undo.batmapBits = append(f.undo.batmapBits, blk)
	}
	setBit(bm.Map, blk)
	sec := blk / 8 / SectorSize
	if err := f.writeAt(bm.Map[sec*SectorSize:(sec+1)*SectorSize], int64(bm.Header.Offset)+sec*SectorSize); err != nil {
		return err
	}
	bm.Header.Checksum = bm.ComputeChecksum(f.Footer.CurrentSize)
	return f.writeBatmapHeader()
}

func (f *File) writeBatmapHeader() error {
	hb, _ := f.batmap.Header.MarshalBinary()
	return f.writeAt(hb, f.batmap.HeaderOffset)
}

// writeFooterAt writes the primary footer at off. The caller holds f.mu.
func (f *File) writeFooterAt(off int64) error {
	return f.writeAt(f.Footer.bytes(), off)
}

// rewriteFooter writes the footer as blktap does after changing it: the
// primary copy at the end of the data, the file truncated behind it, then
// the copy at offset 0 of a dynamic disk. The caller holds f.mu.
func (f *File) rewriteFooter() error {
	f.Footer.UpdateChecksum()
	eod, err := f.endOfData()
	if err != nil {
		return err
	}
	if err := f.writeFooterAt(eod); err != nil {
		return err
	}
	if t, ok := f.w.(interface{ Truncate(int64) error }); ok && f.isRegular() && f.size != eod+FooterSize {
		// The new footer is durable before the file is cut behind it.
		if err := f.Sync(); err != nil {
			return err
		}
		if err := t.Truncate(eod + FooterSize); err != nil {
			return err
		}
		f.size = eod + FooterSize
	} else {
		f.size = max(f.size, eod+FooterSize)
	}
	f.source = FooterPrimary
	if f.Footer.IsDynamic() {
		if _, err := f.w.WriteAt(f.Footer.bytes(), 0); err != nil {
			return err
		}
	}
	return nil
}

// isRegular reports whether the file may be truncated (not a block device).
func (f *File) isRegular() bool { return !f.device }

// SetHidden sets the footer's hidden flag to v and rewrites the footer (at
// the end of the data, and at offset 0 of a dynamic disk). XenServer uses 1
// for interior nodes of a snapshot chain; values above 1 are invalid (vhd-util
// set writes them, and check then rejects the file). Setting the value the
// file has writes nothing.
//
// The primary footer is written and synced first (the file cut behind it
// and the cut synced, when it is longer), then the copy at offset 0, synced;
// SetHidden returns once both are durable. A crash between the two leaves
// the primary footer with the new flag and the copy at 0 with the old one:
// the file opens with the new flag and reads the same data, Check reports
// the two footers' mismatch (as vhd-util check does, unless
// CheckOptions.UseBackupFooter is set), and the next writer of this
// package, [File.Repair] or vhd-util repair completes the commit.
func (f *File) SetHidden(v uint8) error {
	if err := f.writable(); err != nil {
		return err
	}
	// Setting 0 or 1 is how a file whose only problem is a hidden flag out
	// of range gets mended, so that problem alone does not refuse it.
	var mends func(Problem) bool
	if v <= 1 {
		mends = badHiddenOnly
	}
	if err := f.checkForWriteExcept(context.Background(), "set the hidden flag", mends); err != nil {
		return err
	}
	if err := f.prepare(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	ft := f.Footer
	ft.Hidden = v
	ft.UpdateChecksum()
	eod, err := f.endOfData()
	if err != nil {
		return err
	}
	return f.commitFooterAt(ft, eod, "set the hidden flag")
}

// SetMarker sets the marker byte of the batmap header (vhd-util set -f
// marker), writing the header's reserved bytes as zeros, as blktap does.
// Files without a batmap keep the marker in an extended attribute, which
// this package does not write: they return [ErrNoBatmap].
func (f *File) SetMarker(v uint8) error {
	if err := f.writable(); err != nil {
		return err
	}
	if err := f.beginWrite(context.Background(), "set the marker"); err != nil {
		return err
	}
	defer f.mu.Unlock()
	if f.batmap == nil {
		return fmt.Errorf("vhd: %s: %w", f.name, ErrNoBatmap)
	}
	f.batmap.Header.Marker = v
	// blktap writes the batmap header with its reserved bytes zeroed.
	f.batmap.Header.Reserved = [len(f.batmap.Header.Reserved)]byte{}
	return f.writeBatmapHeader()
}

func (f *File) writable() error {
	if f.w == nil {
		return fmt.Errorf("vhd: %s: %w", f.name, ErrReadOnly)
	}
	if f.Footer.Disabled() {
		return fmt.Errorf("vhd: %s: %w", f.name, ErrDisabled)
	}
	return nil
}
