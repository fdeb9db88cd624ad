package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/vhdkit/vhdkit/chain"
)

// errETIMEDOUT is the status of a file the scan gave up on.
const errETIMEDOUT = 110

func scanUsage(w io.Writer) {
	fmt.Fprint(w, "usage: [OPTIONS] FILES\n"+
		"options: [-m match filter] [-f fast] [-c continue on failure] "+
		"[-l LVM volume] [-p pretty print] [-a scan parents] "+
		"[-v verbose] [-h help] [-M show markers]\n")
}

// scanFlags are scan's options.
type scanFlags struct {
	fast, noFail, pretty, parents, verbose, markers bool
}

// A scanTarget is one file scan reports on, in the order vhd-util
// reports them.
type scanTarget struct {
	name    string // as given (or found by -m, or a parent's name)
	raw     bool   // a raw parent found by -a: reported from stat, not opened
	statErr error  // the file could not be found at all
	entry   chain.ScanEntry
	done    bool
}

// runScan is vhd-util scan: every file of the -m glob and the operands,
// scanned in parallel by chain.Scan, printed in vhd-util's order and words.
// One file that cannot be read never blocks or hides the others; with -c
// every file is reported, without it the scan stops at the first error as
// vhd-util does.
func runScan(args []string, stdout, stderr io.Writer) int {
	var fl scanFlags
	var filter string
	var haveFilter, volume bool
	opts, operands := getopt("scan", args, "m:fcl:pavMh", stderr)
	for _, o := range opts {
		switch {
		case o.bad:
			scanUsage(stdout)
			return errEINVAL
		case o.c == 'm':
			filter, haveFilter = o.arg, true
		case o.c == 'f':
			fl.fast = true
		case o.c == 'c':
			fl.noFail = true
		case o.c == 'l':
			volume = true
		case o.c == 'p':
			fl.pretty = true
		case o.c == 'a':
			fl.parents = true
		case o.c == 'v':
			fl.verbose = true
		case o.c == 'M':
			fl.markers = true
		case o.c == 'h':
			scanUsage(stdout)
			return 0
		}
	}
	if !haveFilter && len(operands) == 0 {
		scanUsage(stdout)
		return errEINVAL
	}
	if volume {
		fmt.Fprintf(stderr, "%s: scan -l (LVM volume groups) is not supported by this implementation\n", progName)
		return errEOPNOTSUPP
	}
	if fl.pretty {
		fl.fast = false
	}
	var names []string
	if haveFilter {
		names = globBraces(filter)
	}
	names = append(names, operands...)
	s := &scanner{fl: fl, stdout: stdout, stderr: stderr}
	for _, n := range names {
		s.targets = append(s.targets, &scanTarget{name: n})
	}
	return s.run()
}

type scanner struct {
	fl      scanFlags
	stdout  io.Writer
	stderr  io.Writer
	targets []*scanTarget
	images  []*scanTarget // pretty mode: the images for the tree
}

func (s *scanner) run() int {
	s.scanPending()
	// vhd-util stats every target before it opens any: a file that is not
	// there at all is reported first, and ends the scan without -c.
	for _, t := range s.targets {
		if t.statErr != nil {
			s.printError(t.name, t.statErr, "failure scanning target")
			if !s.fl.noFail {
				e := errno(t.statErr)
				fmt.Fprintf(s.stderr, "scan failed: -%d. Check syslog for details\n", e)
				return e
			}
		}
	}
	status := 0
	for i := 0; i < len(s.targets); i++ {
		t := s.targets[i]
		if !t.done {
			s.scanPending()
		}
		if t.statErr != nil {
			continue // reported above (vhd-util also prints a bogus entry for it)
		}
		e := t.entry
		if e.Err != nil {
			status = s.errnoOf(e.Err)
			s.printError(e.Path, e.Err, scanMessage(e.Err))
		} else if s.fl.pretty {
			s.images = append(s.images, t)
		} else {
			s.printEntry(t, 0, "")
		}
		if s.fl.parents && e.Err == nil && e.Parent != "" {
			s.addParent(e.Parent, e.RawParent)
		}
		if status != 0 && !s.fl.noFail {
			break
		}
	}
	if s.fl.pretty {
		s.printTree()
	}
	if s.fl.noFail {
		return 0
	}
	return status
}

// scanPending scans every target not yet scanned, all at once.
func (s *scanner) scanPending() {
	var idx []int
	var paths []string
	for i, t := range s.targets {
		if t.done {
			continue
		}
		t.done = true
		if t.raw {
			st, err := os.Stat(t.name)
			if err != nil {
				t.statErr = err
				continue
			}
			t.entry = chain.ScanEntry{Path: t.name, VirtualSize: st.Size(), FileSize: st.Size(), Hidden: 1}
			continue
		}
		p := t.name
		if s.fl.pretty {
			c, err := canonPath(t.name)
			if err != nil {
				t.entry = chain.ScanEntry{Path: t.name, Err: &chain.ScanError{Path: t.name, Step: "resolving name", Err: err}}
				if isStatError(err) {
					t.statErr = err
				}
				continue
			}
			p = c
		}
		idx = append(idx, i)
		paths = append(paths, p)
	}
	if len(paths) == 0 {
		return
	}
	entries, _ := chain.Scan(context.Background(), paths, &chain.ScanOptions{
		Fast: s.fl.fast, Markers: s.fl.markers, Resolver: newResolver(),
	})
	for k, i := range idx {
		t := s.targets[i]
		t.entry = entries[k]
		if err := entries[k].Err; err != nil && isStatError(err) {
			var se *chain.ScanError
			if errors.As(err, &se) && se.Step == chain.ScanOpening {
				t.statErr = se.Err
			}
		}
	}
}

// addParent queues a parent found by -a, unless a target of the same base
// name is already there; one that cannot be found is reported at once.
func (s *scanner) addParent(parent string, raw bool) {
	base := filepath.Base(parent)
	for _, t := range s.targets {
		if filepath.Base(t.name) == base {
			return
		}
	}
	if _, err := os.Stat(parent); err != nil {
		s.printError(parent, err, "failure scanning target")
		return
	}
	s.targets = append(s.targets, &scanTarget{name: parent, raw: raw})
}

// isStatError says whether err is one stat(2) would have given: the file
// or a directory on its path is missing, or the path is malformed.
func isStatError(err error) bool {
	for _, e := range []error{syscall.ENOENT, syscall.ENOTDIR, syscall.ELOOP, syscall.ENAMETOOLONG} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// errnoOf is the errno scan reports for a file's error.
func (s *scanner) errnoOf(err error) int {
	if errors.Is(err, chain.ErrScanTimeout) {
		return errETIMEDOUT
	}
	var se *chain.ScanError
	if errors.As(err, &se) && se.Step == chain.ScanOpening {
		return openErrno(se.Path, se.Err)
	}
	return errno(err)
}

// scanMessage is the error-message of a failed entry.
func scanMessage(err error) string {
	var se *chain.ScanError
	if errors.As(err, &se) {
		if errors.Is(err, chain.ErrScanTimeout) {
			return string(se.Step) + ": timed out"
		}
		return string(se.Step)
	}
	return "failure scanning target"
}

func (s *scanner) printError(name string, err error, msg string) {
	fmt.Fprintf(s.stdout, "vhd=%s scan-error=-%d error-message='%s'\n", name, s.errnoOf(err), msg)
}

// printEntry prints one image, indented by tab spaces.
func (s *scanner) printEntry(t *scanTarget, tab int, pmsg string) {
	e := t.entry
	name, parent := e.Path, "none"
	if e.Parent != "" {
		parent = e.Parent
	}
	if !s.fl.verbose {
		name = filepath.Base(name)
		if e.Parent != "" {
			parent = filepath.Base(e.Parent)
		}
	}
	pad := strings.Repeat(" ", tab)
	if !s.fl.markers {
		fmt.Fprintf(s.stdout, "%svhd=%s capacity=%d size=%d hidden=%d parent=%s%s\n",
			pad, name, e.VirtualSize, e.FileSize, e.Hidden, parent, pmsg)
		return
	}
	hash := ""
	if e.Keyhash.Cookie != 0 {
		hash = hex.EncodeToString(e.Keyhash.Hash[:])
	}
	fmt.Fprintf(s.stdout, "%svhd=%s capacity=%d size=%d hidden=%d marker=%d keyhash=%s parent=%s%s\n",
		pad, name, e.VirtualSize, e.FileSize, e.Hidden, e.Marker, hash, parent, pmsg)
}

// printTree is -p: the images sorted by name, each followed by its
// children (the visible ones first), indented three spaces a level; the
// trees of hidden roots first, then the others, then whatever a cycle
// left.
func (s *scanner) printTree() {
	var imgs []*scanTarget
	seen := map[string]bool{}
	for _, t := range s.images {
		if !seen[t.entry.Path] {
			seen[t.entry.Path] = true
			imgs = append(imgs, t)
		}
	}
	sort.Slice(imgs, func(i, j int) bool { return imgs[i].entry.Path < imgs[j].entry.Path })
	byName := map[string]*scanTarget{}
	for _, t := range imgs {
		byName[t.entry.Path] = t
	}
	children := map[*scanTarget][]*scanTarget{}
	linked := map[*scanTarget]bool{}
	for _, t := range imgs {
		if p := byName[t.entry.Parent]; t.entry.Parent != "" && p != nil {
			children[p] = append(children[p], t)
			linked[t] = true
		}
	}
	printed := map[*scanTarget]bool{}
	var tree func(t *scanTarget, depth int)
	tree = func(t *scanTarget, depth int) {
		if printed[t] {
			return
		}
		printed[t] = true
		pmsg := ""
		if t.entry.Parent != "" && !linked[t] {
			pmsg = " (not found in scan)"
		}
		s.printEntry(t, 3*depth, pmsg)
		for _, hidden := range []bool{false, true} {
			for _, c := range children[t] {
				if (c.entry.Hidden != 0) == hidden {
					tree(c, depth+1)
				}
			}
		}
	}
	for _, t := range imgs {
		if !linked[t] && t.entry.Hidden != 0 {
			tree(t, 0)
		}
	}
	for _, t := range imgs {
		if !linked[t] {
			tree(t, 0)
		}
	}
	for _, t := range imgs {
		tree(t, 0)
	}
}

// canonPath is blktap's canonpath for a file: its absolute, symlink-free
// path.
func canonPath(name string) (string, error) {
	abs, err := filepath.Abs(name)
	if err != nil {
		return "", err
	}
	return filepath.EvalSymlinks(abs)
}

// globBraces is glob(3) with GLOB_BRACE as scan -m uses it: the brace
// alternatives expanded, each pattern's matches sorted, names starting with
// '.' matched only by a pattern that starts with '.'. No match is no
// target, not an error.
func globBraces(pattern string) []string {
	var out []string
	for _, p := range expandBraces(pattern) {
		m, err := filepath.Glob(p)
		if err != nil {
			continue
		}
		pc := strings.Split(p, "/")
		for _, name := range m {
			if hiddenMismatch(pc, strings.Split(name, "/")) {
				continue
			}
			out = append(out, name)
		}
	}
	return out
}

// hiddenMismatch says whether a wildcard component of the pattern matched
// a dot file, which glob(3) never does.
func hiddenMismatch(pattern, name []string) bool {
	if len(pattern) != len(name) {
		return false
	}
	for i := range pattern {
		if strings.HasPrefix(name[i], ".") && !strings.HasPrefix(pattern[i], ".") {
			return true
		}
	}
	return false
}

// expandBraces expands the first {a,b,...} of p (nested braces included),
// recursively; an unbalanced brace is taken literally.
func expandBraces(p string) []string {
	open := strings.IndexByte(p, '{')
	if open < 0 {
		return []string{p}
	}
	depth, start := 0, open+1
	var alts []string
	for i := open; i < len(p); i++ {
		switch p[i] {
		case '{':
			depth++
		case ',':
			if depth == 1 {
				alts = append(alts, p[start:i])
				start = i + 1
			}
		case '}':
			depth--
			if depth == 0 {
				alts = append(alts, p[start:i])
				var out []string
				for _, a := range alts {
					out = append(out, expandBraces(p[:open]+a+p[i+1:])...)
				}
				return out
			}
		}
	}
	return []string{p}
}
