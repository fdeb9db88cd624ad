package chain

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/vhdkit/vhdkit/vhd"
)

// Validate walks the chain that ends in leaf (see [Walk]) and checks every
// link, reporting all problems of all links together in a
// *ValidationError, each naming its file:
//
//   - every link passes [vhd.CheckFile], with the chain's Resolver for its
//     parent rules (so in confined mode every MacX, W2ku and W2ru locator
//     of every link, not only the one that resolved first, must stay in the
//     root) and CheckOptions.Compat set in compatible mode; a link whose
//     check could not run every rule is a problem matching vhd.ErrIncomplete;
//   - every child's header parent UUID equals its parent's footer UUID
//     ([UUIDMismatchError]), unless Options.IgnoreParentUUID is set or the
//     parent is raw;
//   - in confined mode only: no MacX, W2ku or W2ru locator of any link
//     leads out of the root (a *LocatorError wrapping [ErrOutsideRoot] per
//     slot, besides the checker's own problem); the leaf is not hidden
//     ([ErrHiddenLeaf]) unless Options.AllowHiddenLeaf is set; no child is
//     smaller than its parent ([ErrSmallerThanParent]); every dynamic or
//     differencing link has 2 MiB blocks ([ErrBlockSize]); no fixed disk
//     claims a larger virtual size than its file holds ([FixedSizeError]);
//     no two links have the same footer UUID ([DuplicateUUIDError]; a null
//     UUID is the checker's problem, never a duplicate).
//
// A walk that fails adds its error as the problem of the link where it
// stopped, after the problems of the links before it. On success Validate
// returns the open chain (with a link open for writing if
// Options.Writable is set); on any error it returns nil and closes it. A
// context error is returned as is; any other error of the checker (a file
// that cannot be read, say) is a problem of its link.
func Validate(ctx context.Context, leaf string, opts *Options) (*Chain, error) {
	if opts == nil {
		opts = &Options{}
	}
	c, werr := walk(ctx, leaf, opts)
	if c == nil {
		return nil, werr
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		c.Close()
		return nil, ctxErr
	}
	probs, err := c.validate(ctx, opts)
	if err != nil {
		c.Close()
		return nil, err
	}
	if werr != nil {
		path := leaf
		var we *WalkError
		var le *LocatorError
		switch {
		case errors.As(werr, &we):
			path = we.Path
		case errors.As(werr, &le) && le.Child != "":
			path = le.Child
		case len(c.Links) > 0:
			path = c.Links[len(c.Links)-1].Path
		}
		// Confined mode names each locator leaving the root already.
		dup := false
		for _, p := range probs {
			dup = dup || p.Err.Error() == werr.Error()
		}
		if !dup {
			probs = append(probs, LinkProblem{Path: path, Err: werr})
		}
	}
	if len(probs) > 0 {
		c.Close()
		return nil, &ValidationError{Problems: probs}
	}
	return c, nil
}

// validate checks the links the chain holds. It returns the problems, or an
// error that stopped the checks.
func (c *Chain) validate(ctx context.Context, o *Options) ([]LinkProblem, error) {
	log := o.logger()
	compat := c.resolver.mode == Compat
	var probs []LinkProblem
	add := func(path string, err error) {
		log.Debug("chain problem", "path", path, "err", err)
		probs = append(probs, LinkProblem{Path: path, Err: err})
	}
	checkErrs := c.checkAll(ctx, o)
	for i, l := range c.Links {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		f := l.File
		if err := checkErrs[i]; err != nil {
			var ce *vhd.CheckError
			if !errors.As(err, &ce) && ctx.Err() != nil {
				return nil, ctx.Err()
			}
			add(l.Path, err)
		}
		if i+1 < len(c.Links) && !o.IgnoreParentUUID {
			p := c.Links[i+1]
			if want, got := f.ParentUUID(), p.File.Footer.UUID; !want.IsZero() && want != got {
				add(l.Path, &UUIDMismatchError{Child: l.Path, Parent: p.Path, Want: want, Got: got})
			}
		}
		if compat {
			continue
		}
		// vhd.Check reports a locator the resolver refuses as one it cannot
		// resolve; name the ones that leave the root with a typed error.
		// (A link that passed the check has none.)
		if f.HasParent() && checkErrs[i] != nil {
			for _, loc := range f.ParentLocators() {
				if _, err := c.resolver.Resolve(f, loc); errors.Is(err, ErrOutsideRoot) {
					add(l.Path, err)
				}
			}
		}
		if i == 0 && !o.AllowHiddenLeaf {
			if h, err := f.Hidden(); err != nil {
				add(l.Path, err)
			} else if h != 0 {
				add(l.Path, fmt.Errorf("%w: %s has hidden flag %d", ErrHiddenLeaf, l.Path, h))
			}
		}
		if i+1 < len(c.Links) {
			p := c.Links[i+1]
			if cs, ps := f.VirtualSize(), p.File.VirtualSize(); cs < ps {
				add(l.Path, fmt.Errorf("%w: %s is %d bytes, its parent %s %d bytes", ErrSmallerThanParent, l.Path, cs, p.Path, ps))
			}
		}
		if bs := f.BlockSize(); bs != 0 && bs != vhd.DefaultBlockSize {
			add(l.Path, fmt.Errorf("%w: %s has %d-byte blocks", ErrBlockSize, l.Path, bs))
		}
		if err := fixedSize(l); err != nil {
			add(l.Path, err)
		}
		if id := f.Footer.UUID; !id.IsZero() {
			for j := range i {
				if c.Links[j].File.Footer.UUID == id {
					add(l.Path, &DuplicateUUIDError{UUID: id, Paths: [2]string{c.Links[j].Path, l.Path}})
				}
			}
		}
	}
	return probs, nil
}

// checkAll runs vhd.CheckFile on every link, on as many goroutines as there
// are processors, and returns each link's error.
func (c *Chain) checkAll(ctx context.Context, o *Options) []error {
	errs := make([]error, len(c.Links))
	opts := vhd.CheckOptions{
		// Validate compares parent UUIDs itself, with a typed error.
		IgnoreParentUUID: true,
		Now:              o.Now,
		Parents:          newMemoResolver(c.resolver),
		Compat:           c.resolver.mode == Compat,
		BlockDevice:      c.resolver.mode == Compat,
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(c.Links)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(c.Links) || ctx.Err() != nil {
					return
				}
				o := opts
				_, errs[i] = vhd.CheckFile(ctx, c.Links[i].Path, &o)
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		for i := range errs {
			if errs[i] == nil {
				errs[i] = err
			}
		}
	}
	return errs
}

// fixedSize refuses a fixed disk whose footer claims more virtual disk than
// the file holds before its footer: reading the disk would end in a short
// read, and an importer would take the claim as the disk's size.
func fixedSize(l Link) error {
	f := l.File
	if f.DiskType() != vhd.DiskFixed {
		return nil
	}
	footer := int64(vhd.FooterSize)
	if f.FooterSource() == vhd.FooterShort {
		footer--
	}
	data := max(f.FileSize()-footer, 0)
	if f.Footer.CurrentSize <= uint64(data) {
		return nil
	}
	return &FixedSizeError{Path: l.Path, VirtualSize: f.Footer.CurrentSize, FileSize: f.FileSize()}
}
