package tarball

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzExtract feeds arbitrary bytes to Unpack with small limits. Whatever
// the input, Unpack must not panic or hang, must leave the directory either
// empty (on error) or holding exactly the regular 0644 files it reports, and
// must never touch anything beside the directory.
func FuzzExtract(f *testing.F) {
	src := f.TempDir()
	writeFiles(f, src, map[string][]byte{"0.vhd": imageLike(20000, 1), "1.vhd": []byte("parent")})
	var packed bytes.Buffer
	if _, err := Pack(context.Background(), &packed, src, &PackOptions{Level: 1}); err != nil {
		f.Fatal(err)
	}
	f.Add(packed.Bytes())
	f.Add(tgz(f, reg("0.vhd", []byte("bare name")), typed("./", tar.TypeDir)))
	f.Add(gz(f, rawTar(f, tar.FormatPAX, true, reg("./0.vhd", make([]byte, 9000)))))
	f.Add(append(gz(f, rawTar(f, 0, false, reg("0.vhd", []byte("a")))), gz(f, rawTar(f, 0, true, reg("1.vhd", []byte("b"))))...))
	f.Add(tgz(f, reg("../evil", []byte("x"))))
	f.Add(tgz(f, entry{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: "0.vhd", Linkname: "/etc/passwd"}}))
	f.Add(tgz(f, entry{hdr: tar.Header{Typeflag: tar.TypeLink, Name: "0.vhd", Linkname: "1.vhd"}}))
	f.Add(tgz(f, reg("./0.vhd", []byte("a")), reg("0.vhd", []byte("b"))))
	f.Add(tgz(f, typed("sub/", tar.TypeDir), reg("sub/0.vhd", nil)))
	f.Add(gz(f, paxHeader(100)))
	for _, name := range []string{"gnu-sparse.tar.gz", "pax-sparse.tar.gz"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		base := t.TempDir()
		dir := filepath.Join(base, "d")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		writeFiles(t, base, map[string][]byte{"sibling": []byte("keep")})
		before := snapshot(t, base)
		res, err := Unpack(context.Background(), bytes.NewReader(data), dir, &UnpackOptions{
			MaxEntries: 8, MaxFileSize: 1 << 20, MaxTotalSize: 4 << 20, Concurrency: 2, BlockSize: 64 << 10,
		})
		after := snapshot(t, base)
		var got []FileInfo
		for rel, n := range after {
			if filepath.Dir(rel) != "d" {
				continue
			}
			if !n.Mode.IsRegular() || n.Mode.Perm() != 0o644 {
				t.Errorf("%s has mode %v", rel, n.Mode)
			}
			got = append(got, FileInfo{Name: filepath.Base(rel), Size: n.Size})
			delete(after, rel)
		}
		if diff := cmp.Diff(before, after); diff != "" {
			t.Errorf("outside the files, the tree changed (-before +after):\n%s", diff)
		}
		var want []FileInfo
		if err == nil {
			want = slices.Clone(res.Files)
		}
		cmpName := func(a, b FileInfo) int { return strings.Compare(a.Name, b.Name) }
		slices.SortFunc(want, cmpName)
		slices.SortFunc(got, cmpName)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("directory holds (-reported +found), err=%v:\n%s", err, diff)
		}
	})
}

func TestGNUSparseTestdata(t *testing.T) {
	want := make([]byte, 1<<20)
	copy(want, "head of a sparse image")
	copy(want[600<<10:], "tail data")
	for _, name := range []string{"gnu-sparse.tar.gz", "pax-sparse.tar.gz"} {
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", name))
			if err != nil {
				t.Fatal(err)
			}
			dst := t.TempDir()
			if _, err := Unpack(context.Background(), bytes.NewReader(b), dst, nil); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(digests(map[string][]byte{"0.vhd": want, "1.vhd": []byte("parent")}), readFiles(t, dst)); diff != "" {
				t.Errorf("contents (-want +got):\n%s", diff)
			}
		})
	}
}
