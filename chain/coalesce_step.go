package chain

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/vhdkit/vhdkit/vhd"
)

// Children returns, sorted, the paths of the VHDs in dir whose parent
// locators resolve to the file at path (compared by device and inode), as
// [Scan] resolves them with the resolver opts gives (nil opts: confined to
// dir). Files that are not VHDs, or whose parent does not resolve, are
// skipped. These are the files whose reads a coalesce into path changes,
// and, for a coalesced child, the files to relink to its parent.
func Children(ctx context.Context, dir, path string, opts *Options) ([]string, error) {
	if opts == nil {
		opts = &Options{Root: dir}
	}
	res, err := opts.resolver()
	if err != nil {
		return nil, err
	}
	target, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var paths []string
	for _, e := range ents {
		if e.Type().IsRegular() {
			paths = append(paths, filepath.Join(dir, e.Name()))
		}
	}
	found, err := Scan(ctx, paths, &ScanOptions{Resolver: res, Logger: opts.Logger})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, f := range found {
		if f.Err != nil || f.Parent == "" {
			continue
		}
		if st, err := os.Stat(f.Parent); err == nil && os.SameFile(st, target) {
			out = append(out, f.Path)
		}
	}
	slices.Sort(out)
	return out, nil
}

// StepResult describes a finished [CoalesceStep].
type StepResult struct {
	// Coalesce is the coalesce's result.
	Coalesce *CoalesceResult
	// Relinked are the child's children now linked to the parent.
	Relinked []string
	// Removed is the child's path, removed.
	Removed string
}

// CoalesceStep is the storage manager's whole step for a hidden child:
// [Coalesce] it into its parent, relink each of its children found in the
// child's directory ([Children]) to the parent with vhd.File.SetParent,
// then remove the child and sync the directory. Progress reports each
// phase (PhaseCoalesce, PhaseRelink, PhaseRemove).
//
// Every part can be redone, so after a crash or an error at any point
// calling CoalesceStep again with the same child finishes the step: the
// coalesce is redone (same bytes), the children not yet relinked are found
// and relinked, and the child is removed. A child that no longer exists
// gives an error wrapping fs.ErrNotExist: the step had finished. Children
// outside the child's directory are not looked for; CoalesceOptions.Into
// must be empty.
func CoalesceStep(ctx context.Context, child string, opts *CoalesceOptions) (*StepResult, error) {
	if opts == nil {
		opts = &CoalesceOptions{}
	}
	if opts.Into != "" {
		return nil, errors.New("chain: coalesce step: CoalesceOptions.Into is not supported")
	}
	if _, err := os.Lstat(child); err != nil {
		return nil, fmt.Errorf("chain: coalesce step: %w", err)
	}
	cr, err := Coalesce(ctx, child, opts)
	if err != nil {
		return nil, err
	}
	r := &StepResult{Coalesce: cr}
	o := &Options{Root: opts.Root, Mode: opts.Mode, Logger: opts.Logger}
	kids, err := Children(ctx, filepath.Dir(child), child, o)
	if err != nil {
		return r, fmt.Errorf("chain: coalesce step: children of %s: %w", child, err)
	}
	for i, k := range kids {
		if opts.Progress != nil {
			opts.Progress(Progress{Phase: PhaseRelink, Name: k, Done: int64(i), Total: int64(len(kids))})
		}
		if err := relinkTo(ctx, k, cr.Parent, cr.RawParent, opts); err != nil {
			return r, fmt.Errorf("chain: coalesce step: relink %s to %s: %w", k, cr.Parent, err)
		}
		r.Relinked = append(r.Relinked, k)
	}
	if opts.Progress != nil {
		opts.Progress(Progress{Phase: PhaseRemove, Name: child, Done: int64(len(kids)), Total: int64(len(kids))})
	}
	if err := os.Remove(child); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return r, fmt.Errorf("chain: coalesce step: %w", err)
	}
	if err := syncDir(child); err != nil {
		return r, fmt.Errorf("chain: coalesce step: sync directory of %s: %w", child, err)
	}
	r.Removed = child
	return r, nil
}

// relinkTo gives the differencing disk at path the parent at parent.
func relinkTo(ctx context.Context, path, parent string, raw bool, opts *CoalesceOptions) error {
	f, err := vhd.OpenFile(path, os.O_RDWR)
	if err != nil {
		return err
	}
	err = f.SetParent(ctx, parent, &vhd.SetParentOptions{Raw: raw, Logger: opts.Logger})
	return errors.Join(err, f.Close())
}
