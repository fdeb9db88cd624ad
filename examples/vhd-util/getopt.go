package main

import (
	"fmt"
	"io"
	"strings"
)

// An option is one result of getopt: an option character with its
// argument, or a parse error (bad set), which vhd-util answers with the
// command's usage.
type option struct {
	c   byte   // the option character
	arg string // its argument, for characters followed by ':' in the optstring
	bad bool   // unknown option or missing argument; the complaint is already printed
}

// getopt parses args as glibc's getopt(3) does with a short-option string
// such as "n:vspfdSmauh": options may be combined ("-vsfp"), an argument may
// be attached ("-nNAME") or the next word ("-n NAME", even if that word
// starts with '-'), "--" ends the options, and non-option words (operands)
// may appear anywhere: like GNU getopt, parsing continues after them.
// Complaints go to stderr in glibc's words, naming prog (vhd-util
// passes each command its own name as argv[0], so "query: invalid option"). Parsing stops at the first
// error, which is returned as the last option with bad set, since every
// vhd-util command gives up there.
func getopt(prog string, args []string, optstring string, stderr io.Writer) (opts []option, operands []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return opts, append(operands, args[i+1:]...)
		}
		if len(a) < 2 || a[0] != '-' {
			operands = append(operands, a)
			continue
		}
		for j := 1; j < len(a); j++ {
			c := a[j]
			k := strings.IndexByte(optstring, c)
			if c == ':' || k < 0 {
				fmt.Fprintf(stderr, "%s: invalid option -- '%c'\n", prog, c)
				return append(opts, option{c: c, bad: true}), operands
			}
			if k+1 >= len(optstring) || optstring[k+1] != ':' {
				opts = append(opts, option{c: c})
				continue
			}
			if j+1 < len(a) {
				opts = append(opts, option{c: c, arg: a[j+1:]})
				break
			}
			if i+1 >= len(args) {
				fmt.Fprintf(stderr, "%s: option requires an argument -- '%c'\n", prog, c)
				return append(opts, option{c: c, bad: true}), operands
			}
			i++
			opts = append(opts, option{c: c, arg: args[i]})
		}
	}
	return opts, operands
}
