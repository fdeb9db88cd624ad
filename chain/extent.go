package chain

import (
	"context"
	"iter"
	"slices"

	"github.com/vhdkit/vhdkit/vhd"
)

// An Extent is a run of the leaf's virtual disk and the link that answers
// for it when the chain is read through: the nearest link whose BAT and
// sector bitmap (or batmap) hold it, like a line of `qemu-img map` with its
// depth. Extents never say what the bytes are: a held sector may hold zeros.
type Extent struct {
	// Offset and Length are the run's place in the leaf's virtual disk,
	// in bytes.
	Offset, Length int64
	// Link is the index in Chain.Links of the link that answers for the
	// run, or len(Chain.Links) when no link does and the run falls through
	// a differencing base to its raw parent (compatible mode only).
	Link int
	// Data reports whether Link holds the run's bytes. When it does not,
	// the run reads as zeros: Link is a dynamic disk that does not hold
	// it, the run lies past Link's virtual size (a link smaller than its
	// child), or past the raw parent's end.
	Data bool
	// FileOffset is where the run's bytes start in Link's file (or in the
	// raw parent) when Data is set, else -1.
	FileOffset int64
}

// End returns Offset+Length.
func (e Extent) End() int64 { return e.Offset + e.Length }

// Extents returns the extent map of the leaf's virtual disk in order of
// offset, covering it from 0 to [Chain.VirtualSize] without gaps; adjacent
// runs answered the same way by the same link are merged. It reads each
// link's BAT and batmap once and the bitmap of each allocated block it
// needs, never block data; memory does not grow with the disk. The
// sequence stops after yielding an error.
func (c *Chain) Extents(ctx context.Context) iter.Seq2[Extent, error] {
	return func(yield func(Extent, error) bool) {
		e, err := c.loadEngine()
		if err != nil {
			yield(Extent{}, err)
			return
		}
		var m extentMerger
		m.yield = yield
		var s mapScratch
		for off := int64(0); off < e.size; off += window {
			if (off/window)%256 == 0 {
				if err := ctx.Err(); err != nil {
					yield(Extent{}, err)
					return
				}
			}
			runs, err := e.mapWindow(off, min(window, e.size-off), &s)
			if err != nil {
				yield(Extent{}, err)
				return
			}
			for _, r := range runs {
				if !m.add(r) {
					return
				}
			}
		}
		m.flush()
	}
}

// mapScratch holds per-call buffers of mapWindow.
type mapScratch struct {
	need, next []span
	runs       []Extent
	bitmap     []byte
}

// mapWindow resolves [off, off+n) of the leaf's virtual disk against the
// chain without reading data, returning its runs sorted by offset (valid
// until the next call with s).
func (e *engine) mapWindow(off, n int64, s *mapScratch) ([]Extent, error) {
	s.runs = s.runs[:0]
	s.need = append(s.need[:0], span{off, off + n})
	emit := func(a, b int64, link int, data bool, fileOff int64) {
		if a < b {
			s.runs = append(s.runs, Extent{Offset: a, Length: b - a, Link: link, Data: data, FileOffset: fileOff})
		}
	}
	for li := range e.layers {
		ly, err := e.layer(li)
		if err != nil {
			return nil, err
		}
		s.next = s.next[:0]
		for _, sp := range s.need {
			if sp.b > ly.vsize {
				emit(max(sp.a, ly.vsize), sp.b, li, false, -1)
				if sp.a >= ly.vsize {
					continue
				}
				sp.b = ly.vsize
			}
			if err := e.mapLayerSpan(li, sp, s, emit); err != nil {
				return nil, err
			}
		}
		s.need, s.next = s.next, s.need
		if len(s.need) == 0 {
			break
		}
	}
	below := len(e.layers)
	for _, sp := range s.need {
		if e.raw == nil || sp.a >= e.rawSize {
			emit(sp.a, sp.b, below, false, -1)
			continue
		}
		end := min(sp.b, e.rawSize)
		emit(sp.a, end, below, true, sp.a)
		emit(end, sp.b, below, false, -1)
	}
	slices.SortFunc(s.runs, func(x, y Extent) int {
		switch {
		case x.Offset < y.Offset:
			return -1
		case x.Offset > y.Offset:
			return 1
		}
		return 0
	})
	return s.runs, nil
}

// mapLayerSpan resolves sp against layer li as layerSpan does, without
// reading data: held runs and zero runs are emitted, the rest appended to
// s.next for the parent.
func (e *engine) mapLayerSpan(li int, sp span, s *mapScratch, emit func(a, b int64, link int, data bool, fileOff int64)) error {
	ly, err := e.layer(li)
	if err != nil {
		return err
	}
	diff := ly.typ == vhd.DiskDifferencing
	return ly.walkSpan(sp, &s.bitmap,
		func(a, b, fileOff int64) error { emit(a, b, li, true, fileOff); return nil },
		func(a, b int64) {
			if diff {
				s.next = appendSpan(s.next, a, b)
			} else {
				emit(a, b, li, false, -1)
			}
		})
}

// extentMerger joins adjacent runs answered alike before yielding them.
type extentMerger struct {
	yield   func(Extent, error) bool
	cur     Extent
	pending bool
}

func (m *extentMerger) add(r Extent) bool {
	if m.pending && m.cur.Link == r.Link && m.cur.Data == r.Data && m.cur.End() == r.Offset &&
		(!r.Data || m.cur.FileOffset+m.cur.Length == r.FileOffset) {
		m.cur.Length += r.Length
		return true
	}
	if m.pending && !m.yield(m.cur, nil) {
		m.pending = false
		return false
	}
	m.cur, m.pending = r, true
	return true
}

func (m *extentMerger) flush() {
	if m.pending {
		m.pending = false
		m.yield(m.cur, nil)
	}
}
