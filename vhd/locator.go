package vhd

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"unicode/utf8"
)

// PlatformCode says how a parent locator's data encodes the parent's path.
type PlatformCode uint32

// Platform codes. blktap writes MacX, W2ku and W2ru, each holding a relative path.
const (
	PlatformNone PlatformCode = 0
	PlatformWi2r PlatformCode = 0x57693272 // "Wi2r", deprecated
	PlatformWi2k PlatformCode = 0x5769326B // "Wi2k", deprecated
	PlatformW2ru PlatformCode = 0x57327275 // "W2ru": relative Windows path, UTF-16LE
	PlatformW2ku PlatformCode = 0x57326B75 // "W2ku": absolute Windows path, UTF-16LE (blktap stores a relative one)
	PlatformMac  PlatformCode = 0x4D616320 // "Mac ": Mac OS alias blob
	PlatformMacX PlatformCode = 0x4D616358 // "MacX": file:// URL, UTF-8
)

// Known reports whether c is one of the codes the VHD specification defines.
func (c PlatformCode) Known() bool {
	switch c {
	case PlatformNone, PlatformWi2r, PlatformWi2k, PlatformW2ru, PlatformW2ku, PlatformMac, PlatformMacX:
		return true
	}
	return false
}

// Decodable reports whether blktap decodes locators with this code (MacX,
// W2ku, W2ru); the others are skipped when resolving a parent.
func (c PlatformCode) Decodable() bool {
	return c == PlatformMacX || c == PlatformW2ku || c == PlatformW2ru
}

// String returns the code's four characters, such as "MacX", or "none".
func (c PlatformCode) String() string {
	if c == PlatformNone {
		return "none"
	}
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(c))
	for _, x := range b {
		if x < 0x20 || x > 0x7e {
			return fmt.Sprintf("0x%08x", uint32(c))
		}
	}
	return string(b[:])
}

// ParentLocator is one of the eight 24-byte parent locator entries of a
// header. The locator's data lives elsewhere in the file, at DataOffset.
type ParentLocator struct {
	Code       PlatformCode // 0
	DataSpace  uint32       // 4: space reserved for the data; see Size
	DataLength uint32       // 8: bytes of data
	Reserved   uint32       // 12
	DataOffset uint64       // 16: byte offset of the data in the file
}

func (l *ParentLocator) unmarshal(b []byte) {
	be := binary.BigEndian
	l.Code = PlatformCode(be.Uint32(b[0:]))
	l.DataSpace = be.Uint32(b[4:])
	l.DataLength = be.Uint32(b[8:])
	l.Reserved = be.Uint32(b[12:])
	l.DataOffset = be.Uint64(b[16:])
}

func (l *ParentLocator) marshal(b []byte) {
	be := binary.BigEndian
	be.PutUint32(b[0:], uint32(l.Code))
	be.PutUint32(b[4:], l.DataSpace)
	be.PutUint32(b[8:], l.DataLength)
	be.PutUint32(b[12:], l.Reserved)
	be.PutUint64(b[16:], l.DataOffset)
}

// Size returns the bytes reserved for the locator's data as blktap reads
// DataSpace: a value below 512 counts sectors, a multiple of 512 counts
// bytes, and anything else gives 0, which means invalid. (The VHD
// specification says sectors; Windows and blktap write bytes.)
func (l *ParentLocator) Size() int64 {
	switch {
	case l.DataSpace < SectorSize:
		return int64(l.DataSpace) * SectorSize
	case l.DataSpace%SectorSize == 0:
		return int64(l.DataSpace)
	}
	return 0
}

// DecodeLocator decodes locator data written with code into a path with '/'
// separators, as blktap does (and as [Check] reads locators): MacX must be
// ASCII "file://" followed by the path (no URL decoding); W2ku and W2ru are
// UTF-16LE ASCII of an even length whose '\' become '/' and whose leading
// "C:" or "c:" is dropped. Like blktap's iconv, the whole data must be
// ASCII, past a NUL character too; the path ends at the first NUL. Other
// codes, odd-length UTF-16 and non-ASCII data give an error wrapping
// [ErrLocator].
func DecodeLocator(code PlatformCode, data []byte) (string, error) {
	switch code {
	case PlatformMacX:
		for i := 0; i < len(data); i++ {
			if data[i] >= utf8.RuneSelf {
				return "", fmt.Errorf("vhd: MacX locator is not ASCII (byte %d): %w", i, ErrLocator)
			}
		}
		if i := bytes.IndexByte(data, 0); i >= 0 {
			data = data[:i]
		}
		s := string(data)
		const scheme = "file://"
		if !strings.HasPrefix(s, scheme) {
			return "", fmt.Errorf("vhd: MacX locator %q does not start with %s: %w", s, scheme, ErrLocator)
		}
		return s[len(scheme):], nil
	case PlatformW2ku, PlatformW2ru:
		s, err := decodeUTF16ASCII(data, binary.LittleEndian)
		if err != nil {
			return "", fmt.Errorf("vhd: %v locator: %w", code, err)
		}
		s = strings.ReplaceAll(s, `\`, "/")
		if strings.HasPrefix(s, "C:") || strings.HasPrefix(s, "c:") {
			s = s[2:]
		}
		return s, nil
	}
	return "", fmt.Errorf("vhd: locator code %v is not decoded: %w", code, ErrLocator)
}

// EncodeLocator encodes a relative or absolute '/'-separated path for a
// locator with code, as blktap writes it: MacX gets "file://"+path in UTF-8;
// W2ku and W2ru get the path with one leading "./" replaced by ".\" (or ".\"
// put in front of a relative path), every '/' turned into '\', in UTF-16LE.
// The path must be ASCII.
func EncodeLocator(code PlatformCode, path string) ([]byte, error) {
	for i := 0; i < len(path); i++ {
		if path[i] >= utf8.RuneSelf || path[i] == 0 {
			return nil, fmt.Errorf("vhd: locator path %q is not ASCII: %w", path, ErrLocator)
		}
	}
	switch code {
	case PlatformMacX:
		return []byte("file://" + path), nil
	case PlatformW2ku, PlatformW2ru:
		s := path
		if !strings.HasPrefix(s, "/") {
			s = `.\` + strings.TrimPrefix(s, "./")
		}
		s = strings.ReplaceAll(s, "/", `\`)
		return encodeUTF16ASCII(s, binary.LittleEndian)
	}
	return nil, fmt.Errorf("vhd: cannot encode locator code %v: %w", code, ErrLocator)
}

// decodeUTF16ASCII is the one rule for UTF-16 text in a VHD (the header's
// parent name, W2ku and W2ru locator data), blktap's: iconv converts the
// whole field, so its length must be even and every 16-bit code unit ASCII,
// past the first NUL character too; the text is what precedes that NUL.
// See FORMAT.md, parent locators.
func decodeUTF16ASCII(b []byte, order binary.ByteOrder) (string, error) {
	if len(b)%2 != 0 {
		return "", fmt.Errorf("vhd: UTF-16 text of %d bytes (odd length): %w", len(b), ErrLocator)
	}
	end := -1
	for i := 0; i+1 < len(b); i += 2 {
		c := order.Uint16(b[i:])
		if c == 0 && end < 0 {
			end = i
		}
		if c >= utf8.RuneSelf {
			return "", fmt.Errorf("vhd: UTF-16 text has non-ASCII character U+%04X at byte %d: %w", c, i, ErrLocator)
		}
	}
	if end < 0 {
		end = len(b)
	}
	var sb strings.Builder
	for i := 0; i < end; i += 2 {
		sb.WriteByte(byte(order.Uint16(b[i:])))
	}
	return sb.String(), nil
}

// decodeW2U decodes UTF-16 locator data or a parent name as blktap's
// decoder does: decodeUTF16ASCII, then '\' becomes '/' and a leading "C:"
// or "c:" is dropped.
func decodeW2U(b []byte, order binary.ByteOrder) (string, bool) {
	s, err := decodeUTF16ASCII(b, order)
	if err != nil {
		return "", false
	}
	s = strings.ReplaceAll(s, `\`, "/")
	if strings.HasPrefix(s, "C:") || strings.HasPrefix(s, "c:") {
		s = s[2:]
	}
	return s, true
}

func encodeUTF16ASCII(s string, order binary.ByteOrder) ([]byte, error) {
	b := make([]byte, 2*len(s))
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf || s[i] == 0 {
			return nil, fmt.Errorf("vhd: name %q is not ASCII: %w", s, ErrLocator)
		}
		order.PutUint16(b[2*i:], uint16(s[i]))
	}
	return b, nil
}
