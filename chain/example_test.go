package chain_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/vhdkit/vhdkit/chain"
	"github.com/vhdkit/vhdkit/vhd"
)

// makeChain creates base.vhd holding "base data" at offset 0, and two
// snapshots of it, snap.vhd and leaf.vhd; the leaf overwrites the first
// four bytes. It returns the leaf's path.
func makeChain(dir string) string {
	base := filepath.Join(dir, "base.vhd")
	f, err := vhd.Create(base, &vhd.CreateOptions{Size: 4 << 20})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("base data"), 0); err != nil {
		log.Fatal(err)
	}
	f.Close()
	snap, err := vhd.Snapshot(filepath.Join(dir, "snap.vhd"), base, nil)
	if err != nil {
		log.Fatal(err)
	}
	snap.Close()
	leafPath := filepath.Join(dir, "leaf.vhd")
	leaf, err := vhd.Snapshot(leafPath, filepath.Join(dir, "snap.vhd"), nil)
	if err != nil {
		log.Fatal(err)
	}
	leaf.Close()
	// A partial-sector write merges with what the parents hold.
	c, err := chain.Walk(context.Background(), leafPath, &chain.Options{Root: dir, Writable: true})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := c.Leaf().WriteAt([]byte("leaf"), 0); err != nil {
		log.Fatal(err)
	}
	if err := c.Close(); err != nil {
		log.Fatal(err)
	}
	return leafPath
}

// Walk a chain confined to its directory and read the leaf's disk through
// it.
func ExampleWalk() {
	dir, err := os.MkdirTemp("", "chain-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	leaf := makeChain(dir)

	c, err := chain.Walk(context.Background(), leaf, &chain.Options{Root: dir})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	for _, l := range c.Links {
		fmt.Println(l.Depth, filepath.Base(l.Path), l.File.DiskType())
	}
	buf := make([]byte, 9)
	if _, err := c.ReaderAt().ReadAt(buf, 0); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%q\n", buf)
	// Output:
	// 0 leaf.vhd differencing
	// 1 snap.vhd differencing
	// 2 base.vhd dynamic
	// "leaf data"
}

// Open a chain with its interior node writable, write to it, and read the
// change through the leaf; Close syncs the written file.
func ExampleWalk_writable() {
	dir, err := os.MkdirTemp("", "chain-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	leaf := makeChain(dir)

	c, err := chain.Walk(context.Background(), leaf, &chain.Options{Root: dir, Writable: true, WriteDepth: 1})
	if err != nil {
		log.Fatal(err)
	}
	w := c.Writable()
	// The leaf holds only sector 0; write to sector 1 of its parent.
	if _, err := w.File.WriteAt([]byte("snap data"), 512); err != nil {
		log.Fatal(err)
	}
	buf := make([]byte, 9)
	if _, err := c.ReaderAt().ReadAt(buf, 512); err != nil {
		log.Fatal(err)
	}
	fmt.Println(filepath.Base(w.Path), "written:")
	fmt.Printf("%q\n", buf)
	if err := c.Close(); err != nil {
		log.Fatal(err)
	}
	// Output:
	// snap.vhd written:
	// "snap data"
}

// Validate a chain, then see a problem reported with the file it is in.
func ExampleValidate() {
	dir, err := os.MkdirTemp("", "chain-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	leaf := makeChain(dir)

	c, err := chain.Validate(context.Background(), leaf, &chain.Options{Root: dir})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("valid:", len(c.Links), "links")
	c.Close()

	// A hidden leaf passes in compatible mode but not in confined mode.
	f, err := vhd.OpenFile(leaf, os.O_RDWR)
	if err != nil {
		log.Fatal(err)
	}
	f.SetHidden(1)
	f.Close()
	if c, err := chain.Validate(context.Background(), leaf, &chain.Options{Mode: chain.Compat}); err == nil {
		fmt.Println("compat: valid")
		c.Close()
	}
	_, err = chain.Validate(context.Background(), leaf, &chain.Options{Root: dir})
	var ve *chain.ValidationError
	if errors.As(err, &ve) {
		for _, p := range ve.Problems {
			fmt.Println("confined:", filepath.Base(p.Path), errors.Is(p.Err, chain.ErrHiddenLeaf))
		}
	}
	// Output:
	// valid: 3 links
	// compat: valid
	// confined: leaf.vhd true
}
