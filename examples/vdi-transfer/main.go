// Command vdi-transfer moves chains of VHD files as gzip-compressed tar
// streams, the format XenServer's Glance plugin uses:
//
//	vdi-transfer pack DIR > image.tgz      # DIR's files, 0.vhd first
//	vdi-transfer unpack DIR < image.tgz    # into the empty DIR
//
// Run "vdi-transfer COMMAND -h" for a command's flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/vhdkit/vhdkit/tarball"
)

// command is one subcommand: run gets the arguments after the command name.
type command struct {
	summary string
	run     func(ctx context.Context, env *env, args []string) error
}

// commands is the dispatch table. A new subcommand lives in its own file
// and is added here with one line.
func commands() map[string]command {
	return map[string]command{
		"pack":     {"write DIR's files as a tar.gz archive to stdout", runPack},
		"unpack":   {"extract a tar.gz archive from stdin into the empty DIR", runUnpack},
		"upload":   {"stream VDIs (leaf first) from the SR --sr as a tar.gz image to stdout", runUpload},
		"download": {"import a tar.gz image from stdin into the SR --sr; JSON result on stdout", runDownload},
	}
}

// env is what a command may use instead of the process globals, so tests
// can run commands in process.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

// errUsage makes main exit with status 2 after the usage was printed.
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}, os.Args[1:])
	stop()
	os.Exit(code)
}

// run dispatches args to a command and returns the exit status.
func run(ctx context.Context, e *env, args []string) int {
	cmds := commands()
	if len(args) == 0 || cmds[args[0]].run == nil {
		fmt.Fprintln(e.stderr, "usage: vdi-transfer COMMAND [flags] ARGS\n\ncommands:")
		names := make([]string, 0, len(cmds))
		for name := range cmds {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			fmt.Fprintf(e.stderr, "  %-8s %s\n", name, cmds[name].summary)
		}
		return 2
	}
	err := cmds[args[0]].run(ctx, e, args[1:])
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errUsage), errors.Is(err, flag.ErrHelp):
		return 2
	}
	fmt.Fprintf(e.stderr, "vdi-transfer %s: %v\n", args[0], err)
	return 1
}

// commonFlags are the flags every command has.
type commonFlags struct {
	verbose  bool
	progress bool
}

// newFlagSet makes a flag set for a command, with the common flags, that
// prints usage (with argument synopsis) to stderr.
func newFlagSet(e *env, name, synopsis string, common *commonFlags) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "usage: vdi-transfer %s [flags] %s\n", name, synopsis)
		fs.PrintDefaults()
	}
	fs.BoolVar(&common.verbose, "v", false, "log debug messages to stderr")
	fs.BoolVar(&common.progress, "progress", false, "report progress on stderr")
	return fs
}

// parseArgs parses args and checks the number of positional arguments.
func parseArgs(fs *flag.FlagSet, args []string, minArgs, maxArgs int) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if n := fs.NArg(); n < minArgs || (maxArgs >= 0 && n > maxArgs) {
		fs.Usage()
		return errUsage
	}
	return nil
}

// logger returns a debug logger on stderr when verbose, else nil (silent).
func (c *commonFlags) logger(e *env) *slog.Logger {
	if !c.verbose {
		return nil
	}
	return slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// progressFunc returns a callback printing at most one line a second, or
// nil when progress was not asked for.
func (c *commonFlags) progressFunc(e *env) func(tarball.Progress) {
	if !c.progress {
		return nil
	}
	var last time.Time
	start := time.Now()
	return func(p tarball.Progress) {
		now := time.Now()
		if now.Sub(last) < time.Second {
			return
		}
		last = now
		secs := max(now.Sub(start).Seconds(), 1e-3)
		total := ""
		if p.Total > 0 {
			total = fmt.Sprintf(" of %d MiB", p.Total>>20)
		}
		fmt.Fprintf(e.stderr, "%s: %d MiB%s, %d MiB files, %d MiB compressed, %.0f MB/s\n",
			p.Name, p.Done>>20, total, p.Logical>>20, p.Compressed>>20, float64(p.Done)/secs/1e6)
	}
}
