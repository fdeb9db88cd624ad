package chain

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/vhdkit/vhdkit/vhd"
)

// DefaultMaxDepth is the chain length allowed when Options.MaxDepth is 0:
// XenServer's storage manager refuses chains of more than 30 VHDs.
const DefaultMaxDepth = 30

// Options configure [Walk], [Validate] and [Relink]. The zero value is
// confined mode without a root, which is refused: set Root, or Mode to
// Compat.
type Options struct {
	// Root is the directory a confined chain must stay inside. Required
	// unless Mode is Compat, where it is ignored.
	Root string
	// Mode is Confined (the default) or Compat.
	Mode Mode
	// MaxDepth is the largest number of links a chain may have, leaf and
	// base included; 0 means DefaultMaxDepth. Longer chains fail with
	// ErrTooDeep.
	MaxDepth int
	// IgnoreParentUUID skips Validate's rule that a child's header parent
	// UUID equals its parent's footer UUID (vhd-util check -I).
	IgnoreParentUUID bool
	// Now is Validate's clock for the "time in future" rules; nil means
	// time.Now.
	Now func() time.Time
	// Logger receives debug messages about each link; nil is silent.
	Logger *slog.Logger

	// Writable opens the link at depth WriteDepth for reading and writing
	// (the leaf when WriteDepth is 0); every other link is opened read-only.
	// The written link reads the sectors it does not hold through its
	// parents, so its partial-sector writes merge with their data, and the
	// links nearer the leaf, [Chain.ReaderAt] and [Chain.WriteRaw] see its
	// writes. [Chain.Close] syncs it. Without Writable every link is
	// read-only.
	Writable bool
	// WriteDepth is the depth of the link Writable opens for writing: 0 for
	// the leaf, 1 for its parent, and so on. A chain with fewer links fails
	// with ErrWriteDepth.
	WriteDepth int
	// AllowHiddenLeaf lets Validate accept a hidden leaf in confined mode,
	// for a walk that starts at an interior node (a coalesce, say) rather
	// than at a leaf being imported. Walk never looks at the flag.
	AllowHiddenLeaf bool
}

func (o *Options) resolver() (*Resolver, error) {
	if o.Mode == Compat {
		return CompatResolver(), nil
	}
	if o.Mode != Confined {
		return nil, fmt.Errorf("chain: unknown mode %v", o.Mode)
	}
	return NewResolver(o.Root)
}

func (o *Options) maxDepth() int {
	if o.MaxDepth <= 0 {
		return DefaultMaxDepth
	}
	return o.MaxDepth
}

func (o *Options) logger() *slog.Logger {
	if o.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Logger
}

// A Link is one VHD of a chain.
type Link struct {
	// Path is the file's path: the leaf's as given to Walk, and each
	// parent's as its child's locator resolved (absolute and free of
	// symbolic links in confined mode, what vhd-util query -p prints in
	// compatible mode).
	Path string
	// File is the open VHD. Every link but the base has its parent link
	// attached (vhd.File.AttachParent), so File.ReadAt reads through.
	File *vhd.File
	// Depth is the link's distance from the leaf: 0 for the leaf.
	Depth int
	// Locator is the child's locator that led to this link; zero for the leaf.
	Locator vhd.Locator
}

// A Chain is an open chain of VHDs from a leaf to its base. Close it when
// done.
type Chain struct {
	// Links holds the leaf first and the base last.
	Links []Link
	// RawParent is, in compatible mode only, the resolved path of the raw
	// image a base differencing disk with a null parent UUID points to;
	// read-through takes the base's missing sectors from it. "" otherwise.
	RawParent string
	// RawParentErr is, in compatible mode only, why the raw parent of such
	// a base could not be resolved or opened. The walk still succeeds, as
	// vhd-util counts a raw parent without opening it; reading a sector
	// only the raw parent would hold fails with this error.
	RawParentErr error

	resolver *Resolver
	write    int           // depth of the link open for writing, or -1
	ids      []os.FileInfo // identity of each link, for cycle checks and raw opens
	opened   []string      // the path each link was opened by (real in confined mode)

	rawMu   sync.Mutex
	raw     *os.File   // the raw parent, when RawParent is set
	rawOnce sync.Once  // opens the raw readers of the links
	rawErr  error      //
	rawFDs  []*os.File // one per link, for the read-through engine
	eng     *engine
}

// Leaf returns the leaf's File.
func (c *Chain) Leaf() *vhd.File { return c.Links[0].File }

// Base returns the base's File: the last link, a fixed or dynamic disk
// (or, in compatible mode, a differencing disk with a raw parent).
func (c *Chain) Base() *vhd.File { return c.Links[len(c.Links)-1].File }

// Paths returns the links' paths, leaf first.
func (c *Chain) Paths() []string {
	out := make([]string, len(c.Links))
	for i, l := range c.Links {
		out[i] = l.Path
	}
	return out
}

// Writable returns the link open for writing ([Options.Writable]), or nil
// when every link is read-only.
func (c *Chain) Writable() *Link {
	if c.write < 0 || c.write >= len(c.Links) {
		return nil
	}
	return &c.Links[c.write]
}

// Sync commits the writes of the link open for writing to stable storage.
// It does nothing when every link is read-only.
func (c *Chain) Sync() error {
	if l := c.Writable(); l != nil {
		return l.File.Sync()
	}
	return nil
}

// Close syncs the link open for writing, if any, and closes every file of
// the chain. It is safe to call on a nil Chain.
func (c *Chain) Close() error {
	if c == nil {
		return nil
	}
	var errs []error
	for _, l := range c.Links {
		if l.File != nil {
			if err := l.File.Close(); err != nil && !errors.Is(err, vhd.ErrClosed) {
				errs = append(errs, err)
			}
		}
	}
	c.rawMu.Lock()
	for _, f := range c.rawFDs {
		if f != nil {
			errs = append(errs, f.Close())
		}
	}
	c.rawFDs = nil
	if c.raw != nil {
		errs = append(errs, c.raw.Close())
		c.raw = nil
	}
	c.rawMu.Unlock()
	return errors.Join(errs...)
}

// Walk opens the chain that ends in the VHD leaf, following each
// differencing disk's parent locators (see [Resolver]) to a fixed or
// dynamic base. It fails with a *WalkError or a *LocatorError naming the
// link, wrapping ErrMissingParent, ErrUndecodableLocator, ErrOutsideRoot,
// ErrCycle (a file met twice, by device and inode), ErrTooDeep (more than
// MaxDepth links) or ErrDifferencingBase. In confined mode the leaf itself
// must lie in Root, and a differencing disk with a raw parent (null parent
// UUID) is refused as a differencing base; in compatible mode it ends the
// walk and its parent becomes Chain.RawParent (or, when it cannot be
// resolved or opened, the reason becomes Chain.RawParentErr).
//
// Each link's File has the next link attached as its parent, so the leaf's
// File.ReadAt reads the whole chain; [Chain.ReaderAt] does the same faster.
// With [Options.Writable] one link is open for writing.
func Walk(ctx context.Context, leaf string, opts *Options) (*Chain, error) {
	if opts == nil {
		opts = &Options{}
	}
	c, err := walk(ctx, leaf, opts)
	if err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// walk walks the chain and returns the links opened so far, also on error.
func walk(ctx context.Context, leaf string, o *Options) (*Chain, error) {
	res, err := o.resolver()
	if err != nil {
		return nil, err
	}
	log := o.logger()
	c := &Chain{resolver: res, write: -1}
	max := o.maxDepth()
	if o.Writable {
		if o.WriteDepth < 0 || o.WriteDepth >= max {
			return c, &WalkError{Path: leaf, Err: fmt.Errorf("%w: depth %d, at most %d links", ErrWriteDepth, o.WriteDepth, max)}
		}
		c.write = o.WriteDepth
	}

	openPath := leaf
	if res.mode == Confined {
		real, err := res.confine(leaf)
		if err != nil {
			return c, &WalkError{Path: leaf, Err: err}
		}
		openPath = real
	}
	path := leaf
	var via vhd.Locator
	for depth := 0; ; depth++ {
		if err := ctx.Err(); err != nil {
			return c, err
		}
		st, err := os.Stat(openPath)
		if err != nil {
			return c, &WalkError{Path: path, Depth: depth, Err: err}
		}
		flag := os.O_RDONLY
		if depth == c.write {
			flag = os.O_RDWR
		}
		f, err := res.openLink(openPath, st, flag)
		if err != nil {
			return c, &WalkError{Path: path, Depth: depth, Err: err}
		}
		c.Links = append(c.Links, Link{Path: path, File: f, Depth: depth, Locator: via})
		c.ids = append(c.ids, st)
		c.opened = append(c.opened, openPath)
		if depth > 0 {
			if depth-1 == c.write {
				// The written link reads its parents through the engine.
				c.Links[depth-1].File.AttachParent(&chainReader{c: c, from: depth})
			} else {
				c.Links[depth-1].File.AttachParent(f)
			}
		}
		log.Debug("chain link", "path", path, "depth", depth, "type", f.DiskType(), "size", f.VirtualSize())
		if !f.HasParent() {
			return c, c.finishWritable()
		}
		if f.ParentUUID().IsZero() {
			if res.mode != Compat {
				return c, &WalkError{Path: path, Depth: depth,
					Err: fmt.Errorf("raw parent (null parent UUID) not allowed in confined mode: %w", ErrDifferencingBase)}
			}
			if err := c.openRawParent(res, path, openPath, f); err != nil {
				return c, err
			}
			return c, c.finishWritable()
		}
		parent, loc, err := res.parent(openPath, f)
		if err != nil {
			if errors.Is(err, ErrDifferencingBase) {
				return c, &WalkError{Path: path, Depth: depth, Err: err}
			}
			if le := (*LocatorError)(nil); errors.As(err, &le) {
				le.Child = path
			}
			return c, err
		}
		pst, err := os.Stat(parent)
		if err != nil {
			return c, &WalkError{Path: path, Depth: depth, Parent: parent, Err: err}
		}
		for i, id := range c.ids {
			if os.SameFile(id, pst) {
				return c, &WalkError{Path: path, Depth: depth, Parent: parent,
					Err: fmt.Errorf("%w: parent is link %d (%s)", ErrCycle, i, c.Links[i].Path)}
			}
		}
		if depth+1 >= max {
			return c, &WalkError{Path: path, Depth: depth, Parent: parent,
				Err: fmt.Errorf("%w: more than %d links", ErrTooDeep, max)}
		}
		path, openPath, via = parent, parent, loc
	}
}

// finishWritable refuses a walk that ended before the depth
// Options.WriteDepth asked to write.
//
// It also loads the read-through engine of a chain with a link open for
// writing: that link reads its parents through the engine from within its
// own writes, which must not be the first use.
func (c *Chain) finishWritable() error {
	if c.write < 0 {
		return nil
	}
	if c.write >= len(c.Links) {
		base := c.Links[len(c.Links)-1]
		return &WalkError{Path: base.Path, Depth: base.Depth,
			Err: fmt.Errorf("%w: depth %d, but the chain has %d links", ErrWriteDepth, c.write, len(c.Links))}
	}
	_, err := c.loadEngine()
	return err
}

// openRawParent resolves and opens the raw parent of the differencing disk
// f at path, opened as openPath (compatible mode only). Failures are
// recorded in RawParentErr.
func (c *Chain) openRawParent(res *Resolver, path, openPath string, f *vhd.File) error {
	p, _, err := res.parent(openPath, f)
	if err != nil {
		if le := (*LocatorError)(nil); errors.As(err, &le) {
			le.Child = path
		}
		c.RawParentErr = err
		return nil
	}
	r, err := res.openRaw(p)
	if err != nil {
		c.RawParentErr = &WalkError{Path: path, Depth: len(c.Links) - 1, Parent: p, Err: err}
		return nil
	}
	c.RawParent = p
	c.raw = r
	f.AttachParent(r)
	return nil
}

var _ io.Closer = (*Chain)(nil)
