package main

import (
	"fmt"
	"io"
	"os"
)

// progName is the name getopt complaints and usage use.
const progName = "vhd-util"

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// A command is one vhd-util subcommand: it gets the arguments after its
// name (without --debug) and returns the exit status.
type command func(args []string, stdout, stderr io.Writer) int

// lookup returns the subcommand called name, if this drop-in implements it.
func lookup(name string) (command, bool) {
	switch name {
	case "create":
		return runCreate, true
	case "snapshot":
		return runSnapshot, true
	case "scan":
		return runScan, true
	case "repair":
		return runRepair, true
	case "read":
		return runRead, true
	case "key":
		return runKey, true
	case "fill":
		return runFill, true
	case "resize":
		return runResize, true
	case "copy":
		return runCopy, true
	case "revert":
		return runRevert, true
	case "query":
		return runQuery, true
	case "set":
		return runSet, true
	case "modify":
		return runModify, true
	case "check":
		return runCheck, true
	case "coalesce":
		return runCoalesce, true
	}
	return nil, false
}

// unsupported reports whether name is a vhd-util subcommand this drop-in
// knowingly lacks; those fail with EOPNOTSUPP rather than vhd-util's
// "invalid COMMAND" exit 0, which a caller would take for success. Every
// command is implemented now (some options are refused, each saying so).
func unsupported(name string) bool { return false }

// run executes vhd-util with args (without the program name) and returns
// its exit status: 0, or a positive errno as vhd-util exits with.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		printUsage(stdout)
		return 0
	}
	name := args[0]
	var rest []string
	for _, a := range args[1:] {
		if a != "--debug" {
			rest = append(rest, a)
		}
	}
	if cmd, ok := lookup(name); ok {
		return cmd(rest, stdout, stderr)
	}
	if unsupported(name) {
		fmt.Fprintf(stderr, "%s: COMMAND %s is not supported by this implementation\n", progName, name)
		return errEOPNOTSUPP
	}
	fmt.Fprintf(stderr, "invalid COMMAND %s\n", name)
	printUsage(stdout)
	return 0
}

func printUsage(w io.Writer) {
	fmt.Fprint(w, "usage: vhd-util COMMAND [OPTIONS]\n"+
		"COMMAND := { create | snapshot | query | read | set | repair | resize | fill | coalesce | modify | scan | check | revert | key | copy }\n")
}
