package chain

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
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
	ids      []os.FileInfo
	progress func(Progress)
}

// zeroChunk is how much of a block's data the plan reads at a time to
// find out whether it holds only zeros: most blocks that hold data show a
// non-zero byte in the first chunk, so the plan reads little of them.
const zeroChunk = 64 << 10

// PlanStream plans a VHD stream of the leaf's disk in the given format. It
// reads every link's metadata; a consolidated stream also reads each
// block some link holds data in, until its first non-zero byte, to leave
// out blocks of zeros. Its work and memory grow with the allocated blocks
// and the BAT, not with the virtual size.
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

	var ms mapScratch
	var chunk []byte
	for blk := int64(0); blk*window < e.size; blk++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		off := blk * window
		n := min(window, e.size-off)
		b, err := p.resolve(blk, &ms)
		if err != nil {
			return nil, err
		}
		if b.state != vhd.BlockAbsent && opts.Format == StreamConsolidated {
			if chunk == nil {
				chunk = make([]byte, zeroChunk)
			}
			zero, err := p.zeros(b.runs, chunk)
			if err != nil {
				return nil, err
			}
			if zero {
				b.state = vhd.BlockAbsent
			}
		}
		spec.Blocks[blk] = b.state
		if p.progress != nil {
			p.progress(Progress{Phase: PhasePlan, Name: c.Links[0].Path, Done: off + n, Total: e.size})
		}
	}
	if p.stream, err = vhd.NewStream(&spec); err != nil {
		return nil, err
	}
	return p, nil
}

// resolved is one block of the stream as the chain's metadata gives it.
type resolved struct {
	state  vhd.StreamBlock
	runs   []Extent // the window's runs (valid until the next resolve)
	bitmap [vhd.SectorSize]byte
	held   int64 // bytes the stream holds (delta: above the ancestor)
}

// resolve resolves block blk from the metadata alone: its state before
// zero detection and, for a delta or a partial last block, its bitmap.
func (p *StreamPlan) resolve(blk int64, ms *mapScratch) (resolved, error) {
	var b resolved
	e := p.e
	off := blk * window
	if off >= e.size { // a fixed stream's rounded-up tail
		return b, nil
	}
	n := min(window, e.size-off)
	runs, err := e.mapWindow(off, n, ms)
	if err != nil {
		return b, err
	}
	b.runs = runs
	for _, r := range runs {
		if p.format == StreamDelta && r.Link < p.ancestor || p.format != StreamDelta && r.Data {
			b.held += r.Length
		}
	}
	if b.held == 0 {
		return b, nil
	}
	if p.format != StreamDelta {
		if n == window {
			b.state = vhd.BlockFull
			return b, nil
		}
		// The last block: bits for the sectors inside the disk.
		for s := int64(0); s < n/vhd.SectorSize; s++ {
			b.bitmap[s/8] |= 0x80 >> (s % 8)
		}
		b.state = vhd.BlockPartial
		return b, nil
	}
	for _, r := range runs {
		if r.Link >= p.ancestor {
			continue
		}
		for s := (r.Offset - off) / vhd.SectorSize; s*vhd.SectorSize < r.End()-off; s++ {
			b.bitmap[s/8] |= 0x80 >> (s % 8)
		}
	}
	b.state = vhd.BlockPartial
	if b.held == window {
		b.state = vhd.BlockFull
	}
	return b, nil
}

// source returns the reader of the file that holds a run.
func (p *StreamPlan) source(r Extent) io.ReaderAt {
	if r.Link < len(p.e.layers) {
		return p.e.layers[r.Link].r
	}
	return p.e.raw
}

// zeros reports whether every run holding data reads as zeros, reading a
// chunk at a time up to the first non-zero byte.
func (p *StreamPlan) zeros(runs []Extent, chunk []byte) (bool, error) {
	for _, r := range runs {
		if !r.Data {
			continue
		}
		src := p.source(r)
		for done := int64(0); done < r.Length; {
			k := min(r.Length-done, int64(len(chunk)))
			if err := readFull(src, chunk[:k], r.FileOffset+done, p.c.Links[min(r.Link, len(p.c.Links)-1)].Path); err != nil {
				return false, err
			}
			if !isZero(chunk[:k]) {
				return false, nil
			}
			done += k
		}
	}
	return true, nil
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
var ErrNotAncestor = errors.New("not an ancestor in the chain")

func isZero(b []byte) bool {
	for len(b) >= 8 {
		if binary.LittleEndian.Uint64(b) != 0 {
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
// returns the bytes written. It reads the chain again: a block that the
// metadata now allocates or releases otherwise than planned, or a link
// whose size or modification time changed since the plan, fails with
// vhd.ErrChanged. Blocks held whole by one link go from the file to w in
// the kernel when w is an *os.File (Linux). It checks ctx before each
// block. On any error (ctx done included) it stops at once without writing
// the footer, so a receiver never takes a short stream for a whole one.
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

// streamBlock is one block on its way to the writer: either its bytes in
// buf, or, when one file holds all of them, where (src at off, n bytes).
type streamBlock struct {
	blk    int64
	buf    []byte
	bitmap [vhd.SectorSize]byte
	src    io.ReaderAt
	off, n int64
	err    error
}

// writeBlocks resolves and writes each allocated block; a block that must
// be assembled is read while the one before is written.
func (p *StreamPlan) writeBlocks(ctx context.Context, sw *vhd.StreamWriter) error {
	free := make(chan *streamBlock, 2)
	for range 2 {
		free <- &streamBlock{buf: make([]byte, window)}
	}
	ready := make(chan *streamBlock, 1)
	stop := make(chan struct{})
	go func() {
		defer close(ready)
		var ms mapScratch
		var rs scratch
		for blk := int64(0); blk < p.stream.Blocks(); blk++ {
			if !p.stream.Allocated(blk) {
				continue
			}
			var b *streamBlock
			select {
			case b = <-free:
			case <-stop:
				return
			}
			b.blk, b.err = blk, ctx.Err()
			if b.err == nil {
				b.err = p.prepare(b, &ms, &rs)
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
		var err error
		if b.src != nil {
			err = sw.WriteBlockFrom(b.blk, b.bitmap[:], b.src, b.off, b.n)
		} else {
			data := b.buf
			if p.format == StreamFixed {
				data = data[:min(int64(window), int64(p.stream.Footer.CurrentSize)-b.blk*window)]
			}
			err = sw.WriteBlock(b.blk, b.bitmap[:], data)
		}
		if err != nil {
			return err
		}
		free <- b
		if p.progress != nil {
			p.progress(Progress{Phase: PhaseStream, Name: p.c.Links[0].Path, Done: sw.Written(), Total: p.Size()})
		}
	}
	return ctx.Err()
}

// prepare resolves block blk again for writing, checks it against the
// plan, and says where its bytes come from.
func (p *StreamPlan) prepare(b *streamBlock, ms *mapScratch, rs *scratch) error {
	e := p.e
	r, err := p.resolve(b.blk, ms)
	if err != nil {
		return err
	}
	planned := p.states[b.blk]
	if p.format == StreamFixed {
		if (r.state == vhd.BlockAbsent) != (planned == vhd.BlockAbsent) {
			return fmt.Errorf("chain: %s: block %d was allocated or released: %w", p.c.Links[0].Path, b.blk, vhd.ErrChanged)
		}
	} else if r.state != planned {
		return fmt.Errorf("chain: %s: block %d was allocated, released or rewritten: %w", p.c.Links[0].Path, b.blk, vhd.ErrChanged)
	}
	b.bitmap, b.src = r.bitmap, nil
	off := b.blk * window
	if r.state == vhd.BlockAbsent { // a block of zeros in a fixed stream
		clear(b.buf)
		return nil
	}
	n := min(window, e.size-off)
	// One run held by one file: straight from it.
	if len(r.runs) == 1 && r.runs[0].Data && r.held == n && (p.format != StreamDelta || r.runs[0].Link < p.ancestor) {
		if p.format != StreamFixed || n == window {
			b.src, b.off, b.n = p.source(r.runs[0]), r.runs[0].FileOffset, n
			return nil
		}
	}
	clear(b.buf)
	if p.format != StreamDelta {
		return e.read(b.buf[:n], off, rs, nil)
	}
	for _, run := range r.runs {
		if run.Link < p.ancestor {
			if err := e.read(b.buf[run.Offset-off:run.End()-off], run.Offset, rs, nil); err != nil {
				return err
			}
		}
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
