package vhd

import "math"

// checkBatmap is a batmap read the way libvhd reads it.
type checkBatmap struct {
	hoff     int64 // header sector
	hdr      BatmapHeader
	hdrRead  bool   // the header sector was read
	hdrOK    bool   // cookie right and version at most 1.2, as libvhd accepts
	errno    int    // why libvhd's read fails (0: it succeeds)
	tooSmall bool   // the map is smaller than the checksummed length: vhd-util aborts
	mapBuf   []byte // the checksummed part of the map, when it could be read
}

// satAdd adds without wrapping past the largest uint64.
func satAdd(a, b uint64) uint64 {
	if a > math.MaxUint64-b {
		return math.MaxUint64
	}
	return a + b
}

// batmapHeaderOffset is where blktap puts the batmap header: the sector
// after the BAT.
func (c *checker) batmapHeaderOffset() uint64 {
	return satAdd(c.hdr.TableOffset, uint64(batBytes(c.hdr.MaxTableEntries)))
}

// readLibvhd reads len(b) bytes at off as libvhd's vhd_read reads them
// (the batmap, a locator's data), returning the errno it fails with: EINVAL
// for an offset lseek refuses (negative as a signed offset) or one that is
// not sector-aligned (blktap reads with O_DIRECT), EPIPE for a read that
// starts at or past the end of the file, EIO for one that crosses it; -1
// when a real I/O error stopped the check.
func (c *checker) readLibvhd(b []byte, off uint64, what string) int {
	switch {
	case off > math.MaxInt64 || off%SectorSize != 0:
		return errEINVAL
	case off >= uint64(c.size):
		return errEPIPE
	}
	return c.read(b, int64(off), what)
}

// readBatmapHeader reads the batmap header sector, or reports why not.
func (c *checker) readBatmapHeader() (*checkBatmap, int) {
	hoff := c.batmapHeaderOffset()
	bm := &checkBatmap{hoff: int64(min(hoff, math.MaxInt64))}
	buf := make([]byte, SectorSize)
	if e := c.readLibvhd(buf, hoff, "batmap header"); e != 0 {
		return bm, e
	}
	bm.hdrRead = true
	bm.hdr.UnmarshalBinary(buf)
	bm.hdrOK = string(bm.hdr.Cookie[:]) == BatmapCookie && bm.hdr.Version <= BatmapVersion
	return bm, 0
}

// hasBatmap is libvhd's vhd_has_batmap: creator "tap" above 0.1, and for
// versions below 1.2 only when a valid batmap header is there.
func (c *checker) hasBatmap() bool {
	ft := c.ft
	if !ft.IsDynamic() || !tapCreator(ft) || ft.CreatorVersion <= tapVersion01 {
		return false
	}
	if ft.CreatorVersion >= tapVersion12 {
		return true
	}
	bm, e := c.readBatmapHeader()
	return e == 0 && bm.hdrOK
}

// batmapMapLen is the number of map bytes blktap reads and checksums: from
// the virtual size, not from the batmap's size (see FORMAT.md, the batmap checksum and its quirk).
func (c *checker) batmapMapLen() uint64 {
	return uint64(batmapChecksumLen(c.ft.CurrentSize))
}

// loadBatmap reads the batmap as libvhd's vhd_read_batmap does and records
// why that would fail. It returns nil when the file has no batmap.
func (c *checker) loadBatmap() *checkBatmap {
	if c.bm != nil {
		return c.bm
	}
	if !c.hasBatmap() {
		return nil
	}
	bm, e := c.readBatmapHeader()
	if c.ft.CurrentSize > MaxSize {
		// The map length comes from the virtual size: do not read it.
		c.bm = bm
		bm.errno = errEINVAL
		return bm
	}
	c.bm = bm
	if e != 0 {
		bm.errno = max(e, errEIO) // an I/O error has stopped the check
		return bm
	}
	if !bm.hdrOK {
		bm.errno = errEINVAL
		return bm
	}
	mapLen := c.batmapMapLen()
	if uint64(bm.hdr.Size)*SectorSize < mapLen {
		bm.tooSmall = true
	}
	buf := make([]byte, mapLen) // at most 128 KiB: the size is at most MaxSize
	if e := c.readLibvhd(buf, bm.hdr.Offset, "batmap"); e != 0 {
		bm.errno = max(e, errEIO)
		return bm
	}
	bm.mapBuf = buf
	if batmapSum(buf, bm.hdr.Version) != bm.hdr.Checksum {
		bm.errno = errEINVAL
	}
	return bm
}

// batmapSum is blktap's batmap checksum: bytes summed as signed chars for
// version 1.1, unsigned otherwise.
func batmapSum(b []byte, version uint32) uint32 {
	var sum uint32
	for _, x := range b {
		if version == batmapVersion11 {
			sum += uint32(int32(int8(x)))
		} else {
			sum += uint32(x)
		}
	}
	return ^sum
}

// checkBatmap runs step 7 for files with a batmap.
func (c *checker) checkBatmap() {
	bm := c.loadBatmap()
	if bm == nil || c.stopped() {
		return
	}
	h := &bm.hdr
	if !bm.hdrRead {
		c.add("batmap", bm.hoff, ErrBatmapInvalid, "error reading batmap: -%d", bm.errno)
		return
	}
	bad := func(field int64, why string) {
		c.add("batmap", bm.hoff+field, ErrBatmapInvalid, "batmap is invalid: %s", why)
	}
	if string(h.Cookie[:]) != BatmapCookie {
		bad(0, "invalid cookie")
		return
	}
	if h.Version > BatmapVersion {
		bad(batmapOffVersion, "unsupported batmap version")
	}
	if bm.mapBuf == nil && bm.hdrOK {
		c.add("batmap", int64(min(h.Offset, math.MaxInt64)), ErrBatmapInvalid, "error reading batmap: -%d", max(bm.errno, errEIO))
	} else if bm.mapBuf != nil && batmapSum(bm.mapBuf, h.Version) != h.Checksum {
		bad(batmapOffChecksum, "invalid checksum")
	}
	if h.Size == 0 {
		bad(batmapOffSize, "invalid size zero")
	}
	// size << 12 in 32 bits, as blktap shifts it.
	bits := h.Size << (9 + 3)
	if !c.compat {
		bits = uint32(min(uint64(h.Size)<<12, math.MaxUint32))
	}
	if bits < c.hdr.MaxTableEntries {
		bad(batmapOffSize, "batmap-BAT size mismatch")
	}
	if h.Offset == 0 || h.Offset%SectorSize != 0 {
		bad(8, "invalid batmap offset")
	}
	if satAdd(h.Offset, uint64(h.Size)*SectorSize) > c.eofForMetadata() {
		bad(batmapOffSize, "invalid batmap size")
	}
	// Blocks the map calls full must be allocated.
	if bm.mapBuf == nil || c.bat == nil {
		return
	}
	n := c.blocksToCheck()
	for i := int64(0); i < n; i++ {
		if uint64(i) >= uint64(bits) || i/8 >= int64(len(bm.mapBuf)) {
			break
		}
		if bm.mapBuf[i/8]&(0x80>>(i%8)) != 0 && c.bat[i] == Unallocated {
			c.add("batmap", int64(h.Offset)+i/8, ErrBatmapInvalid, "batmap shows unallocated block %d full", i)
		}
	}
}
