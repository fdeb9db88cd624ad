package chain_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"

	"github.com/vhdkit/vhdkit/chain"
	"github.com/vhdkit/vhdkit/vhd"
)

// Plan a consolidated stream of a chain, so its length is known (an HTTP
// Content-Length), then write it in one pass.
func ExampleChain_PlanStream() {
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
	plan, err := c.PlanStream(context.Background(), &chain.StreamOptions{Format: chain.StreamConsolidated})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("Content-Length:", plan.Size())
	n, err := plan.WriteStream(context.Background(), io.Discard)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("written:", n)
	// Output:
	// Content-Length: 2101760
	// written: 2101760
}

// A delta relative to the base, received beside it, reads as the leaf.
func ExampleChain_PlanStream_delta() {
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
	plan, err := c.PlanStream(context.Background(), &chain.StreamOptions{Format: chain.StreamDelta,
		RelativeTo: filepath.Join(dir, "base.vhd")})
	if err != nil {
		log.Fatal(err)
	}
	r, w := io.Pipe()
	go func() { _, err := plan.WriteStream(context.Background(), w); w.CloseWithError(err) }()
	res, err := chain.NewResolver(dir)
	if err != nil {
		log.Fatal(err)
	}
	delta := filepath.Join(dir, "delta.vhd")
	if _, err := vhd.ReceiveStream(context.Background(), r, delta,
		&vhd.ReadStreamOptions{Check: vhd.CheckOptions{Parents: res}}); err != nil {
		log.Fatal(err)
	}
	d, err := chain.Walk(context.Background(), delta, &chain.Options{Root: dir})
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()
	b := make([]byte, 9)
	d.ReaderAt().ReadAt(b, 0)
	fmt.Printf("%q\n", b)
	// Output:
	// "leaf data"
}

// Which link holds which part of the leaf's disk.
func ExampleChain_Extents() {
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
	for e, err := range c.Extents(context.Background()) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%7d +%7d  %s data=%v\n", e.Offset, e.Length, filepath.Base(c.Links[e.Link].Path), e.Data)
	}
	// Output:
	//       0 +    512  leaf.vhd data=true
	//     512 +4193792  base.vhd data=false
}
