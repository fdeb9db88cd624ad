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
	// A partial-sector write merges with what the parents hold.
	p, err := chain.Walk(context.Background(), filepath.Join(dir, "snap.vhd"), &chain.Options{Root: dir})
	if err != nil {
		log.Fatal(err)
	}
	leaf.AttachParent(p.ReaderAt())
	if _, err := leaf.WriteAt([]byte("leaf"), 0); err != nil {
		log.Fatal(err)
	}
	leaf.Close()
	p.Close()
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
