// Command vdi-transfer moves chains of VHD files as gzip-compressed tar
// streams, the format of nova's XenServer plugin (Glance upload and
// download):
//
//	vdi-transfer pack DIR > image.tgz             # DIR's files, 0.vhd first
//	vdi-transfer unpack DIR < image.tgz           # into the empty DIR
//	vdi-transfer upload --sr SR UUID... > image.tgz
//	vdi-transfer download --sr SR < image.tgz     # JSON result on stdout
//	vdi-transfer recover --sr SR                  # remove what killed runs left
//	vdi-transfer convert [--to vhd|raw|fixed] [--relative-to BASE.vhd] LEAF.vhd > out.vhd
//	vdi-transfer convert --from raw DISK.raw > out.vhd
//
// Flags come before arguments. Run "vdi-transfer COMMAND -h" for a
// command's flags. Exit status: 0 on success and for -h, 1 when the work
// failed, 2 for a usage error.
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
	"strings"
	"syscall"

	"github.com/vhdkit/vhdkit/examples/internal/console"
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
		"recover":  {"undo and remove what interrupted uploads and downloads left in the SR --sr", runRecover},
		"convert":  {"write a chain's disk, a raw image or a VHD stream on stdin as one VHD (or raw) to stdout", runConvert},
	}
}

// env is what a command may use instead of the process globals, so tests
// can run commands in process.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

// usageError is a usage error: main prints it, then the usage, and exits 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

func main() {
	// A closed stdout (vdi-transfer upload ... | head -c 1000) must be an
	// ordinary write error, EPIPE, which the command handles by cleaning
	// up, not a SIGPIPE that kills the process before it can.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}, os.Args[1:])
	stop()
	os.Exit(code)
}

// run dispatches args to a command and returns the exit status.
func run(ctx context.Context, e *env, args []string) int {
	cmds := commands()
	if len(args) == 0 {
		fmt.Fprintln(e.stderr, "vdi-transfer: no command given")
		mainUsage(e.stderr, cmds)
		return 2
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		mainUsage(e.stderr, cmds)
		return 0
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(e.stderr, "vdi-transfer: unknown command %q\n", args[0])
		mainUsage(e.stderr, cmds)
		return 2
	}
	err := cmd.run(ctx, e, args[1:])
	var ue *usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0 // -h: the usage asked for was printed
	case errors.As(err, &ue), errors.Is(err, errFlagParse):
		return 2 // the reason and the usage were printed
	}
	fmt.Fprintf(e.stderr, "vdi-transfer %s: %v\n", args[0], err)
	return 1
}

func mainUsage(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "usage: vdi-transfer COMMAND [flags] ARGS\n\ncommands:")
	names := make([]string, 0, len(cmds))
	for name := range cmds {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		fmt.Fprintf(w, "  %-8s %s\n", name, cmds[name].summary)
	}
	fmt.Fprintln(w, "\nRun \"vdi-transfer COMMAND -h\" for a command's flags; flags come before arguments.")
}

// errFlagParse marks a flag the flag package refused; it has printed why
// and the usage.
var errFlagParse = errors.New("bad flag")

// commonFlags are the flags every command has.
type commonFlags struct {
	verbose  bool
	progress bool
}

// cmdFlags is a command's flag set with its synopsis.
type cmdFlags struct {
	*flag.FlagSet
	e        *env
	synopsis string
	common   commonFlags
}

// newFlagSet makes a flag set for a command, with the common flags, that
// prints usage (with argument synopsis) to stderr.
func newFlagSet(e *env, name, synopsis string) *cmdFlags {
	fs := &cmdFlags{FlagSet: flag.NewFlagSet(name, flag.ContinueOnError), e: e, synopsis: synopsis}
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "usage: vdi-transfer %s [flags] %s\n\nflags (before the arguments):\n", name, synopsis)
		fs.PrintDefaults()
	}
	fs.BoolVar(&fs.common.verbose, "v", false, "log debug messages to stderr")
	fs.BoolVar(&fs.common.progress, "progress", false, "report progress on stderr (always on when stderr is a terminal)")
	return fs
}

// parse parses args and checks the number of positional arguments. A
// usage error prints its reason, then the usage.
func (fs *cmdFlags) parse(args []string, minArgs, maxArgs int) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %w", errFlagParse, err) // flag printed the reason and the usage
	}
	rest := fs.Args()
	for i, a := range rest {
		if a == "--" {
			break
		}
		if len(a) > 1 && a[0] == '-' && i > 0 {
			return fs.fail("flag %s after the argument %q: flags must come before the arguments", a, rest[i-1])
		}
		if len(a) > 1 && a[0] == '-' {
			break // a negative number or the like, taken as an argument
		}
	}
	switch n := fs.NArg(); {
	case n < minArgs:
		return fs.fail("too few arguments: %s", fs.synopsis)
	case maxArgs >= 0 && n > maxArgs:
		return fs.fail("too many arguments (%s): %s", strings.Join(rest[maxArgs:], " "), fs.synopsis)
	}
	return nil
}

// fail prints a usage error's reason and the usage, and returns the error.
func (fs *cmdFlags) fail(format string, args ...any) error {
	err := usagef(format, args...)
	fmt.Fprintf(fs.e.stderr, "vdi-transfer %s: %v\n", fs.Name(), err)
	fs.Usage()
	return err
}

// logger returns a debug logger on stderr when verbose, else nil (silent).
func (fs *cmdFlags) logger() *slog.Logger {
	if !fs.common.verbose {
		return nil
	}
	return slog.New(slog.NewTextHandler(fs.e.stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// printer returns the command's progress printer.
func (fs *cmdFlags) printer() *console.Printer {
	return console.NewPrinter(fs.e.stderr, fs.Name(), fs.common.progress)
}
