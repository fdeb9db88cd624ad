package tarball

import (
	"encoding/binary"
	"hash/crc32"
)

// The gzip stream Pack writes is a series of gzip members (RFC 1952 allows
// any number; every gzip reader decodes them one after the other), each an
// independent deflate stream of up to one BlockSize of the tar stream. So
// that a reader can find the pieces without inflating them, each member's
// header carries an FEXTRA subfield with ID "VK":
//
//	offset size  field
//	0      4     deflate bytes of this member (little-endian)
//	4      1     flags: 0 for a data piece, 1 for the final piece
//	5      3     zero
//	8      8     final piece only: uncompressed bytes of all earlier members
//	16     4     final piece only: CRC-32 of all earlier members' data
//
// The final piece is an empty member written by a successful Pack only; a
// stream that ends without it was cut short. Pieces whose index is missing,
// malformed or out of range are decoded serially like any other gzip member.
const (
	pieceSI1, pieceSI2 = 'V', 'K'
	pieceDataLen       = 8  // subfield length of a data piece
	pieceFinalLen      = 20 // subfield length of the final piece
	pieceFlagFinal     = 1
	// pieceHeaderLen is the size of the gzip header of a data piece:
	// 10 fixed bytes, XLEN, and the subfield's 4-byte head and data.
	pieceHeaderLen = 10 + 2 + 4 + pieceDataLen
	// maxPiece bounds the decompressed and compressed size of a piece that
	// Unpack decodes in parallel; Pack indexes only pieces this small.
	maxPiece = 2 << 20
	// maxPieceCompressed allows for deflate's overhead on incompressible
	// data (5 bytes per stored block of at most 64 KiB) and some slack.
	maxPieceCompressed = maxPiece + maxPiece/64 + 1024
)

// pieceHeader returns the gzip header of a data piece with clen deflate
// bytes (flags 0) or of the final piece (final true, with the totals).
func pieceHeader(clen int, final bool, total uint64, crc uint32) []byte {
	n := pieceDataLen
	if final {
		n = pieceFinalLen
	}
	h := make([]byte, 10+2+4+n)
	h[0], h[1], h[2], h[3] = 0x1f, 0x8b, 8, 1<<2 // ID1 ID2 CM=deflate FLG=FEXTRA
	// MTIME 0 (none), XFL 0.
	h[9] = 255 // OS unknown
	binary.LittleEndian.PutUint16(h[10:], uint16(4+n))
	h[12], h[13] = pieceSI1, pieceSI2
	binary.LittleEndian.PutUint16(h[14:], uint16(n))
	binary.LittleEndian.PutUint32(h[16:], uint32(clen))
	if final {
		h[20] = pieceFlagFinal
		binary.LittleEndian.PutUint64(h[24:], total)
		binary.LittleEndian.PutUint32(h[32:], crc)
	}
	return h
}

// pieceIndex is what a member's "VK" subfield says.
type pieceIndex struct {
	clen  int64
	final bool
	total uint64
	crc   uint32
}

// parsePieceIndex looks for exactly one well-formed "VK" subfield in the
// FEXTRA data extra; ok is false when there is none, more than one, or it
// is malformed, and the member is then decoded serially.
func parsePieceIndex(extra []byte) (idx pieceIndex, ok bool) {
	found := 0
	for len(extra) >= 4 {
		n := int(binary.LittleEndian.Uint16(extra[2:]))
		if 4+n > len(extra) {
			return pieceIndex{}, false // subfields overrun XLEN
		}
		if extra[0] == pieceSI1 && extra[1] == pieceSI2 {
			found++
			d := extra[4 : 4+n]
			switch {
			case n == pieceDataLen && d[4] == 0 && d[5]|d[6]|d[7] == 0:
				idx = pieceIndex{clen: int64(binary.LittleEndian.Uint32(d))}
			case n == pieceFinalLen && d[4] == pieceFlagFinal && d[5]|d[6]|d[7] == 0:
				idx = pieceIndex{
					clen: int64(binary.LittleEndian.Uint32(d)), final: true,
					total: binary.LittleEndian.Uint64(d[8:]), crc: binary.LittleEndian.Uint32(d[16:]),
				}
			default:
				return pieceIndex{}, false
			}
		}
		extra = extra[4+n:]
	}
	if len(extra) != 0 || found != 1 || idx.clen > maxPieceCompressed {
		return pieceIndex{}, false
	}
	return idx, true
}

// crc32Combine returns the CRC-32 (IEEE) of A followed by B, given crcA,
// crcB and the length of B, without the data: CRC-32 is linear over GF(2),
// so appending lenB bytes acts on crcA as a matrix, squared per bit of lenB.
func crc32Combine(crcA, crcB uint32, lenB int64) uint32 {
	if lenB <= 0 {
		return crcA
	}
	// odd is the operator for one zero bit; even is built by squaring.
	var odd, even [32]uint32
	odd[0] = crc32.IEEE // the reflected polynomial 0xedb88320
	row := uint32(1)
	for i := 1; i < 32; i++ {
		odd[i] = row
		row <<= 1
	}
	gf2Square(&even, &odd) // two zero bits
	gf2Square(&odd, &even) // four zero bits
	// Apply len2 zero bytes to crcA: the first square gives one byte.
	for {
		gf2Square(&even, &odd)
		if lenB&1 != 0 {
			crcA = gf2Times(&even, crcA)
		}
		lenB >>= 1
		if lenB == 0 {
			break
		}
		gf2Square(&odd, &even)
		if lenB&1 != 0 {
			crcA = gf2Times(&odd, crcA)
		}
		lenB >>= 1
		if lenB == 0 {
			break
		}
	}
	return crcA ^ crcB
}

func gf2Times(mat *[32]uint32, vec uint32) uint32 {
	var sum uint32
	for i := 0; vec != 0; i, vec = i+1, vec>>1 {
		if vec&1 != 0 {
			sum ^= mat[i]
		}
	}
	return sum
}

func gf2Square(square, mat *[32]uint32) {
	for n := range 32 {
		square[n] = gf2Times(mat, mat[n])
	}
}
