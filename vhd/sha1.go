package vhd

import (
	"encoding/binary"
	"math/bits"
)

// sha1Digest is SHA-1 (FIPS 180-4), the hash RFC 9562 names for a
// name-based (version 5) UUID, which is all this package uses it for: a raw
// stream's identity derived from its size and data (see [PlanRawStream]).
// It is not used where collisions would matter.
//
// The package carries its own because crypto/sha1 brings in the Go
// cryptographic module, whose initialisation every program importing vhd
// would pay at start: vhd-util, forked once per call by the storage manager,
// is one of them.
type sha1Digest struct {
	h   [5]uint32
	buf [64]byte
	n   int    // bytes in buf
	len uint64 // bytes written in all
}

func newSHA1() *sha1Digest {
	return &sha1Digest{h: [5]uint32{0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0}}
}

// Write adds p to the hashed data; it never fails.
func (d *sha1Digest) Write(p []byte) (int, error) {
	n := len(p)
	d.len += uint64(n)
	if d.n > 0 {
		k := copy(d.buf[d.n:], p)
		d.n += k
		p = p[k:]
		if d.n < len(d.buf) {
			return n, nil
		}
		d.block(d.buf[:])
		d.n = 0
	}
	for len(p) >= len(d.buf) {
		d.block(p[:64])
		p = p[64:]
	}
	d.n = copy(d.buf[:], p)
	return n, nil
}

// Sum returns the 20-byte hash of what was written, leaving d unchanged.
func (d *sha1Digest) Sum() [20]byte {
	e := *d
	var pad [72]byte
	pad[0] = 0x80
	k := 56 - e.n
	if k <= 0 {
		k += 64
	}
	binary.BigEndian.PutUint64(pad[k:], d.len<<3)
	e.Write(pad[:k+8])
	var sum [20]byte
	for i, v := range e.h {
		binary.BigEndian.PutUint32(sum[4*i:], v)
	}
	return sum
}

// block hashes one 64-byte block into d.h.
func (d *sha1Digest) block(p []byte) {
	var w [80]uint32
	for i := 0; i < 16; i++ {
		w[i] = binary.BigEndian.Uint32(p[4*i:])
	}
	for i := 16; i < 80; i++ {
		w[i] = bits.RotateLeft32(w[i-3]^w[i-8]^w[i-14]^w[i-16], 1)
	}
	a, b, c, dd, e := d.h[0], d.h[1], d.h[2], d.h[3], d.h[4]
	for i := 0; i < 80; i++ {
		var f, k uint32
		switch {
		case i < 20:
			f, k = b&c|^b&dd, 0x5a827999
		case i < 40:
			f, k = b^c^dd, 0x6ed9eba1
		case i < 60:
			f, k = b&c|b&dd|c&dd, 0x8f1bbcdc
		default:
			f, k = b^c^dd, 0xca62c1d6
		}
		t := bits.RotateLeft32(a, 5) + f + e + k + w[i]
		a, b, c, dd, e = t, a, bits.RotateLeft32(b, 30), c, dd
	}
	d.h[0] += a
	d.h[1] += b
	d.h[2] += c
	d.h[3] += dd
	d.h[4] += e
}
