package vhd

// GeometryForSize returns the CHS geometry the VHD specification assigns to a
// disk of size bytes. The geometry saturates at 65535/16/255 (about 127.5 GiB).
// blktap stores it without rounding the size down to C·H·S; qemu rounds.
func GeometryForSize(size uint64) Geometry {
	secs := (size + SectorSize - 1) / SectorSize
	if secs == 0 {
		secs = 1
	}
	if secs > 65535*16*255 {
		secs = 65535 * 16 * 255
	}
	var spt, heads, cth uint64
	if secs >= 65535*16*63 {
		spt, heads = 255, 16
		cth = secs / spt
	} else {
		spt = 17
		cth = secs / spt
		heads = max((cth+1023)/1024, 4)
		if cth >= heads*1024 || heads > 16 {
			spt, heads = 31, 16
			cth = secs / spt
		}
		if cth >= heads*1024 {
			spt, heads = 63, 16
			cth = secs / spt
		}
	}
	return Geometry{Cylinders: uint16(cth / heads), Heads: uint8(heads), SectorsPerTrack: uint8(spt)}
}
