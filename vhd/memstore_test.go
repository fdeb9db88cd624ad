package vhd_test

import (
	"bytes"
	"errors"
	"io"
	"sync"
	"testing"

	"github.com/vhdkit/vhdkit/vhd"
)

// memStore is an in-memory vhd.ReadWriterAt with a crash model. It can
// fail every write, truncate or sync from the failAt-th on (counting from
// 1), as a crash would stop them, or with failOnly just that one, as a
// transient I/O error would. It keeps what the last successful Sync made
// durable and the writes made since, from which crashImages builds the
// files a crash could leave.
type memStore struct {
	mu     sync.Mutex
	b      []byte
	writes int   // writes, truncates and syncs so far
	failAt int   // 0: never
	limit  int64 // > 0: writes ending past it fail, and tooFar is set
	tooFar bool
	// failOnly fails just the failAt-th operation, as a transient I/O
	// error would, instead of every one from then on.
	failOnly bool

	durable []byte  // the contents at the last successful Sync (nil: b at creation, see newMemStore)
	pending []memOp // writes and truncates since
}

// memOp is a write (data at off) or, with data nil, a truncate to off.
type memOp struct {
	off  int64
	data []byte
}

var errInjected = errors.New("injected write failure")

// openMem opens the VHD mem holds, read-only or writable.
func openMem(t *testing.T, mem *memStore, readOnly bool) *vhd.File {
	t.Helper()
	var f *vhd.File
	var err error
	if readOnly {
		f, err = vhd.New(mem, int64(len(mem.b)))
	} else {
		f, err = vhd.NewWritable(mem, int64(len(mem.b)))
	}
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// newMemStore returns a store holding a copy of b, all of it durable.
func newMemStore(b []byte) *memStore {
	return &memStore{b: bytes.Clone(b), durable: bytes.Clone(b)}
}

// fails reports whether the operation just counted fails. The caller holds m.mu.
func (m *memStore) fails() bool {
	if m.failAt <= 0 {
		return false
	}
	if m.failOnly {
		return m.writes == m.failAt
	}
	return m.writes >= m.failAt
}

func (m *memStore) ReadAt(p []byte, off int64) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if off >= int64(len(m.b)) {
		return 0, io.EOF
	}
	n := copy(p, m.b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (m *memStore) WriteAt(p []byte, off int64) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.writes++
	if m.fails() {
		return 0, errInjected
	}
	if m.limit > 0 && off+int64(len(p)) > m.limit {
		m.tooFar = true
		return 0, errInjected
	}
	m.b = apply(m.b, memOp{off, p})
	if m.durable != nil {
		m.pending = append(m.pending, memOp{off, bytes.Clone(p)})
	}
	return len(p), nil
}

func (m *memStore) Truncate(n int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.writes++
	if m.fails() {
		return errInjected
	}
	m.b = apply(m.b, memOp{off: n})
	if m.durable != nil {
		m.pending = append(m.pending, memOp{off: n})
	}
	return nil
}

// Sync counts as one of the operations that can fail.
func (m *memStore) Sync() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.writes++
	if m.fails() {
		return errInjected
	}
	if m.durable != nil {
		m.durable = bytes.Clone(m.b)
		m.pending = nil
	}
	return nil
}

func apply(b []byte, op memOp) []byte {
	if op.data == nil {
		if op.off <= int64(len(b)) {
			return b[:op.off]
		}
		return append(b, make([]byte, op.off-int64(len(b)))...)
	}
	if end := op.off + int64(len(op.data)); end > int64(len(b)) {
		b = append(b, make([]byte, end-int64(len(b)))...)
	}
	copy(b[op.off:], op.data)
	return b
}

// crashImages returns the files a crash now could leave: the durable
// contents alone, with each one write (or truncate) made since the last
// sync, and with all of them.
func (m *memStore) crashImages() [][]byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	imgs := [][]byte{bytes.Clone(m.durable)}
	for _, op := range m.pending {
		imgs = append(imgs, apply(bytes.Clone(m.durable), op))
	}
	if len(m.pending) > 1 {
		all := bytes.Clone(m.durable)
		for _, op := range m.pending {
			all = apply(all, op)
		}
		imgs = append(imgs, all)
	}
	return imgs
}
