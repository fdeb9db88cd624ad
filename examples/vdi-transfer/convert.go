package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/vhdkit/vhdkit/chain"
	"github.com/vhdkit/vhdkit/examples/internal/console"
	"github.com/vhdkit/vhdkit/vhd"
)

// runConvert implements "vdi-transfer convert [--from vhd|raw] [--to
// vhd|raw|fixed] [--relative-to BASE.vhd] [--size] SRC": one disk out on
// stdout as a single VHD stream (consolidated dynamic, delta, fixed) or raw.
//
// SRC is a leaf VHD whose parents resolve inside its own directory, a raw
// image with --from raw, or - for a VHD stream on stdin. --relative-to
// gives a delta against an ancestor of SRC. --size prints only the number
// of bytes the same command without it would write. A failed or
// interrupted conversion stops without the stream's footer, so a receiver
// never takes it for whole.
func runConvert(ctx context.Context, e *env, args []string) error {
	fset := newFlagSet(e, "convert", "[--from vhd|raw] [--to vhd|raw|fixed] [--relative-to BASE.vhd] [--size] SRC > OUT")
	from := fset.String("from", "vhd", "what SRC is: vhd (a leaf, or - for a VHD stream on stdin) or raw")
	to := fset.String("to", "vhd", "what to write: vhd (dynamic; a delta with --relative-to), fixed or raw")
	relTo := fset.String("relative-to", "", "write a delta (differencing VHD) against this ancestor of SRC")
	sizeOnly := fset.Bool("size", false, "print only the number of bytes the conversion would write")
	force := fset.Bool("f", false, "write even if stdout is a terminal")
	if err := fset.parse(args, 1, 1); err != nil {
		return err
	}
	src := fset.Arg(0)
	switch {
	case *from != "vhd" && *from != "raw":
		return fset.fail("--from %q: want vhd or raw", *from)
	case *to != "vhd" && *to != "raw" && *to != "fixed":
		return fset.fail("--to %q: want vhd, raw or fixed", *to)
	case *relTo != "" && (*from != "vhd" || *to != "vhd" || src == "-"):
		return fset.fail("--relative-to needs --from vhd --to vhd and a leaf VHD as SRC")
	case *from == "raw" && *to == "raw":
		return fset.fail("--from raw --to raw: nothing to convert")
	case src == "-" && *from == "raw":
		return fset.fail("--from raw needs a file: raw input is read twice (plan, then write)")
	case src == "-" && *to == "fixed":
		return fset.fail("a VHD stream on stdin converts --to vhd or raw")
	case src == "-" && *sizeOnly:
		return fset.fail("--size needs a file: the size of a stream on stdin is known only once it is read")
	}
	if !*sizeOnly && !*force {
		if err := console.RefuseTerminal(e.stdout, "a disk image"); err != nil {
			return err
		}
	}
	p := fset.printer()
	progress := func(phase, name string, done, total int64) {
		p.Update(console.Status{Phase: phase, Name: name, Done: done, Total: total})
	}
	var err error
	switch {
	case src == "-":
		err = convertStream(ctx, e, *to, progress)
	case *from == "raw":
		err = convertRaw(ctx, e, src, *to, *sizeOnly, progress)
	default:
		err = convertChain(ctx, e, src, *to, *relTo, *sizeOnly, fset, progress)
	}
	if !*sizeOnly {
		p.Finish(err)
	}
	return err
}

type progressFunc func(phase, name string, done, total int64)

// printSize prints n and a newline.
func printSize(e *env, n int64) error {
	_, err := fmt.Fprintln(e.stdout, n)
	return err
}

func convertChain(ctx context.Context, e *env, leaf, to, relTo string, sizeOnly bool, fset *cmdFlags, progress progressFunc) error {
	root, err := filepath.Abs(filepath.Dir(leaf))
	if err != nil {
		return err
	}
	c, err := chain.Walk(ctx, leaf, &chain.Options{Root: root, Logger: fset.logger()})
	if err != nil {
		return err
	}
	defer c.Close()
	report := func(pr chain.Progress) { progress(string(pr.Phase), pr.Name, pr.Done, pr.Total) }
	if to == "raw" {
		if sizeOnly {
			return printSize(e, c.VirtualSize())
		}
		return c.WriteRaw(ctx, e.stdout, &chain.WriteRawOptions{Progress: report})
	}
	opts := &chain.StreamOptions{Format: chain.StreamConsolidated, Progress: report}
	if to == "fixed" {
		opts.Format = chain.StreamFixed
	}
	if relTo != "" {
		opts.Format, opts.RelativeTo = chain.StreamDelta, relTo
	}
	plan, err := c.PlanStream(ctx, opts)
	if err != nil {
		return err
	}
	if sizeOnly {
		return printSize(e, plan.Size())
	}
	_, err = plan.WriteStream(ctx, e.stdout)
	return err
}

func convertRaw(ctx context.Context, e *env, src, to string, sizeOnly bool, progress progressFunc) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", src)
	}
	typ := vhd.DiskDynamic
	if to == "fixed" {
		typ = vhd.DiskFixed
	}
	plan, err := vhd.PlanRawStream(ctx, f, st.Size(), &vhd.RawStreamOptions{Type: typ, Name: src,
		Progress: func(pr vhd.Progress) { progress(string(pr.Phase), pr.Name, pr.Done, pr.Total) }})
	if err != nil {
		return err
	}
	if sizeOnly {
		return printSize(e, plan.Size())
	}
	_, err = plan.WriteStream(ctx, e.stdout)
	return err
}

func convertStream(ctx context.Context, e *env, to string, progress progressFunc) error {
	s, err := vhd.NewStreamReader(ctx, e.stdin, &vhd.ReadStreamOptions{Name: "stdin",
		Progress: func(pr vhd.Progress) { progress(string(pr.Phase), pr.Name, pr.Done, pr.Total) }})
	if err != nil {
		return err
	}
	var w io.Writer = e.stdout
	if to == "raw" {
		_, err = s.WriteRaw(ctx, w)
	} else {
		_, err = s.WriteVHD(ctx, w)
	}
	return err
}
