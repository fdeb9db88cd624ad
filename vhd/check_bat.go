package vhd

import (
	"encoding/binary"
	"math"
	"slices"
	"sort"
)

// blockSizeForCheck returns the header's block size when it is one this
// package can work with, and 2 MiB otherwise.
func (c *checker) blockSizeForCheck() int64 {
	if validBlockSize(c.hdr.BlockSize) {
		return int64(c.hdr.BlockSize)
	}
	return DefaultBlockSize
}

// blocksToCheck is the number of BAT entries the block rules look at:
// curr_size>>21 in Compat mode (vhd-util assumes 2 MiB blocks and rounds
// down), every block of the virtual size by default; never more than the
// entries read.
func (c *checker) blocksToCheck() int64 {
	var n uint64
	if c.compat {
		n = c.ft.CurrentSize >> 21
	} else {
		bs := uint64(c.blockSizeForCheck())
		n = c.ft.CurrentSize/bs + boolToUint(c.ft.CurrentSize%bs != 0)
	}
	return int64(min(n, uint64(len(c.bat))))
}

func boolToUint(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// endOfHeaders is libvhd's vhd_end_of_headers: the end of the header, the
// BAT, the batmap and every locator's data. It returns the errno libvhd
// would fail with when the batmap cannot be read, and the end computed from
// what could be read.
//
// The ends are added without wrapping by default. In Compat mode they are
// added as libvhd adds them, in signed 64 bits: an end that overflows
// counts for nothing, so that a locator far past the end of the file is
// reported by the locator rules rather than as blocks clobbering headers.
// Nothing escapes: such a locator always fails "invalid size" or its read.
func (c *checker) endOfHeaders() (uint64, int) {
	h := c.hdr
	add := satAdd
	if c.compat {
		add = func(a, b uint64) uint64 { return uint64(max(int64(a+b), 0)) }
	}
	eom := add(c.ft.DataOffset, HeaderSize)
	eom = max(eom, add(h.TableOffset, uint64(batBytes(h.MaxTableEntries))))
	errno := 0
	if bm := c.loadBatmap(); bm != nil {
		errno = bm.errno
		if bm.hdrRead {
			eom = max(eom, add(uint64(bm.hoff), SectorSize))
		}
		if bm.hdrOK {
			eom = max(eom, add(bm.hdr.Offset, uint64(bm.hdr.Size)*SectorSize))
		}
	}
	for _, l := range h.Locators {
		if l.Code != PlatformNone {
			eom = max(eom, add(l.DataOffset, uint64(l.Size())))
		}
	}
	return eom, errno
}

// batEntries is the number of BAT entries read: those the virtual size
// needs (with 2 MiB blocks in Compat mode, as libvhd reads them), never more
// than the header claims. The virtual size is at most MaxSize here, so the
// count is bounded whatever max_table_entries says.
func (c *checker) batEntries() int64 {
	bs := uint64(c.blockSizeForCheck())
	if c.compat {
		bs = DefaultBlockSize
	}
	n := c.ft.CurrentSize/bs + boolToUint(c.ft.CurrentSize%bs != 0)
	return int64(min(n, uint64(c.hdr.MaxTableEntries)))
}

// readBAT reads the BAT entries the virtual size needs into c.bat, in
// bounded pieces. The caller has checked that the table lies within the
// file.
func (c *checker) readBAT() int {
	h := c.hdr
	bat := make([]uint32, c.batEntries())
	buf := make([]byte, min(int64(len(bat))*4, batChunk))
	for done := 0; done < len(bat); {
		if c.stopped() {
			return -1
		}
		k := min(len(bat)-done, len(buf)/4)
		if e := c.read(buf[:4*k], int64(h.TableOffset)+4*int64(done), "BAT"); e != 0 {
			return e
		}
		for j := range k {
			bat[done+j] = binary.BigEndian.Uint32(buf[4*j:])
		}
		done += k
	}
	c.bat = bat
	return 0
}

// checkBAT runs step 6: the BAT, the blocks' places, their overlaps, and
// with CheckBitmaps their data.
func (c *checker) checkBAT() {
	h := c.hdr
	eof := c.size
	fileSizeOK := true
	if eof%SectorSize != 0 {
		if eof%SectorSize != SectorSize-1 {
			c.add("BAT", -1, ErrBATInvalid, "invalid file size: 0x%x", eof)
			fileSizeOK = false
		}
		eof++
	}
	if !c.tableOK {
		c.notRun("BAT: the table does not lie within the file")
		return
	}
	if !c.ft.IsDynamic() {
		// The file opens with a footer of another type (see
		// UseBackupFooter): libvhd has no BAT to read.
		c.add("BAT", -1, ErrBATInvalid, "error reading bat: -%d", errEINVAL)
		return
	}
	if c.ft.CurrentSize > MaxSize {
		c.notRun("BAT and blocks: the virtual size is above 2040 GiB")
		return
	}
	blks2M := c.ft.CurrentSize>>21 + boolToUint(c.ft.CurrentSize&(2<<20-1) != 0)
	batErr := false
	if uint64(h.MaxTableEntries) < blks2M {
		c.add("BAT", c.hdrOff+headerOffMaxEntries, ErrBATInvalid, "error reading bat: -%d", errEINVAL)
		batErr = true
	}
	if e := c.readBAT(); e != 0 {
		if e > 0 && !batErr {
			c.add("BAT", int64(h.TableOffset), ErrBATInvalid, "error reading bat: -%d", e)
		}
		return
	}

	eoh, errno := c.endOfHeaders()
	if c.stopped() {
		return
	}
	if bm := c.bm; bm != nil && bm.tooSmall {
		c.add("batmap", bm.hoff+batmapOffSize, ErrBatmapTooSmall,
			"batmap of %d sectors is smaller than the %d bytes read for the virtual size (vhd-util aborts)", bm.hdr.Size, c.batmapMapLen())
	}
	if errno != 0 {
		c.add("batmap", c.bm.hoff, ErrBatmapInvalid, "error calculating end of metadata: -%d", errno)
	}
	if !fileSizeOK || batErr {
		return
	}

	var vhdBlocks uint64
	if c.compat {
		vhdBlocks = c.ft.CurrentSize >> 21
	} else {
		bs := uint64(c.blockSizeForCheck())
		vhdBlocks = c.ft.CurrentSize/bs + boolToUint(c.ft.CurrentSize%bs != 0)
	}
	if vhdBlocks > uint64(h.MaxTableEntries) {
		c.add("BAT", c.hdrOff+headerOffMaxEntries, ErrBATInvalid, "VHD size (%d blocks) exceeds BAT size (%d)", vhdBlocks, h.MaxTableEntries)
		return
	}
	if h.BlockSize < SectorSize || h.BlockSize&(h.BlockSize-1) != 0 {
		c.notRun("blocks: the block size %d is invalid", h.BlockSize)
		return
	}
	n := c.blocksToCheck()
	spb := int64(h.BlockSize) >> 9
	bmSecs := max((spb>>3+SectorSize-1)/SectorSize, 1)
	blockSecs := uint64(spb + bmSecs)
	eofSecs := uint64(eof-FooterSize) >> 9
	eohSecs := eoh >> 9
	allowOne := c.primaryMissing && c.opts.UseBackupFooter

	ov := c.newOverlaps(n, blockSecs)
	var dc *dataChecker
	if c.opts.CheckBitmaps {
		if validBlockSize(h.BlockSize) {
			dc = c.newDataChecker(spb, bmSecs, eof)
		} else {
			c.notRun("bitmaps: block size %d is not supported", h.BlockSize)
		}
	}
	for i := int64(0); i < n; i++ {
		if i&0xFFFF == 0 && c.stopped() {
			return
		}
		off := c.bat[i]
		if off == Unallocated {
			continue
		}
		where := int64(h.TableOffset) + 4*i
		ok := true
		if uint64(off) < eohSecs {
			c.add("BAT", where, ErrBATInvalid, "block %d (offset 0x%x) clobbers headers", i, off)
			ok = false
		}
		end := uint64(off) + blockSecs
		if c.compat && (end <= math.MaxUint32 || ov.involved(i) && !c.opts.SkipOverlapCheck) {
			// blktap adds in 32 bits. A block that wraps past 2^32
			// sectors then passes, and clobbers the blocks it wraps
			// over (overlaps.report); one that wraps over none lies over
			// sector 0 or past the footer all the same, and is reported
			// so here, where blktap calls it valid.
			end = uint64(off + uint32(blockSecs))
		}
		if end > eofSecs && !(allowOne && end == eofSecs+1) {
			c.add("BAT", where, ErrBATInvalid, "block %d (offset 0x%x) clobbers footer", i, off)
			ok = false
		}
		ov.report(i, off)
		if dc != nil && ok && !ov.involved(i) {
			dc.check(i, off)
			if c.fatal != nil {
				return
			}
		}
	}
	ov.finish()
}

// overlaps finds blocks that overlap, in O(n log n): the allocated entries
// are sorted by offset once, and each block's partners are the neighbours
// within one block's length.
//
// In Compat mode a block whose end passes 2^32 sectors is placed as blktap
// places it, in 32-bit sector arithmetic: its end wraps to the start of the
// file, and it clobbers the blocks it then overlaps by blktap's test
// (wrappedPartners). That is where blktap's reads and writes of it land.
type overlaps struct {
	c         *checker
	keys      []uint64 // offset<<32 | index, sorted
	blockSecs uint64
	any       bool
	quiet     bool     // SkipOverlapCheck: overlaps are found but not reported
	overlap   []uint64 // bit set of the blocks that overlap another
	seen      int64    // pairs passed to add
	stopped   bool     // the report is full: pairs are only counted
	wraps     bool     // Compat mode and some block wraps past 2^32 sectors
}

// wrapped reports whether the block at off wraps past 2^32 sectors in
// blktap's 32-bit arithmetic (Compat mode only).
func (o *overlaps) wrapped(off uint32) bool {
	return o.wraps && uint64(off)+o.blockSecs > math.MaxUint32
}

// wrappedPartners returns, in index order, the blocks j that the wrapping
// block i at off clobbers by blktap's test in 32 bits: the same offset,
// an offset within one block below off, or one whose first block's length
// holds the wrapped end.
func (o *overlaps) wrappedPartners(i int64, off uint32) []uint64 {
	bs := uint32(o.blockSecs)
	end := off + bs // wraps
	clobbers := func(joff uint32) bool {
		return off == joff || (off > joff && off < joff+bs) || (end > joff && end < joff+bs)
	}
	var out []uint64
	scan := func(lo, hi uint64) { // offsets in [lo, hi]
		from := sort.Search(len(o.keys), func(k int) bool { return o.keys[k]>>32 >= lo })
		for k := from; k < len(o.keys) && o.keys[k]>>32 <= hi; k++ {
			if j := o.keys[k] & 0xFFFFFFFF; int64(j) != i && clobbers(uint32(o.keys[k]>>32)) {
				out = append(out, j)
			}
		}
	}
	scan(0, uint64(end))
	scan(max(uint64(end)+1, uint64(off)-min(uint64(off), o.blockSecs)), uint64(off))
	slices.Sort(out)
	return slices.Compact(out)
}

// With SkipOverlapCheck the overlaps are not reported, but they are still
// found when CheckBitmaps is set, so that the data of overlapping blocks is
// not read over and over.
func (c *checker) newOverlaps(n int64, blockSecs uint64) *overlaps {
	quiet := c.opts.SkipOverlapCheck
	if quiet && !c.opts.CheckBitmaps {
		return &overlaps{c: c, quiet: true}
	}
	// Fast path: blktap allocates blocks in order, so the entries are often
	// increasing already; if each lies a block past the previous one there
	// is no overlap (unless the last wraps, in Compat mode).
	prev, first, inOrder := uint64(0), true, true
	for i := int64(0); i < n; i++ {
		off := c.bat[i]
		if off == Unallocated {
			continue
		}
		if !first && uint64(off) < prev+blockSecs {
			inOrder = false
			break
		}
		prev, first = uint64(off), false
	}
	wraps := c.compat && !first && prev+blockSecs > math.MaxUint32
	if inOrder && !wraps {
		return &overlaps{c: c, blockSecs: blockSecs, quiet: quiet}
	}
	keys := make([]uint64, 0, min(n, 1<<20))
	for i := int64(0); i < n; i++ {
		if off := c.bat[i]; off != Unallocated {
			keys = append(keys, uint64(off)<<32|uint64(i))
		}
	}
	if !slices.IsSorted(keys) {
		slices.Sort(keys)
	}
	o := &overlaps{c: c, keys: keys, blockSecs: blockSecs, quiet: quiet}
	o.wraps = c.compat && len(keys) > 0 && keys[len(keys)-1]>>32+blockSecs > math.MaxUint32
	mark := func(j uint64) {
		if !o.any {
			o.any = true
			o.overlap = make([]uint64, (n+63)/64)
		}
		o.overlap[j/64] |= 1 << (j % 64)
	}
	for k := 1; k < len(keys); k++ {
		a, b := uint32(keys[k-1]>>32), uint32(keys[k]>>32)
		if o.wrapped(a) || o.wrapped(b) {
			continue // blktap's test in 32 bits, below
		}
		if uint64(b)-uint64(a) < blockSecs {
			mark(keys[k-1] & 0xFFFFFFFF)
			mark(keys[k] & 0xFFFFFFFF)
		}
	}
	if o.wraps {
		for k := len(keys) - 1; k >= 0 && o.wrapped(uint32(keys[k]>>32)); k-- {
			i := keys[k] & 0xFFFFFFFF
			if ps := o.wrappedPartners(int64(i), uint32(keys[k]>>32)); len(ps) > 0 {
				mark(i)
				for _, j := range ps {
					mark(j)
				}
			}
		}
	}
	return o
}

// involved reports whether block i overlaps another block.
func (o *overlaps) involved(i int64) bool {
	return o.any && o.overlap[i/64]&(1<<(i%64)) != 0
}

// report adds "block i clobbers block j" for every j > i overlapping block
// i, in index order: vhd-util reports the first such pair of the lowest i.
func (o *overlaps) report(i int64, off uint32) {
	if !o.any || o.stopped || o.quiet || !o.involved(i) {
		return
	}
	c := o.c
	if len(c.rep.Problems) >= c.max {
		o.stopped = true
		return
	}
	var partners []uint64
	if o.wrapped(off) {
		// blktap's test is not symmetric here: the wrapping block
		// clobbers those below it, which do not clobber it.
		partners = o.wrappedPartners(i, off)
	} else {
		lo := uint64(0)
		if uint64(off) >= o.blockSecs {
			lo = uint64(off) - o.blockSecs + 1
		}
		hi := uint64(off) + o.blockSecs
		from := sort.Search(len(o.keys), func(k int) bool { return o.keys[k]>>32 >= lo })
		for k := from; k < len(o.keys) && o.keys[k]>>32 < hi; k++ {
			if j := o.keys[k] & 0xFFFFFFFF; int64(j) > i && !o.wrapped(uint32(o.keys[k]>>32)) {
				partners = append(partners, j)
			}
		}
		slices.Sort(partners)
	}
	for _, j := range partners {
		c.add("BAT", int64(c.hdr.TableOffset)+4*i, ErrBATOverlap, "block %d (offset 0x%x) clobbers block %d (offset 0x%x)", i, off, j, c.bat[j])
		o.seen++
	}
}

// finish counts the pairs not reported once the report was full.
func (o *overlaps) finish() {
	if !o.any || !o.stopped || o.quiet {
		return
	}
	var total int64
	k := 0
	for j := range o.keys {
		for o.keys[j]>>32-o.keys[k]>>32 >= o.blockSecs {
			k++
		}
		total += int64(j - k)
	}
	o.c.rep.Truncated += int(total - o.seen)
}

// dataChecker is the -b rule: a sector holding data must have its bitmap
// bit set.
type dataChecker struct {
	c      *checker
	spb    int64
	bmSecs int64
	end    int64 // EOF-512: data is read up to here, as libvhd's vhd_read_at does
	bitmap []byte
	data   []byte
}

func (c *checker) newDataChecker(spb, bmSecs, eof int64) *dataChecker {
	return &dataChecker{c: c, spb: spb, bmSecs: bmSecs, end: eof - FooterSize}
}

func (d *dataChecker) check(i int64, off uint32) {
	c := d.c
	if c.stopped() {
		return
	}
	if d.data == nil {
		d.bitmap = make([]byte, pad512(d.spb>>3))
		d.data = make([]byte, d.spb*SectorSize)
	}
	boff := int64(off) * SectorSize
	if e := c.read(d.bitmap, boff, "bitmap"); e != 0 {
		if e > 0 {
			c.add("BAT", boff, ErrBitmapInvalid, "error reading bitmap 0x%x", i)
		}
		return
	}
	doff := (int64(off) + d.bmSecs) * SectorSize
	n := int64(len(d.data))
	if d.end < doff+n {
		n = d.end - doff
	}
	if n < 0 {
		c.add("BAT", doff, ErrBitmapInvalid, "error reading data block 0x%x", i)
		return
	}
	clear(d.data[n:])
	if e := c.read(d.data[:n], doff, "data block"); e != 0 {
		if e > 0 {
			c.add("BAT", doff, ErrBitmapInvalid, "error reading data block 0x%x", i)
		}
		return
	}
	for s := int64(0); s < d.spb; s++ {
		sec := d.data[s*SectorSize : (s+1)*SectorSize]
		if set, _ := c.nonZero(sec); set && d.bitmap[s>>3]&(0x80>>(s&7)) == 0 {
			c.add("BAT", doff+s*SectorSize, ErrBitmapInvalid, "sector 0x%x of block 0x%x has data where bitmap is clear", s, i)
		}
	}
}
