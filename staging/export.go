//go:build linux

package staging

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vhdkit/vhdkit/chain"
	"github.com/vhdkit/vhdkit/tarball"
	"github.com/vhdkit/vhdkit/vhd"
)

// Export writes the VDIs named by uuids (leaf first, as the vdi_uuids of
// nova's XenServer plugin)
// from the SR directory sr to w as a gzip-compressed tar archive of
// 0.vhd, 1.vhd, ... With ExportOptions.Chain, uuids holds only the leaf and
// the chain is walked inside the SR; without it the list must be exactly
// that chain (ErrInvalidChain otherwise), since an importer relinks by
// position.
//
// The files are hard-linked into a staging area first, so the SR's own
// names are never opened for writing. Each file's size, ctime and footer
// are recorded before streaming and checked after: if any changed (the SR
// coalesced or resized a VDI meanwhile), Export fails with ErrChanged and
// leaves the stream unterminated, so the receiver sees a truncated archive
// and not a complete wrong one.
func Export(ctx context.Context, w io.Writer, sr string, uuids []vhd.UUID, opts *ExportOptions) (res *ExportResult, err error) {
	var o ExportOptions
	if opts != nil {
		o = *opts
	}
	if o.MaxDepth <= 0 {
		o.MaxDepth = DefaultMaxDepth
	}
	if o.ops == nil {
		o.ops = osFileOps{}
	}
	log := logger(o.Logger)
	sr = filepath.Clean(sr)
	if len(uuids) == 0 {
		return nil, newErr("export", sr, fmt.Errorf("no VDI given: %w", ErrNoImages))
	}
	if err := checkDuplicates(uuids); err != nil {
		return nil, err
	}
	if o.Chain && len(uuids) != 1 {
		return nil, newErr("export", sr, fmt.Errorf("walking a chain takes only the leaf, got %d UUIDs", len(uuids)))
	}
	// The importer relinks by position and ignores locators, so a list in
	// the wrong order would arrive as a valid chain of the wrong disk:
	// the list must be exactly the chain its leaf has in the SR.
	walked, err := walkSR(ctx, sr, uuids[0], o.MaxDepth)
	if err != nil {
		return nil, err
	}
	if o.Chain {
		uuids = walked
	} else if !slices.Equal(uuids, walked) {
		return nil, newErr("export", filepath.Join(sr, vhdName(uuids[0])),
			fmt.Errorf("%w: the list %v is not the leaf's chain in the SR %v", ErrInvalidChain, uuids, walked))
	}
	a, err := openArea(sr, "export", o.ops)
	if err != nil {
		return nil, err
	}
	defer func() {
		if errors.Is(err, errCrash) {
			a.crash = true
		}
		err = a.scrub(err)
		if cerr := a.close(); cerr != nil {
			log.Warn("staging: removing staging area", "dir", a.dir, "err", cerr)
		}
	}()

	res = &ExportResult{}
	var snaps []snapshot
	var names []string
	for k, u := range uuids {
		src := filepath.Join(sr, vhdName(u))
		name := strconv.Itoa(k) + ".vhd"
		dst := filepath.Join(a.x, name)
		fi, err := os.Lstat(src)
		if err != nil {
			return nil, newErr("export", src, err)
		}
		if !fi.Mode().IsRegular() {
			return nil, newErr("export", src, fmt.Errorf("%w: mode %v", vhd.ErrNotRegular, fi.Mode()))
		}
		if err := o.ops.Link(src, dst); err != nil {
			return nil, newErr("export", src, err)
		}
		s, err := takeSnapshot(src, dst)
		if err != nil {
			return nil, err
		}
		if s.id != idOf(fi) {
			return nil, newErr("export", src, fmt.Errorf("%w: replaced while being linked", ErrChanged))
		}
		snaps = append(snaps, s)
		names = append(names, name)
		res.VDIs = append(res.VDIs, VDI{UUID: u, Path: src, Source: name, FileSize: s.size, Type: s.typ, Hidden: s.hidden})
	}
	if err := o.ops.Checkpoint("linked"); err != nil {
		return nil, newErr("export", "", err)
	}
	pr, err := tarball.Pack(ctx, w, a.x, &tarball.PackOptions{
		Files:       names,
		Level:       o.Level,
		Concurrency: o.Concurrency,
		Progress: func(p tarball.Progress) {
			if o.Progress != nil {
				o.Progress(Progress{Phase: PhasePack, Name: p.Name, Done: p.Done, Total: p.Total, Logical: p.Logical, Compressed: p.Compressed})
			}
		},
		BeforeFinish: func() error {
			for _, s := range snaps {
				if err := s.check(); err != nil {
					return err
				}
			}
			return o.ops.Checkpoint("streamed")
		},
		Logger: o.Logger,
	})
	if err != nil {
		var se *Error
		if errors.As(err, &se) {
			return nil, err
		}
		if errors.Is(err, tarball.ErrSizeChanged) {
			err = fmt.Errorf("%w: %w", ErrChanged, err)
		}
		return nil, newErr("export", sr, err)
	}
	res.Logical, res.Compressed = pr.Logical, pr.Compressed
	log.Info("staging: exported", "sr", sr, "vhds", len(res.VDIs), "logical", res.Logical, "compressed", res.Compressed)
	return res, nil
}

// walkSR walks the chain of leaf inside the SR and returns its UUIDs, leaf
// first. Every link must be a <uuid>.vhd file at the top of the SR.
func walkSR(ctx context.Context, sr string, leaf vhd.UUID, maxDepth int) ([]vhd.UUID, error) {
	leafPath := filepath.Join(sr, vhdName(leaf))
	fi, err := os.Lstat(leafPath)
	if err != nil {
		return nil, newErr("export", leafPath, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, newErr("export", leafPath, fmt.Errorf("%w: mode %v", vhd.ErrNotRegular, fi.Mode()))
	}
	c, err := chain.Walk(ctx, leafPath, &chain.Options{Root: sr, MaxDepth: maxDepth})
	if err != nil {
		return nil, newErr("export", leafPath, fmt.Errorf("%w: %w", ErrInvalidChain, err))
	}
	defer c.Close()
	realSR, err := filepath.EvalSymlinks(sr)
	if err != nil {
		return nil, newErr("export", sr, err)
	}
	realSR, _ = filepath.Abs(realSR)
	var out []vhd.UUID
	for _, l := range c.Links {
		p := l.Path
		if l.Depth == 0 {
			p = leafPath
		}
		real, err := filepath.EvalSymlinks(p)
		if err != nil {
			return nil, newErr("export", p, err)
		}
		real, _ = filepath.Abs(real)
		base := filepath.Base(real)
		u, perr := vhd.ParseUUID(strings.TrimSuffix(base, ".vhd"))
		if filepath.Dir(real) != realSR || !strings.HasSuffix(base, ".vhd") || perr != nil || vhdName(u) != base {
			return nil, newErr("export", p, fmt.Errorf("%w: link %d is not a <uuid>.vhd file of the SR", ErrInvalidChain, l.Depth))
		}
		out = append(out, u)
	}
	return out, nil
}

// snapshot is what Export records of a file before streaming it.
type snapshot struct {
	src, link string
	id        fileID
	size      int64
	ctime     time.Time
	footer    []byte
	typ       vhd.DiskType
	hidden    bool
}

func takeSnapshot(src, link string) (snapshot, error) {
	s := snapshot{src: src, link: link}
	id, fi, err := lstatID(link)
	if err != nil {
		return s, newErr("export", src, err)
	}
	s.id, s.size, s.ctime = id, fi.Size(), ctime(fi)
	if s.footer, err = readFooter(link, s.size); err != nil {
		return s, newErr("export", src, err)
	}
	f, err := vhd.Open(link)
	if err != nil {
		return s, newErr("export", src, fmt.Errorf("%w: %w", ErrInvalidChain, err))
	}
	s.typ = f.DiskType()
	h, _ := f.Hidden()
	s.hidden = h != 0
	f.Close()
	return s, nil
}

// check compares the file with the snapshot.
func (s snapshot) check() error {
	id, fi, err := lstatID(s.link)
	if err != nil {
		return newErr("export", s.src, err)
	}
	switch {
	case id != s.id:
		return newErr("export", s.src, fmt.Errorf("%w: replaced", ErrChanged))
	case fi.Size() != s.size:
		return newErr("export", s.src, fmt.Errorf("%w: size %d, was %d", ErrChanged, fi.Size(), s.size))
	case !ctime(fi).Equal(s.ctime):
		return newErr("export", s.src, fmt.Errorf("%w: ctime %v, was %v", ErrChanged, ctime(fi), s.ctime))
	}
	ft, err := readFooter(s.link, s.size)
	if err != nil {
		return newErr("export", s.src, err)
	}
	if !bytes.Equal(ft, s.footer) {
		return newErr("export", s.src, fmt.Errorf("%w: footer rewritten", ErrChanged))
	}
	return nil
}

// readFooter returns the last 512 bytes of a file of size bytes.
func readFooter(path string, size int64) ([]byte, error) {
	if size < vhd.FooterSize {
		return nil, fmt.Errorf("%w: %d bytes", vhd.ErrTruncated, size)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, vhd.FooterSize)
	if _, err := f.ReadAt(b, size-vhd.FooterSize); err != nil {
		return nil, err
	}
	return b, nil
}
