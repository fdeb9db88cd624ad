package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vhdkit/vhdkit/vhd"
	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

const mib = vhdtest.MiB

// result is what one vhd-util invocation produced.
type result struct {
	Stdout string
	Stderr string
	Code   int
}

// cliCase is one golden test: files made by setup in a fresh directory
// (also the working directory), the arguments, and the exact output. "$D"
// in args and want stands for the directory's canonical path.
type cliCase struct {
	name  string
	setup func(t *testing.T, dir string)
	args  []string
	want  result
	// then, when set, runs after the command to check its effect.
	then func(t *testing.T, dir string)
}

func invoke(args ...string) result {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return result{Stdout: out.String(), Stderr: errb.String(), Code: code}
}

// tempDir returns a fresh canonical directory and makes it the working
// directory for the rest of the test.
func tempDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	return dir
}

func runCases(t *testing.T, cases []cliCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := tempDir(t)
			if tc.setup != nil {
				tc.setup(t, dir)
			}
			args := make([]string, len(tc.args))
			for i, a := range tc.args {
				args[i] = strings.ReplaceAll(a, "$D", dir)
			}
			want := tc.want
			want.Stdout = strings.ReplaceAll(want.Stdout, "$D", dir)
			want.Stderr = strings.ReplaceAll(want.Stderr, "$D", dir)
			if diff := cmp.Diff(want, invoke(args...)); diff != "" {
				t.Errorf("vhd-util %s: (-want +got)\n%s", strings.Join(args, " "), diff)
			}
			if tc.then != nil {
				tc.then(t, dir)
			}
		})
	}
}

// usage renders a usage function.
func usage(f func(io.Writer)) string {
	var b bytes.Buffer
	f(&b)
	return b.String()
}

func lines(l ...string) string { return strings.Join(l, "\n") + "\n" }

// Builders of the files the cases use.

func dynamic(name string, size int64, writes ...vhdtest.Write) func(*testing.T, string) {
	return func(t *testing.T, dir string) { vhdtest.Dynamic(t, filepath.Join(dir, name), size, nil, writes...) }
}

func fixed(name string, size int64) func(*testing.T, string) {
	return func(t *testing.T, dir string) { vhdtest.Fixed(t, filepath.Join(dir, name), size, nil) }
}

// chainOf builds a chain of depth files 0.vhd (leaf) .. depth-1.vhd (base)
// of 20 MiB, each link holding one block of data.
func chainOf(depth int) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		vhdtest.Chain(t, dir, depth, 20*mib, nil, func(i int) []vhdtest.Write {
			return []vhdtest.Write{vhdtest.Fill(uint64(i), int64(i)*2*mib, 4096)}
		})
	}
}

func seq(fs ...func(*testing.T, string)) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		for _, f := range fs {
			f(t, dir)
		}
	}
}

func writeFile(name string, data []byte) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func mkdir(name string) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		if err := os.Mkdir(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

func rename(from, to string) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		if err := os.Rename(filepath.Join(dir, from), filepath.Join(dir, to)); err != nil {
			t.Fatal(err)
		}
	}
}

func child(name, parent string, writes ...vhdtest.Write) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		vhdtest.Child(t, filepath.Join(dir, name), filepath.Join(dir, parent), nil, writes...)
	}
}

// cli runs vhd-util during setup and fails the test unless it exits 0.
func cli(args ...string) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		if r := invoke(args...); r.Code != 0 {
			t.Fatalf("setup: vhd-util %s: %+v", strings.Join(args, " "), r)
		}
	}
}

func TestTopLevel(t *testing.T) {
	top := usage(printUsage)
	runCases(t, []cliCase{
		{name: "no arguments", args: nil, want: result{Stdout: top}},
		{name: "unknown command", args: []string{"frobnicate", "-n", "x"},
			want: result{Stdout: top, Stderr: "invalid COMMAND frobnicate\n"}},
		{name: "debug is not a command", args: []string{"--debug", "query"},
			want: result{Stdout: top, Stderr: "invalid COMMAND --debug\n"}},
	})
}

func TestQuery(t *testing.T) {
	qu := usage(queryUsage)
	data := []vhdtest.Write{vhdtest.Fill(1, 0, 4096), vhdtest.Fill(2, 9*mib, 512)}
	runCases(t, []cliCase{
		// Usage and getopt.
		{name: "help", args: []string{"query", "-h"}, want: result{Stdout: qu}},
		{name: "help after name", setup: dynamic("a.vhd", 4*mib), args: []string{"query", "-n", "a.vhd", "-h", "-v"}, want: result{Stdout: qu}},
		{name: "no -P", args: []string{"query", "-n", "a.vhd", "-P"},
			want: result{Stdout: qu, Stderr: "query: invalid option -- 'P'\n", Code: 22}},
		{name: "no -c", args: []string{"query", "-vc", "-n", "a.vhd"},
			want: result{Stdout: qu, Stderr: "query: invalid option -- 'c'\n", Code: 22}},
		{name: "missing name", args: []string{"query", "-v"}, want: result{Stdout: qu, Code: 22}},
		{name: "no arguments", args: []string{"query"}, want: result{Stdout: qu, Code: 22}},
		{name: "-n without argument", args: []string{"query", "-v", "-n"},
			want: result{Stdout: qu, Stderr: "query: option requires an argument -- 'n'\n", Code: 22}},
		{name: "extra argument", setup: dynamic("a.vhd", 4*mib), args: []string{"query", "-n", "a.vhd", "-v", "b.vhd"},
			want: result{Stdout: qu, Code: 22}},
		{name: "long option is letters", args: []string{"query", "--verbose", "-n", "a.vhd"},
			want: result{Stdout: qu, Stderr: "query: invalid option -- '-'\n", Code: 22}},
		{name: "after --, extra argument", setup: dynamic("a.vhd", 4*mib), args: []string{"query", "-n", "a.vhd", "--", "-v"},
			want: result{Stdout: qu, Code: 22}},

		// Open failures.
		{name: "missing file", args: []string{"query", "-n", "missing.vhd", "-v"},
			want: result{Stdout: "error opening missing.vhd: -2\n", Code: 2}},
		{name: "empty file", setup: writeFile("e.vhd", nil), args: []string{"query", "-n", "e.vhd", "-v"},
			want: result{Stdout: "error opening e.vhd: -32\n", Code: 32}},
		{name: "directory", setup: mkdir("d"), args: []string{"query", "-n", "d", "-v"},
			want: result{Stdout: "error opening d: -21\n", Code: 21}},
		{name: "junk", setup: writeFile("j.vhd", vhdtest.Pattern(7, 8192)), args: []string{"query", "-n", "j.vhd", "-v"},
			want: result{Stdout: "error opening j.vhd: -22\n", Code: 22}},
		{name: "absolute name in messages", args: []string{"query", "-n", "$D/none.vhd", "-f"},
			want: result{Stdout: "error opening $D/none.vhd: -2\n", Code: 2}},

		// A dynamic disk.
		{name: "dynamic all", setup: dynamic("a.vhd", 10*mib, data...), args: []string{"query", "-n", "a.vhd", "-vspfmdaS"},
			want: result{Stdout: lines("10", "4203008", "a.vhd has no parent", "hidden: 0", "marker: 0", "chain depth: 1", "2", "10")}},
		{name: "order is fixed", setup: dynamic("a.vhd", 10*mib, data...), args: []string{"query", "-S", "-a", "-d", "-m", "-f", "-p", "-s", "-v", "-na.vhd"},
			want: result{Stdout: lines("10", "4203008", "a.vhd has no parent", "hidden: 0", "marker: 0", "chain depth: 1", "2", "10")}},
		{name: "sm getVHDInfo", setup: dynamic("a.vhd", 10*mib, data...), args: []string{"query", "--debug", "-vsafp", "-n", "a.vhd"},
			want: result{Stdout: lines("10", "4203008", "a.vhd has no parent", "hidden: 0", "2")}},
		{name: "debug anywhere", setup: dynamic("a.vhd", 10*mib), args: []string{"query", "-n", "a.vhd", "--debug", "-v", "--debug"},
			want: result{Stdout: lines("10")}},
		{name: "name attached", setup: dynamic("a.vhd", 10*mib), args: []string{"query", "-vna.vhd"},
			want: result{Stdout: lines("10")}},
		{name: "options after operand-like name", setup: dynamic("-x.vhd", 10*mib), args: []string{"query", "-n", "-x.vhd", "-f"},
			want: result{Stdout: lines("hidden: 0")}},
		{name: "size floors to MiB", setup: dynamic("a.vhd", 100*mib+512), args: []string{"query", "-n", "a.vhd", "-v"},
			want: result{Stdout: lines("100")}},
		{name: "hidden", setup: func(t *testing.T, dir string) {
			vhdtest.Dynamic(t, filepath.Join(dir, "h.vhd"), 4*mib, &vhdtest.Options{Hidden: 1})
		}, args: []string{"query", "-n", "h.vhd", "-f"}, want: result{Stdout: lines("hidden: 1")}},
		{name: "no -p output for -u alone", setup: dynamic("a.vhd", 4*mib), args: []string{"query", "-n", "a.vhd", "-u"},
			want: result{}},

		// A fixed disk.
		{name: "fixed", setup: fixed("f.vhd", 6*mib), args: []string{"query", "-n", "f.vhd", "-vspfmdaS"},
			want: result{Stdout: lines("6", "6291968", "f.vhd has no parent", "hidden: 0", "marker: 0", "chain depth: 1", "error reading bat: -22", "0"), Code: 22}},

		// Backup footer fallback: the primary footer is corrupt.
		{name: "backup footer", setup: func(t *testing.T, dir string) {
			p := vhdtest.Dynamic(t, filepath.Join(dir, "b.vhd"), 8*mib, &vhdtest.Options{Hidden: 1})
			vhdtest.PatchFooter(t, p, vhdtest.Primary, false, func(f *vhd.Footer) { f.CurrentSize = 4 * mib })
		}, args: []string{"query", "-n", "b.vhd", "-vsfpda"},
			want: result{Stdout: lines("8", "3584", "b.vhd has no parent", "hidden: 1", "chain depth: 1", "0")}},
		{name: "primary footer missing", setup: func(t *testing.T, dir string) {
			p := vhdtest.Dynamic(t, filepath.Join(dir, "b.vhd"), 8*mib, nil, vhdtest.Fill(3, 0, 512))
			if err := os.Truncate(p, 4096+2*mib+512); err != nil {
				t.Fatal(err)
			}
		}, args: []string{"query", "-n", "b.vhd", "-vsa"},
			want: result{Stdout: lines("8", "2101760", "1")}},

		// Differencing disks.
		{name: "child", setup: seq(dynamic("p.vhd", 20*mib, data...), child("c.vhd", "p.vhd", vhdtest.Fill(9, 3*mib, 4096))),
			args: []string{"query", "-n", "c.vhd", "-vspfmdaS"},
			want: result{Stdout: lines("20", "2105856", "$D/p.vhd", "hidden: 0", "marker: 0", "chain depth: 2", "1", "20")}},
		{name: "child unresolved", setup: seq(dynamic("p.vhd", 20*mib), child("c.vhd", "p.vhd")),
			args: []string{"query", "-n", "c.vhd", "-pu"}, want: result{Stdout: lines("./p.vhd")}},
		{name: "child by absolute name", setup: seq(dynamic("p.vhd", 20*mib), child("c.vhd", "p.vhd")),
			args: []string{"query", "-n", "$D/c.vhd", "-p"}, want: result{Stdout: lines("$D/p.vhd")}},
		{name: "parent moved", setup: seq(dynamic("p.vhd", 20*mib), child("c.vhd", "p.vhd"), rename("p.vhd", "q.vhd")),
			args: []string{"query", "-n", "c.vhd", "-vspfda"},
			want: result{Stdout: lines("20", "5120", "query failed", "hidden: 0", "error checking chain depth: -2", "0"), Code: 2}},
		{name: "parent moved, unresolved still answers", setup: seq(dynamic("p.vhd", 20*mib), child("c.vhd", "p.vhd"), rename("p.vhd", "q.vhd")),
			args: []string{"query", "-n", "c.vhd", "-pu"}, want: result{Stdout: lines("./p.vhd")}},
		{name: "parent one directory up", setup: seq(mkdir("sub"), dynamic("p.vhd", 20*mib), child("sub/c.vhd", "p.vhd")),
			args: []string{"query", "-n", "sub/c.vhd", "-pdu"}, want: result{Stdout: lines("../p.vhd", "chain depth: 2")}},
		{name: "parent one directory up resolved", setup: seq(mkdir("sub"), dynamic("p.vhd", 20*mib), child("sub/c.vhd", "p.vhd")),
			args: []string{"query", "-n", "sub/c.vhd", "-pd"}, want: result{Stdout: lines("$D/p.vhd", "chain depth: 2")}},
		{name: "child through a symlink", setup: func(t *testing.T, dir string) {
			seq(mkdir("real"), dynamic("real/p.vhd", 4*mib), child("real/c.vhd", "real/p.vhd"))(t, dir)
			if err := os.Symlink(filepath.Join(dir, "real", "c.vhd"), filepath.Join(dir, "link.vhd")); err != nil {
				t.Fatal(err)
			}
		}, args: []string{"query", "-n", "link.vhd", "-p"}, want: result{Stdout: lines("$D/real/p.vhd")}},
		{name: "raw parent counts one more", setup: func(t *testing.T, dir string) {
			writeFile("raw.img", make([]byte, 2*mib))(t, dir)
			cli("snapshot", "-n", "c.vhd", "-p", "raw.img", "-m")(t, dir)
		}, args: []string{"query", "-n", "c.vhd", "-vpd"}, want: result{Stdout: lines("2", "$D/raw.img", "chain depth: 2")}},

		// blktap assumes 2 MiB blocks when it reads the BAT (vhd/FORMAT.md, section 6).
		{name: "512 KiB blocks", setup: func(t *testing.T, dir string) {
			vhdtest.Dynamic(t, filepath.Join(dir, "s.vhd"), 3*mib/2, &vhdtest.Options{BlockSize: 512 << 10, Creator: vhd.Creator{'q', 'e', 'm', 'u'}},
				vhdtest.Fill(1, 0, 3*mib/2))
		}, args: []string{"query", "-n", "s.vhd", "-vsaS"}, want: result{Stdout: lines("1", "528896", "1", "6")}},
	})
}

func TestQueryChains(t *testing.T) {
	for depth := 1; depth <= 3; depth++ {
		want := lines("$D/1.vhd", "chain depth: 1")
		if depth == 1 {
			want = lines("0.vhd has no parent", "chain depth: 1")
		} else {
			want = lines("$D/1.vhd", "chain depth: "+string(rune('0'+depth)))
		}
		runCases(t, []cliCase{
			{name: "depth " + string(rune('0'+depth)), setup: chainOf(depth), args: []string{"query", "-n", "0.vhd", "-pd"}, want: result{Stdout: want}},
		})
	}
	// Every link of a 3-deep chain answers for its own parent.
	runCases(t, []cliCase{
		{name: "interior", setup: chainOf(3), args: []string{"query", "-n", "1.vhd", "-pdf"}, want: result{Stdout: lines("$D/2.vhd", "hidden: 1", "chain depth: 2")}},
		{name: "base", setup: chainOf(3), args: []string{"query", "-n", "2.vhd", "-pdf"}, want: result{Stdout: lines("2.vhd has no parent", "hidden: 1", "chain depth: 1")}},
		{name: "grandparent missing", setup: seq(chainOf(3), rename("2.vhd", "x.vhd")), args: []string{"query", "-n", "0.vhd", "-pd"},
			want: result{Stdout: lines("$D/1.vhd", "error checking chain depth: -2"), Code: 2}},
	})
}

// expect runs vhd-util after a case and compares its result; "$D" stands
// for the directory.
func expect(want result, args ...string) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		t.Helper()
		for i, a := range args {
			args[i] = strings.ReplaceAll(a, "$D", dir)
		}
		want.Stdout = strings.ReplaceAll(want.Stdout, "$D", dir)
		if diff := cmp.Diff(want, invoke(args...)); diff != "" {
			t.Errorf("afterwards, vhd-util %s: (-want +got)\n%s", strings.Join(args, " "), diff)
		}
	}
}

// expectSize checks the size of a file.
func expectSize(name string, want int64) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		t.Helper()
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() != want {
			t.Errorf("%s is %d bytes, want %d", name, st.Size(), want)
		}
	}
}

// expectAbsent checks that a file does not exist.
func expectAbsent(name string) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		t.Helper()
		if _, err := os.Lstat(filepath.Join(dir, name)); !os.IsNotExist(err) {
			t.Errorf("%s exists (err %v), want it absent", name, err)
		}
	}
}

// expectSame checks that a file's bytes did not change since snap was taken.
func snapshotBytes(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
