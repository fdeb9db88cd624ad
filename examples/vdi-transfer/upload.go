package main

import (
	"context"
	"fmt"

	"github.com/vhdkit/vhdkit/examples/internal/console"
	"github.com/vhdkit/vhdkit/staging"
)

// runUpload implements "vdi-transfer upload --sr DIR [--chain] UUID...":
// the Glance upload, the VDIs (leaf first, or only the leaf with --chain)
// streamed from the SR as a tar.gz image on stdout. A failed upload, a
// closed stdout included, removes its staging area and leaves the stream
// unterminated, so the receiver sees a truncated archive.
//
// The default gzip level is 6, gzip's default and what nova's XenServer
// plugin's tar -zc uses, so images keep their size; --level 1 (nova's
// image_compression_level is often set so) takes about half the time for
// about 12% more bytes.
func runUpload(ctx context.Context, e *env, args []string) error {
	fset := newFlagSet(e, "upload", "--sr DIR [--chain] UUID... > image.tgz")
	sr := fset.String("sr", "", "the SR directory to export from (required)")
	walk := fset.Bool("chain", false, "take only the leaf UUID and export its whole chain")
	level := fset.Int("level", 6, "gzip level, 1 (fastest) to 9 (smallest); 1 takes about half the time for about 12% more bytes")
	concurrency := fset.Int("concurrency", 0, "blocks compressed at once (0: every core)")
	maxDepth := fset.Int("max-depth", staging.DefaultMaxDepth, "refuse longer chains with --chain")
	force := fset.Bool("f", false, "write the image even if stdout is a terminal")
	if err := fset.parse(args, 1, -1); err != nil {
		return err
	}
	if *sr == "" {
		return fset.fail("--sr is required")
	}
	ids, err := staging.ParseUUIDs(fset.Args())
	if err != nil {
		return err
	}
	if !*force {
		if err := console.RefuseTerminal(e.stdout, "a tar.gz image"); err != nil {
			return err
		}
	}
	warnStale(e, *sr)
	p := fset.printer()
	res, err := staging.Export(ctx, e.stdout, *sr, ids, &staging.ExportOptions{
		Chain:       *walk,
		MaxDepth:    *maxDepth,
		Level:       *level,
		Concurrency: *concurrency,
		Progress:    func(s staging.Progress) { p.Update(stagingStatus(s)) },
		Logger:      fset.logger(),
	})
	p.Finish(err)
	if err != nil {
		return err
	}
	if fset.common.verbose {
		fmt.Fprintf(e.stderr, "uploaded %d VHDs: %s of files as %s\n", len(res.VDIs), console.Bytes(res.Logical), console.Bytes(res.Compressed))
	}
	return nil
}

// stagingStatus converts the staging package's progress for the printer.
func stagingStatus(s staging.Progress) console.Status {
	return console.Status{Phase: string(s.Phase), Name: s.Name, Done: s.Done, Total: s.Total, Logical: s.Logical, Compressed: s.Compressed}
}
