//go:build !linux

package vhd

import "crypto/rand"

// randomBytes fills b from crypto/rand, which never fails: it aborts the
// program instead.
func randomBytes(b []byte) { rand.Read(b) }
