//go:build linux

package staging

import (
	"context"

	"github.com/vhdkit/vhdkit/chain"
)

// relink makes paths, leaf first, one chain; every file must lie in root.
func relink(ctx context.Context, root string, paths []string, maxDepth int) error {
	return chain.Relink(ctx, paths, &chain.RelinkOptions{Root: root, MaxDepth: maxDepth})
}

// validateChain opens and validates the chain of leaf confined to root.
func validateChain(ctx context.Context, leaf, root string, maxDepth int) (*chain.Chain, error) {
	return chain.Validate(ctx, leaf, &chain.Options{Root: root, MaxDepth: maxDepth})
}
