package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

// FuzzCommands runs query with every item and check on arbitrary files:
// neither may panic or hang, every exit status must be a small errno, and
// check must always say something about a non-fixed file.
func FuzzCommands(f *testing.F) {
	dir := f.TempDir()
	seed := func(p string) {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	seed(vhdtest.Dynamic(f, filepath.Join(dir, "d.vhd"), 4*mib, nil, vhdtest.Fill(1, 0, 4096)))
	seed(vhdtest.Fixed(f, filepath.Join(dir, "f.vhd"), 64<<10, nil))
	parent, err := os.ReadFile(vhdtest.Dynamic(f, filepath.Join(dir, "p.vhd"), 4*mib, nil))
	if err != nil {
		f.Fatal(err)
	}
	seed(vhdtest.Child(f, filepath.Join(dir, "c.vhd"), filepath.Join(dir, "p.vhd"), nil, vhdtest.Fill(2, 512, 512)))
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{0xff}, 1536))

	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 8<<20 {
			return
		}
		dir := t.TempDir()
		// The fuzzed file sits beside the seed parent so that its locators
		// can resolve.
		if err := os.WriteFile(filepath.Join(dir, "p.vhd"), parent, 0o644); err != nil {
			t.Fatal(err)
		}
		name := filepath.Join(dir, "x.vhd")
		if err := os.WriteFile(name, data, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{
			{"query", "-n", name, "-vspfmdaS"},
			{"query", "-n", name, "-pu"},
			{"check", "-n", name, "-p"},
			{"check", "-n", name, "-b", "-i"},
		} {
			var out, errb bytes.Buffer
			code := run(args, &out, &errb)
			if code < 0 || code > 255 {
				t.Fatalf("%v: exit status %d", args, code)
			}
			if args[0] == "check" && code != 0 && out.Len() == 0 {
				t.Fatalf("%v: exit %d without output", args, code)
			}
		}
	})
}
