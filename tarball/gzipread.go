package tarball

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"sync"
)

// gunzipper decodes a gzip stream of any number of members, read from r
// without seeking. Members that carry a piece index (see pieces.go) are
// read whole by one goroutine and inflated by workers in parallel; any
// other member is inflated by that reading goroutine into chunks, so that
// reading, inflating and the caller's writing overlap. Either way the data
// comes out of Read in order, every member's CRC-32 and length checked.
// At most inFlight pieces or chunks are decoded ahead of Read.
type gunzipper struct {
	ctx   context.Context
	raw   *rawReader
	ahead *readAhead
	in    *bufio.Reader
	chunk int
	order chan *rpiece // pieces in stream order, to Read
	jobs  chan *rpiece // indexed pieces, to the workers
	quit  chan struct{}
	ready chan struct{} // closed: the ready channel of pieces decoded inline
	comps chan []byte   // free compressed buffers
	datas chan []byte   // free decoded buffers
	wg    sync.WaitGroup
	once  sync.Once

	// Read's state. sum and size cover the plain member being read: Read
	// computes its CRC-32, off the reading goroutine's critical path.
	cur  *rpiece
	pos  int
	err  error
	sum  uint32
	size int64
}

// rpiece is one indexed member or one chunk of a plain member.
type rpiece struct {
	off   int64  // compressed offset of the member in the stream
	comp  []byte // indexed: deflate data then the 8-byte trailer
	data  []byte // the decoded bytes
	whole []byte // the buffer data is in, to reuse
	ready chan struct{}
	err   error
	// plain is set on the chunks of a plain member, whose CRC-32 Read
	// computes; trailer, on the empty piece that ends such a member.
	plain   bool
	trailer *[8]byte
}

func newGunzipper(ctx context.Context, raw *rawReader, chunk, inFlight, workers int) *gunzipper {
	ahead := newReadAhead(raw, 256<<10, 8)
	z := &gunzipper{
		ctx: ctx, raw: raw, ahead: ahead, in: bufio.NewReaderSize(ahead, 256<<10), chunk: chunk,
		order: make(chan *rpiece, inFlight),
		jobs:  make(chan *rpiece, workers),
		quit:  make(chan struct{}),
		ready: make(chan struct{}),
		comps: make(chan []byte, inFlight+workers+2),
		datas: make(chan []byte, inFlight+workers+2),
	}
	close(z.ready)
	z.wg.Add(workers + 1)
	for range workers {
		go z.work()
	}
	go z.run()
	return z
}

// Read returns the decoded stream in order.
func (z *gunzipper) Read(b []byte) (int, error) {
	for z.err == nil {
		if z.cur == nil {
			var p *rpiece
			var ok bool
			select {
			case p, ok = <-z.order:
			case <-z.ctx.Done():
				z.err = z.ctx.Err()
				return 0, z.err
			}
			if !ok {
				z.err = io.EOF
				break
			}
			select {
			case <-p.ready:
			case <-z.ctx.Done():
				z.err = z.ctx.Err()
				return 0, z.err
			}
			if p.err != nil {
				z.err = p.err
				break
			}
			if p.plain {
				z.sum = crc32.Update(z.sum, crc32.IEEETable, p.data)
				z.size += int64(len(p.data))
			}
			if p.trailer != nil {
				z.err = p.checkTrailer(z.sum, z.size)
				z.sum, z.size = 0, 0
				if z.err != nil {
					break
				}
			}
			z.cur, z.pos = p, 0
		}
		if z.pos < len(z.cur.data) {
			n := copy(b, z.cur.data[z.pos:])
			z.pos += n
			return n, nil
		}
		z.recycle(z.cur)
		z.cur = nil
	}
	return 0, z.err
}

// Close stops the goroutines and waits for them; it is safe to call more
// than once. A goroutine blocked reading r returns when that read does.
func (z *gunzipper) Close() {
	z.once.Do(func() { close(z.quit) })
	z.wg.Wait()
	z.ahead.close()
}

func (z *gunzipper) recycle(p *rpiece) {
	for _, free := range []struct {
		ch chan []byte
		b  []byte
	}{{z.comps, p.comp}, {z.datas, p.whole}} {
		if free.b != nil {
			select {
			case free.ch <- free.b[:0]:
			default:
			}
		}
	}
}

func getBuf(free chan []byte, n int) []byte {
	select {
	case b := <-free:
		if cap(b) >= n {
			return b[:n]
		}
	default:
	}
	return make([]byte, n)
}

// push hands p to Read; it reports false once Close was called.
func (z *gunzipper) push(p *rpiece) bool {
	select {
	case z.order <- p:
		return true
	case <-z.quit:
		return false
	}
}

// offset is the compressed offset of the next byte the reading goroutine
// will consume.
func (z *gunzipper) offset() int64 { return z.ahead.delivered - int64(z.in.Buffered()) }

// errClosed ends the reading goroutine after Close.
var errClosed = errors.New("tarball: gunzip closed")

// run is the reading goroutine: it walks the members and ends the stream
// in order with the first error, if any.
func (z *gunzipper) run() {
	defer z.wg.Done()
	defer close(z.order)
	defer close(z.jobs)
	if err := z.members(); err != nil && err != errClosed {
		z.push(&rpiece{ready: z.ready, err: err})
	}
}

func (z *gunzipper) members() error {
	f := new(inflater) // inflates plain members
	var total uint64   // decoded bytes of all members so far
	var crc uint32     // and their CRC-32
	needFinal := false // an indexed piece was seen and no final piece since
	for first := true; ; first = false {
		off := z.offset()
		idx, indexed, err := z.readHeader()
		if err == io.EOF && !first {
			if needFinal {
				return fmt.Errorf("gzip stream ends at byte %d without the final piece its pieces announce: %w", off, io.ErrUnexpectedEOF)
			}
			return nil
		}
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("gzip member at byte %d: header: %w", off, err)
		}
		switch {
		case indexed && idx.final:
			if err := z.finalPiece(off, idx, total, crc); err != nil {
				return err
			}
			needFinal = false
		case indexed:
			p, isize, sum, err := z.readPiece(off, idx)
			if err != nil {
				return err
			}
			if !z.push(p) {
				return errClosed
			}
			select {
			case z.jobs <- p:
			case <-z.quit:
				return errClosed
			}
			crc = crc32Combine(crc, sum, int64(isize))
			total += uint64(isize)
			needFinal = true
		default:
			n, sum, err := z.plainMember(off, f)
			if err != nil {
				return err
			}
			crc = crc32Combine(crc, sum, n)
			total += uint64(n)
			needFinal = false
		}
	}
}

// readHeader reads one member's header (RFC 1952 section 2.3) and its
// piece index, if it has one. It returns io.EOF when the stream ends
// cleanly before the header.
func (z *gunzipper) readHeader() (idx pieceIndex, indexed bool, err error) {
	var h [10]byte
	if _, err := io.ReadFull(z.in, h[:]); err != nil {
		return idx, false, err
	}
	if h[0] != 0x1f || h[1] != 0x8b || h[2] != 8 {
		return idx, false, fmt.Errorf("%w: magic %#x %#x, method %d (want 0x1f 0x8b, 8)", gzip.ErrHeader, h[0], h[1], h[2])
	}
	flg := h[3]
	if flg&0xe0 != 0 {
		return idx, false, fmt.Errorf("%w: reserved flags %#x set", gzip.ErrHeader, flg)
	}
	digest := crc32.ChecksumIEEE(h[:])
	if flg&4 != 0 { // FEXTRA
		var xlen [2]byte
		if _, err := io.ReadFull(z.in, xlen[:]); err != nil {
			return idx, false, noEOF(err)
		}
		extra := make([]byte, binary.LittleEndian.Uint16(xlen[:]))
		if _, err := io.ReadFull(z.in, extra); err != nil {
			return idx, false, noEOF(err)
		}
		digest = crc32.Update(crc32.Update(digest, crc32.IEEETable, xlen[:]), crc32.IEEETable, extra)
		idx, indexed = parsePieceIndex(extra)
	}
	for _, bit := range []byte{8, 16} { // FNAME, FCOMMENT: skipped
		if flg&bit == 0 {
			continue
		}
		for {
			c, err := z.in.ReadByte()
			if err != nil {
				return idx, false, noEOF(err)
			}
			digest = crc32.Update(digest, crc32.IEEETable, []byte{c})
			if c == 0 {
				break
			}
		}
	}
	if flg&2 != 0 { // FHCRC
		var sum [2]byte
		if _, err := io.ReadFull(z.in, sum[:]); err != nil {
			return idx, false, noEOF(err)
		}
		if binary.LittleEndian.Uint16(sum[:]) != uint16(digest) {
			return idx, false, fmt.Errorf("%w: header CRC %#04x, computed %#04x", gzip.ErrHeader, binary.LittleEndian.Uint16(sum[:]), uint16(digest))
		}
	}
	return idx, indexed, nil
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// readPiece reads an indexed member's deflate data and trailer.
func (z *gunzipper) readPiece(off int64, idx pieceIndex) (p *rpiece, isize, crc uint32, err error) {
	comp := getBuf(z.comps, int(idx.clen)+8)
	if _, err := io.ReadFull(z.in, comp); err != nil {
		return nil, 0, 0, fmt.Errorf("gzip member at byte %d: its index promises %d deflate bytes and a trailer: %w", off, idx.clen, noEOF(err))
	}
	crc = binary.LittleEndian.Uint32(comp[idx.clen:])
	isize = binary.LittleEndian.Uint32(comp[idx.clen+4:])
	if isize > maxPiece {
		return nil, 0, 0, fmt.Errorf("gzip member at byte %d: %w: an indexed piece of %d bytes, more than %d", off, gzip.ErrHeader, isize, maxPiece)
	}
	return &rpiece{off: off, comp: comp, ready: make(chan struct{})}, isize, crc, nil
}

// work inflates indexed pieces.
func (z *gunzipper) work() {
	defer z.wg.Done()
	f := new(inflater)
	for p := range z.jobs {
		p.err = z.inflatePiece(p, f)
		close(p.ready)
	}
}

// inflatePiece decodes p and checks that its deflate data ends exactly
// where the index says and matches the trailer's CRC-32 and length, so
// that the result is what a serial gzip reader would produce.
func (z *gunzipper) inflatePiece(p *rpiece, f *inflater) error {
	clen := len(p.comp) - 8
	want := binary.LittleEndian.Uint32(p.comp[clen:])
	isize := int(binary.LittleEndian.Uint32(p.comp[clen+4:]))
	fail := func(format string, args ...any) error {
		return fmt.Errorf("gzip member at byte %d: "+format, append([]any{p.off}, args...)...)
	}
	// The output has room for one byte more than the trailer says, so
	// that a stream that goes on is seen to.
	size := isize + 1 + inflateSlack
	p.whole = getBuf(z.datas, size)
	f.reset(p.comp[:clen], true)
	n, err := f.decode(p.whole[:size], 0, 0, isize+1)
	switch {
	case err == io.ErrUnexpectedEOF:
		return fail("the deflate data does not end within the %d bytes its index gives: %w", clen, err)
	case err != nil:
		return fail("%w", err)
	case n > isize:
		return fail("%w: more than the %d bytes the trailer says", gzip.ErrChecksum, isize)
	case n < isize:
		return fail("%w: %d bytes, trailer says %d", gzip.ErrChecksum, n, isize)
	}
	if rest := clen - f.rewind(); rest != 0 {
		return fail("%w: the deflate data ends %d bytes before the %d its index gives", gzip.ErrHeader, rest, clen)
	}
	p.data = p.whole[:n]
	if got := crc32.ChecksumIEEE(p.data); got != want {
		return fail("%w: CRC-32 %#08x, trailer says %#08x", gzip.ErrChecksum, got, want)
	}
	return nil
}

// finalPiece checks the empty member that ends a stream of pieces against
// the totals of everything before it.
func (z *gunzipper) finalPiece(off int64, idx pieceIndex, total uint64, crc uint32) error {
	p, isize, sum, err := z.readPiece(off, idx)
	if err != nil {
		return err
	}
	defer z.recycle(p)
	if err := z.inflatePiece(p, new(inflater)); err != nil {
		return err
	}
	if isize != 0 || sum != 0 || idx.total != total || idx.crc != crc {
		return fmt.Errorf("gzip member at byte %d: %w: the final piece says %d bytes with CRC-32 %#08x before it, the stream held %d with %#08x",
			off, gzip.ErrChecksum, idx.total, idx.crc, total, crc)
	}
	return nil
}

// plainMember inflates a member without a usable index, from the stream,
// into chunks, and hands Read its trailer to check. It returns the
// trailer's CRC-32 and the member's size.
func (z *gunzipper) plainMember(off int64, f *inflater) (size int64, crc uint32, err error) {
	get := func(n int) []byte { return getBuf(z.datas, n) }
	emit := func(whole, data []byte) bool {
		return z.push(&rpiece{off: off, whole: whole, data: data, ready: z.ready, plain: true})
	}
	size, err = f.stream(z.in, z.chunk, get, emit)
	if err == errClosed {
		return 0, 0, err
	}
	if err != nil {
		return 0, 0, fmt.Errorf("gzip member at byte %d: inflating at byte %d of its data: %w", off, size, err)
	}
	t := new([8]byte)
	if _, err := io.ReadFull(z.in, t[:]); err != nil {
		return 0, 0, fmt.Errorf("gzip member at byte %d: trailer: %w", off, noEOF(err))
	}
	if !z.push(&rpiece{off: off, ready: z.ready, trailer: t}) {
		return 0, 0, errClosed
	}
	return size, binary.LittleEndian.Uint32(t[:]), nil
}

// checkTrailer compares a plain member's trailer with the CRC-32 and size
// of the data Read returned.
func (p *rpiece) checkTrailer(crc uint32, size int64) error {
	if want := binary.LittleEndian.Uint32(p.trailer[:]); crc != want {
		return fmt.Errorf("gzip member at byte %d: %w: CRC-32 %#08x, trailer says %#08x", p.off, gzip.ErrChecksum, crc, want)
	}
	if got, want := uint32(size), binary.LittleEndian.Uint32(p.trailer[4:]); got != want {
		return fmt.Errorf("gzip member at byte %d: %w: %d bytes (mod 2^32), trailer says %d", p.off, gzip.ErrChecksum, got, want)
	}
	return nil
}

// readAhead reads r in a goroutine of its own, up to n buffers of size
// bytes ahead, so that waiting for input (a pipe, a network) and the
// copying of read(2) are off the inflating goroutine's path.
type readAhead struct {
	full      chan []byte
	free      chan []byte
	quit      chan struct{}
	done      chan struct{}
	once      sync.Once
	err       error  // set before full is closed
	buf       []byte // the buffer being returned, whole
	cur       []byte // what is left of it
	delivered int64  // bytes returned by Read
}

func newReadAhead(r io.Reader, size, n int) *readAhead {
	a := &readAhead{
		full: make(chan []byte, n), free: make(chan []byte, n+2),
		quit: make(chan struct{}), done: make(chan struct{}),
	}
	go func() {
		defer close(a.done)
		defer close(a.full)
		for {
			var buf []byte
			select {
			case buf = <-a.free:
			default:
				buf = make([]byte, size)
			}
			m, err := r.Read(buf[:size])
			if m > 0 {
				select {
				case a.full <- buf[:m]:
				case <-a.quit:
					return
				}
			}
			if err != nil {
				a.err = err
				return
			}
		}
	}()
	return a
}

// Read returns what the goroutine read, in order, then its error.
func (a *readAhead) Read(p []byte) (int, error) {
	if len(a.cur) == 0 {
		if a.buf != nil {
			select {
			case a.free <- a.buf:
			default:
			}
			a.buf = nil
		}
		buf, ok := <-a.full
		if !ok {
			return 0, a.err
		}
		a.buf, a.cur = buf[:cap(buf)], buf
	}
	n := copy(p, a.cur)
	a.cur = a.cur[n:]
	a.delivered += int64(n)
	return n, nil
}

// close stops the goroutine and waits for it: after close, r is not read.
func (a *readAhead) close() {
	a.once.Do(func() { close(a.quit) })
	<-a.done
}
