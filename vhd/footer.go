package vhd

import (
	"encoding/binary"
	"fmt"
	"time"
)

// Sizes of the on-disk structures and the sector size.
const (
	SectorSize = 512
	FooterSize = 512
	HeaderSize = 1024
)

// Cookies that open a footer, a dynamic header and a blktap batmap header.
const (
	FooterCookie   = "conectix"
	DisabledCookie = "v_poison" // a footer cookie while a journalled blktap operation runs
	HeaderCookie   = "cxsparse"
	BatmapCookie   = "tdbatmap"
)

// FormatVersion is the only file-format and header version there is.
const FormatVersion = 0x00010000

// DiskType is the footer's disk type field.
type DiskType uint32

// Disk types defined by the VHD specification.
const (
	DiskNone         DiskType = 0
	DiskFixed        DiskType = 2
	DiskDynamic      DiskType = 3
	DiskDifferencing DiskType = 4
)

// String returns "fixed", "dynamic", "differencing" or "none".
func (t DiskType) String() string {
	switch t {
	case DiskNone:
		return "none"
	case DiskFixed:
		return "fixed"
	case DiskDynamic:
		return "dynamic"
	case DiskDifferencing:
		return "differencing"
	}
	return fmt.Sprintf("DiskType(%d)", uint32(t))
}

// Features is the footer's feature bit set.
type Features uint32

// Footer feature bits. FeatureReserved must always be set.
const (
	FeatureTemporary Features = 1 << 0
	FeatureReserved  Features = 1 << 1
)

// HostOS is the footer's creator host OS field.
type HostOS uint32

// Creator host OS codes. blktap writes HostUnknown.
const (
	HostUnknown HostOS = 0
	HostWindows HostOS = 0x5769326B // "Wi2k"
	HostMac     HostOS = 0x4D616320 // "Mac "
)

// Creator is a four-character creator application code such as "tap\x00",
// "qemu", "vbox" or "win ".
type Creator [4]byte

// CreatorTap is blktap's creator application code.
var CreatorTap = Creator{'t', 'a', 'p', 0}

// String returns the code with trailing NUL bytes removed.
func (c Creator) String() string {
	n := len(c)
	for n > 0 && c[n-1] == 0 {
		n--
	}
	return string(c[:n])
}

// Creator versions with a meaning to blktap.
const (
	TapVersion   = 0x00010003 // 1.3, what blktap writes
	tapVersion01 = 0x00000001 // refused by libvhd
	tapVersion11 = 0x00010001
	tapVersion12 = 0x00010002
)

// Geometry is a disk's cylinder/head/sector geometry as stored in the footer.
type Geometry struct {
	Cylinders       uint16
	Heads           uint8
	SectorsPerTrack uint8
}

// Uint32 returns the geometry encoded as the footer stores it.
func (g Geometry) Uint32() uint32 {
	return uint32(g.Cylinders)<<16 | uint32(g.Heads)<<8 | uint32(g.SectorsPerTrack)
}

// Sectors returns cylinders × heads × sectors per track.
func (g Geometry) Sectors() int64 {
	return int64(g.Cylinders) * int64(g.Heads) * int64(g.SectorsPerTrack)
}

// Footer is the 512-byte structure at the end of every VHD (and at offset 0
// of dynamic and differencing disks). Its fields mirror the on-disk layout;
// Hidden is blktap's extension at byte 85.
type Footer struct {
	Cookie         [8]byte  // 0: "conectix", or "v_poison" while disabled
	Features       Features // 8
	FormatVersion  uint32   // 12: FormatVersion
	DataOffset     uint64   // 16: offset of the dynamic header; all ones for fixed disks
	Timestamp      uint32   // 24: creation time, seconds since 2000-01-01 UTC; see TimeFromVHD
	CreatorApp     Creator  // 28
	CreatorVersion uint32   // 32
	CreatorOS      HostOS   // 36
	OriginalSize   uint64   // 40: bytes
	CurrentSize    uint64   // 48: bytes, the virtual size
	Geometry       Geometry // 56
	DiskType       DiskType // 60
	Checksum       uint32   // 64
	UUID           UUID
	Saved          uint8      // 84: saved state, 0 or 1
	Hidden         uint8      // 85: blktap's hidden flag, 0 or 1
	Reserved       [426]uint8 // 86: zero
}

// Byte offsets of footer fields, used in error reports.
const (
	footerOffFeatures   = 8
	footerOffVersion    = 12
	footerOffDataOffset = 16
	footerOffTimestamp  = 24
	footerOffCreator    = 28
	footerOffCreatorVer = 32
	footerOffCurrSize   = 48
	footerOffGeometry   = 56
	footerOffDiskType   = 60
	footerOffChecksum   = 64
	footerOffUUID       = 68
	footerOffSaved      = 84
	footerOffHidden     = 85
	footerOffReserved   = 86
)

// UnmarshalBinary decodes a footer from b, which must hold at least 511
// bytes; a missing last byte (a "short footer") reads as zero. It does not
// validate anything.
func (f *Footer) UnmarshalBinary(b []byte) error {
	if len(b) < FooterSize-1 {
		return fmt.Errorf("vhd: footer needs %d bytes, have %d: %w", FooterSize, len(b), ErrFormat)
	}
	var buf [FooterSize]byte
	copy(buf[:], b)
	be := binary.BigEndian
	copy(f.Cookie[:], buf[0:8])
	f.Features = Features(be.Uint32(buf[8:]))
	f.FormatVersion = be.Uint32(buf[12:])
	f.DataOffset = be.Uint64(buf[16:])
	f.Timestamp = be.Uint32(buf[24:])
	copy(f.CreatorApp[:], buf[28:32])
	f.CreatorVersion = be.Uint32(buf[32:])
	f.CreatorOS = HostOS(be.Uint32(buf[36:]))
	f.OriginalSize = be.Uint64(buf[40:])
	f.CurrentSize = be.Uint64(buf[48:])
	f.Geometry = Geometry{Cylinders: be.Uint16(buf[56:]), Heads: buf[58], SectorsPerTrack: buf[59]}
	f.DiskType = DiskType(be.Uint32(buf[60:]))
	f.Checksum = be.Uint32(buf[64:])
	copy(f.UUID[:], buf[68:84])
	f.Saved = buf[84]
	f.Hidden = buf[85]
	copy(f.Reserved[:], buf[86:])
	return nil
}

// MarshalBinary encodes the footer as stored, checksum field included as it
// is; call [Footer.UpdateChecksum] first after changing a field.
func (f *Footer) MarshalBinary() ([]byte, error) {
	return f.AppendBinary(make([]byte, 0, FooterSize))
}

// AppendBinary appends the 512-byte encoding of the footer to b.
func (f *Footer) AppendBinary(b []byte) ([]byte, error) {
	start := len(b)
	b = append(b, make([]byte, FooterSize)...)
	buf := b[start:]
	be := binary.BigEndian
	copy(buf[0:8], f.Cookie[:])
	be.PutUint32(buf[8:], uint32(f.Features))
	be.PutUint32(buf[12:], f.FormatVersion)
	be.PutUint64(buf[16:], f.DataOffset)
	be.PutUint32(buf[24:], f.Timestamp)
	copy(buf[28:32], f.CreatorApp[:])
	be.PutUint32(buf[32:], f.CreatorVersion)
	be.PutUint32(buf[36:], uint32(f.CreatorOS))
	be.PutUint64(buf[40:], f.OriginalSize)
	be.PutUint64(buf[48:], f.CurrentSize)
	be.PutUint16(buf[56:], f.Geometry.Cylinders)
	buf[58] = f.Geometry.Heads
	buf[59] = f.Geometry.SectorsPerTrack
	be.PutUint32(buf[60:], uint32(f.DiskType))
	be.PutUint32(buf[64:], f.Checksum)
	copy(buf[68:84], f.UUID[:])
	buf[84] = f.Saved
	buf[85] = f.Hidden
	copy(buf[86:], f.Reserved[:])
	return b, nil
}

func (f *Footer) bytes() []byte {
	b, _ := f.MarshalBinary()
	return b
}

// ComputeChecksum returns the checksum the footer should carry: the ones'
// complement of the byte sum of the encoded footer with the checksum field
// taken as zero.
func (f *Footer) ComputeChecksum() uint32 {
	b := f.bytes() // a fresh encoding: the footer itself is not copied
	clear(b[footerOffChecksum : footerOffChecksum+4])
	return onesComplementSum(b)
}

// UpdateChecksum sets Checksum to [Footer.ComputeChecksum].
func (f *Footer) UpdateChecksum() { f.Checksum = f.ComputeChecksum() }

// ChecksumValid reports whether the stored checksum is right. Like blktap it
// also accepts, for a hidden footer written by blktap ("tap") version 0.1 or
// 1.1, the checksum computed as if Hidden were 0: old tools set the flag
// without updating the checksum.
func (f *Footer) ChecksumValid() bool {
	if f.Checksum == f.ComputeChecksum() {
		return true
	}
	if f.Hidden != 0 && f.oldTap() {
		g := *f
		g.Hidden = 0
		return f.Checksum == g.ComputeChecksum()
	}
	return false
}

// oldTap reports whether the footer was written by blktap 0.1 or 1.1, whose
// hidden flag has quirks.
func (f *Footer) oldTap() bool {
	return f.CreatorApp == CreatorTap && (f.CreatorVersion == tapVersion01 || f.CreatorVersion == tapVersion11)
}

// IsDynamic reports whether the disk has a dynamic header (dynamic or differencing).
func (f *Footer) IsDynamic() bool {
	return f.DiskType == DiskDynamic || f.DiskType == DiskDifferencing
}

// Disabled reports whether the cookie marks the file as disabled ("v_poison").
func (f *Footer) Disabled() bool { return string(f.Cookie[:]) == DisabledCookie }

// Created returns the footer's timestamp as a time.
func (f *Footer) Created() time.Time { return TimeFromVHD(f.Timestamp) }

// onesComplementSum adds every byte of b as unsigned into a uint32 and
// returns its bitwise complement: the checksum of footers, headers and
// batmaps.
func onesComplementSum(b []byte) uint32 {
	var sum uint32
	for _, c := range b {
		sum += uint32(c)
	}
	return ^sum
}
