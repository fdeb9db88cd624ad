//go:build linux

package staging

import (
	"context"
	"errors"
	"os"

	"github.com/vhdkit/vhdkit/chain"
	"github.com/vhdkit/vhdkit/vhd"
)

// relinkPair makes parent the parent of the differencing disk child.
func relinkPair(ctx context.Context, child, parent string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f, err := vhd.OpenFile(child, os.O_RDWR)
	if err != nil {
		return err
	}
	err = f.SetParent(parent, nil)
	return errors.Join(err, f.Close())
}

// validateChain opens and checks the chain of leaf confined to root.
func validateChain(ctx context.Context, leaf, root string, maxDepth int) (*chain.Chain, error) {
	return chain.Walk(ctx, leaf, &chain.Options{Root: root, MaxDepth: maxDepth})
}
