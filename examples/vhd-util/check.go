package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"github.com/vhdkit/vhdkit/vhd"
)

func checkUsage(w io.Writer) {
	fmt.Fprint(w, "options: -n <file> [-i ignore missing primary footers] [-I ignore parent uuids] [-t ignore timestamps] [-B do not check BAT for overlapping (precludes -s, -b)] [-p check parents] [-b check bitmaps] [-s stats] [-h help]\n")
}

// runCheck is vhd-util check: "NAME is valid" (nothing for a fixed disk),
// or the first problem, "NAME appears invalid; dumping metadata" and a
// dump; with -p the same for every ancestor, named by its resolved path.
func runCheck(args []string, stdout, stderr io.Writer) int {
	var name string
	var haveName, parents, stats bool
	co := vhd.CheckOptions{Compat: true, Parents: newResolver(), BlockDevice: true}
	opts, operands := getopt("check", args, "n:iItpbBsh", stderr)
	for _, o := range opts {
		switch {
		case o.bad:
			checkUsage(stdout)
			return errEINVAL
		case o.c == 'h':
			checkUsage(stdout)
			return 0
		case o.c == 'n':
			name, haveName = o.arg, true
		case o.c == 'i':
			co.UseBackupFooter = true
		case o.c == 'I':
			co.IgnoreParentUUID = true
		case o.c == 't':
			co.IgnoreTimestamps = true
		case o.c == 'p':
			parents = true
		case o.c == 'b':
			co.CheckBitmaps = true
		case o.c == 'B':
			co.SkipOverlapCheck = true
		case o.c == 's':
			stats = true
		}
	}
	if !haveName || len(operands) > 0 || (co.SkipOverlapCheck && (stats || co.CheckBitmaps)) {
		checkUsage(stdout)
		return errEINVAL
	}
	ctx := context.Background()
	if stats {
		return checkWithStats(ctx, name, co, parents, stdout) // check_stats.go
	}
	if code := checkOne(ctx, name, co, stdout); code != 0 || !parents {
		return code
	}
	if code := checkParents(ctx, name, co, stdout, nil); code != 0 {
		fmt.Fprintf(stdout, "error checking parents: -%d\n", code)
		return code
	}
	return 0
}

// checkOne checks one file and prints its verdict.
func checkOne(ctx context.Context, name string, co vhd.CheckOptions, stdout io.Writer) int {
	st, err := os.Stat(name)
	if err != nil {
		e := errno(err)
		fmt.Fprintf(stdout, "cannot stat %s: %d\n", name, e)
		return e
	}
	if !st.Mode().IsRegular() && st.Mode()&fs.ModeDevice == 0 {
		fmt.Fprintf(stdout, "%s is not a regular file or block device\n", name)
		return errEINVAL
	}
	if msg := unalignedFooter(st); msg != "" {
		fmt.Fprintln(stdout, msg)
		fmt.Fprintf(stdout, "%s appears invalid; dumping metadata\n", name)
		dumpMetadata(stdout, name)
		return errEINVAL
	}
	co.Name = name
	rep, err := vhd.CheckFile(ctx, name, &co)
	var ce *vhd.CheckError
	switch {
	case err == nil:
		if rep.Type != vhd.DiskFixed {
			fmt.Fprintf(stdout, "%s is valid\n", name)
		}
		return 0
	case errors.As(err, &ce) && len(ce.Problems) > 0:
		p := directIO(name, st.Size(), co.UseBackupFooter, ce.Problems[0])
		if errors.Is(p.Err, vhd.ErrOpenFailed) {
			// vhd-util has no message of its own here: the dump starts
			// with the failed open, whose errno is libvhd's.
			if f, oerr := vhd.OpenBlockDevice(name, os.O_RDONLY); oerr != nil {
				p.Msg = fmt.Sprintf("Failed to open %s: -%d", name, openErrno(name, oerr))
			} else {
				f.Close()
			}
			fmt.Fprintf(stdout, "%s appears invalid; dumping metadata\n", name)
			fmt.Fprintln(stdout, p.Msg)
			dumpRaw(stdout, name)
		} else {
			fmt.Fprintln(stdout, p.Msg)
			fmt.Fprintf(stdout, "%s appears invalid; dumping metadata\n", name)
			dumpMetadata(stdout, name)
		}
		return problemErrno(p)
	case rep == nil:
		e := errno(err)
		fmt.Fprintf(stdout, "error opening %s\n", name)
		return e
	}
	e := errno(err)
	fmt.Fprintf(stdout, "error checking %s: -%d\n", name, e)
	return e
}

// unalignedFooter is vhd-util check's first read, of the primary footer,
// as blktap opens the file (O_DIRECT): at EOF-511 when the size is not a
// multiple of 512, which O_DIRECT refuses (EINVAL) unless the size is
// 512·n+511 (a short footer). It returns vhd-util's message, or "".
func unalignedFooter(st os.FileInfo) string {
	sz := st.Size()
	if !st.Mode().IsRegular() || sz < vhd.SectorSize-1 || sz%vhd.SectorSize == 0 || sz%vhd.SectorSize == vhd.SectorSize-1 {
		return ""
	}
	return fmt.Sprintf("error reading primary footer: -%d", errEINVAL)
}

// directIO gives a header problem of step 3 the message vhd-util check
// prints when its own read of the header fails as blktap's O_DIRECT read
// does: a header offset no seek reaches (see maxSeek) is "error seeking to
// header: -22", an unaligned one "error reading header: -22", whatever
// the bytes there hold. The header offset is that of the footer in use:
// the backup with -i (check uses it then, or an identical primary), else
// the primary. Other problems are returned as they are.
func directIO(name string, size int64, backup bool, p vhd.Problem) vhd.Problem {
	if !errors.Is(p.Err, vhd.ErrHeaderInvalid) || !(strings.HasPrefix(p.Msg, "error reading header: ") || strings.HasPrefix(p.Msg, "header is invalid: ")) {
		return p
	}
	off := int64(0)
	if !backup {
		off = size - vhd.FooterSize
		if size%vhd.SectorSize == vhd.SectorSize-1 {
			off = size - (vhd.SectorSize - 1) // a short footer
		}
	}
	if off < 0 {
		return p
	}
	f, err := os.Open(name)
	if err != nil {
		return p
	}
	defer f.Close()
	b := make([]byte, 24) // the footer up to its data offset
	if _, err := f.ReadAt(b, off); err != nil {
		return p
	}
	dataOffset := binary.BigEndian.Uint64(b[16:])
	switch {
	case dataOffset >= maxSeek:
		p.Msg = fmt.Sprintf("error seeking to header: -%d", errEINVAL)
	case dataOffset%vhd.SectorSize != 0:
		p.Msg = fmt.Sprintf("error reading header: -%d", errEINVAL)
	}
	return p
}

// problemErrno is the exit status for a problem: the errno its message
// ends with ("error resolving ./p.vhd: -2"), else EINVAL, vhd-util's status
// for every validation failure.
func problemErrno(p vhd.Problem) int {
	if i := strings.LastIndex(p.Msg, ": -"); i >= 0 {
		if n, err := strconv.Atoi(p.Msg[i+3:]); err == nil && n > 0 {
			return n
		}
	}
	return errEINVAL
}

// checkParents is check -p after the file itself passed: each ancestor is
// checked in turn, named by its resolved path, up to a base or a raw
// parent. It returns the first error. Each ancestor that passes is appended
// to checked when checked is not nil (check -s reports on them).
func checkParents(ctx context.Context, name string, co vhd.CheckOptions, stdout io.Writer, checked *[]string) int {
	var seen []os.FileInfo
	cur := name
	for {
		f, err := vhd.OpenBlockDevice(cur, os.O_RDONLY)
		if err != nil {
			e := openErrno(cur, err)
			fmt.Fprintf(stdout, "error getting parent: -%d\n", e)
			return e
		}
		if st, err := os.Stat(cur); err == nil {
			for _, s := range seen {
				if os.SameFile(s, st) {
					f.Close()
					fmt.Fprintf(stdout, "error getting parent: -%d\n", errELOOP)
					return errELOOP
				}
			}
			seen = append(seen, st)
		}
		if !f.HasParent() || f.ParentUUID().IsZero() {
			f.Close()
			return 0
		}
		parent, _, err := newResolver().Parent(f)
		f.Close()
		if err != nil {
			e := errno(err)
			fmt.Fprintf(stdout, "error getting parent: -%d\n", e)
			return e
		}
		if code := checkOne(ctx, parent, co, stdout); code != 0 {
			return code
		}
		if checked != nil {
			*checked = append(*checked, parent)
		}
		cur = parent
	}
}
