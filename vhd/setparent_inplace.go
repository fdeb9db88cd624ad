package vhd

import (
	"context"
	"fmt"
	"log/slog"
)

// In-place relinking. A child's locators already hold a path to its
// parent; blktap's modify -p overwrites that data where it is, which keeps
// the file's size but is not crash safe: a crash between the data and the
// header leaves locators naming one parent and a header naming another.
// SetParent overwrites in place too, but one locator at a time, each
// behind a header that no longer points at it:
//
//  1. a header with the old parent and without locator k (the last of the
//     MacX, W2ku and W2ru slots): the other locators still lead to the old
//     parent;
//  2. locator k's new data, in its old space;
//  3. a header with the new parent and locator k alone;
//  4. the other locators' new data, in their old spaces;
//  5. the header with the new parent and every locator.
//
// Each header goes down in one write and is synced before the data it
// frees is overwritten, so a crash leaves the old parent with its old
// locators (some perhaps not listed) or the new parent with its new ones
// (some perhaps not listed yet): never a locator that names another parent
// than the header. Every reserved space (data_space) is kept as it is, so
// a locator claiming gigabytes costs no more than its path. See FORMAT.md,
// parent locators.

// inPlacePlan is, per slot being rewritten, the bytes written over the old
// locator data: the new path padded with zeros to whole sectors covering
// the old data too.
type inPlacePlan struct {
	bufs [][]byte
}

// planInPlace reports whether the new data can be written over the old:
// at least two decodable locators (one must lead somewhere while another is
// rewritten), each one's new data fitting its reserved space, and each
// space, sector aligned, overlapping nothing else: no footer, header, BAT,
// batmap, block, other locator or the end of the file. The caller holds
// f.mu.
func (f *File) planInPlace(slots []int, data [][]byte) (inPlacePlan, bool) {
	h := f.Header
	var plan inPlacePlan
	if len(slots) < 2 {
		return plan, false
	}
	used := f.usedSpans(func(slot int) bool {
		for _, s := range slots {
			if s == slot {
				return true
			}
		}
		return false
	})
	var mine []span
	for i, s := range slots {
		l := h.Locators[s]
		if !l.Code.Decodable() || l.DataOffset%SectorSize != 0 || l.DataLength > maxLocatorData {
			return plan, false
		}
		n := pad512(max(int64(len(data[i])), int64(l.DataLength), 1))
		if n > l.Size() || l.DataOffset > uint64(f.size) || int64(l.DataOffset)+n > f.size-FooterSize {
			return plan, false
		}
		sp := span{int64(l.DataOffset), int64(l.DataOffset) + n}
		for _, u := range append(used, mine...) {
			if u.start < sp.end && sp.start < u.end {
				return plan, false
			}
		}
		mine = append(mine, sp)
		buf := make([]byte, n)
		copy(buf, data[i])
		plan.bufs = append(plan.bufs, buf)
	}
	// No block may lie in the spaces either.
	blockBytes := h.bitmapSectors()*SectorSize + int64(h.BlockSize)
	for _, e := range f.bat {
		if e == Unallocated {
			continue
		}
		b := span{int64(e) * SectorSize, int64(e)*SectorSize + blockBytes}
		for _, sp := range mine {
			if b.start < sp.end && sp.start < b.end {
				return plan, false
			}
		}
	}
	return plan, true
}

// usedSpans lists the byte ranges the metadata uses: the footer copy at 0,
// the header, the BAT, the batmap and the data of every locator whose slot
// skip does not name. The caller holds f.mu.
func (f *File) usedSpans(skip func(slot int) bool) []span {
	h := f.Header
	used := []span{{0, FooterSize}, {int64(f.Footer.DataOffset), int64(f.Footer.DataOffset) + HeaderSize},
		{int64(h.TableOffset), int64(h.TableOffset) + batBytes(h.MaxTableEntries)}}
	if bm := f.batmap; bm != nil {
		used = append(used, span{bm.HeaderOffset, bm.HeaderOffset + SectorSize},
			span{int64(bm.Header.Offset), int64(bm.Header.Offset) + int64(bm.Header.Size)*SectorSize})
	}
	for i, l := range h.Locators {
		if l.Code != PlatformNone && !skip(i) {
			used = append(used, span{int64(l.DataOffset), int64(l.DataOffset) + max(l.Size(), SectorSize)})
		}
	}
	return used
}

// relinkInPlace performs the five steps above. old is the header on disk,
// nh the new one with the new parent fields (its locators not yet set).
// The caller holds f.mu and has checked the plan.
func (f *File) relinkInPlace(ctx context.Context, old, nh *Header, slots []int, codes []PlatformCode, data [][]byte,
	plan inPlacePlan, log *slog.Logger, fail func(string, error) error) error {
	k := len(slots) - 1
	locator := func(i int) ParentLocator {
		l := old.Locators[slots[i]]
		return ParentLocator{Code: codes[i], DataSpace: l.DataSpace, DataLength: uint32(len(data[i])), DataOffset: l.DataOffset}
	}
	step := func(what string, do func() error) error {
		if err := ctx.Err(); err != nil {
			return fail(what, err)
		}
		if err := do(); err != nil {
			return fail(what, err)
		}
		if err := f.Sync(); err != nil {
			return fail("sync", err)
		}
		log.Debug("vhd: set parent in place", "file", f.name, "step", what)
		return nil
	}

	h1 := *old
	h1.Locators[slots[k]] = ParentLocator{}
	if err := step("header", func() error { return f.writeHeader(&h1) }); err != nil {
		return err
	}
	if err := step(fmt.Sprintf("parent locator %d data", slots[k]), func() error {
		return f.writeAt(plan.bufs[k], int64(old.Locators[slots[k]].DataOffset))
	}); err != nil {
		return err
	}
	h2 := *nh
	for _, s := range slots {
		h2.Locators[s] = ParentLocator{}
	}
	h2.Locators[slots[k]] = locator(k)
	if err := step("header", func() error { return f.writeHeader(&h2) }); err != nil {
		return err
	}
	if err := step("parent locator data", func() error {
		for i := range k {
			if err := f.writeAt(plan.bufs[i], int64(old.Locators[slots[i]].DataOffset)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return err
	}
	h3 := h2
	for i := range slots {
		h3.Locators[slots[i]] = locator(i)
	}
	return step("header", func() error { return f.writeHeader(&h3) })
}

// writeHeader writes h, with its checksum updated, in one write over the
// header, and makes it the File's header. If the write fails (perhaps torn)
// the previous header is written back. The caller holds f.mu.
func (f *File) writeHeader(h *Header) error {
	h.UpdateChecksum()
	if _, err := f.w.WriteAt(h.bytes(), int64(f.Footer.DataOffset)); err != nil {
		f.w.WriteAt(f.Header.bytes(), int64(f.Footer.DataOffset))
		return err
	}
	f.Header = h
	f.eod = 0
	return nil
}
