//go:build !linux

package tarball

import "os"

// dataRegion reports that holes are unknown here: everything is read.
func dataRegion(*os.File, int64, int64) (start, end int64, ok bool) { return 0, 0, false }
