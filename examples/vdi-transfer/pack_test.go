package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// binDir holds the command built once for the tests that run it as a
// process; TestMain removes it.
var (
	binDir   string
	binOnce  sync.Once
	binPath  string
	binError error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// buildBinary builds vdi-transfer, once for all tests.
func buildBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		if binDir, binError = os.MkdirTemp("", "vdi-transfer-test-"); binError != nil {
			return
		}
		binPath = filepath.Join(binDir, "vdi-transfer")
		if out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput(); err != nil {
			binError = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binError != nil {
		t.Fatal(binError)
	}
	return binPath
}

func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, s := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		m[e.Name()] = string(b)
	}
	return m
}

// TestCLIPackUnpack builds the command and round-trips a directory through
// pipes, then checks that GNU tar, when present, lists the archive.
func TestCLIPackUnpack(t *testing.T) {
	bin := buildBinary(t)
	src, dst := t.TempDir(), filepath.Join(t.TempDir(), "new")
	want := map[string]string{"0.vhd": strings.Repeat("leaf ", 10000), "1.vhd": "base", "10.vhd": ""}
	writeTree(t, src, want)

	var archive, packErr bytes.Buffer
	pack := exec.Command(bin, "pack", "-level", "1", "-progress", src)
	pack.Stdout, pack.Stderr = &archive, &packErr
	if err := pack.Run(); err != nil {
		t.Fatalf("pack: %v\n%s", err, packErr.String())
	}
	if !strings.Contains(packErr.String(), "pack done in ") {
		t.Errorf("pack -progress printed %q", packErr.String())
	}

	var unpackErr bytes.Buffer
	unpack := exec.Command(bin, "unpack", "-sync", "-md5", dst)
	unpack.Stdin, unpack.Stderr = bytes.NewReader(archive.Bytes()), &unpackErr
	if err := unpack.Run(); err != nil {
		t.Fatalf("unpack: %v\n%s", err, unpackErr.String())
	}
	if diff := cmp.Diff(want, readTree(t, dst)); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(unpackErr.String(), "md5 ") {
		t.Errorf("unpack -md5 printed %q", unpackErr.String())
	}

	if tarPath, err := exec.LookPath("tar"); err == nil {
		list := exec.Command(tarPath, "-tzf", "-")
		list.Stdin = bytes.NewReader(archive.Bytes())
		got, err := list.Output()
		if err != nil {
			t.Fatalf("tar -tz: %v", err)
		}
		if diff := cmp.Diff("./\n./0.vhd\n./1.vhd\n./10.vhd\n", string(got)); diff != "" {
			t.Errorf("tar -tz listing (-want +got):\n%s", diff)
		}
	}
}

// TestRunUsage checks the dispatch table's exit statuses in process.
func TestRunUsage(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want int
	}{
		{nil, 2},
		{[]string{"frobnicate"}, 2},
		{[]string{"pack"}, 2},
		{[]string{"pack", "-h"}, 0},
		{[]string{"unpack", "a", "b"}, 2},
		{[]string{"pack", filepath.Join(dir, "missing")}, 1},
		{[]string{"pack", "-level", "12", dir}, 1},
		{[]string{"pack", dir}, 0},
	} {
		var stdout, stderr bytes.Buffer
		got := run(context.Background(), &env{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr}, tc.args)
		if got != tc.want {
			t.Errorf("run(%q) = %d, want %d; stderr:\n%s", tc.args, got, tc.want, stderr.String())
		}
	}
}

// TestPackToDevNull checks that the terminal guard lets /dev/null through.
func TestPackToDevNull(t *testing.T) {
	src := t.TempDir()
	writeTree(t, src, map[string]string{"0.vhd": "x"})
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Skip(err)
	}
	defer null.Close()
	var stderr bytes.Buffer
	if code := run(context.Background(), &env{stdout: null, stderr: &stderr}, []string{"pack", src}); code != 0 {
		t.Errorf("pack > /dev/null exited %d: %s", code, stderr.String())
	}
}
