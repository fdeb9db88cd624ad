package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/vhdkit/vhdkit/chain"
	"github.com/vhdkit/vhdkit/vhd"
)

// newResolver returns the parent resolver every command uses: vhd-util's,
// with no root (absolute locators are used as written when readable,
// relative ones are taken from the child's real directory).
func newResolver() *chain.Resolver { return chain.CompatResolver() }

// parentPath returns the path of f's parent as vhd-util resolves it: the
// first MacX, W2ku or W2ru slot that decodes and resolves wins.
func parentPath(f *vhd.File) (string, error) {
	p, _, err := newResolver().Parent(f)
	return p, err
}

// rawLocator returns the decoded string of f's first parent locator that
// decodes, without resolving it (query -u).
func rawLocator(f *vhd.File) (string, error) {
	for _, loc := range f.ParentLocators() {
		if loc.Err == nil {
			return loc.Path, nil
		}
	}
	return "", fmt.Errorf("%s: no parent locator decodes: %w", f.Name(), vhd.ErrLocator)
}

// maxDepth bounds the walks of query -d and check -p. vhd-util has no
// limit; a chain this long is a cycle in practice, which the chain package
// also detects by device and inode.
const maxDepth = 4096

// chainDepth counts the VHD at name and every ancestor as vhd-util query -d
// does: one per VHD, and one more for a raw parent (a differencing disk
// whose parent UUID is null).
func chainDepth(name string) (int, error) {
	c, err := chain.Walk(context.Background(), name, &chain.Options{Mode: chain.Compat, MaxDepth: maxDepth})
	if err != nil {
		return 0, err
	}
	defer c.Close()
	for _, l := range c.Links[1:] {
		if l.File.Footer.Disabled() {
			// vhd-util opens parents without IGNORE_DISABLED.
			return 0, fmt.Errorf("%s: %w", l.Path, vhd.ErrDisabled)
		}
	}
	depth := len(c.Links)
	if b := c.Base(); b.HasParent() && b.ParentUUID().IsZero() {
		depth++
	}
	return depth, nil
}

// depthErrno is the exit status of a failed chain walk: the failing link's
// open errno, as libvhd reports it.
func depthErrno(err error) int {
	var we *chain.WalkError
	if errors.As(err, &we) {
		if we.Parent != "" {
			return openErrno(we.Parent, err)
		}
		return openErrno(we.Path, err)
	}
	return errno(err)
}
