package vhd

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// Phase names what a Progress report is about.
type Phase string

// The phases of a raw stream.
const (
	// PhasePlan is PlanRawStream reading the source once; Done and Total
	// count its bytes.
	PhasePlan Phase = "plan"
	// PhaseStream is writing a stream; Done and Total count the stream's bytes.
	PhaseStream Phase = "stream"
	// PhaseRead is ReadStream reading a stream; Done counts its bytes, and
	// Total is its size once the metadata says it.
	PhaseRead Phase = "read"
)

// Progress reports how far a long call has got. Done never decreases
// during one call and Total never changes once set.
type Progress struct {
	// Phase is the step being reported.
	Phase Phase
	// Name is the file being worked on, "" when there is none.
	Name string
	// Done and Total count the phase's bytes; Total is 0 when unknown.
	Done, Total int64
}

// ErrChanged reports a source whose size or modification time (or, for a
// chain, the blocks its metadata allocates) changed between planning a
// stream and writing its end.
var ErrChanged = errors.New("vhd: source changed while being read")

// RawStreamOptions configure [PlanRawStream].
type RawStreamOptions struct {
	// Type is DiskDynamic (DiskNone means it) or DiskFixed.
	Type DiskType
	// Name names the source in progress reports and errors.
	Name string
	// UUID is the disk's identity; zero means one derived from the
	// source's size and data, so the same source gives the same bytes.
	UUID UUID
	// Time is the creation time; zero means the source's modification
	// time when it is an *os.File, else 2000-01-01 UTC (VHD time 0).
	Time time.Time
	// Progress, when set, is called as the plan and the write advance.
	Progress func(Progress)
}

// A RawStream is a raw disk image planned as a VHD stream: dynamic (blktap
// layout, blocks of zeros left out) or fixed, of exactly the source's size.
type RawStream struct {
	r        io.ReaderAt
	file     *os.File // r, when it is a file whose holes can be found
	st       os.FileInfo
	size     int64
	name     string
	stream   *Stream
	holes    []bool // per block: the source holds only a hole there
	holeEnd  int64  // the source is a hole from the last block looked at to here
	noHoles  bool   // the file system cannot find holes
	progress func(Progress)
}

// PlanRawStream plans a VHD stream of the size bytes of r, a raw image
// whose size must be a multiple of 512 (at most MaxSize). It skips holes
// (SEEK_DATA on Linux, when r is an *os.File) and reads each other block up
// to its first non-zero byte, to leave out blocks of zeros, so that its
// work follows the data, not the size.
func PlanRawStream(ctx context.Context, r io.ReaderAt, size int64, opts *RawStreamOptions) (*RawStream, error) {
	if opts == nil {
		opts = &RawStreamOptions{}
	}
	if size < 0 || size%SectorSize != 0 || size > MaxSize {
		return nil, fmt.Errorf("vhd: raw image %s of %d bytes: size must be a multiple of 512 from 0 to %d: %w", opts.Name, size, int64(MaxSize), ErrTooLarge)
	}
	typ := opts.Type
	if typ == DiskNone {
		typ = DiskDynamic
	}
	if typ != DiskDynamic && typ != DiskFixed {
		return nil, fmt.Errorf("vhd: a raw image streams as a dynamic or fixed disk, not %v", typ)
	}
	p := &RawStream{r: r, size: size, name: opts.Name, progress: opts.Progress}
	spec := StreamSpec{Type: typ, Size: size, UUID: opts.UUID, Time: opts.Time}
	if f, ok := r.(*os.File); ok {
		st, err := f.Stat()
		if err != nil {
			return nil, err
		}
		if st.Mode().IsRegular() {
			p.file, p.st = f, st
			if spec.Time.IsZero() {
				spec.Time = st.ModTime()
			}
		}
	}
	if spec.Time.IsZero() {
		spec.Time = TimeFromVHD(0)
	}
	blocks := (size + DefaultBlockSize - 1) / DefaultBlockSize
	spec.Blocks = make([]StreamBlock, blocks)
	p.holes = make([]bool, blocks)
	id := newSHA1()
	var word [8]byte
	binary.BigEndian.PutUint64(word[:], uint64(size))
	id.Write(word[:])
	chunk := make([]byte, zeroChunk)
	for blk := int64(0); blk < blocks; blk++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		off := blk * DefaultBlockSize
		n := min(DefaultBlockSize, size-off)
		if p.hole(off, n) {
			p.holes[blk] = true
		} else {
			first, err := p.firstData(off, n, chunk)
			if err != nil {
				return nil, err
			}
			if first != nil {
				spec.Blocks[blk] = BlockFull
				if n < DefaultBlockSize {
					spec.Blocks[blk] = BlockPartial
				}
				binary.BigEndian.PutUint64(word[:], uint64(blk))
				id.Write(word[:])
				id.Write(first)
			}
		}
		if p.progress != nil {
			p.progress(Progress{Phase: PhasePlan, Name: p.name, Done: off + n, Total: size})
		}
	}
	if spec.UUID.IsZero() {
		sum := id.Sum()
		copy(spec.UUID[:], sum[:])
		spec.UUID[6] = spec.UUID[6]&0x0f | 0x50
		spec.UUID[8] = spec.UUID[8]&0x3f | 0x80
	}
	var err error
	if p.stream, err = NewStream(&spec); err != nil {
		return nil, err
	}
	return p, nil
}

// zeroChunk is how much the plan reads at a time to find out whether a
// block holds only zeros; the first read is smaller still, since most
// blocks that hold data show it at once.
const zeroChunk = 64 << 10

// firstData reads [off, off+n) of the source a chunk at a time up to the
// first non-zero byte and returns the chunk holding it (a slice of chunk),
// or nil when the range holds only zeros.
func (p *RawStream) firstData(off, n int64, chunk []byte) ([]byte, error) {
	step := int64(4096)
	for done := int64(0); done < n; {
		k := min(n-done, step)
		if err := readFullAt(p.r, chunk[:k], off+done, p.name); err != nil {
			return nil, err
		}
		if !isZero(chunk[:k]) {
			return chunk[:k], nil
		}
		done += k
		step = int64(len(chunk))
	}
	return nil, nil
}

// hole reports whether [off, off+n) of the source is a hole.
func (p *RawStream) hole(off, n int64) bool {
	if p.file == nil || p.noHoles {
		return false
	}
	if off+n <= p.holeEnd {
		return true
	}
	d, ok := nextData(p.file, off, p.size)
	if !ok {
		p.noHoles = true // the file system cannot tell: read everything
		return false
	}
	p.holeEnd = d
	return d >= off+n
}

// Size returns the exact number of bytes WriteStream writes.
func (p *RawStream) Size() int64 { return p.stream.Size() }

// Footer returns the footer the stream ends with.
func (p *RawStream) Footer() Footer { return p.stream.Footer }

// WriteStream writes the planned stream to w in one sequential pass,
// reading the source again (in the kernel, with sendfile, when both are
// files on Linux), and returns the bytes written. A source whose size or
// modification time changed since the plan fails with ErrChanged. On any
// error (ctx done included) it stops without writing the footer.
func (p *RawStream) WriteStream(ctx context.Context, w io.Writer) (int64, error) {
	sw := p.stream.NewWriter(w)
	err := p.writeBlocks(ctx, sw)
	if err == nil && p.file != nil {
		st, serr := p.file.Stat()
		switch {
		case serr != nil:
			err = serr
		case st.Size() != p.st.Size() || !st.ModTime().Equal(p.st.ModTime()):
			err = fmt.Errorf("vhd: %s: size %d, modified %v; planned with %d, %v: %w", p.name, st.Size(), st.ModTime(), p.st.Size(), p.st.ModTime(), ErrChanged)
		}
	}
	if err == nil {
		err = sw.Close()
	}
	if err == nil && p.progress != nil {
		p.progress(Progress{Phase: PhaseStream, Name: p.name, Done: sw.Written(), Total: p.Size()})
	}
	return sw.Written(), err
}

func (p *RawStream) writeBlocks(ctx context.Context, sw *StreamWriter) error {
	var bitmap []byte
	for blk := int64(0); blk < p.stream.Blocks(); blk++ {
		if !p.stream.Allocated(blk) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		off := blk * DefaultBlockSize
		n := min(DefaultBlockSize, p.size-off)
		if n < DefaultBlockSize && bitmap == nil {
			bitmap = make([]byte, SectorSize)
			for s := int64(0); s < n/SectorSize; s++ {
				setBit(bitmap, s)
			}
		}
		var err error
		if p.holes[blk] { // a fixed stream's hole: zeros, not read
			err = sw.WriteBlock(blk, bitmap, nil)
		} else {
			err = sw.WriteBlockFrom(blk, bitmap, p.r, off, n)
		}
		if err != nil {
			return err
		}
		if p.progress != nil {
			p.progress(Progress{Phase: PhaseStream, Name: p.name, Done: sw.Written(), Total: p.Size()})
		}
	}
	return nil
}

// readFullAt reads len(b) bytes at off of r, the source named name.
func readFullAt(r io.ReaderAt, b []byte, off int64, name string) error {
	n, err := r.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = ErrTruncated
	}
	return fmt.Errorf("vhd: %s: reading %d bytes at %d: %w", name, len(b), off, err)
}

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
