package vhd_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/vhdkit/vhdkit/vhd"
)

// exampleDir returns a fresh directory for an example; remove it when done.
func exampleDir() string {
	dir, err := os.MkdirTemp("", "vhd-example-")
	if err != nil {
		log.Fatal(err)
	}
	return dir
}

// Create makes a 100 MiB dynamic disk as blktap's vhd-util create does: the
// file holds only metadata until data is written.
func ExampleCreate() {
	dir := exampleDir()
	defer os.RemoveAll(dir)

	f, err := vhd.Create(filepath.Join(dir, "disk.vhd"), &vhd.CreateOptions{Size: 100 << 20})
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte("hello"), 1<<20); err != nil {
		log.Fatal(err)
	}
	phys, err := f.PhysicalSize()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(f.DiskType(), f.VirtualSize()>>20, "MiB virtual,", phys, "bytes on disk")
	// Output: dynamic 100 MiB virtual, 2101760 bytes on disk
}

// Open reads a VHD and answers what vhd-util query asks.
func ExampleOpen() {
	dir := exampleDir()
	defer os.RemoveAll(dir)
	name := filepath.Join(dir, "disk.vhd")
	c, err := vhd.Create(name, &vhd.CreateOptions{Size: 20 << 20})
	if err != nil {
		log.Fatal(err)
	}
	c.Close()

	f, err := vhd.Open(name)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	hidden, err := f.Hidden()
	if err != nil {
		log.Fatal(err)
	}
	blocks, err := f.AllocatedBlocks()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%v disk, %d MiB, hidden: %d, %d of %d blocks allocated, footer: %v\n",
		f.DiskType(), f.VirtualSize()>>20, hidden, blocks, f.Blocks(), f.FooterSource())
	// Output: dynamic disk, 20 MiB, hidden: 0, 0 of 10 blocks allocated, footer: primary
}

// Snapshot links a new differencing disk to a parent, as vhd-util snapshot
// does; XenServer then marks the parent hidden.
func ExampleSnapshot() {
	dir := exampleDir()
	defer os.RemoveAll(dir)
	parent := filepath.Join(dir, "base.vhd")
	p, err := vhd.Create(parent, &vhd.CreateOptions{Size: 100 << 20})
	if err != nil {
		log.Fatal(err)
	}
	p.Close()

	child, err := vhd.Snapshot(filepath.Join(dir, "leaf.vhd"), parent, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer child.Close()
	name, err := child.ParentName()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(child.DiskType(), child.VirtualSize()>>20, "MiB, parent", name, "file size", child.FileSize())
	for _, l := range child.ParentLocators() {
		fmt.Println(l.Entry.Code, l.Path)
	}
	// Output:
	// differencing 100 MiB, parent base.vhd file size 5120
	// MacX ./base.vhd
	// W2ku ./base.vhd
	// W2ru ./base.vhd
}

// SetParent re-links a child to a parent that moved, as vhd-util modify -p
// does, but without ever leaving the child half-rewritten.
func ExampleFile_SetParent() {
	dir := exampleDir()
	defer os.RemoveAll(dir)
	parent := filepath.Join(dir, "base.vhd")
	p, err := vhd.Create(parent, &vhd.CreateOptions{Size: 8 << 20})
	if err != nil {
		log.Fatal(err)
	}
	p.Close()
	leaf := filepath.Join(dir, "leaf.vhd")
	c, err := vhd.Snapshot(leaf, parent, nil)
	if err != nil {
		log.Fatal(err)
	}
	c.Close()
	// The parent moves into a subdirectory.
	if err := os.Mkdir(filepath.Join(dir, "sr"), 0o755); err != nil {
		log.Fatal(err)
	}
	moved := filepath.Join(dir, "sr", "base-1.vhd")
	if err := os.Rename(parent, moved); err != nil {
		log.Fatal(err)
	}

	f, err := vhd.OpenFile(leaf, os.O_RDWR)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	if err := f.SetParent(context.Background(), moved, nil); err != nil {
		log.Fatal(err)
	}
	name, _ := f.ParentName()
	fmt.Println("parent name:", name)
	for _, l := range f.ParentLocators() {
		fmt.Println(l.Entry.Code, l.Path)
	}
	// Output:
	// parent name: base-1.vhd
	// MacX ./sr/base-1.vhd
	// W2ku ./sr/base-1.vhd
	// W2ru ./sr/base-1.vhd
}

// SetHidden marks an interior node of a snapshot chain, as vhd-util set -f
// hidden -v 1 does.
func ExampleFile_SetHidden() {
	dir := exampleDir()
	defer os.RemoveAll(dir)
	name := filepath.Join(dir, "disk.vhd")
	c, err := vhd.Create(name, &vhd.CreateOptions{Size: 4 << 20})
	if err != nil {
		log.Fatal(err)
	}
	c.Close()

	f, err := vhd.OpenFile(name, os.O_RDWR)
	if err != nil {
		log.Fatal(err)
	}
	if err := f.SetHidden(1); err != nil {
		log.Fatal(err)
	}
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
	g, err := vhd.Open(name)
	if err != nil {
		log.Fatal(err)
	}
	defer g.Close()
	hidden, _ := g.Hidden()
	fmt.Println("hidden:", hidden)
	// Output: hidden: 1
}
