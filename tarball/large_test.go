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
	"time"
)

// TestBase256Header checks, without any large data, that the header Pack
// writes for a 9 GiB file stores the size in GNU base-256 form, that
// archive/tar and GNU tar read the size back, and that Unpack applies its
// limit to it.
func TestBase256Header(t *testing.T) {
	const size = 9 << 30
	fi, err := os.Stat(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(fileHeader("0.vhd", size, fi)); err != nil {
		t.Fatal(err)
	}
	hdr := buf.Bytes()
	if len(hdr) != 512 {
		t.Fatalf("header is %d bytes, want one block", len(hdr))
	}
	if hdr[124]&0x80 == 0 {
		t.Errorf("size field %q is not base-256", hdr[124:136])
	}
	if string(hdr[257:265]) != "ustar  \x00" {
		t.Errorf("magic %q, want GNU", hdr[257:265])
	}
	h, err := tar.NewReader(bytes.NewReader(hdr)).Next()
	if err != nil || h.Size != size || h.Name != "./0.vhd" {
		t.Errorf("archive/tar reads %+v, %v", h, err)
	}
	_, err = Unpack(context.Background(), bytes.NewReader(gz(t, hdr)), t.TempDir(), &UnpackOptions{MaxFileSize: size - 1})
	var ee *EntryError
	if !errors.Is(err, ErrFileTooLarge) || !errors.As(err, &ee) || !strings.Contains(err.Error(), "9663676416 bytes") {
		t.Errorf("Unpack: %v, want ErrFileTooLarge for 9663676416 bytes", err)
	}

	t.Run("gnu tar", func(t *testing.T) {
		cmd := exec.Command(needTool(t, "tar"), "-tvf", "-")
		cmd.Stdin = bytes.NewReader(hdr) // data missing: tar lists, then complains
		out, _ := cmd.CombinedOutput()
		if !bytes.Contains(out, []byte(" 9663676416 ")) || !bytes.Contains(out, []byte("./0.vhd")) {
			t.Errorf("tar -tv does not show the 9 GiB size:\n%s", out)
		}
	})
}

// TestLargeSparseRoundTrip packs a 9 GiB sparse file (a few MiB of data)
// straight into Unpack through a pipe. The extracted copy must be equal and
// use about as little disk as the source. (TestBase256Header checks that GNU
// tar reads the header of such a file.)
func TestLargeSparseRoundTrip(t *testing.T) {
	if testing.Short() {
		t.Skip("9 GiB logical round trip skipped under -short")
	}
	const size = 9<<30 + 4096*3 + 17
	src, dst := t.TempDir(), t.TempDir()
	path := filepath.Join(src, "0.vhd")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	marks := map[int64][]byte{0: pseudoRandom(1<<20, 1), 4 << 30: pseudoRandom(100000, 2), size - 5000: pseudoRandom(5000, 3)}
	for off, b := range marks {
		if _, err := f.WriteAt(b, off); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()

	pr, pw := io.Pipe()
	sink := pw
	start := time.Now()
	packErr := make(chan error, 1)
	go func() {
		_, err := Pack(context.Background(), sink, src, &PackOptions{Level: 1})
		pw.CloseWithError(err)
		packErr <- err
	}()
	res, err := Unpack(context.Background(), pr, dst, nil)
	pr.CloseWithError(errors.New("unpack finished"))
	if err := <-packErr; err != nil {
		t.Fatalf("Pack: %v", err)
	}
	if err != nil {
		t.Fatalf("Unpack: %v", err)
	}
	t.Logf("9 GiB round trip in %v, %d compressed bytes", time.Since(start), res.Compressed)
	if len(res.Files) != 1 || res.Files[0].Size != size {
		t.Fatalf("Unpack result %+v", res.Files)
	}
	out, err := os.Open(filepath.Join(dst, "0.vhd"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	for off, want := range marks {
		got := make([]byte, len(want))
		if _, err := out.ReadAt(got, off); err != nil || !bytes.Equal(got, want) {
			t.Errorf("data at %d differs (%v)", off, err)
		}
	}
	if fi, _ := out.Stat(); fi.Size() != size {
		t.Errorf("size %d, want %d", fi.Size(), size)
	}
	if used := diskUsage(t, filepath.Join(dst, "0.vhd")); used > 8<<20 {
		t.Errorf("extracted file uses %d bytes of disk, want about 1.2 MiB", used)
	}
}
