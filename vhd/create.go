package vhd

import (
	"errors"
	"fmt"
	"os"
	"time"
)

// MaxSize is the largest virtual size [Create] accepts: 2040 GiB, the limit
// of XenServer's storage manager (BAT entries are 32-bit sector numbers).
const MaxSize = 2040 << 30

// CreateOptions describe a new VHD. The zero value of every field but Size
// gives what blktap's vhd-util create writes.
type CreateOptions struct {
	// Type is DiskFixed, DiskDynamic or DiskDifferencing. DiskNone means
	// DiskDynamic, or DiskDifferencing when Parent is set.
	Type DiskType
	// Size is the virtual size in bytes, a multiple of 512, at most MaxSize.
	// For a differencing disk 0 means the parent's size.
	Size int64
	// MetadataSize, when larger than Size, sizes the BAT and batmap for a
	// disk of that many bytes so it can be resized fast later (vhd-util -S).
	MetadataSize int64
	// BlockSize is 0 or DefaultBlockSize for blktap's 2 MiB. Other powers of
	// two from 512 bytes are allowed only with a creator other than "tap",
	// since tapdisk misreads them.
	BlockSize uint32
	// UUID is the disk's identity; zero means a random one.
	UUID UUID
	// Time is the creation time; zero means now.
	Time time.Time
	// Creator, CreatorVersion and CreatorOS default to "tap", 1.3 and 0.
	Creator        Creator
	CreatorVersion uint32
	CreatorOS      HostOS
	// Parent links a differencing disk to its parent.
	Parent *ParentInfo
	// Overwrite replaces an existing file; without it Create fails with an
	// error matching fs.ErrExist.
	Overwrite bool
}

// ParentInfo is what a differencing disk records of its parent.
type ParentInfo struct {
	// UUID is the parent's footer UUID, or zero for a raw parent.
	UUID UUID
	// ModTime is the parent file's modification time.
	ModTime time.Time
	// Name is the parent's base name, stored in UTF-16BE in the header.
	Name string
	// Path is the parent's path relative to the child's directory, such as
	// "./p.vhd" or "../d/p.vhd", stored in MacX, W2ku and W2ru locators. An
	// empty Path writes no locators.
	Path string
	// Size is the parent's virtual size, used when CreateOptions.Size is 0.
	Size int64
}

// Create makes a new VHD at name as blktap lays it out and returns it open
// for reading and writing. If anything fails, the file is removed.
func Create(name string, opts *CreateOptions) (*File, error) {
	flag := os.O_RDWR | os.O_CREATE | os.O_EXCL
	if opts.Overwrite {
		flag = os.O_RDWR | os.O_CREATE | os.O_TRUNC
	}
	of, err := openFile(name, flag, 0o644, false)
	if err != nil {
		return nil, err
	}
	osf := of.osFile(name)
	f, err := createOn(osf, opts, name)
	if err == nil {
		err = osf.Sync()
	}
	if err != nil {
		osf.Close()
		os.Remove(name)
		return nil, fmt.Errorf("vhd: creating %s: %w", name, err)
	}
	f.osFile = osf
	return f, nil
}

// CreateTo lays out a new VHD on w, which must be empty (or zero-filled),
// and returns it open for reading and writing. If w has a method
// Truncate(int64) error, fixed disks are made sparse through it.
func CreateTo(w ReadWriterAt, opts *CreateOptions) (*File, error) {
	return createOn(w, opts, "")
}

// layout is where create puts each structure of a dynamic disk.
type layout struct {
	entries      uint32
	batOff       int64
	batmapHdrOff int64
	batmapOff    int64
	batmapSecs   int64
	locOff       int64
}

func newLayout(entries uint32, batmap bool) layout {
	l := layout{entries: entries, batOff: 3 * SectorSize}
	l.batmapHdrOff = l.batOff + batBytes(entries)
	l.locOff = l.batmapHdrOff
	if batmap {
		l.batmapOff = l.batmapHdrOff + SectorSize
		l.batmapSecs = max(1, ((int64(entries)+7)/8+SectorSize-1)/SectorSize)
		l.locOff = l.batmapOff + l.batmapSecs*SectorSize
	}
	return l
}

func (o *CreateOptions) normalize() (CreateOptions, error) {
	c := *o
	if c.Type == DiskNone {
		c.Type = DiskDynamic
		if c.Parent != nil {
			c.Type = DiskDifferencing
		}
	}
	switch c.Type {
	case DiskFixed, DiskDynamic:
		if c.Parent != nil {
			return c, fmt.Errorf("vhd: a %v disk has no parent", c.Type)
		}
	case DiskDifferencing:
		if c.Parent == nil {
			return c, errors.New("vhd: a differencing disk needs ParentInfo")
		}
		if c.Size == 0 {
			c.Size = c.Parent.Size
		}
	default:
		return c, fmt.Errorf("vhd: cannot create a disk of type %v", c.Type)
	}
	if c.Size < 0 || c.Size%SectorSize != 0 || c.Size > MaxSize {
		return c, fmt.Errorf("vhd: size %d must be a multiple of 512 from 0 to %d: %w", c.Size, int64(MaxSize), ErrTooLarge)
	}
	if c.MetadataSize < c.Size {
		c.MetadataSize = c.Size
	}
	if c.MetadataSize > MaxSize {
		return c, fmt.Errorf("vhd: metadata size %d exceeds %d: %w", c.MetadataSize, int64(MaxSize), ErrTooLarge)
	}
	if c.Creator == (Creator{}) {
		c.Creator = CreatorTap
		if c.CreatorVersion == 0 {
			c.CreatorVersion = TapVersion
		}
	}
	if c.BlockSize == 0 {
		c.BlockSize = DefaultBlockSize
	}
	if !validBlockSize(c.BlockSize) {
		return c, fmt.Errorf("vhd: block size %d must be a power of two from 512 to %d", c.BlockSize, MaxBlockSize)
	}
	if c.BlockSize != DefaultBlockSize && c.Creator == CreatorTap && c.Type != DiskFixed {
		return c, fmt.Errorf("vhd: block size %d needs a creator other than %q: tapdisk reads only 2 MiB blocks", c.BlockSize, "tap")
	}
	if c.UUID.IsZero() {
		c.UUID = NewUUID()
	}
	if c.Time.IsZero() {
		c.Time = time.Now()
	}
	return c, nil
}

func createOn(w ReadWriterAt, o *CreateOptions, name string) (*File, error) {
	opts, err := o.normalize()
	if err != nil {
		return nil, err
	}
	ft := Footer{
		Features:       FeatureReserved,
		FormatVersion:  FormatVersion,
		DataOffset:     ^uint64(0),
		Timestamp:      VHDTime(opts.Time),
		CreatorApp:     opts.Creator,
		CreatorVersion: opts.CreatorVersion,
		CreatorOS:      opts.CreatorOS,
		OriginalSize:   uint64(opts.Size),
		CurrentSize:    uint64(opts.Size),
		Geometry:       GeometryForSize(uint64(opts.Size)),
		DiskType:       opts.Type,
		UUID:           opts.UUID,
	}
	copy(ft.Cookie[:], FooterCookie)
	if opts.Type == DiskFixed {
		if t, ok := w.(interface{ Truncate(int64) error }); ok {
			if err := t.Truncate(opts.Size); err != nil {
				return nil, err
			}
		}
		ft.UpdateChecksum()
		if _, err := w.WriteAt(ft.bytes(), opts.Size); err != nil {
			return nil, err
		}
		return newWritable(w, opts.Size+FooterSize, name)
	}

	ft.DataOffset = SectorSize
	bs := int64(opts.BlockSize)
	entries := uint32((opts.MetadataSize + bs - 1) / bs)
	withBatmap := opts.Creator == CreatorTap
	lay := newLayout(entries, withBatmap)
	h := Header{
		DataOffset:      ^uint64(0),
		TableOffset:     uint64(lay.batOff),
		Version:         FormatVersion,
		MaxTableEntries: entries,
		BlockSize:       opts.BlockSize,
	}
	copy(h.Cookie[:], HeaderCookie)

	end := lay.locOff
	var locData [][]byte
	if p := opts.Parent; p != nil {
		h.ParentUUID = p.UUID
		h.ParentTimestamp = VHDTime(p.ModTime)
		if err := h.SetParentUnicodeName(p.Name); err != nil {
			return nil, err
		}
		if p.Path != "" {
			for i, code := range []PlatformCode{PlatformMacX, PlatformW2ku, PlatformW2ru} {
				data, err := EncodeLocator(code, p.Path)
				if err != nil {
					return nil, err
				}
				space := max(pad512(int64(len(data))), SectorSize)
				h.Locators[i] = ParentLocator{Code: code, DataSpace: uint32(space), DataLength: uint32(len(data)), DataOffset: uint64(end)}
				locData = append(locData, data)
				end += space
			}
		}
	}
	h.UpdateChecksum()
	ft.UpdateChecksum()

	if withBatmap {
		bm := Batmap{Map: make([]byte, lay.batmapSecs*SectorSize)}
		bh := &bm.Header
		copy(bh.Cookie[:], BatmapCookie)
		bh.Offset = uint64(lay.batmapOff)
		bh.Size = uint32(lay.batmapSecs)
		bh.Version = BatmapVersion
		bh.Checksum = bm.ComputeChecksum(ft.CurrentSize)
		if _, err := w.WriteAt(bm.Map, lay.batmapOff); err != nil {
			return nil, err
		}
		hb, _ := bh.MarshalBinary()
		if _, err := w.WriteAt(hb, lay.batmapHdrOff); err != nil {
			return nil, err
		}
	}
	bat := make([]byte, batBytes(entries))
	for i := range int(entries) {
		copy(bat[4*i:], []byte{0xFF, 0xFF, 0xFF, 0xFF})
	}
	if _, err := w.WriteAt(bat, lay.batOff); err != nil {
		return nil, err
	}
	for i, data := range locData {
		sector := make([]byte, h.Locators[i].DataSpace)
		copy(sector, data)
		if _, err := w.WriteAt(sector, int64(h.Locators[i].DataOffset)); err != nil {
			return nil, err
		}
	}
	if _, err := w.WriteAt(ft.bytes(), 0); err != nil {
		return nil, err
	}
	if _, err := w.WriteAt(h.bytes(), SectorSize); err != nil {
		return nil, err
	}
	if _, err := w.WriteAt(ft.bytes(), end); err != nil {
		return nil, err
	}
	return newWritable(w, end+FooterSize, name)
}

func newWritable(w ReadWriterAt, size int64, name string) (*File, error) {
	f, err := newFile(w, size, name)
	if err != nil {
		return nil, err
	}
	f.w = w
	f.checked = true // laid out here: nothing to check before writing
	return f, nil
}
