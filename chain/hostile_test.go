package chain_test

import (
	"context"
	"errors"
	"io"
	"math"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vhdkit/vhdkit/chain"
	"github.com/vhdkit/vhdkit/vhd"
	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

// within runs f and fails the test if it does not return within a few
// seconds: an open(2) blocking on a FIFO never returns.
func within(t *testing.T, what string, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		t.Fatalf("%s blocked", what)
		return nil
	}
}

// TestSpecialFiles gives every function that opens a path a FIFO, a
// socket, a directory or a character device, as the leaf or as a parent a
// locator leads to inside the root: each fails at once with ErrNotRegular,
// never blocks.
func TestSpecialFiles(t *testing.T) {
	kinds := []struct {
		name string
		make func(t *testing.T, path string)
	}{
		{"FIFO", func(t *testing.T, p string) {
			if err := syscall.Mkfifo(p, 0o644); err != nil {
				t.Skip(err)
			}
		}},
		{"socket", func(t *testing.T, p string) {
			l, err := net.Listen("unix", p)
			if err != nil {
				t.Skip(err)
			}
			t.Cleanup(func() { l.Close() })
		}},
		{"directory", func(t *testing.T, p string) {
			if err := os.Mkdir(p, 0o755); err != nil {
				t.Fatal(err)
			}
		}},
	}
	ctx := context.Background()
	for _, k := range kinds {
		for _, mode := range []chain.Mode{chain.Confined, chain.Compat} {
			t.Run(k.name+"/"+mode.String(), func(t *testing.T) {
				dir := tempDir(t)
				special := filepath.Join(dir, "s")
				k.make(t, special)
				// A child whose locators all lead to the special file.
				p := vhdtest.Dynamic(t, filepath.Join(dir, "p.vhd"), mib, nil)
				child := vhdtest.Child(t, filepath.Join(dir, "child.vhd"), p, nil)
				pointAt(t, child, "./s")
				opts := &chain.Options{Root: dir, Mode: mode}
				res, err := chain.NewResolver(dir)
				if mode == chain.Compat {
					res, err = chain.CompatResolver(), nil
				}
				if err != nil {
					t.Fatal(err)
				}
				for _, op := range []struct {
					name string
					run  func() error
				}{
					{"Walk leaf", func() error { c, err := chain.Walk(ctx, special, opts); c.Close(); return err }},
					{"Validate leaf", func() error { c, err := chain.Validate(ctx, special, opts); c.Close(); return err }},
					{"Walk parent", func() error { c, err := chain.Walk(ctx, child, opts); c.Close(); return err }},
					{"Validate parent", func() error { c, err := chain.Validate(ctx, child, opts); c.Close(); return err }},
					{"Writable Walk leaf", func() error {
						c, err := chain.Walk(ctx, special, &chain.Options{Root: dir, Mode: mode, Writable: true})
						c.Close()
						return err
					}},
					{"Resolver.Open", func() error {
						f, err := res.Open(special)
						if err == nil {
							f.Close()
						}
						return err
					}},
					{"CheckFile", func() error { _, err := chain.CheckFile(ctx, special, nil); return err }},
					{"Relink", func() error {
						return chain.Relink(ctx, []string{special, p}, &chain.RelinkOptions{Root: dir, Mode: mode})
					}},
				} {
					err := within(t, op.name, op.run)
					if !errors.Is(err, vhd.ErrNotRegular) {
						t.Errorf("%s: %v, want ErrNotRegular", op.name, err)
					}
				}
				// The leaf may also be a character device in compatible mode.
				if mode == chain.Compat {
					err := within(t, "Walk /dev/null", func() error {
						c, err := chain.Walk(ctx, "/dev/null", opts)
						c.Close()
						return err
					})
					if !errors.Is(err, vhd.ErrNotRegular) {
						t.Errorf("Walk /dev/null: %v, want ErrNotRegular", err)
					}
				}
			})
		}
	}
}

// TestHugeVirtualSize gives the leaf, or its parent, a footer claiming
// virtual sizes up to 2^64-512 and reads at the edges: no panic, no
// overflow, zeros or io.EOF where the disk ends, and a FormatError for a
// size the reader cannot address.
func TestHugeVirtualSize(t *testing.T) {
	const maxOK = math.MaxInt64 - 1<<30 // the reader's largest size
	for _, size := range []uint64{
		vhd.MaxSize, vhd.MaxSize + 512, 1 << 62, maxOK &^ 511,
		math.MaxInt64 &^ 511, 1 << 63, math.MaxUint64 &^ 511,
	} {
		for _, link := range []string{"leaf", "parent"} {
			t.Run(link+"/"+formatSize(size), func(t *testing.T) {
				dir := tempDir(t)
				p := vhdtest.Dynamic(t, filepath.Join(dir, "p.vhd"), 2*mib, nil, vhdtest.Fill(1, 0, 4096))
				leaf := vhdtest.Child(t, filepath.Join(dir, "leaf.vhd"), p, nil, vhdtest.Fill(2, 512, 512))
				target := leaf
				if link == "parent" {
					target = p
				}
				vhdtest.PatchFooter(t, target, vhdtest.Both, true, func(f *vhd.Footer) { f.CurrentSize = size })
				c, err := chain.Walk(context.Background(), leaf, &chain.Options{Mode: chain.Compat})
				if err != nil {
					if !errors.Is(err, vhd.ErrFormat) {
						t.Fatalf("Walk: %v, want a format error", err)
					}
					return
				}
				defer c.Close()
				vsize := c.VirtualSize()
				r := c.ReaderAt()
				buf := make([]byte, 1024)
				_, err = r.ReadAt(buf, 0)
				if size > maxOK {
					// The reader refuses what it cannot address.
					if !errors.Is(err, vhd.ErrTooLarge) {
						t.Fatalf("ReadAt(0): %v, want ErrTooLarge", err)
					}
					return
				}
				if err != nil {
					t.Fatalf("ReadAt(0): %v", err)
				}
				for _, off := range []int64{vsize - 512, vsize - 1, vsize, vsize + 1, math.MaxInt64 - 100, math.MaxInt64} {
					if off < 0 {
						continue
					}
					n, err := r.ReadAt(buf, off)
					want := int(max(0, min(int64(len(buf)), vsize-off)))
					if n != want || err != io.EOF {
						t.Errorf("ReadAt(%d) of a %d-byte disk: n=%d, %v; want %d, io.EOF", off, vsize, n, err, want)
					}
					for i := range buf[:n] {
						if buf[i] != 0 {
							t.Errorf("ReadAt(%d): byte %d is %#x, want 0", off, i, buf[i])
							break
						}
					}
				}
				if vsize <= 8*mib {
					return
				}
				// WriteRaw of such a disk is stopped by its context.
				ctx, cancel := context.WithCancel(context.Background())
				opts := &chain.WriteRawOptions{Progress: func(p chain.Progress) {
					if p.Done > 0 {
						cancel()
					}
				}}
				if err := c.WriteRaw(ctx, io.Discard, opts); !errors.Is(err, context.Canceled) {
					t.Errorf("WriteRaw: %v, want context.Canceled", err)
				}
			})
		}
	}
}

func formatSize(n uint64) string {
	return uintString(n)
}

func uintString(n uint64) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for n > 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	return string(b)
}

// TestFixedSizeClaim gives a fixed disk a footer claiming more virtual
// disk than the file holds: confined Validate refuses it with a
// *FixedSizeError naming the file and both sizes, whether it is the leaf
// or a base; compatible mode accepts it as vhd-util check does.
func TestFixedSizeClaim(t *testing.T) {
	const size = mib
	for _, tc := range []struct {
		name  string
		claim uint64
		bad   bool
	}{
		{"exact", size, false},
		{"a sector more", size + 512, true},
		{"2040 GiB", vhd.MaxSize, true},
		{"2^63", 1 << 63, true},
	} {
		for _, asBase := range []bool{false, true} {
			name := tc.name + "/leaf"
			if asBase {
				name = tc.name + "/base"
			}
			t.Run(name, func(t *testing.T) {
				dir := tempDir(t)
				fixed := vhdtest.Fixed(t, filepath.Join(dir, "f.vhd"), size, nil, vhdtest.Fill(1, 0, 512))
				leaf := fixed
				if asBase {
					leaf = vhdtest.Child(t, filepath.Join(dir, "leaf.vhd"), fixed, nil)
				}
				vhdtest.PatchFooter(t, fixed, vhdtest.Primary, true, func(f *vhd.Footer) { f.CurrentSize = tc.claim })
				if asBase {
					// Keep the leaf as large as its parent claims to be.
					vhdtest.PatchFooter(t, leaf, vhdtest.Both, true, func(f *vhd.Footer) { f.CurrentSize = tc.claim })
				}
				c, err := chain.Validate(context.Background(), leaf, &chain.Options{Root: dir})
				c.Close()
				if tc.claim > vhd.MaxSize {
					// vhd.Open refuses a virtual size past 2040 GiB itself.
					var vfe *vhd.FormatError
					if !errors.As(err, &vfe) || vfe.Field != "current size" || !errors.Is(err, vhd.ErrTooLarge) {
						t.Errorf("confined: %v; want vhd's FormatError for the current size", err)
					}
					return
				}
				var fe *chain.FixedSizeError
				if got := errors.As(err, &fe); got != tc.bad {
					t.Fatalf("confined: %v; want a FixedSizeError: %v", err, tc.bad)
				}
				if tc.bad {
					st, _ := os.Stat(fixed)
					want := chain.FixedSizeError{Path: fixed, VirtualSize: tc.claim, FileSize: st.Size()}
					if *fe != want {
						t.Errorf("got %+v, want %+v", *fe, want)
					}
					if !errors.Is(err, vhd.ErrTruncated) {
						t.Errorf("%v does not match vhd.ErrTruncated", err)
					}
				}
				c, err = chain.Validate(context.Background(), leaf, &chain.Options{Mode: chain.Compat})
				c.Close()
				if errors.As(err, &fe) {
					t.Errorf("compat: %v", err)
				}
			})
		}
	}
}

// TestUUIDs reports two links with one footer UUID as duplicates in
// confined mode, and a null UUID as a null UUID, never as a duplicate of
// another null one.
func TestUUIDs(t *testing.T) {
	for _, tc := range []struct {
		name     string
		uuid     vhd.UUID // given to the leaf and the base
		dup      bool
		nullUUID bool
	}{
		{"distinct", vhd.UUID{}, false, false},
		{"same", vhdtest.NameUUID("same"), true, false},
		{"null", vhd.UUID{}, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := tempDir(t)
			paths := vhdtest.Chain(t, dir, 3, mib, nil, nil)
			if tc.dup || tc.nullUUID {
				for _, i := range []int{2, 0} {
					vhdtest.PatchFooter(t, paths[i], vhdtest.Both, true, func(f *vhd.Footer) { f.UUID = tc.uuid })
				}
				vhdtest.PatchHeader(t, paths[1], true, func(h *vhd.Header) { h.ParentUUID = tc.uuid })
			}
			_, err := chain.Validate(context.Background(), paths[0], &chain.Options{Root: dir})
			if got := errors.Is(err, chain.ErrDuplicateUUID); got != tc.dup {
				t.Errorf("%v: duplicate %v, want %v", err, got, tc.dup)
			}
			var de *chain.DuplicateUUIDError
			if tc.dup && errors.As(err, &de) && (de.Paths != [2]string{paths[0], paths[2]} || de.UUID != tc.uuid) {
				t.Errorf("got %+v", de)
			}
			if tc.nullUUID && !errors.Is(err, vhd.ErrFooterInvalid) {
				t.Errorf("null UUIDs: %v, want ErrFooterInvalid (invalid NULL uuid)", err)
			}
			if !tc.dup && !tc.nullUUID && err != nil {
				t.Error(err)
			}
		})
	}
}

// TestErrorText checks that errors name the package at most once and
// each file where it matters, whatever wraps what.
func TestErrorText(t *testing.T) {
	dir := tempDir(t)
	paths := vhdtest.Chain(t, dir, 3, mib, nil, nil)
	hidden := paths[1]
	missing := vhdtest.Child(t, filepath.Join(dir, "missing.vhd"), paths[2], nil)
	pointAt(t, missing, "./nowhere.vhd")
	outside := vhdtest.Child(t, filepath.Join(dir, "outside.vhd"), paths[2], nil)
	pointAt(t, outside, "../x.vhd")
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		err  func() error
		want []string // each must appear
	}{
		{"hidden leaf", func() error { _, err := chain.Validate(ctx, hidden, &chain.Options{Root: dir}); return err }, []string{hidden, "hidden"}},
		{"missing parent", func() error { _, err := chain.Walk(ctx, missing, &chain.Options{Root: dir}); return err }, []string{missing, "nowhere.vhd", "not found"}},
		{"outside", func() error { _, err := chain.Validate(ctx, outside, &chain.Options{Root: dir}); return err }, []string{outside, "outside the root"}},
		{"relink a dynamic child", func() error {
			return chain.Relink(ctx, []string{paths[2], paths[1]}, &chain.RelinkOptions{Root: dir})
		}, []string{paths[2], "not a differencing disk"}},
		{"no root", func() error { _, err := chain.Walk(ctx, paths[0], nil); return err }, []string{"root"}},
	} {
		err := tc.err()
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		msg := err.Error()
		for _, prefix := range []string{"chain: ", "vhd: "} {
			re := regexp.MustCompile(`(^|[^.\w])` + prefix)
			if n := len(re.FindAllString(msg, -1)); n > 1 {
				t.Errorf("%s: %q appears %d times in %q", tc.name, prefix, n, msg)
			}
		}
		lines := strings.Split(msg, "\n")
		slices.Sort(lines)
		if len(slices.Compact(lines)) != len(strings.Split(msg, "\n")) {
			t.Errorf("%s: a line repeats in %q", tc.name, msg)
		}
		for _, w := range tc.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: %q does not say %q", tc.name, msg, w)
			}
		}
	}
}

// TestLocatorDecodingAgrees gives a child locators blktap cannot decode
// (odd-length UTF-16, non-ASCII past the NUL) and only those: Walk,
// Validate and CheckFile all refuse them, where Walk used to follow what
// the checker rejects.
func TestLocatorDecodingAgrees(t *testing.T) {
	w2 := func(s string) []byte { b, _ := vhd.EncodeLocator(vhd.PlatformW2ku, s); return b }
	for _, tc := range []struct {
		name string
		keep vhd.PlatformCode // the code whose slots keep their locator
		data []byte           // their new data; nil keeps it
		ok   bool
	}{
		{"MacX alone", vhd.PlatformMacX, nil, true},
		{"W2ku alone", vhd.PlatformW2ku, nil, true},
		{"W2ku odd length", vhd.PlatformW2ku, append(w2("./p.vhd"), '.'), false},
		{"W2ku non-ASCII past the NUL", vhd.PlatformW2ku, append(w2("./p.vhd"), 0, 0, 0xE9, 0), false},
		{"MacX non-ASCII past the NUL", vhd.PlatformMacX, []byte("file://./p.vhd\x00\xc3\xa9"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := tempDir(t)
			p := vhdtest.Dynamic(t, filepath.Join(dir, "p.vhd"), mib, nil)
			leaf := vhdtest.Child(t, filepath.Join(dir, "leaf.vhd"), p, nil)
			f, err := vhd.Open(leaf)
			if err != nil {
				t.Fatal(err)
			}
			h := *f.Header
			f.Close()
			for i, l := range h.Locators {
				if l.Code == tc.keep || tc.keep == vhd.PlatformW2ku && l.Code == vhd.PlatformW2ru {
					if tc.data != nil {
						patchLocator(t, leaf, i, tc.data)
					}
					continue
				}
				if l.Code.Decodable() {
					vhdtest.PatchHeader(t, leaf, true, func(h *vhd.Header) { h.Locators[i] = vhd.ParentLocator{} })
				}
			}
			ctx := context.Background()
			c, walkErr := chain.Walk(ctx, leaf, &chain.Options{Root: dir})
			c.Close()
			c, valErr := chain.Validate(ctx, leaf, &chain.Options{Root: dir})
			c.Close()
			_, checkErr := chain.CheckFile(ctx, leaf, nil)
			if tc.ok {
				if walkErr != nil || valErr != nil || checkErr != nil {
					t.Fatalf("Walk: %v\nValidate: %v\nCheckFile: %v", walkErr, valErr, checkErr)
				}
				return
			}
			if !errors.Is(walkErr, chain.ErrUndecodableLocator) {
				t.Errorf("Walk: %v, want ErrUndecodableLocator", walkErr)
			}
			if !errors.Is(valErr, vhd.ErrLocatorInvalid) {
				t.Errorf("Validate: %v, want ErrLocatorInvalid", valErr)
			}
			if !errors.Is(checkErr, vhd.ErrLocatorInvalid) {
				t.Errorf("CheckFile: %v, want ErrLocatorInvalid", checkErr)
			}
		})
	}
}
