package vhd

import (
	"fmt"
	"time"
)

// maxLocatorData caps the bytes read for one parent locator's data.
const maxLocatorData = 64 << 10

// A Locator is a parent locator entry together with its decoded path.
type Locator struct {
	Slot  int           // 0..7
	Entry ParentLocator // the header entry
	Path  string        // the decoded path, '/'-separated; "" when Err is set
	Err   error         // why the data could not be read or decoded
}

// LocatorData reads the data of the parent locator in slot (0..7):
// Entry.DataLength bytes at Entry.DataOffset, after checking that they lie
// within the reserved space and the file.
func (f *File) LocatorData(slot int) ([]byte, error) {
	if f.Header == nil {
		return nil, fmt.Errorf("vhd: %s: %w", f.name, ErrNotDynamic)
	}
	if slot < 0 || slot >= len(f.Header.Locators) {
		return nil, fmt.Errorf("vhd: locator slot %d out of range", slot)
	}
	l := f.Header.Locators[slot]
	part := fmt.Sprintf("parent locator %d", slot)
	entryOff := int64(f.Footer.DataOffset) + headerOffLocators + int64(slot)*locatorEntrySize
	n := int64(l.DataLength)
	switch {
	case n == 0:
		return nil, formatErr(f.name, part, "data length", entryOff+8, ErrLocator, "empty locator")
	case n > maxLocatorData:
		return nil, formatErr(f.name, part, "data length", entryOff+8, ErrTooLarge, "locator data of %d bytes exceeds %d", n, maxLocatorData)
	case n > l.Size():
		return nil, formatErr(f.name, part, "data length", entryOff+8, ErrLocator,
			"%d bytes of data exceed the reserved space of %d bytes (data space %d)", n, l.Size(), l.DataSpace)
	case l.DataOffset > uint64(f.FileSize()) || n > f.FileSize()-int64(l.DataOffset):
		return nil, formatErr(f.name, part, "data offset", entryOff+16, ErrTruncated,
			"%d bytes at offset %d do not fit in the file", n, l.DataOffset)
	}
	b := make([]byte, n)
	if err := f.readFull(b, int64(l.DataOffset)); err != nil {
		return nil, err
	}
	return b, nil
}

// ParentLocators returns the MacX, W2ku and W2ru locators of a differencing
// disk in slot order, each decoded as blktap decodes it. These are the
// locators a parent is resolved through; the first that resolves wins.
func (f *File) ParentLocators() []Locator {
	if f.Header == nil {
		return nil
	}
	var out []Locator
	for i, e := range f.Header.Locators {
		if !e.Code.Decodable() {
			continue
		}
		loc := Locator{Slot: i, Entry: e}
		data, err := f.LocatorData(i)
		if err == nil {
			loc.Path, err = DecodeLocator(e.Code, data)
			if err != nil {
				err = formatErr(f.name, fmt.Sprintf("parent locator %d", i), "data", int64(e.DataOffset), ErrLocator, "%v", err)
			}
		}
		loc.Err = err
		out = append(out, loc)
	}
	return out
}

// ParentUUID returns the header's parent UUID, the parent's footer UUID; it
// is zero for a raw parent or a disk without parent.
func (f *File) ParentUUID() UUID {
	if f.Header == nil {
		return UUID{}
	}
	return f.Header.ParentUUID
}

// ParentName returns the header's parent name (UTF-16BE, ASCII only).
func (f *File) ParentName() (string, error) {
	if f.Header == nil {
		return "", fmt.Errorf("vhd: %s: %w", f.name, ErrNotDynamic)
	}
	s, err := f.Header.ParentUnicodeName()
	if err != nil {
		return "", formatErr(f.name, "header", "parent name", int64(f.Footer.DataOffset)+headerOffParentName, ErrLocator, "%v", err)
	}
	return s, nil
}

// ParentTime returns the header's parent timestamp: the parent file's
// modification time when the child was linked to it.
func (f *File) ParentTime() time.Time {
	if f.Header == nil {
		return time.Time{}
	}
	return f.Header.ParentModTime()
}
