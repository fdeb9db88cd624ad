package chain_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/vhdkit/vhdkit/chain"
)

// ExampleScan lists a storage repository's VHDs as vhd-util scan does: one
// entry per file, a broken file reported beside the good ones.
func ExampleScan() {
	dir, err := os.MkdirTemp("", "sr")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	makeChain(dir)
	os.WriteFile(filepath.Join(dir, "broken.vhd"), []byte("not a VHD"), 0o644)

	paths, _ := filepath.Glob(filepath.Join(dir, "*.vhd"))
	entries, err := chain.Scan(context.Background(), paths, &chain.ScanOptions{Fast: true, Timeout: 10 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	for _, e := range entries {
		name := filepath.Base(e.Path)
		if e.Err != nil {
			fmt.Printf("%s: error while %s\n", name, e.Err.(*chain.ScanError).Step)
			continue
		}
		fmt.Printf("%s: %d bytes, hidden %d, parent %q\n", name, e.VirtualSize, e.Hidden, e.Parent)
	}
	// Output:
	// base.vhd: 4194304 bytes, hidden 0, parent ""
	// broken.vhd: error while opening file
	// leaf.vhd: 4194304 bytes, hidden 0, parent "snap.vhd"
	// snap.vhd: 4194304 bytes, hidden 0, parent "base.vhd"
}
