package vhd

import (
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"slices"
)

// maxLocatorSpace bounds the reserved space a relocated parent locator
// keeps: a larger one (no tool writes one) shrinks to what its data needs.
const maxLocatorSpace = 1 << 20

// metaLayout is blktap's layout of a dynamic disk's metadata from the
// table on: the BAT, the batmap header and map, then every parent
// locator's data, back to back. Offsets are relative to the table.
type metaLayout struct {
	entries    uint32
	batBytes   int64
	batmapSecs int64   // 0: no batmap
	locators   []int   // the slots with data, in slot order
	locOff     []int64 // each one's offset
	locSpace   []int64 // and reserved bytes
	size       int64   // the whole, from the table to the end of the last locator
}

// newMetaLayout lays out the metadata of f with a table of entries for a
// disk of size bytes. The caller holds f.mu.
func (f *File) newMetaLayout(entries uint32, size int64) metaLayout {
	l := metaLayout{entries: entries, batBytes: batBytes(entries)}
	end := l.batBytes
	if bm := f.batmap; bm != nil {
		secs := max(1, (pad512((int64(entries)+7)/8))/SectorSize, batmapChecksumLen(uint64(size))/SectorSize, int64(bm.Header.Size))
		l.batmapSecs = secs
		end += SectorSize + secs*SectorSize
	}
	for i, loc := range f.Header.Locators {
		if loc.Code == PlatformNone {
			continue
		}
		space := loc.Size()
		if space > maxLocatorSpace || space < pad512(int64(loc.DataLength)) {
			space = max(pad512(int64(min(loc.DataLength, maxLocatorData))), SectorSize)
		}
		l.locators = append(l.locators, i)
		l.locOff = append(l.locOff, end)
		l.locSpace = append(l.locSpace, space)
		end += space
	}
	l.size = end
	return l
}

// metaImage is the metadata of a metaLayout placed at a table offset: the
// bytes to write there and the header and batmap that describe them.
type metaImage struct {
	at     int64
	data   []byte
	header Header
	batmap *Batmap
}

// buildMeta builds the metadata of layout l at offset at: the current
// table entries (unallocated beyond them), the batmap with the current
// bits (none beyond the current blocks) and its checksum for the current
// size, the locators' data as they are. The caller holds f.mu.
func (f *File) buildMeta(l metaLayout, at int64) (metaImage, error) {
	img := metaImage{at: at, data: make([]byte, l.size), header: *f.Header}
	for i := range int64(l.entries) {
		e := uint32(Unallocated)
		if i < int64(len(f.bat)) {
			e = f.bat[i]
		}
		binary.BigEndian.PutUint32(img.data[4*i:], e)
	}
	h := &img.header
	h.TableOffset = uint64(at)
	h.MaxTableEntries = l.entries
	if bm := f.batmap; bm != nil {
		nb := &Batmap{Header: bm.Header, HeaderOffset: at + l.batBytes, Map: make([]byte, l.batmapSecs*SectorSize)}
		n := int64(len(f.bat))
		copy(nb.Map, bm.Map[:min(int64(len(bm.Map)), (n+7)/8)])
		if n%8 != 0 && n/8 < int64(len(nb.Map)) {
			nb.Map[n/8] &^= 0xFF >> (n % 8) // no bit past the current blocks
		}
		nb.Header.Offset = uint64(nb.HeaderOffset + SectorSize)
		nb.Header.Size = uint32(l.batmapSecs)
		nb.Header.Checksum = nb.ComputeChecksum(f.Footer.CurrentSize)
		hb, _ := nb.Header.MarshalBinary()
		copy(img.data[l.batBytes:], hb)
		copy(img.data[l.batBytes+SectorSize:], nb.Map)
		img.batmap = nb
	}
	for k, slot := range l.locators {
		loc := &h.Locators[slot]
		n := int64(min(loc.DataLength, maxLocatorData))
		if err := f.readFull(img.data[l.locOff[k]:l.locOff[k]+n], int64(loc.DataOffset)); err != nil {
			return img, fmt.Errorf("reading parent locator %d: %w", slot, err)
		}
		if loc.Size() != l.locSpace[k] {
			loc.DataSpace = uint32(l.locSpace[k])
		}
		loc.DataOffset = uint64(at + l.locOff[k])
	}
	h.UpdateChecksum()
	return img, nil
}

// growTable gives the table of f entries entries for a disk of size bytes
// (see Grow and FORMAT.md §20 for the order of writes and why each state
// is sound), keeping blktap's layout: the table where it is, the batmap
// behind it, the locators behind that, the blocks in the way moved to the
// end. The virtual size does not change. The caller holds f.mu.
func (f *File) growTable(ctx context.Context, entries uint32, size int64, log *slog.Logger) error {
	h := f.Header
	fail := func(step string, err error) error {
		return fmt.Errorf("vhd: %s: grow the table to %d entries: %s: %w", f.name, entries, step, err)
	}
	t := int64(h.TableOffset)
	if hdrEnd := int64(f.Footer.DataOffset) + HeaderSize; t < hdrEnd {
		return fail("layout", fmt.Errorf("the table at %d lies before the end of the header at %d, not where blktap puts it: %w",
			t, hdrEnd, ErrNoTableRoom))
	}
	eoh, err := f.endOfHeaders()
	if err != nil {
		return fail("metadata", err)
	}
	eod, err := f.endOfData()
	if err != nil {
		return fail("metadata", err)
	}
	lay := f.newMetaLayout(entries, size)
	if f.tableGrowsInPlace(lay) {
		return f.growTableInPlace(entries, log, fail)
	}
	if f.device {
		// Moving metadata and blocks needs the file to grow past its
		// footer, which a block device's end does not allow.
		return fail("layout", fmt.Errorf("a block device cannot grow: %w", ErrNoTableRoom))
	}
	// The final metadata goes at the table, [t, t+size); a temporary copy
	// first goes at x, past both the old metadata and the final one, so
	// that neither write covers metadata a header points at.
	x := pad512(max(eoh, t+lay.size))
	tempEnd := x + lay.size

	// (a) The blocks below the end of the temporary copy go to the end.
	moves, err := f.planTableMoves(tempEnd, eod)
	if err != nil {
		return fail("layout", err)
	}
	log.Debug("vhd: grow the table", "file", f.name, "entries", entries, "table", t, "temporary", x, "moves", len(moves))
	for _, m := range moves {
		if err := ctx.Err(); err != nil {
			return fail(fmt.Sprintf("moving block %d", m.block), err)
		}
		if err := f.moveBlock(m); err != nil {
			return fail(fmt.Sprintf("moving block %d", m.block), err)
		}
		log.Debug("vhd: moved block", "file", f.name, "block", m.block, "from", m.from, "to", m.to)
	}
	if err := ctx.Err(); err != nil {
		return fail("temporary metadata", err)
	}

	// (b) The temporary copy, behind a footer past it when it reaches the
	// footer, then the header pointing at it.
	if old := f.size - FooterSize; old < tempEnd {
		if err := f.writeFooterAt(tempEnd); err != nil {
			return fail("footer", err)
		}
		if err := f.Sync(); err != nil {
			return fail("sync", err)
		}
		f.size, f.source = tempEnd+FooterSize, FooterPrimary
		if old >= 0 && old+FooterSize <= x && old >= eod {
			// The old footer now lies in dead space: no reader should take it for one.
			if err := f.writeZeros(old, FooterSize); err != nil {
				return fail("releasing the old footer", err)
			}
		}
	}
	temp, err := f.buildMeta(lay, x)
	if err != nil {
		return fail("temporary metadata", err)
	}
	if err := f.commitMeta(temp, "temporary"); err != nil {
		return fail("temporary metadata", err)
	}
	log.Debug("vhd: header points at the temporary metadata", "file", f.name, "offset", x)
	if err := ctx.Err(); err != nil {
		return fail("final metadata", err)
	}

	// (c) The final metadata at the table, over the dead old metadata,
	// then the header pointing at it.
	final, err := f.buildMeta(lay, t)
	if err != nil {
		return fail("final metadata", err)
	}
	if err := f.commitMeta(final, "final"); err != nil {
		return fail("final metadata", err)
	}
	log.Debug("vhd: header points at the final metadata", "file", f.name, "offset", t)

	// (d) The temporary copy is dead: zero what of it lies within the
	// data, then the footer at the end of the data, the file cut behind it.
	end, err := f.endOfData()
	if err != nil {
		return fail("end of data", err)
	}
	if z := min(tempEnd, end); z > x {
		if err := f.writeZeros(x, z-x); err != nil {
			return fail("releasing the temporary metadata", err)
		}
	}
	if err := f.rewriteFooter(); err != nil {
		return fail("footer", err)
	}
	if err := f.Sync(); err != nil {
		return fail("sync", err)
	}
	return nil
}

// commitMeta writes img, syncs, writes the header pointing at it and syncs
// again. The caller holds f.mu.
func (f *File) commitMeta(img metaImage, which string) error {
	if err := f.writeAt(img.data, img.at); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.writeAt(img.header.bytes(), int64(f.Footer.DataOffset)); err != nil {
		return fmt.Errorf("writing the header: %w", err)
	}
	h := img.header
	f.Header, f.batmap, f.eod = &h, img.batmap, 0
	if err := f.Sync(); err != nil {
		return fmt.Errorf("syncing the header for the %s metadata: %w", which, err)
	}
	return nil
}

// planTableMoves plans moving every block that starts below limit to the
// end of the data (eod), lowest first, each to blktap's alignment. The
// caller holds f.mu.
func (f *File) planTableMoves(limit, eod int64) ([]blockMove, error) {
	h := f.Header
	bmBytes := h.bitmapSectors() * SectorSize
	blockBytes := bmBytes + int64(h.BlockSize)
	var low []int64
	for i, e := range f.bat {
		if e != Unallocated && int64(e)*SectorSize < limit {
			low = append(low, int64(i))
		}
	}
	slices.SortFunc(low, func(a, b int64) int { return cmp.Compare(f.bat[a], f.bat[b]) })
	end := max(eod, limit)
	var moves []blockMove
	for _, i := range low {
		from := int64(f.bat[i]) * SectorSize
		if from+blockBytes > f.size {
			return nil, formatErr(f.name, "BAT", fmt.Sprintf("entry %d", i), int64(h.TableOffset)+4*i, ErrTruncated,
				"block %d at offset %d runs past the end of the file (%d bytes) and cannot be moved", i, from, f.size)
		}
		to := (end+bmBytes+dataAlign-1)/dataAlign*dataAlign - bmBytes
		if (to+blockBytes)/SectorSize > Unallocated {
			return nil, fmt.Errorf("moving block %d to offset %d would pass 2 TiB: %w", i, to, ErrTooLarge)
		}
		moves = append(moves, blockMove{block: i, from: f.bat[i], to: uint32(to / SectorSize)})
		end = to + blockBytes
	}
	return moves, nil
}

// tableGrowsInPlace reports whether the table can take the entries of
// layout l where it is: it keeps its sectors, the batmap has room for the
// new blocks and marks none of them. The caller holds f.mu.
func (f *File) tableGrowsInPlace(l metaLayout) bool {
	if l.batBytes != batBytes(f.Header.MaxTableEntries) {
		return false
	}
	bm := f.batmap
	if bm == nil {
		return true
	}
	if l.batmapSecs != int64(bm.Header.Size) {
		return false
	}
	for i := int64(len(f.bat)); i < int64(l.entries) && i/8 < int64(len(bm.Map)); i++ {
		if bm.Full(i) {
			return false
		}
	}
	return true
}

// growTableInPlace gives the table entries entries in the sectors it
// has, as blktap does: the entries past the current blocks are marked
// unallocated and the header gets the new count, then both are synced.
// No sync is needed between the two: at the current size neither header
// reads those entries, and the size that does is committed after the sync.
// The caller holds f.mu.
func (f *File) growTableInPlace(entries uint32, log *slog.Logger, fail func(string, error) error) error {
	h := f.Header
	n := int64(len(f.bat))
	ff := make([]byte, 4*(int64(entries)-n))
	for i := range ff {
		ff[i] = 0xFF
	}
	if err := f.writeAt(ff, int64(h.TableOffset)+4*n); err != nil {
		return fail("table entries", err)
	}
	nh := *h
	nh.MaxTableEntries = entries
	nh.UpdateChecksum()
	if err := f.writeAt(nh.bytes(), int64(f.Footer.DataOffset)); err != nil {
		return fail("header", err)
	}
	f.Header, f.eod = &nh, 0
	if err := f.Sync(); err != nil {
		return fail("sync", err)
	}
	log.Debug("vhd: grew the table in place", "file", f.name, "entries", entries)
	return nil
}
