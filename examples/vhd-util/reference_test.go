package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vhdkit/vhdkit/vhd"
)

// buildCommand builds this command as it ships (CGO_ENABLED=0) into dir.
func buildCommand(t testing.TB, dir string) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("go tool not found: %v", err)
	}
	bin := filepath.Join(dir, "vhd-util")
	build := exec.Command(goTool, "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("CGO_ENABLED=0 go build: %v\n%s", err, out)
	}
	return bin
}

// An outcome is what one run of a vhd-util binary did: its exit status,
// its standard output (for check, up to the line that starts the metadata
// dump, whose format is free), the first line of its standard error, and
// the files of its directory afterwards.
type outcome struct {
	Code   int
	Stdout string
	Stderr string
	Files  map[string]string // name -> content (masked), "dir", or "-> target"
}

const dumpLine = " appears invalid; dumping metadata\n"

// runBinary runs bin with args in a copy of src and returns what it did;
// the copy's path in the output reads "$D".
func runBinary(bin, src, work string, args []string, fresh map[string]bool) (outcome, error) {
	o, err := runOnce(bin, src, work, args, 120*time.Second)
	if err != nil {
		return o, err
	}
	o.Files, err = treeContents(work, fresh, madeBy(args))
	return o, err
}

// runOnce runs bin with args in a copy of src, killing it after timeout
// (exit status -1); it does not look at the files afterwards.
func runOnce(bin, src, work string, args []string, timeout time.Duration) (outcome, error) {
	if err := copyTree(src, work); err != nil {
		return outcome{}, err
	}
	return runIn(bin, work, args, timeout)
}

// runIn runs bin with args in the directory work, killing it after timeout
// (exit status -1).
func runIn(bin, work string, args []string, timeout time.Duration) (outcome, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Args[0] = "vhd-util" // getopt's complaints name argv[0]
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "TZ=UTC")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var o outcome
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		o.Code = ee.ExitCode()
		if ctx.Err() != nil {
			o.Code = -1 // timed out
		}
	case err != nil:
		return o, err
	}
	o.Stdout = strings.ReplaceAll(out.String(), work, "$D")
	if i := strings.Index(o.Stdout, dumpLine); i >= 0 && len(args) > 0 && args[0] == "check" {
		o.Stdout = o.Stdout[:i+len(dumpLine)]
	}
	o.Stderr, _, _ = strings.Cut(strings.ReplaceAll(errb.String(), work, "$D"), "\n")
	if strings.Contains(errb.String(), "goroutine ") || strings.Contains(errb.String(), "panic:") {
		o.Stderr = "PANIC: " + errb.String()
	}
	return o, nil
}

// copyTree copies the directory src to dst (which must not exist),
// keeping modification times, which snapshot and modify record.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(l, to)
		case info.IsDir():
			return os.MkdirAll(to, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := os.WriteFile(to, b, info.Mode().Perm()); err != nil {
			return err
		}
		return os.Chtimes(to, info.ModTime(), info.ModTime())
	})
}

// treeContents returns the files under dir. Files not in old (made by the
// command) have their footers' timestamp, checksum and UUID masked, since
// they differ from run to run.
func treeContents(dir string, old map[string]bool, made string) (map[string]string, error) {
	m := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "." {
			return nil
		}
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			m[rel] = "-> " + l
			return nil
		case info.IsDir():
			m[rel] = "dir"
			return nil
		}
		b, err := readCapped(p, info.Size())
		if err != nil {
			return err
		}
		if old != nil && (!old[rel] || rel == made) {
			for _, off := range []int{0, len(b) - 512} {
				if off >= 0 && len(b) >= 512 && string(b[off:off+8]) == "conectix" {
					clear(b[off+24 : off+28])
					clear(b[off+64 : off+84])
				}
			}
		}
		m[rel] = string(b)
		return nil
	})
	return m, err
}

// madeBy returns the file create or snapshot makes (-n), whose identity
// and time differ from run to run; "" for other commands.
func madeBy(args []string) string {
	if len(args) == 0 || args[0] != "create" && args[0] != "snapshot" {
		return ""
	}
	for i := 1; i+1 < len(args); i++ {
		if args[i] == "-n" {
			return args[i+1]
		}
	}
	return ""
}

// describeFiles says how the files of two outcomes differ, briefly.
func describeFiles(ours, ref map[string]string) string {
	var out []string
	names := map[string]bool{}
	for n := range ours {
		names[n] = true
	}
	for n := range ref {
		names[n] = true
	}
	var sorted []string
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)
	for _, n := range sorted {
		a, okA := ours[n]
		b, okB := ref[n]
		switch {
		case !okA:
			out = append(out, n+": only vhd-util's run has it")
		case !okB:
			out = append(out, n+": only ours has it")
		case a != b:
			i := 0
			for i < len(a) && i < len(b) && a[i] == b[i] {
				i++
			}
			out = append(out, fmt.Sprintf("%s: ours %d bytes, vhd-util's %d, first difference at %d", n, len(a), len(b), i))
		}
	}
	return strings.Join(out, "; ")
}

// TestReference runs the hostile corpus through this command and through
// the blktap vhd-util that VHDKIT_VHDUTIL names, each in its own copy of
// the files, and compares exit status, standard output (for a failing
// check, up to the dump), the first line of standard error and the files
// afterwards. Differences that are deliberate are listed in
// deliberateDifferences and in the README.
func TestReference(t *testing.T) {
	ref := os.Getenv("VHDKIT_VHDUTIL")
	if ref == "" {
		t.Skip("VHDKIT_VHDUTIL does not name a blktap vhd-util")
	}
	root := t.TempDir()
	ours := os.Getenv("VHDKIT_VHDUTIL_OURS") // a prebuilt drop-in, to count the differences of an old one
	if ours == "" {
		ours = buildCommand(t, root)
	}
	cases := corpus()
	if pat := os.Getenv("VHDKIT_CORPUS"); pat != "" {
		var keep []corpusCase
		for _, c := range cases {
			if strings.Contains(c.name, pat) {
				keep = append(keep, c)
			}
		}
		cases = keep
	}
	type job struct {
		c   int
		cmd int
		src string
		old map[string]bool
	}
	var jobs []job
	for i, c := range cases {
		src := filepath.Join(root, fmt.Sprintf("src%d", i))
		if err := os.Mkdir(src, 0o755); err != nil {
			t.Fatal(err)
		}
		if c.setup != nil {
			c.setup(t, src)
		}
		old, err := treeContents(src, nil, "")
		if err != nil {
			t.Fatal(err)
		}
		names := map[string]bool{}
		for n := range old {
			names[n] = true
		}
		for j := range c.cmds {
			jobs = append(jobs, job{i, j, src, names})
		}
	}
	type result struct {
		ours, ref outcome
		files     string // how the files differ
		err       error
	}
	results := make([]result, len(jobs))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64) // vhd-util sleeps 10-20 s on some headers
	for k, jb := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			args := cases[jb.c].cmds[jb.cmd]
			var r result
			r.ours, r.err = runBinary(ours, jb.src, filepath.Join(root, fmt.Sprintf("o%d", k)), args, jb.old)
			if r.err == nil {
				r.ref, r.err = runBinary(ref, jb.src, filepath.Join(root, fmt.Sprintf("r%d", k)), args, jb.old)
			}
			os.RemoveAll(filepath.Join(root, fmt.Sprintf("o%d", k)))
			os.RemoveAll(filepath.Join(root, fmt.Sprintf("r%d", k)))
			r.files = describeFiles(r.ours.Files, r.ref.Files)
			r.ours.Files, r.ref.Files = nil, nil
			results[k] = r
		}()
	}
	wg.Wait()
	var differ, kept int
	var report strings.Builder
	for k, jb := range jobs {
		r := results[k]
		c := cases[jb.c]
		args := c.cmds[jb.cmd]
		label := fmt.Sprintf("%s: vhd-util %s", c.name, strings.Join(args, " "))
		if r.err != nil {
			t.Errorf("%s: %v", label, r.err)
			continue
		}
		if r.ours.Code == -1 || strings.HasPrefix(r.ours.Stderr, "PANIC") {
			t.Errorf("%s: ours crashed or hung: %+v", label, r.ours)
		}
		files := r.files
		diff := cmp.Diff(r.ref, r.ours)
		if diff == "" && files == "" {
			continue
		}
		if why := deliberate(c.name, args, r.ref, r.ours, files); why != "" {
			kept++
			fmt.Fprintf(&report, "KEPT %s (%s)\n", label, why)
			continue
		}
		differ++
		fmt.Fprintf(&report, "DIFF %s\n  vhd-util: %d %q %q\n  ours:     %d %q %q\n  files: %s\n", label,
			r.ref.Code, r.ref.Stdout, r.ref.Stderr, r.ours.Code, r.ours.Stdout, r.ours.Stderr, files)
	}
	if p := os.Getenv("VHDKIT_CORPUS_REPORT"); p != "" {
		os.WriteFile(p, []byte(report.String()), 0o644)
	}
	t.Logf("%d cases, %d commands compared; %d differ, %d deliberate differences kept", len(cases), len(jobs), differ, kept)
	if differ > 0 {
		t.Errorf("%d commands differ from vhd-util:\n%s", differ, report.String())
	}
}

// deliberate returns why a difference from vhd-util is kept, or "": the
// rows of the README's table of differences.
func deliberate(name string, args []string, ref, ours outcome, files string) string {
	if len(args) == 0 {
		return ""
	}
	switch {
	case ref.Code == -1 || ref.Code == 134:
		return "vhd-util hangs or aborts"
	case (args[0] == "set" || args[0] == "modify") && ours.Code == errEINVAL && strings.Contains(ours.Stderr, "not changed: it fails check"):
		return "writers refuse a file that fails check"
	case args[0] == "snapshot" && ours.Code == errEINVAL && strings.Contains(ours.Stderr, "not used as a parent: it fails check"):
		return "snapshot refuses a parent that fails check"
	case args[0] == "modify" && ref.Code == 0 && ours.Code == 0 && ref.Stdout == ours.Stdout && files != "":
		return "modify -p writes new locators before the header, never over the live ones"
	case args[0] == "modify" && ours.Code == errEINVAL && len(args) >= 5 && (args[4] == args[2] || args[4] == "c.vhd"):
		return "modify -p refuses to make a disk its own parent"
	case above2040GiB(name) && ours.Code == errEINVAL,
		args[0] == "create" && strings.Contains(ours.Stderr, "failed to create: -22") && ref.Code == 0:
		return "sizes above 2040 GiB are refused"
	case args[0] == "snapshot" && ref.Code == 0 && ours.Code == errEINVAL && oddSize(name):
		return "snapshot refuses a parent whose size is not whole sectors"
	case args[0] == "snapshot" && ours.Code == errEINVAL && madeBy(args) != "" && madeBy(args) == snapshotParent(args):
		return "a snapshot onto its own parent is refused"
	case args[0] == "check" && ref.Code == 0 && ours.Code == errEINVAL && strings.Contains(name, "].data_length=") &&
		strings.HasPrefix(ours.Stdout, "error reading parent locator "):
		return "a locator's data is not read past its data space"
	case ours.Code == errEINVAL && strings.Contains(name, "2^63"),
		args[0] == "snapshot" && ours.Code == errEINVAL && tooLargeS(args):
		return "sizes above 2040 GiB are refused"
	}
	return ""
}

// above2040GiB reports whether a corpus case sets a current size above
// XenServer's limit.
func above2040GiB(name string) bool {
	const p = "current_size="
	i := strings.Index(name, p)
	if i < 0 {
		return false
	}
	v := name[i+len(p):]
	v, _, _ = strings.Cut(v, "/")
	if v == "max" {
		return true
	}
	var n uint64
	if _, err := fmt.Sscanf(v, "%v", &n); err != nil {
		return false
	}
	return n > vhd.MaxSize
}

// oddSize reports whether a corpus case sets a current size that is not a
// multiple of 512.
func oddSize(name string) bool {
	var n uint64
	_, v, ok := strings.Cut(name, "current_size=")
	v, _, _ = strings.Cut(v, "/")
	if _, err := fmt.Sscanf(v, "%v", &n); !ok || err != nil {
		return false
	}
	return n%512 != 0
}

// snapshotParent returns snapshot's -p argument.
func snapshotParent(args []string) string {
	for i := 1; i+1 < len(args); i++ {
		if args[i] == "-p" {
			return args[i+1]
		}
	}
	return ""
}

// tooLargeS reports whether a command asks for -S above 2040 GiB.
func tooLargeS(args []string) bool {
	for i := 1; i+1 < len(args); i++ {
		if args[i] == "-S" && strtoull(args[i+1]) > vhd.MaxSize>>20 {
			return true
		}
	}
	return false
}

// readCapped reads a file, or for one above 64 MiB (a footer written far
// past the data makes a sparse file of any size) its size, its first MiB
// and its last.
func readCapped(p string, size int64) ([]byte, error) {
	if size <= 64<<20 {
		return os.ReadFile(p)
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, 2<<20)
	if _, err := f.ReadAt(b[:1<<20], 0); err != nil {
		return nil, err
	}
	if _, err := f.ReadAt(b[1<<20:], size-1<<20); err != nil {
		return nil, err
	}
	return append([]byte(fmt.Sprintf("size %d\n", size)), b...), nil
}

// TestCorpusNoCrash runs every command of the hostile corpus through the
// built command, as a process: none may panic (no Go stack trace on
// stderr), die of a signal, exit with a status above 255's errno range or
// take more than a few seconds. Before the vhd package's overflow checks,
// a snapshot of a parent whose footer claims 2^63 bytes panicked in
// File.AllocatedBlocks.
func TestCorpusNoCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command and runs a few thousand processes; skipped with -short")
	}
	root := t.TempDir()
	bin := buildCommand(t, root)
	cases := corpus()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	var mu sync.Mutex
	var failures []string
	for i, c := range cases {
		src := filepath.Join(root, fmt.Sprintf("src%d", i))
		if err := os.Mkdir(src, 0o755); err != nil {
			t.Fatal(err)
		}
		if c.setup != nil {
			c.setup(t, src)
		}
		for j, args := range c.cmds {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				var o outcome
				var err error
				if len(args) > 0 && (args[0] == "query" || args[0] == "check") {
					// Readers run in the case's own files, which nothing writes.
					o, err = runIn(bin, src, args, 20*time.Second)
				} else {
					work := filepath.Join(root, fmt.Sprintf("w%d-%d", i, j))
					defer os.RemoveAll(work)
					o, err = runOnce(bin, src, work, args, 20*time.Second)
				}
				bad := ""
				switch {
				case err != nil:
					bad = err.Error()
				case o.Code < 0 || o.Code >= 128:
					bad = fmt.Sprintf("exit status %d (signal or timeout)", o.Code)
				case strings.HasPrefix(o.Stderr, "PANIC"):
					bad = o.Stderr
				}
				if bad != "" {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("%s: vhd-util %s: %s", c.name, strings.Join(args, " "), bad))
					mu.Unlock()
				}
			}()
		}
		wg.Wait() // one case's files at a time on disk
		os.RemoveAll(src)
	}
	sort.Strings(failures)
	for _, f := range failures {
		t.Error(f)
	}
}
