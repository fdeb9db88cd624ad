package vhdtest

import (
	"encoding/binary"
	"os"
	"testing"

	"github.com/vhdkit/vhdkit/vhd"
)

// A Field is one integer field of an on-disk VHD structure, for tests (and
// fuzz targets) that set fields to chosen or extreme values.
type Field struct {
	Struct string // "footer", "header", "locator", "batmap header" or "BAT"
	Name   string // the field's name, as a FormatError names it
	Offset int64  // byte offset within the structure (the locator entry, for "locator")
	Size   int    // 1, 2, 4 or 8 bytes, big-endian
}

// Max returns the field's largest value.
func (f Field) Max() uint64 { return ^uint64(0) >> (64 - 8*f.Size) }

// Fields lists every integer field of the footer, the dynamic header, a
// parent locator entry, the batmap header and a BAT entry. Checksums are
// listed too; SetField recomputes them unless the field set is the
// checksum itself.
var Fields = []Field{
	{"footer", "features", 8, 4},
	{"footer", "format version", 12, 4},
	{"footer", "data offset", 16, 8},
	{"footer", "timestamp", 24, 4},
	{"footer", "creator version", 32, 4},
	{"footer", "creator host OS", 36, 4},
	{"footer", "original size", 40, 8},
	{"footer", "current size", 48, 8},
	{"footer", "geometry", 56, 4},
	{"footer", "disk type", 60, 4},
	{"footer", "checksum", 64, 4},
	{"footer", "saved", 84, 1},
	{"footer", "hidden", 85, 1},
	{"header", "data offset", 8, 8},
	{"header", "table offset", 16, 8},
	{"header", "header version", 24, 4},
	{"header", "max table entries", 28, 4},
	{"header", "block size", 32, 4},
	{"header", "checksum", 36, 4},
	{"header", "parent timestamp", 56, 4},
	{"header", "reserved", 60, 4},
	{"locator", "code", 0, 4},
	{"locator", "data space", 4, 4},
	{"locator", "data length", 8, 4},
	{"locator", "reserved", 12, 4},
	{"locator", "data offset", 16, 8},
	{"batmap header", "offset", 8, 8},
	{"batmap header", "size", 16, 4},
	{"batmap header", "version", 20, 4},
	{"batmap header", "checksum", 24, 4},
	{"batmap header", "marker", 28, 1},
	{"batmap header", "keyhash cookie", 29, 1},
	{"BAT", "entry", 0, 4},
}

// SetFieldBytes sets field f of the VHD image b to v (its low f.Size
// bytes), in both footer copies for a footer field, in locator entry or BAT
// entry index for those, and recomputes the footer and header checksums
// (unless f is one of them). The structures are found from the image as it
// is: the footer at the end (the copy at 0 for a dynamic disk too), the
// header at the footer's data offset, the batmap header after the BAT. It
// reports false when the structure is not in b.
func SetFieldBytes(b []byte, f Field, index int, v uint64) bool {
	if len(b) < vhd.FooterSize {
		return false
	}
	var ft vhd.Footer
	ft.UnmarshalBinary(b[len(b)-vhd.FooterSize:])
	var at []int64
	switch f.Struct {
	case "footer":
		at = append(at, int64(len(b)-vhd.FooterSize))
		if ft.IsDynamic() {
			at = append(at, 0)
		}
	default:
		hoff := int64(ft.DataOffset)
		if !ft.IsDynamic() || ft.DataOffset > uint64(len(b)) || int64(len(b))-hoff < vhd.HeaderSize {
			return false
		}
		var h vhd.Header
		h.UnmarshalBinary(b[hoff:])
		var off int64
		switch f.Struct {
		case "header":
			off = hoff
		case "locator":
			off = hoff + 576 + 24*int64(index%8)
		case "BAT":
			off = int64(h.TableOffset) + 4*int64(index)
		case "batmap header":
			off = int64(h.TableOffset) + pad(int64(h.MaxTableEntries)*4)
		}
		if h.TableOffset > uint64(len(b)) || off < 0 {
			return false
		}
		at = append(at, off)
	}
	for _, off := range at {
		if off < 0 || off+f.Offset+int64(f.Size) > int64(len(b)) {
			return false
		}
		put(b[off+f.Offset:], f.Size, v)
	}
	if f.Name == "checksum" && (f.Struct == "footer" || f.Struct == "header") {
		return true
	}
	// Recompute the checksums of the footer copies and the header.
	for _, off := range []int64{0, int64(len(b) - vhd.FooterSize)} {
		var g vhd.Footer
		g.UnmarshalBinary(b[off:])
		if off == 0 && (!g.IsDynamic() || string(g.Cookie[:]) != vhd.FooterCookie) {
			continue
		}
		g.UpdateChecksum()
		put(b[off+64:], 4, uint64(g.Checksum))
	}
	ft.UnmarshalBinary(b[len(b)-vhd.FooterSize:])
	if hoff := int64(ft.DataOffset); ft.IsDynamic() && ft.DataOffset <= uint64(len(b)) && int64(len(b))-hoff >= vhd.HeaderSize {
		var h vhd.Header
		h.UnmarshalBinary(b[hoff:])
		h.UpdateChecksum()
		put(b[hoff+36:], 4, uint64(h.Checksum))
	}
	return true
}

func put(b []byte, size int, v uint64) {
	switch size {
	case 1:
		b[0] = byte(v)
	case 2:
		binary.BigEndian.PutUint16(b, uint16(v))
	case 4:
		binary.BigEndian.PutUint32(b, uint32(v))
	case 8:
		binary.BigEndian.PutUint64(b, v)
	}
}

// SetField is SetFieldBytes on the file at path; it fails the test when
// the structure is not in the file.
func SetField(tb testing.TB, path string, f Field, index int, v uint64) {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("vhdtest: %v", err)
	}
	if !SetFieldBytes(b, f, index, v) {
		tb.Fatalf("vhdtest: %s has no %s %s", path, f.Struct, f.Name)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		tb.Fatalf("vhdtest: %v", err)
	}
}

// FieldNamed returns the field of Fields in structure st named name, and
// panics when there is none: it is for literals in tests.
func FieldNamed(st, name string) Field {
	for _, f := range Fields {
		if f.Struct == st && f.Name == name {
			return f
		}
	}
	panic("vhdtest: no field " + st + " " + name)
}
