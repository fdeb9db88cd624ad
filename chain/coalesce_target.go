package chain

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/vhdkit/vhdkit/vhd"
)

// targetFile is the file a coalesce writes: an *os.File, or a test's
// fault-injecting double. A method StartWriteback(off, n int64), when
// present, is called after each data write to start the kernel writing it
// out (sync_file_range on Linux), which bounds the dirty page cache.
type targetFile interface {
	io.ReaderAt
	io.WriterAt
	Sync() error
	Truncate(size int64) error
}

type writebacker interface{ StartWriteback(off, n int64) }

// batchBytes is how much data a coalesce writes between two syncs: enough
// for large sequential writes, small enough to bound the dirty page cache.
const batchBytes = 64 << 20

// target describes the file written and how. Exactly one of dyn (a dynamic
// or differencing VHD) and flat (a fixed VHD or a raw image, whose virtual
// byte x is file byte x) is set.
type target struct {
	f      targetFile
	path   string
	size   int64 // file size at start
	sparse bool
	device bool // a block device: the footer stays at its end, nothing is cut
	dyn    *dynTarget
}

// dynTarget is the layout of a dynamic or differencing target.
type dynTarget struct {
	bs, bmBytes int64
	tableOff    int64
	bat         []uint32 // entries the file holds once the last sync returns
	batmap      *vhd.Batmap
	footer      []byte
	eod         int64 // end of data at start, sector-aligned
	unalignedBA bool  // the BAT does not start on a sector boundary
}

func newTarget(f targetFile, path string, size int64, vf *vhd.File, sparse bool) (*target, error) {
	t := &target{f: f, path: path, size: size, sparse: sparse}
	if vf == nil || vf.Header == nil {
		return t, nil
	}
	bat, err := vf.BAT()
	if err != nil {
		return nil, err
	}
	bm, err := vf.Batmap()
	if err != nil && !errors.Is(err, vhd.ErrNoBatmap) {
		return nil, err
	}
	eod, err := vf.EndOfData()
	if err != nil {
		return nil, err
	}
	footer, err := vf.Footer.MarshalBinary()
	if err != nil {
		return nil, err
	}
	bs := vf.BlockSize()
	t.dyn = &dynTarget{bs: bs, bmBytes: bitmapBytes(bs), tableOff: int64(vf.Header.TableOffset),
		bat: append([]uint32(nil), bat...), batmap: bm, footer: footer,
		eod: (eod + vhd.SectorSize - 1) &^ (vhd.SectorSize - 1), unalignedBA: vf.Header.TableOffset%vhd.SectorSize != 0}
	return t, nil
}

// place returns where a new block goes when the data ends at end: its
// bitmap offset, with the data 4 KiB-aligned behind it as blktap places it,
// and the new end of data.
func (d *dynTarget) place(end int64) (bitmapOff, next int64) {
	bitmapOff = (end+d.bmBytes+4095)&^4095 - d.bmBytes
	return bitmapOff, bitmapOff + d.bmBytes + d.bs
}

// batSector returns the index of the BAT write that holds block blk's
// entry: a 512-byte sector of the table, or the entry itself when the table
// is not sector-aligned.
func (d *dynTarget) batSector(blk int64) int64 {
	if d.unalignedBA {
		return blk
	}
	return blk / (vhd.SectorSize / 4)
}

// batBytes encodes BAT write k (see batSector) and returns it with its offset.
func (d *dynTarget) batBytes(k int64) ([]byte, int64) {
	first, n := k, int64(1)
	if !d.unalignedBA {
		first, n = k*(vhd.SectorSize/4), vhd.SectorSize/4
	}
	n = min(n, int64(len(d.bat))-first)
	b := make([]byte, 4*n)
	for i := range n {
		binary.BigEndian.PutUint32(b[4*i:], d.bat[first+i])
	}
	return b, d.tableOff + 4*first
}

// copier runs one coalesce: plan, prepare, copy.
type copier struct {
	src      *source
	t        *target
	parallel int
	batch    int64 // bytes between syncs
	progress func(done int64)
	syncDir  func() error // syncs the target's directory; nil when there is none

	chunks  []int64 // chunks holding sectors to copy, in order
	sectors int64   // sectors to copy in all
	place   map[int64]newBlock
	final   int64 // end of data when done (dynamic targets)
	resized bool
}

// plan finds the chunks that hold sectors to copy, counts the sectors, and
// places the blocks the target must allocate.
func (c *copier) plan(ctx context.Context) error {
	var bm []byte
	for _, idx := range c.src.chunkList() {
		if err := ctx.Err(); err != nil {
			return err
		}
		ch := c.src.newChunk(idx, nil, true)
		var err error
		if bm, err = c.src.resolve(ch, false, bm); err != nil {
			return err
		}
		if ch.sectors > 0 {
			c.chunks = append(c.chunks, idx)
			c.sectors += ch.sectors
		}
	}
	d := c.t.dyn
	if d == nil {
		return nil
	}
	c.place = make(map[int64]newBlock)
	end := d.eod
	for _, idx := range c.chunks {
		if idx >= int64(len(d.bat)) {
			return fmt.Errorf("chain: coalesce: %s: block %d is past its %d BAT entries: %w", c.t.path, idx, len(d.bat), vhd.ErrTooLarge)
		}
		if d.bat[idx] != vhd.Unallocated {
			continue
		}
		nb := newBlock{from: end}
		nb.off, end = d.place(end)
		if nb.off/vhd.SectorSize >= vhd.Unallocated {
			return fmt.Errorf("chain: coalesce: %s: block %d would lie past 2 TiB: %w", c.t.path, idx, vhd.ErrTooLarge)
		}
		c.place[idx] = nb
	}
	c.final = end
	return nil
}

// prepare puts the primary footer where it belongs once the copy is done
// and makes the file end there, before any block is written: until a BAT
// entry points at it, the space for a new block is unused space in front of
// a valid footer.
func (c *copier) prepare() error {
	d := c.t.dyn
	if d == nil {
		return nil
	}
	want := c.final + vhd.FooterSize
	if c.t.device {
		// A block device keeps its footer at its end, where it is: the
		// new blocks must fit in front of it.
		if want > c.t.size {
			return fmt.Errorf("chain: coalesce: %s: the coalesced data would end at %d, past the footer of the %d-byte device: %w",
				c.t.path, c.final, c.t.size, vhd.ErrTooLarge)
		}
		return nil
	}
	have := make([]byte, vhd.FooterSize)
	n, _ := c.t.f.ReadAt(have, c.final)
	if c.t.size == want && n == len(have) && bytes.Equal(have, d.footer) {
		// In place already (a rerun after a crash, say); sync it anyway,
		// since a killed run may have left it in the page cache only.
		return c.t.f.Sync()
	}
	if _, err := c.t.f.WriteAt(d.footer, c.final); err != nil {
		return err
	}
	if c.t.size > want {
		// The new footer must be durable before the old one is cut off.
		if err := c.t.f.Sync(); err != nil {
			return err
		}
		if err := c.t.f.Truncate(want); err != nil {
			return err
		}
	}
	if err := c.t.f.Sync(); err != nil {
		return err
	}
	c.resized = c.t.size != want
	return nil
}

// newBlock is where a block the target allocates goes: its bitmap at off,
// the zeros of its gap from from, the end of the data before it.
type newBlock struct{ off, from int64 }

// metaWrite is a metadata write that may only reach the file once the data
// it describes is durable.
type metaWrite struct {
	b   []byte
	off int64
}

// copy writes every chunk, batch by batch: the data (and the bitmaps of new
// blocks, which nothing points to yet) of a batch, a sync, then its
// metadata (the bitmaps of blocks the target already had, the BAT sector
// pointing at its new blocks) together with the next batch's data, and so
// on; a last sync makes the last metadata durable.
func (c *copier) copy(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	chunks := c.produce(ctx)
	defer func() {
		for range chunks {
		}
	}()
	defer cancel()
	var (
		pending  []metaWrite // metadata of the batch being written
		inBatch  int64
		batSec   = int64(-1) // the BAT write of the batch's new blocks
		done     int64
		bm       []byte
		newInBat bool
	)
	endBatch := func() error {
		if err := c.t.f.Sync(); err != nil {
			return err
		}
		if newInBat {
			b, off := c.t.dyn.batBytes(batSec)
			pending = append(pending, metaWrite{b, off})
		}
		for _, m := range pending {
			if _, err := c.t.f.WriteAt(m.b, m.off); err != nil {
				return err
			}
		}
		pending, inBatch, batSec, newInBat = pending[:0], 0, -1, false
		return nil
	}
	for ch := range chunks {
		if ch.err != nil {
			return ch.err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		d := c.t.dyn
		if d != nil {
			if nb, isNew := c.place[ch.idx]; isNew {
				// A batch's new blocks share one BAT write, so that the
				// BAT entries reach the disk in block order.
				if k := d.batSector(ch.idx); newInBat && k != batSec {
					if err := endBatch(); err != nil {
						return err
					}
				}
				if err := c.writeNew(ch, nb); err != nil {
					return err
				}
				d.bat[ch.idx] = uint32(nb.off / vhd.SectorSize)
				batSec, newInBat = d.batSector(ch.idx), true
			} else {
				var m *metaWrite
				var err error
				if m, bm, err = c.writeExisting(ch, bm); err != nil {
					return err
				}
				if m != nil {
					pending = append(pending, *m)
				}
			}
		} else if err := c.writeRuns(ch, ch.off); err != nil {
			return err
		}
		inBatch += ch.n
		done += ch.sectors * vhd.SectorSize
		c.src.put(ch)
		if c.progress != nil {
			c.progress(done)
		}
		if inBatch >= c.batch {
			if err := endBatch(); err != nil {
				return err
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := endBatch(); err != nil {
		return err
	}
	if err := c.t.f.Sync(); err != nil {
		return err
	}
	if c.resized && c.syncDir != nil {
		return c.syncDir()
	}
	return nil
}

// write writes b at off and starts its writeback.
func (c *copier) write(b []byte, off int64) error {
	if _, err := c.t.f.WriteAt(b, off); err != nil {
		return err
	}
	if w, ok := c.t.f.(writebacker); ok {
		w.StartWriteback(off, int64(len(b)))
	}
	return nil
}

// writeRuns writes the held sectors of ch whose data lies at file offset
// base: the whole chunk in one write when every sector is held.
func (c *copier) writeRuns(ch *chunk, base int64) error {
	data := ch.data()
	if ch.full() {
		return c.write(data, base)
	}
	return ch.runs(func(a, b int64) error {
		return c.write(data[a*vhd.SectorSize:b*vhd.SectorSize], base+a*vhd.SectorSize)
	})
}

// writeNew writes a block the target did not have at bitmap offset nb.off:
// the zeros of the gap since the data before it, its bitmap and its data,
// as one write (the sectors not held are zeros), or, sparse, the data runs
// alone so that the rest of the block stays a hole.
func (c *copier) writeNew(ch *chunk, nb newBlock) error {
	d := c.t.dyn
	gap := nb.off - nb.from
	start := dataHeadroom - d.bmBytes - gap
	head := ch.buf[start:dataHeadroom]
	clear(head)
	copy(head[gap:], ch.held)
	if !c.t.sparse || ch.full() {
		return c.write(ch.buf[start:dataHeadroom+d.bs], nb.from)
	}
	if err := c.write(head, nb.from); err != nil {
		return err
	}
	return c.writeRuns(ch, nb.off+d.bmBytes)
}

// writeExisting writes ch into a block the target already has and returns
// the bitmap write that must follow once the data is durable, if any.
func (c *copier) writeExisting(ch *chunk, bm []byte) (*metaWrite, []byte, error) {
	d := c.t.dyn
	entry := int64(d.bat[ch.idx]) * vhd.SectorSize
	if err := c.writeRuns(ch, entry+d.bmBytes); err != nil {
		return nil, bm, err
	}
	if d.batmap != nil && d.batmap.Full(ch.idx) {
		return nil, bm, nil
	}
	if int64(cap(bm)) < d.bmBytes {
		bm = make([]byte, d.bmBytes)
	}
	bm = bm[:d.bmBytes]
	if err := readFull(c.t.f, bm, entry, c.t.path); err != nil {
		return nil, bm, fmt.Errorf("chain: coalesce: bitmap of block %d: %w", ch.idx, err)
	}
	changed := false
	for i, b := range ch.held {
		if bm[i]|b != bm[i] {
			changed = true
			break
		}
	}
	if !changed {
		return nil, bm, nil
	}
	nb := make([]byte, d.bmBytes)
	copy(nb, bm)
	for i, b := range ch.held {
		nb[i] |= b
	}
	return &metaWrite{nb, entry}, bm, nil
}

// produce resolves the planned chunks, c.parallel at a time, and delivers
// them in order. It stops early when ctx is done or a chunk fails.
func (c *copier) produce(ctx context.Context) <-chan *chunk {
	out := make(chan *chunk)
	order := make(chan chan *chunk, c.parallel)
	go func() {
		defer close(order)
		for _, idx := range c.chunks {
			if ctx.Err() != nil {
				return
			}
			res := make(chan *chunk, 1)
			order <- res
			go func() {
				ch := c.src.newChunk(idx, c.src.get(), false)
				_, ch.err = c.src.resolve(ch, true, nil)
				res <- ch
			}()
		}
	}()
	go func() {
		defer close(out)
		failed := false
		for res := range order {
			ch := <-res
			if failed {
				c.src.put(ch)
				continue
			}
			select {
			case out <- ch:
				failed = ch.err != nil
			case <-ctx.Done():
				failed = true
				c.src.put(ch)
			}
		}
	}()
	return out
}
