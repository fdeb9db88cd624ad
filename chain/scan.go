package chain

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/vhdkit/vhdkit/vhd"
)

// DefaultScanTimeout is the per-file deadline of [Scan] when
// [ScanOptions.Timeout] is zero.
const DefaultScanTimeout = 30 * time.Second

// ErrScanTimeout is the error of a file that [Scan] gave up on because
// the work on it outlasted [ScanOptions.Timeout] (a stuck NFS server, say).
var ErrScanTimeout = errors.New("scan of the file timed out")

// ScanOptions configure [Scan]. The zero value scans with the full open,
// without markers, confined to each file's own directory.
type ScanOptions struct {
	// Fast opens each file as vhd-util scan -f does: from the footer copy
	// at offset 0 and the header only (a fixed disk, which has no copy,
	// fails), and the parent is the header's parent name rather than a
	// resolved locator (FORMAT.md §14 Opening a file as libvhd does).
	Fast bool
	// Markers also reads each file's marker and keyhash from its batmap
	// header (vhd-util scan -M).
	Markers bool
	// Concurrency is the number of files worked on at once; 0 means
	// 8·GOMAXPROCS, at least 64 (the work is system calls and waiting).
	Concurrency int
	// Timeout is the deadline of the work on one file; a file still being
	// worked on then gets an error wrapping ErrScanTimeout and the scan moves
	// on (the stuck system call finishes, and its file is closed, in the
	// background). 0 means DefaultScanTimeout; negative means none.
	Timeout time.Duration
	// Open opens one file; nil means vhd.Open, or with Fast
	// vhd.OpenWithFooter(name, os.O_RDONLY, vhd.FooterBackup). A caller
	// may wrap it to count, limit or instrument opens. It is called once
	// per file, from several goroutines at once.
	Open func(name string) (*vhd.File, error)
	// Resolver finds each parent without Fast; nil means a Resolver
	// confined to the directory of the file being scanned.
	Resolver *Resolver
	// Logger receives a debug message per file; nil is silent.
	Logger *slog.Logger
}

// A ScanStep names what Scan was doing when a file failed, in vhd-util
// scan's words (its error-message).
type ScanStep string

// The steps of the work on one file.
const (
	ScanOpening ScanStep = "opening file"
	ScanHidden  ScanStep = "checking 'hidden' field"
	ScanMarkers ScanStep = "checking markers"
	ScanParent  ScanStep = "getting parent"
)

// A ScanError is the failure of one file of a scan.
type ScanError struct {
	Path string
	Step ScanStep
	Err  error
}

// Error says which file failed, at which step, and why.
func (e *ScanError) Error() string {
	return fmt.Sprintf("chain: scan %s: %s: %v", e.Path, e.Step, e.Err)
}

// Unwrap returns the cause.
func (e *ScanError) Unwrap() error { return e.Err }

// A ScanEntry is what Scan found for one file: what vhd-util scan prints
// for it, or its error.
type ScanEntry struct {
	// Path is the file's path as given.
	Path string
	// VirtualSize is the disk's size as the guest sees it (scan's
	// "capacity").
	VirtualSize int64
	// FileSize is the size of the file on disk (scan's "size").
	FileSize int64
	// Hidden is the hidden flag (with Fast, from the copy at offset 0).
	Hidden uint8
	// Marker and Keyhash come from the batmap header, with
	// ScanOptions.Markers; both are zero for files without a batmap.
	Marker  uint8
	Keyhash vhd.Keyhash
	// Parent is empty for a disk without a parent. Otherwise, with Fast, it
	// is the header's parent name; without Fast, the path the locators
	// resolve to, or, when none resolves, the first locator as written.
	Parent string
	// RawParent says the parent is a raw image (the header's parent UUID
	// is null).
	RawParent bool
	// Err is the failure of this file, a *ScanError, or nil.
	Err error
}

// Scan works on every path at once (up to ScanOptions.Concurrency) and
// returns one entry per path, in the order given: one bad or stuck file
// never hides the others. Each file is opened once. FIFOs, sockets,
// devices and dangling symbolic links fail at once, without blocking. The
// error is non-nil only when ctx ends first; the entries not finished by
// then carry ctx's error.
func Scan(ctx context.Context, paths []string, opts *ScanOptions) ([]ScanEntry, error) {
	if opts == nil {
		opts = &ScanOptions{}
	}
	n := opts.Concurrency
	if n <= 0 {
		n = max(64, 8*runtime.GOMAXPROCS(0))
	}
	n = min(n, max(1, len(paths)))
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = DefaultScanTimeout
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	entries := make([]ScanEntry, len(paths))
	next := make(chan int)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				entries[i] = scanWithDeadline(ctx, paths[i], opts, timeout)
				log.Debug("scanned", "path", paths[i], "err", entries[i].Err)
			}
		}()
	}
	done := 0
feed:
	for i := range paths {
		select {
		case next <- i:
			done++
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	for i := done; i < len(paths); i++ {
		entries[i] = ScanEntry{Path: paths[i], Err: &ScanError{Path: paths[i], Step: ScanOpening, Err: ctx.Err()}}
	}
	return entries, ctx.Err()
}

// scanWithDeadline runs scanFile for path, giving up at the deadline or when
// ctx ends. The work goes on in the background until its system call
// returns; it closes its own file.
func scanWithDeadline(ctx context.Context, path string, opts *ScanOptions, timeout time.Duration) ScanEntry {
	if err := ctx.Err(); err != nil {
		return ScanEntry{Path: path, Err: &ScanError{Path: path, Step: ScanOpening, Err: err}}
	}
	res := make(chan ScanEntry, 1)
	step := make(chan ScanStep, 8)
	go func() { res <- scanFile(path, opts, step) }()
	var expired <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expired = t.C
	}
	last := ScanOpening
	for {
		select {
		case e := <-res:
			return e
		case s := <-step:
			last = s
		case <-expired:
			return ScanEntry{Path: path, Err: &ScanError{Path: path, Step: last,
				Err: fmt.Errorf("no answer within %v: %w", timeout, ErrScanTimeout)}}
		case <-ctx.Done():
			return ScanEntry{Path: path, Err: &ScanError{Path: path, Step: last, Err: ctx.Err()}}
		}
	}
}

// scanFile is the work on one file. It reports each step it starts on
// step, without ever blocking on it.
func scanFile(path string, opts *ScanOptions, step chan<- ScanStep) ScanEntry {
	e := ScanEntry{Path: path}
	enter := func(s ScanStep) {
		select {
		case step <- s:
		default:
		}
	}
	fail := func(s ScanStep, err error) ScanEntry {
		e.Err = &ScanError{Path: path, Step: s, Err: err}
		return e
	}
	open := opts.Open
	if open == nil {
		open = vhd.Open
		if opts.Fast {
			open = func(name string) (*vhd.File, error) { return vhd.OpenWithFooter(name, os.O_RDONLY, vhd.FooterBackup) }
		}
	}
	f, err := open(path)
	if err != nil {
		return fail(ScanOpening, err)
	}
	defer f.Close()
	e.VirtualSize, e.FileSize = f.VirtualSize(), f.FileSize()
	enter(ScanHidden)
	if e.Hidden, err = f.Hidden(); err != nil {
		return fail(ScanHidden, err)
	}
	if opts.Markers {
		enter(ScanMarkers)
		if bm, err := f.Batmap(); err == nil {
			e.Marker, e.Keyhash = bm.Header.Marker, bm.Header.Keyhash
		} else if !errors.Is(err, vhd.ErrNoBatmap) {
			return fail(ScanMarkers, err)
		}
	}
	if f.HasParent() {
		enter(ScanParent)
		e.RawParent = f.ParentUUID().IsZero()
		if e.Parent, err = scanParent(f, path, opts); err != nil {
			return fail(ScanParent, err)
		}
	}
	return e
}

// scanParent is vhd-util scan's parent: with Fast the header's parent name;
// otherwise the resolved locator, falling back to the first locator that
// decodes, written as it is.
func scanParent(f *vhd.File, path string, opts *ScanOptions) (string, error) {
	if opts.Fast {
		if name, err := f.ParentName(); err == nil && name != "" {
			return name, nil
		}
	} else {
		r := opts.Resolver
		if r == nil {
			var err error
			if r, err = NewResolver(filepath.Dir(path)); err != nil {
				return "", err
			}
		}
		if p, _, err := r.Parent(f); err == nil {
			return p, nil
		}
	}
	return firstLocator(f)
}

// firstLocator is the locator vhd-util scan falls back to: the MacX slot,
// else the last W2ru slot, else the first slot in use; decoded, not
// resolved.
func firstLocator(f *vhd.File) (string, error) {
	var pick *vhd.Locator
	locs := f.ParentLocators()
	for i := range locs {
		l := &locs[i]
		if l.Entry.Code == vhd.PlatformMacX {
			pick = l
			break
		}
		if l.Entry.Code == vhd.PlatformW2ru || pick == nil {
			pick = l
		}
	}
	if pick == nil {
		return "", fmt.Errorf("%s: no parent locator: %w", f.Name(), vhd.ErrLocator)
	}
	if pick.Err != nil {
		return "", pick.Err
	}
	return pick.Path, nil
}
