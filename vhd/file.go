package vhd

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// FooterSource says which copy of the footer a [File] was opened with.
type FooterSource int

// Where a footer can come from, in the order blktap tries them.
const (
	FooterPrimary FooterSource = iota // the last 512 bytes of the file
	FooterShort                       // 511 bytes at EOF-511, for a file of size 512·n+511
	FooterBackup                      // the copy at offset 0
)

// String returns "primary", "short" or "backup".
func (s FooterSource) String() string {
	switch s {
	case FooterPrimary:
		return "primary"
	case FooterShort:
		return "short"
	case FooterBackup:
		return "backup"
	}
	return fmt.Sprintf("FooterSource(%d)", int(s))
}

// ReadWriterAt is the storage a writable [File] works on.
type ReadWriterAt interface {
	io.ReaderAt
	io.WriterAt
}

// File is an open VHD. Its exported fields are the footer and header as
// read; they are updated by the methods that write the file.
type File struct {
	Footer Footer
	Header *Header // nil for fixed disks

	name   string
	r      io.ReaderAt
	w      io.WriterAt // nil when read-only
	osFile *os.File    // set when opened by name for writing
	closer io.Closer   // set when opened by name for reading
	size   int64       // file size at open, and as written since
	source FooterSource

	mu           sync.RWMutex
	bat          []uint32 // loaded on first use
	batErr       error
	batLoaded    bool
	batmap       *Batmap
	batmapErr    error
	batmapLoaded bool
	parent       io.ReaderAt
	eod          int64 // cached end of data, 0 until computed
	closed       bool
	device       bool     // opened on a block device: never truncated
	checked      bool     // a write's Check passed (or this package made the file)
	undo         *undoLog // set while a write records what it changes
}

// Open opens the named VHD for reading. It refuses at once, without
// blocking, anything that is not a regular file (see [NotRegularError]).
func Open(name string) (*File, error) {
	return openPath(name, os.O_RDONLY, false)
}

// OpenFile opens the named VHD with flag, os.O_RDONLY or os.O_RDWR. A file
// opened read-write can be changed with [File.WriteAt], [File.SetHidden],
// [File.SetParent] and the other writing methods; changes reach the disk
// with [File.Sync] or [File.Close]. Like [Open] it refuses anything that is
// not a regular file.
func OpenFile(name string, flag int) (*File, error) {
	return openPath(name, flag, false)
}

// OpenBlockDevice is [OpenFile] that also accepts a block device, such as
// the logical volume of an LVM-based storage repository holding a VHD. A
// block device's size is where seeking to its end lands, and it is never
// truncated.
func OpenBlockDevice(name string, flag int) (*File, error) {
	return openPath(name, flag, true)
}

func openPath(name string, flag int, devices bool) (*File, error) {
	if flag&^(os.O_RDONLY|os.O_RDWR) != 0 || flag&os.O_RDWR == 0 && flag != os.O_RDONLY {
		return nil, fmt.Errorf("vhd: open %s: unsupported flags %#x: want os.O_RDONLY or os.O_RDWR", name, flag)
	}
	o, err := openFile(name, flag, 0, devices)
	if err != nil {
		return nil, err
	}
	if flag == os.O_RDONLY {
		// Asking a VHD one question is dominated by system calls: read
		// through the bare descriptor.
		r := o.reader(name)
		vf, err := newFile(r, o.size, name)
		if err != nil {
			r.Close()
			return nil, err
		}
		vf.closer = r
		vf.device = o.device
		return vf, nil
	}
	f := o.osFile(name)
	vf, err := newFile(f, o.size, name)
	if err != nil {
		f.Close()
		return nil, err
	}
	vf.osFile = f
	vf.w = f
	vf.device = o.device
	return vf, nil
}

// New reads a VHD of size bytes from r. The returned File is read-only.
func New(r io.ReaderAt, size int64) (*File, error) {
	return newFile(r, size, "")
}

// NewWritable reads a VHD of size bytes from rw and allows writing to it. If
// rw has a method Truncate(int64) error it is used when a footer moves, and
// a method Sync() error is called by [File.Sync].
func NewWritable(rw ReadWriterAt, size int64) (*File, error) {
	f, err := newFile(rw, size, "")
	if err != nil {
		return nil, err
	}
	f.w = rw
	return f, nil
}

func newFile(r io.ReaderAt, size int64, name string) (*File, error) {
	f := &File{name: name, r: r, size: size}
	if err := f.readFooter(); err != nil {
		return nil, err
	}
	if f.Footer.CreatorApp == CreatorTap && f.Footer.CreatorVersion == tapVersion01 {
		return nil, formatErr(name, f.footerPart(), "creator version", f.footerOffset()+footerOffCreatorVer, ErrFormat,
			"blktap creator version 0.1 is not supported")
	}
	if f.Footer.CurrentSize > MaxSize {
		// Every size and count derived from the virtual size is bounded
		// by this, and no sum of offsets can overflow.
		return nil, formatErr(name, f.footerPart(), "current size", f.footerOffset()+footerOffCurrSize, ErrTooLarge,
			"virtual size %d exceeds %d (2040 GiB), the largest VHD blktap and this package handle", f.Footer.CurrentSize, uint64(MaxSize))
	}
	if f.Footer.IsDynamic() {
		if err := f.readHeader(); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// readFooter finds a valid footer as libvhd does: at EOF-512, then a short
// footer at EOF-511 when the size is 512·n+511, then the copy at offset 0.
func (f *File) readFooter() error {
	if f.size < FooterSize-1 {
		return formatErr(f.name, "footer", "", -1, ErrTruncated, "file of %d bytes is too small for a footer", f.size)
	}
	var firstErr error
	try := func(src FooterSource, off int64, n int) bool {
		buf := make([]byte, n)
		if _, err := f.r.ReadAt(buf, off); err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("vhd: %s: reading %s footer at %d: %w", f.name, src, off, err)
			}
			return false
		}
		var ft Footer
		ft.UnmarshalBinary(buf)
		if err := ft.openValid(); err != nil {
			if firstErr == nil {
				firstErr = formatErr(f.name, src.String()+" footer", "", off, err, "%v", err)
			}
			return false
		}
		f.Footer, f.source = ft, src
		return true
	}
	if f.size >= FooterSize && try(FooterPrimary, f.size-FooterSize, FooterSize) {
		return nil
	}
	if f.size%SectorSize == SectorSize-1 && try(FooterShort, f.size-(FooterSize-1), FooterSize-1) {
		return nil
	}
	if f.size >= FooterSize && try(FooterBackup, 0, FooterSize) {
		return nil
	}
	return firstErr
}

// openValid is libvhd's open-time footer validation: cookie and checksum.
func (ft *Footer) openValid() error {
	c := string(ft.Cookie[:])
	if c != FooterCookie && c != DisabledCookie {
		return fmt.Errorf("invalid cookie %q: %w", ft.Cookie[:], ErrCookie)
	}
	if !ft.ChecksumValid() {
		return fmt.Errorf("invalid checksum %#08x, want %#08x: %w", ft.Checksum, ft.ComputeChecksum(), ErrChecksum)
	}
	return nil
}

// readHeader reads and validates the dynamic header as libvhd's open does.
func (f *File) readHeader() error {
	off := f.Footer.DataOffset
	part := "header"
	if off > uint64(f.size) || uint64(f.size)-off < HeaderSize {
		return formatErr(f.name, f.footerPart(), "data offset", f.footerOffset()+footerOffDataOffset, ErrTruncated,
			"header offset %d does not fit in a file of %d bytes", off, f.size)
	}
	buf := make([]byte, HeaderSize)
	if _, err := f.r.ReadAt(buf, int64(off)); err != nil {
		return fmt.Errorf("vhd: %s: reading header at %d: %w", f.name, off, err)
	}
	h := new(Header)
	h.UnmarshalBinary(buf)
	base := int64(off)
	switch {
	case string(h.Cookie[:]) != HeaderCookie:
		return formatErr(f.name, part, "cookie", base, ErrCookie, "invalid cookie %q", h.Cookie[:])
	case h.Version != FormatVersion:
		return formatErr(f.name, part, "header version", base+headerOffVersion, ErrFormat, "invalid header version %#08x", h.Version)
	case h.DataOffset != ^uint64(0):
		return formatErr(f.name, part, "data offset", base+headerOffDataOffset, ErrFormat, "invalid data offset %#x", h.DataOffset)
	case !validBlockSize(h.BlockSize):
		return formatErr(f.name, part, "block size", base+headerOffBlockSize, ErrFormat,
			"invalid block size %d: must be a power of two from 512 to %d", h.BlockSize, MaxBlockSize)
	}
	for i, l := range h.Locators {
		if !l.Code.Known() {
			return formatErr(f.name, part, fmt.Sprintf("parent locator %d code", i), base+headerOffLocators+int64(i)*locatorEntrySize,
				ErrFormat, "unknown platform code %#08x", uint32(l.Code))
		}
	}
	if want := h.ComputeChecksum(); h.Checksum != want {
		return formatErr(f.name, part, "checksum", base+headerOffChecksum, ErrChecksum, "invalid checksum %#08x, want %#08x", h.Checksum, want)
	}
	f.Header = h
	return nil
}

func validBlockSize(bs uint32) bool {
	return bs >= SectorSize && bs <= MaxBlockSize && bs&(bs-1) == 0
}

// footerOffset returns the file offset of the footer copy in use.
func (f *File) footerOffset() int64 {
	switch f.source {
	case FooterShort:
		return f.size - (FooterSize - 1)
	case FooterBackup:
		return 0
	}
	return f.size - FooterSize
}

func (f *File) footerPart() string { return f.source.String() + " footer" }

// Name returns the name the file was opened with, or "" for a File made by New.
func (f *File) Name() string { return f.name }

// FileSize returns the size of the file in bytes, as it is on disk now (not
// the virtual size, see File.VirtualSize; nor the size the metadata
// implies, see File.PhysicalSize).
func (f *File) FileSize() int64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.size
}

// FooterSource says which footer copy the file was opened with.
func (f *File) FooterSource() FooterSource { return f.source }

// Writable reports whether the file was opened for writing.
func (f *File) Writable() bool { return f.w != nil }

// DiskType returns the footer's disk type.
func (f *File) DiskType() DiskType { return f.Footer.DiskType }

// VirtualSize returns the size of the virtual disk in bytes (the footer's current size).
func (f *File) VirtualSize() int64 { return int64(f.Footer.CurrentSize) }

// Hidden returns the hidden flag as vhd-util query -f reports it: from the
// footer in use, except for files written by blktap 0.1 or 1.1, whose flag
// is read from the copy at offset 0.
func (f *File) Hidden() (uint8, error) {
	if f.Footer.oldTap() && f.source != FooterBackup {
		var b [1]byte
		if _, err := f.r.ReadAt(b[:], footerOffHidden); err != nil {
			return 0, fmt.Errorf("vhd: %s: reading backup hidden flag: %w", f.name, err)
		}
		return b[0], nil
	}
	return f.Footer.Hidden, nil
}

// BlockSize returns the block size of a dynamic or differencing disk, or 0
// for a fixed disk.
func (f *File) BlockSize() int64 {
	if f.Header == nil {
		return 0
	}
	return int64(f.Header.BlockSize)
}

// Blocks returns the number of blocks that cover the virtual size, or 0 for
// a fixed disk.
func (f *File) Blocks() int64 {
	bs := f.BlockSize()
	if bs == 0 {
		return 0
	}
	return (f.VirtualSize() + bs - 1) / bs
}

// HasParent reports whether the file is a differencing disk.
func (f *File) HasParent() bool { return f.Footer.DiskType == DiskDifferencing }

// AttachParent gives a differencing disk the data of its parent: [File.ReadAt]
// reads the sectors the disk does not hold from r, and partial-sector writes
// merge with it. r is typically the parent's *File (or a raw parent image).
func (f *File) AttachParent(r io.ReaderAt) {
	f.mu.Lock()
	f.parent = r
	f.mu.Unlock()
}

// Sync commits the file's writes to stable storage.
func (f *File) Sync() error {
	if f.osFile != nil {
		return f.osFile.Sync()
	}
	if s, ok := f.w.(interface{ Sync() error }); ok {
		return s.Sync()
	}
	return nil
}

// Close closes a File opened by name, syncing it first when it is writable.
// For a File made by New or NewWritable it only marks the File closed.
func (f *File) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return ErrClosed
	}
	f.closed = true
	if f.closer != nil {
		return f.closer.Close()
	}
	if f.osFile == nil {
		return nil
	}
	var err error
	if f.w != nil {
		err = f.osFile.Sync()
	}
	return errors.Join(err, f.osFile.Close())
}

// readFull reads len(b) bytes at off, turning a short read into ErrTruncated.
func (f *File) readFull(b []byte, off int64) error {
	n, err := f.r.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = fmt.Errorf("vhd: %s: %d bytes at %d: %w", f.name, len(b), off, ErrTruncated)
	}
	return err
}
