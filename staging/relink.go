//go:build linux

package staging

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/vhdkit/vhdkit/vhd"
)

// relink gives each staged child its successor in the sequence as parent
// (chain.Relink works from the base up), ignoring the locators the image
// came with; with HideInterior it then hides every interior VHD. Finally every
// staged file and the extraction directory are synced. It runs only after
// check has passed every file.
func (im *importer) relink(ctx context.Context) error {
	n := len(im.staged)
	im.phase(PhaseRelink, "")
	if n > 1 {
		paths := make([]string, n)
		for k := range n {
			paths[k] = im.stagedPath(k)
		}
		if err := im.ops.Checkpoint("relink"); err != nil {
			return newErr("relink", im.source(0), err)
		}
		if err := relink(ctx, im.a.x, paths, im.o.MaxDepth); err != nil {
			return newErr("relink", im.source(0), fmt.Errorf("%w: %w", ErrInvalidChain, err))
		}
		if err := im.ops.Checkpoint("relinked"); err != nil {
			return newErr("relink", im.source(0), err)
		}
	}
	if im.o.HideInterior {
		for k := 1; k < n; k++ {
			if err := setHidden(im.stagedPath(k)); err != nil {
				return newErr("hide", im.source(k), err)
			}
			im.res.VDIs[k].Hidden = true
		}
	}
	if im.sync {
		for k := range n {
			if err := im.ops.Sync(im.stagedPath(k)); err != nil {
				return newErr("sync", im.source(k), err)
			}
		}
		if err := im.ops.Sync(im.a.x); err != nil {
			return newErr("sync", "", err)
		}
	}
	for k := range n {
		if fi, err := os.Lstat(im.stagedPath(k)); err == nil {
			im.res.VDIs[k].FileSize = fi.Size()
		}
	}
	return nil
}

func setHidden(path string) error {
	f, err := vhd.OpenFile(path, os.O_RDWR)
	if err != nil {
		return err
	}
	if h, err := f.Hidden(); err == nil && h == 1 {
		return f.Close()
	}
	err = f.SetHidden(1)
	return errors.Join(err, f.Close())
}

// validate checks the staged chain in confined mode, inside the extraction
// directory: every link passes, the chain is exactly the sequence (the
// parent of k is k+1, by device and inode), the base is fixed or dynamic,
// the leaf is not hidden and blocks are 2 MiB.
func (im *importer) validate(ctx context.Context) error {
	im.phase(PhaseValidate, "")
	leaf := im.stagedPath(0)
	c, err := validateChain(ctx, leaf, im.a.x, im.o.MaxDepth)
	if c != nil {
		defer c.Close()
	}
	if err != nil {
		return newErr("validate", im.source(0), fmt.Errorf("%w: %w", ErrInvalidChain, err))
	}
	if len(c.Links) != len(im.staged) {
		return newErr("validate", im.source(0), fmt.Errorf("%w: chain has %d links, the image %d VHDs", ErrInvalidChain, len(c.Links), len(im.staged)))
	}
	for k, l := range c.Links {
		id, _, err := lstatID(l.Path)
		if err != nil {
			return newErr("validate", im.source(k), err)
		}
		if id != im.ids[k] {
			return newErr("validate", im.source(k), fmt.Errorf("%w: link %d is not %s", ErrInvalidChain, k, im.source(k)))
		}
	}
	return nil
}
