package chain

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/vhdkit/vhdkit/vhd"
)

// ReaderAt returns a reader of the leaf's virtual disk through the whole
// chain: each sector comes from the nearest link whose sector bitmap (or
// batmap) holds it; sectors no link holds read as zeros, as do sectors past
// the end of a parent smaller than its child. Reads past the leaf's virtual
// size return io.EOF. The reader is safe for concurrent use and valid until
// the chain is closed. It gives the same bytes as the leaf's File.ReadAt,
// with fewer system calls.
// While a link is open for writing ([Options.Writable]), reads must not run
// concurrently with writes.
func (c *Chain) ReaderAt() io.ReaderAt { return &chainReader{c: c} }

// VirtualSize returns the leaf's virtual size, the size of the disk that
// ReaderAt and WriteRaw read.
func (c *Chain) VirtualSize() int64 { return c.Leaf().VirtualSize() }

// chainReader reads the virtual disk of link from (0 for the leaf) through
// the links below it.
type chainReader struct {
	c    *Chain
	from int
	pool sync.Pool // *scratch

	subOnce sync.Once
	sub     *engine
}

// engine returns the engine that reads link r.from.
func (r *chainReader) engine() (*engine, error) {
	e, err := r.c.loadEngine()
	if err != nil || r.from == 0 {
		return e, err
	}
	r.subOnce.Do(func() {
		s := *e
		s.layers = e.layers[r.from:]
		s.size = s.layers[0].vsize
		r.sub = &s
	})
	return r.sub, nil
}

func (r *chainReader) ReadAt(p []byte, off int64) (int, error) {
	e, err := r.engine()
	if err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, fmt.Errorf("chain: ReadAt at negative offset %d: %w", off, vhd.ErrOutOfRange)
	}
	if off >= e.size {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	var eof error
	if int64(len(p)) > e.size-off {
		p = p[:e.size-off]
		eof = io.EOF
	}
	s, _ := r.pool.Get().(*scratch)
	if s == nil {
		s = new(scratch)
	}
	defer r.pool.Put(s)
	// Resolve in pieces of at most one 2 MiB-aligned window, which holds
	// whole blocks of every block size a link may have.
	for done := 0; done < len(p); {
		pos := off + int64(done)
		n := int(min(int64(len(p)-done), window-pos%window))
		if err := e.read(p[done:done+n], pos, s, nil); err != nil {
			return done, err
		}
		done += n
	}
	return len(p), eof
}

// window is the unit of read-through resolution: the largest block size.
const window = vhd.MaxBlockSize

// writeChunk is how much WriteRaw resolves and writes at a time.
const writeChunk = 8 << 20

// minHole is the smallest run of zeros WriteRaw skips instead of writing,
// when it writes to a file it may leave sparse.
const minHole = 64 << 10

// WriteRawOptions configure [Chain.WriteRaw].
type WriteRawOptions struct {
	// Progress, when not nil, is called with PhaseWriteRaw once before the
	// first byte, with Done 0, and after each chunk of up to 8 MiB is
	// written; Total is the virtual size.
	Progress func(Progress)
}

// WriteRaw writes the leaf's whole virtual disk to w as a raw image,
// reading each link's data in large runs and skipping the work for ranges
// that no link holds. When w is an *os.File positioned at its end (a new
// or empty regular file, say), runs of 64 KiB of zeros or more are not
// written but seeked over, and the file is extended with Truncate at the
// end, so the output is sparse where the chain is; any other writer gets
// every zero. WriteRaw stops at the end of the chunk in which ctx is done.
// opts may be nil.
func (c *Chain) WriteRaw(ctx context.Context, w io.Writer, opts *WriteRawOptions) error {
	var progress func(Progress)
	if opts != nil {
		progress = opts.Progress
	}
	e, err := c.loadEngine()
	if err != nil {
		return err
	}
	report := func(done int64) {
		if progress != nil {
			progress(Progress{Phase: PhaseWriteRaw, Name: c.Links[0].Path, Done: done, Total: e.size})
		}
	}
	report(0)
	out := newRawWriter(w)
	// Read the next chunk while the previous one is written.
	type chunk struct {
		buf   []byte
		off   int64
		zeros []span
		err   error
	}
	total := e.size
	bufs := make(chan *chunk, 2)
	for range 2 {
		// A disk smaller than a chunk needs no more than its size.
		bufs <- &chunk{buf: make([]byte, min(writeChunk, total))}
	}
	ready := make(chan *chunk, 1)
	stop := make(chan struct{})
	go func() {
		defer close(ready)
		s := new(scratch)
		// off < total <= maxVirtualSize: off+writeChunk cannot overflow.
		for off := int64(0); off < total; off += writeChunk {
			var ch *chunk
			select {
			case ch = <-bufs:
			case <-stop:
				return
			}
			n := min(int64(writeChunk), total-off)
			ch.off, ch.zeros = off, ch.zeros[:0]
			ch.err = ctx.Err()
			if ch.err == nil {
				ch.err = e.read(ch.buf[:n], off, s, &ch.zeros)
			}
			ch.buf = ch.buf[:n]
			ready <- ch
			if ch.err != nil {
				return
			}
		}
	}()
	defer func() {
		close(stop)
		for range ready {
		}
	}()
	for ch := range ready {
		if ch.err != nil {
			return ch.err
		}
		done := ch.off + int64(len(ch.buf))
		if err := out.write(ch.buf, ch.off, mergeSpans(ch.zeros)); err != nil {
			return err
		}
		ch.buf = ch.buf[:cap(ch.buf)]
		bufs <- ch
		report(done)
	}
	return out.finish(total)
}

// rawWriter writes chunks with their zero runs, as holes when it may.
type rawWriter struct {
	w      io.Writer
	f      *os.File // set when holes may be left
	start  int64    // f's position when WriteRaw began
	zeroes []byte
}

func newRawWriter(w io.Writer) *rawWriter {
	rw := &rawWriter{w: w}
	if f, ok := w.(*os.File); ok {
		st, err := f.Stat()
		if err == nil && st.Mode().IsRegular() {
			if pos, err := f.Seek(0, io.SeekCurrent); err == nil && pos == st.Size() {
				rw.f, rw.start = f, pos
			}
		}
	}
	return rw
}

// write writes buf, the virtual disk at off, whose ranges zeros (sorted,
// disjoint, absolute offsets) read as zeros and hold garbage in buf.
func (rw *rawWriter) write(buf []byte, off int64, zeros []span) error {
	pos := off
	end := off + int64(len(buf))
	for _, z := range zeros {
		if z.a > pos {
			if err := rw.data(buf[pos-off : z.a-off]); err != nil {
				return err
			}
		}
		if err := rw.zero(z.b - z.a); err != nil {
			return err
		}
		pos = z.b
	}
	if pos < end {
		return rw.data(buf[pos-off:])
	}
	return nil
}

func (rw *rawWriter) data(b []byte) error {
	_, err := rw.w.Write(b)
	return err
}

func (rw *rawWriter) zero(n int64) error {
	if rw.f != nil && n >= minHole {
		_, err := rw.f.Seek(n, io.SeekCurrent)
		return err
	}
	if int64(len(rw.zeroes)) < min(n, writeChunk) {
		rw.zeroes = make([]byte, min(n, writeChunk))
	}
	for n > 0 {
		k := min(n, int64(len(rw.zeroes)))
		if _, err := rw.w.Write(rw.zeroes[:k]); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

// finish extends a sparse output file over a final hole.
func (rw *rawWriter) finish(total int64) error {
	if rw.f == nil {
		return nil
	}
	st, err := rw.f.Stat()
	if err != nil {
		return err
	}
	if end := rw.start + total; st.Size() < end {
		return rw.f.Truncate(end)
	}
	return nil
}
