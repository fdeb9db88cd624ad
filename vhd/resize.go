package vhd

import (
	"context"
	"errors"
	"fmt"
)

// ErrShrink is returned by [File.Grow] for a size below the current one:
// shrinking a disk is refused, as vhd-util resize refuses it.
var ErrShrink = errors.New("vhd: the new size is smaller than the current size")

// ErrNoTableRoom is returned by [File.Grow] when the block allocation table
// has fewer entries than the new size needs; vhd-util resize -f refuses
// the same. A disk created with room to grow (vhd-util create or snapshot
// -S, CreateOptions' table size) grows in place up to that size.
var ErrNoTableRoom = errors.New("vhd: the block allocation table has no room for the new size")

// Grow sets the virtual size of a dynamic or differencing disk to size
// bytes, rounded up to a whole 2 MiB (vhd-util resize -f, FORMAT.md §13
// Sizes and limits): the footer's current size and geometry change, and
// nothing else. The table must already have an entry for every block of
// the new size (see [ErrNoTableRoom]); no block moves, so every block
// reads as before and the sectors beyond the old size read as zeros (or,
// for a differencing disk, from its parent). A smaller size fails with
// [ErrShrink]; the same size changes nothing.
//
// The file is checked first, as every writer checks it. The primary footer
// is rewritten in place (one sector) and synced, then the copy at offset 0;
// a crash leaves the old size or the new one, and Grow returns once the new
// size is durable.
func (f *File) Grow(ctx context.Context, size int64) error {
	if err := f.writable(); err != nil {
		return err
	}
	if f.Header == nil {
		return fmt.Errorf("vhd: %s: grow: %w", f.name, ErrNotDynamic)
	}
	const unit = DefaultBlockSize
	if size < 0 || size > MaxSize {
		return fmt.Errorf("vhd: %s: grow to %d bytes: %w: at most %d", f.name, size, ErrFormat, int64(MaxSize))
	}
	size = (size + unit - 1) / unit * unit
	cur := int64(f.Footer.CurrentSize)
	switch {
	case size < cur:
		return fmt.Errorf("vhd: %s: grow to %d bytes, below the current %d: %w", f.name, size, cur, ErrShrink)
	case size == cur:
		return nil
	case uint64(size/unit) > uint64(f.Header.MaxTableEntries):
		return fmt.Errorf("vhd: %s: grow to %d bytes needs %d table entries, the table has %d: %w",
			f.name, size, size/unit, f.Header.MaxTableEntries, ErrNoTableRoom)
	}
	if err := f.checkForWrite(ctx, "grow"); err != nil {
		return err
	}
	if err := f.prepare(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	ft := f.Footer
	ft.CurrentSize = uint64(size)
	ft.Geometry = GeometryForSize(uint64(size))
	ft.UpdateChecksum()
	eod, err := f.endOfData()
	if err != nil {
		return err
	}
	off, newSize := eod, eod+FooterSize
	if f.device {
		off, newSize = f.size-FooterSize, f.size
	}
	f.eod = 0
	if err := f.commitFooter(ft, ft.bytes(), off, newSize, true, true, "grow"); err != nil {
		return err
	}
	f.bat, f.batErr, f.batLoaded = nil, nil, false // the table now has more blocks to read
	return nil
}
