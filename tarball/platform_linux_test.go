package tarball

import (
	"os"
	"syscall"
	"testing"
)

// diskUsage returns the bytes of disk allocated to path.
func diskUsage(t testing.TB, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Blocks * 512
}
