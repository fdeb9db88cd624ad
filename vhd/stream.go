package vhd

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// StreamBlock says what a [Stream] holds of one block of the virtual disk.
type StreamBlock uint8

// The states of a block in a [StreamSpec].
const (
	// BlockAbsent: the block is not allocated (it reads as zeros, or from
	// the parent of a differencing disk).
	BlockAbsent StreamBlock = iota
	// BlockPartial: the block is allocated and its bitmap is written as
	// given, some bits possibly clear.
	BlockPartial
	// BlockFull: the block is allocated with every sector bit set, and
	// marked full in the batmap.
	BlockFull
)

// StreamSpec describes a VHD to be written front to back by a [Stream].
type StreamSpec struct {
	// Type is DiskDynamic, DiskDifferencing or DiskFixed.
	Type DiskType
	// Size is the virtual size in bytes: a multiple of 512, at most MaxSize.
	Size int64
	// UUID is the disk's identity (not zero); Time its creation time
	// (zero: VHD time 0). Both are written as given, so that the same spec
	// gives the same bytes.
	UUID UUID
	Time time.Time
	// Parent names a differencing disk's parent (UUID, ModTime, Name, and
	// Path for the MacX, W2ku and W2ru locators). Differencing only.
	Parent *ParentInfo
	// Blocks holds one state per 2 MiB block of the virtual disk for a
	// dynamic or differencing disk; a shorter slice leaves the rest
	// absent. Ignored for fixed disks, whose blocks are all written.
	Blocks []StreamBlock
}

// A Stream is the layout of a VHD written sequentially, computed before the
// first byte so that its length is known: blktap's layout for dynamic and
// differencing disks (footer copy, header, BAT, batmap, locators, then the
// allocated blocks in block order with their data 4 KiB-aligned, then the
// footer; creator "tap" 1.3, 2 MiB blocks), or a fixed disk's data and
// footer. Its memory is the BAT and batmap, not the data.
type Stream struct {
	// Footer and Header are what the stream holds (Header nil for a fixed
	// disk); they must not be modified.
	Footer Footer
	Header *Header

	spec    StreamSpec
	blocks  int64
	head    []byte   // everything before the first block's bitmap
	bat     []uint32 // sector of each block's bitmap, or Unallocated
	size    int64
	locData [][]byte
}

// Errors of stream writing.
var (
	// ErrStreamOrder: a block was written out of order, twice, or not
	// allocated in the Stream, or the stream was closed before all of its
	// blocks were written.
	ErrStreamOrder = errors.New("vhd: stream blocks written out of order or missing")
)

// NewStream lays out the VHD that spec describes.
func NewStream(spec *StreamSpec) (*Stream, error) {
	s := &Stream{spec: *spec}
	sp := &s.spec
	if sp.Size < 0 || sp.Size%SectorSize != 0 || sp.Size > MaxSize {
		return nil, fmt.Errorf("vhd: stream size %d must be a multiple of 512 from 0 to %d: %w", sp.Size, int64(MaxSize), ErrTooLarge)
	}
	if sp.UUID.IsZero() {
		return nil, errors.New("vhd: a stream needs a UUID: vhd-util check refuses a null one")
	}
	switch sp.Type {
	case DiskFixed, DiskDynamic:
		if sp.Parent != nil {
			return nil, fmt.Errorf("vhd: a %v stream has no parent", sp.Type)
		}
	case DiskDifferencing:
		if sp.Parent == nil {
			return nil, errors.New("vhd: a differencing stream needs ParentInfo")
		}
	default:
		return nil, fmt.Errorf("vhd: cannot stream a disk of type %v", sp.Type)
	}
	s.blocks = (sp.Size + DefaultBlockSize - 1) / DefaultBlockSize
	ft := Footer{
		Features:       FeatureReserved,
		FormatVersion:  FormatVersion,
		DataOffset:     ^uint64(0),
		Timestamp:      VHDTime(sp.Time),
		CreatorApp:     CreatorTap,
		CreatorVersion: TapVersion,
		OriginalSize:   uint64(sp.Size),
		CurrentSize:    uint64(sp.Size),
		Geometry:       GeometryForSize(uint64(sp.Size)),
		DiskType:       sp.Type,
		UUID:           sp.UUID,
	}
	if sp.Time.IsZero() {
		ft.Timestamp = 0
	}
	copy(ft.Cookie[:], FooterCookie)
	if sp.Type == DiskFixed {
		ft.UpdateChecksum()
		s.Footer = ft
		s.size = sp.Size + FooterSize
		return s, nil
	}
	ft.DataOffset = SectorSize
	lay := newLayout(uint32(s.blocks), true)
	h := &Header{
		DataOffset:      ^uint64(0),
		TableOffset:     uint64(lay.batOff),
		Version:         FormatVersion,
		MaxTableEntries: uint32(s.blocks),
		BlockSize:       DefaultBlockSize,
	}
	copy(h.Cookie[:], HeaderCookie)
	end := lay.locOff
	if p := sp.Parent; p != nil {
		h.ParentUUID = p.UUID
		h.ParentTimestamp = VHDTime(p.ModTime)
		if p.ModTime.IsZero() {
			h.ParentTimestamp = 0
		}
		if err := h.SetParentUnicodeName(p.Name); err != nil {
			return nil, err
		}
		if p.Path != "" {
			for i, code := range blktapCodes {
				data, err := EncodeLocator(code, p.Path)
				if err != nil {
					return nil, err
				}
				space := max(pad512(int64(len(data))), SectorSize)
				h.Locators[i] = ParentLocator{Code: code, DataSpace: uint32(space), DataLength: uint32(len(data)), DataOffset: uint64(end)}
				s.locData = append(s.locData, data)
				end += space
			}
		}
	}
	h.UpdateChecksum()
	ft.UpdateChecksum()
	s.Footer, s.Header = ft, h

	// Place the blocks, each bitmap so that the data after it is 4 KiB-aligned.
	const bmBytes = SectorSize // one sector of bitmap for 2 MiB blocks
	s.bat = make([]uint32, s.blocks)
	bm := Batmap{Map: make([]byte, lay.batmapSecs*SectorSize)}
	pos := end
	for i := range s.bat {
		st := BlockAbsent
		if i < len(sp.Blocks) {
			st = sp.Blocks[i]
		}
		if st == BlockAbsent {
			s.bat[i] = Unallocated
			continue
		}
		off := (pos+bmBytes+dataAlign-1)/dataAlign*dataAlign - bmBytes
		s.bat[i] = uint32(off / SectorSize)
		pos = off + bmBytes + DefaultBlockSize
		if st == BlockFull {
			setBit(bm.Map, int64(i))
		}
	}
	s.size = pos + FooterSize

	// The head: footer copy, header, BAT, batmap, locators.
	head := make([]byte, end)
	copy(head, ft.bytes())
	copy(head[SectorSize:], h.bytes())
	batBuf := head[lay.batOff : lay.batOff+batBytes(h.MaxTableEntries)]
	for i := range batBuf {
		batBuf[i] = 0xFF // padding entries too, as blktap writes them
	}
	for i, e := range s.bat {
		binary.BigEndian.PutUint32(batBuf[4*i:], e)
	}
	bh := &bm.Header
	copy(bh.Cookie[:], BatmapCookie)
	bh.Offset = uint64(lay.batmapOff)
	bh.Size = uint32(lay.batmapSecs)
	bh.Version = BatmapVersion
	bh.Checksum = bm.ComputeChecksum(ft.CurrentSize)
	hb, _ := bh.MarshalBinary()
	copy(head[lay.batmapHdrOff:], hb)
	copy(head[lay.batmapOff:], bm.Map)
	for i, data := range s.locData {
		copy(head[h.Locators[i].DataOffset:], data)
	}
	s.head = head
	return s, nil
}

// Size returns the exact number of bytes the stream writes.
func (s *Stream) Size() int64 { return s.size }

// Blocks returns the number of 2 MiB blocks of the virtual disk: the
// blocks a fixed stream's writer takes, and the length of a dynamic one's
// BAT.
func (s *Stream) Blocks() int64 { return s.blocks }

// Allocated reports whether block i is written: every block of a fixed
// stream, the blocks not BlockAbsent of a dynamic or differencing one.
func (s *Stream) Allocated(i int64) bool {
	if i < 0 || i >= s.blocks {
		return false
	}
	return s.Header == nil || s.bat[i] != Unallocated
}

// NewWriter returns a writer of the stream to w.
func (s *Stream) NewWriter(w io.Writer) *StreamWriter {
	return &StreamWriter{s: s, w: w}
}

// A StreamWriter writes a [Stream] to an io.Writer: the metadata, then each
// allocated block in order with [StreamWriter.WriteBlock], then the footer
// with [StreamWriter.Close]. It never seeks.
type StreamWriter struct {
	s       *Stream
	w       io.Writer
	written int64
	next    int64 // the next block that may be written
	started bool
	err     error
	pad     []byte
	buf     []byte // WriteBlockFrom's copy buffer, when it needs one
}

// Written returns the number of bytes written so far.
func (sw *StreamWriter) Written() int64 { return sw.written }

func (sw *StreamWriter) write(b []byte) error {
	if sw.err != nil {
		return sw.err
	}
	n, err := sw.w.Write(b)
	sw.written += int64(n)
	if err == nil && n < len(b) {
		err = io.ErrShortWrite
	}
	sw.err = err
	return err
}

func (sw *StreamWriter) zeros(n int64) error {
	if int64(len(sw.pad)) < min(n, 64<<10) {
		sw.pad = make([]byte, min(n, 64<<10))
	}
	for n > 0 {
		k := min(n, int64(len(sw.pad)))
		if err := sw.write(sw.pad[:k]); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

func (sw *StreamWriter) start() error {
	if sw.started {
		return sw.err
	}
	sw.started = true
	return sw.write(sw.s.head)
}

// WriteBlock writes block i, which must be allocated and follow the block
// written before (blocks of a fixed stream: every one, in order). data is
// the block's 2 MiB (a fixed stream's last block: up to the virtual size;
// shorter data is padded with zeros). bitmap is the block's sector bitmap,
// 512 bytes, for a BlockPartial block; it is ignored for a full block (all
// bits set) and for a fixed stream.
func (sw *StreamWriter) WriteBlock(i int64, bitmap, data []byte) error {
	want, err := sw.blockStart(i, bitmap, int64(len(data)))
	if err != nil {
		return err
	}
	if err := sw.write(data); err != nil {
		return err
	}
	sw.next = i + 1
	return sw.zeros(want - int64(len(data)))
}

// WriteBlockFrom is [StreamWriter.WriteBlock] with the block's n bytes of
// data read from src at off. When src and the stream's writer are both
// *os.File (a file or a pipe), Linux copies them in the kernel (sendfile),
// without passing them through user memory.
func (sw *StreamWriter) WriteBlockFrom(i int64, bitmap []byte, src io.ReaderAt, off, n int64) error {
	want, err := sw.blockStart(i, bitmap, n)
	if err != nil {
		return err
	}
	done := int64(0)
	if sf, ok := src.(*os.File); ok {
		if df, ok := sw.w.(*os.File); ok {
			k, err := sendFile(df, sf, off, n)
			sw.written += k
			done = k
			if err != nil {
				sw.err = err
				return err
			}
		}
	}
	for done < n {
		if sw.buf == nil {
			sw.buf = make([]byte, DefaultBlockSize)
		}
		k := min(n-done, int64(len(sw.buf)))
		if err := readFullAt(src, sw.buf[:k], off+done, "stream source"); err != nil {
			sw.err = err
			return err
		}
		if err := sw.write(sw.buf[:k]); err != nil {
			return err
		}
		done += k
	}
	sw.next = i + 1
	return sw.zeros(want - n)
}

// blockStart checks that block i may come next with n bytes of data and
// writes what precedes its data; it returns the data size the block takes.
func (sw *StreamWriter) blockStart(i int64, bitmap []byte, n int64) (int64, error) {
	s := sw.s
	if err := sw.start(); err != nil {
		return 0, err
	}
	if i < sw.next || !s.Allocated(i) {
		return 0, fmt.Errorf("vhd: stream block %d after block %d, or not allocated: %w", i, sw.next-1, ErrStreamOrder)
	}
	for j := sw.next; j < i; j++ {
		if s.Allocated(j) {
			return 0, fmt.Errorf("vhd: stream block %d written before block %d: %w", i, j, ErrStreamOrder)
		}
	}
	want := int64(DefaultBlockSize)
	if s.Header == nil {
		want = min(want, s.spec.Size-i*DefaultBlockSize)
	}
	if n > want || n < 0 {
		return 0, fmt.Errorf("vhd: stream block %d: %d bytes of data, at most %d: %w", i, n, want, ErrOutOfRange)
	}
	if s.Header != nil {
		off := int64(s.bat[i]) * SectorSize
		if err := sw.zeros(off - sw.written); err != nil {
			return 0, err
		}
		var bm [SectorSize]byte
		if i < int64(len(s.spec.Blocks)) && s.spec.Blocks[i] == BlockFull {
			for k := range bm {
				bm[k] = 0xFF
			}
		} else {
			copy(bm[:], bitmap)
		}
		if err := sw.write(bm[:]); err != nil {
			return 0, err
		}
	}
	return want, nil
}

// Close writes the footer after checking that every allocated block was
// written. It does not close the underlying writer.
func (sw *StreamWriter) Close() error {
	if err := sw.start(); err != nil {
		return err
	}
	for j := sw.next; j < sw.s.blocks; j++ {
		if sw.s.Allocated(j) {
			return fmt.Errorf("vhd: stream closed before block %d: %w", j, ErrStreamOrder)
		}
	}
	if err := sw.zeros(sw.s.size - FooterSize - sw.written); err != nil {
		return err
	}
	if err := sw.write(sw.s.Footer.bytes()); err != nil {
		return err
	}
	if sw.written != sw.s.size {
		return fmt.Errorf("vhd: stream wrote %d bytes, planned %d", sw.written, sw.s.size)
	}
	return nil
}
