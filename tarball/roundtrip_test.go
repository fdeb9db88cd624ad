package tarball

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func testFiles() map[string][]byte {
	return map[string][]byte{
		"0.vhd":  imageLike(3<<20+123, 1),
		"1.vhd":  imageLike(1<<20, 2),
		"10.vhd": {},
		"2.vhd":  pseudoRandom(70000, 3),
	}
}

func TestPackUnpackRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts PackOptions
	}{
		{"defaults", PackOptions{}},
		{"level1-small-blocks", PackOptions{Level: 1, BlockSize: 64 << 10, Concurrency: 3}},
		{"level9", PackOptions{Level: 9}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, dst := t.TempDir(), t.TempDir()
			want := testFiles()
			writeFiles(t, src, want)
			var buf bytes.Buffer
			pres, err := Pack(context.Background(), &buf, src, &tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			wantList := []FileInfo{{"0.vhd", 3<<20 + 123}, {"1.vhd", 1 << 20}, {"2.vhd", 70000}, {"10.vhd", 0}}
			if diff := cmp.Diff(wantList, pres.Files); diff != "" {
				t.Errorf("Pack files (-want +got):\n%s", diff)
			}
			if pres.Compressed != int64(buf.Len()) || pres.Logical != 3<<20+123+1<<20+70000 {
				t.Errorf("Pack result %+v, wrote %d bytes", pres, buf.Len())
			}
			ures, err := Unpack(context.Background(), bytes.NewReader(buf.Bytes()), dst, nil)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(wantList, ures.Files); diff != "" {
				t.Errorf("Unpack files (-want +got):\n%s", diff)
			}
			if ures.Compressed != int64(buf.Len()) || ures.Logical != pres.Logical {
				t.Errorf("Unpack result %+v, archive %d bytes, %d logical", ures, buf.Len(), pres.Logical)
			}
			if diff := cmp.Diff(digests(want), readFiles(t, dst)); diff != "" {
				t.Errorf("contents differ (-want +got):\n%s", diff)
			}
			fi, err := os.Stat(filepath.Join(dst, "0.vhd"))
			if err != nil || fi.Mode().Perm() != 0o644 {
				t.Errorf("mode of extracted file: %v, %v", fi, err)
			}
		})
	}
}

func TestPackEntryNames(t *testing.T) {
	src := t.TempDir()
	writeFiles(t, src, testFiles())
	if err := os.Symlink("0.vhd", filepath.Join(src, "link.vhd")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(src, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := Pack(context.Background(), &buf, src, nil); err != nil {
		t.Fatal(err)
	}
	var got []string
	var formats []tar.Format
	tr := tar.NewReader(mustGunzip(t, buf.Bytes()))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, h.Name)
		formats = append(formats, h.Format)
	}
	if diff := cmp.Diff([]string{"./", "./0.vhd", "./1.vhd", "./2.vhd", "./10.vhd"}, got); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
	for i, f := range formats {
		if f != tar.FormatGNU {
			t.Errorf("entry %d format %v, want GNU", i, f)
		}
	}
}

func TestPackFilesOption(t *testing.T) {
	src := t.TempDir()
	writeFiles(t, src, testFiles())
	if err := os.Symlink("0.vhd", filepath.Join(src, "link.vhd")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		files   []string
		want    []FileInfo
		wantErr error
	}{
		{"order kept", []string{"2.vhd", "0.vhd"}, []FileInfo{{"2.vhd", 70000}, {"0.vhd", 3<<20 + 123}}, nil},
		{"empty list", []string{}, nil, nil},
		{"duplicate", []string{"0.vhd", "0.vhd"}, nil, ErrDuplicate},
		{"nested", []string{"a/0.vhd"}, nil, ErrNested},
		{"dotdot", []string{".."}, nil, ErrDotDot},
		{"symlink", []string{"link.vhd"}, nil, ErrSymlink},
		{"missing", []string{"9.vhd"}, nil, os.ErrNotExist},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			res, err := Pack(context.Background(), &buf, src, &PackOptions{Files: tc.files})
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Pack error %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				if buf.Len() != 0 {
					t.Errorf("Pack wrote %d bytes before failing on a bad name", buf.Len())
				}
				return
			}
			if diff := cmp.Diff(tc.want, res.Files); diff != "" {
				t.Errorf("files (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPackGNUTarExtracts checks that GNU tar extracts Pack's output to the
// same files.
func TestPackGNUTarExtracts(t *testing.T) {
	tarPath := needTool(t, "tar")
	src, dst := t.TempDir(), t.TempDir()
	want := testFiles()
	writeFiles(t, src, want)
	var buf bytes.Buffer
	if _, err := Pack(context.Background(), &buf, src, nil); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(tarPath, "-zxf", "-", "-C", dst)
	cmd.Stdin = &buf
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tar -zx: %v\n%s", err, out)
	}
	if diff := cmp.Diff(digests(want), readFiles(t, dst)); diff != "" {
		t.Errorf("contents differ (-want +got):\n%s", diff)
	}
}

// TestGNUTarArchivesUnpack checks archives made by GNU tar, plain and
// sparse, GNU and PAX formats.
func TestGNUTarArchivesUnpack(t *testing.T) {
	tarPath := needTool(t, "tar")
	src := t.TempDir()
	want := testFiles()
	writeFiles(t, src, want)
	// A sparse file: data, a 10 MiB hole, data, and a hole at the end.
	sparse := make([]byte, 12<<20)
	copy(sparse, pseudoRandom(10000, 7))
	copy(sparse[10<<20:], pseudoRandom(5000, 8))
	f, err := os.Create(filepath.Join(src, "3.vhd"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(sparse[:10000], 0); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(sparse[10<<20:10<<20+5000], 10<<20); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(int64(len(sparse))); err != nil {
		t.Fatal(err)
	}
	f.Close()
	want["3.vhd"] = sparse

	for _, args := range [][]string{
		{"-zcf", "-", "-C", src, "."},
		{"-zcSf", "-", "-C", src, "."},
		{"--format=pax", "-zcSf", "-", "-C", src, "."},
		{"--format=ustar", "-zcf", "-", "-C", src, "0.vhd", "1.vhd", "10.vhd", "2.vhd", "3.vhd"},
	} {
		t.Run(strings.Join(args[:len(args)-4], " "), func(t *testing.T) {
			out, err := exec.Command(tarPath, args...).Output()
			if err != nil {
				t.Fatalf("tar %v: %v", args, err)
			}
			dst := t.TempDir()
			res, err := Unpack(context.Background(), bytes.NewReader(out), dst, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Files) != len(want) {
				t.Errorf("Unpack listed %v", res.Files)
			}
			if diff := cmp.Diff(digests(want), readFiles(t, dst)); diff != "" {
				t.Errorf("contents differ (-want +got):\n%s", diff)
			}
			if used := diskUsage(t, filepath.Join(dst, "3.vhd")); used > 1<<20 {
				t.Errorf("sparse file uses %d bytes of disk, want holes", used)
			}
		})
	}
}

func TestUnpackAcceptsVariants(t *testing.T) {
	data := imageLike(20000, 9)
	root := entry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: "./", Mode: 0o700}}
	dot := entry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: ".", Mode: 0o700}}
	for _, tc := range []struct {
		name    string
		archive []byte
		want    []FileInfo
	}{
		{"bare names", tgz(t, reg("1.vhd", data), reg("0.vhd", nil)), []FileInfo{{"1.vhd", 20000}, {"0.vhd", 0}}},
		{"dot slash and root", tgz(t, root, reg("./0.vhd", data)), []FileInfo{{"0.vhd", 20000}}},
		{"dot root", tgz(t, dot, reg("0.vhd", data)), []FileInfo{{"0.vhd", 20000}}},
		{"pax", gz(t, rawTar(t, tar.FormatPAX, true, root, reg("./0.vhd", data))), []FileInfo{{"0.vhd", 20000}}},
		{"ustar", gz(t, rawTar(t, tar.FormatUSTAR, true, reg("0.vhd", data))), []FileInfo{{"0.vhd", 20000}}},
		{"no end blocks", gz(t, rawTar(t, tar.FormatGNU, false, reg("0.vhd", data))), []FileInfo{{"0.vhd", 20000}}},
		{"two gzip members", append(gz(t, rawTar(t, 0, false, reg("0.vhd", data))), gz(t, rawTar(t, 0, true, reg("1.vhd", data)))...),
			[]FileInfo{{"0.vhd", 20000}, {"1.vhd", 20000}}},
		{"empty archive", tgz(t), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parent := t.TempDir()
			dst := filepath.Join(parent, "d")
			if err := os.Mkdir(dst, 0o750); err != nil {
				t.Fatal(err)
			}
			hashed := &countWriter{}
			res, err := Unpack(context.Background(), io.TeeReader(bytes.NewReader(tc.archive), hashed), dst, nil)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, res.Files); diff != "" {
				t.Errorf("files (-want +got):\n%s", diff)
			}
			if hashed.n != int64(len(tc.archive)) || res.Compressed != int64(len(tc.archive)) {
				t.Errorf("a TeeReader saw %d bytes, Compressed %d, archive %d", hashed.n, res.Compressed, len(tc.archive))
			}
			fi, err := os.Stat(dst)
			if err != nil || fi.Mode().Perm() != 0o750 {
				t.Errorf("directory mode changed: %v %v", fi, err)
			}
			for _, f := range tc.want {
				b, err := os.ReadFile(filepath.Join(dst, f.Name))
				if err != nil || int64(len(b)) != f.Size || (f.Size > 0 && !bytes.Equal(b, data)) {
					t.Errorf("%s: %d bytes, %v", f.Name, len(b), err)
				}
			}
		})
	}
}

func TestUnpackFilterSkip(t *testing.T) {
	dst := t.TempDir()
	archive := tgz(t, reg("./swap.vhd", imageLike(5000, 1)), reg("./0.vhd", []byte("disk")), reg("./evil.vhd", []byte("x")))
	errCorrupt := errors.New("unexpected image")
	var seen []string
	_, err := Unpack(context.Background(), bytes.NewReader(archive), dst, &UnpackOptions{Filter: func(name string) error {
		seen = append(seen, name)
		switch name {
		case "swap.vhd":
			return ErrSkip
		case "0.vhd":
			return nil
		}
		return errCorrupt
	}})
	var ee *EntryError
	if !errors.Is(err, errCorrupt) || !errors.As(err, &ee) || ee.Name != "./evil.vhd" {
		t.Fatalf("error %v, want filter error naming ./evil.vhd", err)
	}
	if diff := cmp.Diff([]string{"swap.vhd", "0.vhd", "evil.vhd"}, seen); diff != "" {
		t.Errorf("filter calls (-want +got):\n%s", diff)
	}
	if got := readFiles(t, dst); len(got) != 0 {
		t.Errorf("after a refused archive the directory holds %v", got)
	}

	res, err := Unpack(context.Background(), bytes.NewReader(tgz(t, reg("./swap.vhd", imageLike(5000, 1)), reg("./0.vhd", []byte("disk")))), dst,
		&UnpackOptions{Filter: func(name string) error {
			if name == "swap.vhd" {
				return ErrSkip
			}
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(digests(map[string][]byte{"0.vhd": []byte("disk")}), readFiles(t, dst)); diff != "" {
		t.Errorf("contents (-want +got):\n%s", diff)
	}
	if res.Logical != 5004 {
		t.Errorf("Logical = %d, want 5004 (skipped entries count)", res.Logical)
	}
}

func TestUnpackNotEmpty(t *testing.T) {
	dst := t.TempDir()
	writeFiles(t, dst, map[string][]byte{"old": []byte("x")})
	before := snapshot(t, dst)
	_, err := Unpack(context.Background(), bytes.NewReader(tgz(t, reg("0.vhd", []byte("y")))), dst, nil)
	if !errors.Is(err, ErrNotEmpty) {
		t.Fatalf("error %v, want ErrNotEmpty", err)
	}
	if diff := cmp.Diff(before, snapshot(t, dst)); diff != "" {
		t.Errorf("directory changed (-before +after):\n%s", diff)
	}
}

func TestUnpackHoles(t *testing.T) {
	data := make([]byte, 8<<20+100)
	copy(data[4096*3:], pseudoRandom(5000, 4)) // spans two pages, unaligned end
	copy(data[5<<20:], []byte("middle"))
	dst := t.TempDir()
	if _, err := Unpack(context.Background(), bytes.NewReader(tgz(t, reg("0.vhd", data))), dst, nil); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dst, "0.vhd"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("contents differ")
	}
	if used := diskUsage(t, filepath.Join(dst, "0.vhd")); used > 64<<10 {
		t.Errorf("file of %d mostly zero bytes uses %d bytes of disk", len(data), used)
	}
}

func TestUnpackSync(t *testing.T) {
	dst := t.TempDir()
	// Past one writeback interval, mostly holes so the fsync is short.
	data := make([]byte, writebackEvery+5<<20)
	for off := 0; off < len(data); off += 1 << 20 {
		copy(data[off:], pseudoRandom(4096, uint64(off)))
	}
	want := map[string][]byte{"0.vhd": data}
	var calls int
	_, err := Unpack(context.Background(), bytes.NewReader(tgz(t, reg("./0.vhd", data))), dst,
		&UnpackOptions{Sync: true, Progress: func(Progress) { calls++ }})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(digests(want), readFiles(t, dst)); diff != "" {
		t.Errorf("contents differ (-want +got):\n%s", diff)
	}
	if calls < 3 {
		t.Errorf("Progress called %d times for %d bytes, want start, periodic and end calls", calls, len(data))
	}
}

func mustGunzip(t testing.TB, b []byte) io.Reader {
	t.Helper()
	cmdless, err := newGunzip(b)
	if err != nil {
		t.Fatal(err)
	}
	return cmdless
}

// TestPackSparseSource packs a file with holes (skipped with SEEK_DATA on
// Linux) and checks the bytes that come out, holes included.
func TestPackSparseSource(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	want := make([]byte, 13<<20+77)
	f, err := os.Create(filepath.Join(src, "0.vhd"))
	if err != nil {
		t.Fatal(err)
	}
	for _, off := range []int{5, 3<<20 + 1, 9 << 20, len(want) - 3000} {
		b := pseudoRandom(3000, uint64(off))
		copy(want[off:], b)
		if _, err := f.WriteAt(b, int64(off)); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Truncate(int64(len(want))); err != nil {
		t.Fatal(err)
	}
	f.Close()
	var buf bytes.Buffer
	if _, err := Pack(context.Background(), &buf, src, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := Unpack(context.Background(), &buf, dst, nil); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(digests(map[string][]byte{"0.vhd": want}), readFiles(t, dst)); diff != "" {
		t.Errorf("contents (-want +got):\n%s", diff)
	}
}
