package vhdtest

import (
	"encoding/binary"
	"os"
	"testing"

	"github.com/vhdkit/vhdkit/vhd"
)

// SparseDynamic creates a blktap dynamic disk of size bytes (up to 2040
// GiB) at path in which every block for which alloc returns true (every
// block when alloc is nil) is allocated, and returns path. It is fast at
// any size: the BAT and the batmap are written directly, blocks are laid out
// one after the other as blktap allocates them (each block's data 4 KiB
// aligned), and their bitmaps and data are left as holes of a sparse file,
// so they read as zeros. The batmap marks every allocated block full, as
// for a disk whose blocks were written whole.
func SparseDynamic(tb testing.TB, path string, size int64, alloc func(block int64) bool) string {
	tb.Helper()
	Dynamic(tb, path, size, nil)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		tb.Fatalf("vhdtest: %v", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		tb.Fatalf("vhdtest: %v", err)
	}
	fsize := st.Size()
	footer := make([]byte, vhd.FooterSize)
	if _, err := f.ReadAt(footer, fsize-vhd.FooterSize); err != nil {
		tb.Fatalf("vhdtest: read footer of %s: %v", path, err)
	}
	hb := make([]byte, vhd.HeaderSize)
	if _, err := f.ReadAt(hb, vhd.SectorSize); err != nil {
		tb.Fatalf("vhdtest: read header of %s: %v", path, err)
	}
	var h vhd.Header
	h.UnmarshalBinary(hb)
	bmhb := make([]byte, vhd.SectorSize)
	bmhOff := int64(h.TableOffset) + pad(int64(h.MaxTableEntries)*4)
	if _, err := f.ReadAt(bmhb, bmhOff); err != nil {
		tb.Fatalf("vhdtest: read batmap header of %s: %v", path, err)
	}
	var bmh vhd.BatmapHeader
	bmh.UnmarshalBinary(bmhb)

	const bitmapBytes = vhd.SectorSize // 2 MiB blocks: one bitmap sector
	blocks := int64(h.MaxTableEntries)
	eod := fsize - vhd.FooterSize // the footer's place: the end of the metadata
	bat := make([]byte, pad(blocks*4))
	bm := vhd.Batmap{Header: bmh, Map: make([]byte, int64(bmh.Size)*vhd.SectorSize)}
	for i := range blocks {
		entry := uint32(vhd.Unallocated)
		if alloc == nil || alloc(i) {
			bitmapOff := (eod+bitmapBytes+4095)/4096*4096 - bitmapBytes
			entry = uint32(bitmapOff / vhd.SectorSize)
			eod = bitmapOff + bitmapBytes + int64(h.BlockSize)
			bm.Map[i/8] |= 0x80 >> (i % 8)
		}
		binary.BigEndian.PutUint32(bat[4*i:], entry)
	}
	bm.Header.Checksum = bm.ComputeChecksum(uint64(size))
	bmhb, _ = bm.Header.MarshalBinary()
	for _, w := range []struct {
		b   []byte
		off int64
	}{
		{bm.Map, int64(bmh.Offset)},
		{bmhb, bmhOff},
		{bat, int64(h.TableOffset)},
	} {
		if _, err := f.WriteAt(w.b, w.off); err != nil {
			tb.Fatalf("vhdtest: write %s: %v", path, err)
		}
	}
	// The old footer's sector becomes part of the first block's gap or
	// bitmap: zero it, then put the footer at the new end.
	if _, err := f.WriteAt(make([]byte, vhd.FooterSize), fsize-vhd.FooterSize); err != nil {
		tb.Fatalf("vhdtest: write %s: %v", path, err)
	}
	if _, err := f.WriteAt(footer, eod); err != nil {
		tb.Fatalf("vhdtest: write footer of %s: %v", path, err)
	}
	if err := f.Close(); err != nil {
		tb.Fatalf("vhdtest: close %s: %v", path, err)
	}
	return path
}

func pad(n int64) int64 {
	return max((n+vhd.SectorSize-1)/vhd.SectorSize*vhd.SectorSize, vhd.SectorSize)
}

// ClaimedBAT creates at path a blktap dynamic disk of size bytes whose
// header claims entries BAT entries (and a batmap for as many blocks), laid
// out as vhd-util create -S lays out preallocated metadata, but written
// sparse: only the BAT sector entries of the virtual size, the batmap header
// and the footers hold data; the rest of the table and of the map are holes
// reading as zeros. A 20 MiB disk claiming 2^28 entries is a file of just
// over 1 GiB that occupies a few KiB. It returns path.
func ClaimedBAT(tb testing.TB, path string, size int64, entries uint32) string {
	tb.Helper()
	Dynamic(tb, path, size, nil)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		tb.Fatalf("vhdtest: %v", err)
	}
	defer f.Close()
	var ft vhd.Footer
	ft.UnmarshalBinary(read(tb, path, 0, vhd.FooterSize))
	var h vhd.Header
	h.UnmarshalBinary(read(tb, path, vhd.SectorSize, vhd.HeaderSize))
	h.MaxTableEntries = entries
	h.UpdateChecksum()

	needed := (size + int64(h.BlockSize) - 1) / int64(h.BlockSize)
	batOff := int64(h.TableOffset)
	bmHdrOff := batOff + pad(int64(entries)*4)
	bmOff := bmHdrOff + vhd.SectorSize
	bmSecs := max(1, ((int64(entries)+7)/8+vhd.SectorSize-1)/vhd.SectorSize)
	end := bmOff + bmSecs*vhd.SectorSize

	bat := make([]byte, pad(needed*4))
	for i := range needed {
		binary.BigEndian.PutUint32(bat[4*i:], vhd.Unallocated)
	}
	bm := vhd.Batmap{Map: make([]byte, vhd.SectorSize)}
	copy(bm.Header.Cookie[:], vhd.BatmapCookie)
	bm.Header.Offset = uint64(bmOff)
	bm.Header.Size = uint32(bmSecs)
	bm.Header.Version = vhd.BatmapVersion
	bm.Header.Checksum = bm.ComputeChecksum(uint64(size))
	bmh, _ := bm.Header.MarshalBinary()
	fb, _ := ft.MarshalBinary()
	hb, _ := h.MarshalBinary()
	if err := f.Truncate(0); err != nil {
		tb.Fatalf("vhdtest: %v", err)
	}
	for _, w := range []struct {
		b   []byte
		off int64
	}{{fb, 0}, {hb, vhd.SectorSize}, {bat, batOff}, {bmh, bmHdrOff}, {fb, end}} {
		if _, err := f.WriteAt(w.b, w.off); err != nil {
			tb.Fatalf("vhdtest: write %s: %v", path, err)
		}
	}
	if err := f.Close(); err != nil {
		tb.Fatalf("vhdtest: close %s: %v", path, err)
	}
	return path
}
