package chain

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/vhdkit/vhdkit/vhd"
)

// A coalesce source is the links whose sectors are copied, nearest the
// leaf first. Each sector of the target comes from the first link whose
// sector bitmap (or batmap) holds it; sectors no link holds are left alone.

// srcLink is one link read by a coalesce, read-only.
type srcLink struct {
	path    string
	r       io.ReaderAt // the file's bytes
	vsize   int64
	bs      int64 // block size
	bmBytes int64 // bytes of sector bitmap per block
	bat     []uint32
	batmap  *vhd.Batmap
	fileLen int64
}

func newSrcLink(path string, f *vhd.File, r io.ReaderAt) (*srcLink, error) {
	if f.Header == nil {
		return nil, fmt.Errorf("chain: coalesce %s: %w", path, vhd.ErrNotDifferencing)
	}
	bat, err := f.BAT()
	if err != nil {
		return nil, err
	}
	bm, err := f.Batmap()
	if err != nil && !errors.Is(err, vhd.ErrNoBatmap) {
		return nil, err
	}
	bs := f.BlockSize()
	return &srcLink{path: path, r: r, vsize: f.VirtualSize(), bs: bs, bmBytes: bitmapBytes(bs),
		bat: bat, batmap: bm, fileLen: f.FileSize()}, nil
}

// bitmapBytes is the on-disk size of the sector bitmap of a block of bs
// bytes: whole sectors, at least one.
func bitmapBytes(bs int64) int64 {
	spb := bs / vhd.SectorSize
	return max(1, (spb/8+vhd.SectorSize-1)/vhd.SectorSize) * vhd.SectorSize
}

// source resolves chunks of the target's virtual disk against the links.
type source struct {
	links []*srcLink
	unit  int64 // chunk size: the target's block size, or 2 MiB for flat targets
	vsize int64 // bytes of the virtual disk that can hold copied sectors
	pool  sync.Pool
}

// chunkList returns, in increasing order, the index of every chunk that a
// link's allocated block touches: the only chunks that can hold a sector to
// copy. Its length is bounded by the links' allocated blocks.
func (s *source) chunkList() []int64 {
	var out []int64
	for _, l := range s.links {
		end := min(l.vsize, s.vsize)
		for b, e := range l.bat {
			a := int64(b) * l.bs
			if e == vhd.Unallocated || a >= end {
				continue
			}
			last := min(a+l.bs, end) - 1
			for c := a / s.unit; c <= last/s.unit; c++ {
				out = append(out, c)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// chunk is one unit of the target: the sectors of [off, off+n) the links
// hold, and their data.
type chunk struct {
	idx     int64
	off, n  int64
	held    []byte // bitmap of the sectors held, in VHD bit order
	sectors int64  // number of sectors held
	buf     []byte // headroom + data; see dataHeadroom
	err     error
}

// dataHeadroom is the space before a chunk's data in its buffer, where a
// dynamic target puts the gap and bitmap that precede a new block's data so
// that the whole block goes out as one write.
const dataHeadroom = 4096

func (c *chunk) data() []byte { return c.buf[dataHeadroom : dataHeadroom+c.n] }

// full reports whether every sector of the chunk is held.
func (c *chunk) full() bool { return c.sectors == c.n/vhd.SectorSize }

// runs calls fn for each run [a, b) of held sectors (sector indexes in the chunk).
func (c *chunk) runs(fn func(a, b int64) error) error {
	ns := c.n / vhd.SectorSize
	for a := int64(0); a < ns; {
		if !bit(c.held, a) {
			if a%8 == 0 && c.held[a/8] == 0 {
				a += 8
			} else {
				a++
			}
			continue
		}
		b := a + 1
		for b < ns && bit(c.held, b) {
			if b%8 == 0 && c.held[b/8] == 0xFF && b+8 <= ns {
				b += 8
			} else {
				b++
			}
		}
		if err := fn(a, b); err != nil {
			return err
		}
		a = b
	}
	return nil
}

func setBitAt(bm []byte, i int64) { bm[i/8] |= 0x80 >> (i % 8) }

// newChunk returns an empty chunk for index idx, with a data buffer unless
// meta, reusing buf when it is big enough.
func (s *source) newChunk(idx int64, buf []byte, meta bool) *chunk {
	off := idx * s.unit
	n := min(s.unit, s.vsize-off)
	c := &chunk{idx: idx, off: off, n: n}
	if meta {
	} else if int64(cap(buf)) >= dataHeadroom+s.unit {
		c.buf = buf[:dataHeadroom+s.unit]
	} else {
		c.buf = make([]byte, dataHeadroom+s.unit)
	}
	c.held = make([]byte, (n/vhd.SectorSize+7)/8)
	return c
}

// resolve fills c.held (and, with data, the held sectors of c's data, all
// other bytes of which it clears) from the links. bm is scratch space for
// bitmaps.
func (s *source) resolve(c *chunk, data bool, bm []byte) ([]byte, error) {
	if data {
		clear(c.buf)
	}
	ns := c.n / vhd.SectorSize
	for _, l := range s.links {
		if c.sectors == ns {
			break
		}
		end := min(c.off+c.n, l.vsize)
		for a := c.off; a < end; {
			blk := a / l.bs
			bstart := blk * l.bs
			b := min(end, bstart+l.bs)
			entry := uint32(vhd.Unallocated)
			if blk < int64(len(l.bat)) {
				entry = l.bat[blk]
			}
			if entry == vhd.Unallocated {
				a = b
				continue
			}
			bmOff := int64(entry) * vhd.SectorSize
			dataOff := bmOff + l.bmBytes
			if dataOff+l.bs > l.fileLen {
				return bm, fmt.Errorf("chain: %s: block %d at sector %#x lies past the end of the file (%d bytes): %w",
					l.path, blk, entry, l.fileLen, vhd.ErrTruncated)
			}
			full := l.batmap != nil && l.batmap.Full(blk)
			if !full {
				if int64(cap(bm)) < l.bmBytes {
					bm = make([]byte, l.bmBytes)
				}
				bm = bm[:l.bmBytes]
				if err := readFull(l.r, bm, bmOff, l.path); err != nil {
					return bm, fmt.Errorf("chain: %s: bitmap of block %d: %w", l.path, blk, err)
				}
			}
			// Walk the sectors [a, b): take those the link holds and no
			// nearer link did, reading each run with one pread.
			runStart := int64(-1)
			flush := func(upto int64) error {
				if runStart < 0 {
					return nil
				}
				defer func() { runStart = -1 }()
				if !data {
					return nil
				}
				p := c.data()[runStart-c.off : upto-c.off]
				return readFull(l.r, p, dataOff+(runStart-bstart), l.path)
			}
			for x := a; x < b; x += vhd.SectorSize {
				ci := (x - c.off) / vhd.SectorSize
				li := (x - bstart) / vhd.SectorSize
				take := !bit(c.held, ci) && (full || bit(bm, li))
				if take {
					setBitAt(c.held, ci)
					c.sectors++
					if runStart < 0 {
						runStart = x
					}
				} else if err := flush(x); err != nil {
					return bm, err
				}
			}
			if err := flush(b); err != nil {
				return bm, err
			}
			a = b
		}
	}
	return bm, nil
}

// put returns ch's buffer for reuse.
func (s *source) put(ch *chunk) {
	if ch.buf != nil {
		s.pool.Put(ch.buf[:0])
		ch.buf = nil
	}
}

// get returns a buffer for a chunk.
func (s *source) get() []byte {
	b, _ := s.pool.Get().([]byte)
	return b
}
