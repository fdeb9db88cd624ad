package vhd_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/vhdkit/vhdkit/vhd"
)

// ExampleFile_Unallocate drops every block of a disk, as vhd-util modify
// -z does: the file shrinks to its metadata and the disk reads as zeros
// (a differencing disk: as its parent).
func ExampleFile_Unallocate() {
	dir := exampleDir()
	defer os.RemoveAll(dir)
	f, err := vhd.Create(filepath.Join(dir, "a.vhd"), &vhd.CreateOptions{Size: 8 << 20})
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte("data"), 3<<20); err != nil {
		log.Fatal(err)
	}
	if err := f.Unallocate(context.Background()); err != nil {
		log.Fatal(err)
	}
	n, _ := f.AllocatedBlocks()
	b := make([]byte, 4)
	f.ReadAt(b, 3<<20)
	fmt.Println(n, "blocks,", f.FileSize(), "bytes, reads", b)
	// Output: 0 blocks, 3584 bytes, reads [0 0 0 0]
}
