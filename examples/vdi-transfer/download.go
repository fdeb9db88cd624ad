package main

import (
	"context"
	"crypto/md5"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/vhdkit/vhdkit/staging"
)

// runDownload implements "vdi-transfer download --sr DIR [--uuid U]...": the
// Glance download, a tar.gz image on stdin imported into the SR, all or
// nothing, and the JSON result of nova's XenServer plugin,
// {"root": {"uuid": LEAF}}, on stdout.
func runDownload(ctx context.Context, e *env, args []string) error {
	fset := newFlagSet(e, "download", "--sr DIR [--uuid U]... < image.tgz")
	sr := fset.String("sr", "", "the SR directory to import into (required)")
	var uuids listFlag
	fset.Var(&uuids, "uuid", "UUID of the next VHD in sequence order, 0.vhd (the leaf) first; repeat for each VHD (default: fresh UUIDs)")
	hide := fset.Bool("hide-interior", false, "mark every VHD but the leaf hidden")
	noSync := fset.Bool("no-sync", false, "skip the fsyncs (unsafe: a crash may lose the import)")
	maxDepth := fset.Int("max-depth", staging.DefaultMaxDepth, "refuse images with more VHDs")
	printMD5 := fset.Bool("md5", false, "print the MD5 of the compressed stream on stderr (Glance's checksum)")
	expectMD5 := fset.String("expect-md5", "", "refuse the image, before anything touches the SR, unless the compressed stream has this MD5 (hex)")
	if err := fset.parse(args, 0, 0); err != nil {
		return err
	}
	if *sr == "" {
		return fset.fail("--sr is required")
	}
	ids, err := staging.ParseUUIDs(uuids)
	if err != nil {
		return err
	}
	sum := md5.New()
	opts := &staging.ImportOptions{
		UUIDs:        ids,
		HideInterior: *hide,
		MaxDepth:     *maxDepth,
		NoSync:       *noSync,
		Logger:       fset.logger(),
	}
	in := e.stdin
	if *printMD5 || *expectMD5 != "" {
		in = io.TeeReader(in, sum)
	}
	if *expectMD5 != "" {
		want := strings.ToLower(*expectMD5)
		opts.BeforeCommit = func(context.Context, *staging.Result) error {
			if got := fmt.Sprintf("%x", sum.Sum(nil)); got != want {
				return fmt.Errorf("checksum mismatch: the image's MD5 is %s, expected %s", got, want)
			}
			return nil
		}
	}
	warnStale(e, *sr)
	p := fset.printer()
	total := inputSize(e.stdin)
	opts.Progress = func(s staging.Progress) {
		st := stagingStatus(s)
		if st.Total == 0 {
			st.Total = total // hidden by the MD5's TeeReader
		}
		p.Update(st)
	}
	res, err := staging.Import(ctx, in, *sr, opts)
	p.Finish(err)
	if err != nil {
		return err
	}
	if *printMD5 {
		fmt.Fprintf(e.stderr, "md5 %x\n", sum.Sum(nil))
	}
	out, err := json.Marshal(res)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(e.stdout, "%s\n", out)
	return err
}

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(s string) error {
	*l = append(*l, s)
	return nil
}
