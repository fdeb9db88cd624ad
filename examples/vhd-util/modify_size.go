package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/vhdkit/vhdkit/vhd"
)

// parseSize is modify -s's strtoll(optarg, NULL, 10) with its errno check:
// ok is false only for a value out of range, which vhd-util refuses.
func parseSize(s string) (int64, bool) {
	i, _ := signStart(s)
	j := i
	for j < len(s) && s[j] >= '0' && s[j] <= '9' {
		j++
	}
	if j == i {
		return 0, true
	}
	start := i
	if i > 0 && (s[i-1] == '-' || s[i-1] == '+') {
		start = i - 1
	}
	v, err := strconv.ParseInt(strings.TrimPrefix(s[start:j], "+"), 10, 64)
	if err != nil {
		return 0, false
	}
	return v, true
}

// setPhysSize is modify -s BYTES: the primary footer is written so that the
// file ends at BYTES (vhd_set_phys_size), which may not cut into the data
// (less than query -s is EINVAL). Nothing else moves; the old footer stays
// where it was, as blktap leaves it. The write is one sector, synced.
func setPhysSize(name string, size int64, stdout io.Writer) int {
	e := physSize(name, size)
	if e != 0 {
		fmt.Fprintf(stdout, "failed to set physical size to %d: -%d\n", uint64(size), e)
	}
	return e
}

func physSize(name string, size int64) int {
	f, err := vhd.OpenBlockDevice(name, os.O_RDONLY)
	if err != nil {
		return openErrno(name, err)
	}
	defer f.Close()
	c := newCompat(f)
	defer c.close()
	phys, err := c.physicalSize()
	if err != nil {
		return errno(err)
	}
	if size < 0 || uint64(size) < phys || size%vhd.SectorSize != 0 {
		return errEINVAL
	}
	w, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return errno(err)
	}
	defer w.Close()
	ft := f.Footer
	ft.UpdateChecksum()
	b, _ := ft.MarshalBinary()
	if _, err := w.WriteAt(b, size-vhd.FooterSize); err != nil {
		return errno(err)
	}
	if err := w.Sync(); err != nil {
		return errno(err)
	}
	return 0
}
