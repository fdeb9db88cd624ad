package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/vhdkit/vhdkit/vhd"
)

func setUsage(w io.Writer) {
	fmt.Fprint(w, "options: <-n name> <-f field> <-v value> [-h help]\n")
}

// runSet is vhd-util set: it writes the hidden flag (rewriting both
// footers, the primary at the end of the data) or the batmap marker.
func runSet(args []string, stdout, stderr io.Writer) int {
	var name, field string
	var value int64
	var haveName, haveField, haveValue bool
	opts, operands := getopt("set", args, "n:f:v:h", stderr)
	for _, o := range opts {
		switch {
		case o.bad, o.c == 'h':
			setUsage(stdout)
			return errEINVAL
		case o.c == 'n':
			name, haveName = o.arg, true
		case o.c == 'f':
			field, haveField = o.arg, true
		case o.c == 'v':
			value, haveValue = strtol(o.arg), true
		}
	}
	if !haveName || !haveField || !haveValue || len(operands) > 0 {
		setUsage(stdout)
		return errEINVAL
	}
	switch {
	case len(field) >= 25:
		fmt.Fprintln(stdout, "invalid field")
		setUsage(stdout)
		return errEINVAL
	case field != "hidden" && field != "marker":
		fmt.Fprintf(stdout, "invalid field %s\n", field)
		setUsage(stdout)
		return errEINVAL
	case value < 0 || value > 255:
		fmt.Fprintf(stdout, "invalid value %d\n", value)
		setUsage(stdout)
		return errEINVAL
	}
	f, code := openWritable(name, stdout)
	if f == nil {
		return code
	}
	if field == "hidden" && !f.Footer.IsDynamic() && f.FileSize()%vhd.SectorSize != 0 {
		// blktap writes a fixed disk's footer at EOF-512, which its
		// O_DIRECT write refuses when unaligned (a short footer): the
		// file is left as it is, as it must be, since that write would
		// land on the disk's last data byte.
		f.Close()
		return errEINVAL
	}
	var err error
	if field == "hidden" {
		err = f.SetHidden(uint8(value))
	} else {
		err = writeMarker(f, uint8(value))
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	// vhd-util says nothing when the change fails; a refusal to change a
	// file that fails check says why, on stderr.
	refused(stderr, name, err)
	if field == "marker" && errors.Is(err, vhd.ErrFormat) {
		fmt.Fprintf(stderr, "%s: not changed: it fails check: %v\n", name, err)
	}
	return errno(err)
}

// openWritable opens name read-write as set, modify and snapshot do: a
// disabled ("v_poison") VHD is refused with EINVAL. On failure it prints
// "error opening NAME: -ERR" and returns the status.
func openWritable(name string, stdout io.Writer) (*vhd.File, int) {
	f, err := vhd.OpenBlockDevice(name, os.O_RDWR)
	if err == nil && f.Footer.Disabled() {
		f.Close()
		err = vhd.ErrDisabled
	}
	if err != nil {
		e := openErrno(name, err)
		fmt.Fprintf(stdout, "error opening %s: -%d\n", name, e)
		return nil, e
	}
	return f, 0
}

// refused explains on stderr a refusal to change a file that fails check:
// vhd-util would have changed it, and vhd-util's own output has no line
// for it.
func refused(stderr io.Writer, name string, err error) {
	var ce *vhd.CheckError
	if errors.As(err, &ce) && len(ce.Problems) > 0 {
		fmt.Fprintf(stderr, "%s: not changed: it fails check: %s\n", name, ce.Problems[0].Msg)
	}
}

// refusedParent explains on stderr, and reports, a snapshot refused because
// its parent fails check.
func refusedParent(stderr io.Writer, parent string, err error) bool {
	var ce *vhd.CheckError
	if !errors.As(err, &ce) || len(ce.Problems) == 0 {
		return false
	}
	fmt.Fprintf(stderr, "%s: not used as a parent: it fails check: %s\n", parent, ce.Problems[0].Msg)
	return true
}
