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

// BAT returns the block allocation table: one sector offset per block, or
// [Unallocated]. It is read on first use, after checking that it fits in
// the file, and must not be modified.
func (f *File) BAT() ([]uint32, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.loadBAT()
}

// loadBAT reads the BAT once. The caller holds f.mu.
func (f *File) loadBAT() ([]uint32, error) {
	if f.batLoaded {
		return f.bat, f.batErr
	}
	f.batLoaded = true
	if f.Header == nil {
		f.batErr = fmt.Errorf("vhd: %s: %w", f.name, ErrNotDynamic)
		return nil, f.batErr
	}
	h := f.Header
	n := int64(h.MaxTableEntries)
	off := h.TableOffset
	if off > uint64(f.size) || n*4 > f.size-int64(off) {
		f.batErr = formatErr(f.name, "header", "max table entries", int64(f.Footer.DataOffset)+headerOffMaxEntries, ErrTooLarge,
			"BAT of %d entries at offset %d does not fit in a file of %d bytes", n, off, f.size)
		return nil, f.batErr
	}
	buf := make([]byte, n*4)
	if err := f.readFull(buf, int64(off)); err != nil {
		f.batErr = fmt.Errorf("vhd: %s: reading BAT: %w", f.name, err)
		return nil, f.batErr
	}
	bat := make([]uint32, n)
	for i := range bat {
		bat[i] = binary.BigEndian.Uint32(buf[4*i:])
	}
	f.bat = bat
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
	end := int64(f.Footer.DataOffset) + HeaderSize
	end = max(end, int64(h.TableOffset)+batBytes(h.MaxTableEntries))
	bm, err := f.loadBatmap()
	if err != nil && err != ErrNoBatmap {
		return 0, err
	}
	if bm != nil {
		end = max(end, bm.HeaderOffset+SectorSize, int64(bm.Header.Offset)+int64(bm.Header.Size)*SectorSize)
	}
	for _, l := range h.Locators {
		if l.Code != PlatformNone {
			end = max(end, int64(l.DataOffset)+l.Size())
		}
	}
	return end, nil
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
