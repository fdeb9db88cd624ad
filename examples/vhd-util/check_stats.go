package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/bits"
	"os"
	"path/filepath"
	"strings"

	"github.com/vhdkit/vhdkit/vhd"
)

// checkWithStats is check -s: the check (with -p the parents' too) without
// its "is valid" lines, then for each checked dynamic disk, base first,
// the sectors its allocated blocks hold and how many of them its bitmaps
// mark written; with parents, how many written sectors are not in the
// parent and not in any ancestor.
func checkWithStats(ctx context.Context, name string, co vhd.CheckOptions, parents bool, stdout io.Writer) int {
	var out bytes.Buffer
	var checked []string
	code := checkOne(ctx, name, co, &out)
	if code == 0 {
		checked = append(checked, name)
		if parents {
			code = checkParents(ctx, name, co, &out, &checked)
			if code != 0 {
				fmt.Fprintf(&out, "error checking parents: -%d\n", code)
			}
		}
	}
	for _, l := range strings.SplitAfter(out.String(), "\n") {
		if !strings.HasSuffix(l, " is valid\n") {
			io.WriteString(stdout, l)
		}
	}
	if code != 0 {
		return code
	}
	var stats []*sectorStats
	for _, n := range checked {
		if s, err := statsOf(n); err == nil && s != nil {
			stats = append(stats, s)
		}
	}
	printStats(stdout, stats)
	return 0
}

// sectorStats is what check -s counts for one file.
type sectorStats struct {
	name             string
	allocated, wrote uint64
	written          []uint64 // one bit per sector of the table, set where written
}

// statsOf counts one file's allocated and written sectors, as vhd-util's
// check walks the BAT entries libvhd reads; nil for a fixed disk.
func statsOf(name string) (*sectorStats, error) {
	f, err := vhd.OpenBlockDevice(name, os.O_RDONLY)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if f.Header == nil {
		return nil, nil
	}
	bat, err := f.BAT()
	if err != nil {
		return nil, err
	}
	r := &reader{f: f, name: name, bat: bat}
	spb := r.spb()
	total := spb * uint64(f.Header.MaxTableEntries)
	s := &sectorStats{name: name, written: make([]uint64, (total+63)/64)}
	for i := uint64(0); i < compatBlocks(f) && i < uint64(len(bat)); i++ {
		e := bat[i]
		if e == vhd.Unallocated {
			continue
		}
		s.allocated += spb
		bm, err := r.readBitmap(e)
		if err != nil {
			return nil, err
		}
		for j := uint64(0); j < spb; j++ {
			if bm[j/8]&(0x80>>(j%8)) != 0 {
				s.wrote++
				sec := i*spb + j
				s.written[sec/64] |= 1 << (sec % 64)
			}
		}
	}
	return s, nil
}

func pct(num, den uint64) float64 {
	if den == 0 {
		return 0
	}
	return float64(float32(num)/float32(den)) * 100
}

// cName is check's name(): the part after the last '/'.
func cName(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return filepath.Clean(p)
}

// printStats prints the statistics base first, each child against its
// parent and against everything below it.
func printStats(w io.Writer, stats []*sectorStats) {
	if len(stats) == 0 {
		return
	}
	head := stats[len(stats)-1]
	fmt.Fprintf(w, "%s: secs allocated: 0x%x secs written: 0x%x (%.2f%%)\n",
		cName(head.name), head.allocated, head.wrote, pct(head.wrote, head.allocated))
	union := append([]uint64(nil), head.written...)
	prev := head
	for k := len(stats) - 2; k >= 0; k-- {
		cur := stats[k]
		var up, uc uint64
		for i := range cur.written {
			c := cur.written[i]
			var p, u uint64
			if i < len(prev.written) {
				p = prev.written[i]
			}
			if i < len(union) {
				u = union[i]
				union[i] |= c
			}
			up += uint64(bits.OnesCount64(c &^ p))
			uc += uint64(bits.OnesCount64(c &^ u))
		}
		fmt.Fprintf(w, "%s: secs allocated: 0x%x secs written: 0x%x (%.2f%%) secs not in parent: 0x%x (%.2f%%) secs not in ancestors: 0x%x (%.2f%%)\n",
			cName(cur.name), cur.allocated, cur.wrote, pct(cur.wrote, cur.allocated),
			up, pct(up, cur.wrote), uc, pct(uc, cur.wrote))
		prev = cur
	}
}
