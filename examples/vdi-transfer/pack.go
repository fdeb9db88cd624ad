package main

import (
	"context"
	"fmt"

	"github.com/vhdkit/vhdkit/examples/internal/console"
	"github.com/vhdkit/vhdkit/tarball"
)

// runPack implements "vdi-transfer pack [flags] DIR [FILE...]".
func runPack(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "pack", "DIR [FILE...] > archive.tgz")
	level := fs.Int("level", tarball.DefaultLevel, "gzip level, 1 (fast) to 9 (small)")
	concurrency := fs.Int("concurrency", 0, "blocks compressed at once (0: one per CPU)")
	blockSize := console.Size(tarball.DefaultBlockSize)
	fs.Var(&blockSize, "block-size", "compression block `size`")
	force := fs.Bool("f", false, "write the archive even if stdout is a terminal")
	if err := fs.parse(args, 1, -1); err != nil {
		return err
	}
	if !*force {
		if err := console.RefuseTerminal(e.stdout, "a tar.gz archive"); err != nil {
			return err
		}
	}
	var files []string
	if fs.NArg() > 1 {
		files = fs.Args()[1:]
	}
	p := fs.printer()
	res, err := tarball.Pack(ctx, e.stdout, fs.Arg(0), &tarball.PackOptions{
		Files:       files,
		Level:       *level,
		Concurrency: *concurrency,
		BlockSize:   int(blockSize),
		Progress:    func(s tarball.Progress) { p.Update(tarStatus(s)) },
		Logger:      fs.logger(),
	})
	p.Finish(err)
	if err != nil {
		return err
	}
	if fs.common.verbose {
		fmt.Fprintf(e.stderr, "packed %d files: %s of files into %s\n", len(res.Files), console.Bytes(res.Logical), console.Bytes(res.Compressed))
	}
	return nil
}

// tarStatus converts the tarball package's progress for the printer.
func tarStatus(s tarball.Progress) console.Status {
	return console.Status{Phase: string(s.Phase), Name: s.Name, Done: s.Done, Total: s.Total, Logical: s.Logical, Compressed: s.Compressed}
}
