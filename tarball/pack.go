package tarball

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults used when the corresponding option is zero.
const (
	// DefaultLevel is the gzip level Pack uses when PackOptions.Level is 0.
	DefaultLevel = 6
	// DefaultBlockSize is the size of the pieces Pack compresses
	// independently, and of the chunks Unpack decodes a plain gzip member
	// into, when PackOptions.BlockSize or UnpackOptions.BlockSize is 0.
	DefaultBlockSize = 1 << 20
	// progressEvery is how many bytes pass between two progress callbacks.
	progressEvery = 8 << 20
	// copyBufferSize is the size of the buffer files are read into.
	copyBufferSize = 1 << 20
)

// PackOptions tunes Pack. The zero value (or nil) is a good default.
type PackOptions struct {
	// Files are base names inside the directory, in archive order. Nil
	// means every regular file of the directory in natural order (0.vhd,
	// 1.vhd, ..., 10.vhd); symbolic links and subdirectories are left out.
	Files []string
	// Level is the gzip level, 1 (fastest) to 9 (smallest); 0 means 6.
	Level int
	// Concurrency is how many pieces may be compressed at once;
	// 0 means runtime.GOMAXPROCS(0).
	Concurrency int
	// BlockSize is the size in bytes of the pieces of the tar stream that
	// are compressed independently, each as one gzip member; 0 means
	// DefaultBlockSize. Unpack decodes pieces of up to 2 MiB in parallel
	// and larger ones serially.
	BlockSize int
	// Progress, if not nil, is called at the start and end of each entry
	// and every few MiB in between, from the calling goroutine.
	Progress func(Progress)
	// BeforeFinish, if not nil, is called after all entries are written
	// and before the tar end-of-archive blocks and the final piece. If it returns an error Pack
	// returns that error and leaves the stream unterminated.
	BeforeFinish func() error
	// Logger receives debug records; nil means silent.
	Logger *slog.Logger
}

// PackResult describes a finished archive.
type PackResult struct {
	// Files lists the archived files in archive order.
	Files []FileInfo
	// Logical is the sum of the file sizes.
	Logical int64
	// Compressed is the number of compressed bytes written.
	Compressed int64
}

// FileInfo names one file of an archive and its size in bytes.
type FileInfo struct {
	// Name is the file's base name, without "./".
	Name string
	// Size is the file's logical size in bytes, holes included.
	Size int64
}

// Pack writes the named regular files of dir to w as a gzip-compressed GNU
// tar archive: first a "./" directory entry, then "./NAME" for each file.
// The gzip stream is a series of independently compressed members of
// BlockSize, each with its length in an FEXTRA subfield, which every gzip
// reader accepts and Unpack decodes on every core (see the package
// documentation).
//
// Each file's size is taken once with fstat before its header is written;
// a file that grows or shrinks while it is copied fails with ErrSizeChanged.
// On any error, including cancellation of ctx, Pack stops without writing
// the tar end-of-archive blocks or the final piece, and writes the header
// of a member whose data never follows, so a receiver sees a truncated
// stream rather than a complete, shorter archive. Pack returns
// only after every background write to w has finished.
func Pack(ctx context.Context, w io.Writer, dir string, opts *PackOptions) (*PackResult, error) {
	var o PackOptions
	if opts != nil {
		o = *opts
	}
	if o.Level == 0 {
		o.Level = DefaultLevel
	}
	if o.Level < 1 || o.Level > 9 {
		return nil, fmt.Errorf("tarball: gzip level %d out of range 1-9", o.Level)
	}
	if o.Concurrency <= 0 {
		o.Concurrency = runtime.GOMAXPROCS(0)
	}
	if o.BlockSize <= 0 {
		o.BlockSize = DefaultBlockSize
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}

	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("tarball: pack: %w", err)
	}
	defer root.Close()
	dirInfo, err := root.Stat(".")
	if err != nil {
		return nil, fmt.Errorf("tarball: pack: %w", err)
	}

	names := o.Files
	if names == nil {
		if names, err = regularFiles(root); err != nil {
			return nil, fmt.Errorf("tarball: pack: listing %s: %w", dir, err)
		}
	}
	files, err := openAll(root, names)
	defer func() {
		for _, f := range files {
			f.file.Close()
		}
	}()
	if err != nil {
		return nil, err
	}
	var total int64
	for _, f := range files {
		total += f.size
	}

	out := &gateWriter{w: w}
	gz, err := newPieceWriter(out, o.Level, o.BlockSize, o.Concurrency)
	if err != nil {
		return nil, fmt.Errorf("tarball: %w", err)
	}
	p := &packer{ctx: ctx, tw: tar.NewWriter(gz), out: out, opts: &o, total: total, log: log}
	// abort stops the stream without its final piece, waits for the
	// compressing goroutines, and makes later writes to w fail.
	closed := false
	abort := func(err error) (*PackResult, error) {
		if !closed {
			gz.abort()
		}
		out.shut()
		return nil, err
	}

	if err := p.tw.WriteHeader(&tar.Header{
		Typeflag: tar.TypeDir,
		Name:     "./",
		Mode:     int64(dirInfo.Mode().Perm()),
		ModTime:  dirInfo.ModTime().Truncate(time.Second),
		Format:   tar.FormatGNU,
	}); err != nil {
		return abort(fmt.Errorf("tarball: writing root entry: %w", err))
	}
	res := &PackResult{}
	for _, f := range files {
		if err := p.copyFile(f); err != nil {
			return abort(err)
		}
		res.Files = append(res.Files, FileInfo{Name: f.name, Size: f.size})
		res.Logical += f.size
	}
	if o.BeforeFinish != nil {
		if err := o.BeforeFinish(); err != nil {
			return abort(err)
		}
	}
	if err := ctx.Err(); err != nil {
		return abort(err)
	}
	if err := p.tw.Close(); err != nil {
		return abort(fmt.Errorf("tarball: finishing tar: %w", err))
	}
	closed = true
	if err := gz.Close(); err != nil {
		return abort(fmt.Errorf("tarball: finishing gzip: %w", err))
	}
	res.Compressed = out.n.Load()
	log.Debug("tarball: packed", "dir", dir, "files", len(res.Files), "logical", res.Logical, "compressed", res.Compressed)
	return res, nil
}

// packFile is a file opened and measured before anything is written.
type packFile struct {
	name string
	file *os.File
	size int64
	info fs.FileInfo
}

// regularFiles lists the regular files at the top of root in natural order.
func regularFiles(root *os.Root) ([]string, error) {
	d, err := root.Open(".")
	if err != nil {
		return nil, err
	}
	defer d.Close()
	entries, err := d.ReadDir(-1)
	if err != nil {
		return nil, err
	}
	names := []string{}
	for _, e := range entries {
		if e.Type().IsRegular() {
			names = append(names, e.Name())
		}
	}
	sortNatural(names)
	return names, nil
}

// openAll opens every named file and records its size once with fstat. It
// returns the files opened so far even on error so the caller closes them.
func openAll(root *os.Root, names []string) ([]packFile, error) {
	seen := make(map[string]bool, len(names))
	files := make([]packFile, 0, len(names))
	for _, name := range names {
		if err := checkName(name); err != nil {
			return files, &EntryError{Name: name, Err: err}
		}
		if seen[name] {
			return files, &EntryError{Name: name, Err: ErrDuplicate}
		}
		seen[name] = true
		// os.Root follows symbolic links that stay inside the directory,
		// so look before opening and check after that it is the same file.
		li, err := root.Lstat(name)
		if err != nil {
			return files, &EntryError{Name: name, Err: err}
		}
		if li.Mode()&fs.ModeSymlink != 0 {
			return files, &EntryError{Name: name, Err: ErrSymlink}
		}
		if !li.Mode().IsRegular() {
			return files, &EntryError{Name: name, Err: fmt.Errorf("%w: %v is not a regular file", ErrUnsupportedType, li.Mode().Type())}
		}
		f, err := root.OpenFile(name, os.O_RDONLY|noFollow, 0)
		if err != nil {
			return files, &EntryError{Name: name, Err: err}
		}
		fi, err := f.Stat()
		if err == nil && (!fi.Mode().IsRegular() || !os.SameFile(li, fi)) {
			err = fmt.Errorf("%w: replaced while being opened", ErrUnsupportedType)
		}
		if err != nil {
			f.Close()
			return files, &EntryError{Name: name, Err: err}
		}
		files = append(files, packFile{name: name, file: f, size: fi.Size(), info: fi})
	}
	return files, nil
}

// fileHeader is the header Pack writes for a file: GNU format, as GNU tar
// writes by default, so sizes of 8 GiB and more are stored in base-256.
func fileHeader(name string, size int64, info fs.FileInfo) *tar.Header {
	return &tar.Header{
		Typeflag: tar.TypeReg,
		Name:     "./" + name,
		Size:     size,
		Mode:     int64(info.Mode().Perm()),
		ModTime:  info.ModTime().Truncate(time.Second),
		Format:   tar.FormatGNU,
	}
}

// packer carries the state of one Pack call.
type packer struct {
	ctx   context.Context
	tw    *tar.Writer
	out   *gateWriter
	opts  *PackOptions
	log   *slog.Logger
	buf   []byte
	zero  []byte // never written: the bytes of holes
	total int64
	done  int64
}

func (p *packer) progress(f packFile, entryDone int64) {
	if p.opts.Progress == nil {
		return
	}
	p.opts.Progress(Progress{
		Phase: PhasePack, Name: f.name,
		Done: p.done, Total: p.total, Logical: p.done, Compressed: p.out.n.Load(),
	})
}

// copyFile writes one header and exactly f.size bytes of data.
func (p *packer) copyFile(f packFile) error {
	fail := func(off int64, err error) error { return &EntryError{Name: f.name, Offset: off, Err: err} }
	if err := p.ctx.Err(); err != nil {
		return fail(0, err)
	}
	if err := p.tw.WriteHeader(fileHeader(f.name, f.size, f.info)); err != nil {
		return fail(0, fmt.Errorf("writing header: %w", err))
	}
	p.log.Debug("tarball: packing", "name", f.name, "size", f.size)
	p.progress(f, 0)
	if p.buf == nil {
		p.buf = make([]byte, copyBufferSize)
		p.zero = make([]byte, copyBufferSize)
	}
	var off int64
	next := int64(progressEvery)
	// Holes of a sparse file are not read: their zeros come from p.zero,
	// which spares the kernel filling the page cache with them.
	dataStart, dataEnd, sparse := dataRegion(f.file, 0, f.size)
	for off < f.size {
		if err := p.ctx.Err(); err != nil {
			return fail(off, err)
		}
		if sparse && off >= dataEnd {
			if dataStart, dataEnd, sparse = dataRegion(f.file, off, f.size); !sparse {
				dataEnd = f.size
			}
		}
		if sparse && off < dataStart {
			n := int(min(int64(len(p.zero)), dataStart-off))
			if _, err := p.tw.Write(p.zero[:n]); err != nil {
				return fail(off, fmt.Errorf("writing: %w", err))
			}
			off += int64(n)
			p.done += int64(n)
		} else {
			limit := f.size
			if sparse {
				limit = dataEnd
			}
			n := int(min(int64(len(p.buf)), limit-off))
			m, err := f.file.ReadAt(p.buf[:n], off)
			if m > 0 {
				if _, werr := p.tw.Write(p.buf[:m]); werr != nil {
					return fail(off, fmt.Errorf("writing: %w", werr))
				}
				off += int64(m)
				p.done += int64(m)
			}
			if err == io.EOF {
				return fail(off, fmt.Errorf("%w: %d bytes when archiving began, only %d now", ErrSizeChanged, f.size, off))
			}
			if err != nil {
				return fail(off, fmt.Errorf("reading: %w", err))
			}
		}
		if off >= next {
			p.progress(f, off)
			next = off + progressEvery
		}
	}
	// The file must end exactly where fstat said it would.
	if m, _ := f.file.ReadAt(p.buf[:1], f.size); m > 0 {
		return fail(off, fmt.Errorf("%w: grew beyond %d bytes", ErrSizeChanged, f.size))
	}
	if fi, err := f.file.Stat(); err == nil && fi.Size() != f.size {
		return fail(off, fmt.Errorf("%w: %d bytes when archiving began, %d now", ErrSizeChanged, f.size, fi.Size()))
	}
	p.progress(f, off)
	return nil
}

// gateWriter passes writes through to w and counts them until it is shut;
// after that every write fails, so nothing more reaches w.
type gateWriter struct {
	mu     sync.Mutex
	w      io.Writer
	closed bool
	n      atomic.Int64
}

var errShut = errors.New("tarball: archive aborted")

func (g *gateWriter) Write(b []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return 0, errShut
	}
	n, err := g.w.Write(b)
	g.n.Add(int64(n))
	return n, err
}

func (g *gateWriter) shut() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
}
