package chain

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"

	"github.com/vhdkit/vhdkit/vhd"
)

// The read-through engine resolves a range of the leaf's virtual disk
// against the whole chain at once: it keeps a list of byte runs still
// needed, and each link, from the leaf down, fills from its own data the
// runs its BAT and sector bitmaps (or batmap) say it holds, turns into zeros
// the runs it answers as zero (unallocated in a dynamic disk, past its
// virtual size), and passes the rest to its parent. Reads go straight to
// each file with one pread per run of sectors, so a fully allocated block is
// one 2 MiB read, and unallocated ranges cost no I/O at all.

// maxVirtualSize is the largest virtual size the engine reads: any offset
// below it plus a block, a chunk or a window still fits in an int64.
const maxVirtualSize = math.MaxInt64 - 1<<30

// span is a byte range [a, b) of the virtual disk.
type span struct{ a, b int64 }

// layer is one link as the engine sees it.
type layer struct {
	path    string
	r       io.ReaderAt // the file's bytes
	typ     vhd.DiskType
	vsize   int64
	bs      int64 // block size; 0 for fixed
	bmBytes int64 // bytes of sector bitmap per block
	bat     []uint32
	batmap  *vhd.Batmap
	fileLen int64
	live    *vhd.File // the link open for writing, whose BAT, batmap and length change
}

// layer returns layer i, as it is now for the link open for writing.
// Everything that reads a layer's BAT, batmap or length gets it here.
func (e *engine) layer(i int) (*layer, error) {
	ly := &e.layers[i]
	if ly.live == nil {
		return ly, nil
	}
	return ly.refreshed()
}

// refreshed returns ly with the BAT, batmap and file length of a link open
// for writing as they are now.
func (ly *layer) refreshed() (*layer, error) {
	cp := *ly
	f := ly.live
	cp.fileLen = f.FileSize()
	if f.Header != nil {
		bat, err := f.BAT()
		if err != nil {
			return nil, err
		}
		bm, err := f.Batmap()
		if err != nil && !errors.Is(err, vhd.ErrNoBatmap) {
			return nil, err
		}
		cp.bat, cp.batmap = bat, bm
	}
	return &cp, nil
}

// engine reads the leaf's virtual disk through the chain. It is safe for
// concurrent use: all state is read-only after creation.
type engine struct {
	layers  []layer
	raw     io.ReaderAt // raw parent of the base, or nil
	rawSize int64
	rawErr  error // why a raw parent the base needs is missing
	size    int64 // the leaf's virtual size
}

// scratch holds per-call buffers.
type scratch struct {
	need, next []span
	bitmap     []byte
}

// loadEngine opens raw readers for every link (through the resolver, so
// confined chains read only files inside the root, and checked to be the
// files the walk opened) and loads each link's BAT and batmap.
func (c *Chain) loadEngine() (*engine, error) {
	c.rawOnce.Do(func() {
		c.eng, c.rawErr = c.newEngine()
	})
	return c.eng, c.rawErr
}

func (c *Chain) newEngine() (*engine, error) {
	if len(c.Links) == 0 {
		return nil, errors.New("chain: empty chain")
	}
	e := &engine{size: c.Links[0].File.VirtualSize()}
	c.rawMu.Lock()
	defer c.rawMu.Unlock()
	for i, l := range c.Links {
		fd, err := c.resolver.openRaw(c.opened[i])
		if err != nil {
			return nil, err
		}
		c.rawFDs = append(c.rawFDs, fd)
		st, err := fd.Stat()
		if err != nil {
			return nil, err
		}
		if i < len(c.ids) && !os.SameFile(st, c.ids[i]) {
			return nil, fmt.Errorf("%s changed since the chain was opened", l.Path)
		}
		f := l.File
		if f.Footer.CurrentSize > maxVirtualSize {
			return nil, &vhd.FormatError{File: l.Path, Part: "footer", Field: "current size", Offset: -1, Err: vhd.ErrTooLarge,
				Msg: fmt.Sprintf("virtual size %d is larger than %d", f.Footer.CurrentSize, uint64(maxVirtualSize))}
		}
		ly := layer{path: l.Path, r: fd, typ: f.DiskType(), vsize: f.VirtualSize(), fileLen: f.FileSize()}
		if f.Header != nil {
			bat, err := f.BAT()
			if err != nil {
				return nil, err
			}
			bm, err := f.Batmap()
			if err != nil && !errors.Is(err, vhd.ErrNoBatmap) {
				return nil, err
			}
			ly.bat, ly.batmap = bat, bm
			ly.bs = f.BlockSize()
			spb := ly.bs / vhd.SectorSize
			ly.bmBytes = max(1, (spb/8+vhd.SectorSize-1)/vhd.SectorSize) * vhd.SectorSize
		}
		if i == c.write {
			ly.live = f
		}
		e.layers = append(e.layers, ly)
	}
	if c.raw != nil {
		st, err := c.raw.Stat()
		if err != nil {
			return nil, err
		}
		e.raw, e.rawSize = c.raw, st.Size()
	}
	e.rawErr = c.RawParentErr
	return e, nil
}

// read fills p with the virtual disk at off (off+len(p) <= e.size). Ranges
// that read as zeros are cleared in p, or, when zeros is not nil, appended
// to *zeros and left untouched.
func (e *engine) read(p []byte, off int64, s *scratch, zeros *[]span) error {
	zero := func(a, b int64) {
		if a >= b {
			return
		}
		if zeros != nil {
			*zeros = append(*zeros, span{a, b})
		} else {
			clear(p[a-off : b-off])
		}
	}
	s.need = append(s.need[:0], span{off, off + int64(len(p))})
	for li := range e.layers {
		ly, err := e.layer(li)
		if err != nil {
			return err
		}
		s.next = s.next[:0]
		for _, sp := range s.need {
			if sp.b > ly.vsize {
				// Past this link's end everything reads as zeros.
				zero(max(sp.a, ly.vsize), sp.b)
				if sp.a >= ly.vsize {
					continue
				}
				sp.b = ly.vsize
			}
			if err := e.layerSpan(ly, p, off, sp, s, zero); err != nil {
				return err
			}
		}
		s.need, s.next = s.next, s.need
		if len(s.need) == 0 {
			return nil
		}
	}
	// What the base does not hold: from the raw parent, else zeros.
	if e.rawErr != nil && len(s.need) > 0 {
		return fmt.Errorf("chain: reading %d bytes at %d: raw parent: %w", s.need[0].b-s.need[0].a, s.need[0].a, e.rawErr)
	}
	for _, sp := range s.need {
		if e.raw == nil || sp.a >= e.rawSize {
			zero(sp.a, sp.b)
			continue
		}
		end := min(sp.b, e.rawSize)
		if err := readFull(e.raw, p[sp.a-off:end-off], sp.a, "raw parent"); err != nil {
			return err
		}
		zero(end, sp.b)
	}
	return nil
}

// layerSpan resolves the span sp against one layer: it reads what the layer
// holds into p, zeros what it answers as zero, and appends the rest to
// s.next for the parent.
func (e *engine) layerSpan(ly *layer, p []byte, off int64, sp span, s *scratch, zero func(a, b int64)) error {
	diff := ly.typ == vhd.DiskDifferencing
	return ly.walkSpan(sp, &s.bitmap,
		func(a, b, fileOff int64) error { return readFull(ly.r, p[a-off:b-off], fileOff, ly.path) },
		func(a, b int64) {
			if diff {
				s.next = appendSpan(s.next, a, b)
			} else {
				zero(a, b)
			}
		})
}

// walkSpan splits the span sp of the virtual disk by what layer ly holds,
// from its BAT, batmap and bitmaps: held gets each run the layer holds with
// the offset of its data in the file, absent each run it does not (zeros for
// a dynamic disk, the parent's for a differencing one). A fixed disk holds
// everything. bitmap is scratch space for one block's bitmap. The reader and
// the extent map both walk layers here, so they cannot disagree.
func (ly *layer) walkSpan(sp span, bitmap *[]byte, held func(a, b, fileOff int64) error, absent func(a, b int64)) error {
	if ly.bs == 0 { // fixed
		return held(sp.a, sp.b, sp.a)
	}
	for a := sp.a; a < sp.b; {
		blk := a / ly.bs
		bstart := blk * ly.bs
		// b-bstart <= bs; bstart+bs itself may not fit in an int64.
		b := bstart + min(sp.b-bstart, ly.bs)
		entry := uint32(vhd.Unallocated)
		if blk < int64(len(ly.bat)) {
			entry = ly.bat[blk]
		}
		if entry == vhd.Unallocated {
			absent(a, b)
			a = b
			continue
		}
		bmOff := int64(entry) * vhd.SectorSize
		dataOff := bmOff + ly.bmBytes
		if dataOff+ly.bs > ly.fileLen {
			return fmt.Errorf("%s: block %d at sector %#x lies past the end of the file (%d bytes): %w",
				ly.path, blk, entry, ly.fileLen, vhd.ErrTruncated)
		}
		if ly.batmap != nil && ly.batmap.Full(blk) {
			if err := held(a, b, dataOff+(a-bstart)); err != nil {
				return err
			}
			a = b
			continue
		}
		if int64(cap(*bitmap)) < ly.bmBytes {
			*bitmap = make([]byte, ly.bmBytes)
		}
		bm := (*bitmap)[:ly.bmBytes]
		if err := readFull(ly.r, bm, bmOff, ly.path); err != nil {
			return fmt.Errorf("%s: bitmap of block %d: %w", ly.path, blk, err)
		}
		// Runs of sectors whose bits agree.
		for a < b {
			end, set := bitRun(bm, bstart, a, b)
			if set {
				if err := held(a, end, dataOff+(a-bstart)); err != nil {
					return err
				}
			} else {
				absent(a, end)
			}
			a = end
		}
	}
	return nil
}

// appendSpan appends [a, b) to spans, joining it to the last span when they
// touch.
func appendSpan(spans []span, a, b int64) []span {
	if n := len(spans); n > 0 && spans[n-1].b == a {
		spans[n-1].b = b
		return spans
	}
	return append(spans, span{a, b})
}

func bit(bm []byte, i int64) bool { return bm[i/8]&(0x80>>(i%8)) != 0 }

// readFull reads len(p) bytes at off of r, the file at path.
func readFull(r io.ReaderAt, p []byte, off int64, path string) error {
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = vhd.ErrTruncated
	}
	return fmt.Errorf("%s: reading %d bytes at %d: %w", path, len(p), off, err)
}

// mergeSpans sorts spans and joins those that touch.
func mergeSpans(s []span) []span {
	if len(s) < 2 {
		return s
	}
	slices.SortFunc(s, func(x, y span) int {
		switch {
		case x.a < y.a:
			return -1
		case x.a > y.a:
			return 1
		}
		return 0
	})
	out := s[:1]
	for _, sp := range s[1:] {
		last := &out[len(out)-1]
		if sp.a <= last.b {
			last.b = max(last.b, sp.b)
		} else {
			out = append(out, sp)
		}
	}
	return out
}

// bitRun returns the end of the run of sectors, starting at virtual offset
// a and ending at b at most, whose bits in bm (the bitmap of the block that
// starts at bstart) agree, and whether they are set.
func bitRun(bm []byte, bstart, a, b int64) (end int64, set bool) {
	set = bit(bm, (a-bstart)/vhd.SectorSize)
	end = a
	for end < b {
		sec := (end - bstart) / vhd.SectorSize
		if bit(bm, sec) != set {
			break
		}
		// Skip whole bytes of equal bits quickly.
		step := int64(1)
		if sec%8 == 0 && (bm[sec/8] == 0 && !set || bm[sec/8] == 0xFF && set) {
			step = 8
		}
		end = bstart + min(b-bstart, (sec+step)*vhd.SectorSize)
	}
	return end, set
}
