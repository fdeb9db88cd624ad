package vhd

import (
	"encoding/binary"
	"fmt"
	"time"
)

// DefaultBlockSize is the block size blktap writes and the only one tapdisk
// reads correctly.
const DefaultBlockSize = 2 << 20

// MaxBlockSize is the largest block size this package (and blktap) opens.
const MaxBlockSize = 2 << 20

// Header is the 1024-byte dynamic disk header of dynamic and differencing
// disks, found at the footer's DataOffset. Its fields mirror the on-disk
// layout.
type Header struct {
	Cookie          [8]byte   // 0: "cxsparse"
	DataOffset      uint64    // 8: all ones
	TableOffset     uint64    // 16: byte offset of the BAT
	Version         uint32    // 24: FormatVersion
	MaxTableEntries uint32    // 28: BAT entries
	BlockSize       uint32    // 32: bytes per block, a power of two
	Checksum        uint32    // 36
	ParentUUID      UUID      // 40: the parent's footer UUID; zero for none or a raw parent
	ParentTimestamp uint32    // 56: the parent file's mtime, VHD time; see TimeFromVHD
	Reserved1       uint32    // 60
	ParentName      [512]byte // 64: the parent's base name, UTF-16BE, zero padded
	Locators        [8]ParentLocator
	Reserved2       [256]byte // 768
}

// Byte offsets of header fields, relative to the header.
const (
	headerOffDataOffset  = 8
	headerOffTable       = 16
	headerOffVersion     = 24
	headerOffMaxEntries  = 28
	headerOffBlockSize   = 32
	headerOffChecksum    = 36
	headerOffParentUUID  = 40
	headerOffParentTime  = 56
	headerOffReserved1   = 60
	headerOffParentName  = 64
	headerOffLocators    = 576
	headerOffReserved2   = 768
	locatorEntrySize     = 24
	headerParentNameSize = 512
)

// UnmarshalBinary decodes a header from the first 1024 bytes of b. It does
// not validate anything.
func (h *Header) UnmarshalBinary(b []byte) error {
	if len(b) < HeaderSize {
		return fmt.Errorf("vhd: header needs %d bytes, have %d: %w", HeaderSize, len(b), ErrFormat)
	}
	be := binary.BigEndian
	copy(h.Cookie[:], b[0:8])
	h.DataOffset = be.Uint64(b[8:])
	h.TableOffset = be.Uint64(b[16:])
	h.Version = be.Uint32(b[24:])
	h.MaxTableEntries = be.Uint32(b[28:])
	h.BlockSize = be.Uint32(b[32:])
	h.Checksum = be.Uint32(b[36:])
	copy(h.ParentUUID[:], b[40:56])
	h.ParentTimestamp = be.Uint32(b[56:])
	h.Reserved1 = be.Uint32(b[60:])
	copy(h.ParentName[:], b[64:576])
	for i := range h.Locators {
		h.Locators[i].unmarshal(b[headerOffLocators+i*locatorEntrySize:])
	}
	copy(h.Reserved2[:], b[768:1024])
	return nil
}

// MarshalBinary encodes the header as stored, checksum included as it is;
// call [Header.UpdateChecksum] first after changing a field.
func (h *Header) MarshalBinary() ([]byte, error) {
	b := make([]byte, HeaderSize)
	be := binary.BigEndian
	copy(b[0:8], h.Cookie[:])
	be.PutUint64(b[8:], h.DataOffset)
	be.PutUint64(b[16:], h.TableOffset)
	be.PutUint32(b[24:], h.Version)
	be.PutUint32(b[28:], h.MaxTableEntries)
	be.PutUint32(b[32:], h.BlockSize)
	be.PutUint32(b[36:], h.Checksum)
	copy(b[40:56], h.ParentUUID[:])
	be.PutUint32(b[56:], h.ParentTimestamp)
	be.PutUint32(b[60:], h.Reserved1)
	copy(b[64:576], h.ParentName[:])
	for i := range h.Locators {
		h.Locators[i].marshal(b[headerOffLocators+i*locatorEntrySize:])
	}
	copy(b[768:], h.Reserved2[:])
	return b, nil
}

func (h *Header) bytes() []byte {
	b, _ := h.MarshalBinary()
	return b
}

// ComputeChecksum returns the checksum the header should carry.
func (h *Header) ComputeChecksum() uint32 {
	b := h.bytes() // a fresh encoding: the header itself is not copied
	clear(b[headerOffChecksum : headerOffChecksum+4])
	return onesComplementSum(b)
}

// UpdateChecksum sets Checksum to [Header.ComputeChecksum].
func (h *Header) UpdateChecksum() { h.Checksum = h.ComputeChecksum() }

// ParentModTime returns the parent timestamp as a time.
func (h *Header) ParentModTime() time.Time { return TimeFromVHD(h.ParentTimestamp) }

// ParentUnicodeName decodes ParentName, UTF-16BE, by the one rule for
// UTF-16 text in a VHD, blktap's (see [DecodeLocator]): every code unit of
// the 512 bytes must be ASCII, past the first NUL character too, and the
// name is what precedes that NUL. Anything else is an error wrapping
// [ErrLocator].
func (h *Header) ParentUnicodeName() (string, error) {
	return decodeUTF16ASCII(h.ParentName[:], binary.BigEndian)
}

// SetParentUnicodeName stores name as UTF-16BE in ParentName. The name must
// be ASCII and fit in 256 characters.
func (h *Header) SetParentUnicodeName(name string) error {
	enc, err := encodeUTF16ASCII(name, binary.BigEndian)
	if err != nil {
		return err
	}
	if len(enc) > len(h.ParentName) {
		return fmt.Errorf("vhd: parent name of %d characters does not fit in 256: %w", len(name), ErrTooLarge)
	}
	h.ParentName = [512]byte{}
	copy(h.ParentName[:], enc)
	return nil
}

// blocksPerBitmap returns the number of bitmap sectors in front of each block.
func (h *Header) bitmapSectors() int64 {
	spb := int64(h.BlockSize) / SectorSize
	n := (spb/8 + SectorSize - 1) / SectorSize
	return max(n, 1)
}
