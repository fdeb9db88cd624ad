package vhd

import (
	"encoding/binary"
	"fmt"
)

// Batmap versions.
const (
	BatmapVersion   = 0x00010002 // what blktap writes
	batmapVersion11 = 0x00010001 // sums signed bytes
)

// Keyhash is the encryption key hash stored in a batmap header.
type Keyhash struct {
	Cookie uint8
	Nonce  [32]byte
	Hash   [32]byte // SHA-256
}

// BatmapHeader is the sector after the BAT in files written by blktap.
type BatmapHeader struct {
	Cookie   [8]byte // 0: "tdbatmap"
	Offset   uint64  // 8: byte offset of the map
	Size     uint32  // 16: sectors of the map
	Version  uint32  // 20: BatmapVersion
	Checksum uint32  // 24: of the map
	Marker   uint8   // 28
	Keyhash  Keyhash // 29
	Reserved [418]byte
}

const (
	batmapOffSize     = 16
	batmapOffVersion  = 20
	batmapOffChecksum = 24
	batmapOffMarker   = 28
)

// UnmarshalBinary decodes a batmap header from the first 512 bytes of b.
func (h *BatmapHeader) UnmarshalBinary(b []byte) error {
	if len(b) < SectorSize {
		return fmt.Errorf("vhd: batmap header needs %d bytes: %w", SectorSize, ErrFormat)
	}
	be := binary.BigEndian
	copy(h.Cookie[:], b[0:8])
	h.Offset = be.Uint64(b[8:])
	h.Size = be.Uint32(b[16:])
	h.Version = be.Uint32(b[20:])
	h.Checksum = be.Uint32(b[24:])
	h.Marker = b[28]
	h.Keyhash.Cookie = b[29]
	copy(h.Keyhash.Nonce[:], b[30:62])
	copy(h.Keyhash.Hash[:], b[62:94])
	copy(h.Reserved[:], b[94:512])
	return nil
}

// MarshalBinary encodes the batmap header as a 512-byte sector.
func (h *BatmapHeader) MarshalBinary() ([]byte, error) {
	b := make([]byte, SectorSize)
	be := binary.BigEndian
	copy(b[0:8], h.Cookie[:])
	be.PutUint64(b[8:], h.Offset)
	be.PutUint32(b[16:], h.Size)
	be.PutUint32(b[20:], h.Version)
	be.PutUint32(b[24:], h.Checksum)
	b[28] = h.Marker
	b[29] = h.Keyhash.Cookie
	copy(b[30:62], h.Keyhash.Nonce[:])
	copy(b[62:94], h.Keyhash.Hash[:])
	copy(b[94:], h.Reserved[:])
	return b, nil
}

// Batmap is blktap's map of fully written blocks, one bit per block (most
// significant bit first), and its header.
type Batmap struct {
	Header       BatmapHeader
	HeaderOffset int64 // where the header sector is
	// Map is the part of the map read: whole sectors covering one bit per
	// block of the virtual size and the bytes the checksum covers, at most
	// Header.Size sectors (a map may be preallocated for a larger size).
	Map []byte
}

// Full reports whether the map marks block i as fully written.
func (b *Batmap) Full(i int64) bool {
	if i < 0 || i/8 >= int64(len(b.Map)) {
		return false
	}
	return b.Map[i/8]&(0x80>>(i%8)) != 0
}

// batmapChecksumLen is the number of map bytes the checksum covers, as blktap
// computes it from the virtual size, not from the map's size.
func batmapChecksumLen(currentSize uint64) int64 {
	return SectorSize * max(1, (int64(currentSize>>24)+SectorSize-1)/SectorSize)
}

// ComputeChecksum returns the checksum of the map for a disk of currentSize
// bytes: the ones' complement of the byte sum over the length blktap uses,
// with bytes summed as signed for version 1.1.
func (b *Batmap) ComputeChecksum(currentSize uint64) uint32 {
	n := min(batmapChecksumLen(currentSize), int64(len(b.Map)))
	var sum uint32
	for _, c := range b.Map[:n] {
		if b.Header.Version == batmapVersion11 {
			sum += uint32(int32(int8(c)))
		} else {
			sum += uint32(c)
		}
	}
	return ^sum
}

// hasBatmap reports whether blktap would look for a batmap in this file, and
// whether it must exist (version 1.2 and later) or only may (above 0.1 and
// below 1.2).
func (f *File) hasBatmap() (looks, required bool) {
	ft := &f.Footer
	if ft.CreatorApp != CreatorTap || !ft.IsDynamic() || ft.CreatorVersion <= tapVersion01 {
		return false, false
	}
	return true, ft.CreatorVersion >= tapVersion12
}

// Batmap returns the file's batmap, read on first use. It returns
// [ErrNoBatmap] for files without one, and a [FormatError] for a batmap that
// is required but unreadable or whose size does not fit in the file.
func (f *File) Batmap() (*Batmap, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.loadBatmap()
}

func (f *File) loadBatmap() (*Batmap, error) {
	if f.batmapLoaded {
		return f.batmap, f.batmapErr
	}
	f.batmapLoaded = true
	f.batmap, f.batmapErr = f.readBatmap()
	return f.batmap, f.batmapErr
}

func (f *File) readBatmap() (*Batmap, error) {
	looks, required := f.hasBatmap()
	if !looks {
		return nil, ErrNoBatmap
	}
	h := f.Header
	hoff := int64(-1)
	if h.TableOffset <= uint64(f.size) {
		hoff = int64(h.TableOffset) + batBytes(h.MaxTableEntries)
	}
	if hoff < 0 || hoff > f.size-SectorSize {
		if !required {
			return nil, ErrNoBatmap
		}
		return nil, formatErr(f.name, "batmap", "", hoff, ErrTruncated, "batmap header at %d is past the end of the file", hoff)
	}
	buf := make([]byte, SectorSize)
	if err := f.readFull(buf, hoff); err != nil {
		return nil, fmt.Errorf("vhd: %s: reading batmap header: %w", f.name, err)
	}
	bm := &Batmap{HeaderOffset: hoff}
	bm.Header.UnmarshalBinary(buf)
	bh := &bm.Header
	// As libvhd's vhd_validate_batmap: any version up to the current one.
	valid := string(bh.Cookie[:]) == BatmapCookie && bh.Version <= BatmapVersion
	if !valid {
		if !required {
			return nil, ErrNoBatmap
		}
		if string(bh.Cookie[:]) != BatmapCookie {
			return nil, formatErr(f.name, "batmap", "cookie", hoff, ErrCookie, "invalid cookie %q", bh.Cookie[:])
		}
		return nil, formatErr(f.name, "batmap", "version", hoff+batmapOffVersion, ErrFormat, "unsupported batmap version %#08x", bh.Version)
	}
	mapLen := int64(bh.Size) * SectorSize
	if bh.Offset > uint64(f.size) || mapLen > f.size-int64(bh.Offset) {
		return nil, formatErr(f.name, "batmap", "size", hoff+batmapOffSize, ErrTooLarge,
			"map of %d sectors at offset %d does not fit in a file of %d bytes", bh.Size, bh.Offset, f.size)
	}
	// Read only what the virtual size needs: bounded by MaxSize, whatever
	// the header claims.
	need := max(pad512((f.Blocks()+7)/8), batmapChecksumLen(f.Footer.CurrentSize))
	bm.Map = make([]byte, min(mapLen, need))
	if err := f.readFull(bm.Map, int64(bh.Offset)); err != nil {
		return nil, fmt.Errorf("vhd: %s: reading batmap: %w", f.name, err)
	}
	return bm, nil
}

// Marker returns the marker byte of the batmap header (vhd-util query -m).
// Files without a batmap keep it in an extended attribute, which this
// package does not read; they report 0.
func (f *File) Marker() (uint8, error) {
	bm, err := f.Batmap()
	if err == ErrNoBatmap {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return bm.Header.Marker, nil
}
