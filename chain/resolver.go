package chain

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/vhdkit/vhdkit/vhd"
)

// Mode says how far a [Resolver] may follow parent locators.
type Mode int

// The two modes.
const (
	// Confined resolves locators only to files inside a root directory,
	// after evaluating symbolic links. It is the default.
	Confined Mode = iota
	// Compat resolves locators exactly as blktap's vhd-util does: absolute
	// paths are used as written when readable, and nothing confines them.
	Compat
)

// String returns "confined" or "compat".
func (m Mode) String() string {
	switch m {
	case Confined:
		return "confined"
	case Compat:
		return "compat"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// A Resolver finds the parent of a differencing disk from its parent
// locators, as blktap does: the MacX, W2ku and W2ru slots in index order,
// each decoded and taken relative to the child's real (symlink-resolved)
// directory, the first slot that decodes and resolves to a readable file
// winning. It implements [vhd.ParentOpener], so it is what [vhd.Check] is
// given for its parent rules.
//
// A confined Resolver ([NewResolver]) refuses every locator that leads out
// of its root, whether through "..", an absolute path or a symbolic link,
// with a *LocatorError wrapping [ErrOutsideRoot]; such a locator is an error
// even when a later slot would resolve. A compatible Resolver
// ([CompatResolver]) follows locators wherever they lead.
//
// A Resolver holds no open files and is safe for concurrent use.
type Resolver struct {
	mode Mode
	root string // absolute, symlinks evaluated; "" in Compat mode
}

var _ vhd.ParentOpener = (*Resolver)(nil)

// NewResolver returns a Resolver confined to the directory root.
func NewResolver(root string) (*Resolver, error) {
	if root == "" {
		return nil, ErrNoRoot
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("chain root %s: %w", root, err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return nil, fmt.Errorf("chain root %s: %w", root, err)
	}
	st, err := os.Stat(real)
	if err != nil {
		return nil, fmt.Errorf("chain root %s: %w", root, err)
	}
	if !st.IsDir() {
		return nil, &fs.PathError{Op: "open", Path: root, Err: fmt.Errorf("chain root is not a directory: %w", syscall.ENOTDIR)}
	}
	return &Resolver{mode: Confined, root: real}, nil
}

// CompatResolver returns a Resolver that behaves as vhd-util: no root,
// absolute locators used as written when readable.
func CompatResolver() *Resolver { return &Resolver{mode: Compat} }

// Mode returns the resolver's mode.
func (r *Resolver) Mode() Mode { return r.mode }

// Root returns the absolute, symlink-free root of a confined Resolver, or ""
// for a compatible one.
func (r *Resolver) Root() string { return r.root }

// Resolve returns the path of the file that locator loc of child points to,
// or a *LocatorError. child must have been opened by name ([vhd.Open]),
// since relative locators are resolved against its directory. In confined
// mode the path returned is absolute and free of symbolic links; in
// compatible mode it is what vhd-util prints for query -p.
func (r *Resolver) Resolve(child *vhd.File, loc vhd.Locator) (string, error) {
	if child.Name() == "" {
		return "", &LocatorError{Slot: loc.Slot, Code: loc.Entry.Code, Locator: loc.Path,
			Err: ErrMissingParent, Cause: errors.New("child has no file name to resolve against")}
	}
	dir, err := realDir(child.Name())
	if err != nil {
		return "", &LocatorError{Child: child.Name(), Slot: loc.Slot, Code: loc.Entry.Code, Locator: loc.Path,
			Err: ErrMissingParent, Cause: err}
	}
	return r.resolve(child.Name(), dir, loc)
}

// Parent resolves the parent of the differencing disk child: the first of
// its MacX, W2ku and W2ru locators, in slot order, that decodes and
// resolves. It returns the path and the winning locator. When none
// resolves, the error is a *LocatorError: ErrOutsideRoot for the first
// locator leading out of a confined root, else ErrMissingParent for the first
// that decoded, else ErrUndecodableLocator. A disk without any such locator
// gives a *LocatorError with Slot -1 wrapping ErrDifferencingBase.
func (r *Resolver) Parent(child *vhd.File) (string, vhd.Locator, error) {
	return r.parent(child.Name(), child)
}

func (r *Resolver) parent(childPath string, child *vhd.File) (string, vhd.Locator, error) {
	locs := child.ParentLocators()
	if len(locs) == 0 {
		return "", vhd.Locator{}, &LocatorError{Child: childPath, Slot: -1, Err: ErrDifferencingBase,
			Cause: errors.New("no MacX, W2ku or W2ru parent locator")}
	}
	dir, err := realDir(childPath)
	if err != nil {
		return "", vhd.Locator{}, &LocatorError{Child: childPath, Slot: -1, Err: ErrMissingParent, Cause: err}
	}
	var missing, undecodable error
	for _, loc := range locs {
		p, err := r.resolve(childPath, dir, loc)
		if err == nil {
			return p, loc, nil
		}
		switch {
		case errors.Is(err, ErrOutsideRoot):
			return "", loc, err
		case errors.Is(err, ErrUndecodableLocator):
			if undecodable == nil {
				undecodable = err
			}
		default:
			if missing == nil {
				missing = err
			}
		}
	}
	if missing != nil {
		return "", vhd.Locator{}, missing
	}
	return "", vhd.Locator{}, undecodable
}

// realDir returns the absolute, symlink-free directory of the file at path,
// which is what blktap resolves relative locators against.
func realDir(path string) (string, error) {
	real, err := filepath.EvalSymlinks(path)
	if errors.Is(err, fs.ErrNotExist) {
		// A file not written yet (a stream being received, checked
		// before its first block): its directory's.
		d, derr := filepath.EvalSymlinks(filepath.Dir(path))
		if derr == nil {
			real, err = filepath.Join(d, filepath.Base(path)), nil
		}
	}
	if err != nil {
		return "", err
	}
	real, err = filepath.Abs(real)
	if err != nil {
		return "", err
	}
	return filepath.Dir(real), nil
}

// resolve resolves one locator of the child at childPath, whose real
// directory is dir.
func (r *Resolver) resolve(childPath, dir string, loc vhd.Locator) (string, error) {
	lerr := func(path string, sentinel, cause error) *LocatorError {
		return &LocatorError{Child: childPath, Slot: loc.Slot, Code: loc.Entry.Code, Locator: loc.Path,
			Path: path, Err: sentinel, Cause: cause}
	}
	if loc.Err != nil {
		return "", lerr("", ErrUndecodableLocator, loc.Err)
	}
	if loc.Path == "" {
		return "", lerr("", ErrUndecodableLocator, errors.New("empty path"))
	}
	name := filepath.FromSlash(loc.Path)
	abs := strings.HasPrefix(loc.Path, "/") || filepath.IsAbs(name) || filepath.VolumeName(name) != ""

	if r.mode == Compat {
		// vhd-util: an absolute name is used exactly as written when readable.
		if abs {
			if err := readable(name); err == nil {
				return name, nil
			}
		}
		cand := dir + string(filepath.Separator) + name
		real, err := filepath.EvalSymlinks(cand)
		if err == nil {
			err = readable(real)
		}
		if err != nil {
			return "", lerr(filepath.Clean(cand), ErrMissingParent, err)
		}
		return real, nil
	}

	// Confined: an absolute name must lie in the root, and so must the
	// candidate both before and after evaluating symbolic links.
	cand := dir + string(filepath.Separator) + name
	if abs {
		if !within(r.root, filepath.Clean(name)) {
			return "", lerr(name, ErrOutsideRoot, nil)
		}
		if readable(name) == nil {
			cand = name
		}
	}
	if !within(r.root, filepath.Clean(cand)) {
		return "", lerr(filepath.Clean(cand), ErrOutsideRoot, nil)
	}
	real, err := filepath.EvalSymlinks(cand)
	if err != nil {
		return "", lerr(filepath.Clean(cand), ErrMissingParent, err)
	}
	if real, err = filepath.Abs(real); err != nil {
		return "", lerr(filepath.Clean(cand), ErrMissingParent, err)
	}
	if !within(r.root, real) {
		return "", lerr(real, ErrOutsideRoot, fmt.Errorf("%s leads to %s through a symbolic link", cand, real))
	}
	if err := readable(real); err != nil {
		return "", lerr(real, ErrMissingParent, err)
	}
	return real, nil
}

// within reports whether the clean absolute path p is root or lies below it.
func within(root, p string) bool {
	rel, err := filepath.Rel(root, p)
	if err != nil {
		return false
	}
	return rel == "." || filepath.IsLocal(rel)
}

// confine returns the absolute, symlink-free form of path, which must lie
// inside the root of a confined resolver.
func (r *Resolver) confine(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", err
	}
	if r.mode == Confined && !within(r.root, real) {
		return "", fmt.Errorf("%s (%s): %w", path, real, ErrOutsideRoot)
	}
	return real, nil
}

// Open opens the VHD at path, a path returned by [Resolver.Resolve] or
// [Resolver.Parent], for reading. A confined Resolver first checks again
// that the path, with symbolic links evaluated, lies in its root, opens that
// real path, and then checks through an [os.Root] on the root that the file
// it opened is the one the root holds under that name; see the package
// documentation for the remaining race.
func (r *Resolver) Open(path string) (*vhd.File, error) {
	if r.mode == Compat {
		return vhd.OpenBlockDevice(path, os.O_RDONLY)
	}
	real, err := r.confine(path)
	if err != nil {
		return nil, fmt.Errorf("open %w", err)
	}
	return r.openReal(real)
}

// openReal opens the VHD at real, an absolute, symlink-free path in the
// root of a confined resolver, for reading, and checks it against the root.
func (r *Resolver) openReal(real string) (*vhd.File, error) {
	st, err := os.Stat(real)
	if err != nil {
		return nil, err
	}
	return r.openLink(real, st, os.O_RDONLY)
}

// openLink opens the VHD at path, whose os.Stat is st, with flag
// (os.O_RDONLY or os.O_RDWR). In confined mode path is an absolute,
// symlink-free path in the root, checked against the root once open.
func (r *Resolver) openLink(path string, st os.FileInfo, flag int) (*vhd.File, error) {
	if err := r.openable(path, st); err != nil {
		return nil, err
	}
	if r.mode == Compat {
		return vhd.OpenBlockDevice(path, flag)
	}
	f, err := vhd.OpenFile(path, flag)
	if err != nil {
		return nil, err
	}
	real := path
	if err := r.sameInRoot(real); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// sameInRoot checks that the file at the real path real is the file the
// root holds at that name, resolved through an os.Root, which no symbolic
// link or ".." can leave.
func (r *Resolver) sameInRoot(real string) error {
	rel, err := filepath.Rel(r.root, real)
	if err != nil || !filepath.IsLocal(rel) {
		return fmt.Errorf("open %s: %w", real, ErrOutsideRoot)
	}
	root, err := os.OpenRoot(r.root)
	if err != nil {
		return fmt.Errorf("open chain root %s: %w", r.root, err)
	}
	defer root.Close()
	inRoot, err := root.Stat(rel)
	if err != nil {
		return fmt.Errorf("open %s in chain root %s: %w", rel, r.root, err)
	}
	st, err := os.Stat(real)
	if err != nil {
		return err
	}
	if !os.SameFile(inRoot, st) {
		return fmt.Errorf("open %s: file changed while opening: %w", real, ErrOutsideRoot)
	}
	return nil
}

// openRaw opens the file at path for raw reads of its bytes, without
// blocking, and refuses anything r would not open as a VHD. A confined
// resolver opens it through an os.Root on its root, so the file read can
// only be one inside the root.
func (r *Resolver) openRaw(path string) (*os.File, error) {
	var fd *os.File
	if r.mode == Compat {
		var err error
		if fd, err = os.OpenFile(path, os.O_RDONLY|openNonblock, 0); err != nil {
			return nil, err
		}
	} else {
		real, err := r.confine(path)
		if err != nil {
			return nil, fmt.Errorf("open %w", err)
		}
		rel, err := filepath.Rel(r.root, real)
		if err != nil {
			return nil, err
		}
		root, err := os.OpenRoot(r.root)
		if err != nil {
			return nil, err
		}
		defer root.Close()
		if fd, err = root.OpenFile(rel, os.O_RDONLY|openNonblock, 0); err != nil {
			return nil, err
		}
	}
	st, err := fd.Stat()
	if err == nil {
		err = r.openable(path, st)
	}
	if err != nil {
		fd.Close()
		return nil, err
	}
	return fd, nil
}

// openable refuses a file that is not a VHD this resolver may open:
// anything but a regular file in confined mode; anything but a regular
// file or a block device in compatible mode (as vhd-util). Opening a FIFO
// would block, and a directory, socket or character device holds no VHD.
func (r *Resolver) openable(path string, st os.FileInfo) error {
	m := st.Mode()
	if m.IsRegular() || r.mode == Compat && m&fs.ModeDevice != 0 && m&fs.ModeCharDevice == 0 {
		return nil
	}
	return &vhd.NotRegularError{Path: path, Mode: m.Type(), BlockDevices: r.mode == Compat}
}
