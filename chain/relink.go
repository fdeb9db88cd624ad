package chain

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/vhdkit/vhdkit/vhd"
)

// RelinkOptions configure [Relink].
type RelinkOptions struct {
	// Root is the directory every file must lie in (after evaluating
	// symbolic links). Required unless Mode is Compat.
	Root string
	// Mode is Confined (the default) or Compat.
	Mode Mode
	// MaxDepth is the largest number of files; 0 means DefaultMaxDepth.
	MaxDepth int
	// Logger receives a debug record per link, and vhd.File.SetParent's
	// records; nil is silent.
	Logger *slog.Logger
}

// Relink makes paths, leaf first, one chain: the parent of paths[i] becomes
// paths[i+1], through [vhd.File.SetParent], so that each child's header
// parent UUID, name and timestamp and its locators name its new parent.
// This is what an importer does after renaming the files of an image
// (0.vhd, 1.vhd, ... to their final names), whose locators still name the
// old ones. The last path is the base and is not written.
//
// Relink checks its input before writing anything: every file opens as a
// VHD (in confined mode inside Root), every file but the last is a
// differencing disk (vhd.ErrNotDifferencing), the last is not
// (ErrDifferencingBase), no file appears twice, by device and inode
// (ErrCycle), and there are at most MaxDepth files (ErrTooDeep). It then
// relinks from the base up: paths[n-2] first, the leaf last, so that
// after every step the files relinked so far form, with the base, a valid
// chain, and a child is never linked to a parent that has not been relinked
// itself. SetParent changes each child atomically (its old header or its
// new one, never a mix), so if a step fails the error, a *RelinkError,
// names the child that failed and lists the children already relinked; the
// child that failed and those nearer the leaf are unchanged. Finally Relink
// walks the chain from paths[0] and checks that it passes through exactly
// the given files.
func Relink(ctx context.Context, paths []string, opts *RelinkOptions) error {
	if opts == nil {
		opts = &RelinkOptions{}
	}
	o := &Options{Root: opts.Root, Mode: opts.Mode, MaxDepth: opts.MaxDepth, Logger: opts.Logger}
	res, err := o.resolver()
	if err != nil {
		return err
	}
	log := o.logger()
	if len(paths) == 0 {
		return errors.New("chain: relink: no files")
	}
	if len(paths) > o.maxDepth() {
		return &RelinkError{Index: o.maxDepth(), Child: paths[o.maxDepth()],
			Err: fmt.Errorf("%w: %d files, at most %d", ErrTooDeep, len(paths), o.maxDepth())}
	}

	// Check every input before writing anything.
	real := make([]string, len(paths))
	ids := make([]os.FileInfo, len(paths))
	for i, p := range paths {
		if err := ctx.Err(); err != nil {
			return err
		}
		refuse := func(err error) error { return &RelinkError{Index: i, Child: p, Err: err} }
		rp := p
		if res.mode == Confined {
			if rp, err = res.confine(p); err != nil {
				return refuse(err)
			}
		}
		real[i] = rp
		st, err := os.Stat(rp)
		if err == nil {
			err = res.openable(rp, st)
		}
		if err != nil {
			return refuse(err)
		}
		for j := range i {
			if os.SameFile(ids[j], st) {
				return refuse(fmt.Errorf("%w: same file as %s (index %d)", ErrCycle, paths[j], j))
			}
		}
		ids[i] = st
		f, err := vhd.Open(rp)
		if err != nil {
			return refuse(err)
		}
		diff := f.HasParent()
		f.Close()
		switch {
		case i < len(paths)-1 && !diff:
			return refuse(fmt.Errorf("%w: %s is a %v disk", vhd.ErrNotDifferencing, p, f.DiskType()))
		case i == len(paths)-1 && diff:
			return refuse(fmt.Errorf("%w: %s", ErrDifferencingBase, p))
		}
	}

	var done []string
	for i := len(paths) - 2; i >= 0; i-- {
		if err := ctx.Err(); err != nil {
			return &RelinkError{Index: i, Child: paths[i], Parent: paths[i+1], Relinked: done, Err: err}
		}
		fail := func(err error) error {
			return &RelinkError{Index: i, Child: paths[i], Parent: paths[i+1], Relinked: done, Err: err}
		}
		f, err := vhd.OpenFile(real[i], os.O_RDWR)
		if err != nil {
			return fail(err)
		}
		if st, err := os.Stat(real[i]); err != nil || !os.SameFile(st, ids[i]) {
			f.Close()
			return fail(fmt.Errorf("%s changed while relinking", paths[i]))
		}
		err = f.SetParent(ctx, real[i+1], &vhd.SetParentOptions{Logger: opts.Logger})
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fail(err)
		}
		log.Debug("relinked", "child", paths[i], "parent", paths[i+1])
		done = append(done, paths[i])
	}

	// The chain must now run through exactly these files.
	c, err := Walk(ctx, real[0], o)
	if err != nil {
		return &RelinkError{Index: 0, Child: paths[0], Relinked: done, Err: fmt.Errorf("relinked chain does not walk: %w", err)}
	}
	defer c.Close()
	if len(c.Links) != len(paths) {
		return &RelinkError{Index: 0, Child: paths[0], Relinked: done,
			Err: fmt.Errorf("relinked chain has %d links, want %d", len(c.Links), len(paths))}
	}
	for i := range c.Links {
		if !os.SameFile(c.ids[i], ids[i]) {
			return &RelinkError{Index: i, Child: paths[i], Relinked: done,
				Err: fmt.Errorf("relinked chain reaches %s at index %d", c.Links[i].Path, i)}
		}
	}
	return nil
}
