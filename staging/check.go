//go:build linux

package staging

import (
	"context"
	"fmt"
	"strings"

	"github.com/vhdkit/vhdkit/chain"
	"github.com/vhdkit/vhdkit/vhd"
)

// check refuses, before anything is written to any staged file, an image
// whose files do not all pass vhd.Check with every rule, or that breaks the
// structural rules of a chain: the base is a fixed or dynamic disk and
// every other file a differencing disk, dynamic and differencing disks
// have 2 MiB blocks, the leaf is not hidden, no child is smaller than its
// parent. The parent rules of vhd.Check (the header's parent UUID against
// the parent's footer) are run against the next file of the sequence,
// whatever the image's own locators say: those name files on the host the
// image came from, and relinking replaces them.
//
// Relinking a file Check refuses could launder it (rewrite its header into
// one that passes) or make SetParent move blocks and zero locator space a
// crafted header claims, gigabytes of writes from a small archive; so
// nothing is relinked until everything passes.
func (im *importer) check(ctx context.Context) error {
	n := len(im.staged)
	files := make([]*vhd.File, n)
	defer func() {
		for _, f := range files {
			if f != nil {
				f.Close()
			}
		}
	}()
	invalid := func(k int, err error) error {
		return newErr("check", im.source(k), fmt.Errorf("%w: %w", ErrInvalidChain, err))
	}
	for k := range n {
		im.phase(PhaseCheck, im.source(k))
		f, err := vhd.Open(im.stagedPath(k))
		if err != nil {
			return invalid(k, err)
		}
		files[k] = f
		typ, bs := f.DiskType(), f.BlockSize()
		hidden, err := f.Hidden()
		if err != nil {
			return invalid(k, err)
		}
		im.res.VDIs[k].Type = typ
		im.res.VDIs[k].Hidden = hidden != 0
		switch {
		case k == n-1 && typ == vhd.DiskDifferencing:
			return invalid(k, fmt.Errorf("%w: %s, the last VHD of the image, has no parent in it", chain.ErrDifferencingBase, im.source(k)))
		case k < n-1 && typ != vhd.DiskDifferencing:
			return invalid(k, fmt.Errorf("%w: %s is a %v disk but %s follows it in the image", vhd.ErrNotDifferencing, im.source(k), typ, im.source(k+1)))
		case typ != vhd.DiskFixed && bs != vhd.DefaultBlockSize:
			return invalid(k, fmt.Errorf("%w: %d bytes; XenServer takes only 2 MiB (%d)", chain.ErrBlockSize, bs, vhd.DefaultBlockSize))
		case k == 0 && hidden != 0:
			return invalid(k, fmt.Errorf("%w: the SR's garbage collector would delete it", chain.ErrHiddenLeaf))
		}
	}
	for k := range n - 1 {
		if c, p := files[k].VirtualSize(), files[k+1].VirtualSize(); c < p {
			return invalid(k, fmt.Errorf("%w: %d bytes, its parent %s %d", chain.ErrSmallerThanParent, c, im.source(k+1), p))
		}
	}
	for k := range n {
		if err := ctx.Err(); err != nil {
			return newErr("check", im.source(k), err)
		}
		opts := &vhd.CheckOptions{Name: im.source(k)}
		if k < n-1 {
			opts.Parents = nextInSequence{path: im.stagedPath(k + 1)}
		}
		rep, err := files[k].Check(ctx, opts)
		if err != nil {
			if ctx.Err() != nil {
				return newErr("check", im.source(k), err)
			}
			return invalid(k, err)
		}
		if len(rep.NotRun) > 0 {
			return invalid(k, fmt.Errorf("vhd.Check could not run every rule: %s", strings.Join(rep.NotRun, "; ")))
		}
	}
	return nil
}

// nextInSequence is the vhd.ParentOpener of the check: every locator of a
// staged file resolves to the next file of the sequence.
type nextInSequence struct{ path string }

// Resolve returns the next file of the sequence, whatever loc says.
func (o nextInSequence) Resolve(*vhd.File, vhd.Locator) (string, error) { return o.path, nil }

// Open opens path read-only.
func (o nextInSequence) Open(path string) (*vhd.File, error) { return vhd.Open(path) }
