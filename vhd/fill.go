package vhd

import (
	"context"
	"fmt"
	"slices"
)

// fillBatch is how many blocks [File.Fill] commits at once: their data is
// written and synced before their bitmaps and table entries, so a crash
// loses at most one batch of work.
const fillBatch = 64

// A BlockError reports a block that [File.Fill] or [File.Allocate] cannot
// place: the file, the block, the byte offset its bitmap would start at,
// and why. It matches its Err, [ErrTooLarge] for a block that would lie
// past the 2 TiB a table entry can address or past the end of a block
// device.
type BlockError struct {
	File   string // the file's name, or "" for a File made by NewWritable
	Block  int64  // the block number
	Offset int64  // where the block's bitmap would start
	Msg    string // what is wrong
	Err    error
}

// Error says which file and block, where, and why.
func (e *BlockError) Error() string {
	s := "vhd: "
	if e.File != "" {
		s += e.File + ": "
	}
	return s + fmt.Sprintf("block %d at offset %d: %s", e.Block, e.Offset, e.Msg)
}

// Unwrap returns the cause.
func (e *BlockError) Unwrap() error { return e.Err }

// blockSpan returns the blocks overlapping [off, off+n) of a writable
// dynamic or differencing disk (last < first when n is 0).
func (f *File) blockSpan(op string, off, n int64) (first, last int64, err error) {
	if err := f.writable(); err != nil {
		return 0, 0, err
	}
	if f.Header == nil {
		return 0, 0, fmt.Errorf("vhd: %s: %s: %w", f.name, op, ErrNotDynamic)
	}
	if off < 0 || n < 0 || off > f.VirtualSize() || n > f.VirtualSize()-off {
		return 0, 0, fmt.Errorf("vhd: %s: %s %d bytes at %d past virtual size %d: %w", f.name, op, n, off, f.VirtualSize(), ErrOutOfRange)
	}
	if n == 0 {
		return 0, -1, nil
	}
	bs := int64(f.Header.BlockSize)
	return off / bs, (off + n - 1) / bs, nil
}

// placeBlock returns where a new block goes when the data ends at eod (its
// bitmap sector, its data 4 KiB-aligned as blktap places blocks) and where
// the data then ends. The caller holds f.mu.
func (f *File) placeBlock(blk, eod int64) (entry uint32, end int64, err error) {
	bmBytes := f.Header.bitmapSectors() * SectorSize
	bitmapOff := (eod+bmBytes+dataAlign-1)/dataAlign*dataAlign - bmBytes
	if blk >= int64(len(f.bat)) {
		return 0, 0, formatErr(f.name, "BAT", "", int64(f.Header.TableOffset), ErrTooLarge, "block %d is past the %d BAT entries", blk, len(f.bat))
	}
	if bitmapOff/SectorSize >= Unallocated {
		return 0, 0, &BlockError{File: f.name, Block: blk, Offset: bitmapOff, Err: ErrTooLarge,
			Msg: "the block would lie past the 2 TiB a BAT entry can address"}
	}
	end = bitmapOff + bmBytes + int64(f.Header.BlockSize)
	if f.device && end+FooterSize > f.size {
		return 0, 0, &BlockError{File: f.name, Block: blk, Offset: bitmapOff, Err: ErrTooLarge,
			Msg: fmt.Sprintf("the block would end at %d, past the footer of the %d-byte device", end, f.size)}
	}
	return uint32(bitmapOff / SectorSize), end, nil
}

// blockSectors returns the sectors of block blk within the virtual size.
func (f *File) blockSectors(blk int64) int64 {
	bs := int64(f.Header.BlockSize)
	return (min(bs, f.VirtualSize()-blk*bs) + SectorSize - 1) / SectorSize
}

// Fill allocates every block overlapping the virtual bytes [off, off+n)
// and writes into it whatever of it the file does not hold yet, as it
// reads now: afterwards each such block holds every sector of the virtual
// disk it covers (a differencing disk no longer reads them from its parent,
// which must be attached with [File.AttachParent]) and the disk reads
// exactly as before. This is vhd-util fill. New blocks go at the end of the
// data as [File.WriteAt] places them, their bitmaps all ones up to the
// virtual size, the batmap marking each whole block full (blocks that
// already hold every sector, such as those [File.Allocate] made, only get
// their batmap bit); the bytes are those a WriteAt of every block's data
// gives, and blktap's where no block is allocated. Filling again writes
// nothing. A range past the virtual size fails with [ErrOutOfRange], a
// fixed disk with [ErrNotDynamic], a block that cannot be placed with a
// [*BlockError] before anything of its batch is written.
//
// The file is checked first, as every writer checks it. Blocks are filled
// in batches, each committed in an order that leaves, after a crash at any
// point, a file that opens with its primary footer, passes the full default
// Check and reads the same data: the footer is moved behind the batch's new
// blocks and synced (the file possibly cut behind it, synced), then the new
// blocks' data and bitmaps and the missing sectors of blocks already
// allocated are written and synced (nothing points at them yet, or their
// bits are clear), then the bitmaps of those blocks and the table entries
// of the new ones (synced), then the batmap with its checksum in one write
// when the map lies right behind its header (synced). Fill returns once the
// result is durable; after an error the blocks of the batches committed
// stay filled and the File reads its tables again from the file.
func (f *File) Fill(ctx context.Context, off, n int64) error {
	first, last, err := f.blockSpan("fill", off, n)
	if err != nil {
		return err
	}
	if err := f.beginWrite(ctx, "fill its blocks"); err != nil {
		return err
	}
	defer f.mu.Unlock()
	var buf []byte
	for blk := first; blk <= last; {
		if err := ctx.Err(); err != nil {
			return err
		}
		batch, next, err := f.planFill(blk, last)
		if err != nil {
			return err
		}
		blk = next
		if len(batch) == 0 {
			continue
		}
		if buf == nil {
			buf = make([]byte, f.Header.BlockSize)
		}
		if err := f.commitFill(batch, buf); err != nil {
			f.forgetTables()
			return err
		}
	}
	return nil
}

// fillBlock is one block a Fill batch writes.
type fillBlock struct {
	blk      int64
	entry    uint32
	allocate bool   // the block is new: entry is where it goes
	bitmap   []byte // the bitmap on disk (nil for a new block)
	sectors  int64  // sectors of the block within the virtual size
	// markOnly says the block holds all its sectors already and only its
	// batmap bit is missing (a Fill failed before it set it, or the block
	// was filled by Allocate).
	markOnly bool
}

// planFill reads, from block blk on up to last, the next blocks that need
// filling, at most fillBatch of them, and places the new ones. It returns
// them and the block to go on from. The caller holds f.mu.
func (f *File) planFill(blk, last int64) ([]fillBlock, int64, error) {
	eod, err := f.endOfData()
	if err != nil {
		return nil, 0, err
	}
	var batch []fillBlock
	for ; blk <= last && len(batch) < fillBatch; blk++ {
		if blk >= int64(len(f.bat)) {
			return nil, 0, formatErr(f.name, "BAT", "", int64(f.Header.TableOffset), ErrTooLarge, "block %d is past the %d BAT entries", blk, len(f.bat))
		}
		b := fillBlock{blk: blk, entry: f.bat[blk], sectors: f.blockSectors(blk)}
		if b.entry == Unallocated {
			b.allocate = true
			if b.entry, eod, err = f.placeBlock(blk, eod); err != nil {
				return nil, 0, err
			}
		} else {
			if f.batmap != nil && f.batmap.Full(blk) {
				continue
			}
			if b.bitmap, err = f.readBitmap(b.entry); err != nil {
				return nil, 0, err
			}
			if bitmapFull(b.bitmap, b.sectors) {
				if f.batmap == nil || b.sectors*SectorSize != int64(f.Header.BlockSize) {
					continue
				}
				b.markOnly = true
			}
		}
		batch = append(batch, b)
	}
	for _, b := range batch {
		if !b.markOnly && f.Footer.DiskType == DiskDifferencing && f.parent == nil {
			return nil, 0, fmt.Errorf("vhd: %s: fill: the sectors block %d lacks are read from the parent: %w", f.name, b.blk, ErrNoParentReader)
		}
	}
	return batch, blk, nil
}

// commitFill writes a planned batch in its crash-safe order, with buf
// holding a block. The caller holds f.mu.
func (f *File) commitFill(batch []fillBlock, buf []byte) error {
	fail := func(step string, err error) error { return fmt.Errorf("vhd: %s: fill: %s: %w", f.name, step, err) }
	h := f.Header
	bs := int64(h.BlockSize)
	bmBytes := h.bitmapSectors() * SectorSize
	eod, err := f.endOfData()
	if err != nil {
		return err
	}
	end := eod
	for _, b := range batch {
		if b.allocate {
			end = int64(b.entry)*SectorSize + bmBytes + bs
		}
	}
	oldSize := f.size
	if end > eod {
		if err := f.footerBehind(end, "fill"); err != nil {
			return err
		}
		// What of the new blocks' space the old file held (the old
		// footer, perhaps more) is zeroed, as WriteAt zeroes it.
		if zeroEnd := min(oldSize, end); zeroEnd > eod {
			if err := f.writeZeros(eod, zeroEnd-eod); err != nil {
				return fail(fmt.Sprintf("zeroing %d bytes at %d", zeroEnd-eod, eod), err)
			}
		}
	}
	for _, b := range batch {
		if b.markOnly {
			continue
		}
		dataOff := int64(b.entry)*SectorSize + bmBytes
		vpos := b.blk * bs
		if b.allocate {
			p := buf[:b.sectors*SectorSize]
			if err := f.readAbsent(p, vpos); err != nil {
				return err
			}
			if _, err := f.w.WriteAt(p, dataOff); err != nil {
				return fail(fmt.Sprintf("writing block %d at %d", b.blk, dataOff), err)
			}
			bm := make([]byte, bmBytes)
			for s := range b.sectors {
				setBit(bm, s)
			}
			if _, err := f.w.WriteAt(bm, int64(b.entry)*SectorSize); err != nil {
				return fail(fmt.Sprintf("writing the bitmap of block %d", b.blk), err)
			}
			continue
		}
		// The sectors whose bits are clear, in runs.
		for s := int64(0); s < b.sectors; {
			if bitSet(b.bitmap, s) {
				s++
				continue
			}
			e := s
			for e < b.sectors && !bitSet(b.bitmap, e) {
				e++
			}
			p := buf[:(e-s)*SectorSize]
			if err := f.readAbsent(p, vpos+s*SectorSize); err != nil {
				return err
			}
			if _, err := f.w.WriteAt(p, dataOff+s*SectorSize); err != nil {
				return fail(fmt.Sprintf("writing block %d at %d", b.blk, dataOff+s*SectorSize), err)
			}
			s = e
		}
	}
	filling := slices.ContainsFunc(batch, func(b fillBlock) bool { return !b.markOnly })
	if filling {
		if err := f.Sync(); err != nil {
			return fail("syncing the blocks' data", err)
		}
	}
	lo, hi := int64(-1), int64(-1)
	for _, b := range batch {
		if b.allocate {
			f.bat[b.blk] = b.entry
			if lo < 0 {
				lo = b.blk
			}
			hi = b.blk
			continue
		}
		if b.markOnly {
			continue
		}
		for s := range b.sectors {
			setBit(b.bitmap, s)
		}
		if _, err := f.w.WriteAt(b.bitmap, int64(b.entry)*SectorSize); err != nil {
			return fail(fmt.Sprintf("writing the bitmap of block %d", b.blk), err)
		}
	}
	if lo >= 0 {
		if err := f.writeBATRange(lo, hi); err != nil {
			return fail("writing the BAT", err)
		}
	}
	if filling {
		if err := f.Sync(); err != nil {
			return fail("syncing the bitmaps and the BAT", err)
		}
	}
	f.eod = end
	if bm := f.batmap; bm != nil {
		m := append([]byte(nil), bm.Map...)
		first, last := int64(-1), int64(-1)
		for _, b := range batch {
			if b.sectors*SectorSize == bs && !bm.Full(b.blk) && b.blk/8 < int64(len(m)) {
				setBit(m, b.blk)
				if first < 0 {
					first = b.blk
				}
				last = b.blk
			}
		}
		if first >= 0 {
			hdr := bm.Header
			hdr.Checksum = (&Batmap{Header: hdr, Map: m}).ComputeChecksum(f.Footer.CurrentSize)
			if err := f.writeBatmap(hdr, m, first/8/SectorSize, last/8/SectorSize+1); err != nil {
				return fail("writing the batmap", err)
			}
			if err := f.Sync(); err != nil {
				return fail("syncing the batmap", err)
			}
			bm.Header, bm.Map = hdr, m
		}
	}
	return nil
}

// footerBehind moves the primary footer to end, the end of the blocks
// about to be allocated, before anything is written there: the footer
// written and synced, the file cut behind it when it was longer, synced
// (File.commitFooter). A block device keeps its footer at its end. The
// caller holds f.mu.
func (f *File) footerBehind(end int64, op string) error {
	if f.device {
		return nil
	}
	want := f.Footer.bytes()
	return f.commitFooter(f.Footer, want, end, end+FooterSize, !f.bytesAre(end, want), false, op)
}

// writeBATRange writes the table sectors holding entries lo through hi as
// f.bat has them, keeping what else those sectors hold (entries past the
// virtual size, padding), in one write. The caller holds f.mu.
func (f *File) writeBATRange(lo, hi int64) error {
	const perSector = SectorSize / 4
	first := lo &^ (perSector - 1)
	endEntry := (hi + perSector) &^ (perSector - 1)
	buf := make([]byte, (endEntry-first)*4)
	off := int64(f.Header.TableOffset) + first*4
	if err := f.readFull(buf, off); err != nil {
		return err
	}
	for i := first; i < min(endEntry, int64(len(f.bat))); i++ {
		be32put(buf[(i-first)*4:], f.bat[i])
	}
	_, err := f.w.WriteAt(buf, off)
	return err
}

func be32put(b []byte, v uint32) {
	b[0], b[1], b[2], b[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
}

// Allocate allocates every unallocated block overlapping the virtual bytes
// [off, off+n) without writing its data, as vhd-util fill -b does: each
// gets a place at the end of the data (as [File.WriteAt] places blocks), an
// all-ones bitmap and its table entry; its data space is new (or zeroed
// where the old file held it), so the block reads as zeros, on a
// differencing disk too, where it then hides the parent's data. Blocks
// already allocated are left alone (vhd-util re-points them, losing their
// data), the batmap is not changed, and the primary footer ends up behind
// the new blocks (vhd-util leaves none). A range past the virtual size
// fails with [ErrOutOfRange], a fixed disk with [ErrNotDynamic], a block
// that cannot be placed with a [*BlockError] before anything is written.
//
// The file is checked first, as every writer checks it. The footer is
// moved behind the new blocks and synced (the file cut behind it when it
// was longer, synced), then the bitmaps are written and synced, then the
// table entries in one write, synced. A crash at any point leaves a file
// that opens with its primary footer and passes the full default Check, in
// which each block of the range reads its old data or, once its table
// entry is on disk, zeros; Allocate returns once the result is durable.
func (f *File) Allocate(ctx context.Context, off, n int64) error {
	first, last, err := f.blockSpan("allocate", off, n)
	if err != nil {
		return err
	}
	if err := f.beginWrite(ctx, "allocate its blocks"); err != nil {
		return err
	}
	defer f.mu.Unlock()
	eod, err := f.endOfData()
	if err != nil {
		return err
	}
	type placed struct {
		blk   int64
		entry uint32
	}
	var plan []placed
	end := eod
	for blk := first; blk <= last; blk++ {
		if blk < int64(len(f.bat)) && f.bat[blk] != Unallocated {
			continue
		}
		entry, e, err := f.placeBlock(blk, end)
		if err != nil {
			return err
		}
		plan = append(plan, placed{blk, entry})
		end = e
	}
	if len(plan) == 0 {
		return nil
	}
	err = func() error {
		fail := func(step string, err error) error { return fmt.Errorf("vhd: %s: allocate: %s: %w", f.name, step, err) }
		h := f.Header
		bs := int64(h.BlockSize)
		bmBytes := h.bitmapSectors() * SectorSize
		oldSize := f.size
		if err := f.footerBehind(end, "allocate"); err != nil {
			return err
		}
		ones := make([]byte, bmBytes)
		for s := range bs / SectorSize {
			setBit(ones, s)
		}
		for _, p := range plan {
			at := int64(p.entry) * SectorSize
			// Data space the old file held (behind a longer file's
			// metadata) is zeroed, so that the block reads as zeros.
			if dataEnd := min(oldSize, at+bmBytes+bs); dataEnd > at+bmBytes {
				if err := f.writeZeros(at+bmBytes, dataEnd-at-bmBytes); err != nil {
					return fail(fmt.Sprintf("zeroing block %d", p.blk), err)
				}
			}
			if _, err := f.w.WriteAt(ones, at); err != nil {
				return fail(fmt.Sprintf("writing the bitmap of block %d at %d", p.blk, at), err)
			}
		}
		if err := f.Sync(); err != nil {
			return fail("syncing the bitmaps", err)
		}
		for _, p := range plan {
			f.bat[p.blk] = p.entry
		}
		if err := f.writeBATRange(plan[0].blk, plan[len(plan)-1].blk); err != nil {
			return fail("writing the BAT", err)
		}
		if err := f.Sync(); err != nil {
			return fail("syncing the BAT", err)
		}
		f.eod = end
		return nil
	}()
	if err != nil {
		f.forgetTables()
	}
	return err
}
