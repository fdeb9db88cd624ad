package chain

import (
	"context"

	"github.com/vhdkit/vhdkit/vhd"
)

// CheckFile checks the one VHD at name as [vhd.CheckFile] does, but with
// the rules that need its parent run: when opts.Parents is nil, the
// locators of a differencing disk are resolved by a [Resolver] confined to
// the file's own directory (after symbolic links), the parent is opened and
// its UUID compared. So the verdict is complete where vhd.CheckFile without
// a ParentOpener lists those rules as not run. A locator that leads out of
// that directory is reported like one that does not resolve; give
// NewResolver(root) or CompatResolver() as opts.Parents to look further.
// To check a whole chain, with the rules between its links, use [Validate].
//
// The error is the checker's *vhd.CheckError when the file has problems or
// some rule could not run (it then matches vhd.ErrIncomplete, and
// report.NotRun says which), or the error that stopped the check, such as
// an *fs.PathError or one wrapping vhd.ErrNotRegular. A nil error means
// every rule ran and passed. opts may be nil.
func CheckFile(ctx context.Context, name string, opts *vhd.CheckOptions) (*vhd.CheckReport, error) {
	o := vhd.CheckOptions{}
	if opts != nil {
		o = *opts
	}
	if o.Parents == nil {
		dir, err := realDir(name)
		if err != nil {
			return nil, err
		}
		res, err := NewResolver(dir)
		if err != nil {
			return nil, err
		}
		o.Parents = res
	}
	return vhd.CheckFile(ctx, name, &o)
}
