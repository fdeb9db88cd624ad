package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/vhdkit/vhdkit/tarball"
)

// runPack implements "vdi-transfer pack [flags] DIR [FILE...]".
func runPack(ctx context.Context, e *env, args []string) error {
	var common commonFlags
	fs := newFlagSet(e, "pack", "DIR [FILE...] > archive.tgz", &common)
	level := fs.Int("level", tarball.DefaultLevel, "gzip level, 1 (fast) to 9 (small)")
	concurrency := fs.Int("concurrency", 0, "blocks compressed at once (0: one per CPU)")
	blockSize := fs.Int("block-size", tarball.DefaultBlockSize, "compression block size in bytes")
	force := fs.Bool("f", false, "write the archive even if stdout is a terminal")
	if err := parseArgs(fs, args, 1, -1); err != nil {
		return err
	}
	if f, ok := e.stdout.(*os.File); ok && !*force {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 && !isDevNull(fi) {
			return errors.New("stdout is a terminal; redirect it or use -f")
		}
	}
	var files []string
	if fs.NArg() > 1 {
		files = fs.Args()[1:]
	}
	res, err := tarball.Pack(ctx, e.stdout, fs.Arg(0), &tarball.PackOptions{
		Files:       files,
		Level:       *level,
		Concurrency: *concurrency,
		BlockSize:   *blockSize,
		Progress:    common.progressFunc(e),
		Logger:      common.logger(e),
	})
	if err != nil {
		return err
	}
	if common.progress {
		fmt.Fprintf(e.stderr, "packed %d files, %d bytes into %d\n", len(res.Files), res.Logical, res.Compressed)
	}
	return nil
}

// isDevNull reports whether fi is the null device, the one character
// device an archive may be written to without -f.
func isDevNull(fi os.FileInfo) bool {
	null, err := os.Stat(os.DevNull)
	return err == nil && os.SameFile(fi, null)
}
