package chain

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/vhdkit/vhdkit/vhd"
)

// StreamFormat is the kind of VHD a stream of a chain is.
type StreamFormat int

// The formats of [Chain.PlanStream].
const (
	// StreamConsolidated is one dynamic VHD that reads as the leaf's whole
	// disk; blocks that read entirely as zeros are not allocated.
	StreamConsolidated StreamFormat = iota
	// StreamDelta is a differencing VHD holding the sectors the links
	// above an ancestor hold (zeros they wrote included), whose parent is
	// that ancestor: placed beside it, it reads as the leaf.
	StreamDelta
	// StreamFixed is a fixed VHD of the leaf's whole disk, its virtual
	// size rounded up to a whole MiB (Azure's rule).
	StreamFixed
)

// String returns "consolidated", "delta" or "fixed".
func (f StreamFormat) String() string {
	switch f {
	case StreamConsolidated:
		return "consolidated"
	case StreamDelta:
		return "delta"
	case StreamFixed:
		return "fixed"
	}
	return fmt.Sprintf("StreamFormat(%d)", int(f))
}

// The phases of stream progress.
const (
	// PhasePlan is Chain.PlanStream reading metadata and each block that
	// holds data; Done and Total count virtual bytes.
	PhasePlan Phase = "plan"
	// PhaseStream is StreamPlan.WriteStream writing; Done and Total count
	// the stream's bytes.
	PhaseStream Phase = "stream"
)

// StreamOptions configure [Chain.PlanStream].
type StreamOptions struct {
	// Format is the kind of VHD to write.
	Format StreamFormat
	// RelativeTo is, for StreamDelta, the path of the ancestor the delta
	// is relative to: a link other than the leaf, matched by device and
	// inode.
	RelativeTo string
	// ParentName and ParentUUID, when set, replace the ancestor's base
	// name (in the header and the "./NAME" locators) and footer UUID in
	// a delta, for a receiver that will place it beside a copy of the
	// ancestor with another name or identity.
	ParentName string
	ParentUUID vhd.UUID
	// UUID and Time are the stream's footer UUID and creation time; zero
	// means the leaf's, so that the same chain gives the same bytes.
	UUID vhd.UUID
	Time time.Time
	// Progress, when set, is called as the plan and the write advance.
	Progress func(Progress)
}

// A StreamPlan is a VHD stream of a chain, planned: its exact length is
// known before the first byte is written. It reads the chain again when
// written, and is valid until the chain is closed.
type StreamPlan struct {
	c        *Chain
	e        *engine
	format   StreamFormat
	ancestor int // links above it are streamed (delta); len(Links) otherwise
	stream   *vhd.Stream
	states   []vhd.StreamBlock // each block as planned (fixed: whether it holds data)
	sums     []uint32          // CRC-32C of each block's bytes, as planned
	ids      []os.FileInfo
	progress func(Progress)
}

// castagnoli is the CRC-32C table, built on first use: building it costs
// about 0.2 ms, which every program importing this package would otherwise
// pay at start-up.
var castagnoli = sync.OnceValue(func() *crc32.Table { return crc32.MakeTable(crc32.Castagnoli) })

// PlanStream plans a VHD stream of the leaf's disk in the given format. It
// reads every link's metadata and, once, each block some link holds data
// in (to leave out blocks of zeros and to notice later changes); its work
// and memory grow with the allocated blocks and the BAT, not with the data.
func (c *Chain) PlanStream(ctx context.Context, opts *StreamOptions) (*StreamPlan, error) {
	if opts == nil {
		opts = &StreamOptions{}
	}
	e, err := c.loadEngine()
	if err != nil {
		return nil, err
	}
	leaf := c.Leaf()
	p := &StreamPlan{c: c, e: e, format: opts.Format, ancestor: len(c.Links), progress: opts.Progress}
	for i := range c.Links {
		st, err := c.rawFDs[i].Stat()
		if err != nil {
			return nil, err
		}
		p.ids = append(p.ids, st)
	}
	spec := vhd.StreamSpec{Type: vhd.DiskDynamic, Size: e.size, UUID: opts.UUID, Time: opts.Time}
	if spec.UUID.IsZero() {
		spec.UUID = leaf.Footer.UUID
	}
	if spec.Time.IsZero() {
		spec.Time = vhd.TimeFromVHD(leaf.Footer.Timestamp)
	}
	switch opts.Format {
	case StreamConsolidated:
	case StreamFixed:
		spec.Type = vhd.DiskFixed
		spec.Size = (e.size + 1<<20 - 1) &^ (1<<20 - 1)
	case StreamDelta:
		k, err := c.ancestorIndex(opts.RelativeTo)
		if err != nil {
			return nil, err
		}
		p.ancestor = k
		anc := c.Links[k].File
		name := opts.ParentName
		if name == "" {
			name = filepath.Base(c.opened[k])
		}
		info := &vhd.ParentInfo{UUID: opts.ParentUUID, ModTime: p.ids[k].ModTime(), Name: name, Path: "./" + name}
		if info.UUID.IsZero() {
			info.UUID = anc.Footer.UUID
		}
		spec.Type, spec.Parent = vhd.DiskDifferencing, info
	default:
		return nil, fmt.Errorf("chain: unknown stream format %v", opts.Format)
	}
	spec.Blocks = make([]vhd.StreamBlock, (spec.Size+window-1)/window)
	p.states = spec.Blocks
	p.sums = make([]uint32, (spec.Size+window-1)/window)

	var ms mapScratch
	var rs scratch
	buf := make([]byte, window)
	bitmap := make([]byte, vhd.SectorSize)
	for blk := int64(0); blk*window < e.size; blk++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		off := blk * window
		n := min(window, e.size-off)
		st, err := p.block(blk, &ms, &rs, buf, bitmap)
		if err != nil {
			return nil, err
		}
		if st != vhd.BlockAbsent {
			p.sums[blk] = crc32.Checksum(buf, castagnoli())
			if opts.Format == StreamConsolidated && isZero(buf[:n]) {
				st = vhd.BlockAbsent
			}
		}
		spec.Blocks[blk] = st
		if p.progress != nil {
			p.progress(Progress{Phase: PhasePlan, Name: c.Links[0].Path, Done: off + n, Total: e.size})
		}
	}
	if p.stream, err = vhd.NewStream(&spec); err != nil {
		return nil, err
	}
	return p, nil
}

// ancestorIndex returns the index of the link at path, matched by device
// and inode; the leaf is refused.
func (c *Chain) ancestorIndex(path string) (int, error) {
	if path == "" {
		return 0, errors.New("chain: a delta stream needs StreamOptions.RelativeTo")
	}
	st, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	for i := 1; i < len(c.Links); i++ {
		if os.SameFile(st, c.ids[i]) {
			return i, nil
		}
	}
	if os.SameFile(st, c.ids[0]) {
		return 0, fmt.Errorf("chain: %s is the leaf, not an ancestor: %w", path, ErrNotAncestor)
	}
	return 0, fmt.Errorf("chain: %s is not a link of the chain of %s: %w", path, c.Links[0].Path, ErrNotAncestor)
}

// ErrNotAncestor reports a delta's RelativeTo that is not a link below the
// leaf.
var ErrNotAncestor = errors.New("chain: not an ancestor in the chain")

// block resolves block blk of the stream: its state and, unless absent,
// its bytes in buf (2 MiB, zero past the leaf's end and, for a delta, in
// the sectors it does not hold) and, for a delta, its bitmap.
func (p *StreamPlan) block(blk int64, ms *mapScratch, rs *scratch, buf, bitmap []byte) (vhd.StreamBlock, error) {
	e := p.e
	off := blk * window
	if off >= e.size { // a fixed stream's rounded-up tail
		return vhd.BlockAbsent, nil
	}
	n := min(window, e.size-off)
	runs, err := e.mapWindow(off, n, ms)
	if err != nil {
		return 0, err
	}
	if p.format != StreamDelta {
		held := false
		for _, r := range runs {
			if r.Data {
				held = true
				break
			}
		}
		if !held {
			return vhd.BlockAbsent, nil
		}
		clear(buf[n:])
		if err := e.read(buf[:n], off, rs, nil); err != nil {
			return 0, err
		}
		if n < window { // the last block: bits for the sectors inside the disk
			clear(bitmap)
			for s := int64(0); s < n/vhd.SectorSize; s++ {
				bitmap[s/8] |= 0x80 >> (s % 8)
			}
			return vhd.BlockPartial, nil
		}
		return vhd.BlockFull, nil
	}
	clear(bitmap)
	held := int64(0)
	for _, r := range runs {
		if r.Link >= p.ancestor {
			continue
		}
		for s := (r.Offset - off) / vhd.SectorSize; s*vhd.SectorSize < r.End()-off; s++ {
			bitmap[s/8] |= 0x80 >> (s % 8)
		}
		held += r.Length
	}
	if held == 0 {
		return vhd.BlockAbsent, nil
	}
	clear(buf)
	for _, r := range runs {
		if r.Link < p.ancestor {
			if err := e.read(buf[r.Offset-off:r.End()-off], r.Offset, rs, nil); err != nil {
				return 0, err
			}
		}
	}
	if held == window {
		return vhd.BlockFull, nil
	}
	return vhd.BlockPartial, nil
}

func isZero(b []byte) bool {
	for len(b) >= 8 {
		if b[0]|b[1]|b[2]|b[3]|b[4]|b[5]|b[6]|b[7] != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// Size returns the exact number of bytes WriteStream writes.
func (p *StreamPlan) Size() int64 { return p.stream.Size() }

// Format returns the plan's format.
func (p *StreamPlan) Format() StreamFormat { return p.format }

// Footer returns the footer the stream ends with.
func (p *StreamPlan) Footer() vhd.Footer { return p.stream.Footer }

// WriteStream writes the planned stream to w in one sequential pass and
// returns the bytes written. It reads the chain again; a link whose
// metadata, data, size or modification time changed since the plan fails
// with vhd.ErrChanged. It checks ctx before each block. On any error (ctx done
// included) it stops at once without writing the footer, so a receiver
// never takes a short stream for a whole one.
func (p *StreamPlan) WriteStream(ctx context.Context, w io.Writer) (int64, error) {
	sw := p.stream.NewWriter(w)
	err := p.writeBlocks(ctx, sw)
	if err == nil {
		err = p.unchanged()
	}
	if err == nil {
		err = sw.Close()
	}
	if err == nil && p.progress != nil {
		p.progress(Progress{Phase: PhaseStream, Name: p.c.Links[0].Path, Done: sw.Written(), Total: p.Size()})
	}
	return sw.Written(), err
}

// writeBlocks reads and writes each allocated block, the next one read
// while the last is written.
func (p *StreamPlan) writeBlocks(ctx context.Context, sw *vhd.StreamWriter) error {
	type block struct {
		blk    int64
		buf    []byte
		bitmap []byte
		err    error
	}
	free := make(chan *block, 2)
	for range 2 {
		free <- &block{buf: make([]byte, window), bitmap: make([]byte, vhd.SectorSize)}
	}
	ready := make(chan *block, 1)
	stop := make(chan struct{})
	go func() {
		defer close(ready)
		var ms mapScratch
		var rs scratch
		for blk := int64(0); blk < p.stream.Blocks(); blk++ {
			if !p.stream.Allocated(blk) {
				continue
			}
			var b *block
			select {
			case b = <-free:
			case <-stop:
				return
			}
			b.blk, b.err = blk, ctx.Err()
			if b.err == nil {
				b.err = p.rewrite(blk, &ms, &rs, b.buf, b.bitmap)
			}
			ready <- b
			if b.err != nil {
				return
			}
		}
	}()
	defer func() {
		close(stop)
		for range ready {
		}
	}()
	for b := range ready {
		if b.err != nil {
			return b.err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		data := b.buf
		if p.format == StreamFixed {
			data = data[:min(int64(window), int64(p.stream.Footer.CurrentSize)-b.blk*window)]
		}
		if err := sw.WriteBlock(b.blk, b.bitmap, data); err != nil {
			return err
		}
		free <- b
		if p.progress != nil {
			p.progress(Progress{Phase: PhaseStream, Name: p.c.Links[0].Path, Done: sw.Written(), Total: p.Size()})
		}
	}
	return ctx.Err()
}

// rewrite reads block blk again for writing and checks it against the plan.
func (p *StreamPlan) rewrite(blk int64, ms *mapScratch, rs *scratch, buf, bitmap []byte) error {
	st, err := p.block(blk, ms, rs, buf, bitmap)
	if err != nil {
		return err
	}
	if (st == vhd.BlockAbsent) != (p.states[blk] == vhd.BlockAbsent) {
		return fmt.Errorf("chain: %s: block %d was allocated or released: %w", p.c.Links[0].Path, blk, vhd.ErrChanged)
	}
	if st == vhd.BlockAbsent { // a block of zeros in a fixed stream
		clear(buf)
		return nil
	}
	if crc32.Checksum(buf, castagnoli()) != p.sums[blk] {
		return fmt.Errorf("chain: %s: block %d changed: %w", p.c.Links[0].Path, blk, vhd.ErrChanged)
	}
	return nil
}

// unchanged checks that no link's size or modification time changed since
// the plan.
func (p *StreamPlan) unchanged() error {
	for i, fd := range p.c.rawFDs {
		st, err := fd.Stat()
		if err != nil {
			return err
		}
		if was := p.ids[i]; st.Size() != was.Size() || !st.ModTime().Equal(was.ModTime()) {
			return fmt.Errorf("chain: %s: size %d, modified %v; planned with %d, %v: %w",
				p.c.Links[i].Path, st.Size(), st.ModTime(), was.Size(), was.ModTime(), vhd.ErrChanged)
		}
	}
	return nil
}
