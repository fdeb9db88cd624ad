package main

import (
	"fmt"
	"io"
)

// runCheck is vhd-util check (placeholder until vhd.CheckFile lands).
func runCheck(args []string, stdout, stderr io.Writer) int {
	fmt.Fprintf(stderr, "%s: check is not available yet\n", progName)
	return errEOPNOTSUPP
}
