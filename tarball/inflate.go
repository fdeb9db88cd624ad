package tarball

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"

	"github.com/klauspost/compress/flate"
)

// inflater decodes raw deflate data (RFC 1951) from a byte slice into a
// byte slice. It is the decoder of Unpack's hot path: the compressed bytes
// are read eight at a time into a 64-bit bit buffer, Huffman codes are
// decoded with one table look-up (two for long codes), and matches are
// copied within the output slice, which is also the window, so no byte is
// copied twice. It accepts exactly the streams compress/flate accepts and
// decodes them to the same bytes (TestInflateMatchesFlate, FuzzInflate).
//
// The caller owns both slices. decode stops at the end of the stream, when
// the output has no room for another match, or, unless the input is marked
// as the stream's last bytes, when it needs more input; the caller then
// makes room or appends input and calls decode again.
type inflater struct {
	in    []byte
	pos   int    // next byte of in to load into bits; past len(in) when zeros were supplied at the end
	bits  uint64 // loaded, unconsumed bits, low first; bits above nbits are in's next bits or zero
	nbits uint
	last  bool  // in ends where the stream ends: reading past it is truncation
	base  int64 // offset of in[0] in the deflate stream, for errors

	state  int
	final  bool // the block being decoded is the last
	stored int  // bytes left of a stored block

	lit, dist *huffTable // the current block's tables
	ownLit    huffTable
	ownDist   huffTable
	lens      [maxLitSyms + maxDistSyms]uint8
}

const (
	stateHeader = iota // before a block header
	stateHuffman
	stateStored
	stateDone // after the final block
)

// Room a caller leaves after the output limit it passes: one match of at
// most 258 bytes plus the 8 bytes a word copy may run over.
const inflateSlack = 258 + 8

// errNeedInput means decode stopped at a point it can resume from and
// needs more input (it never comes with last set).
var errNeedInput = errors.New("tarball: inflate needs input")

// reset prepares f for a new stream whose first bytes are in.
func (f *inflater) reset(in []byte, last bool) {
	f.in, f.pos, f.bits, f.nbits, f.last, f.base = in, 0, 0, 0, last, 0
	f.state, f.final, f.stored = stateHeader, false, 0
}

// rewind gives the whole bytes loaded into the bit buffer but not
// consumed back to the input and returns how many bytes of the input are
// consumed, the last perhaps in part: once the stream is done, the offset
// in the input of the byte after its last bit.
func (f *inflater) rewind() int {
	f.pos -= int(f.nbits / 8)
	f.nbits %= 8
	f.bits &= 1<<f.nbits - 1
	return f.pos
}

// feed replaces the input with in, which must continue the stream where
// rewind's count of consumed bytes of the previous input ends.
func (f *inflater) feed(in []byte, last bool) {
	f.rewind()
	f.base += int64(f.pos)
	f.in, f.pos, f.last = in, 0, last
}

// consumed is the offset in the input of the first byte not consumed at
// all.
func (f *inflater) consumed() int {
	return f.pos - int(f.nbits/8)
}

// done reports whether the final block has been decoded.
func (f *inflater) done() bool { return f.state == stateDone }

// corrupt returns the error for bad data at the current input position,
// or io.ErrUnexpectedEOF if the bad bits are zeros supplied past the end.
func (f *inflater) corrupt() error {
	if f.truncated() {
		return io.ErrUnexpectedEOF
	}
	return flate.CorruptInputError(f.base + int64(f.consumed()))
}

// refillSlow loads bits a byte at a time near the end of the input. Past
// the end of the last input it supplies zero bytes, which a truncated
// stream then consumes; it fails once that certainly happened (more than 8
// bytes supplied: 64 bits cannot all be unconsumed).
func (f *inflater) refillSlow() error {
	for f.nbits <= 56 {
		if f.pos < len(f.in) {
			f.bits |= uint64(f.in[f.pos]) << f.nbits
		} else if !f.last {
			return errNeedInput
		} else if f.pos >= len(f.in)+8 {
			return io.ErrUnexpectedEOF
		}
		f.pos++
		f.nbits += 8
	}
	return nil
}

// need makes at least n bits (n <= 56) available, outside the hot loop.
func (f *inflater) need(n uint) error {
	if f.nbits >= n {
		return nil
	}
	if f.pos+8 <= len(f.in) {
		f.bits |= binary.LittleEndian.Uint64(f.in[f.pos:]) << f.nbits
		f.pos += int(63-f.nbits) >> 3
		f.nbits |= 56
		return nil
	}
	return f.refillSlow()
}

func (f *inflater) take(n uint) uint32 {
	v := uint32(f.bits & (1<<n - 1))
	f.bits >>= n
	f.nbits -= n
	return v
}

// truncated reports whether more bits were consumed than the last input
// holds.
func (f *inflater) truncated() bool {
	return f.last && f.pos*8-int(f.nbits) > len(f.in)*8
}

// decode decodes into out[op:limit+inflateSlack], where out[lo:op] is
// the window (bytes decoded before, which matches may copy), and returns
// the new op. It returns when the stream is done (f.done()), when op
// passes limit - in which case limit+inflateSlack <= len(out) must hold -,
// or with errNeedInput.
func (f *inflater) decode(out []byte, op, lo, limit int) (int, error) {
	for op < limit || f.state == stateDone {
		switch f.state {
		case stateDone:
			return op, nil
		case stateHeader:
			if f.final {
				f.state = stateDone
				if f.truncated() {
					return op, io.ErrUnexpectedEOF
				}
				return op, nil
			}
			if err := f.header(); err != nil {
				return op, err
			}
		case stateStored:
			var err error
			if op, err = f.copyStored(out, op, limit+inflateSlack); err != nil {
				return op, err
			}
		case stateHuffman:
			var err error
			if op, err = f.huffman(out, op, lo, limit); err != nil {
				return op, err
			}
		}
	}
	return op, nil
}

// maxHeaderBytes bounds a dynamic block header (14 bits, 19 code lengths
// of 3 bits, at most 316 lengths of at most 7+7 bits each); decode reads
// one only once that many bytes are at hand, so it never stops inside one.
const maxHeaderBytes = 640

// header reads a block header and, for a Huffman block, its tables.
func (f *inflater) header() error {
	if !f.last && len(f.in)-f.pos+int(f.nbits/8) < maxHeaderBytes {
		return errNeedInput
	}
	if err := f.need(3); err != nil {
		return err
	}
	f.final = f.take(1) == 1
	switch f.take(2) {
	case 0:
		f.take(f.nbits % 8)
		// Give the whole bytes in the bit buffer back to the input.
		f.pos -= int(f.nbits / 8)
		f.bits, f.nbits = 0, 0
		if f.pos+4 > len(f.in) {
			return io.ErrUnexpectedEOF // last is set: enough bytes are at hand otherwise
		}
		n := binary.LittleEndian.Uint16(f.in[f.pos:])
		if ^binary.LittleEndian.Uint16(f.in[f.pos+2:]) != n {
			return f.corrupt()
		}
		f.pos += 4
		f.stored = int(n)
		f.state = stateStored
	case 1:
		f.lit, f.dist = &fixedLit, &fixedDist
		f.state = stateHuffman
	case 2:
		if err := f.dynamicTables(); err != nil {
			return err
		}
		f.lit, f.dist = &f.ownLit, &f.ownDist
		f.state = stateHuffman
	default:
		return f.corrupt()
	}
	if f.truncated() {
		return io.ErrUnexpectedEOF
	}
	return nil
}

// copyStored copies a stored block's bytes.
func (f *inflater) copyStored(out []byte, op, end int) (int, error) {
	for f.stored > 0 {
		if f.pos >= len(f.in) {
			if f.last {
				return op, io.ErrUnexpectedEOF
			}
			return op, errNeedInput
		}
		if op >= end {
			return op, nil
		}
		n := copy(out[op:min(end, op+f.stored)], f.in[f.pos:])
		op += n
		f.pos += n
		f.stored -= n
	}
	f.state = stateHeader
	return op, nil
}

// codeOrder is the order of the code length code's lengths (RFC 1951 3.2.7).
var codeOrder = [19]uint8{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}

// dynamicTables reads a dynamic block's code lengths and builds its tables.
func (f *inflater) dynamicTables() error {
	if err := f.need(14); err != nil {
		return err
	}
	nlit := int(f.take(5)) + 257
	ndist := int(f.take(5)) + 1
	nclen := int(f.take(4)) + 4
	if nlit > maxLitSyms-2 || ndist > maxDistSyms-2 {
		return f.corrupt()
	}
	var clens [19]uint8
	for i := range nclen {
		if err := f.need(3); err != nil {
			return err
		}
		clens[codeOrder[i]] = uint8(f.take(3))
	}
	var ct [1 << 7]uint32
	if !buildTable(ct[:], 7, clens[:], codeLenEntries[:]) {
		return f.corrupt()
	}
	lens := f.lens[:nlit+ndist]
	for i := 0; i < len(lens); {
		if err := f.need(7 + 7); err != nil {
			return err
		}
		e := ct[f.bits&(1<<7-1)]
		if e&flagInvalid != 0 {
			return f.corrupt()
		}
		f.take(uint(e & 0xff))
		sym := e >> 16
		if sym < 16 {
			lens[i] = uint8(sym)
			i++
			continue
		}
		var rep int
		var v uint8
		switch sym {
		case 16:
			if i == 0 {
				return f.corrupt()
			}
			rep, v = 3+int(f.take(2)), lens[i-1]
		case 17:
			rep = 3 + int(f.take(3))
		default:
			rep = 11 + int(f.take(7))
		}
		if i+rep > len(lens) {
			return f.corrupt()
		}
		for range rep {
			lens[i] = v
			i++
		}
	}
	if f.truncated() {
		return io.ErrUnexpectedEOF
	}
	if !buildTable(f.ownLit[:], litBits, lens[:nlit], litEntries[:]) ||
		!buildTable(f.ownDist[:], distBits, lens[nlit:], distEntries[:]) {
		return f.corrupt()
	}
	return nil
}

// huffman decodes a Huffman block's symbols until its end, until op
// passes limit, or until the input runs low.
func (f *inflater) huffman(out []byte, op, lo, limit int) (int, error) {
	// Work on locals: the loop is the package's hottest code.
	in, pos, bits, nbits := f.in, f.pos, f.bits, f.nbits
	lt, dt := f.lit, f.dist
	for op < limit {
		if pos+8 <= len(in) {
			bits |= binary.LittleEndian.Uint64(in[pos:]) << nbits
			pos += int(63-nbits) >> 3
			nbits |= 56
		} else if nbits < 48 {
			// Near the end of the input: a byte at a time, then zeros
			// past the end of the last input, whose consumption
			// truncated reports. Without the last input, stop here
			// and resume at this symbol.
			f.pos, f.bits, f.nbits = pos, bits, nbits
			if err := f.refillSlow(); err != nil {
				return op, err
			}
			pos, bits, nbits = f.pos, f.bits, f.nbits
		}
		e := lt[bits&(1<<litBits-1)]
		if e&flagSub != 0 {
			e = lt[(e>>16)+uint32(bits>>litBits)&(1<<(e>>8&15)-1)]
		}
		n := uint(e & 63)
		bits >>= n
		nbits -= n
		if e&flagLiteral != 0 {
			out[op] = byte(e >> 16)
			op++
			// At least 41 bits are left: enough for another literal
			// (but not for a match) without a refill.
			e = lt[bits&(1<<litBits-1)]
			if e&(flagLiteral|flagSub) == flagLiteral {
				n = uint(e & 63)
				bits >>= n
				nbits -= n
				out[op] = byte(e >> 16)
				op++
			}
			continue
		}
		if e&(flagEnd|flagInvalid) != 0 {
			if e&flagInvalid != 0 {
				f.pos, f.bits, f.nbits = pos, bits, nbits
				return op, f.corrupt()
			}
			f.state = stateHeader
			break
		}
		// A length: its extra bits, then the distance code and its
		// extra bits. 15+5+15+13 = 48 bits at most, all loaded above.
		x := uint(e >> 8 & 15)
		length := int(e>>16) + int(bits&(1<<x-1))
		bits >>= x
		nbits -= x
		d := dt[bits&(1<<distBits-1)]
		if d&flagSub != 0 {
			d = dt[(d>>16)+uint32(bits>>distBits)&(1<<(d>>8&15)-1)]
		}
		if d&flagInvalid != 0 {
			f.pos, f.bits, f.nbits = pos, bits, nbits
			return op, f.corrupt()
		}
		n = uint(d & 63)
		bits >>= n
		nbits -= n
		x = uint(d >> 8 & 15)
		dist := int(d>>16) + int(bits&(1<<x-1))
		bits >>= x
		nbits -= x
		src := op - dist
		if src < lo {
			f.pos, f.bits, f.nbits = pos, bits, nbits
			return op, f.corrupt()
		}
		switch {
		case dist >= 8:
			// Eight bytes at a time: each word read was written
			// before, as dist >= 8; the last may run 7 bytes over.
			// Most matches are short: two words without a loop.
			d, s := out[op:op+16], out[src:src+16]
			binary.LittleEndian.PutUint64(d, binary.LittleEndian.Uint64(s))
			binary.LittleEndian.PutUint64(d[8:], binary.LittleEndian.Uint64(s[8:]))
			for i := 16; i < length; i += 8 {
				binary.LittleEndian.PutUint64(out[op+i:], binary.LittleEndian.Uint64(out[src+i:]))
			}
		case dist == 1:
			w := uint64(out[src]) * 0x0101010101010101
			for i := 0; i < length; i += 8 {
				binary.LittleEndian.PutUint64(out[op+i:], w)
			}
		default:
			o := out[op : op+length]
			s := out[src : src+length]
			for i := range o {
				o[i] = s[i]
			}
		}
		op += length
	}
	f.pos, f.bits, f.nbits = pos, bits, nbits
	if f.truncated() {
		return op, io.ErrUnexpectedEOF
	}
	return op, nil
}

const (
	// windowSize is how far back a deflate match may reach (RFC 1951 3.2.5).
	windowSize = 32 << 10
	// minStreamChunk is the smallest chunk stream decodes into.
	minStreamChunk = 16 << 10
)

// stream decodes one deflate stream read from r into buffers from get,
// each holding up to windowSize bytes of history and then up to chunk
// (at least minStreamChunk) new bytes, which it hands to emit (whole is the buffer, for reuse; emit
// returns false to stop). It leaves r at the byte after the stream and
// returns the number of bytes decoded. An error of r is returned as it
// is, one of the data as flate.CorruptInputError or io.ErrUnexpectedEOF.
func (f *inflater) stream(r *bufio.Reader, chunk int, get func(int) []byte, emit func(whole, data []byte) bool) (int64, error) {
	// Each chunk costs a copy of the window: keep that small beside it.
	chunk = max(chunk, minStreamChunk)
	var total int64
	in, rerr := peekMore(r)
	if rerr != nil && rerr != io.EOF {
		return 0, rerr
	}
	f.reset(in, rerr == io.EOF)
	size := windowSize + chunk + inflateSlack
	buf := get(size)[:size]
	start, op, lo := 0, 0, 0 // buf[lo:op] is the window; buf[start:op] the new bytes
	for {
		var err error
		op, err = f.decode(buf, op, lo, size-inflateSlack)
		if err == errNeedInput {
			r.Discard(f.rewind()) // buffered bytes: cannot fail
			if in, rerr = peekMore(r); rerr != nil && rerr != io.EOF {
				return total, rerr
			}
			f.feed(in, rerr == io.EOF)
			continue
		}
		if err != nil {
			return total, err
		}
		if op > start {
			data := buf[start:op]
			total += int64(len(data))
			var next []byte
			if !f.done() {
				next = get(size)[:size]
				h := copy(next, buf[max(lo, op-windowSize):op])
				start, op, lo = h, h, 0
			}
			if !emit(buf, data) {
				return total, errClosed
			}
			buf = next
		}
		if f.done() {
			r.Discard(f.rewind())
			return total, nil
		}
	}
}

// peekMore returns r's buffered bytes after reading until there are more
// than before and at least 2*maxHeaderBytes, or r fails (io.EOF: the bytes
// are the last). It reads no further than that: a bomb's next members
// stay unread until the data before them is used.
func peekMore(r *bufio.Reader) ([]byte, error) {
	want := min(r.Size(), max(r.Buffered()+1, 2*maxHeaderBytes))
	if in, err := r.Peek(want); err != nil {
		return in, err
	}
	return r.Peek(r.Buffered())
}
