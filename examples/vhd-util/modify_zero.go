package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/vhdkit/vhdkit/vhd"
)

// errENOSYS is modify -z's status for a fixed disk.
const errENOSYS = 38

// zeroDisk is modify -z: every block unallocated, the footer at the end of
// the metadata and the file cut behind it, so that a differencing disk then
// reads as its parent (vhd.File.Unallocate). The bytes left are blktap's;
// the order is crash-safe: batmap, BAT, then the footer and the cut, each
// synced before the next.
func zeroDisk(name string, stdout io.Writer) int {
	e := zeroBlocks(name)
	if e != 0 {
		fmt.Fprintf(stdout, "failed to zero VHD: -%d\n", e)
	}
	return e
}

func zeroBlocks(name string) int {
	f, err := vhd.OpenBlockDevice(name, os.O_RDWR)
	if err != nil {
		return openErrno(name, err)
	}
	defer f.Close()
	if f.Header == nil {
		return errENOSYS
	}
	if f.Header.MaxTableEntries < uint32(compatBlocks(f)) {
		return errEINVAL
	}
	if err := f.Unallocate(context.Background()); err != nil {
		var ce *vhd.CheckError
		if errors.As(err, &ce) {
			return errEINVAL // refused, as any writer refuses such a file
		}
		return errno(err)
	}
	return 0
}
