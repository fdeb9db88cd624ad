package vhd

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// ErrNullParentUUID is returned when a VHD that is to become a parent has a
// null footer UUID: a child linked to it would record the null UUID, which
// tapdisk takes to mean a raw parent.
var ErrNullParentUUID = errors.New("vhd: parent VHD has a null UUID")

// ErrNoLocatorSlot is returned by [File.SetParent] when a child without
// MacX, W2ku or W2ru locators has fewer than three empty locator slots.
var ErrNoLocatorSlot = errors.New("vhd: no free parent locator slot")

// ErrSameFile is returned when a disk would become its own parent.
var ErrSameFile = errors.New("vhd: child and parent are the same file")

// SetParentOptions tune [File.SetParent].
type SetParentOptions struct {
	// Raw says the parent is a raw image rather than a VHD (vhd-util
	// modify -m): it is not opened as a VHD and the header's parent UUID is
	// zeroed.
	Raw bool
	// ChildPath is the child's path, from which the relative locator path
	// is computed. It is needed only for a File not opened by name (made by
	// [NewWritable]); otherwise the name it was opened with is used.
	ChildPath string
	// Logger receives a debug record for each step; nil is silent.
	Logger *slog.Logger
}

// A ParentError reports why a differencing disk cannot be linked to a
// parent by [File.SetParent] or [Snapshot]: which file, which parent, which
// field or step, and the cause (a sentinel such as [ErrNotDifferencing],
// [ErrReadOnly], [ErrLocator], [ErrTooLarge], [ErrNullParentUUID], or an
// error from the file system such as one matching fs.ErrNotExist).
type ParentError struct {
	Op     string // "set parent" or "snapshot"
	File   string // the child
	Parent string // the parent path as given
	Field  string // what was being checked or written: "disk type", "parent name", "parent locator 1", ...
	Err    error
}

// Error describes the failed parent operation and its cause.
func (e *ParentError) Error() string {
	s := "vhd: " + e.Op + " " + e.File
	if e.Parent != "" {
		s += " to " + e.Parent
	}
	if e.Field != "" {
		s += ": " + e.Field
	}
	return s + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *ParentError) Unwrap() error { return e.Err }

// blktapCodes are the locators blktap writes, in slot order.
var blktapCodes = [...]PlatformCode{PlatformMacX, PlatformW2ku, PlatformW2ru}

// SetParent links the differencing disk f to the parent at parentPath, as
// vhd-util modify -p does: the header gets the parent's footer UUID (zero
// with opts.Raw), the base name of the parent's real path in UTF-16BE, the
// parent file's modification time, and every MacX, W2ku and W2ru locator
// gets the parent's path relative to the child's real directory. A child
// without such locators gets blktap's three in free slots. Locators with
// other codes are left as they are. The parent may be a regular file or a
// block device (the logical volume of an LVM-based SR); it is only read.
//
// Unlike vhd-util, SetParent checks everything before it writes anything:
// the child and the new parent must pass the full default [Check] (the
// child's parent rules aside: mending them is the point), and a child or
// parent with problems is refused with the *[CheckError] in the error.
// Where the locators' reserved spaces hold the new path (the usual case),
// it rewrites them where they are, as vhd-util does, so the file keeps its
// size; but one locator at a time, each behind a synced header that no
// longer points at it, so that a crash leaves either the old parent with
// its old locators or the new parent with its new ones, some perhaps not
// listed yet. Otherwise the new locator data goes to sectors no metadata
// uses below the first data block; when there is no room there, the first
// data blocks (at most a few MiB of them) are moved to the end of the file
// one by one (copy, sync, update the BAT entry, sync), or, in a child
// without blocks, the data goes after the footer, which moves behind it.
// The header is then written in a single 1024-byte write between two
// syncs, and only then is the old locator data zeroed and the footer moved
// if the end of the data changed. An error or a crash at any point leaves
// the child consistent with the parent its header names, and the virtual
// disk's data unchanged; SetParent returns once everything is synced. ctx
// is checked between steps and block moves.
//
// f must be open for writing; opts may be nil.
func (f *File) SetParent(ctx context.Context, parentPath string, opts *SetParentOptions) error {
	if opts == nil {
		opts = &SetParentOptions{}
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	childPath := f.name
	if childPath == "" {
		childPath = opts.ChildPath
	}
	fail := func(field string, err error) error {
		return &ParentError{Op: "set parent", File: childPath, Parent: parentPath, Field: field, Err: err}
	}
	if err := f.writable(); err != nil {
		return fail("file", errors.Unwrap(err))
	}
	if f.Header == nil || f.Footer.DiskType != DiskDifferencing {
		return fail("disk type", fmt.Errorf("disk type is %v: %w", f.Footer.DiskType, ErrNotDifferencing))
	}
	if childPath == "" {
		return fail("child path", errors.New("the child's path is unknown: set SetParentOptions.ChildPath"))
	}
	if err := f.checkForWrite(ctx, "set the parent"); err != nil {
		return fail("check", err)
	}
	link, err := parentLink(ctx, childPath, parentPath, opts.Raw, openNamedParent)
	if err != nil {
		return fail(link.field, err)
	}
	if err := f.prepare(); err != nil {
		return fail("metadata", err)
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	h := f.Header
	for i, l := range h.Locators {
		if !l.Code.Known() {
			return fail(fmt.Sprintf("parent locator %d", i), fmt.Errorf("unknown platform code %#08x: %w", uint32(l.Code), ErrLocator))
		}
	}
	// Which slots get the new path, and what they hold.
	var slots []int
	var codes []PlatformCode
	for i, l := range h.Locators {
		if l.Code.Decodable() {
			slots = append(slots, i)
			codes = append(codes, l.Code)
		}
	}
	if len(slots) == 0 {
		for i, l := range h.Locators {
			if l.Code == PlatformNone && len(slots) < len(blktapCodes) {
				slots = append(slots, i)
				codes = append(codes, blktapCodes[len(slots)-1])
			}
		}
		if len(slots) < len(blktapCodes) {
			return fail("parent locators", fmt.Errorf("%d empty slots, need 3: %w", len(slots), ErrNoLocatorSlot))
		}
	}
	data := make([][]byte, len(slots))
	spaces := make([]int64, len(slots))
	for i, code := range codes {
		b, err := EncodeLocator(code, link.rel)
		if err != nil {
			return fail(fmt.Sprintf("parent locator %d", slots[i]), err)
		}
		data[i] = b
		spaces[i] = max(pad512(int64(len(b))), SectorSize)
	}
	nh := *h
	nh.ParentUUID = link.uuid
	nh.ParentTimestamp = VHDTime(link.mtime)
	if err := nh.SetParentUnicodeName(link.name); err != nil {
		return fail("parent name", err)
	}

	if ip, ok := f.planInPlace(slots, data); ok {
		log.Debug("vhd: set parent", "file", childPath, "parent", link.real, "path", link.rel, "in place", true)
		if err := f.relinkInPlace(ctx, h, &nh, slots, codes, data, ip, log, fail); err != nil {
			return err
		}
		return f.restorePrimaryFooter(fail)
	}
	p, err := f.planLocators(spaces)
	if err != nil {
		return fail("layout", err)
	}
	log.Debug("vhd: set parent", "file", childPath, "parent", link.real, "path", link.rel,
		"moves", len(p.moves), "offsets", p.offsets, "append", p.appendEnd)

	// From here on the file changes. Blocks first, each move complete and
	// synced before the next.
	for _, m := range p.moves {
		if err := ctx.Err(); err != nil {
			return fail(fmt.Sprintf("moving block %d", m.block), err)
		}
		if err := f.moveBlock(m); err != nil {
			return fail(fmt.Sprintf("moving block %d", m.block), err)
		}
		log.Debug("vhd: moved block", "file", childPath, "block", m.block, "from", m.from, "to", m.to)
	}
	staleFooter := int64(-1)
	if p.appendEnd > 0 {
		// The locators go past the old footer: first put a footer behind
		// them, so that the file keeps a valid primary footer throughout.
		staleFooter = f.size - FooterSize
		if err := f.writeFooterAt(p.appendEnd); err != nil {
			return fail("footer", err)
		}
		f.size = max(f.size, p.appendEnd+FooterSize)
		f.source = FooterPrimary
		// Durable before anything lands between the two footers: else a
		// crash could keep the locator data and lose the footer behind it.
		if err := f.Sync(); err != nil {
			return fail("sync", err)
		}
	}
	if err := ctx.Err(); err != nil {
		return fail("parent locators", err)
	}
	for i, off := range p.offsets {
		buf := make([]byte, spaces[i])
		copy(buf, data[i])
		if _, err := f.w.WriteAt(buf, off); err != nil {
			return fail(fmt.Sprintf("parent locator %d data", slots[i]), err)
		}
		l := &nh.Locators[slots[i]]
		*l = ParentLocator{Code: codes[i], DataSpace: uint32(spaces[i]), DataLength: uint32(len(data[i])), DataOffset: uint64(off)}
	}
	if err := f.Sync(); err != nil {
		return fail("sync", err)
	}
	eodBefore, err := f.endOfData()
	if err != nil {
		eodBefore = -1
	}
	nh.UpdateChecksum()
	if _, err := f.w.WriteAt(nh.bytes(), int64(f.Footer.DataOffset)); err != nil {
		// The write may have been torn: try to put the old header back.
		f.w.WriteAt(h.bytes(), int64(f.Footer.DataOffset))
		return fail("header", err)
	}
	// From here the file is linked to the new parent, synced or not.
	f.Header = &nh
	f.eod = 0
	if err := f.Sync(); err != nil {
		return fail("sync", err)
	}
	log.Debug("vhd: header written", "file", childPath)

	// The new header is durable: release what the old one used.
	if staleFooter >= 0 && staleFooter+FooterSize <= p.offsets[0] {
		// No reader should mistake the old footer, now in unused space
		// between the metadata, for a footer.
		if err := f.writeZeros(staleFooter, FooterSize); err != nil {
			return fail("releasing the old footer", err)
		}
	}
	if err := f.releaseOldLocators(h, slots); err != nil {
		return fail("releasing old locators", err)
	}
	eod, err := f.endOfData()
	if err != nil {
		return fail("end of data", err)
	}
	if eod != eodBefore && eod != f.size-FooterSize {
		// The old locators were the last metadata: the data now ends
		// earlier, and the footer follows it as blktap puts it.
		if err := f.rewriteFooter(); err != nil {
			return fail("footer", err)
		}
		if err := f.Sync(); err != nil {
			return fail("sync", err)
		}
	}
	return f.restorePrimaryFooter(fail)
}

// restorePrimaryFooter puts the footer back at the end of the data of a
// file opened from its backup footer (the primary one missing or invalid),
// as the check before writing assumed it would be. The caller holds f.mu.
func (f *File) restorePrimaryFooter(fail func(string, error) error) error {
	if f.source == FooterPrimary {
		return nil
	}
	if err := f.rewriteFooter(); err != nil {
		return fail("footer", err)
	}
	if err := f.Sync(); err != nil {
		return fail("sync", err)
	}
	return nil
}

// link is what a child records of a parent, plus what it was found from.
type link struct {
	field   string // the step that failed, for errors
	real    string // canonical parent path
	rel     string // locator path
	name    string // base name
	uuid    UUID
	mtime   time.Time
	size    int64    // virtual size, or file size of a raw parent
	keyhash *Keyhash // the parent's batmap keyhash when its cookie is 1
}

// parentLink checks the parent at parentPath and works out the fields a
// child at childPath records of it, opening a VHD parent with open (Open
// for a path the caller gave, a ParentOpener's Open for one it resolved).
func parentLink(ctx context.Context, childPath, parentPath string, raw bool, open func(string) (*File, error)) (link, error) {
	l := link{field: "parent"}
	real, err := filepath.EvalSymlinks(parentPath)
	if err == nil {
		real, err = filepath.Abs(real)
	}
	if err != nil {
		return l, err
	}
	l.real = real
	st, err := os.Stat(real)
	if err != nil {
		return l, err
	}
	if !st.Mode().IsRegular() && (st.Mode()&os.ModeDevice == 0 || st.Mode()&os.ModeCharDevice != 0) {
		return l, notRegular(real, st.Mode(), true)
	}
	if cst, err := os.Stat(childPath); err == nil && os.SameFile(cst, st) {
		return l, ErrSameFile
	}
	l.mtime = st.ModTime()
	l.name = filepath.Base(real)
	l.field = "parent name"
	var h Header
	if err := h.SetParentUnicodeName(l.name); err != nil {
		return l, err
	}
	l.field = "locator path"
	// An existing child is located by its real path: blktap resolves the
	// locators of a child reached through a symlink from the real
	// directory.
	if cr, err := filepath.EvalSymlinks(childPath); err == nil {
		childPath = cr
	}
	if l.rel, err = RelativeLocatorPath(childPath, real); err != nil {
		return l, err
	}
	for _, code := range blktapCodes {
		if _, err := EncodeLocator(code, l.rel); err != nil {
			return l, err
		}
	}
	l.field = "parent"
	if raw {
		l.size, err = fileSize(real)
		return l, err
	}
	p, err := open(parentPath)
	if err != nil {
		return l, err
	}
	defer p.Close()
	if p.Footer.UUID.IsZero() {
		return l, ErrNullParentUUID
	}
	l.field = "parent check"
	if err := checkParentFile(ctx, p); err != nil {
		return l, err
	}
	l.field = "parent"
	l.uuid = p.Footer.UUID
	l.size = p.VirtualSize()
	if bm, err := p.Batmap(); err == nil && bm.Header.Keyhash.Cookie == 1 {
		kh := bm.Header.Keyhash
		l.keyhash = &kh
	}
	return l, nil
}

// openNamedParent opens a VHD parent the caller named, for reading only: a
// regular file or a block device (the logical volume an LVM-based SR keeps
// a VHD in), never anything that could block.
func openNamedParent(name string) (*File, error) { return OpenBlockDevice(name, os.O_RDONLY) }

// fileSize returns the size of a raw image: a regular file or block
// device, opened without blocking.
func fileSize(name string) (int64, error) {
	o, err := openFile(name, os.O_RDONLY, 0, true)
	if err != nil {
		return 0, err
	}
	o.reader(name).Close()
	return o.size, nil
}

// Bounds on the blocks SetParent moves to make room for locators: a few
// MiB, whatever the layout (one 2 MiB block frees room for any path).
const (
	maxMoveBytes = 4 << 20
	maxMoves     = 16
)

// blockMove is a planned relocation of one data block.
type blockMove struct {
	block    int64
	from, to uint32 // sectors of the block's bitmap
}

// locatorPlan says where SetParent puts new locator data.
type locatorPlan struct {
	moves     []blockMove
	offsets   []int64 // one per new locator
	appendEnd int64   // > 0: locators go past the old footer, which then moves here
}

// span is a half-open byte range of the file.
type span struct{ start, end int64 }

// planLocators finds fresh sectors for locator data of the given sizes: free
// space below the first data block not used by the current metadata, after
// moving the lowest blocks to the end of the file if needed; for a disk
// without blocks, after the footer when nothing fits below it. Nothing is
// written. The caller holds f.mu.
func (f *File) planLocators(sizes []int64) (locatorPlan, error) {
	h := f.Header
	var plan locatorPlan
	used := []span{{int64(f.Footer.DataOffset), int64(f.Footer.DataOffset) + HeaderSize},
		{int64(h.TableOffset), int64(h.TableOffset) + batBytes(h.MaxTableEntries)}}
	if f.Footer.IsDynamic() {
		used = append(used, span{0, FooterSize})
	}
	if bm := f.batmap; bm != nil {
		used = append(used, span{bm.HeaderOffset, bm.HeaderOffset + SectorSize},
			span{int64(bm.Header.Offset), int64(bm.Header.Offset) + int64(bm.Header.Size)*SectorSize})
	}
	for _, l := range h.Locators {
		if l.Code != PlatformNone {
			used = append(used, span{int64(l.DataOffset), int64(l.DataOffset) + max(l.Size(), SectorSize)})
		}
	}
	type blk struct {
		i     int64
		entry uint32
	}
	var blocks []blk
	for i, e := range f.bat {
		if e != Unallocated {
			blocks = append(blocks, blk{int64(i), e})
		}
	}
	slices.SortFunc(blocks, func(a, b blk) int { return cmp.Compare(a.entry, b.entry) })
	eod, err := f.endOfData()
	if err != nil {
		return plan, err
	}
	bmBytes := h.bitmapSectors() * SectorSize
	blockBytes := bmBytes + int64(h.BlockSize)
	var moved []blk // new places of moved blocks, in order
	for next := 0; ; {
		limit := eod
		if next < len(blocks) {
			limit = int64(blocks[next].entry) * SectorSize
		} else if len(moved) > 0 {
			limit = int64(moved[0].entry) * SectorSize
		}
		if offs, ok := fitSpans(used, limit, sizes); ok {
			plan.offsets = offs
			return plan, nil
		}
		if next >= len(blocks) {
			break
		}
		// Move the lowest block behind everything, within bounds: each
		// move costs a block's copy and two syncs.
		if len(plan.moves) > 0 && (int64(len(plan.moves)+1)*blockBytes > maxMoveBytes || len(plan.moves) >= maxMoves) {
			return plan, fmt.Errorf("the new locators need room that only moving more than %d blocks (%d bytes) would make: %w",
				len(plan.moves), int64(len(plan.moves))*blockBytes, ErrTooLarge)
		}
		b := blocks[next]
		next++
		if from := int64(b.entry) * SectorSize; from+blockBytes > f.size {
			return plan, formatErr(f.name, "BAT", fmt.Sprintf("entry %d", b.i), int64(h.TableOffset)+4*b.i, ErrTruncated,
				"block %d at offset %d runs past the end of the file (%d bytes) and cannot be moved", b.i, from, f.size)
		}
		to := (eod+bmBytes+dataAlign-1)/dataAlign*dataAlign - bmBytes
		if (to+blockBytes)/SectorSize > Unallocated {
			return plan, fmt.Errorf("moving block %d to offset %d would pass 2 TiB: %w", b.i, to, ErrTooLarge)
		}
		plan.moves = append(plan.moves, blockMove{block: b.i, from: b.entry, to: uint32(to / SectorSize)})
		moved = append(moved, blk{b.i, uint32(to / SectorSize)})
		eod = to + blockBytes
	}
	// No blocks: the locators go after the footer, which moves behind them.
	off := pad512(max(f.size, eod+FooterSize))
	for _, n := range sizes {
		plan.offsets = append(plan.offsets, off)
		off += n
	}
	plan.appendEnd = off
	return plan, nil
}

// fitSpans places each size, first fit, in the sector-aligned gaps below
// limit that no span in used covers.
func fitSpans(used []span, limit int64, sizes []int64) ([]int64, bool) {
	u := slices.Clone(used)
	var offs []int64
	for _, n := range sizes {
		slices.SortFunc(u, func(a, b span) int { return cmp.Compare(a.start, b.start) })
		found := int64(-1)
		pos := int64(0)
		for _, s := range append(u, span{limit, limit}) {
			if s.start-pos >= n && pos+n <= limit {
				found = pos
				break
			}
			pos = max(pos, pad512(s.end))
		}
		if found < 0 {
			return nil, false
		}
		offs = append(offs, found)
		u = append(u, span{found, found + n})
	}
	return offs, true
}

// moveBlock copies a block to its planned place at the end of the data,
// with a footer behind it written first, syncs, points the BAT entry at the
// copy and syncs again. The caller holds f.mu.
func (f *File) moveBlock(m blockMove) error {
	h := f.Header
	blockBytes := h.bitmapSectors()*SectorSize + int64(h.BlockSize)
	eod, err := f.endOfData()
	if err != nil {
		return err
	}
	from, to := int64(m.from)*SectorSize, int64(m.to)*SectorSize
	end := to + blockBytes
	if err := f.writeFooterAt(end); err != nil {
		return err
	}
	// The new footer is durable before the old one is zeroed or the copy
	// extends the file: a crash keeps a primary footer at the end.
	if err := f.Sync(); err != nil {
		return err
	}
	if zeroEnd := min(f.size, to); zeroEnd > eod {
		if err := f.writeZeros(eod, zeroEnd-eod); err != nil {
			return err
		}
	}
	buf := make([]byte, min(blockBytes, 1<<20))
	for done := int64(0); done < blockBytes; {
		n := min(int64(len(buf)), blockBytes-done)
		if err := f.readFull(buf[:n], from+done); err != nil {
			return err
		}
		if _, err := f.w.WriteAt(buf[:n], to+done); err != nil {
			return err
		}
		done += n
	}
	f.size = max(f.size, end+FooterSize)
	f.source = FooterPrimary
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.writeBATEntry(m.block, m.to); err != nil {
		f.bat[m.block] = m.from
		return err
	}
	f.eod = 0
	return f.Sync()
}

// releaseOldLocators zeroes the data of the old locators in slots that the
// header now points elsewhere, where no current metadata lies. The caller
// holds f.mu.
func (f *File) releaseOldLocators(old *Header, slots []int) error {
	for _, s := range slots {
		l := old.Locators[s]
		if l.Code == PlatformNone {
			continue
		}
		// Only the sectors the old data used: a reserved space may claim
		// gigabytes (data_space), and zeroing it all would cost as much.
		start, end := int64(l.DataOffset), int64(l.DataOffset)+min(l.Size(), pad512(int64(min(l.DataLength, maxLocatorData))))
		if end <= start || end > f.size-FooterSize || start < int64(f.Footer.DataOffset)+HeaderSize {
			continue
		}
		clash := false
		for _, nl := range f.Header.Locators {
			if nl.Code != PlatformNone && int64(nl.DataOffset) < end && int64(nl.DataOffset)+nl.Size() > start {
				clash = true
			}
		}
		if th := int64(f.Header.TableOffset); th < end && th+batBytes(f.Header.MaxTableEntries) > start {
			clash = true
		}
		if bm := f.batmap; bm != nil && bm.HeaderOffset < end && int64(bm.Header.Offset)+int64(bm.Header.Size)*SectorSize > start {
			clash = true
		}
		for _, e := range f.bat {
			if e != Unallocated && int64(e)*SectorSize < end && (int64(e)+f.Header.bitmapSectors())*SectorSize+int64(f.Header.BlockSize) > start {
				clash = true
			}
		}
		if clash {
			continue
		}
		if err := f.writeZeros(start, end-start); err != nil {
			return err
		}
	}
	return f.Sync()
}
