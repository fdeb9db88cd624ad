package main

import (
	"fmt"
	"os"
	"path/filepath"
)

// Creating a 101 MiB dynamic disk (rounded up to 102 MiB), hiding it, and
// asking what SM's getVHDInfo asks: virtual MiB, physical bytes, allocated
// blocks, parent, hidden.
func Example() {
	dir, err := os.MkdirTemp("", "vhd-util-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	name := filepath.Join(dir, "base.vhd")

	run([]string{"create", "-n", name, "-s", "101"}, os.Stdout, os.Stderr)
	run([]string{"set", "-n", name, "-f", "hidden", "-v", "1"}, os.Stdout, os.Stderr)
	run([]string{"query", "--debug", "-vsaf", "-n", name}, os.Stdout, os.Stderr)
	status := run([]string{"query", "-n", filepath.Join(dir, "missing.vhd"), "-v"}, nopWriter{}, os.Stderr)
	fmt.Println("missing file: exit", status)
	// Output:
	// 102
	// 3584
	// hidden: 1
	// 0
	// missing file: exit 2
}

type nopWriter struct{}

func (nopWriter) Write(p []byte) (int, error) { return len(p), nil }
