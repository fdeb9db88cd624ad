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
// staging area in the SR directory sr, checks every VHD it holds, relinks
// and validates the chain, and moves it into the SR, all or nothing (see
// the package documentation). On success the SR holds one new <uuid>.vhd
// per VHD of the image; on any error it is as it was. To hash the archive
// as it is read (Glance's MD5), pass an io.TeeReader; Progress.Total is
// known only when r is a regular *os.File.
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
	ops   fileOps
	log   *slog.Logger
	sync  bool
	a     *area
	res   *Result
	moves []journalMove // every move recorded in the journal, base first
	// done and total are the Progress counts so far: every phase after the
	// extraction reports them again.
	done, total int64
	// staged files, leaf first: their names in the extraction directory
	// and their device and inode numbers.
	staged []string
	ids    []fileID
	// skipped lists entries of the image that are not VHDs, for a refusal
	// of an image without any.
	skipped []string
}

func newImporter(sr string, opts *ImportOptions) (*importer, error) {
	im := &importer{sr: filepath.Clean(sr), res: &Result{}}
	if opts != nil {
		im.o = *opts
	}
	if im.o.MaxDepth <= 0 {
		im.o.MaxDepth = DefaultMaxDepth
	}
	im.ops = im.o.ops
	if im.ops == nil {
		im.ops = osFileOps{}
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

// phase reports the start of a phase, or of its work on one file.
func (im *importer) phase(ph Phase, name string) {
	im.progress(Progress{Phase: ph, Name: name, Done: im.done, Total: im.total,
		Logical: im.res.Logical, Compressed: im.res.Compressed})
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
		err = im.scrub(err)
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
		return nil, newErr("extract", "", err)
	}
	if err := im.stage(ctx, names); err != nil {
		return nil, err
	}
	// Nothing has been written to a staged file yet, and nothing will be
	// unless every one of them passes.
	if err := im.check(ctx); err != nil {
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
			return nil, newErr("before commit", "", err)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, newErr("import", im.sr, err)
	}
	if err := im.commit(ctx); err != nil {
		return nil, err
	}
	im.log.Info("staging: imported", "sr", im.sr, "leaf", im.res.Leaf.UUID, "vhds", len(im.res.VDIs))
	return im.res, nil
}

// syncOps returns the file operations the journal uses: with NoSync its
// fsyncs are skipped.
func (im *importer) syncOps() fileOps {
	if im.sync {
		return im.ops
	}
	return noSyncOps{im.ops}
}

// noSyncOps is a fileOps whose Sync does nothing.
type noSyncOps struct{ fileOps }

// Sync does nothing.
func (noSyncOps) Sync(string) error { return nil }

// extract unpacks the archive into the extraction directory and returns the
// names written.
func (im *importer) extract(ctx context.Context, r io.Reader) ([]string, error) {
	filter := &nameFilter{maxDepth: im.o.MaxDepth}
	res, err := tarball.Unpack(ctx, r, im.a.x, &tarball.UnpackOptions{
		Filter:       filter.check,
		MaxFileSize:  im.o.MaxFileSize,
		MaxTotalSize: im.o.MaxTotalSize,
		Sync:         im.sync,
		Progress: func(p tarball.Progress) {
			im.done, im.total = max(im.done, p.Done), p.Total
			im.progress(Progress{Phase: PhaseExtract, Name: p.Name, Done: im.done, Total: im.total,
				Logical: p.Logical, Compressed: p.Compressed})
		},
		Logger: im.o.Logger,
	})
	if err != nil {
		var se *Error
		if errors.As(err, &se) {
			return nil, se // the name filter's refusal
		}
		return nil, newErr("extract", "", err)
	}
	im.res.Compressed, im.res.Logical = res.Compressed, res.Logical
	names := make([]string, len(res.Files))
	for i, f := range res.Files {
		names[i] = f.Name
	}
	im.skipped = filter.skipped
	return names, nil
}

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
		return nil, newErr("import", dir, fmt.Errorf("not a directory: %w", vhd.ErrNotRegular))
	}
	if idOf(dirInfo).Dev != idOf(srInfo).Dev {
		return nil, newErr("import", dir, fmt.Errorf("%w: %s", ErrCrossDevice, im.sr))
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, newErr("import", dir, err)
	}
	var names, skipped []string
	for _, e := range entries {
		if Wanted(e.Name()) {
			names = append(names, e.Name())
		} else if len(skipped) < maxSkipped {
			skipped = append(skipped, e.Name())
		}
	}
	seq, err := sequence(names, skipped, im.o.MaxDepth)
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
		return newErr("import", path, fmt.Errorf("%w: mode %v", vhd.ErrNotRegular, fi.Mode()))
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
			return nil, newErr("import", src, fmt.Errorf("%w: replaced while being imported", vhd.ErrNotRegular))
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
	seq, err := sequence(names, im.skipped, im.o.MaxDepth)
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
				return newErr("rename", src, err)
			}
		}
		id, fi, err := lstatID(to)
		if err != nil {
			return newErr("rename", src, err)
		}
		if !fi.Mode().IsRegular() || nlink(fi) != 1 {
			return newErr("stage", src, vhd.ErrNotRegular)
		}
		im.staged = append(im.staged, name)
		im.ids = append(im.ids, id)
		im.res.VDIs = append(im.res.VDIs, VDI{UUID: uuids[k], Path: filepath.Join(im.sr, name), Source: src, FileSize: fi.Size()})
	}
	im.res.Leaf = im.res.VDIs[0]
	return ctx.Err()
}

// sweep removes from the extraction directory every file outside seq.
func (im *importer) sweep(seq []string) error {
	entries, err := os.ReadDir(im.a.x)
	if err != nil {
		return newErr("stage", "", err)
	}
	for _, e := range entries {
		if slices.Contains(seq, e.Name()) {
			continue
		}
		p := filepath.Join(im.a.x, e.Name())
		if err := im.ops.Remove(p); err != nil {
			return newErr("stage", e.Name(), err)
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

// source returns the name staged file k had in the image ("0.vhd").
func (im *importer) source(k int) string { return im.res.VDIs[k].Source }

// scrub makes err name files as the user knows them: a staged file by its
// name in the image, the staging area as such, never by temporary paths.
func (im *importer) scrub(err error) error {
	if err == nil || im.a == nil {
		return err
	}
	var pairs []string
	for k := range im.staged {
		pairs = append(pairs, im.stagedPath(k), im.source(k))
	}
	return im.a.scrub(err, pairs...)
}
