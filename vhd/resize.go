package vhd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
)

// ErrShrink is returned by [File.Grow] for a size below the current one:
// shrinking a disk is refused, as vhd-util resize refuses it.
var ErrShrink = errors.New("vhd: the new size is smaller than the current size")

// ErrNoTableRoom is returned by [File.Grow] when the block allocation table
// has fewer entries than the new size needs and [GrowOptions] does not let
// it grow; vhd-util resize -f refuses the same. A disk created with room to
// grow (vhd-util create or snapshot -S, CreateOptions' table size) grows in
// place up to that size.
var ErrNoTableRoom = errors.New("vhd: the block allocation table has no room for the new size")

// GrowOptions tune [File.Grow].
type GrowOptions struct {
	// GrowTable lets Grow enlarge a block allocation table that has too
	// few entries for the new size (vhd-util resize -j), moving the data
	// blocks in the way to the end of the file. Without it such a grow
	// fails with [ErrNoTableRoom] (vhd-util resize -f).
	GrowTable bool
	// Journal, when set, names a resize journal (vhd/FORMAT.md §20) that
	// Grow creates, failing if it exists, and makes durable before its
	// first write to the disk. Grow removes it once the new size is
	// durable; after a failed grow it puts the old size back and removes
	// it. A journal left by a crash is applied with [File.Revert].
	Journal string
	// Logger receives a debug record for each step; nil is silent.
	Logger *slog.Logger
}

// Grow sets the virtual size of a dynamic or differencing disk to size
// bytes, rounded up to a whole block (2 MiB for blktap's disks; FORMAT.md
// §13 Sizes and limits). A smaller size fails with [ErrShrink]; the same
// size changes nothing. Every block reads as before, and the sectors
// beyond the old size read as zeros (or, for a differencing disk, from its
// parent).
//
// When the table has an entry for every block of the new size (vhd-util
// resize -f), only the footer's current size and geometry change. When it
// has not, Grow fails with [ErrNoTableRoom] unless opts.GrowTable is set;
// then the table grows where it is, with the batmap and the parent
// locators behind it as blktap lays them out, and the data blocks in the
// way move to the end of the file (FORMAT.md §20 gives the order of the
// writes). A file whose table does not follow its header cannot grow its
// table, and a block device only within the table's sectors (the header
// and the padding entries are all that change, as with blktap); anything
// more fails with [ErrNoTableRoom].
//
// The file is checked first, as every writer checks it. Every write is
// ordered so that a crash at any point leaves a disk that opens, passes
// [Check] and reads the same data, with the old size or the new one: the
// new size is committed last, by the primary footer (synced) and then the
// copy at offset 0 (synced), and Grow returns once it is durable. ctx is
// checked between steps and block moves. opts may be nil.
func (f *File) Grow(ctx context.Context, size int64, opts *GrowOptions) error {
	if opts == nil {
		opts = &GrowOptions{}
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := f.writable(); err != nil {
		return err
	}
	if f.Header == nil {
		return fmt.Errorf("vhd: %s: grow: %w", f.name, ErrNotDynamic)
	}
	unit := int64(f.Header.BlockSize)
	if !validBlockSize(f.Header.BlockSize) {
		unit = DefaultBlockSize
	}
	if size < 0 || size > MaxSize {
		return fmt.Errorf("vhd: %s: grow to %d bytes: %w: at most %d", f.name, size, ErrFormat, int64(MaxSize))
	}
	size = min((size+unit-1)/unit*unit, MaxSize)
	cur := int64(f.Footer.CurrentSize)
	entries := size / unit
	switch {
	case size < cur:
		return fmt.Errorf("vhd: %s: grow to %d bytes, below the current %d: %w", f.name, size, cur, ErrShrink)
	case size == cur:
		return nil
	case entries > int64(f.Header.MaxTableEntries) && !opts.GrowTable:
		return fmt.Errorf("vhd: %s: grow to %d bytes needs %d table entries, the table has %d: %w",
			f.name, size, entries, f.Header.MaxTableEntries, ErrNoTableRoom)
	}
	if err := f.beginWrite(ctx, "grow"); err != nil {
		return err
	}
	defer f.mu.Unlock()
	var j *journalFile
	if opts.Journal != "" {
		var err error
		if j, err = createJournal(opts.Journal, f, size); err != nil {
			return fmt.Errorf("vhd: %s: grow: %w", f.name, err)
		}
		log.Debug("vhd: journal created", "file", f.name, "journal", opts.Journal)
	}
	var committing bool
	err := f.grow(ctx, size, entries, log, &committing)
	if j == nil {
		return err
	}
	if err != nil {
		// Put the old size back: the table may stay grown, which is sound
		// (the journal promises the old size, not the old layout).
		if rerr := f.restoreSize(&j.rec, committing); rerr != nil {
			return fmt.Errorf("%w; restoring the old size failed, the journal %s is kept for File.Revert: %w", err, opts.Journal, rerr)
		}
	}
	if rerr := j.remove(); rerr != nil {
		if err != nil {
			return fmt.Errorf("%w; %w", err, rerr)
		}
		return fmt.Errorf("vhd: %s: grow: %w", f.name, rerr)
	}
	return err
}

// grow is Grow's work on a checked file: the table grown if it must be,
// then the new size committed. The caller holds f.mu.
// committing is set once the new footer may have been written.
func (f *File) grow(ctx context.Context, size, entries int64, log *slog.Logger, committing *bool) error {
	if entries > int64(f.Header.MaxTableEntries) {
		if err := f.growTable(ctx, uint32(entries), size, log); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	ft := f.Footer
	ft.CurrentSize = uint64(size)
	ft.Geometry = GeometryForSize(uint64(size))
	*committing = true
	if err := f.commitSize(ft, "grow"); err != nil {
		return err
	}
	log.Debug("vhd: grown", "file", f.name, "size", size)
	return nil
}

// commitSize writes the footer ft, whose size differs from the current
// one: the primary copy at the end of the data, synced, then the copy at
// offset 0, synced. The caller holds f.mu.
func (f *File) commitSize(ft Footer, op string) error {
	ft.UpdateChecksum()
	eod, err := f.endOfData()
	if err != nil {
		return err
	}
	f.eod = 0
	if err := f.commitFooterAt(ft, eod, op); err != nil {
		return err
	}
	// The table and the map now have more or fewer blocks to read.
	f.bat, f.batErr, f.batLoaded = nil, nil, false
	f.batmap, f.batmapErr, f.batmapLoaded = nil, nil, false
	if _, err := f.loadBAT(); err != nil {
		return err
	}
	if _, err := f.loadBatmap(); err != nil && err != ErrNoBatmap {
		return err
	}
	return nil
}
