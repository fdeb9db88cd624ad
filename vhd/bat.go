package vhd

import (
	"encoding/binary"
	"fmt"
)

// Unallocated is the BAT entry of a block that holds no data.
const Unallocated = 0xFFFFFFFF

// batBytes returns the on-disk size of a BAT of n entries: whole sectors, at
// least one.
func batBytes(n uint32) int64 {
	return max(pad512(int64(n)*4), SectorSize)
}

func pad512(n int64) int64 { return (n + SectorSize - 1) &^ (SectorSize - 1) }

// BAT returns the block allocation table: one sector offset per block of
// the virtual size, or [Unallocated]. Only the entries the virtual size
// needs are read (a header may rightly claim more: vhd-util create -S
// preallocates the table for a larger size), after checking that they lie,
// sector aligned, within the file; the table is read in bounded pieces. The
// slice is shared and must not be modified.
func (f *File) BAT() ([]uint32, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.loadBAT()
}

// batChunk bounds the bytes of the table read at once.
const batChunk = 256 << 10

// loadBAT reads the BAT once. The caller holds f.mu.
func (f *File) loadBAT() ([]uint32, error) {
	if f.batLoaded {
		return f.bat, f.batErr
	}
	f.batLoaded = true
	f.bat, f.batErr = f.readBAT()
	return f.bat, f.batErr
}

func (f *File) readBAT() ([]uint32, error) {
	if f.Header == nil {
		return nil, fmt.Errorf("vhd: %s: %w", f.name, ErrNotDynamic)
	}
	h := f.Header
	hoff := int64(f.Footer.DataOffset)
	// Blocks is bounded: the virtual size is at most MaxSize and the block
	// size at least 512 (both checked when the file was opened).
	n := min(int64(h.MaxTableEntries), f.Blocks())
	off := h.TableOffset
	switch {
	case off%SectorSize != 0:
		// blktap reads the table with O_DIRECT and fails (EINVAL).
		return nil, formatErr(f.name, "header", "table offset", hoff+headerOffTable, ErrFormat,
			"BAT offset %d is not a multiple of 512", off)
	case off > uint64(f.size) || n*4 > f.size-int64(off):
		return nil, formatErr(f.name, "header", "table offset", hoff+headerOffTable, ErrTruncated,
			"BAT of %d entries at offset %d does not fit in a file of %d bytes", n, off, f.size)
	}
	bat := make([]uint32, n)
	buf := make([]byte, min(n*4, batChunk))
	for done := int64(0); done < n; {
		k := min(n-done, int64(len(buf))/4)
		if err := f.readFull(buf[:4*k], int64(off)+4*done); err != nil {
			return nil, fmt.Errorf("vhd: %s: reading BAT: %w", f.name, err)
		}
		for j := range k {
			bat[done+j] = binary.BigEndian.Uint32(buf[4*j:])
		}
		done += k
	}
	return bat, nil
}

// AllocatedBlocks returns the number of allocated BAT entries among the
// blocks that cover the virtual size.
func (f *File) AllocatedBlocks() (int64, error) {
	bat, err := f.BAT()
	if err != nil {
		return 0, err
	}
	var n int64
	for _, e := range bat[:min(int64(len(bat)), f.Blocks())] {
		if e != Unallocated {
			n++
		}
	}
	return n, nil
}

// EndOfHeaders returns the offset of the first byte past all metadata: the
// header, the BAT, the batmap and every parent locator's data. A block that
// starts below it overlaps metadata.
func (f *File) EndOfHeaders() (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.endOfHeaders()
}

func (f *File) endOfHeaders() (int64, error) {
	if f.Header == nil {
		return 0, fmt.Errorf("vhd: %s: %w", f.name, ErrNotDynamic)
	}
	h := f.Header
	hoff := int64(f.Footer.DataOffset)
	e := endCalc{f: f}
	e.add(f.footerPart(), "data offset", f.footerOffset()+footerOffDataOffset, f.Footer.DataOffset, HeaderSize)
	e.add("header", "table offset", hoff+headerOffTable, h.TableOffset, uint64(batBytes(h.MaxTableEntries)))
	bm, err := f.loadBatmap()
	if err != nil && err != ErrNoBatmap {
		return 0, err
	}
	if bm != nil {
		e.add("batmap", "", bm.HeaderOffset, uint64(bm.HeaderOffset), SectorSize)
		e.add("batmap", "offset", bm.HeaderOffset+8, bm.Header.Offset, uint64(bm.Header.Size)*SectorSize)
	}
	for i, l := range h.Locators {
		if l.Code != PlatformNone {
			e.add(fmt.Sprintf("parent locator %d", i), "data offset", hoff+headerOffLocators+int64(i)*locatorEntrySize+16,
				l.DataOffset, uint64(l.Size()))
		}
	}
	return e.end, e.err
}

// maxMetadataEnd bounds where metadata may end: past it an offset is
// certainly wrong (blocks lie below 2 TiB, sector numbers being 32-bit),
// and sums of such offsets could overflow.
const maxMetadataEnd = 1 << 42

// endCalc is the running maximum of structure ends, with the first
// structure that ends impossibly far as a FormatError.
type endCalc struct {
	f   *File
	end int64
	err error
}

func (e *endCalc) add(part, field string, at int64, off, n uint64) {
	if e.err != nil {
		return
	}
	if off > maxMetadataEnd || n > maxMetadataEnd || off+n > maxMetadataEnd {
		e.err = formatErr(e.f.name, part, field, at, ErrTooLarge,
			"%d bytes at offset %d end past %d, beyond any VHD", n, off, uint64(maxMetadataEnd))
		return
	}
	e.end = max(e.end, int64(off+n))
}

// EndOfData returns the offset just past the last byte of metadata or block
// data, computed from the metadata as blktap does; the primary footer
// belongs there. For a fixed disk it is the file size less the footer.
func (f *File) EndOfData() (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.endOfData()
}

func (f *File) endOfData() (int64, error) {
	if f.Header == nil {
		if f.source == FooterShort {
			// A 511-byte footer: the data ends where it starts.
			return f.size - (FooterSize - 1), nil
		}
		return f.size - FooterSize, nil
	}
	if f.eod > 0 {
		return f.eod, nil
	}
	end, err := f.endOfHeaders()
	if err != nil {
		return 0, err
	}
	bat, err := f.loadBAT()
	if err != nil {
		return 0, err
	}
	blockSectors := f.Header.bitmapSectors() + int64(f.Header.BlockSize)/SectorSize
	for _, e := range bat {
		if e != Unallocated {
			end = max(end, (int64(e)+blockSectors)*SectorSize)
		}
	}
	f.eod = end
	return end, nil
}

// PhysicalSize returns the size the file should have, computed from the
// metadata: [File.EndOfData] plus the footer (vhd-util query -s).
func (f *File) PhysicalSize() (int64, error) {
	eod, err := f.EndOfData()
	if err != nil {
		return 0, err
	}
	return eod + FooterSize, nil
}
