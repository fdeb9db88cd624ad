package chain_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vhdkit/vhdkit/chain"
	"github.com/vhdkit/vhdkit/vhd"
	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

// FuzzResolveConfined feeds arbitrary locator data to a confined Resolver
// and checks the property confined mode exists for: whatever the locator
// says, a path it resolves to lies inside the root once symbolic links are
// evaluated, and every refusal is a *LocatorError naming the slot.
func FuzzResolveConfined(f *testing.F) {
	for _, s := range []string{
		"file://./p.vhd", "file://../outside.vhd", "file:///etc/passwd", "file://./sub/../p.vhd",
		"file://./sub/../../outside.vhd", "file://./out/p.vhd", "file://./loop", "file://./esc",
		"file://.//p.vhd", "file://./sub/./../p.vhd", "file://", "file://./\xc3\xa9.vhd", "./p.vhd",
		"file://./sub/esc/../p.vhd", "file://.", "file://./sub", "file://" + strings.Repeat("../", 40) + "p.vhd",
	} {
		f.Add(uint8(0), []byte(s))
	}
	for _, s := range []string{`.\p.vhd`, `.\..\outside.vhd`, `C:\p.vhd`, `D:\x`, `\\server\share\p.vhd`, `.\out\p.vhd`} {
		u := make([]byte, 0, 2*len(s))
		for i := 0; i < len(s); i++ {
			u = append(u, s[i], 0)
		}
		f.Add(uint8(1), u)
	}
	f.Add(uint8(2), []byte{0x00, 0xD8, '.', 0})

	tmp := realPath(f, f.TempDir())
	root := filepath.Join(tmp, "root")
	if err := os.MkdirAll(filepath.Join(root, "sub"), 0o755); err != nil {
		f.Fatal(err)
	}
	vhdtest.Dynamic(f, filepath.Join(tmp, "outside.vhd"), mib, nil)
	p := vhdtest.Dynamic(f, filepath.Join(root, "p.vhd"), mib, nil)
	leafPath := vhdtest.Child(f, filepath.Join(root, "sub", "leaf.vhd"), p, nil)
	// Links: one out of the root, one to a directory out of the root, one
	// to itself, one that escapes through another link.
	os.Symlink(filepath.Join(tmp, "outside.vhd"), filepath.Join(root, "sub", "out.vhd"))
	os.Symlink(tmp, filepath.Join(root, "out"))
	os.Symlink("loop", filepath.Join(root, "sub", "loop"))
	os.Symlink("../out", filepath.Join(root, "sub", "esc"))
	res, err := chain.NewResolver(root)
	if err != nil {
		f.Fatal(err)
	}
	leaf, err := vhd.Open(leafPath)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { leaf.Close() })
	codes := []vhd.PlatformCode{vhd.PlatformMacX, vhd.PlatformW2ku, vhd.PlatformW2ru}

	f.Fuzz(func(t *testing.T, code uint8, data []byte) {
		c := codes[int(code)%len(codes)]
		loc := vhd.Locator{Slot: int(code) % 8, Entry: vhd.ParentLocator{Code: c}}
		loc.Path, loc.Err = vhd.DecodeLocator(c, data)
		got, err := res.Resolve(leaf, loc)
		if err != nil {
			var le *chain.LocatorError
			if !errors.As(err, &le) || le.Slot != loc.Slot {
				t.Fatalf("Resolve(%q): %T %v, want a *LocatorError for slot %d", loc.Path, err, err, loc.Slot)
			}
			return
		}
		real, err := filepath.EvalSymlinks(got)
		if err != nil {
			t.Fatalf("Resolve(%q) = %s, which does not evaluate: %v", loc.Path, got, err)
		}
		rel, err := filepath.Rel(root, real)
		if err != nil || !filepath.IsLocal(rel) {
			t.Fatalf("Resolve(%q) = %s (%s), outside the root %s", loc.Path, got, real, root)
		}
		// It may not be a VHD (a directory, say), but Open must agree it
		// lies in the root.
		if f, err := res.Open(got); err == nil {
			f.Close()
		} else if errors.Is(err, chain.ErrOutsideRoot) {
			t.Fatalf("Open(%s): %v", got, err)
		}
	})
}
