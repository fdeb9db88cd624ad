package main

import (
	"crypto/sha256"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestSHA256 compares vhd-util's SHA-256 with crypto/sha256 on messages of
// every length from empty to five blocks, which covers a tail that leaves
// room for the length in its block and one that needs another block.
func TestSHA256(t *testing.T) {
	msg := make([]byte, 5*64)
	for i := range msg {
		msg[i] = byte(i*131 + i>>3)
	}
	for n := range len(msg) + 1 {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			if diff := cmp.Diff(sha256.Sum256(msg[:n]), sha256Sum(msg[:n])); diff != "" {
				t.Fatalf("SHA-256 of %d bytes (-crypto/sha256 +ours):\n%s", n, diff)
			}
		})
	}
}
