package vhd

import (
	"encoding/binary"
	"math"
	"math/bits"
)

// eofForMetadata is the end of file that metadata ends are compared with:
// EOF-512, where vhd-util does not adjust EOF for a short footer (a verdict bug)
// and the default mode does.
func (c *checker) eofForMetadata() uint64 {
	eof := c.size
	if !c.compat && eof%SectorSize == SectorSize-1 {
		eof++
	}
	return uint64(eof) - FooterSize
}

// checkHeader runs step 3: the dynamic header at the footer's data offset,
// read and checked as plain bytes.
func (c *checker) checkHeader() {
	off := c.ft.DataOffset
	if off > math.MaxInt64 {
		c.add("header", footerOffDataOffset, ErrHeaderInvalid, "error seeking to header: -%d", errEINVAL)
		return
	}
	buf := make([]byte, HeaderSize)
	if e := c.read(buf, int64(off), "header"); e != 0 {
		if e > 0 {
			c.add("header", int64(off), ErrHeaderInvalid, "error reading header: -%d", e)
		}
		return
	}
	h := new(Header)
	h.UnmarshalBinary(buf)
	base := int64(off)
	bad := func(field int64, why string) {
		c.add("header", base+field, ErrHeaderInvalid, "header is invalid: %s", why)
	}
	if string(h.Cookie[:]) != HeaderCookie {
		bad(0, "invalid cookie")
		return
	}
	if h.Checksum != h.ComputeChecksum() {
		bad(headerOffChecksum, "invalid checksum")
	}
	if h.Version != FormatVersion {
		bad(headerOffVersion, "invalid header version")
	}
	if h.DataOffset != ^uint64(0) {
		bad(headerOffDataOffset, "invalid data offset")
	}
	// The BAT must lie within the file, before the footer. vhd-util adds in
	// 64 bits and wraps; the default mode does not.
	eof := c.eofForMetadata()
	batEnd := h.TableOffset + uint64(h.MaxTableEntries)*4
	overflow := !c.compat && batEnd < h.TableOffset
	if h.TableOffset == 0 || h.TableOffset%SectorSize != 0 || batEnd > eof || overflow {
		bad(headerOffTable, "invalid table offset")
	} else {
		c.tableOK = true
	}
	if bits.OnesCount32(h.BlockSize) != 1 || (!c.compat && !validBlockSize(h.BlockSize)) {
		bad(headerOffBlockSize, "invalid block size")
	}
	if h.Reserved1 != 0 {
		bad(headerOffReserved1, "invalid reserved bits")
	}
	if nz, i := c.nonZero(h.Reserved2[:]); nz {
		bad(headerOffReserved2+int64(i), "invalid reserved bits")
	}
	c.hdr, c.hdrOff = h, base
	// Keep the BAT out of reach if it does not fit in the file, whatever
	// vhd-util's wrapping arithmetic said.
	if c.tableOK && (batEnd < h.TableOffset || batEnd > uint64(c.size)) {
		c.tableOK = false
	}
}

// checkOpen runs step 4: blktap's full open, which the package's New
// reproduces (footer fallback, header cookie, version, data offset, block
// size up to 2 MiB, known locator codes, checksum, blktap 0.1 refused).
func (c *checker) checkOpen() {
	f, err := newFile(c.r, c.size, c.name)
	if err != nil {
		c.add("open", -1, ErrOpenFailed, "Failed to open %s: -%d", c.name, errnoOf(err))
		return
	}
	c.file = f
}

// checkDiffHeader runs step 5: the parent fields of the header.
func (c *checker) checkDiffHeader() {
	h := c.hdr
	bad := func(field int64, err error, why string) {
		c.add("header", c.hdrOff+field, err, "differencing header is invalid: %s", why)
	}
	if c.ft.DiskType == DiskDifferencing {
		if !c.opts.IgnoreTimestamps && h.ParentTimestamp > c.now+futureSlack {
			bad(headerOffParentTime, ErrFutureTime, "parent creation time in future")
		}
		if _, ok := c.parentName(); !ok {
			bad(headerOffParentName, ErrDiffHeaderInvalid, "invalid parent name")
			c.pnameBad = true
		}
		return
	}
	if nz, i := c.nonZero(h.ParentName[:]); nz {
		bad(headerOffParentName+int64(i), ErrDiffHeaderInvalid, "invalid non-null parent name")
	}
	// vhd-util looks at the locators after converting them to host order,
	// so the first byte it sees is the low byte of slot 0's code.
	var locs [8 * locatorEntrySize]byte
	for i, l := range h.Locators {
		e := locs[i*locatorEntrySize:]
		binary.LittleEndian.PutUint32(e[0:], uint32(l.Code))
		binary.LittleEndian.PutUint32(e[4:], l.DataSpace)
		binary.LittleEndian.PutUint32(e[8:], l.DataLength)
		binary.BigEndian.PutUint32(e[12:], l.Reserved)
		binary.LittleEndian.PutUint64(e[16:], l.DataOffset)
	}
	if nz, i := c.nonZero(locs[:]); nz {
		slot := i / locatorEntrySize
		bad(headerOffLocators+int64(slot*locatorEntrySize), ErrDiffHeaderInvalid, "invalid non-null parent locators")
	}
	if !h.ParentUUID.IsZero() {
		bad(headerOffParentUUID, ErrDiffHeaderInvalid, "invalid non-null parent uuid")
	}
	if h.ParentTimestamp != 0 {
		bad(headerOffParentTime, ErrDiffHeaderInvalid, "invalid non-zero parent timestamp")
	}
}

// parentName decodes the header's parent name as blktap does (in both
// modes, by the one UTF-16 rule of decodeUTF16ASCII): UTF-16BE ASCII in all
// 512 bytes, '\' turned into '/', a leading "C:" or "c:" dropped.
func (c *checker) parentName() (string, bool) {
	return decodeW2U(c.hdr.ParentName[:], binary.BigEndian)
}
