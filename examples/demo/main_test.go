package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestDemo runs the demo on a small chain and checks its report: the data
// it says it wrote is the data the files hold, the leaf is called the leaf,
// and the temporary files are gone.
func TestDemo(t *testing.T) {
	mib := 24
	if !testing.Short() {
		mib = 64
	}
	var out bytes.Buffer
	if err := run(context.Background(), &out, mib, false); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	report := out.String()
	data := fmt.Sprintf("%d.0 MiB", mib)
	for _, want := range []string{
		"1. built a chain", "(" + data + " of data", "2. upload", "3. download", "; leaf ",
		"identical in both SRs", "temporary files removed",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q:\n%s", want, report)
		}
	}
	// The total line of each SR: the data the files hold is what was written.
	totals := regexp.MustCompile(`total +data +([0-9.]+ MiB)`).FindAllStringSubmatch(report, -1)
	var got []string
	for _, m := range totals {
		got = append(got, m[1])
	}
	if diff := cmp.Diff([]string{data, data}, got); diff != "" {
		t.Errorf("data held by the files of each SR (-want +got):\n%s\n%s", diff, report)
	}
	if n := strings.Count(report, "hidden=1"); n != 4 {
		t.Errorf("report shows %d hidden links, want 4 (two per SR):\n%s", n, report)
	}
	if strings.Contains(report, "root") {
		t.Errorf("report calls something the root:\n%s", report)
	}
}

// TestDemoKeep checks that -keep says where the files are, and that they
// are there.
func TestDemoKeep(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), &out, 4, true); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	m := regexp.MustCompile(`(?m)^ +(SR 1|image|SR 2) +(\S+)$`).FindAllStringSubmatch(out.String(), -1)
	if len(m) != 3 {
		t.Fatalf("-keep does not list SR 1, the image and SR 2:\n%s", out.String())
	}
	rm := regexp.MustCompile(`rm -r (\S+)\)`).FindStringSubmatch(out.String())
	if rm == nil {
		t.Fatalf("-keep does not say how to remove the files:\n%s", out.String())
	}
	t.Cleanup(func() { os.RemoveAll(rm[1]) })
	for _, k := range m {
		if _, err := os.Stat(k[2]); err != nil {
			t.Errorf("%s kept at %s: %v", k[1], k[2], err)
		}
	}
}
