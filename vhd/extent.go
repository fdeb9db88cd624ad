package vhd

import (
	"context"
	"fmt"
	"iter"
)

// An Extent is a run of the virtual disk that one VHD file either holds or
// does not hold, as its BAT and sector bitmaps (or batmap) say, like a line
// of `qemu-img map`. Extents never say what the bytes are: a held sector may
// hold zeros.
type Extent struct {
	// Offset and Length are the run's place in the virtual disk, in bytes,
	// multiples of 512 except where the virtual size ends.
	Offset, Length int64
	// Data reports whether the file holds the run: every sector of a fixed
	// disk, the sectors whose bitmap bits are set in an allocated block of a
	// dynamic or differencing disk. A run not held reads as zeros on a
	// dynamic disk and from the parent on a differencing disk.
	Data bool
	// FileOffset is where the run's bytes start in the file when Data is
	// set, else -1. A run is contiguous in the file.
	FileOffset int64
}

// End returns Offset+Length.
func (e Extent) End() int64 { return e.Offset + e.Length }

// Extents returns the file's extent map in order of virtual offset,
// covering the virtual disk from 0 to [File.VirtualSize] without gaps.
// Adjacent runs of the same kind are merged (held runs only when their file
// bytes are contiguous too). It reads the BAT, the batmap and the bitmap of
// each allocated block that the batmap does not mark full, never block data;
// memory does not grow with the disk. The sequence stops after yielding an
// error (an unreadable bitmap, a block past the end of the file, ctx done).
func (f *File) Extents(ctx context.Context) iter.Seq2[Extent, error] {
	return func(yield func(Extent, error) bool) {
		vsize := f.VirtualSize()
		if vsize == 0 {
			return
		}
		if f.Header == nil {
			yield(Extent{Offset: 0, Length: vsize, Data: true}, nil)
			return
		}
		if err := f.prepare(); err != nil {
			yield(Extent{}, err)
			return
		}
		m := extentMerger{yield: yield}
		bs := f.BlockSize()
		bmBytes := f.Header.bitmapSectors() * SectorSize
		bitmap := make([]byte, bmBytes)
		size := f.FileSize()
		f.mu.RLock()
		bat, batmap := f.bat, f.batmap
		f.mu.RUnlock()
		for blk := int64(0); blk*bs < vsize; blk++ {
			if blk%256 == 0 {
				if err := ctx.Err(); err != nil {
					yield(Extent{}, err)
					return
				}
			}
			start := blk * bs
			end := min(vsize, start+bs)
			entry := uint32(Unallocated)
			if blk < int64(len(bat)) {
				entry = bat[blk]
			}
			if entry == Unallocated {
				if !m.add(start, end, false, -1) {
					return
				}
				continue
			}
			dataOff := int64(entry)*SectorSize + bmBytes
			if dataOff+(end-start) > size {
				yield(Extent{}, formatErr(f.name, "BAT", fmt.Sprintf("entry %d", blk), int64(f.Header.TableOffset)+4*blk, ErrTruncated,
					"block at sector %#x lies past the end of the file (%d bytes)", entry, size))
				return
			}
			if batmap != nil && batmap.Full(blk) {
				if !m.add(start, end, true, dataOff) {
					return
				}
				continue
			}
			if err := f.readFull(bitmap, int64(entry)*SectorSize); err != nil {
				yield(Extent{}, fmt.Errorf("vhd: %s: reading bitmap of block %d at sector %#x: %w", f.name, blk, entry, err))
				return
			}
			if !bitmapRuns(bitmap, start, end, func(a, b int64, set bool) bool {
				off := int64(-1)
				if set {
					off = dataOff + (a - start)
				}
				return m.add(a, b, set, off)
			}) {
				return
			}
		}
		m.flush()
	}
}

// bitmapRuns calls fn for each run of sectors of the block starting at
// virtual offset start whose bits agree, up to end; it stops when fn
// returns false and reports whether it was not stopped.
func bitmapRuns(bitmap []byte, start, end int64, fn func(a, b int64, set bool) bool) bool {
	sectors := (end - start + SectorSize - 1) / SectorSize
	for s := int64(0); s < sectors; {
		set := bitSet(bitmap, s)
		e := s + 1
		for e < sectors {
			// Whole bytes of equal bits at once.
			if e%8 == 0 && e+8 <= sectors && (set && bitmap[e/8] == 0xFF || !set && bitmap[e/8] == 0) {
				e += 8
				continue
			}
			if bitSet(bitmap, e) != set {
				break
			}
			e++
		}
		if !fn(start+s*SectorSize, min(end, start+e*SectorSize), set) {
			return false
		}
		s = e
	}
	return true
}

// extentMerger joins adjacent runs before yielding them.
type extentMerger struct {
	yield   func(Extent, error) bool
	cur     Extent
	pending bool
}

func (m *extentMerger) add(a, b int64, data bool, fileOff int64) bool {
	if m.pending && m.cur.Data == data && m.cur.End() == a && (!data || m.cur.FileOffset+m.cur.Length == fileOff) {
		m.cur.Length += b - a
		return true
	}
	if m.pending && !m.yield(m.cur, nil) {
		m.pending = false
		return false
	}
	m.cur = Extent{Offset: a, Length: b - a, Data: data, FileOffset: fileOff}
	m.pending = true
	return true
}

func (m *extentMerger) flush() {
	if m.pending {
		m.pending = false
		m.yield(m.cur, nil)
	}
}
