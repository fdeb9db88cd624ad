package main

import (
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/vhdkit/vhdkit/examples/internal/console"
	"github.com/vhdkit/vhdkit/tarball"
)

// runUnpack implements "vdi-transfer unpack [flags] DIR".
func runUnpack(ctx context.Context, e *env, args []string) error {
	fset := newFlagSet(e, "unpack", "DIR < archive.tgz")
	sync := fset.Bool("sync", false, "fsync every file and DIR before exiting")
	concurrency := fset.Int("concurrency", 0, "decompressed blocks read ahead (0: default)")
	maxEntries := fset.Int("max-entries", tarball.DefaultMaxEntries, "refuse archives with more entries")
	maxFile := console.Size(tarball.DefaultMaxFileSize)
	fset.Var(&maxFile, "max-file-size", "refuse files larger than `size` (bytes, or with a unit: 64MiB, 2100GiB)")
	maxTotal := console.Size(tarball.DefaultMaxTotalSize)
	fset.Var(&maxTotal, "max-total-size", "refuse archives larger than `size`, uncompressed")
	printMD5 := fset.Bool("md5", false, "print the MD5 of the compressed stream on stderr")
	if err := fset.parse(args, 1, 1); err != nil {
		return err
	}
	dir := fset.Arg(0)
	// DIR may be missing; it is created, but never reused if it has files.
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	p := fset.printer()
	total := inputSize(e.stdin)
	opts := &tarball.UnpackOptions{
		MaxEntries:   *maxEntries,
		MaxFileSize:  int64(maxFile),
		MaxTotalSize: int64(maxTotal),
		Sync:         *sync,
		Concurrency:  *concurrency,
		Progress: func(s tarball.Progress) {
			st := tarStatus(s)
			if st.Total == 0 {
				st.Total = total // hidden by the MD5's TeeReader
			}
			p.Update(st)
		},
		Logger: fset.logger(),
	}
	in, sum := e.stdin, md5.New()
	if *printMD5 {
		in = io.TeeReader(in, sum)
	}
	res, err := tarball.Unpack(ctx, in, dir, opts)
	p.Finish(err)
	if err != nil {
		return err
	}
	if *printMD5 {
		fmt.Fprintf(e.stderr, "md5 %x\n", sum.Sum(nil))
	}
	if fset.common.verbose {
		fmt.Fprintf(e.stderr, "unpacked %d files: %s of files from %s\n", len(res.Files), console.Bytes(res.Logical), console.Bytes(res.Compressed))
	}
	return nil
}

// inputSize returns what r still holds when it is a regular file, else 0.
func inputSize(r io.Reader) int64 {
	f, ok := r.(*os.File)
	if !ok {
		return 0
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return 0
	}
	off, err := f.Seek(0, io.SeekCurrent)
	if err != nil || off > fi.Size() {
		return 0
	}
	return fi.Size() - off
}
