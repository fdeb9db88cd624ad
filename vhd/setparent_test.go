package vhd_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vhdkit/vhdkit/vhd"
	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

// spOpener is a test ParentOpener: locators resolve against the child's
// real directory, absolute ones as written.
type spOpener struct{}

func (spOpener) Resolve(child *vhd.File, loc vhd.Locator) (string, error) {
	if loc.Err != nil {
		return "", loc.Err
	}
	p := loc.Path
	if !filepath.IsAbs(p) {
		dir, err := filepath.EvalSymlinks(filepath.Dir(child.Name()))
		if err != nil {
			return "", err
		}
		p = filepath.Join(dir, p)
	}
	if _, err := os.Stat(p); err != nil {
		return "", err
	}
	return p, nil
}

func (spOpener) Open(p string) (*vhd.File, error) { return vhd.Open(p) }

// openChain opens the VHD at path with its ancestors attached (a raw
// parent, one whose child has a null parent UUID, as a plain file).
func openChain(t testing.TB, path string) *vhd.File {
	t.Helper()
	leaf, err := vhd.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { leaf.Close() })
	f := leaf
	for depth := 0; f.HasParent(); depth++ {
		if depth > 64 {
			t.Fatalf("chain of %s too deep", path)
		}
		var p string
		for _, loc := range f.ParentLocators() {
			if p, err = (spOpener{}).Resolve(f, loc); err == nil {
				break
			}
		}
		if p == "" {
			t.Fatalf("parent of %s does not resolve: %v", f.Name(), err)
		}
		if f.ParentUUID().IsZero() {
			raw, err := os.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { raw.Close() })
			f.AttachParent(raw)
			break
		}
		pf, err := vhd.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pf.Close() })
		f.AttachParent(pf)
		f = pf
	}
	return leaf
}

// chainData reads the whole virtual disk of the chain at path.
func chainData(t testing.TB, path string) []byte {
	t.Helper()
	f := openChain(t, path)
	got := make([]byte, f.VirtualSize())
	if n, err := f.ReadAt(got, 0); n != len(got) {
		t.Fatalf("reading %s: %d bytes, %v", path, n, err)
	}
	return got
}

func fileBytes(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func copyFile(t testing.TB, dst, src string) string {
	t.Helper()
	if err := os.WriteFile(dst, fileBytes(t, src), 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

// deepDir makes nested directories under root whose path relative to root
// is about n characters long, and returns it.
func deepDir(t testing.TB, root string, n int) string {
	t.Helper()
	dir := root
	for left := n; left > 0; {
		k := min(left, 200)
		dir = filepath.Join(dir, strings.Repeat(string(rune('a'+left%26)), k))
		left -= k + 1
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// layout is what assertLayout checks of a differencing disk after a
// SetParent, in a form cmp can show.
type parentFields struct {
	ParentUUID vhd.UUID
	ParentName string
	ParentTime int64
	Locators   []string
}

func readParentFields(t testing.TB, f *vhd.File) parentFields {
	t.Helper()
	name, err := f.ParentName()
	if err != nil {
		t.Fatal(err)
	}
	pf := parentFields{ParentUUID: f.ParentUUID(), ParentName: name, ParentTime: f.ParentTime().Unix()}
	for _, l := range f.ParentLocators() {
		if l.Err != nil {
			t.Fatalf("locator %d: %v", l.Slot, l.Err)
		}
		pf.Locators = append(pf.Locators, fmt.Sprintf("%d:%v:%s", l.Slot, l.Entry.Code, l.Path))
	}
	return pf
}

// assertLayout checks the structural promises of SetParent on the file at
// path: metadata (header, BAT, batmap, every locator) lies below every data
// block and does not overlap, the footer sits at the end of the data, and
// both footer copies are equal.
func assertLayout(t testing.TB, path string) { assertLayoutSized(t, path, true) }

// assertLayoutSized is assertLayout; exact says the file must end where
// its metadata says (false for files made by other tools, which SetParent
// rewrites in place and leaves their size).
func assertLayoutSized(t testing.TB, path string, exact bool) {
	t.Helper()
	f, err := vhd.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	eoh, err := f.EndOfHeaders()
	if err != nil {
		t.Fatal(err)
	}
	bat, err := f.BAT()
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range bat {
		if e != vhd.Unallocated && int64(e)*512 < eoh {
			t.Errorf("block %d at sector %#x lies below the end of the headers %d", i, e, eoh)
		}
	}
	type iv struct {
		name       string
		start, end int64
	}
	ivs := []iv{{"header", 512, 1536}, {"BAT", int64(f.Header.TableOffset), int64(f.Header.TableOffset) + max(512, (int64(f.Header.MaxTableEntries)*4+511)&^511)}}
	if bm, err := f.Batmap(); err == nil {
		ivs = append(ivs, iv{"batmap header", bm.HeaderOffset, bm.HeaderOffset + 512}, iv{"batmap", int64(bm.Header.Offset), int64(bm.Header.Offset) + int64(bm.Header.Size)*512})
	}
	for i, l := range f.Header.Locators {
		if l.Code != vhd.PlatformNone {
			ivs = append(ivs, iv{fmt.Sprintf("locator %d", i), int64(l.DataOffset), int64(l.DataOffset) + l.Size()})
		}
	}
	for i := range ivs {
		for j := range i {
			a, b := ivs[i], ivs[j]
			if a.start < b.end && b.start < a.end {
				t.Errorf("%s [%d,%d) overlaps %s [%d,%d)", a.name, a.start, a.end, b.name, b.start, b.end)
			}
		}
	}
	phys, err := f.PhysicalSize()
	if err != nil {
		t.Fatal(err)
	}
	if phys != f.FileSize() && (exact || phys > f.FileSize()) {
		t.Errorf("physical size %d, file size %d", phys, f.FileSize())
	}
	b := fileBytes(t, path)
	if !bytes.Equal(b[:512], b[len(b)-512:]) {
		t.Errorf("primary and backup footers differ")
	}
	if n := bytes.Count(b, []byte("conectix")); n != 2 {
		t.Errorf("%d footer cookies in the file, want 2", n)
	}
	if f.FooterSource() != vhd.FooterPrimary {
		t.Errorf("opened with the %v footer", f.FooterSource())
	}
}

// assertCheck runs vhd.CheckFile on path in the default and the vhd-util
// compatibility mode, with parents resolved, and fails on any problem or
// rule not run.
func assertCheck(t testing.TB, path string) {
	t.Helper()
	for _, compat := range []bool{false, true} {
		rep, err := vhd.CheckFile(context.Background(), path, &vhd.CheckOptions{Compat: compat, Parents: spOpener{}})
		if err != nil {
			t.Errorf("Check(Compat=%v) %s: %v", compat, path, err)
			continue
		}
		if len(rep.NotRun) > 0 {
			t.Errorf("Check(Compat=%v) %s did not run %q", compat, path, rep.NotRun)
		}
	}
}

// spFixture is a child and a parent to re-link it to.
type spFixture struct {
	child, newParent string
	raw              bool
	before           []byte   // the data, when the child's parent cannot be found before
	moves            int      // BAT entries SetParent must change
	wantSlots        []string // code of each locator slot after, in slot order
}

// roundTrip returns path as a locator with code decodes: W2ku and W2ru turn
// "../p" into ".\..\p", which reads back as "./../p".
func roundTrip(t testing.TB, code vhd.PlatformCode, path string) string {
	t.Helper()
	b, err := vhd.EncodeLocator(code, path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := vhd.DecodeLocator(code, b)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSetParent(t *testing.T) {
	size := int64(6 * mib)
	baseW := []vhdtest.Write{vhdtest.Fill(1, 0, int(size))}
	childW := []vhdtest.Write{vhdtest.Fill(2, 700, 3), vhdtest.Fill(3, 2*mib+512, 4096), vhdtest.Fill(4, 5*mib-1, 2)}
	std := []string{"MacX", "W2ku", "W2ru"}
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string) spFixture
	}{
		{"renamed parent, same directory", func(t *testing.T, dir string) spFixture {
			base := vhdtest.Dynamic(t, filepath.Join(dir, "base.vhd"), size, nil, baseW...)
			c := vhdtest.Child(t, filepath.Join(dir, "c.vhd"), base, nil, childW...)
			return spFixture{child: c, newParent: copyFile(t, filepath.Join(dir, "other-name.vhd"), base), wantSlots: std}
		}},
		{"long path, blocks allocated", func(t *testing.T, dir string) spFixture {
			base := vhdtest.Dynamic(t, filepath.Join(dir, "base.vhd"), size, nil, baseW...)
			c := vhdtest.Child(t, filepath.Join(dir, "c.vhd"), base, nil, childW...)
			np := copyFile(t, filepath.Join(deepDir(t, dir, 900), "base.vhd"), base)
			return spFixture{child: c, newParent: np, wantSlots: std, moves: 1}
		}},
		{"long path, no blocks", func(t *testing.T, dir string) spFixture {
			base := vhdtest.Dynamic(t, filepath.Join(dir, "base.vhd"), size, nil, baseW...)
			c := vhdtest.Child(t, filepath.Join(dir, "c.vhd"), base, nil)
			np := copyFile(t, filepath.Join(deepDir(t, dir, 980), "base.vhd"), base)
			return spFixture{child: c, newParent: np, wantSlots: std}
		}},
		{"512 KiB blocks, no batmap, long path", func(t *testing.T, dir string) spFixture {
			base := vhdtest.Dynamic(t, filepath.Join(dir, "base.vhd"), size, nil, baseW...)
			opt := &vhdtest.Options{BlockSize: 512 << 10, Creator: vhd.Creator{'v', 'p', 'c', ' '}}
			c := vhdtest.Child(t, filepath.Join(dir, "c.vhd"), base, opt, childW...)
			np := copyFile(t, filepath.Join(deepDir(t, dir, 900), "base.vhd"), base)
			return spFixture{child: c, newParent: np, wantSlots: std, moves: 1}
		}},
		{"parent one directory up", func(t *testing.T, dir string) spFixture {
			base := vhdtest.Dynamic(t, filepath.Join(dir, "base.vhd"), size, nil, baseW...)
			sub := filepath.Join(dir, "sub")
			os.Mkdir(sub, 0o755)
			c := vhdtest.Child(t, filepath.Join(sub, "c.vhd"), copyFile(t, filepath.Join(sub, "b.vhd"), base), nil, childW...)
			return spFixture{child: c, newParent: base, wantSlots: std}
		}},
		{"no locators, blocks allocated", func(t *testing.T, dir string) spFixture {
			base := vhdtest.Dynamic(t, filepath.Join(dir, "base.vhd"), size, nil, baseW...)
			c := vhdtest.Child(t, filepath.Join(dir, "c.vhd"), base, nil, childW...)
			before := chainData(t, c)
			vhdtest.PatchHeader(t, c, true, func(h *vhd.Header) { h.Locators = [8]vhd.ParentLocator{} })
			return spFixture{child: c, newParent: base, wantSlots: std, before: before}
		}},
		{"no locators, other slots used, long path", func(t *testing.T, dir string) spFixture {
			base := vhdtest.Dynamic(t, filepath.Join(dir, "base.vhd"), size, nil, baseW...)
			c := vhdtest.Child(t, filepath.Join(dir, "c.vhd"), base, nil, childW...)
			before := chainData(t, c)
			vhdtest.PatchHeader(t, c, true, func(h *vhd.Header) {
				// A Wi2r locator in slot 1 keeps its place and data.
				h.Locators = [8]vhd.ParentLocator{1: {Code: vhd.PlatformWi2r, DataSpace: 512, DataLength: 8, DataOffset: h.Locators[0].DataOffset}}
			})
			np := copyFile(t, filepath.Join(deepDir(t, dir, 700), "base.vhd"), base)
			return spFixture{child: c, newParent: np, wantSlots: []string{"MacX", "Wi2r", "W2ku", "W2ru"}, before: before}
		}},
		{"raw parent", func(t *testing.T, dir string) spFixture {
			base := vhdtest.Dynamic(t, filepath.Join(dir, "base.vhd"), size, nil, baseW...)
			c := vhdtest.Child(t, filepath.Join(dir, "c.vhd"), base, nil, childW...)
			raw := filepath.Join(dir, "base.raw")
			if err := os.WriteFile(raw, chainData(t, base), 0o644); err != nil {
				t.Fatal(err)
			}
			return spFixture{child: c, newParent: raw, raw: true, wantSlots: std}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			fx := tc.setup(t, dir)
			before := fx.before
			if before == nil {
				before = chainData(t, fx.child)
			}
			oldFooter := fileBytes(t, fx.child)[:512]

			f, err := vhd.OpenFile(fx.child, os.O_RDWR)
			if err != nil {
				t.Fatal(err)
			}
			oldBAT, err := f.BAT()
			if err != nil {
				t.Fatal(err)
			}
			oldBAT = slices.Clone(oldBAT)
			if err := f.SetParent(context.Background(), fx.newParent, &vhd.SetParentOptions{Raw: fx.raw}); err != nil {
				t.Fatalf("SetParent: %v", err)
			}
			inMem := readParentFields(t, f)
			newBAT, err := f.BAT()
			if err != nil {
				t.Fatal(err)
			}
			moves := 0
			for i := range oldBAT {
				if oldBAT[i] != newBAT[i] {
					moves++
				}
			}
			if moves != fx.moves {
				t.Errorf("%d blocks moved, want %d", moves, fx.moves)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}

			rel, err := vhd.RelativeLocatorPath(fx.child, fx.newParent)
			if err != nil {
				t.Fatal(err)
			}
			st, err := os.Stat(fx.newParent)
			if err != nil {
				t.Fatal(err)
			}
			want := parentFields{ParentName: filepath.Base(fx.newParent), ParentTime: st.ModTime().Unix()}
			if !fx.raw {
				p, err := vhd.Open(fx.newParent)
				if err != nil {
					t.Fatal(err)
				}
				want.ParentUUID = p.Footer.UUID
				p.Close()
			}
			c, err := vhd.Open(fx.child)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			got := readParentFields(t, c)
			var slots []string
			for i, l := range c.Header.Locators {
				if l.Code != vhd.PlatformNone {
					slots = append(slots, l.Code.String())
				}
				if l.Code.Decodable() {
					want.Locators = append(want.Locators, fmt.Sprintf("%d:%v:%s", i, l.Code, roundTrip(t, l.Code, rel)))
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("parent fields (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(got, inMem); diff != "" {
				t.Errorf("File after SetParent differs from the file reopened (-disk +mem):\n%s", diff)
			}
			if diff := cmp.Diff(fx.wantSlots, slots); diff != "" {
				t.Errorf("locator codes (-want +got):\n%s", diff)
			}
			assertLayout(t, fx.child)
			assertCheck(t, fx.child)
			if !bytes.Equal(fileBytes(t, fx.child)[:512], oldFooter) {
				t.Errorf("footer changed")
			}
			if after := chainData(t, fx.child); !bytes.Equal(before, after) {
				t.Errorf("data through the new parent differs: %s", firstDiff(after, before))
			}
		})
	}
}

// TestSetParentRepeated re-links a child back and forth: the space of old
// locators is reused, so the file does not grow without bound.
func TestSetParentRepeated(t *testing.T) {
	dir := t.TempDir()
	base := vhdtest.Dynamic(t, filepath.Join(dir, "a.vhd"), 4*mib, nil, vhdtest.Fill(1, 0, 4*mib))
	other := copyFile(t, filepath.Join(dir, "b.vhd"), base)
	for _, blocks := range []bool{false, true} {
		t.Run(fmt.Sprint("blocks=", blocks), func(t *testing.T) {
			var w []vhdtest.Write
			if blocks {
				w = []vhdtest.Write{vhdtest.Fill(2, 4096, 100)}
			}
			c := vhdtest.Child(t, filepath.Join(dir, fmt.Sprint("c", blocks, ".vhd")), base, nil, w...)
			before := chainData(t, c)
			var sizes []int64
			for i := range 6 {
				f, err := vhd.OpenFile(c, os.O_RDWR)
				if err != nil {
					t.Fatal(err)
				}
				if err := f.SetParent(context.Background(), []string{other, base}[i%2], nil); err != nil {
					t.Fatal(err)
				}
				sizes = append(sizes, f.FileSize())
				f.Close()
				assertLayout(t, c)
				assertCheck(t, c)
			}
			if sizes[5] != sizes[3] || sizes[4] != sizes[2] {
				t.Errorf("file keeps growing: sizes %v", sizes)
			}
			if after := chainData(t, c); !bytes.Equal(before, after) {
				t.Errorf("data differs: %s", firstDiff(after, before))
			}
		})
	}
}

// TestSetParentWindowsChild re-links the Windows-made child of the foreign
// set, whose locators are W2ku and W2ru with large data spaces before its BAT.
func TestSetParentWindowsChild(t *testing.T) {
	src := filepath.Join("..", "..", "shared", "foreign-vhd")
	if _, err := os.Stat(filepath.Join(src, "win8-child.vhd")); err != nil {
		t.Skip("foreign VHDs absent:", err)
	}
	dir := t.TempDir()
	parent := copyFile(t, filepath.Join(dir, "win8.vhd"), filepath.Join(src, "win8.vhd"))
	child := copyFile(t, filepath.Join(dir, "win8-child.vhd"), filepath.Join(src, "win8-child.vhd"))
	before := chainData(t, child)
	sizeBefore := int64(len(fileBytes(t, child)))
	f, err := vhd.OpenFile(child, os.O_RDWR)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.SetParent(context.Background(), parent, nil); err != nil {
		t.Fatal(err)
	}
	f.Close()
	c, err := vhd.Open(child)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got := readParentFields(t, c)
	if got.ParentName != "win8.vhd" || len(got.Locators) != 2 {
		t.Errorf("after SetParent: %+v", got)
	}
	for _, l := range got.Locators {
		if !strings.HasSuffix(l, ":./win8.vhd") {
			t.Errorf("locator %s, want ./win8.vhd", l)
		}
	}
	assertLayoutSized(t, child, false)
	if st, err := os.Stat(child); err != nil || st.Size() != sizeBefore {
		t.Errorf("the Windows child changed size: %d bytes, was %d (%v)", st.Size(), sizeBefore, err)
	}
	// Re-linked, the Windows child passes vhd-util's check too: its header
	// name is now the base name its locators hold.
	assertCheck(t, child)
	if after := chainData(t, child); !bytes.Equal(before, after) {
		t.Errorf("data differs: %s", firstDiff(after, before))
	}
}

func TestSetParentErrors(t *testing.T) {
	dir := t.TempDir()
	base := vhdtest.Dynamic(t, filepath.Join(dir, "base.vhd"), 4*mib, nil, vhdtest.Fill(1, 0, mib))
	nonASCII := copyFile(t, filepath.Join(dir, "bäse.vhd"), base)
	long := copyFile(t, filepath.Join(deepDir(t, dir, 1100), "base.vhd"), base)
	junk := filepath.Join(dir, "junk.vhd")
	os.WriteFile(junk, bytes.Repeat([]byte("junk"), 1024), 0o644)
	nullUUID := vhdtest.Dynamic(t, filepath.Join(dir, "null.vhd"), 4*mib, nil)
	vhdtest.PatchFooter(t, nullUUID, vhdtest.Both, true, func(ft *vhd.Footer) { ft.UUID = vhd.UUID{} })

	tests := []struct {
		name      string
		child     func(t *testing.T, p string) string
		parent    string
		readOnly  bool
		raw       bool
		wantErr   error
		wantField string
	}{
		{"not differencing", func(t *testing.T, p string) string {
			return vhdtest.Dynamic(t, p, 4*mib, nil, vhdtest.Fill(2, 0, 512))
		}, base, false, false, vhd.ErrNotDifferencing, "disk type"},
		{"fixed", func(t *testing.T, p string) string { return vhdtest.Fixed(t, p, 4*mib, nil) }, base, false, false, vhd.ErrNotDifferencing, "disk type"},
		{"read-only", nil, base, true, false, vhd.ErrReadOnly, "file"},
		{"disabled", func(t *testing.T, p string) string {
			vhdtest.Child(t, p, base, nil, vhdtest.Fill(3, 0, 512))
			vhdtest.PatchFooter(t, p, vhdtest.Both, true, func(ft *vhd.Footer) { copy(ft.Cookie[:], vhd.DisabledCookie) })
			return p
		}, base, false, false, vhd.ErrDisabled, "file"},
		{"missing parent", nil, filepath.Join(dir, "nope.vhd"), false, false, fs.ErrNotExist, "parent"},
		{"missing raw parent", nil, filepath.Join(dir, "nope.raw"), false, true, fs.ErrNotExist, "parent"},
		{"parent is a directory", nil, dir, false, false, vhd.ErrNotRegular, "parent"},
		{"parent not a VHD", nil, junk, false, false, vhd.ErrFormat, "parent"},
		{"parent with null UUID", nil, nullUUID, false, false, vhd.ErrNullParentUUID, "parent"},
		{"non-ASCII name", nil, nonASCII, false, false, vhd.ErrLocator, "parent name"},
		{"path too long", nil, long, false, false, vhd.ErrTooLarge, "locator path"},
		{"own parent", func(t *testing.T, p string) string {
			return vhdtest.Child(t, p, base, nil)
		}, "", false, false, vhd.ErrSameFile, "parent"},
		{"control: a valid child and parent", nil, base, false, false, nil, ""},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, fmt.Sprintf("c%d.vhd", i))
			if tc.child != nil {
				tc.child(t, p)
			} else {
				vhdtest.Child(t, p, base, nil, vhdtest.Fill(4, 1000, 5000))
			}
			parent := tc.parent
			if parent == "" {
				parent = p
			}
			before := fileBytes(t, p)
			flag := os.O_RDWR
			if tc.readOnly {
				flag = os.O_RDONLY
			}
			f, err := vhd.OpenFile(p, flag)
			if err != nil {
				t.Fatal(err)
			}
			err = f.SetParent(context.Background(), parent, &vhd.SetParentOptions{Raw: tc.raw})
			f.Close()
			if tc.wantErr == nil {
				// The control case: the child is fine.
				if err != nil {
					t.Fatalf("SetParent: %v", err)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("SetParent error %v, want %v", err, tc.wantErr)
			}
			var pe *vhd.ParentError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T is not a *vhd.ParentError", err)
			}
			if pe.Field != tc.wantField || pe.File != p || pe.Parent != parent {
				t.Errorf("ParentError{File %q, Parent %q, Field %q}, want %q, %q, %q", pe.File, pe.Parent, pe.Field, p, parent, tc.wantField)
			}
			if !bytes.Equal(before, fileBytes(t, p)) {
				t.Errorf("the child changed although SetParent failed")
			}
		})
	}
}

// TestSetParentNotByName needs ChildPath for a File made by NewWritable.
func TestSetParentNotByName(t *testing.T) {
	dir := t.TempDir()
	base := vhdtest.Dynamic(t, filepath.Join(dir, "base.vhd"), 4*mib, nil)
	c := vhdtest.Child(t, filepath.Join(dir, "c.vhd"), base, nil)
	mem := newMemStore(fileBytes(t, c))
	f, err := vhd.NewWritable(mem, int64(len(mem.b)))
	if err != nil {
		t.Fatal(err)
	}
	before := bytes.Clone(mem.b)
	err = f.SetParent(context.Background(), base, nil)
	var pe *vhd.ParentError
	if !errors.As(err, &pe) || pe.Field != "child path" || !bytes.Equal(before, mem.b) {
		t.Errorf("SetParent without ChildPath: %v", err)
	}
	if err := f.SetParent(context.Background(), base, &vhd.SetParentOptions{ChildPath: c}); err != nil {
		t.Errorf("SetParent with ChildPath: %v", err)
	}
}

// TestSetParentFaultInjection fails SetParent at its k-th write, truncate
// or sync, for every k, and looks at every file a crash could leave behind:
// only what was synced (the writes before the last successful sync) and
// that plus any one of the writes made since, or all of them. Each must
// open with a primary footer, link to the old parent with old locators or
// to the new parent with new ones (some perhaps not listed), pass Check,
// and read the same data. A successful SetParent must leave everything it
// wrote synced: a missing sync anywhere fails this test.
func TestSetParentFaultInjection(t *testing.T) {
	size := int64(4 * mib)
	tests := []struct {
		name   string
		writes []vhdtest.Write
		depth  int // length of the relative path to the new parent
	}{
		{"short path, blocks, in place", []vhdtest.Write{vhdtest.Fill(2, 100, 3000), vhdtest.Fill(3, 3*mib, 512)}, 0},
		{"short path, no blocks, in place", nil, 0},
		{"long path, block moves", []vhdtest.Write{vhdtest.Fill(2, 100, 3000), vhdtest.Fill(3, 2*mib, 2*mib-512), vhdtest.Fill(4, 4*mib-9, 9)}, 800},
		{"long path, no blocks", nil, 800},
		{"medium path, free space below the blocks", []vhdtest.Write{vhdtest.Fill(2, 100, 3000)}, 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			base := vhdtest.Dynamic(t, filepath.Join(dir, "base.vhd"), size, nil, vhdtest.Fill(1, 0, int(size)))
			child := vhdtest.Child(t, filepath.Join(dir, "c.vhd"), base, nil, tc.writes...)
			np := filepath.Join(dir, "np.vhd")
			if tc.depth > 0 {
				np = filepath.Join(deepDir(t, dir, tc.depth), "np.vhd")
			}
			copyFile(t, np, base)
			parentFile, err := vhd.Open(base)
			if err != nil {
				t.Fatal(err)
			}
			defer parentFile.Close()
			orig := fileBytes(t, child)
			want := chainData(t, child)

			var failed *vhd.File // the File SetParent failed on
			run := func(failAt int) (*memStore, error) {
				mem := newMemStore(orig)
				mem.failAt = failAt
				f, err := vhd.NewWritable(mem, int64(len(mem.b)))
				if err != nil {
					t.Fatal(err)
				}
				failed = f
				return mem, f.SetParent(context.Background(), np, &vhd.SetParentOptions{ChildPath: child})
			}
			header := func(b []byte) *vhd.Header {
				f, err := vhd.New(bytes.NewReader(b), int64(len(b)))
				if err != nil {
					t.Fatalf("reopening: %v", err)
				}
				return f.Header
			}
			full, err := run(0)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(full.durable, full.b) {
				t.Fatalf("SetParent returned with %d writes not synced", len(full.pending))
			}
			oldH, newH := header(orig), header(full.b)
			if cmp.Equal(oldH, newH) {
				t.Fatal("SetParent changed nothing")
			}
			linkOf := func(h *vhd.Header) (isOld, isNew bool) {
				same := func(a *vhd.Header) bool {
					return h.ParentUUID == a.ParentUUID && h.ParentName == a.ParentName && h.ParentTimestamp == a.ParentTimestamp
				}
				return same(oldH), same(newH)
			}
			images := 0
			for k := 1; k <= full.writes; k++ {
				mem, err := run(k)
				if !errors.Is(err, errInjected) {
					t.Fatalf("k=%d: SetParent error %v, want the injected one", k, err)
				}
				for ci, img := range mem.crashImages() {
					images++
					where := fmt.Sprintf("k=%d image %d", k, ci)
					f, err := vhd.New(bytes.NewReader(img), int64(len(img)))
					if err != nil {
						t.Fatalf("%s: child does not open: %v", where, err)
					}
					if f.FooterSource() != vhd.FooterPrimary {
						t.Errorf("%s: opened with the %v footer", where, f.FooterSource())
					}
					isOld, isNew := linkOf(f.Header)
					if !isOld && !isNew {
						t.Fatalf("%s: header links to neither parent:\n%s", where, cmp.Diff(oldH, f.Header))
					}
					ref := oldH
					if isNew {
						ref = newH
					}
					locs := f.ParentLocators()
					if len(locs) == 0 {
						t.Errorf("%s: no locator left", where)
					}
					for _, l := range locs {
						if l.Err != nil {
							t.Errorf("%s: locator %d: %v", where, l.Slot, l.Err)
						}
						if l.Entry != ref.Locators[l.Slot] {
							t.Errorf("%s: locator %d is %+v, want %+v (new=%v)", where, l.Slot, l.Entry, ref.Locators[l.Slot], isNew)
						}
					}
					for _, compat := range []bool{false, true} {
						if _, err := vhd.Check(context.Background(), bytes.NewReader(img), int64(len(img)),
							&vhd.CheckOptions{Name: child, Compat: compat, Parents: spOpener{}}); err != nil {
							t.Errorf("%s (new=%v): Check(Compat=%v): %v", where, isNew, compat, err)
						}
					}
					f.AttachParent(parentFile)
					got := make([]byte, size)
					if n, err := f.ReadAt(got, 0); n != len(got) {
						t.Fatalf("%s: read %d: %v", where, n, err)
					}
					if !bytes.Equal(got, want) {
						t.Errorf("%s (new=%v): data differs: %s", where, isNew, firstDiff(got, want))
					}
				}
				// The File the error came from still reads the same data.
				if isOld, isNew := linkOf(failed.Header); !isOld && !isNew {
					t.Errorf("k=%d: the File's header links to neither parent", k)
				}
				failed.AttachParent(parentFile)
				got := make([]byte, size)
				if n, err := failed.ReadAt(got, 0); n != len(got) || !bytes.Equal(got, want) {
					t.Errorf("k=%d: the failed File reads other data (%d bytes, %v)", k, n, err)
				}
			}
			t.Logf("%d writes and syncs, each failed once; %d crash images; file %d -> %d bytes",
				full.writes, images, len(orig), len(full.b))
		})
	}
}

func BenchmarkSetParent(b *testing.B) {
	dir := b.TempDir()
	base := vhdtest.Dynamic(b, filepath.Join(dir, "a.vhd"), 64*mib, nil)
	other := copyFile(b, filepath.Join(dir, "b.vhd"), base)
	c := vhdtest.Child(b, filepath.Join(dir, "c.vhd"), base, nil, vhdtest.Fill(1, 0, 4096), vhdtest.Fill(2, 32*mib, 4096))
	f, err := vhd.OpenFile(c, os.O_RDWR)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	for i := 0; b.Loop(); i++ {
		if err := f.SetParent(context.Background(), []string{other, base}[i%2], nil); err != nil {
			b.Fatal(err)
		}
	}
}

// TestSetParentThroughSymlink: a child opened through a symlink in another
// directory gets locators relative to its real directory, where blktap
// resolves them.
func TestSetParentThroughSymlink(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "sr")
	links := filepath.Join(dir, "links")
	for _, d := range []string{real, links} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	base := vhdtest.Dynamic(t, filepath.Join(real, "base.vhd"), 4*mib, nil, vhdtest.Fill(1, 0, mib))
	c := vhdtest.Child(t, filepath.Join(real, "c.vhd"), base, nil, vhdtest.Fill(2, 10, 10))
	link := filepath.Join(links, "c.vhd")
	if err := os.Symlink(c, link); err != nil {
		t.Skip("no symlinks:", err)
	}
	other := copyFile(t, filepath.Join(real, "base2.vhd"), base)
	f, err := vhd.OpenFile(link, os.O_RDWR)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.SetParent(context.Background(), other, nil); err != nil {
		t.Fatal(err)
	}
	got := readParentFields(t, f)
	f.Close()
	want := []string{"0:MacX:./base2.vhd", "1:W2ku:./base2.vhd", "2:W2ru:./base2.vhd"}
	if diff := cmp.Diff(want, got.Locators); diff != "" {
		t.Errorf("locators (-want +got):\n%s", diff)
	}
	assertCheck(t, c)
}
