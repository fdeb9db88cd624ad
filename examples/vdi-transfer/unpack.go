package main

import (
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/vhdkit/vhdkit/tarball"
)

// runUnpack implements "vdi-transfer unpack [flags] DIR".
func runUnpack(ctx context.Context, e *env, args []string) error {
	var common commonFlags
	fset := newFlagSet(e, "unpack", "DIR < archive.tgz", &common)
	sync := fset.Bool("sync", false, "fsync every file and DIR before exiting")
	concurrency := fset.Int("concurrency", 0, "decompressed blocks read ahead (0: default)")
	maxEntries := fset.Int("max-entries", tarball.DefaultMaxEntries, "refuse archives with more entries")
	maxFile := fset.Int64("max-file-size", tarball.DefaultMaxFileSize, "refuse files larger than this many bytes")
	maxTotal := fset.Int64("max-total-size", tarball.DefaultMaxTotalSize, "refuse archives larger than this many bytes, uncompressed")
	printMD5 := fset.Bool("md5", false, "print the MD5 of the compressed stream on stderr")
	if err := parseArgs(fset, args, 1, 1); err != nil {
		return err
	}
	dir := fset.Arg(0)
	// DIR may be missing; it is created, but never reused if it has files.
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	sum := md5.New()
	opts := &tarball.UnpackOptions{
		MaxEntries:   *maxEntries,
		MaxFileSize:  *maxFile,
		MaxTotalSize: *maxTotal,
		Sync:         *sync,
		Concurrency:  *concurrency,
		Progress:     common.progressFunc(e),
		Logger:       common.logger(e),
	}
	in := e.stdin
	if *printMD5 {
		in = io.TeeReader(in, sum)
	}
	res, err := tarball.Unpack(ctx, in, dir, opts)
	if err != nil {
		return err
	}
	if *printMD5 {
		fmt.Fprintf(e.stderr, "md5 %x\n", sum.Sum(nil))
	}
	if common.progress {
		fmt.Fprintf(e.stderr, "unpacked %d files, %d bytes from %d\n", len(res.Files), res.Logical, res.Compressed)
	}
	return nil
}
