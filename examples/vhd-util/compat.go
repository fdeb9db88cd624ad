package main

import (
	"encoding/binary"
	"errors"
	"io"
	"os"
	"syscall"

	"github.com/vhdkit/vhdkit/vhd"
)

// query's -s, -a, -m and -f items read the file as libvhd does, field by
// field, with libvhd's arithmetic (a 32-bit block count, 2 MiB blocks
// assumed) and libvhd's errors (EPIPE for a read that starts at or past the
// end of the file, EIO for one that crosses it, EINVAL for an offset no
// seek reaches), so that their answers and exit statuses are vhd-util's on
// damaged files too. Nothing here allocates more than the file holds: a
// structure is read only once it is known to lie inside the file.

// compatFile is a VHD opened by vhd.Open, read again as libvhd reads it.
type compatFile struct {
	f    *vhd.File
	osf  *os.File // opened on first use
	size int64
	err  error
}

func newCompat(f *vhd.File) *compatFile { return &compatFile{f: f} }

func (c *compatFile) close() {
	if c.osf != nil {
		c.osf.Close()
	}
}

// maxSeek is the largest offset lseek(2) reaches on ext4 (16 TiB); libvhd's
// seek beyond it fails with EINVAL.
const maxSeek = 1 << 44

// pread reads len(b) bytes at off with the errors libvhd's vhd_read gives.
func (c *compatFile) pread(b []byte, off uint64) error {
	if c.osf == nil && c.err == nil && c.f != nil {
		c.osf, c.err = os.Open(c.f.Name())
		if c.err == nil {
			c.size, c.err = sizeOf(c.osf)
		}
	}
	if c.err != nil {
		return c.err
	}
	if off >= maxSeek || off%vhd.SectorSize != 0 {
		// Past what a seek reaches, or unaligned for libvhd's O_DIRECT.
		return syscall.EINVAL
	}
	o := int64(off)
	switch {
	case o >= c.size:
		return syscall.EPIPE // pread returns 0: libvhd's EPIPE
	case o+int64(len(b)) > c.size:
		return syscall.EIO // a short read ending at EOF
	}
	n, err := c.osf.ReadAt(b, o)
	if n == len(b) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		return syscall.EIO
	}
	return err
}

func padSectors(n uint64) uint64 { return max(1, (n+vhd.SectorSize-1)/vhd.SectorSize) * vhd.SectorSize }

// dynamic is libvhd's vhd_type_dynamic: dynamic or differencing.
func (c *compatFile) dynamic() bool {
	t := c.f.Footer.DiskType
	return t == vhd.DiskDynamic || t == vhd.DiskDifferencing
}

func (c *compatFile) tapCreator() bool { return string(c.f.Footer.CreatorApp[:]) == "tap\x00" }

// batmapHeaderOffset is the sector after the BAT as max_table_entries sizes it.
func (c *compatFile) batmapHeaderOffset() uint64 {
	h := c.f.Header
	return h.TableOffset + padSectors(uint64(h.MaxTableEntries)*4)
}

// batmapHeader reads the batmap header sector, validating nothing.
func (c *compatFile) batmapHeader() ([]byte, error) {
	b := make([]byte, vhd.SectorSize)
	if err := c.pread(b, c.batmapHeaderOffset()); err != nil {
		return nil, err
	}
	return b, nil
}

const batmapVersion12 = 0x00010002

func validBatmapHeader(b []byte) bool {
	return string(b[:8]) == "tdbatmap" && binary.BigEndian.Uint32(b[20:]) <= batmapVersion12
}

// hasBatmap is libvhd's vhd_has_batmap.
func (c *compatFile) hasBatmap() bool {
	v := c.f.Footer.CreatorVersion
	switch {
	case !c.dynamic() || !c.tapCreator() || v <= 0x00000001:
		return false
	case v >= 0x00010002:
		return true
	}
	b, err := c.batmapHeader()
	return err == nil && validBatmapHeader(b)
}

// marker is query -m: the batmap header's marker byte (no validation, as
// libvhd), or the extended attribute of a file without a batmap.
func (c *compatFile) marker() (uint8, error) {
	if !c.hasBatmap() {
		return getMarkerXattr(c.f.Name())
	}
	b, err := c.batmapHeader()
	if err != nil {
		return 0, err
	}
	return b[28], nil
}

// hidden is query -f: the footer's hidden byte, or for a tap 0.1 or 1.1
// dynamic disk the backup footer's (which must be valid).
func (c *compatFile) hidden() (uint8, error) {
	ft := &c.f.Footer
	if !c.dynamic() || !c.tapCreator() || (ft.CreatorVersion != 0x00000001 && ft.CreatorVersion != 0x00010001) {
		return ft.Hidden, nil
	}
	return c.backupHidden()
}

// backupHidden is hidden's old-tap case, apart so that the common case's
// frame stays small: the footer copy it decodes takes a kilobyte of stack,
// and growing the stack of a program forked once per query costs more than
// the query.
func (c *compatFile) backupHidden() (uint8, error) {
	b := make([]byte, vhd.FooterSize)
	if err := c.pread(b, 0); err != nil {
		return 0, err
	}
	var bf vhd.Footer
	if err := bf.UnmarshalBinary(b); err != nil {
		return 0, err
	}
	cookie := string(bf.Cookie[:])
	if (cookie != vhd.FooterCookie && cookie != vhd.DisabledCookie) || !bf.ChecksumValid() {
		return 0, syscall.EINVAL
	}
	return bf.Hidden, nil
}

// checkBatmap is libvhd's vhd_read_batmap as vhd_end_of_headers calls it:
// a valid cookie and version, a map as large as the size needs, and a
// matching checksum. vhd-util aborts on a map too small; this is EINVAL.
func (c *compatFile) checkBatmap() (hdr []byte, err error) {
	hdr, err = c.batmapHeader()
	if err != nil {
		return nil, err
	}
	if !validBatmapHeader(hdr) {
		return nil, syscall.EINVAL
	}
	mapSize := padSectors(c.f.Footer.CurrentSize >> 24)
	if uint64(binary.BigEndian.Uint32(hdr[16:]))*vhd.SectorSize < mapSize {
		return nil, syscall.EINVAL
	}
	if mapSize > uint64(vhd.MaxSize>>24)+vhd.SectorSize {
		return nil, syscall.EINVAL // more than 2040 GiB needs
	}
	m := make([]byte, mapSize)
	if err := c.pread(m, binary.BigEndian.Uint64(hdr[8:])); err != nil {
		return nil, err
	}
	var sum uint32
	signed := binary.BigEndian.Uint32(hdr[20:]) == 0x00010001
	for _, x := range m {
		if signed {
			sum += uint32(int32(int8(x)))
		} else {
			sum += uint32(x)
		}
	}
	if ^sum != binary.BigEndian.Uint32(hdr[24:]) {
		return nil, syscall.EINVAL
	}
	return hdr, nil
}

// locatorSize is libvhd's vhd_parent_locator_size: data_space below 512 is
// sectors, a multiple of 512 bytes, anything else 0.
func locatorSize(space uint32) uint64 {
	switch {
	case space < vhd.SectorSize:
		return uint64(space) * vhd.SectorSize
	case space%vhd.SectorSize == 0:
		return uint64(space)
	}
	return 0
}

// endOfHeaders is libvhd's vhd_end_of_headers, in its signed 64-bit
// arithmetic: an end that overflows to a negative offset counts for nothing.
func (c *compatFile) endOfHeaders() (int64, error) {
	if !c.dynamic() {
		return 0, nil
	}
	h := c.f.Header
	eom := max(int64(c.f.Footer.DataOffset+1024), int64(h.TableOffset+padSectors(uint64(h.MaxTableEntries)*4)))
	if c.hasBatmap() {
		hdr, err := c.checkBatmap()
		if err != nil {
			return 0, err
		}
		eom = max(eom, int64(c.batmapHeaderOffset()+vhd.SectorSize),
			int64(binary.BigEndian.Uint64(hdr[8:])+uint64(binary.BigEndian.Uint32(hdr[16:]))*vhd.SectorSize))
	}
	for _, l := range h.Locators {
		if l.Code != vhd.PlatformNone {
			eom = max(eom, int64(l.DataOffset+locatorSize(l.DataSpace)))
		}
	}
	return eom, nil
}

// bat is libvhd's vhd_read_bat: the entries for the virtual size in 2 MiB
// blocks, counted in 32 bits; EINVAL when the table is smaller.
func (c *compatFile) bat() ([]uint32, error) {
	if !c.dynamic() {
		return nil, syscall.EINVAL
	}
	n := uint32((c.f.Footer.CurrentSize + compatBlock - 1) >> 21)
	if c.f.Header.MaxTableEntries < n {
		return nil, syscall.EINVAL
	}
	if uint64(n) > vhd.MaxSize/compatBlock {
		return nil, syscall.EINVAL // more than 2040 GiB needs
	}
	b := make([]byte, padSectors(uint64(n)*4))
	if err := c.pread(b, c.f.Header.TableOffset); err != nil {
		return nil, err
	}
	bat := make([]uint32, n)
	for i := range bat {
		bat[i] = binary.BigEndian.Uint32(b[4*i:])
	}
	return bat, nil
}

// physicalSize is query -s: libvhd's end of data plus the footer.
func (c *compatFile) physicalSize() (uint64, error) {
	if !c.dynamic() {
		return uint64(c.f.FileSize()), nil
	}
	end, err := c.endOfHeaders()
	if err != nil {
		return 0, err
	}
	bat, err := c.bat()
	if err != nil {
		return 0, err
	}
	spb := uint64(c.f.Header.BlockSize) >> 9
	bmSecs := max(1, (spb>>3+vhd.SectorSize-1)/vhd.SectorSize)
	end >>= 9
	for _, e := range bat {
		// libvhd compares a block's unsigned end with the signed end.
		if e != vhd.Unallocated && uint64(e)+spb+bmSecs > uint64(end) {
			end = int64(uint64(e) + spb + bmSecs)
		}
	}
	return uint64(end<<9 + vhd.FooterSize), nil
}

// allocated is query -a: the entries of bat that are not unused.
func (c *compatFile) allocated() (int, error) {
	bat, err := c.bat()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range bat {
		if e != vhd.Unallocated {
			n++
		}
	}
	return n, nil
}

// sizeOf returns the size of the open file f as libvhd sees it: what Stat
// says for a regular file, and where seeking to the end lands for a block
// device, such as the logical volume an LVM-based SR keeps a VHD in.
func sizeOf(f *os.File) (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	if st.Mode().IsRegular() {
		return st.Size(), nil
	}
	return f.Seek(0, io.SeekEnd)
}
