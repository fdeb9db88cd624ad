package vhd_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/vhdkit/vhdkit/vhd"
)

// ExampleFile_Fill makes a child hold every block of its disk itself
// (vhd-util fill): it reads the same, no longer needing its parent for
// those sectors.
func ExampleFile_Fill() {
	dir := exampleDir()
	defer os.RemoveAll(dir)
	base := filepath.Join(dir, "base.vhd")
	p, err := vhd.Create(base, &vhd.CreateOptions{Size: 4 << 20})
	if err != nil {
		log.Fatal(err)
	}
	p.WriteAt([]byte("from the parent"), 3<<20)
	p.Close()
	if p, err = vhd.Open(base); err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	c, err := vhd.Snapshot(filepath.Join(dir, "child.vhd"), base, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	c.AttachParent(p)
	if err := c.Fill(context.Background(), 0, c.VirtualSize()); err != nil {
		log.Fatal(err)
	}
	n, _ := c.AllocatedBlocks()
	c.AttachParent(nil) // the child holds it all now
	b := make([]byte, 15)
	if _, err := c.ReadAt(b, 3<<20); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d blocks allocated, reads %q\n", n, b)
	// Output: 2 blocks allocated, reads "from the parent"
}

// ExampleFile_Allocate allocates a range of blocks without writing them
// (vhd-util fill -b): they read as zeros and take their space at once.
func ExampleFile_Allocate() {
	dir := exampleDir()
	defer os.RemoveAll(dir)
	f, err := vhd.Create(filepath.Join(dir, "a.vhd"), &vhd.CreateOptions{Size: 10 << 20})
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	if err := f.Allocate(context.Background(), 2<<20, 4<<20); err != nil {
		log.Fatal(err)
	}
	n, _ := f.AllocatedBlocks()
	fmt.Println(n, "blocks,", f.FileSize(), "bytes")
	// Output: 2 blocks, 4203008 bytes
}
