package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vhdkit/vhdkit/chain"
	"github.com/vhdkit/vhdkit/vhd"
	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

// coalesceChain builds p.vhd (dynamic, 20 MiB, data in its first blocks)
// and its child c.vhd holding whole blocks, partial blocks and partial
// sectors over the parent's data and past it: 4096+16+8+4096 = 8216
// sectors.
func coalesceChain(parent string) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		p := filepath.Join(dir, "p.vhd")
		pw := []vhdtest.Write{vhdtest.Fill(1, 0, 3*mib), vhdtest.Fill(2, 9*mib, 4096)}
		switch parent {
		case "fixed":
			vhdtest.Fixed(t, p, 20*mib, nil, pw...)
		default:
			vhdtest.Dynamic(t, p, 20*mib, nil, pw...)
		}
		c := vhdtest.Child(t, filepath.Join(dir, "c.vhd"), p, &vhdtest.Options{Hidden: 1})
		vhdtest.WriteChain(t, []string{c, p},
			vhdtest.Fill(3, 0, 2*mib),
			vhdtest.Fill(4, 2*mib+100, 8000),
			vhdtest.Fill(5, 12*mib+512, 4096),
			vhdtest.Fill(6, 18*mib, 2*mib))
	}
}

// rawParentChain builds raw.img (8 MiB, data in its first 3 MiB) and
// c.vhd, a differencing child of it holding 4096+14 sectors.
func rawParentChain(t *testing.T, dir string) {
	raw := filepath.Join(dir, "raw.img")
	img := make([]byte, 8*mib)
	copy(img, vhdtest.Pattern(1, 3*mib))
	if err := os.WriteFile(raw, img, 0o644); err != nil {
		t.Fatal(err)
	}
	c := filepath.Join(dir, "c.vhd")
	f, err := vhd.Create(c, &vhd.CreateOptions{Type: vhd.DiskDifferencing, Size: 8 * mib, Time: vhdtest.Epoch,
		Parent: &vhd.ParentInfo{Name: "raw.img", Path: "./raw.img", ModTime: vhdtest.Epoch, Size: 8 * mib}})
	if err != nil {
		t.Fatal(err)
	}
	r, err := os.Open(raw)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	f.AttachParent(r)
	for _, w := range []vhdtest.Write{vhdtest.Fill(2, 2*mib, 2*mib), vhdtest.Fill(3, 6*mib+100, 7000)} {
		if _, err := f.WriteAt(w.Data, w.Offset); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

const coalescedSectors = "Coalesced 8216 sectors"

// progressLines is vhd-util coalesce -p's output for a child of n BAT entries.
func progressLines(n int) string {
	var b strings.Builder
	p := &percent{w: &b, entries: int64(n)}
	p.finish()
	return b.String()
}

func TestCoalesceGolden(t *testing.T) {
	cu := usage(coalesceUsage)
	ten := progressLines(10)
	if !strings.HasPrefix(ten, "\r  0.00%\r 10.00%\r 20.00%") || !strings.HasSuffix(ten, "\r 90.00%\r100.00%\n") {
		t.Fatalf("progress lines %q", ten)
	}
	cases := []coalesceGolden{
		{cliCase: cliCase{name: "success", setup: coalesceChain("dynamic"), args: []string{"coalesce", "-n", "c.vhd"},
			want: result{Stdout: coalescedSectors}}, verify: true},
		{cliCase: cliCase{name: "fixed parent", setup: coalesceChain("fixed"), args: []string{"coalesce", "-n", "c.vhd"},
			want: result{Stdout: coalescedSectors}}, verify: true},
		{cliCase: cliCase{name: "progress", setup: coalesceChain("dynamic"), args: []string{"coalesce", "-p", "-n", "c.vhd"},
			want: result{Stdout: ten + coalescedSectors}}, verify: true},
		{cliCase: cliCase{name: "sparse", setup: coalesceChain("dynamic"), args: []string{"coalesce", "-n", "c.vhd", "-s"},
			want: result{Stdout: "opening for sparse writes\n" + coalescedSectors}}, verify: true},
		{cliCase: cliCase{name: "sparse progress combined", setup: coalesceChain("dynamic"), args: []string{"coalesce", "-spn", "c.vhd"},
			want: result{Stdout: "opening for sparse writes\n" + ten + coalescedSectors}}, verify: true},
		{cliCase: cliCase{name: "raw parent", setup: rawParentChain, args: []string{"coalesce", "-n", "c.vhd", "-s"},
			want: result{Stdout: "Coalesced 4110 sectors"}}, verify: true, raw: true},
		{cliCase: cliCase{name: "empty child", setup: func(t *testing.T, dir string) {
			p := vhdtest.Dynamic(t, filepath.Join(dir, "p.vhd"), 20*mib, nil)
			vhdtest.Child(t, filepath.Join(dir, "c.vhd"), p, nil)
		}, args: []string{"coalesce", "-n", "c.vhd"}, want: result{Stdout: "Coalesced 0 sectors"}}},
		{cliCase: cliCase{name: "non-differencing", setup: dynamic("p.vhd", 4*mib), args: []string{"coalesce", "-n", "p.vhd"},
			want: result{Stdout: "coalescing of non-differencing disks is not supported\nerror coalescing: -22\n", Code: 22}}},
		{cliCase: cliCase{name: "missing child", args: []string{"coalesce", "-n", "c.vhd"},
			want: result{Stdout: "error opening c.vhd: -2\nerror coalescing: -2\n", Code: 2}}},
		{cliCase: cliCase{name: "missing parent", setup: seq(coalesceChain("dynamic"), rename("p.vhd", "q.vhd")), args: []string{"coalesce", "-n", "c.vhd"},
			want: result{Stdout: "error finding c.vhd parent: -2\nerror coalescing: -2\n", Code: 2}}},
		{cliCase: cliCase{name: "dangling symlink parent", setup: seq(coalesceChain("dynamic"), rename("p.vhd", "q.vhd"), symlink("nowhere", "p.vhd")),
			args: []string{"coalesce", "-n", "c.vhd"},
			want: result{Stdout: "error finding c.vhd parent: -2\nerror coalescing: -2\n", Code: 2}}},
		{cliCase: cliCase{name: "extra operand", setup: coalesceChain("dynamic"), args: []string{"coalesce", "-n", "c.vhd", "x"},
			want: result{Stdout: cu, Code: 22}}},
		{cliCase: cliCase{name: "no name", args: []string{"coalesce", "-p"}, want: result{Stdout: cu, Code: 22}}},
		{cliCase: cliCase{name: "help", args: []string{"coalesce", "-h"}, want: result{Stdout: cu, Code: 22}}},
		{cliCase: cliCase{name: "ignored option with argument", setup: coalesceChain("dynamic"), args: []string{"coalesce", "-n", "c.vhd", "-o", "x"},
			want: result{Stdout: cu, Code: 22}}},
		{cliCase: cliCase{name: "unknown option", args: []string{"coalesce", "-n", "c.vhd", "-q"},
			want: result{Stdout: cu, Stderr: "coalesce: invalid option -- 'q'\n", Code: 22}}},
		{cliCase: cliCase{name: "missing argument", args: []string{"coalesce", "-n"},
			want: result{Stdout: cu, Stderr: "coalesce: option requires an argument -- 'n'\n", Code: 22}}},
	}
	ref := os.Getenv("VHDKIT_VHDUTIL")
	compared := 0
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, after := tc.run(t, func(args []string) result { return invoke(args...) })
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("vhd-util %s: (-want +got)\n%s", strings.Join(tc.args, " "), diff)
			}
			if ref == "" {
				return
			}
			rgot, rafter := tc.run(t, func(args []string) result { return runCommand(t, ref, args) })
			compared++
			if diff := cmp.Diff(tc.want, rgot); diff != "" {
				t.Errorf("reference %s: (-want +got)\n%s", strings.Join(tc.args, " "), diff)
			}
			if !bytes.Equal(after, rafter) {
				t.Errorf("the parent reads differently after the reference's coalesce (first difference at %d)", firstDifference(after, rafter))
			}
		})
	}
	if ref != "" {
		t.Logf("%d cases compared with %s", compared, ref)
	}
}

// coalesceGolden is a coalesce case; with verify, the parent must read
// afterwards as the child did before and pass vhd.Check.
type coalesceGolden struct {
	cliCase
	verify bool
	raw    bool // the parent is raw.img, a raw image
}

// run sets the case up in a fresh directory, runs it with exec, checks the
// parent when asked, and returns the result and the parent's virtual disk.
func (tc *coalesceGolden) run(t *testing.T, exec func([]string) result) (result, []byte) {
	t.Helper()
	dir := tempDir(t)
	if tc.setup != nil {
		tc.setup(t, dir)
	}
	var want []byte
	if tc.verify {
		want = readThrough(t, filepath.Join(dir, "c.vhd"))
	}
	got := exec(tc.args)
	if !tc.verify {
		return got, nil
	}
	if tc.raw {
		after, err := os.ReadFile(filepath.Join(dir, "raw.img"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(after, want) {
			t.Errorf("the raw parent does not read as the child did (first difference at %d)", firstDifference(after, want))
		}
		return got, after
	}
	p := filepath.Join(dir, "p.vhd")
	after := readThrough(t, p)
	if !bytes.Equal(after, want) {
		t.Errorf("the parent does not read as the child did (first difference at %d)", firstDifference(after, want))
	}
	if _, err := vhd.CheckFile(context.Background(), p, &vhd.CheckOptions{Parents: chain.CompatResolver()}); err != nil {
		t.Errorf("parent fails check: %v", err)
	}
	return got, after
}

func readThrough(t *testing.T, path string) []byte {
	t.Helper()
	c, err := chain.Walk(context.Background(), path, &chain.Options{Mode: chain.Compat})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b := make([]byte, c.VirtualSize())
	if _, err := c.ReaderAt().ReadAt(b, 0); err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	return b
}

func firstDifference(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// runCommand runs the vhd-util at bin with args in the working directory.
func runCommand(t *testing.T, bin string, args []string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", bin, err)
	}
	return result{Stdout: out.String(), Stderr: errb.String(), Code: code}
}
