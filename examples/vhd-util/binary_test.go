package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestBinary builds the command without cgo, as it ships, and runs it end
// to end: create a disk and a snapshot, query them, check the chain.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary; skipped with -short")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("go tool not found: %v", err)
	}
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "vhd-util")
	build := exec.Command(goTool, "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("CGO_ENABLED=0 go build: %v\n%s", err, out)
	}
	steps := []struct {
		args []string
		want string
		code int
	}{
		{args: []string{"create", "-n", "base.vhd", "-s", "101"}},
		{args: []string{"snapshot", "-n", "leaf.vhd", "-p", "base.vhd"}},
		{args: []string{"set", "-n", "base.vhd", "-f", "hidden", "-v", "1"}},
		{args: []string{"query", "--debug", "-vsafp", "-n", "leaf.vhd"}, want: "102\n5120\n$D/base.vhd\nhidden: 0\n0\n"},
		{args: []string{"query", "-n", "leaf.vhd", "-d"}, want: "chain depth: 2\n"},
		{args: []string{"check", "-n", "leaf.vhd", "-p"}, want: "leaf.vhd is valid\n$D/base.vhd is valid\n"},
		{args: []string{"query", "-n", "gone.vhd", "-v"}, want: "error opening gone.vhd: -2\n", code: 2},
	}
	for _, s := range steps {
		cmd := exec.Command(bin, s.args...)
		cmd.Dir = dir
		out, err := cmd.Output()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("vhd-util %s: %v", strings.Join(s.args, " "), err)
		}
		want := strings.ReplaceAll(s.want, "$D", dir)
		if diff := cmp.Diff(want, string(out)); diff != "" || code != s.code {
			t.Errorf("vhd-util %s: exit %d, want %d; stdout (-want +got):\n%s", strings.Join(s.args, " "), code, s.code, diff)
		}
	}
}
