package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/vhdkit/vhdkit/staging"
)

// runRecover implements "vdi-transfer recover --sr DIR": staging.Recover
// over the SR, printing what it rolled back and removed. Areas of running
// operations are left alone, so it is safe at any time.
func runRecover(ctx context.Context, e *env, args []string) error {
	fset := newFlagSet(e, "recover", "--sr DIR")
	sr := fset.String("sr", "", "the SR directory (required)")
	grace := fset.Duration("grace", staging.DefaultGrace, "leave staging areas without a journal record until they are this old")
	if err := fset.parse(args, 0, 0); err != nil {
		return err
	}
	if *sr == "" {
		return fset.fail("--sr is required")
	}
	rep, err := staging.Recover(ctx, *sr, &staging.RecoverOptions{Grace: *grace, Logger: fset.logger()})
	if rep != nil {
		if len(rep.Areas) == 0 {
			fmt.Fprintf(e.stdout, "no staging areas in %s\n", *sr)
		}
		for _, a := range rep.Areas {
			fmt.Fprintln(e.stdout, describeArea(a))
		}
	}
	return err
}

// describeArea says in one line what Recover found and did in an area.
func describeArea(a staging.RecoveredArea) string {
	name := filepath.Base(a.Dir)
	op := a.Op
	if op == "" {
		op = "unknown operation"
	}
	var did string
	switch a.State {
	case staging.StateBusy:
		did = "in use by a running " + op + "; left alone"
	case staging.StateYoung:
		did = "no journal yet and younger than --grace; left alone"
	case staging.StateUndone:
		did = "interrupted import rolled back"
		if len(a.Removed) > 0 {
			did += ": removed " + strings.Join(a.Removed, " ") + " from the SR"
		} else {
			did += ": nothing of it had reached the SR"
		}
	case staging.StateCommitted:
		did = "import had committed; its VDIs stay"
	case staging.StateRolledBack:
		did = "import had rolled back already"
	case staging.StateExport:
		did = "interrupted upload (hard links only)"
	case staging.StateEmpty:
		did = "no journal record"
	case staging.StateDamaged:
		did = "journal unreadable; left alone"
	default:
		did = a.State
	}
	if a.Cleaned {
		did += "; staging area removed"
	}
	line := name + ": " + did
	if a.Err != nil {
		line += " (" + a.Err.Error() + ")"
	}
	return line
}

// warnStale says on stderr when the SR holds staging areas, which are
// either in use or left by operations that were killed, and how to remove
// the latter.
func warnStale(e *env, sr string) {
	entries, err := os.ReadDir(sr)
	if err != nil {
		return // the command itself reports it
	}
	var areas []string
	for _, ent := range entries {
		if ent.IsDir() && strings.HasPrefix(ent.Name(), staging.Prefix) {
			areas = append(areas, ent.Name())
		}
	}
	if len(areas) == 0 {
		return
	}
	fmt.Fprintf(e.stderr, "vdi-transfer: %s holds %d staging area(s) (%s), of running operations or left by interrupted ones; "+
		"\"vdi-transfer recover --sr %s\" removes those no operation holds\n", sr, len(areas), strings.Join(areas, " "), sr)
}
