package main

import (
	"context"
	"fmt"

	"github.com/vhdkit/vhdkit/staging"
)

// runUpload implements "vdi-transfer upload --sr DIR [--chain] UUID...":
// the Glance upload, the VDIs (leaf first, or only the leaf with --chain)
// streamed from the SR as a tar.gz image on stdout. A failed upload leaves
// the stream unterminated, so the receiver sees a truncated archive.
//
// The default gzip level is 6, gzip's default and what the seed's tar -zc
// used, so images keep their size; --level 1 (nova's image_compression_level
// is often set so) takes about half the time for about 12% more bytes.
func runUpload(ctx context.Context, e *env, args []string) error {
	var common commonFlags
	fset := newFlagSet(e, "upload", "--sr DIR [--chain] UUID... > image.tgz", &common)
	sr := fset.String("sr", "", "the SR directory to export from (required)")
	walk := fset.Bool("chain", false, "take only the leaf UUID and export its whole chain")
	level := fset.Int("level", 6, "gzip level, 1 (fastest) to 9 (smallest); 1 takes about half the time for about 12% more bytes")
	concurrency := fset.Int("concurrency", 0, "blocks compressed at once (0: every core)")
	maxDepth := fset.Int("max-depth", staging.DefaultMaxDepth, "refuse longer chains with --chain")
	if err := parseArgs(fset, args, 1, -1); err != nil {
		return err
	}
	if *sr == "" {
		fset.Usage()
		return errUsage
	}
	ids, err := staging.ParseUUIDs(fset.Args())
	if err != nil {
		return err
	}
	p := newProgress(e, common.progress, "upload", 0)
	res, err := staging.Export(ctx, e.stdout, *sr, ids, &staging.ExportOptions{
		Chain:       *walk,
		MaxDepth:    *maxDepth,
		Level:       *level,
		Concurrency: *concurrency,
		Progress:    p.update,
		Logger:      common.logger(e),
	})
	p.finish(err)
	if err != nil {
		return err
	}
	if common.verbose {
		fmt.Fprintf(e.stderr, "uploaded %d VHDs, %d bytes as %d\n", len(res.VDIs), res.Logical, res.Compressed)
	}
	return nil
}
