package chain

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"syscall"

	"github.com/vhdkit/vhdkit/vhd"
)

// The phases of [Coalesce] and [CoalesceStep].
const (
	// PhaseCoalesce is the copy of the child's sectors into the parent.
	PhaseCoalesce Phase = "coalesce"
	// PhaseRelink is CoalesceStep relinking the child's children to the parent.
	PhaseRelink Phase = "relink"
	// PhaseRemove is CoalesceStep removing the child.
	PhaseRemove Phase = "remove"
)

// Errors of [Coalesce].
var (
	// ErrLargerThanParent reports a child whose virtual size is larger than
	// its parent's, which a coalesce cannot copy without growing the
	// parent. It is reported before anything is written.
	ErrLargerThanParent = errors.New("child larger than its parent")
	// ErrLocked reports a parent another coalesce holds locked (flock).
	ErrLocked = errors.New("file locked by another coalesce")
)

// CoalesceOptions configure [Coalesce]. The zero value is confined mode
// without a root, which is refused: set Root, or Mode to Compat.
type CoalesceOptions struct {
	// Root and Mode say how parents are resolved, as in [Options]. A hidden
	// child is the normal input: the leaf rules of confined mode do not
	// apply.
	Root string
	Mode Mode
	// Into, when not "", is the path of an ancestor of the child: the child
	// and every link between it and Into are coalesced into Into in one
	// pass, each sector taken from the link nearest the child that holds
	// it, so that Into then reads as the child did. "" means the child's
	// immediate parent. Afterwards the child and the links between it and
	// Into hold nothing Into lacks: the caller relinks the child's
	// children to Into and may delete the child, and then each link
	// between once no other file has it as parent (a sibling branch still
	// reads through it, and below it now sees the coalesced data).
	Into string
	// Sparse leaves a block newly allocated in the parent a hole on disk
	// where the child holds no sector (vhd-util coalesce -s), instead of
	// writing zeros there. Which sectors the parent holds is the same.
	Sparse bool
	// Concurrency is the number of blocks read at once; 0 means the
	// number of CPUs (at least 2).
	Concurrency int
	// MaxDepth bounds the links walked to reach Into; 0 means
	// DefaultMaxDepth.
	MaxDepth int
	// Progress, if not nil, is called after each block is written, with
	// Phase PhaseCoalesce, Name the parent, and Done and Total the bytes of
	// the sectors copied so far and to copy in all (512 per sector), Total
	// known from the first call on.
	Progress func(Progress)
	// Logger receives debug records about the plan and the copy; nil is
	// silent.
	Logger *slog.Logger
}

// CoalesceResult describes a finished coalesce.
type CoalesceResult struct {
	// Parent is the file written: the child's parent, or Into.
	Parent string
	// RawParent is set when Parent is a raw image, not a VHD.
	RawParent bool
	// Links are the files copied from, the child first; none was written.
	Links []string
	// Sectors is the number of sectors copied (vhd-util's "Coalesced N
	// sectors"), and Logical the bytes they hold.
	Sectors, Logical int64
	// Allocated is the number of blocks the parent allocated.
	Allocated int64
}

// Coalesce copies every sector the child's sector bitmaps hold into its
// immediate parent (or, with CoalesceOptions.Into, every sector of the
// child and the links above it into that ancestor), so that the parent
// then reads as the child did. The parent may be a dynamic, fixed or
// differencing VHD, or, in compatible mode, a raw image. In compatible
// mode the child, the links and the parent may also be block devices (the
// logical volumes of an LVM-based SR): a parent on one keeps its footer at
// the device's end, and its new blocks must fit in front of it
// (vhd.ErrTooLarge otherwise). The child is never written, and the parent's
// UUID, hidden flag, virtual size and footer stay as they were; no other
// file is created.
//
// Before anything is written, every file must pass [vhd.Check], and no
// child may be larger than its parent (ErrLargerThanParent). The parent is
// locked with flock for the whole call (ErrLocked).
//
// The writes are ordered so that a crash or an error at any point leaves a
// parent that opens and passes vhd.Check, each of whose sectors reads
// either as before or as the child's; calling Coalesce again finishes the
// job and gives the same bytes as an uninterrupted run. Coalesce returns
// only once the result is durable. The package documentation says what
// each crash point leaves. Cancelling ctx stops the copy with ctx's error
// and leaves the parent as a crash would.
//
// Coalescing changes what every other child of the parent reads: a
// snapshot taken from the parent sees the child's writes afterwards. See
// [Children] to find them first.
func Coalesce(ctx context.Context, child string, opts *CoalesceOptions) (*CoalesceResult, error) {
	return coalesce(ctx, child, opts, coalesceHooks{})
}

// coalesceHooks let tests write the parent through a fault-injecting file
// and use small batches.
type coalesceHooks struct {
	wrap   func(*os.File) targetFile // nil: the file itself
	batch  int64                     // bytes between syncs; 0: batchBytes
	noDir  bool                      // do not sync the parent's directory
	device bool                      // write the parent as a block device is written
}

// coalesce is Coalesce with hooks.
func coalesce(ctx context.Context, child string, opts *CoalesceOptions, hooks coalesceHooks) (*CoalesceResult, error) {
	if opts == nil {
		opts = &CoalesceOptions{}
	}
	o := &Options{Root: opts.Root, Mode: opts.Mode, MaxDepth: opts.MaxDepth, Logger: opts.Logger}
	res, err := o.resolver()
	if err != nil {
		return nil, err
	}
	log := o.logger()
	plan, err := openCoalesce(ctx, res, child, opts.Into, o.maxDepth())
	if err != nil {
		return nil, err
	}
	defer plan.close()
	t := plan.target
	result := &CoalesceResult{Parent: t.path, RawParent: t.vf == nil}
	for _, l := range plan.links {
		result.Links = append(result.Links, l.path)
	}
	if err := lockFile(t.fd, t.path); err != nil {
		return nil, err
	}
	if err := plan.check(ctx); err != nil {
		return nil, err
	}
	var tf targetFile = osTarget{t.fd}
	if hooks.wrap != nil {
		tf = hooks.wrap(t.fd)
	}
	tgt, err := newTarget(tf, t.path, t.size, t.vf, opts.Sparse)
	if err != nil {
		return nil, fmt.Errorf("chain: coalesce: %s: %w", t.path, err)
	}
	tgt.device = t.device || hooks.device
	src := &source{unit: 2 << 20, vsize: t.vsize}
	if tgt.dyn != nil {
		src.unit = tgt.dyn.bs
	}
	for _, l := range plan.links {
		sl, err := newSrcLink(l.path, l.vf, l.fd)
		if err != nil {
			return nil, err
		}
		src.links = append(src.links, sl)
	}
	par := opts.Concurrency
	if par <= 0 {
		par = max(2, runtime.NumCPU())
	}
	c := &copier{src: src, t: tgt, parallel: par, batch: hooks.batch, syncDir: func() error { return syncDir(t.path) }}
	if c.batch <= 0 {
		c.batch = batchBytes
	}
	if hooks.noDir {
		c.syncDir = nil
	}
	if err := c.plan(ctx); err != nil {
		return nil, err
	}
	result.Sectors = c.sectors
	result.Logical = c.sectors * vhd.SectorSize
	result.Allocated = int64(len(c.place))
	log.Debug("coalesce plan", "parent", t.path, "links", len(plan.links), "blocks", len(c.chunks),
		"sectors", c.sectors, "allocate", len(c.place), "sparse", opts.Sparse)
	if opts.Progress != nil {
		total := result.Logical
		c.progress = func(done int64) {
			opts.Progress(Progress{Phase: PhaseCoalesce, Name: t.path, Done: done, Total: total})
		}
		c.progress(0)
	}
	if err := c.run(ctx); err != nil {
		return nil, fmt.Errorf("chain: coalesce into %s: %w", t.path, err)
	}
	return result, nil
}

// run prepares the target and copies.
func (c *copier) run(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := c.prepare(); err != nil {
		return err
	}
	return c.copy(ctx)
}

// osTarget is the *os.File a coalesce writes.
type osTarget struct{ *os.File }

// coalescePlan holds the files of one coalesce, open.
type coalescePlan struct {
	res    *Resolver
	links  []openLink // the sources, child first
	target openTarget
}

type openLink struct {
	path string
	vf   *vhd.File
	fd   *os.File
}

type openTarget struct {
	path   string
	fd     *os.File
	vf     *vhd.File // nil for a raw image
	size   int64     // file size (a block device's: where seeking to its end lands)
	vsize  int64     // virtual size
	device bool      // a block device, in Compat mode: its footer stays at its end
}

func (p *coalescePlan) close() {
	for _, l := range p.links {
		l.vf.Close()
		l.fd.Close()
	}
	if p.target.fd != nil {
		p.target.fd.Close()
	}
}

// openCoalesce opens the child, the links up to the target, and the
// target, checking sizes and the chain's shape.
func openCoalesce(ctx context.Context, res *Resolver, child, into string, maxDepth int) (_ *coalescePlan, err error) {
	p := &coalescePlan{res: res}
	defer func() {
		if err != nil {
			p.close()
		}
	}()
	var intoID os.FileInfo
	if into != "" {
		if intoID, err = os.Stat(into); err != nil {
			return nil, fmt.Errorf("chain: coalesce into %s: %w", into, err)
		}
	}
	path, openPath := child, child
	if res.mode == Confined {
		if openPath, err = res.confine(child); err != nil {
			return nil, &WalkError{Path: child, Err: err}
		}
	}
	var ids []os.FileInfo
	for depth := 0; ; depth++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		l, st, err := openLinkAt(res, path, openPath)
		if err != nil {
			return nil, &WalkError{Path: path, Depth: depth, Err: err}
		}
		p.links = append(p.links, l)
		ids = append(ids, st)
		f := l.vf
		if !f.HasParent() {
			if depth == 0 {
				return nil, fmt.Errorf("chain: coalesce %s: %w", path, vhd.ErrNotDifferencing)
			}
			return nil, fmt.Errorf("chain: coalesce %s: %s is a base, not below it: %w", child, into, ErrNotAncestor)
		}
		raw := f.ParentUUID().IsZero()
		if raw && res.mode != Compat {
			return nil, &WalkError{Path: path, Depth: depth,
				Err: fmt.Errorf("raw parent (null parent UUID) not allowed in confined mode: %w", ErrDifferencingBase)}
		}
		parent, _, err := res.parent(openPath, f)
		if err != nil {
			if le := (*LocatorError)(nil); errors.As(err, &le) {
				le.Child = path
			}
			return nil, err
		}
		pst, err := os.Stat(parent)
		if err != nil {
			return nil, &WalkError{Path: path, Depth: depth, Parent: parent, Err: err}
		}
		for i, id := range ids {
			if os.SameFile(id, pst) {
				return nil, &WalkError{Path: path, Depth: depth, Parent: parent,
					Err: fmt.Errorf("%w: parent is link %d (%s)", ErrCycle, i, p.links[i].path)}
			}
		}
		if into == "" || os.SameFile(intoID, pst) {
			t, err := openTargetAt(res, parent, raw)
			if err != nil {
				return nil, err
			}
			p.target = t
			break
		}
		if raw {
			return nil, fmt.Errorf("chain: coalesce %s into %s: the chain ends in the raw image %s: %w", child, into, parent, ErrNotAncestor)
		}
		if depth+2 >= maxDepth {
			return nil, &WalkError{Path: path, Depth: depth, Parent: parent,
				Err: fmt.Errorf("%w: more than %d links", ErrTooDeep, maxDepth)}
		}
		path, openPath = parent, parent
	}
	// Every child no larger than its parent.
	for i, l := range p.links {
		pv, pname := p.target.vsize, p.target.path
		if i+1 < len(p.links) {
			pv, pname = p.links[i+1].vf.VirtualSize(), p.links[i+1].path
		}
		if cv := l.vf.VirtualSize(); cv > pv {
			return nil, fmt.Errorf("chain: coalesce %s (virtual size %d) into %s (virtual size %d): %w",
				l.path, cv, pname, pv, ErrLargerThanParent)
		}
	}
	return p, nil
}

// openLinkAt opens a source link as a VHD and for raw reads, checking both
// are the same file.
func openLinkAt(res *Resolver, path, openPath string) (openLink, os.FileInfo, error) {
	st, err := os.Stat(openPath)
	if err != nil {
		return openLink{}, nil, err
	}
	var vf *vhd.File
	if res.mode == Compat {
		vf, err = vhd.OpenBlockDevice(openPath, os.O_RDONLY)
	} else {
		vf, err = res.openReal(openPath)
	}
	if err != nil {
		return openLink{}, nil, err
	}
	fd, err := res.openRaw(openPath)
	if err != nil {
		vf.Close()
		return openLink{}, nil, err
	}
	if fst, err := fd.Stat(); err != nil || !os.SameFile(fst, st) {
		vf.Close()
		fd.Close()
		return openLink{}, nil, fmt.Errorf("chain: %s changed while it was opened", path)
	}
	return openLink{path: path, vf: vf, fd: fd}, st, nil
}

// openTargetAt opens the file a coalesce writes, read-write: a VHD, or with
// raw a raw image. It must be a regular file or, in Compat mode, a block
// device (the logical volume of an LVM-based SR), as the resolver opens.
func openTargetAt(res *Resolver, path string, raw bool) (openTarget, error) {
	real := path
	if res.mode == Confined {
		var err error
		if real, err = res.confine(path); err != nil {
			return openTarget{}, fmt.Errorf("chain: coalesce: open %w", err)
		}
	}
	fd, err := os.OpenFile(real, os.O_RDWR, 0)
	if err != nil {
		return openTarget{}, err
	}
	t := openTarget{path: path, fd: fd}
	st, err := fd.Stat()
	if err != nil {
		fd.Close()
		return openTarget{}, err
	}
	t.device = res.mode == Compat && st.Mode()&fs.ModeDevice != 0 && st.Mode()&fs.ModeCharDevice == 0
	if !st.Mode().IsRegular() && !t.device {
		fd.Close()
		return openTarget{}, fmt.Errorf("chain: coalesce into %s: %w", path, &fs.PathError{Op: "open", Path: path, Err: syscall.EINVAL})
	}
	if res.mode == Confined {
		if err := res.sameInRoot(real); err != nil {
			fd.Close()
			return openTarget{}, err
		}
	}
	t.size = st.Size()
	if t.device {
		if t.size, err = fd.Seek(0, io.SeekEnd); err != nil {
			fd.Close()
			return openTarget{}, err
		}
	}
	if raw {
		t.vsize = t.size
		return t, nil
	}
	vf, err := vhd.New(fd, t.size)
	if err != nil {
		fd.Close()
		return openTarget{}, fmt.Errorf("chain: coalesce: open %s: %w", path, err)
	}
	if vf.Footer.Disabled() {
		fd.Close()
		return openTarget{}, fmt.Errorf("chain: coalesce into %s: %w", path, vhd.ErrDisabled)
	}
	t.vf, t.vsize = vf, vf.VirtualSize()
	return t, nil
}

// check runs the full vhd.Check on every file before anything is written,
// the parent rules included (locators resolve, parent UUIDs agree).
func (p *coalescePlan) check(ctx context.Context) error {
	for _, l := range p.links {
		if _, err := vhd.Check(ctx, l.fd, l.vf.FileSize(), &vhd.CheckOptions{Name: l.path, Parents: p.res}); err != nil {
			return err
		}
	}
	if t := p.target; t.vf != nil {
		if _, err := vhd.Check(ctx, t.fd, t.size, &vhd.CheckOptions{Name: t.path, Parents: p.res}); err != nil {
			return err
		}
	}
	return nil
}

func dirOf(path string) string { return filepath.Dir(path) }
