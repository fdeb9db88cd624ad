package tarball_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"

	"github.com/vhdkit/vhdkit/tarball"
)

// Pack a staging directory holding a chain leaf-first as 0.vhd, 1.vhd.
func ExamplePack() {
	dir, err := os.MkdirTemp("", "pack-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.WriteFile(filepath.Join(dir, "0.vhd"), []byte("leaf"), 0o644)
	os.WriteFile(filepath.Join(dir, "1.vhd"), []byte("base image"), 0o644)

	var archive bytes.Buffer
	res, err := tarball.Pack(context.Background(), &archive, dir, &tarball.PackOptions{Level: 1})
	if err != nil {
		log.Fatal(err)
	}
	for _, f := range res.Files {
		fmt.Println(f.Name, f.Size)
	}
	fmt.Println("bytes in:", res.Logical, "out matches:", res.Compressed == int64(archive.Len()))
	// Output:
	// 0.vhd 4
	// 1.vhd 10
	// bytes in: 14 out matches: true
}

// Unpack a downloaded image into an empty staging directory, hashing the
// compressed stream on the way and accepting only the names an image may
// hold.
func ExampleUnpack() {
	src, _ := os.MkdirTemp("", "unpack-example-src")
	dst, _ := os.MkdirTemp("", "unpack-example-dst")
	defer os.RemoveAll(src)
	defer os.RemoveAll(dst)
	os.WriteFile(filepath.Join(src, "0.vhd"), []byte("leaf"), 0o644)
	os.WriteFile(filepath.Join(src, "swap.vhd"), []byte("swap"), 0o644)
	var body bytes.Buffer
	if _, err := tarball.Pack(context.Background(), &body, src, nil); err != nil {
		log.Fatal(err)
	}
	want := md5.Sum(body.Bytes())

	sum := md5.New()
	res, err := tarball.Unpack(context.Background(), io.TeeReader(&body, sum), dst, &tarball.UnpackOptions{
		Filter: func(name string) error {
			switch name {
			case "swap.vhd":
				return tarball.ErrSkip
			case "0.vhd", "1.vhd":
				return nil
			}
			return errors.New("unexpected file in image")
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Files)
	fmt.Println("checksum ok:", bytes.Equal(sum.Sum(nil), want[:]))
	// Output:
	// [{0.vhd 4}]
	// checksum ok: true
}

// A symbolic link in an archive is refused with an error naming the entry.
func ExampleEntryError() {
	dst, _ := os.MkdirTemp("", "entry-error-example")
	defer os.RemoveAll(dst)
	archive, _ := os.ReadFile(filepath.Join("testdata", "symlink.tar.gz"))
	_, err := tarball.Unpack(context.Background(), bytes.NewReader(archive), dst, nil)
	var ee *tarball.EntryError
	if errors.As(err, &ee) && errors.Is(err, tarball.ErrSymlink) {
		fmt.Println("refused", ee.Name)
	}
	// Output:
	// refused ./0.vhd
}
