package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestDemo runs the demo on a small chain and checks its report.
func TestDemo(t *testing.T) {
	mib := 24
	if !testing.Short() {
		mib = 64
	}
	var out bytes.Buffer
	if err := run(context.Background(), &out, mib, false); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	for _, want := range []string{"1. built a chain", "2. upload", "3. download", "identical in both SRs", "temporary files removed"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	if n := strings.Count(out.String(), "hidden=1"); n != 4 {
		t.Errorf("report shows %d hidden links, want 4 (two per SR):\n%s", n, out.String())
	}
}
