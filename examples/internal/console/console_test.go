package console

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestSizes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
		back string
	}{
		{"512", 512, true, "512"},
		{"64MiB", 64 << 20, true, "64MiB"},
		{"64m", 64 << 20, true, "64MiB"},
		{"2100GiB", 2100 << 30, true, "2100GiB"},
		{"16 TiB", 16 << 40, true, "16TiB"},
		{"1536KiB", 1536 << 10, true, "1536KiB"},
		{"1.5GiB", 0, false, ""},
		{"-1", 0, false, ""},
		{"9000000TiB", 0, false, ""},
		{"lots", 0, false, ""},
	} {
		got, err := ParseSize(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d, ok %v", tc.in, got, err, tc.want, tc.ok)
			continue
		}
		if tc.ok && FormatSize(got) != tc.back {
			t.Errorf("FormatSize(%d) = %q, want %q", got, FormatSize(got), tc.back)
		}
	}
	if got := Bytes(254 << 20); got != "254.0 MiB" {
		t.Errorf("Bytes = %q", got)
	}
	if got := Rate(300<<20, 2*time.Second); got != "150.0 MiB/s" {
		t.Errorf("Rate = %q", got)
	}
}

// TestPrinter feeds a printer on a plain stream (not a terminal): it
// prints the first report of each phase and the totals at the end, in MiB
// and MiB/s.
func TestPrinter(t *testing.T) {
	var buf bytes.Buffer
	p := NewPrinter(&buf, "download", true)
	p.Update(Status{Phase: "extract", Name: "0.vhd", Done: 10 << 20, Total: 40 << 20, Logical: 30 << 20, Compressed: 10 << 20})
	p.Update(Status{Phase: "extract", Name: "0.vhd", Done: 20 << 20, Total: 40 << 20}) // too soon: not printed
	p.Update(Status{Phase: "commit", Done: 40 << 20, Total: 40 << 20, Logical: 120 << 20, Compressed: 40 << 20})
	p.Finish(nil)
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	var got []string
	for _, l := range lines {
		// Rates and times depend on the clock: keep what does not.
		if i := strings.Index(l, " MiB/s"); i >= 0 {
			j := strings.LastIndex(l[:i], " ")
			l = l[:j+1] + "R" + l[i:]
		}
		if i := strings.Index(l, "done in "); i >= 0 {
			j := strings.Index(l[i:], ":")
			l = l[:i+len("done in ")] + "T" + l[i+j:]
		}
		got = append(got, l)
	}
	want := []string{
		"download extract 0.vhd: 10.0 of 40.0 MiB (25%), R MiB/s; files 30.0 MiB, compressed 10.0 MiB",
		"download commit: 40.0 of 40.0 MiB, R MiB/s; files 120.0 MiB, compressed 40.0 MiB",
		"download done in T: files 120.0 MiB, compressed 40.0 MiB, R MiB/s",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("printed (-want +got):\n%s", diff)
	}
	var quiet bytes.Buffer
	q := NewPrinter(&quiet, "pack", false)
	q.Update(Status{Phase: "pack", Done: 1})
	q.Finish(nil)
	if quiet.Len() != 0 {
		t.Errorf("a printer not asked for printed %q", quiet.String())
	}
}
