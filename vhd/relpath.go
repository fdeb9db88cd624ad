package vhd

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// RelativeLocatorPath returns the path blktap stores in the locators of a
// child at childPath for a parent at parentPath: the parent's path relative
// to the child's real (symlink-resolved) directory, "./name" for a parent
// beside the child, otherwise "../" components and the rest, with '/'
// separators. The child need not exist yet; its directory and the parent must.
func RelativeLocatorPath(childPath, parentPath string) (string, error) {
	childDir, err := filepath.EvalSymlinks(filepath.Dir(childPath))
	if err != nil {
		return "", err
	}
	childDir, err = filepath.Abs(childDir)
	if err != nil {
		return "", err
	}
	parent, err := filepath.EvalSymlinks(parentPath)
	if err != nil {
		return "", err
	}
	parent, err = filepath.Abs(parent)
	if err != nil {
		return "", err
	}
	rel, err := filepath.Rel(childDir, parent)
	if err != nil {
		return "", err
	}
	rel = filepath.ToSlash(rel)
	if !strings.HasPrefix(rel, "../") {
		rel = "./" + rel
	}
	if len(rel) > maxRelativePath {
		return "", fmt.Errorf("vhd: relative path of %d characters to %s exceeds %d: %w", len(rel), parentPath, maxRelativePath, ErrTooLarge)
	}
	return rel, nil
}

// maxRelativePath is blktap's limit on relative locator paths.
const maxRelativePath = 1000

// ParentInfoFor opens the VHD at parentPath and returns what a differencing
// disk at childPath records of it: its footer UUID, its modification time,
// its base name, its locator path relative to the child and its virtual
// size.
func ParentInfoFor(childPath, parentPath string) (*ParentInfo, error) {
	rel, err := RelativeLocatorPath(childPath, parentPath)
	if err != nil {
		return nil, err
	}
	p, err := Open(parentPath)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	st, err := os.Stat(parentPath)
	if err != nil {
		return nil, err
	}
	real, err := filepath.EvalSymlinks(parentPath)
	if err != nil {
		return nil, err
	}
	return &ParentInfo{
		UUID:    p.Footer.UUID,
		ModTime: st.ModTime(),
		Name:    filepath.Base(real),
		Path:    rel,
		Size:    p.VirtualSize(),
	}, nil
}
