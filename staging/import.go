//go:build linux

package staging

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"

	"github.com/vhdkit/vhdkit/tarball"
	"github.com/vhdkit/vhdkit/vhd"
)

// errSkip makes tarball.Unpack read and discard an entry.
var errSkip = tarball.ErrSkip

// Import extracts the gzip-compressed tar archive read from r into a new
// staging area in the SR directory sr, relinks and validates the chain it
// holds, and moves it into the SR, all or nothing (see the package
// documentation). On success the SR holds one new <uuid>.vhd per VHD of the
// image; on any error it is as it was.
func Import(ctx context.Context, r io.Reader, sr string, opts *ImportOptions) (*Result, error) {
	im, err := newImporter(sr, opts)
	if err != nil {
		return nil, err
	}
	return im.run(ctx, func() ([]string, error) { return im.extract(ctx, r) })
}

// ImportDir imports the VHDs of dir, a directory already filled by a
// migration, into the SR directory sr. dir must be on the SR's file system,
// and its VHDs must be regular files with a single hard link; they are
// moved out of dir into a staging area before they are relinked in place,
// so after ImportDir returns they are in the SR or, on failure, gone. Other
// files of dir are left alone.
func ImportDir(ctx context.Context, dir, sr string, opts *ImportOptions) (*Result, error) {
	im, err := newImporter(sr, opts)
	if err != nil {
		return nil, err
	}
	seq, err := im.checkDir(dir)
	if err != nil {
		return nil, err
	}
	return im.run(ctx, func() ([]string, error) { return im.adopt(dir, seq) })
}

// importer is one import's state.
type importer struct {
	o     ImportOptions
	sr    string
	ops   FileOps
	log   *slog.Logger
	sync  bool
	a     *area
	res   *Result
	moves []journalMove // every move recorded in the journal, base first
	// staged files, leaf first: their names in the extraction directory
	// and their device and inode numbers.
	staged []string
	ids    []fileID
}

func newImporter(sr string, opts *ImportOptions) (*importer, error) {
	im := &importer{sr: filepath.Clean(sr), res: &Result{}}
	if opts != nil {
		im.o = *opts
	}
	if im.o.MaxDepth <= 0 {
		im.o.MaxDepth = DefaultMaxDepth
	}
	im.ops = im.o.Ops
	if im.ops == nil {
		im.ops = OSFileOps{}
	}
	im.log = logger(im.o.Logger)
	im.sync = !im.o.NoSync
	if err := checkDuplicates(im.o.UUIDs); err != nil {
		return nil, err
	}
	return im, nil
}

func (im *importer) progress(p Progress) {
	if im.o.Progress != nil {
		im.o.Progress(p)
	}
}

// run makes the staging area, fills it with fill, and takes the image from
// there into the SR.
func (im *importer) run(ctx context.Context, fill func() ([]string, error)) (res *Result, err error) {
	im.a, err = openArea(im.sr, "import", im.syncOps())
	if err != nil {
		return nil, err
	}
	im.log.Info("staging: import started", "sr", im.sr, "staging", im.a.dir)
	defer func() {
		if errors.Is(err, errCrash) {
			im.a.crash = true
		}
		if cerr := im.a.close(); cerr != nil {
			im.log.Warn("staging: removing staging area", "dir", im.a.dir, "err", cerr)
		}
		if err != nil {
			im.log.Warn("staging: import failed", "sr", im.sr, "err", err)
		}
	}()
	names, err := fill()
	if err != nil {
		return nil, err
	}
	if err := im.ops.Checkpoint("extracted"); err != nil {
		return nil, newErr("extract", im.a.x, err)
	}
	if err := im.stage(ctx, names); err != nil {
		return nil, err
	}
	if err := im.relink(ctx); err != nil {
		return nil, err
	}
	if err := im.validate(ctx); err != nil {
		return nil, err
	}
	if im.o.BeforeCommit != nil {
		if err := im.o.BeforeCommit(ctx, im.res); err != nil {
			return nil, newErr("before commit", im.a.dir, err)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, newErr("import", im.sr, err)
	}
	if err := im.commit(ctx); err != nil {
		return nil, err
	}
	im.log.Info("staging: imported", "sr", im.sr, "leaf", im.res.Root.UUID, "vhds", len(im.res.VDIs))
	return im.res, nil
}

// syncOps returns the file operations the journal uses: with NoSync its
// fsyncs are skipped.
func (im *importer) syncOps() FileOps {
	if im.sync {
		return im.ops
	}
	return noSyncOps{im.ops}
}

// noSyncOps is a FileOps whose Sync does nothing.
type noSyncOps struct{ FileOps }

// Sync does nothing.
func (noSyncOps) Sync(string) error { return nil }

// extract unpacks the archive into the extraction directory and returns the
// names written.
func (im *importer) extract(ctx context.Context, r io.Reader) ([]string, error) {
	filter := &nameFilter{maxDepth: im.o.MaxDepth}
	if im.o.RawHook != nil {
		r = io.TeeReader(r, hookWriter(im.o.RawHook))
	}
	res, err := tarball.Unpack(ctx, r, im.a.x, &tarball.UnpackOptions{
		Filter:       filter.check,
		MaxFileSize:  im.o.MaxFileSize,
		MaxTotalSize: im.o.MaxTotalSize,
		Sync:         im.sync,
		Progress: func(p tarball.Progress) {
			im.progress(Progress{Phase: "extract", Entry: p.Name, Done: p.Logical, Compressed: p.Compressed})
		},
		Logger: im.o.Logger,
	})
	if err != nil {
		return nil, newErr("extract", im.a.x, err)
	}
	im.res.Compressed, im.res.Logical = res.Compressed, res.Logical
	names := make([]string, len(res.Files))
	for i, f := range res.Files {
		names[i] = f.Name
	}
	return names, nil
}

// hookWriter shows what is written to it to a RawHook.
type hookWriter func([]byte)

func (h hookWriter) Write(p []byte) (int, error) { h(p); return len(p), nil }

// checkDir checks, before anything changes, that a migration directory is
// on the SR's file system and holds a valid sequence of regular files with
// one link each.
func (im *importer) checkDir(dir string) ([]string, error) {
	srInfo, err := os.Stat(im.sr)
	if err != nil {
		return nil, newErr("import", im.sr, err)
	}
	dirInfo, err := os.Stat(dir)
	if err != nil {
		return nil, newErr("import", dir, err)
	}
	if !dirInfo.IsDir() {
		return nil, newErr("import", dir, fmt.Errorf("not a directory: %w", ErrNotRegular))
	}
	if idOf(dirInfo).Dev != idOf(srInfo).Dev {
		return nil, newErr("import", dir, fmt.Errorf("%w: %s", ErrCrossDevice, im.sr))
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, newErr("import", dir, err)
	}
	var names []string
	for _, e := range entries {
		if Wanted(e.Name()) {
			names = append(names, e.Name())
		}
	}
	seq, err := Sequence(names, im.o.MaxDepth)
	if err != nil {
		return nil, err
	}
	for _, n := range seq {
		if err := checkAdoptable(filepath.Join(dir, n)); err != nil {
			return nil, err
		}
	}
	return seq, nil
}

// checkAdoptable refuses anything but a regular file with one link.
func checkAdoptable(path string) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return newErr("import", path, err)
	}
	if !fi.Mode().IsRegular() {
		return newErr("import", path, fmt.Errorf("%w: mode %v", ErrNotRegular, fi.Mode()))
	}
	if n := nlink(fi); n != 1 {
		return newErr("import", path, fmt.Errorf("%w: %d links", ErrHardLinked, n))
	}
	return nil
}

// adopt moves the sequence of a migration directory into the extraction
// directory.
func (im *importer) adopt(dir string, seq []string) ([]string, error) {
	for _, n := range seq {
		src, dst := filepath.Join(dir, n), filepath.Join(im.a.x, n)
		id, _, err := lstatID(src)
		if err != nil {
			return nil, newErr("import", src, err)
		}
		if err := im.ops.Rename(src, dst); err != nil {
			return nil, newErr("import", src, err)
		}
		// Check again in the area, where nobody else renames: the file
		// moved must be the one checked.
		nid, _, err := lstatID(dst)
		if err != nil {
			return nil, newErr("import", dst, err)
		}
		if nid != id {
			return nil, newErr("import", src, fmt.Errorf("%w: replaced while being imported", ErrNotRegular))
		}
		if err := checkAdoptable(dst); err != nil {
			return nil, err
		}
	}
	return seq, nil
}

// stage orders the extracted names, removes everything else from the
// extraction directory, picks the UUIDs and renames each file to
// <uuid>.vhd.
func (im *importer) stage(ctx context.Context, names []string) error {
	seq, err := Sequence(names, im.o.MaxDepth)
	if err != nil {
		return err
	}
	if err := im.sweep(seq); err != nil {
		return err
	}
	uuids, err := pickUUIDs(im.o.UUIDs, len(seq))
	if err != nil {
		return err
	}
	targets := make([]string, len(uuids))
	for k, u := range uuids {
		targets[k] = vhdName(u)
	}
	if err := im.checkFree(targets); err != nil {
		return err
	}
	for k, src := range seq {
		name := vhdName(uuids[k])
		from, to := filepath.Join(im.a.x, src), filepath.Join(im.a.x, name)
		if src != name {
			if err := im.ops.Rename(from, to); err != nil {
				return newErr("rename", from, err)
			}
		}
		id, fi, err := lstatID(to)
		if err != nil {
			return newErr("rename", to, err)
		}
		if !fi.Mode().IsRegular() || nlink(fi) != 1 {
			return newErr("stage", to, ErrNotRegular)
		}
		im.staged = append(im.staged, name)
		im.ids = append(im.ids, id)
		im.res.VDIs = append(im.res.VDIs, VDI{UUID: uuids[k], Path: filepath.Join(im.sr, name), Source: src, Size: fi.Size()})
	}
	im.res.Root = im.res.VDIs[0]
	return ctx.Err()
}

// sweep removes from the extraction directory every file outside seq.
func (im *importer) sweep(seq []string) error {
	entries, err := os.ReadDir(im.a.x)
	if err != nil {
		return newErr("stage", im.a.x, err)
	}
	for _, e := range entries {
		if slices.Contains(seq, e.Name()) {
			continue
		}
		p := filepath.Join(im.a.x, e.Name())
		if err := im.ops.Remove(p); err != nil {
			return newErr("stage", p, err)
		}
	}
	return nil
}

// checkFree refuses UUIDs that already name something in the SR.
func (im *importer) checkFree(names []string) error {
	for _, n := range names {
		p := filepath.Join(im.sr, n)
		_, err := os.Lstat(p)
		if err == nil {
			return newErr("uuid", p, ErrUUIDExists)
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return newErr("uuid", p, err)
		}
	}
	return nil
}

// stagedPath returns the path of staged file k in the extraction directory.
func (im *importer) stagedPath(k int) string { return filepath.Join(im.a.x, im.staged[k]) }

// precheck refuses, before anything is written, what relinking cannot fix:
// a differencing base, a child that is not differencing, a block size other
// than 2 MiB.
func (im *importer) precheck() error {
	n := len(im.staged)
	for k := range n {
		p := im.stagedPath(k)
		f, err := vhd.Open(p)
		if err != nil {
			return newErr("validate", p, fmt.Errorf("%w: %w", ErrInvalidChain, err))
		}
		typ, bs := f.DiskType(), f.BlockSize()
		hidden, herr := f.Hidden()
		f.Close()
		if herr != nil {
			return newErr("validate", p, fmt.Errorf("%w: %w", ErrInvalidChain, herr))
		}
		im.res.VDIs[k].Type = typ
		im.res.VDIs[k].Hidden = hidden != 0
		switch {
		case k == n-1 && typ == vhd.DiskDifferencing:
			return newErr("validate", p, ErrDifferencingBase)
		case k < n-1 && typ != vhd.DiskDifferencing:
			return newErr("validate", p, fmt.Errorf("%w: %s is %v but has a parent in the sequence", ErrInvalidChain, im.res.VDIs[k].Source, typ))
		case typ != vhd.DiskFixed && bs != vhd.DefaultBlockSize:
			return newErr("validate", p, fmt.Errorf("%w: %d bytes", ErrBlockSize, bs))
		case k == 0 && hidden != 0:
			return newErr("validate", p, ErrHiddenLeaf)
		}
	}
	im.res.Root = im.res.VDIs[0]
	return nil
}
