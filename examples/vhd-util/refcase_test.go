package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// refCase is a golden case that is also compared with blktap's vhd-util
// when VHDKIT_VHDUTIL names one: the reference runs the same arguments on
// the same setup in its own directory, and must print the same and, with
// files, leave those files byte-identical to the drop-in's. differs, when
// set, says why the reference is not compared (a vhd-util bug the drop-in
// does not reproduce).
type refCase struct {
	cliCase
	files   []string // files whose bytes must match the reference's afterwards
	differs string
	// unordered compares the reference's stdout lines in any order (scan
	// -f lists a glob in directory order, the drop-in sorted).
	unordered bool
	// cutDump compares a failing check's stdout up to the line that starts
	// the metadata dump, whose format is free (want ends there too).
	cutDump bool
}

// reference returns the path of blktap's vhd-util from VHDKIT_VHDUTIL, or "".
func reference(t *testing.T) string {
	t.Helper()
	p := os.Getenv("VHDKIT_VHDUTIL")
	if p == "" {
		return ""
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("VHDKIT_VHDUTIL=%s: %v", p, err)
	}
	return p
}

// runRefCases runs each case as runCases does, then, with a reference,
// runs it again through the reference and compares.
func runRefCases(t *testing.T, cases []refCase) {
	t.Helper()
	ref := reference(t)
	compared := 0
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ours := runOne(t, tc.cliCase, nil, tc.cutDump)
			if ref == "" || tc.differs != "" {
				return
			}
			theirs := runOne(t, tc.cliCase, func(dir string, args []string) result { return runReference(t, ref, dir, args) }, tc.cutDump)
			if tc.unordered {
				ours.res.Stdout, theirs.res.Stdout = sortLines(ours.res.Stdout), sortLines(theirs.res.Stdout)
			}
			if diff := cmp.Diff(ours.res, theirs.res); diff != "" {
				t.Errorf("vhd-util %s: drop-in and reference differ (-drop-in +reference):\n%s", strings.Join(tc.args, " "), diff)
			}
			for _, f := range tc.files {
				a, b := ours.files[f], theirs.files[f]
				if !bytes.Equal(a, b) {
					t.Errorf("%s after vhd-util %s: drop-in left %d bytes, reference %d, first difference at %d",
						f, strings.Join(tc.args, " "), len(a), len(b), firstDiff(a, b))
				}
			}
			compared++
		})
	}
	if ref != "" {
		t.Logf("%d cases compared with %s", compared, ref)
	}
}

// refOutcome is what one run of a case produced: its result with the
// directory replaced by "$D", and the named files' bytes.
type refOutcome struct {
	res   result
	files map[string][]byte
}

// runOne sets up a fresh directory, runs the case (through exec when set,
// else the drop-in, checking want and then), and collects the refOutcome.
// With cut, stdout ends at the line that starts check's metadata dump.
func runOne(t *testing.T, tc cliCase, exec func(dir string, args []string) result, cut bool) refOutcome {
	t.Helper()
	dir := tempDir(t)
	if exec != nil {
		var err error
		if dir, err = filepath.EvalSymlinks(t.TempDir()); err != nil {
			t.Fatal(err)
		}
		t.Chdir(dir)
	}
	if tc.setup != nil {
		tc.setup(t, dir)
	}
	args := make([]string, len(tc.args))
	for i, a := range tc.args {
		args[i] = strings.ReplaceAll(a, "$D", dir)
	}
	var got result
	if exec != nil {
		got = exec(dir, args)
	} else {
		got = invoke(args...)
	}
	if i := strings.Index(got.Stdout, dumpLine); cut && i >= 0 {
		got.Stdout = got.Stdout[:i+len(dumpLine)]
	}
	if exec == nil {
		want := tc.want
		want.Stdout = strings.ReplaceAll(want.Stdout, "$D", dir)
		want.Stderr = strings.ReplaceAll(want.Stderr, "$D", dir)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("vhd-util %s: (-want +got)\n%s", strings.Join(args, " "), diff)
		}
		if tc.then != nil {
			tc.then(t, dir)
		}
	}
	got.Stdout = strings.ReplaceAll(got.Stdout, dir, "$D")
	got.Stderr = strings.ReplaceAll(got.Stderr, dir, "$D")
	o := refOutcome{res: got, files: map[string][]byte{}}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Type().IsRegular() {
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err == nil {
				o.files[e.Name()] = b
			}
		}
	}
	return o
}

// runReference runs blktap's vhd-util in dir.
func runReference(t *testing.T, ref, dir string, args []string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, ref, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "TZ=UTC")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("reference %s: %v", strings.Join(args, " "), err)
	}
	return result{Stdout: out.String(), Stderr: errb.String(), Code: code}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func sortLines(s string) string {
	l := strings.SplitAfter(s, "\n")
	sort.Strings(l)
	return strings.Join(l, "")
}
