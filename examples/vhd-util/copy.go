package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/vhdkit/vhdkit/vhd"
)

func copyUsage(w io.Writer) {
	fmt.Fprint(w, "options: -n <name> -N <new VHD name> "+
		"[-k <keyfile> | -E (pass encryption key on stdin)] "+
		"[-h help] \n")
}

// runCopy is vhd-util copy -n NAME -N NEW: a new dynamic disk of the same
// size holding every allocated block of NAME, written in block order (so
// the new file is compact). As with vhd-util only dynamic disks copy.
// Encrypting the copy (-k, -E) needs blktap's crypto library, which this
// drop-in does not have; it says so before creating anything.
func runCopy(args []string, stdout, stderr io.Writer) int {
	var name, newName string
	var haveName, haveNew, encrypt bool
	opts, operands := getopt("copy", args, "n:N:k:Eh", stderr)
	for _, o := range opts {
		switch {
		case o.bad, o.c == 'h':
			copyUsage(stdout)
			return errEINVAL
		case o.c == 'n':
			name, haveName = o.arg, true
		case o.c == 'N':
			newName, haveNew = o.arg, true
		case o.c == 'k', o.c == 'E':
			encrypt = true
		}
	}
	_ = operands // vhd-util ignores extra operands here
	if !haveName || !haveNew {
		fmt.Fprintf(stderr, "Must supply both existing and new VHD names\n")
		copyUsage(stdout)
		return errEINVAL
	}
	src, err := vhd.OpenBlockDevice(name, os.O_RDONLY)
	if err != nil {
		e := openErrno(name, err)
		fmt.Fprintf(stdout, "error opening %s: -%d\n", name, e)
		return e
	}
	defer src.Close()
	if _, err := os.Lstat(newName); err == nil {
		fmt.Fprintf(stdout, "VHD file %s already exists, chose a different name\n", newName)
		return errEINVAL
	}
	if encrypt {
		fmt.Fprintf(stdout, "failed to load crypto support library -%d\n", errEINVAL)
		return errEINVAL
	}
	if src.Footer.DiskType != vhd.DiskDynamic || src.Header.MaxTableEntries < uint32(compatBlocks(src)) {
		fmt.Fprintf(stdout, "error creating %s: -%d\n", newName, errEINVAL)
		return errEINVAL
	}
	dst, err := vhd.Create(newName, &vhd.CreateOptions{Size: src.VirtualSize(), MetadataSize: src.VirtualSize()})
	if err != nil {
		e := errno(err)
		if errors.Is(err, fs.ErrExist) {
			e = errEEXIST
		}
		fmt.Fprintf(stdout, "error creating %s: -%d\n", newName, e)
		return e
	}
	e := copyBlocks(src, dst, stdout)
	if err := dst.Close(); err != nil && e == 0 {
		e = errno(err)
	}
	if e != 0 {
		os.Remove(newName) // never leave a half-copied disk
	}
	return e
}

// copyBlocks writes every allocated block of src into dst, whole.
func copyBlocks(src, dst *vhd.File, stdout io.Writer) int {
	bat, err := src.BAT()
	if err != nil {
		return errno(err)
	}
	bs := src.BlockSize()
	buf := make([]byte, bs)
	for i := int64(0); i < int64(compatBlocks(src)) && i < int64(len(bat)); i++ {
		if bat[i] == vhd.Unallocated {
			continue
		}
		n := min(bs, src.VirtualSize()-i*bs)
		if _, err := src.ReadAt(buf[:n], i*bs); err != nil {
			e := errno(err)
			fmt.Fprintf(stdout, "Failed to encrypt block %d: -%d\n", i, e)
			return e
		}
		if _, err := dst.WriteAt(buf[:n], i*bs); err != nil {
			e := errno(err)
			fmt.Fprintf(stdout, "Failed to write block %d : -%d\n", i, e)
			fmt.Fprintf(stdout, "Failed to encrypt block %d: -%d\n", i, e)
			return e
		}
	}
	return 0
}
