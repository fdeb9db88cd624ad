package vhd

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
)

// ErrJournal is the cause of every problem with a resize journal: a wrong
// magic, version, length or reserved field, a size out of range, or a
// journal written for another disk.
var ErrJournal = errors.New("vhd: invalid resize journal")

// ErrGrownSpaceUsed is returned by [File.Revert] when the disk holds data
// beyond the size it would go back to: it was used after the grow, and
// reverting would lose that data.
var ErrGrownSpaceUsed = errors.New("vhd: the disk holds data beyond the size to revert to")

// The resize journal's layout (FORMAT.md §20).
const (
	// JournalSize is the size of a resize journal: one fixed record.
	JournalSize = 2048
	// JournalMagic opens every resize journal.
	JournalMagic = "vhdkitrj"
	// JournalVersion is the record version this package writes and reads.
	JournalVersion = 1

	journalOffVersion   = 8
	journalOffLength    = 12
	journalOffUUID      = 16
	journalOffOldSize   = 32
	journalOffOldFile   = 40
	journalOffNewSize   = 48
	journalOffReserved1 = 56
	journalOffFooter    = 64
	journalOffHeader    = journalOffFooter + FooterSize
	journalOffReserved2 = journalOffHeader + HeaderSize
	journalOffChecksum  = JournalSize - 4
)

// A Journal is the record of vhdkit's resize journal (FORMAT.md §20): what
// [File.Grow] writes before it changes a disk, and what [File.Revert] puts
// the disk back to.
type Journal struct {
	UUID        UUID             // the disk's footer UUID
	OldSize     int64            // the virtual size before the grow
	OldFileSize int64            // the file's size before the grow
	NewSize     int64            // the virtual size being grown to
	OldFooter   [FooterSize]byte // the footer before the grow
	OldHeader   [HeaderSize]byte // the dynamic disk header before the grow
}

// journalCRC returns the CRC-32C (Castagnoli) of b, as iSCSI and ext4
// use it, a bit at a time. A record is hashed once per resize or revert,
// so a table (and hash/crc32, whose initialisation every program importing
// this package would pay at start) buys nothing.
func journalCRC(b []byte) uint32 {
	crc := ^uint32(0)
	for _, c := range b {
		crc ^= uint32(c)
		for range 8 {
			crc = crc>>1 ^ 0x82f63b78&-(crc&1)
		}
	}
	return ^crc
}

// MarshalBinary encodes the record in its JournalSize bytes, checksum
// included.
func (j *Journal) MarshalBinary() ([]byte, error) {
	b := make([]byte, JournalSize)
	be := binary.BigEndian
	copy(b, JournalMagic)
	be.PutUint32(b[journalOffVersion:], JournalVersion)
	be.PutUint32(b[journalOffLength:], JournalSize)
	copy(b[journalOffUUID:], j.UUID[:])
	be.PutUint64(b[journalOffOldSize:], uint64(j.OldSize))
	be.PutUint64(b[journalOffOldFile:], uint64(j.OldFileSize))
	be.PutUint64(b[journalOffNewSize:], uint64(j.NewSize))
	copy(b[journalOffFooter:], j.OldFooter[:])
	copy(b[journalOffHeader:], j.OldHeader[:])
	be.PutUint32(b[journalOffChecksum:], journalCRC(b[:journalOffChecksum]))
	return b, nil
}

// UnmarshalBinary decodes and validates a record of exactly JournalSize
// bytes. A problem is a *[FormatError] naming the field and its offset,
// matching [ErrJournal], [ErrChecksum] or [ErrTruncated].
func (j *Journal) UnmarshalBinary(b []byte) error {
	return j.unmarshal(b, "")
}

func (j *Journal) unmarshal(b []byte, name string) error {
	const part = "resize journal"
	bad := func(field string, off int64, cause error, format string, args ...any) error {
		return formatErr(name, part, field, off, cause, format, args...)
	}
	if len(b) < JournalSize {
		return bad("", -1, ErrTruncated, "%d bytes, a journal has %d", len(b), JournalSize)
	}
	if len(b) > JournalSize {
		return bad("", -1, ErrJournal, "more than %d bytes, a journal has %d", JournalSize, JournalSize)
	}
	be := binary.BigEndian
	if string(b[:8]) != JournalMagic {
		return bad("magic", 0, ErrJournal, "magic %q, want %q", b[:8], JournalMagic)
	}
	if v := be.Uint32(b[journalOffVersion:]); v != JournalVersion {
		return bad("version", journalOffVersion, ErrJournal, "version %d, want %d", v, JournalVersion)
	}
	if n := be.Uint32(b[journalOffLength:]); n != JournalSize {
		return bad("length", journalOffLength, ErrJournal, "length %d, want %d", n, JournalSize)
	}
	if got, want := be.Uint32(b[journalOffChecksum:]), journalCRC(b[:journalOffChecksum]); got != want {
		return bad("checksum", journalOffChecksum, ErrChecksum, "CRC-32C %#08x, the record's is %#08x", got, want)
	}
	for _, r := range [][2]int{{journalOffReserved1, journalOffFooter}, {journalOffReserved2, journalOffChecksum}} {
		if i := bytes.IndexFunc(b[r[0]:r[1]], func(c rune) bool { return c != 0 }); i >= 0 {
			return bad("reserved", int64(r[0]+i), ErrJournal, "reserved bytes are not zero")
		}
	}
	var nj Journal
	copy(nj.UUID[:], b[journalOffUUID:])
	sizes := []struct {
		field string
		off   int
		v     *int64
	}{{"old size", journalOffOldSize, &nj.OldSize}, {"old file size", journalOffOldFile, &nj.OldFileSize}, {"new size", journalOffNewSize, &nj.NewSize}}
	for _, s := range sizes {
		v := be.Uint64(b[s.off:])
		limit := uint64(MaxSize)
		if s.field == "old file size" {
			limit = maxMetadataEnd
		}
		if v > limit || v%SectorSize != 0 {
			return bad(s.field, int64(s.off), ErrJournal, "%d is not a multiple of 512 from 0 to %d", v, limit)
		}
		*s.v = int64(v)
	}
	if nj.NewSize < nj.OldSize {
		return bad("new size", journalOffNewSize, ErrJournal, "new size %d is below the old size %d: a journal records a grow", nj.NewSize, nj.OldSize)
	}
	copy(nj.OldFooter[:], b[journalOffFooter:])
	copy(nj.OldHeader[:], b[journalOffHeader:])
	var ft Footer
	ft.UnmarshalBinary(nj.OldFooter[:])
	switch {
	case string(ft.Cookie[:]) != FooterCookie:
		return bad("old footer", journalOffFooter, ErrJournal, "the old footer's cookie is %q, want %q", ft.Cookie[:], FooterCookie)
	case ft.UUID != nj.UUID:
		return bad("old footer", journalOffFooter+footerOffUUID, ErrJournal, "the old footer's UUID %v is not the journal's %v", ft.UUID, nj.UUID)
	case int64(ft.CurrentSize) != nj.OldSize:
		return bad("old footer", journalOffFooter+footerOffCurrSize, ErrJournal, "the old footer's size %d is not the journal's old size %d", ft.CurrentSize, nj.OldSize)
	}
	*j = nj
	return nil
}

// ReadJournal reads and validates the resize journal at name. It reads at
// most one byte more than a journal holds, whatever the file's size.
func ReadJournal(name string) (*Journal, error) {
	fd, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer fd.Close()
	b, err := io.ReadAll(io.LimitReader(fd, JournalSize+1))
	if err != nil {
		return nil, err
	}
	j := new(Journal)
	if err := j.unmarshal(b, name); err != nil {
		return nil, err
	}
	return j, nil
}

// journalFile is a journal Grow created.
type journalFile struct {
	name string
	rec  Journal
}

// createJournal makes the journal of growing f to size durable: created
// exclusively, written, synced, its directory synced. The caller holds
// f.mu.
func createJournal(name string, f *File, size int64) (*journalFile, error) {
	j := &journalFile{name: name, rec: Journal{UUID: f.Footer.UUID, OldSize: int64(f.Footer.CurrentSize), OldFileSize: f.size, NewSize: size}}
	copy(j.rec.OldFooter[:], f.Footer.bytes())
	copy(j.rec.OldHeader[:], f.Header.bytes())
	b, _ := j.rec.MarshalBinary()
	fd, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("creating the journal: %w", err)
	}
	_, err = fd.Write(b)
	if err == nil {
		err = fd.Sync()
	}
	if cerr := fd.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = syncDir(name)
	}
	if err != nil {
		os.Remove(name)
		return nil, fmt.Errorf("writing the journal %s: %w", name, err)
	}
	return j, nil
}

// remove deletes the journal and syncs its directory.
func (j *journalFile) remove() error {
	if err := os.Remove(j.name); err != nil {
		return fmt.Errorf("removing the journal: %w", err)
	}
	if err := syncDir(j.name); err != nil {
		return fmt.Errorf("removing the journal %s: %w", j.name, err)
	}
	return nil
}

// syncDir makes the creation or removal of name durable. Windows cannot
// sync a directory; its file systems journal the directory change.
func syncDir(name string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(filepath.Dir(name))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Revert applies the resize journal at journal to f, as vhd-util revert
// does to its own: the disk goes back to the journal's old virtual size
// (and geometry) with one footer commit, primary copy synced, then the
// copy at offset 0 synced, and the journal is removed. Only the size goes
// back, not the byte layout: a table grown by [File.Grow] stays grown,
// which is sound, and every block stays where it is. A disk already at the
// old size only loses the journal.
//
// The journal must be valid (see [Journal.UnmarshalBinary]) and written
// for f's footer UUID, or Revert fails with a *[FormatError] naming the
// field. A disk holding data beyond the old size (it was used after the
// grow) is refused with [ErrGrownSpaceUsed]; nothing is written then.
func (f *File) Revert(ctx context.Context, journal string) error {
	if err := f.writable(); err != nil {
		return err
	}
	if f.Header == nil {
		return fmt.Errorf("vhd: %s: revert: %w", f.name, ErrNotDynamic)
	}
	j, err := ReadJournal(journal)
	if err != nil {
		return err
	}
	if j.UUID != f.Footer.UUID {
		return formatErr(journal, "resize journal", "disk UUID", journalOffUUID, ErrJournal,
			"the journal is for disk %v; %s is %v", j.UUID, f.name, f.Footer.UUID)
	}
	cur := int64(f.Footer.CurrentSize)
	if cur < j.OldSize {
		return formatErr(journal, "resize journal", "old size", journalOffOldSize, ErrJournal,
			"the old size %d is above the disk's current %d: the journal does not record a grow of this disk", j.OldSize, cur)
	}
	// A crash between the two copies of a footer commit (the grow's or a
	// revert's) leaves them different: the revert mends that too.
	backup := make([]byte, FooterSize)
	torn := f.readFull(backup, 0) != nil || !bytes.Equal(backup, f.Footer.bytes())
	if cur > j.OldSize || torn {
		if err := f.checkForWriteExcept(ctx, "revert", func(p Problem) bool { return errors.Is(p.Err, ErrBackupMismatch) }); err != nil {
			return err
		}
		if err := f.prepare(); err != nil {
			return err
		}
		f.mu.Lock()
		err := f.usedBeyond(j.OldSize)
		if err == nil {
			err = f.restoreSize(j, true)
		}
		f.mu.Unlock()
		if err != nil {
			return err
		}
	}
	return (&journalFile{name: journal}).remove()
}

// usedBeyond fails with ErrGrownSpaceUsed when a block past size is
// allocated, or the block holding size has a sector past it in its
// bitmap. The caller holds f.mu.
func (f *File) usedBeyond(size int64) error {
	bs := int64(f.Header.BlockSize)
	first := (size + bs - 1) / bs
	for i := first; i < int64(len(f.bat)); i++ {
		if f.bat[i] != Unallocated {
			return fmt.Errorf("vhd: %s: revert to %d bytes: block %d (at byte %d of the disk) is allocated: %w", f.name, size, i, i*bs, ErrGrownSpaceUsed)
		}
	}
	if size%bs == 0 || first > int64(len(f.bat)) || f.bat[first-1] == Unallocated {
		return nil
	}
	bm, err := f.readBitmap(f.bat[first-1])
	if err != nil {
		return err
	}
	for s := size % bs / SectorSize; s < bs/SectorSize; s++ {
		if bitSet(bm, s) {
			return fmt.Errorf("vhd: %s: revert to %d bytes: sector %d of the disk is written: %w", f.name, size, (first-1)*bs/SectorSize+s, ErrGrownSpaceUsed)
		}
	}
	return nil
}

// restoreSize commits the footer with the journal's old size and
// geometry, unless the footer already has them (and force is not set: a
// grow that failed while committing its footer may have written it). The
// caller holds f.mu.
func (f *File) restoreSize(j *Journal, force bool) error {
	ft := f.Footer
	ft.CurrentSize = uint64(j.OldSize)
	var old Footer
	old.UnmarshalBinary(j.OldFooter[:])
	ft.Geometry = old.Geometry
	if !force && ft.CurrentSize == f.Footer.CurrentSize && ft.Geometry == f.Footer.Geometry {
		return nil
	}
	return f.commitSize(ft, "revert")
}
