package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/vhdkit/vhdkit/chain"
	"github.com/vhdkit/vhdkit/vhd"
	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

const mib = vhdtest.MiB

// diskOf reads the virtual disk of the VHD chain at leaf (parents in its
// directory).
func diskOf(t *testing.T, leaf string) []byte {
	t.Helper()
	c, err := chain.Walk(context.Background(), leaf, &chain.Options{Root: filepath.Dir(leaf)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b := make([]byte, c.VirtualSize())
	if _, err := c.ReaderAt().ReadAt(b, 0); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestConvert runs convert in every direction on a 3-deep chain and a raw
// image: --size equals the bytes written, the output is a valid VHD (or
// raw image) holding the source's disk, and a stream on stdin comes back.
func TestConvert(t *testing.T) {
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	const size = 9*mib + 512
	paths := vhdtest.Chain(t, dir, 3, size, nil, func(i int) []vhdtest.Write {
		return []vhdtest.Write{vhdtest.Fill(uint64(i), int64(i)*3*mib+4096, 1<<20)}
	})
	leaf := diskOf(t, paths[0])
	raw := filepath.Join(t.TempDir(), "disk.raw")
	if err := os.WriteFile(raw, leaf, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		typ  vhd.DiskType // DiskNone for raw output
	}{
		{"consolidated", []string{paths[0]}, vhd.DiskDynamic},
		{"fixed", []string{"--to", "fixed", paths[0]}, vhd.DiskFixed},
		{"raw", []string{"--to", "raw", paths[0]}, vhd.DiskNone},
		{"delta", []string{"--relative-to", paths[2], paths[0]}, vhd.DiskDifferencing},
		{"raw to vhd", []string{"--from", "raw", raw}, vhd.DiskDynamic},
		{"raw to fixed", []string{"--from", "raw", "--to", "fixed", raw}, vhd.DiskFixed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, sz, stderr := runCmd(t, nil, append([]string{"convert", "--size"}, tt.args...)...)
			if code != 0 {
				t.Fatalf("convert --size exit %d: %s", code, stderr)
			}
			code, out, stderr := runCmd(t, nil, append([]string{"convert", "--progress"}, tt.args...)...)
			if code != 0 {
				t.Fatalf("convert exit %d: %s", code, stderr)
			}
			if sz != strconv.Itoa(len(out))+"\n" {
				t.Errorf("--size printed %q, convert wrote %d bytes", sz, len(out))
			}
			if !strings.Contains(stderr, "convert") {
				t.Errorf("no progress on stderr: %q", stderr)
			}
			if tt.typ == vhd.DiskNone {
				if !bytes.Equal([]byte(out), leaf) {
					t.Errorf("raw output differs from the leaf")
				}
				return
			}
			outDir := t.TempDir()
			if tt.typ == vhd.DiskDifferencing {
				outDir = dir // beside its parent
			}
			p := filepath.Join(outDir, "out.vhd")
			if err := os.WriteFile(p, []byte(out), 0o644); err != nil {
				t.Fatal(err)
			}
			defer os.Remove(p)
			rep, err := chain.CheckFile(context.Background(), p, nil)
			if err != nil || !rep.Valid() {
				t.Errorf("check: %v %v", err, rep)
			}
			f, err := vhd.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			typ := f.DiskType()
			f.Close()
			if typ != tt.typ {
				t.Errorf("output is %v, want %v", typ, tt.typ)
			}
			got := diskOf(t, p)
			if len(got) < len(leaf) || !bytes.Equal(got[:len(leaf)], leaf) || !bytes.Equal(got[len(leaf):], make([]byte, len(got)-len(leaf))) {
				t.Errorf("output's disk (%d bytes) differs from the leaf's (%d)", len(got), len(leaf))
			}

			if tt.typ == vhd.DiskDynamic {
				// Back through stdin: the same bytes, and the raw disk.
				code, again, stderr := runCmd(t, []byte(out), "convert", "-")
				if code != 0 || again != out {
					t.Errorf("convert - exit %d, %d bytes of %d: %s", code, len(again), len(out), stderr)
				}
				code, r, stderr := runCmd(t, []byte(out), "convert", "--to", "raw", "-")
				if code != 0 || !bytes.Equal([]byte(r), leaf) {
					t.Errorf("convert --to raw - exit %d, %d bytes: %s", code, len(r), stderr)
				}
			}
		})
	}
}

// TestConvertRefusals: usage errors exit 2, bad input 1, and a refused
// stream on stdin writes nothing.
func TestConvertRefusals(t *testing.T) {
	dir := t.TempDir()
	other := t.TempDir()
	base := vhdtest.Dynamic(t, filepath.Join(other, "base.vhd"), 4*mib, nil)
	outside := vhdtest.Child(t, filepath.Join(dir, "leaf.vhd"), base, nil) // parent outside its directory
	odd := filepath.Join(dir, "odd.raw")
	if err := os.WriteFile(odd, make([]byte, 1000), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args  []string
		stdin []byte
		code  int
		says  string
	}{
		{[]string{"convert", "--from", "raw", "--relative-to", base, odd}, nil, 2, "--relative-to needs"},
		{[]string{"convert", "--size", "-"}, nil, 2, "--size needs a file"},
		{[]string{"convert", "--to", "qcow2", base}, nil, 2, "--to"},
		{[]string{"convert", "--from", "raw", odd}, nil, 1, "multiple of 512"},
		{[]string{"convert", outside}, nil, 1, "outside"},
		{[]string{"convert", "-"}, []byte("not a VHD stream at all, far too short"), 1, "truncated"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, out, stderr := runCmd(t, tc.stdin, tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.says) {
				t.Errorf("exit %d (want %d), stderr %q (want %q)", code, tc.code, stderr, tc.says)
			}
			if out != "" {
				t.Errorf("wrote %d bytes to stdout", len(out))
			}
		})
	}
}
