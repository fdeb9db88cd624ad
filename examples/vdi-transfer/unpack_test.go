package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestUnpackRefusesTruncated checks that a truncated archive fails with
// status 1 and leaves the directory empty, and that a non-empty directory
// is refused.
func TestUnpackRefusesTruncated(t *testing.T) {
	src := t.TempDir()
	writeTree(t, src, map[string]string{"0.vhd": strings.Repeat("x", 1<<20)})
	var archive, stderr bytes.Buffer
	if code := run(context.Background(), &env{stdout: &archive, stderr: &stderr}, []string{"pack", src}); code != 0 {
		t.Fatalf("pack exit %d: %s", code, stderr.String())
	}

	dst := filepath.Join(t.TempDir(), "d")
	truncated := archive.Bytes()[:archive.Len()-10]
	stderr.Reset()
	if code := run(context.Background(), &env{stdin: bytes.NewReader(truncated), stdout: &bytes.Buffer{}, stderr: &stderr}, []string{"unpack", dst}); code != 1 {
		t.Fatalf("unpack of a truncated archive exited %d: %s", code, stderr.String())
	}
	if got := readTree(t, dst); len(got) != 0 {
		t.Errorf("truncated unpack left %v", got)
	}

	if err := os.WriteFile(filepath.Join(dst, "old"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	stderr.Reset()
	code := run(context.Background(), &env{stdin: bytes.NewReader(archive.Bytes()), stdout: &bytes.Buffer{}, stderr: &stderr}, []string{"unpack", dst})
	if code != 1 || !strings.Contains(stderr.String(), "not empty") {
		t.Errorf("unpack into a non-empty directory: exit %d, %q", code, stderr.String())
	}
}
