package vhd

import (
	"encoding/hex"
	"errors"
	"fmt"
)

// A UUID is the 16-byte identifier a footer gives its disk and a header
// gives its parent, in the byte order of RFC 9562 (the order VHD stores
// it). The zero UUID means "none": a disk without an identity or a
// differencing disk whose parent is raw.
type UUID [16]byte

// ErrUUIDSyntax is matched by the error ParseUUID returns for a string that
// is not a UUID.
var ErrUUIDSyntax = errors.New("vhd: invalid UUID")

// NewUUID returns a random (version 4) UUID from the operating system's
// random source: getrandom(2) on Linux, crypto/rand elsewhere. It never
// fails; when no random source works the program aborts, as crypto/rand
// does.
func NewUUID() UUID {
	var u UUID
	randomBytes(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return u
}

// ParseUUID parses the canonical textual form of a UUID,
// xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx, in either case. It accepts nothing
// else: no braces, no "urn:uuid:" prefix, no missing dashes, so that a
// UUID-named file has exactly one name.
func ParseUUID(s string) (UUID, error) {
	var u UUID
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, fmt.Errorf("%w %q: want 36 characters as xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", ErrUUIDSyntax, s)
	}
	j := 0
	for i := 0; i < 36; {
		if s[i] == '-' {
			i++
			continue
		}
		hi, ok1 := fromHex(s[i])
		lo, ok2 := fromHex(s[i+1])
		if !ok1 || !ok2 {
			return UUID{}, fmt.Errorf("%w %q: %q at %d is not a hex digit", ErrUUIDSyntax, s, s[i:i+2], i)
		}
		u[j] = hi<<4 | lo
		i += 2
		j++
	}
	return u, nil
}

func fromHex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// String returns the canonical lower-case form,
// xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx.
func (u UUID) String() string {
	var b [36]byte
	u.encode(b[:])
	return string(b[:])
}

func (u UUID) encode(b []byte) {
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
}

// IsZero reports whether u is the zero ("null") UUID.
func (u UUID) IsZero() bool { return u == UUID{} }

// MarshalText implements encoding.TextMarshaler with the canonical form.
func (u UUID) MarshalText() ([]byte, error) {
	b := make([]byte, 36)
	u.encode(b)
	return b, nil
}

// UnmarshalText implements encoding.TextUnmarshaler with ParseUUID.
func (u *UUID) UnmarshalText(b []byte) error {
	v, err := ParseUUID(string(b))
	if err != nil {
		return err
	}
	*u = v
	return nil
}
