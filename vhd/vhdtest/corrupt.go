package vhdtest

import (
	"os"
	"testing"

	"github.com/vhdkit/vhdkit/vhd"
)

// Patch overwrites the bytes at off in the file at path with data.
func Patch(tb testing.TB, path string, off int64, data ...byte) {
	tb.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		tb.Fatalf("vhdtest: %v", err)
	}
	defer f.Close()
	if _, err := f.WriteAt(data, off); err != nil {
		tb.Fatalf("vhdtest: patch %s at %d: %v", path, off, err)
	}
}

// Footers says which footer copies PatchFooter changes.
type Footers int

// Footer copies.
const (
	Primary Footers = 1 << iota // at EOF-512
	Backup                      // at offset 0
	Both    = Primary | Backup
)

// PatchFooter decodes the footer copies of the file at path named by which,
// applies edit to each, recomputes the checksum when fixChecksum is set, and
// writes them back.
func PatchFooter(tb testing.TB, path string, which Footers, fixChecksum bool, edit func(*vhd.Footer)) {
	tb.Helper()
	st, err := os.Stat(path)
	if err != nil {
		tb.Fatalf("vhdtest: %v", err)
	}
	var offs []int64
	if which&Primary != 0 {
		offs = append(offs, st.Size()-vhd.FooterSize)
	}
	if which&Backup != 0 {
		offs = append(offs, 0)
	}
	for _, off := range offs {
		b := read(tb, path, off, vhd.FooterSize)
		var ft vhd.Footer
		ft.UnmarshalBinary(b)
		edit(&ft)
		if fixChecksum {
			ft.UpdateChecksum()
		}
		out, _ := ft.MarshalBinary()
		Patch(tb, path, off, out...)
	}
}

// PatchHeader decodes the dynamic header of the file at path (at the primary
// footer's data offset), applies edit, recomputes the checksum when
// fixChecksum is set, and writes it back.
func PatchHeader(tb testing.TB, path string, fixChecksum bool, edit func(*vhd.Header)) {
	tb.Helper()
	st, err := os.Stat(path)
	if err != nil {
		tb.Fatalf("vhdtest: %v", err)
	}
	var ft vhd.Footer
	ft.UnmarshalBinary(read(tb, path, st.Size()-vhd.FooterSize, vhd.FooterSize))
	off := int64(ft.DataOffset)
	var h vhd.Header
	h.UnmarshalBinary(read(tb, path, off, vhd.HeaderSize))
	edit(&h)
	if fixChecksum {
		h.UpdateChecksum()
	}
	out, _ := h.MarshalBinary()
	Patch(tb, path, off, out...)
}

// Read returns n bytes at off of the file at path.
func read(tb testing.TB, path string, off int64, n int) []byte {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatalf("vhdtest: %v", err)
	}
	defer f.Close()
	b := make([]byte, n)
	if _, err := f.ReadAt(b, off); err != nil {
		tb.Fatalf("vhdtest: read %s at %d: %v", path, off, err)
	}
	return b
}
