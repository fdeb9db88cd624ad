package tarball

import "math/bits"

// Decoding tables for the inflater. An entry describes the code whose bits,
// read low first, index it:
//
//	bits 0-5   length of the code, in bits
//	bits 8-11  extra bits that follow (lengths, distances) or, with
//	           flagSub, the index bits of the subtable
//	bits 12-15 flags
//	bits 16-31 the literal byte, the base length or distance, the
//	           code length code's symbol, or the subtable's offset
//
// A code longer than the table's root bits is found in a subtable,
// indexed by the bits after the root bits.
const (
	litBits  = 10 // root bits of the literal/length table
	distBits = 8  // root bits of the distance table

	flagLiteral = 1 << 12
	flagEnd     = 1 << 13 // end of block
	flagSub     = 1 << 14
	flagInvalid = 1 << 15

	maxLitSyms  = 288
	maxDistSyms = 32
	maxCodeLen  = 15

	// tableLen bounds a table: the root and its subtables. A subtable of
	// 2^k entries holds at least k+1 codes, so 288 codes need fewer than
	// 288*32/6 subtable entries beyond a root of 1024.
	tableLen = 1<<litBits + 1536
)

// huffTable is a literal/length or distance decoding table.
type huffTable [tableLen]uint32

// Entry templates of each alphabet's symbols (RFC 1951 3.2.5), without
// the code length.
var (
	litEntries     = makeLitEntries()
	distEntries    = makeDistEntries()
	codeLenEntries = makeCodeLenEntries()
	// The fixed Huffman tables (RFC 1951 3.2.6), never written after init.
	fixedLit, fixedDist = makeFixedTables()
)

func makeLitEntries() (t [maxLitSyms]uint32) {
	for s := range 256 {
		t[s] = uint32(s)<<16 | flagLiteral
	}
	t[256] = flagEnd
	base := uint32(3)
	for i := range 28 {
		extra := uint32(0)
		if i >= 8 {
			extra = uint32(i/4 - 1)
		}
		t[257+i] = base<<16 | extra<<8
		base += 1 << extra
	}
	t[285] = 258 << 16
	t[286], t[287] = flagInvalid, flagInvalid
	return t
}

func makeDistEntries() (t [maxDistSyms]uint32) {
	base := uint32(1)
	for c := range 30 {
		extra := uint32(0)
		if c >= 4 {
			extra = uint32(c/2 - 1)
		}
		t[c] = base<<16 | extra<<8
		base += 1 << extra
	}
	t[30], t[31] = flagInvalid, flagInvalid
	return t
}

func makeCodeLenEntries() (t [19]uint32) {
	for s := range t {
		t[s] = uint32(s) << 16
	}
	return t
}

func makeFixedTables() (lit, dist huffTable) {
	var lens [maxLitSyms]uint8
	for s := range lens {
		switch {
		case s < 144:
			lens[s] = 8
		case s < 256:
			lens[s] = 9
		case s < 280:
			lens[s] = 7
		default:
			lens[s] = 8
		}
	}
	var dlens [maxDistSyms]uint8
	for s := range dlens {
		dlens[s] = 5
	}
	if !buildTable(lit[:], litBits, lens[:], litEntries[:]) || !buildTable(dist[:], distBits, dlens[:], distEntries[:]) {
		panic("tarball: the fixed Huffman codes do not build")
	}
	return lit, dist
}

// buildTable fills t, with root index bits, for the canonical Huffman code
// whose code lengths by symbol are lens (RFC 1951 3.2.2), each entry from
// the symbol's template. Like compress/flate it accepts a complete code, a
// single code of one bit, and no code at all (every look-up then finds an
// invalid entry), and refuses any other.
func buildTable(t []uint32, root uint, lens []uint8, tmpl []uint32) bool {
	var count [maxCodeLen + 1]int
	for _, l := range lens {
		count[l]++
	}
	count[0] = 0
	maxLen := maxCodeLen
	for maxLen > 0 && count[maxLen] == 0 {
		maxLen--
	}
	rootLen := 1 << root
	if maxLen == 0 {
		for i := range t[:rootLen] {
			t[i] = flagInvalid
		}
		return true
	}
	left := 1
	for l := 1; l <= maxCodeLen; l++ {
		left = left<<1 - count[l]
		if left < 0 {
			return false // over-subscribed
		}
	}
	if left > 0 {
		if maxLen != 1 || count[1] != 1 {
			return false // incomplete
		}
		for i := range t[:rootLen] {
			t[i] = flagInvalid
		}
	}
	var next [maxCodeLen + 2]int
	code := 0
	for l := 1; l <= maxCodeLen; l++ {
		code = (code + count[l-1]) << 1
		next[l] = code
	}
	var codes [maxLitSyms]uint16
	var sub [1 << litBits]uint8 // subtable bits by root index
	for s, l := range lens {
		if l == 0 {
			continue
		}
		c := next[l]
		next[l]++
		codes[s] = uint16(c)
		if uint(l) <= root {
			e := tmpl[s] | uint32(l)
			for i := reverse(c, uint(l)); i < rootLen; i += 1 << l {
				t[i] = e
			}
			continue
		}
		r := uint(l) - root
		p := reverse(c>>r, root)
		sub[p] = max(sub[p], uint8(r))
	}
	if uint(maxLen) <= root {
		return true
	}
	off := rootLen
	for p := range rootLen {
		if sb := int(sub[p]); sb > 0 {
			if off+1<<sb > len(t) {
				return false
			}
			t[p] = uint32(off)<<16 | uint32(sb)<<8 | flagSub
			off += 1 << sb
		}
	}
	for s, l := range lens {
		if uint(l) <= root {
			continue
		}
		c := int(codes[s])
		r := uint(l) - root
		e := t[reverse(c>>r, root)]
		base, sb := int(e>>16), int(e>>8&15)
		entry := tmpl[s] | uint32(l)
		for i := reverse(c&(1<<r-1), r); i < 1<<sb; i += 1 << r {
			t[base+i] = entry
		}
	}
	return true
}

// reverse returns the n low bits of c in reverse order.
func reverse(c int, n uint) int {
	return int(bits.Reverse16(uint16(c)) >> (16 - n))
}
