package main

import (
	"context"
	"crypto/md5"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vhdkit/vhdkit/staging"
)

// runDownload implements "vdi-transfer download --sr DIR [--uuid U]...": the
// Glance download, a tar.gz image on stdin imported into the SR, all or
// nothing, and the seed's JSON result on stdout.
func runDownload(ctx context.Context, e *env, args []string) error {
	var common commonFlags
	fset := newFlagSet(e, "download", "--sr DIR [--uuid U]... < image.tgz", &common)
	sr := fset.String("sr", "", "the SR directory to import into (required)")
	var uuids listFlag
	fset.Var(&uuids, "uuid", "UUID of the next VHD in sequence order, 0.vhd (the leaf) first; repeat for each VHD (default: fresh UUIDs)")
	hide := fset.Bool("hide-interior", false, "mark every VHD but the leaf hidden")
	noSync := fset.Bool("no-sync", false, "skip the fsyncs (unsafe: a crash may lose the import)")
	maxDepth := fset.Int("max-depth", staging.DefaultMaxDepth, "refuse images with more VHDs")
	printMD5 := fset.Bool("md5", false, "print the MD5 of the compressed stream on stderr (Glance's checksum)")
	expectMD5 := fset.String("expect-md5", "", "refuse the image, before anything touches the SR, unless the compressed stream has this MD5 (hex)")
	if err := parseArgs(fset, args, 0, 0); err != nil {
		return err
	}
	if *sr == "" {
		fset.Usage()
		return errUsage
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
		Logger:       common.logger(e),
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
	p := newProgress(e, common.progress, "download", inputSize(e.stdin))
	opts.Progress = p.update
	res, err := staging.Import(ctx, in, *sr, opts)
	p.finish(err)
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

// inputSize returns the size of r when it is a regular file (for an ETA),
// else 0.
func inputSize(r io.Reader) int64 {
	f, ok := r.(*os.File)
	if !ok {
		return 0
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return 0
	}
	return fi.Size()
}

// progress prints bytes, rate and ETA on stderr: rewriting one line on a
// terminal, a line every few seconds otherwise. It prints nothing unless
// stderr is a terminal or --progress was given.
type progress struct {
	w        io.Writer
	on, tty  bool
	what     string
	size     int64 // compressed input size for downloads, when known
	start    time.Time
	last     time.Time
	lastLine int
	p        staging.Progress
}

func newProgress(e *env, asked bool, what string, size int64) *progress {
	tty := isTerminal(e.stderr)
	return &progress{w: e.stderr, on: asked || tty, tty: tty, what: what, size: size, start: time.Now()}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

func (p *progress) update(s staging.Progress) {
	if !p.on {
		return
	}
	if s.Phase == staging.PhaseExtract || s.Phase == staging.PhasePack {
		p.p = s
	}
	now := time.Now()
	every := time.Second / 4
	if !p.tty {
		every = 2 * time.Second
	}
	if now.Sub(p.last) < every && (s.Phase == staging.PhaseExtract || s.Phase == staging.PhasePack) {
		return
	}
	if s.Done == 0 {
		return // nothing to say yet
	}
	p.last = now
	p.print(string(s.Phase))
}

func (p *progress) print(phase string) {
	elapsed := time.Since(p.start)
	secs := max(elapsed.Seconds(), 1e-3)
	var line string
	var done, total int64
	if p.what == "download" {
		// The compressed stream is what can be predicted, when its size is known.
		done, total = p.p.Compressed, p.size
		line = fmt.Sprintf("download %s: %s read, %s extracted", phase, mib(done), mib(p.p.Logical))
	} else {
		done, total = p.p.Done, p.p.Total
		line = fmt.Sprintf("upload %s: %s of %s read, %s written", phase, mib(done), mib(total), mib(p.p.Compressed))
	}
	rate := float64(done) / secs
	line += fmt.Sprintf(", %.0f MB/s", rate/1e6)
	if total > 0 && done > 0 && done < total {
		line += fmt.Sprintf(", %d%%", done*100/total)
		if elapsed >= time.Second {
			eta := time.Duration(float64(total-done) / rate * float64(time.Second)).Round(time.Second)
			line += fmt.Sprintf(", ETA %v", eta)
		}
	}
	if p.tty {
		pad := ""
		if n := p.lastLine - len(line); n > 0 {
			pad = strings.Repeat(" ", n)
		}
		fmt.Fprintf(p.w, "\r%s%s", line, pad)
		p.lastLine = len(line)
		return
	}
	fmt.Fprintln(p.w, line)
}

func (p *progress) finish(err error) {
	if !p.on {
		return
	}
	if err == nil {
		p.print("done in " + time.Since(p.start).Round(time.Millisecond).String())
	}
	if p.tty {
		fmt.Fprintln(p.w)
	}
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
