//go:build !linux

package chain

// StartWriteback does nothing where sync_file_range does not exist; the
// syncs between batches do all the work.
func (f osTarget) StartWriteback(off, n int64) {}
