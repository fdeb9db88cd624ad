package vhd

import (
	"bytes"
	"testing"
)

// TestURandom checks the fallback for kernels without getrandom(2): it
// fills the whole buffer, and two fills differ.
func TestURandom(t *testing.T) {
	a, b := make([]byte, 64), make([]byte, 64)
	urandom(a)
	urandom(b)
	if bytes.Equal(a, make([]byte, 64)) || bytes.Equal(a, b) {
		t.Fatalf("urandom gave %x then %x: want two different random fills", a, b)
	}
}
