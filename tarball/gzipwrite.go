package tarball

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"io"
	"sync"

	"github.com/klauspost/compress/flate"
)

// pieceWriter compresses what it is given as a series of independent gzip
// members (see pieces.go), size bytes each, on workers goroutines, and
// writes them to w in order from one more goroutine.
type pieceWriter struct {
	w     io.Writer
	level int
	size  int
	buf   []byte // the piece being filled
	jobs  chan *wpiece
	order chan *wpiece
	free  chan []byte    // buffers for pieces of input
	outs  chan []byte    // buffers for compressed pieces
	wg    sync.WaitGroup // workers
	done  chan struct{}  // closed when the writing goroutine ends

	mu      sync.Mutex
	err     error // first error writing to w or compressing
	aborted bool

	// Kept by the writing goroutine: totals of what reached w.
	total uint64
	crc   uint32
}

// wpiece is one piece on its way through the workers.
type wpiece struct {
	in    []byte
	out   *bytes.Buffer
	ready chan struct{}
	err   error
}

func newPieceWriter(w io.Writer, level, size, workers int) (*pieceWriter, error) {
	if _, err := flate.NewWriter(io.Discard, level); err != nil {
		return nil, err
	}
	p := &pieceWriter{
		w: w, level: level, size: size,
		jobs:  make(chan *wpiece, workers),
		order: make(chan *wpiece, 2*workers),
		free:  make(chan []byte, 3*workers+1),
		outs:  make(chan []byte, 3*workers+1),
		done:  make(chan struct{}),
	}
	for range workers {
		p.wg.Add(1)
		go p.work()
	}
	go p.writeOut()
	return p, nil
}

func (p *pieceWriter) work() {
	defer p.wg.Done()
	var zw *flate.Writer
	for wp := range p.jobs {
		var ob []byte
		select {
		case ob = <-p.outs:
		default:
		}
		wp.out = bytes.NewBuffer(ob[:0])
		wp.out.Grow(len(wp.in)/2 + pieceHeaderLen + 8)
		indexed := len(wp.in) <= maxPiece
		if indexed {
			wp.out.Write(pieceHeader(0, false, 0, 0))
		} else {
			// Too big to index: a plain member, which Unpack decodes serially.
			wp.out.Write([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255})
		}
		head := wp.out.Len()
		if zw == nil {
			zw, _ = flate.NewWriter(wp.out, p.level)
		} else {
			zw.Reset(wp.out)
		}
		_, err := zw.Write(wp.in)
		if err == nil {
			err = zw.Close()
		}
		b := wp.out.Bytes()
		if indexed {
			binary.LittleEndian.PutUint32(b[16:], uint32(len(b)-head))
		}
		var trailer [8]byte
		binary.LittleEndian.PutUint32(trailer[:], crc32.ChecksumIEEE(wp.in))
		binary.LittleEndian.PutUint32(trailer[4:], uint32(len(wp.in)))
		wp.out.Write(trailer[:])
		wp.err = err
		close(wp.ready)
	}
}

// writeOut writes finished pieces in order; after the first error it only
// drains them.
func (p *pieceWriter) writeOut() {
	defer close(p.done)
	for wp := range p.order {
		<-wp.ready
		p.mu.Lock()
		skip := p.err != nil || p.aborted
		if !skip && wp.err != nil {
			p.err = wp.err
			skip = true
		}
		p.mu.Unlock()
		if !skip {
			if _, err := p.w.Write(wp.out.Bytes()); err != nil {
				p.setErr(err)
			} else {
				b := wp.out.Bytes()
				crc := binary.LittleEndian.Uint32(b[len(b)-8:])
				p.crc = crc32Combine(p.crc, crc, int64(len(wp.in)))
				p.total += uint64(len(wp.in))
			}
		}
		select {
		case p.free <- wp.in[:0]:
		default:
		}
		select {
		case p.outs <- wp.out.Bytes()[:0]:
		default:
		}
	}
}

func (p *pieceWriter) setErr(err error) {
	p.mu.Lock()
	if p.err == nil {
		p.err = err
	}
	p.mu.Unlock()
}

func (p *pieceWriter) firstErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Write buffers b and hands each full piece to the workers. It fails once
// writing to w has failed.
func (p *pieceWriter) Write(b []byte) (int, error) {
	if err := p.firstErr(); err != nil {
		return 0, err
	}
	n := len(b)
	for len(b) > 0 {
		if p.buf == nil {
			select {
			case p.buf = <-p.free:
			default:
				p.buf = make([]byte, 0, p.size)
			}
		}
		m := min(len(b), p.size-len(p.buf))
		p.buf = append(p.buf, b[:m]...)
		b = b[m:]
		if len(p.buf) == p.size {
			p.submit()
		}
	}
	return n, nil
}

func (p *pieceWriter) submit() {
	wp := &wpiece{in: p.buf, ready: make(chan struct{})}
	p.buf = nil
	p.order <- wp
	p.jobs <- wp
}

// stop ends the goroutines and waits for them.
func (p *pieceWriter) stop() {
	close(p.jobs)
	close(p.order)
	p.wg.Wait()
	<-p.done
}

// Close compresses what is buffered, waits for every piece to be written,
// and ends the stream with the final piece.
func (p *pieceWriter) Close() error {
	if len(p.buf) > 0 {
		p.submit()
	}
	p.stop()
	if err := p.firstErr(); err != nil {
		return err
	}
	var final bytes.Buffer
	final.Write(pieceHeader(2, true, p.total, p.crc))
	final.Write([]byte{3, 0})                   // an empty final fixed-Huffman block
	final.Write([]byte{0, 0, 0, 0, 0, 0, 0, 0}) // CRC and size of nothing
	_, err := p.w.Write(final.Bytes())
	return err
}

// abort drops what is not yet written and, if w still works, writes the
// header of a piece whose data never follows, so that every gzip reader
// sees a truncated stream rather than a complete, shorter one.
func (p *pieceWriter) abort() {
	p.mu.Lock()
	p.aborted = true
	failed := p.err != nil
	p.mu.Unlock()
	p.buf = nil
	p.stop()
	if !failed {
		p.w.Write(pieceHeader(maxPiece, false, 0, 0))
	}
}
