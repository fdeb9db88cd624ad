package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/google/uuid"
	"github.com/vhdkit/vhdkit/vhd"
)

// compatResolver resolves parent locators as vhd-util does: an absolute
// locator is used as written when it is readable, anything else is taken
// relative to the child's real directory, and the answer is canonical.
// It is a stand-in for the chain package's compatibility resolver.
type compatResolver struct{}

func newResolver() vhd.ParentOpener { return compatResolver{} }

func (compatResolver) Resolve(child *vhd.File, loc vhd.Locator) (string, error) {
	if loc.Err != nil {
		return "", loc.Err
	}
	name := loc.Path
	if strings.HasPrefix(name, "/") && readable(name) {
		return name, nil
	}
	real, err := canonPath(child.Name())
	if err != nil {
		return "", err
	}
	cand := filepath.Dir(real) + "/" + name
	if err := access(cand); err != nil {
		return "", err
	}
	return canonPath(cand)
}

func (compatResolver) Open(path string) (*vhd.File, error) { return vhd.Open(path) }

func readable(p string) bool { return access(p) == nil }

// access stands in for access(R_OK): the file exists and opens for reading.
func access(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	return f.Close()
}

func canonPath(p string) (string, error) {
	r, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", err
	}
	return filepath.Abs(r)
}

// parentPath returns the path of f's parent as vhd-util resolves it: the
// first MacX, W2ku or W2ru slot that decodes and resolves wins; otherwise
// the last resolve error, or EINVAL when no slot decoded.
func parentPath(f *vhd.File, r vhd.ParentOpener) (string, error) {
	if !f.HasParent() {
		return "", vhd.ErrNotDifferencing
	}
	var last error
	for _, loc := range f.ParentLocators() {
		if loc.Err != nil {
			continue
		}
		p, err := r.Resolve(f, loc)
		if err == nil {
			return p, nil
		}
		last = err
	}
	if last == nil {
		last = fmt.Errorf("no parent locator of %s decodes: %w", f.Name(), vhd.ErrLocator)
	}
	return "", last
}

// rawLocator returns the decoded string of f's first parent locator that
// decodes, without resolving it (query -u).
func rawLocator(f *vhd.File) (string, error) {
	for _, loc := range f.ParentLocators() {
		if loc.Err == nil {
			return loc.Path, nil
		}
	}
	return "", fmt.Errorf("no parent locator of %s decodes: %w", f.Name(), vhd.ErrLocator)
}

// maxDepth bounds the walks of query -d and check -p, so that a cycle of
// parents ends with ELOOP instead of running forever.
const maxDepth = 4096

// errLoop reports a parent chain longer than maxDepth, a cycle in practice.
var errLoop = &fs.PathError{Op: "walk", Path: "parent chain", Err: syscall.ELOOP}

// chainDepth counts f and every ancestor as vhd-util query -d does: one
// per VHD, and one more for a raw parent (a differencing disk whose parent
// UUID is null), which is not opened.
func chainDepth(f *vhd.File, r vhd.ParentOpener) (int, error) {
	depth := 0
	cur := f
	defer func() {
		if cur != f {
			cur.Close()
		}
	}()
	for {
		depth++
		if !cur.HasParent() {
			return depth, nil
		}
		if cur.ParentUUID() == uuid.Nil {
			return depth + 1, nil
		}
		if depth >= maxDepth {
			return 0, errLoop
		}
		p, err := parentPath(cur, r)
		if err != nil {
			return 0, err
		}
		next, err := r.Open(p)
		if err != nil {
			return 0, err
		}
		if cur != f {
			cur.Close()
		}
		cur = next
	}
}
