package vhd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// ErrDepthExceeded is matched by a [DepthError].
var ErrDepthExceeded = errors.New("vhd: snapshot depth exceeded")

// A DepthError reports that a snapshot would make a chain deeper than
// SnapshotOptions.DepthLimit. Depth counts the parent and its ancestors, as
// vhd-util query -d does.
type DepthError struct {
	Depth int // the chain depth of the parent the child would get
	Limit int
}

// Error returns vhd-util's message for the condition.
func (e *DepthError) Error() string {
	return fmt.Sprintf("snapshot depth exceeded: current depth: %d, limit: %d", e.Depth, e.Limit)
}

// Is reports whether target is [ErrDepthExceeded].
func (e *DepthError) Is(target error) bool { return target == ErrDepthExceeded }

// maxSnapshotWalk bounds the parent walks of Snapshot against cycles.
const maxSnapshotWalk = 1024

// SnapshotOptions tune [Snapshot]. The zero value links the child to the
// given parent exactly, with no depth limit.
type SnapshotOptions struct {
	// SkipEmptyParents links the child past differencing parents that hold
	// no allocated block, to the first ancestor that holds data or is not a
	// differencing disk, as vhd-util snapshot does unless given -e. It
	// needs Parents.
	SkipEmptyParents bool
	// Parents resolves the ancestors of the parent, for SkipEmptyParents
	// and DepthLimit.
	Parents ParentOpener
	// DepthLimit, when positive, refuses a child whose parent's chain depth
	// plus one would exceed it (vhd-util -l), with a [*DepthError]. It needs
	// Parents when the parent is a differencing disk.
	DepthLimit int
	// Raw says the parent is a raw image: the child's size is the parent's
	// file size and its parent UUID is zero (vhd-util -m).
	Raw bool
	// Size, when nonzero, sizes the child's BAT and batmap for a disk of
	// that many bytes so it can be resized fast later (vhd-util -S, in
	// bytes). It may not be smaller than the parent's size.
	Size int64
	// UUID is the child's identity; zero means a random one.
	UUID UUID
	// Time is the child's creation time; zero means now.
	Time time.Time
	// Overwrite replaces an existing file at the child's path (never the
	// parent itself).
	Overwrite bool
}

// Snapshot creates a differencing disk at childPath whose parent is the VHD
// (or, with opts.Raw, the raw image) at parentPath, as vhd-util snapshot
// does, and returns it open for reading and writing. The child has blktap's
// layout and 2 MiB blocks, the parent's virtual size (a raw parent's file
// size), hidden 0, and records the parent's footer UUID, file modification
// time and base name, with MacX, W2ku and W2ru locators holding the
// parent's path relative to the child's directory. A VHD parent with a null
// UUID is refused with [ErrNullParentUUID]. The parent is only read, never
// written; a fixed VHD can be a parent, in a regular file or on a block
// device (the logical volume of an LVM-based SR). opts may be nil.
func Snapshot(childPath, parentPath string, opts *SnapshotOptions) (*File, error) {
	if opts == nil {
		opts = &SnapshotOptions{}
	}
	fail := func(field string, err error) error {
		return &ParentError{Op: "snapshot", File: childPath, Parent: parentPath, Field: field, Err: err}
	}
	if st, err := os.Stat(childPath); err == nil {
		if pst, err := os.Stat(parentPath); err == nil && os.SameFile(st, pst) {
			return nil, fail("parent", ErrSameFile)
		}
	}
	target, raw, err := snapshotTarget(parentPath, opts)
	if err != nil {
		return nil, fail("parent", err)
	}
	open := openNamedParent
	if target != parentPath {
		// A path decoded from a file is opened by the ParentOpener only.
		open = opts.Parents.Open
	}
	l, err := parentLink(context.Background(), childPath, target, raw, open)
	if err != nil {
		return nil, fail(l.field, err)
	}
	size := l.size
	if target != parentPath {
		// Skipped parents have the size of the one asked for.
		if size, err = snapshotSize(parentPath, opts.Raw); err != nil {
			return nil, fail("parent", err)
		}
	}
	if size%SectorSize != 0 {
		return nil, fail("parent size", fmt.Errorf("size %d is not a multiple of 512: %w", size, ErrFormat))
	}
	if opts.Size != 0 && opts.Size < size {
		return nil, fail("size", fmt.Errorf("requested size %d is smaller than the parent's %d: %w", opts.Size, size, ErrTooLarge))
	}
	if opts.DepthLimit > 0 {
		d, err := chainDepth(target, raw, open, opts.Parents, opts.DepthLimit)
		if err != nil {
			return nil, fail("chain depth", err)
		}
		if d+1 > opts.DepthLimit {
			return nil, &DepthError{Depth: d, Limit: opts.DepthLimit}
		}
	}
	f, err := Create(childPath, &CreateOptions{
		Type:         DiskDifferencing,
		Size:         size,
		MetadataSize: opts.Size,
		UUID:         opts.UUID,
		Time:         opts.Time,
		Overwrite:    opts.Overwrite,
		Parent: &ParentInfo{
			UUID:    l.uuid,
			ModTime: l.mtime,
			Name:    l.name,
			Path:    l.rel,
			Size:    size,
		},
	})
	if err != nil {
		return nil, fail("create", err)
	}
	if l.keyhash != nil {
		if err := f.setKeyhash(*l.keyhash); err != nil {
			f.Close()
			os.Remove(childPath)
			return nil, fail("keyhash", err)
		}
	}
	return f, nil
}

// setKeyhash stores kh in the batmap header of a new child, as vhd-util
// snapshot copies an encrypted parent's key hash.
func (f *File) setKeyhash(kh Keyhash) error {
	if err := f.prepare(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.batmap == nil {
		return ErrNoBatmap
	}
	f.batmap.Header.Keyhash = kh
	if err := f.writeBatmapHeader(); err != nil {
		return err
	}
	return f.Sync()
}

// snapshotSize returns the virtual size of the VHD at path, or the file
// size of a raw image.
func snapshotSize(path string, raw bool) (int64, error) {
	if raw {
		return fileSize(path)
	}
	p, err := Open(path)
	if err != nil {
		return 0, err
	}
	defer p.Close()
	return p.VirtualSize(), nil
}

// snapshotTarget returns the file the child is linked to: parentPath, or
// with SkipEmptyParents the first ancestor that is not an empty
// differencing disk, and whether that is a raw image.
func snapshotTarget(parentPath string, opts *SnapshotOptions) (string, bool, error) {
	if opts.Raw || !opts.SkipEmptyParents {
		return parentPath, opts.Raw, nil
	}
	path := parentPath
	p, err := openNamedParent(path)
	if err != nil {
		return "", false, err
	}
	for range maxSnapshotWalk {
		empty, err := emptyDiff(p)
		if err != nil || !empty {
			p.Close()
			return path, false, err
		}
		if opts.Parents == nil {
			p.Close()
			return "", false, fmt.Errorf("%s is an empty differencing disk and SnapshotOptions.Parents is nil", path)
		}
		next, err := resolveParent(p, opts.Parents)
		if err != nil {
			p.Close()
			return "", false, err
		}
		rawNext := p.ParentUUID().IsZero()
		p.Close()
		if rawNext {
			return next, true, nil
		}
		if p, err = opts.Parents.Open(next); err != nil {
			return "", false, err
		}
		path = next
	}
	p.Close()
	return "", false, fmt.Errorf("more than %d empty differencing disks above %s", maxSnapshotWalk, parentPath)
}

// emptyDiff reports whether f is a differencing disk without allocated blocks.
func emptyDiff(f *File) (bool, error) {
	if f.DiskType() != DiskDifferencing {
		return false, nil
	}
	n, err := f.AllocatedBlocks()
	return n == 0, err
}

// resolveParent returns the path of f's parent: the first locator that
// resolves, in slot order, as blktap tries them.
func resolveParent(f *File, po ParentOpener) (string, error) {
	var last error
	for _, loc := range f.ParentLocators() {
		if loc.Err != nil {
			last = loc.Err
			continue
		}
		p, err := po.Resolve(f, loc)
		if err == nil {
			return p, nil
		}
		last = err
	}
	if last == nil {
		last = fmt.Errorf("vhd: %s has no MacX, W2ku or W2ru locator: %w", f.Name(), ErrLocator)
	}
	return "", last
}

// chainDepth returns the depth of the chain starting at path as vhd-util
// query -d counts it: 1 for the file and 1 for each ancestor, a raw parent
// included. It stops counting past limit.
func chainDepth(path string, raw bool, open func(string) (*File, error), po ParentOpener, limit int) (int, error) {
	if raw {
		return 1, nil
	}
	p, err := open(path)
	if err != nil {
		return 0, err
	}
	depth := 1
	for p.DiskType() == DiskDifferencing && depth <= limit && depth <= maxSnapshotWalk {
		if po == nil {
			p.Close()
			return 0, fmt.Errorf("%s is a differencing disk and SnapshotOptions.Parents is nil", filepath.Base(path))
		}
		next, err := resolveParent(p, po)
		rawNext := p.ParentUUID().IsZero()
		p.Close()
		if err != nil {
			return 0, err
		}
		depth++
		if rawNext {
			return depth, nil
		}
		if p, err = po.Open(next); err != nil {
			return 0, err
		}
	}
	p.Close()
	return depth, nil
}
