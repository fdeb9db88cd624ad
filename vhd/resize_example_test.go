package vhd_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/vhdkit/vhdkit/vhd"
)

// ExampleFile_Grow_table grows a disk whose block table has no room for
// the new size, as vhd-util resize -j does: the table grows, the blocks in
// its way move, and a journal guards the grow until the new size is
// durable.
func ExampleFile_Grow_table() {
	dir, err := os.MkdirTemp("", "grow")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	f, err := vhd.Create(filepath.Join(dir, "a.vhd"), &vhd.CreateOptions{Size: 10 << 20})
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte("hello"), 0); err != nil {
		log.Fatal(err)
	}
	opts := &vhd.GrowOptions{GrowTable: true, Journal: filepath.Join(dir, "a.journal")}
	if err := f.Grow(context.Background(), 100<<30, opts); err != nil {
		log.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := f.ReadAt(buf, 0); err != nil {
		log.Fatal(err)
	}
	_, err = os.Stat(opts.Journal)
	fmt.Println(f.VirtualSize()>>30, "GiB,", f.Header.MaxTableEntries, "entries,", string(buf), os.IsNotExist(err))
	// Output: 100 GiB, 51200 entries, hello true
}
