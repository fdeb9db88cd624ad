package chain_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/vhdkit/vhdkit/chain"
	"github.com/vhdkit/vhdkit/vhd"
)

// Coalesce a leaf into its parent, then do the storage manager's whole
// step for the parent's own parent: coalesce, relink the children, remove.
func ExampleCoalesce() {
	dir, err := os.MkdirTemp("", "coalesce-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	leaf := makeChain(dir) // base.vhd <- snap.vhd <- leaf.vhd, the leaf holding "leaf"

	res, err := chain.Coalesce(context.Background(), leaf, &chain.CoalesceOptions{Root: dir})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s: %d sector(s) from %s\n", filepath.Base(res.Parent), res.Sectors, filepath.Base(res.Links[0]))

	snap, err := vhd.Open(res.Parent)
	if err != nil {
		log.Fatal(err)
	}
	b := make([]byte, 9)
	base, _ := vhd.Open(filepath.Join(dir, "base.vhd"))
	snap.AttachParent(base)
	snap.ReadAt(b, 0)
	snap.Close()
	base.Close()
	fmt.Printf("snap.vhd reads %q\n", b)

	step, err := chain.CoalesceStep(context.Background(), res.Parent, &chain.CoalesceOptions{Root: dir})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("relinked %s to %s, removed %s\n", filepath.Base(step.Relinked[0]),
		filepath.Base(step.Coalesce.Parent), filepath.Base(step.Removed))
	// Output:
	// snap.vhd: 1 sector(s) from leaf.vhd
	// snap.vhd reads "leaf data"
	// relinked leaf.vhd to base.vhd, removed snap.vhd
}
