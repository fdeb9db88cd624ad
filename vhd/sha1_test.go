package vhd

import (
	"crypto/sha1"
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestSHA1 compares the package's SHA-1 with crypto/sha1 on the FIPS
// examples and on every length around the block and padding boundaries,
// written whole and in uneven pieces.
func TestSHA1(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, 300)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	inputs := [][]byte{
		[]byte(""),
		[]byte("abc"),
		[]byte("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
	}
	for n := 0; n <= len(data); n++ {
		inputs = append(inputs, data[:n])
	}
	for _, in := range inputs {
		want := sha1.Sum(in)
		whole := newSHA1()
		whole.Write(in)
		if diff := cmp.Diff(want, whole.Sum()); diff != "" {
			t.Fatalf("SHA-1 of %d bytes (-crypto/sha1 +ours):\n%s", len(in), diff)
		}
		pieces := newSHA1()
		for rest, step := in, 1; len(rest) > 0; step = step%13 + 7 {
			k := min(step, len(rest))
			pieces.Write(rest[:k])
			rest = rest[k:]
		}
		if diff := cmp.Diff(want, pieces.Sum()); diff != "" {
			t.Fatalf("SHA-1 of %d bytes in pieces (-crypto/sha1 +ours):\n%s", len(in), diff)
		}
	}
}
