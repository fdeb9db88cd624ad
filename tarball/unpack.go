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
	"strings"
	"sync/atomic"
)

// Default limits used when the corresponding UnpackOptions field is zero.
const (
	// DefaultMaxEntries is the default for UnpackOptions.MaxEntries.
	DefaultMaxEntries = 64
	// DefaultMaxFileSize is the default for UnpackOptions.MaxFileSize:
	// 2100 GiB, room for a fully allocated 2040 GiB dynamic VHD.
	DefaultMaxFileSize = 2100 << 30
	// DefaultMaxTotalSize is the default for UnpackOptions.MaxTotalSize.
	DefaultMaxTotalSize = 16 << 40
	// MetadataAllowance is how many decompressed bytes beyond the declared
	// entry sizes (tar headers, PAX records, padding, trailing blocks)
	// Unpack reads before it refuses the archive with ErrTotalTooLarge.
	MetadataAllowance = 64 << 20
	// DefaultReadAhead is the default for UnpackOptions.Concurrency.
	DefaultReadAhead = 8
	// holePage is the granularity of hole detection: aligned runs of this
	// many zero bytes are not written.
	holePage = 4096
	// writebackEvery is how many bytes are written between two
	// sync_file_range calls when UnpackOptions.Sync is set.
	writebackEvery = 32 << 20
)

// UnpackOptions tunes Unpack. The zero value (or nil) applies the defaults.
type UnpackOptions struct {
	// Filter, if not nil, is called with each file's name (without "./")
	// after the name and type have passed Unpack's own checks. It returns
	// nil to accept the file, ErrSkip to read and discard its data, or any
	// other error to refuse the archive.
	Filter func(name string) error
	// MaxEntries limits the number of entries; the first root entry "./"
	// is not counted. 0 means DefaultMaxEntries.
	MaxEntries int
	// MaxFileSize limits each file's logical size in bytes. 0 means
	// DefaultMaxFileSize.
	MaxFileSize int64
	// MaxTotalSize limits the sum of all entries' logical sizes (holes of
	// sparse members and skipped entries included). 0 means
	// DefaultMaxTotalSize.
	MaxTotalSize int64
	// Sync makes Unpack fsync each file and the directory before it
	// returns; writeback is started during the copy so the fsync is short.
	Sync bool
	// Concurrency is how many pieces (gzip members that Pack wrote with
	// an index, decoded on every core) or chunks (of any other member,
	// decoded by one goroutine) may be decoded ahead of the tar reader;
	// 0 means DefaultReadAhead.
	Concurrency int
	// BlockSize is the size of the chunks a gzip member without an index
	// is decoded into, at least 16 KiB; 0 means DefaultBlockSize.
	BlockSize int
	// Progress, if not nil, is called at the start and end of each entry
	// and every few MiB in between, from the calling goroutine.
	Progress func(Progress)
	// Logger receives debug records; nil means silent.
	Logger *slog.Logger
}

// UnpackResult describes an extracted archive.
type UnpackResult struct {
	// Files lists the files written, in archive order, without "./".
	// Skipped entries are not listed.
	Files []FileInfo
	// Compressed is the number of bytes read from r.
	Compressed int64
	// Logical is the sum of the logical sizes of all entries, skipped
	// entries included.
	Logical int64
}

// Unpack reads a gzip-compressed tar archive from r into dir, which must be
// an existing empty directory. Every file is created through an os.Root
// opened on dir, so nothing outside dir is ever touched.
//
// An entry is accepted when its name, after dropping one leading "./", is a
// single local path element (see filepath.IsLocal), valid UTF-8 without NUL,
// not seen before, and accepted by opts.Filter, and when it is a regular
// file (GNU sparse members included). The root entry "./" is ignored, and
// the mode of dir is left alone. Files are created exclusively with mode
// 0644; aligned runs of zero bytes become holes. Anything else is refused
// with an *EntryError wrapping one of this package's sentinel errors.
//
// Unpack reads r to its end, so a hash taken by an io.TeeReader around r
// covers the whole stream, and it verifies the gzip checksums before it
// returns success. It never seeks r. Gzip members written by Pack are
// decoded on every core; any other gzip stream is decoded serially (see the
// package documentation). Errors in the compressed stream are *EntryErrors
// wrapping gzip.ErrHeader, gzip.ErrChecksum, flate.CorruptInputError or
// io.ErrUnexpectedEOF, and name the offset of the member at fault. On
// any error it removes every file it created.
func Unpack(ctx context.Context, r io.Reader, dir string, opts *UnpackOptions) (*UnpackResult, error) {
	return unpack(ctx, r, dir, opts, false)
}

// unpack is Unpack; slowSparse sends sparse members through archive/tar's
// expansion of holes, for tests that compare the two paths.
func unpack(ctx context.Context, r io.Reader, dir string, opts *UnpackOptions, slowSparse bool) (res *UnpackResult, err error) {
	var o UnpackOptions
	if opts != nil {
		o = *opts
	}
	if o.MaxEntries <= 0 {
		o.MaxEntries = DefaultMaxEntries
	}
	if o.MaxFileSize <= 0 {
		o.MaxFileSize = DefaultMaxFileSize
	}
	if o.MaxTotalSize <= 0 {
		o.MaxTotalSize = DefaultMaxTotalSize
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultReadAhead
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
		return nil, fmt.Errorf("tarball: unpack: %w", err)
	}
	defer root.Close()
	if err := checkEmpty(root); err != nil {
		return nil, fmt.Errorf("tarball: unpack into %s: %w", dir, err)
	}

	u := &unpacker{ctx: ctx, root: root, opts: &o, log: log, seen: map[string]bool{}, slowSparse: slowSparse}
	defer func() {
		if err != nil {
			u.removeCreated()
		}
	}()
	u.raw = &rawReader{r: r}
	u.total = remaining(r)
	gz := newGunzipper(ctx, u.raw, o.BlockSize, o.Concurrency, runtime.GOMAXPROCS(0))
	defer gz.Close()
	u.stream = &streamReader{r: gz, ctx: ctx, limit: MetadataAllowance}
	u.tr = tar.NewReader(u.stream)

	res = &UnpackResult{}
	for {
		// Record the header blocks archive/tar reads, for sparse members.
		// Entries are read to their end, so only the padding after the
		// last one's data comes first: headers start at multiples of 512.
		u.stream.capture, u.stream.capturing, u.stream.overflow = u.stream.capture[:0], true, false
		u.captureSkip = int(-u.stream.n & 511)
		hdr, err := u.tr.Next()
		u.stream.capturing = false
		if err == io.EOF {
			break
		}
		if err != nil && !(errors.Is(err, tar.ErrInsecurePath) && hdr != nil) {
			return nil, u.streamError(err)
		}
		fi, err := u.entry(hdr)
		if err != nil {
			return nil, err
		}
		if fi != nil {
			res.Files = append(res.Files, *fi)
		}
	}
	// Read the rest (tar padding, further gzip members) so that the gzip
	// checksums are verified and r is read to its end.
	if _, err := io.Copy(io.Discard, u.stream); err != nil {
		return nil, u.streamError(err)
	}
	gz.Close()
	u.progress("", 0, 0) // the whole stream has been read
	if o.Sync {
		if err := u.syncDir(); err != nil {
			return nil, fmt.Errorf("tarball: unpack: syncing %s: %w", dir, err)
		}
	}
	res.Compressed = u.raw.n.Load()
	res.Logical = u.logical
	log.Debug("tarball: unpacked", "dir", dir, "files", len(res.Files), "compressed", res.Compressed, "logical", res.Logical)
	return res, nil
}

// checkEmpty reports ErrNotEmpty unless root has no entries.
func checkEmpty(root *os.Root) error {
	d, err := root.Open(".")
	if err != nil {
		return err
	}
	defer d.Close()
	names, err := d.Readdirnames(1)
	if len(names) > 0 {
		return ErrNotEmpty
	}
	if err != nil && err != io.EOF {
		return err
	}
	return nil
}

// unpacker carries the state of one Unpack call.
type unpacker struct {
	ctx     context.Context
	root    *os.Root
	opts    *UnpackOptions
	log     *slog.Logger
	raw     *rawReader
	stream  *streamReader
	tr      *tar.Reader
	seen    map[string]bool
	created []string
	entries int
	roots   int
	logical int64
	total   int64 // Progress.Total: the size of r when known
	// streamData is how many decompressed bytes were entry data; the
	// rest of the stream counts against MetadataAllowance.
	streamData int64
	last       string
	buf        []byte
	zero       []byte
	// captureSkip is how many recorded bytes precede the entry's headers.
	captureSkip int
	// slowSparse makes sparse members go through archive/tar's expansion
	// of holes, for tests that compare the two paths.
	slowSparse bool
}

// streamError wraps an error that came from reading the archive itself.
func (u *unpacker) streamError(err error) error {
	if u.last == "" {
		return &EntryError{Offset: u.stream.n, Err: fmt.Errorf("reading archive: %w", err)}
	}
	return &EntryError{Offset: u.stream.n, Err: fmt.Errorf("reading archive after entry %q: %w", u.last, err)}
}

// entryName drops one leading "./" and, for directories, one trailing "/".
// It reports whether the entry is the archive's root.
func entryName(hdr *tar.Header) (name string, isRoot bool) {
	name = strings.TrimPrefix(hdr.Name, "./")
	if hdr.Typeflag == tar.TypeDir {
		name = strings.TrimSuffix(name, "/")
		if name == "" || name == "." {
			return name, true
		}
	}
	return name, false
}

// entry vets one header and writes or skips its data.
func (u *unpacker) entry(hdr *tar.Header) (*FileInfo, error) {
	u.last = hdr.Name
	fail := func(err error) error { return &EntryError{Name: hdr.Name, Err: err} }
	name, isRoot := entryName(hdr)
	if isRoot {
		u.roots++
	}
	if !isRoot || u.roots > 1 {
		u.entries++
		if u.entries > u.opts.MaxEntries {
			return nil, fail(fmt.Errorf("%w: more than %d", ErrTooManyEntries, u.opts.MaxEntries))
		}
	}
	if isRoot {
		return nil, nil
	}
	if err := checkName(name); err != nil {
		return nil, fail(err)
	}
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeGNUSparse:
	case tar.TypeSymlink:
		return nil, fail(ErrSymlink)
	case tar.TypeLink:
		return nil, fail(ErrHardLink)
	case tar.TypeChar, tar.TypeBlock:
		return nil, fail(ErrDevice)
	case tar.TypeFifo:
		return nil, fail(ErrFIFO)
	default:
		return nil, fail(fmt.Errorf("%w: type %q", ErrUnsupportedType, hdr.Typeflag))
	}
	if u.seen[name] {
		return nil, fail(ErrDuplicate)
	}
	u.seen[name] = true
	skip := false
	if u.opts.Filter != nil {
		switch err := u.opts.Filter(name); {
		case err == nil:
		case errors.Is(err, ErrSkip):
			skip = true
		default:
			return nil, fail(err)
		}
	}
	if hdr.Size > u.opts.MaxFileSize {
		return nil, fail(fmt.Errorf("%w: %d bytes, limit %d", ErrFileTooLarge, hdr.Size, u.opts.MaxFileSize))
	}
	if hdr.Size > u.opts.MaxTotalSize-u.logical {
		return nil, fail(fmt.Errorf("%w: more than %d bytes", ErrTotalTooLarge, u.opts.MaxTotalSize))
	}
	// The decompressed stream may hold this entry's data and what is left
	// of the metadata allowance, no more.
	u.stream.limit = u.streamData + hdr.Size + MetadataAllowance
	before := u.stream.n
	defer func() {
		u.streamData += u.stream.n - before
		u.stream.limit = u.streamData + MetadataAllowance
	}()
	if u.buf == nil {
		u.buf = make([]byte, copyBufferSize)
		u.zero = make([]byte, holePage)
	}
	copyData := func(f *os.File) error { return u.copyEntry(u.tr, hdr, name, f) }
	if isSparse(hdr) && !u.slowSparse {
		if u.stream.overflow {
			return nil, fail(fmt.Errorf("%w: %w: more than %d bytes of headers", tar.ErrHeader, errSparseHeaders, maxHeaderCapture))
		}
		frags, phys, err := sparseMap(hdr, u.stream.capture[min(u.captureSkip, len(u.stream.capture)):])
		if err != nil {
			return nil, fail(fmt.Errorf("%w: %w", tar.ErrHeader, err))
		}
		copyData = func(f *os.File) error {
			err := u.copySparse(hdr, name, f, frags, phys)
			// archive/tar did not see the data: start it afresh at the
			// next header.
			u.tr = tar.NewReader(u.stream)
			return err
		}
	}
	if skip {
		u.log.Debug("tarball: skipping", "name", name, "size", hdr.Size)
		return nil, copyData(nil)
	}
	u.log.Debug("tarball: extracting", "name", name, "size", hdr.Size)
	f, err := u.root.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY|noFollow, 0o644)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			err = fmt.Errorf("%w: %w", ErrDuplicate, err)
		}
		return nil, fail(err)
	}
	u.created = append(u.created, name)
	err = setMode(f, 0o644)
	if err == nil {
		err = copyData(f)
	} else {
		err = fail(err)
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = &EntryError{Name: hdr.Name, Offset: hdr.Size, Err: cerr}
	}
	if err != nil {
		return nil, err
	}
	return &FileInfo{Name: name, Size: hdr.Size}, nil
}

// copyEntry copies the entry's data into f, or discards it when f is nil,
// counting logical bytes and leaving aligned zero pages as holes.
func (u *unpacker) copyEntry(tr *tar.Reader, hdr *tar.Header, name string, f *os.File) error {
	var off, synced int64
	fail := func(err error) error { return &EntryError{Name: hdr.Name, Offset: off, Err: err} }
	u.progress(name, 0, hdr.Size)
	next := int64(progressEvery)
	for off < hdr.Size {
		n, err := io.ReadFull(tr, u.buf[:min(int64(len(u.buf)), hdr.Size-off)])
		if n > 0 {
			u.logical += int64(n)
			if u.logical > u.opts.MaxTotalSize {
				return fail(ErrTotalTooLarge)
			}
			if f != nil {
				if werr := writeSparse(f, u.buf[:n], off, u.zero); werr != nil {
					return fail(werr)
				}
			}
			off += int64(n)
		}
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return fail(fmt.Errorf("reading archive: %w", err))
		}
		if f != nil && u.opts.Sync && off-synced >= writebackEvery {
			if err := startWriteback(f, synced, off-synced); err != nil {
				return fail(fmt.Errorf("starting writeback: %w", err))
			}
			synced = off
		}
		if off >= next {
			u.progress(name, off, hdr.Size)
			next = off + progressEvery
		}
	}
	if f != nil {
		// Trailing holes were never written; give the file its full size.
		if err := f.Truncate(hdr.Size); err != nil {
			return fail(err)
		}
		if u.opts.Sync {
			if err := f.Sync(); err != nil {
				return fail(fmt.Errorf("fsync: %w", err))
			}
		}
	}
	u.progress(name, off, hdr.Size)
	return nil
}

func (u *unpacker) progress(name string, done, size int64) {
	if u.opts.Progress == nil {
		return
	}
	u.opts.Progress(Progress{
		Phase: PhaseUnpack, Name: name,
		Done: u.raw.n.Load(), Total: u.total, Logical: u.logical, Compressed: u.raw.n.Load(),
	})
}

// writeSparse writes p at off, skipping every holePage-aligned page of
// zeros so that it stays a hole. off must be a multiple of holePage.
func writeSparse(f *os.File, p []byte, off int64, zero []byte) error {
	start := -1 // start of the pending run of data pages
	for i := 0; i < len(p); i += holePage {
		page := p[i:min(i+holePage, len(p))]
		if string(page) == string(zero[:len(page)]) {
			if start >= 0 {
				if _, err := f.WriteAt(p[start:i], off+int64(start)); err != nil {
					return err
				}
				start = -1
			}
			continue
		}
		if start < 0 {
			start = i
		}
	}
	if start >= 0 {
		if _, err := f.WriteAt(p[start:], off+int64(start)); err != nil {
			return err
		}
	}
	return nil
}

func (u *unpacker) syncDir() error {
	d, err := u.root.Open(".")
	if err != nil {
		return err
	}
	defer d.Close()
	return syncDir(d)
}

// removeCreated removes every file this Unpack created; it runs on error.
func (u *unpacker) removeCreated() {
	for _, name := range u.created {
		if err := u.root.Remove(name); err != nil {
			u.log.Warn("tarball: removing partial file", "name", name, "err", err)
		}
	}
}

// rawReader counts the compressed bytes.
type rawReader struct {
	r io.Reader
	n atomic.Int64
}

func (r *rawReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 {
		r.n.Add(int64(n))
	}
	return n, err
}

// streamReader sits between gzip and tar. It stops at limit decompressed
// bytes, whatever the tar reader asks for (long PAX records, endless
// padding), and checks ctx on every read.
type streamReader struct {
	r     io.Reader
	ctx   context.Context
	n     int64
	limit int64
	// While capturing, what is read is appended to capture, up to
	// maxHeaderCapture bytes; overflow records that more was read.
	capture   []byte
	capturing bool
	overflow  bool
}

func (s *streamReader) Read(p []byte) (int, error) {
	if err := s.ctx.Err(); err != nil {
		return 0, err
	}
	if s.n >= s.limit {
		return 0, fmt.Errorf("%w: more than %d decompressed bytes beyond the declared entry sizes", ErrTotalTooLarge, int64(MetadataAllowance))
	}
	if int64(len(p)) > s.limit-s.n {
		p = p[:s.limit-s.n]
	}
	n, err := s.r.Read(p)
	s.n += int64(n)
	if s.capturing && n > 0 {
		if len(s.capture)+n > maxHeaderCapture {
			s.capturing, s.overflow = false, true
		} else {
			s.capture = append(s.capture, p[:n]...)
		}
	}
	return n, err
}
