//go:build linux

package staging

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

// TestRecoverAreas builds staging areas as dead operations leave them and
// checks what Recover does with each.
func TestRecoverAreas(t *testing.T) {
	sr := newSR(t)
	// A VDI that a dead import's journal names, but with another inode:
	// it must be left alone.
	victim := vhdtest.Dynamic(t, filepath.Join(sr, "c0ffee00-0000-4000-8000-000000000001.vhd"), 2*mib, nil)
	// A VDI the dead import did move: it must go.
	moved := vhdtest.Dynamic(t, filepath.Join(sr, "c0ffee00-0000-4000-8000-000000000002.vhd"), 2*mib, nil)
	movedID, _, _ := lstatID(moved)
	victimID, _, _ := lstatID(victim)
	area := func(name, journal string, age time.Duration) string {
		d := filepath.Join(sr, Prefix+name)
		os.Mkdir(d, 0o700)
		os.Mkdir(filepath.Join(d, extractDir), 0o700)
		if journal != "-" {
			os.WriteFile(filepath.Join(d, journalName), []byte(journal), 0o600)
		}
		old := time.Now().Add(-age)
		os.Chtimes(d, old, old)
		return d
	}
	hdr := journalMagic + " import pid=1 host=h time=t\n"
	area("dead", hdr+
		fmt.Sprintf("move c0ffee00-0000-4000-8000-000000000002.vhd %d %d\n", movedID.Dev, movedID.Ino)+
		fmt.Sprintf("move c0ffee00-0000-4000-8000-000000000001.vhd %d %d\n", victimID.Dev, victimID.Ino+1000000), time.Hour)
	area("committed", hdr+"move x.vhd 1 2\ncommitted\n", time.Hour)
	area("rolledback", hdr+"rolled-back\n", time.Hour)
	area("export", journalMagic+" export pid=1 host=h time=t\n", time.Hour)
	area("nojournal-old", "-", time.Hour)
	area("nojournal-young", "-", 0)
	area("torn-young", "vhdkit-stag", 0)
	area("damaged", hdr+"frobnicate\n", time.Hour)

	rep, err := Recover(context.Background(), sr, nil)
	if err == nil {
		t.Errorf("Recover reported no error for a damaged journal")
	}
	got := map[string]RecoveredArea{}
	for _, a := range rep.Areas {
		a.Err = nil
		got[filepath.Base(a.Dir)[len(Prefix):]] = a
		a.Dir = ""
	}
	want := map[string]RecoveredArea{
		"dead":            {Op: "import", State: StateUndone, Removed: []string{"c0ffee00-0000-4000-8000-000000000002.vhd"}, Cleaned: true},
		"committed":       {Op: "import", State: StateCommitted, Cleaned: true},
		"rolledback":      {Op: "import", State: StateRolledBack, Cleaned: true},
		"export":          {Op: "export", State: StateExport, Cleaned: true},
		"nojournal-old":   {State: StateEmpty, Cleaned: true},
		"nojournal-young": {State: StateYoung},
		"torn-young":      {State: StateYoung},
		"damaged":         {State: StateDamaged},
	}
	for k, v := range got {
		v.Dir = ""
		got[k] = v
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Recover report (-want +got):\n%s", diff)
	}
	if _, err := os.Stat(victim); err != nil {
		t.Errorf("a VDI whose inode does not match was removed: %v", err)
	}
	if _, err := os.Stat(moved); err == nil {
		t.Errorf("the dead import's moved VDI is still there")
	}
}

func TestParseJournal(t *testing.T) {
	hdr := journalMagic + " import pid=1\n"
	tests := []struct {
		in   string
		want *journalState
		ok   bool
	}{
		{hdr, &journalState{Op: "import"}, true},
		{hdr + "move a.vhd 1 2\ncommitted\n", &journalState{Op: "import", Moves: []journalMove{{"a.vhd", 1, 2}}, Committed: true}, true},
		{hdr + "move a.vhd 1 2\ncommi", &journalState{Op: "import", Moves: []journalMove{{"a.vhd", 1, 2}}}, true},
		{hdr + "move a.vhd 1 2\ncommitted\naborted\n", &journalState{Op: "import", Moves: []journalMove{{"a.vhd", 1, 2}}}, true},
		{hdr + "move ../a.vhd 1 2\n", nil, false},
		{hdr + "move a.vhd x 2\n", nil, false},
		{"garbage\n", nil, false},
		{"", nil, false},
	}
	for _, tc := range tests {
		got, err := parseJournal([]byte(tc.in))
		if (err == nil) != tc.ok {
			t.Errorf("parseJournal(%q) error %v", tc.in, err)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("parseJournal(%q) (-want +got):\n%s", tc.in, diff)
		}
	}
}

func FuzzParseJournal(f *testing.F) {
	f.Add([]byte(journalMagic + " import pid=1\nmove a.vhd 1 2\ncommitted\n"))
	f.Add([]byte(journalMagic + " export\n"))
	f.Add([]byte("move\n\n\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := parseJournal(b)
		if err != nil {
			return
		}
		for _, m := range st.Moves {
			if m.Name == "" || filepath.Base(m.Name) != m.Name || m.Name == ".." {
				t.Fatalf("unsafe move name %q accepted", m.Name)
			}
		}
	})
}

func FuzzSequence(f *testing.F) {
	f.Add("0.vhd", "1.vhd", "2.vhd")
	f.Add("snap.vhd", "image.vhd", "swap.vhd")
	f.Add("x.vhd", "", "00.vhd")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		seq, err := Sequence([]string{a, b, c}, 0)
		if err != nil {
			return
		}
		if len(seq) == 0 || len(seq) > 3 {
			t.Fatalf("Sequence gave %q", seq)
		}
		for _, n := range seq {
			if !Wanted(n) {
				t.Fatalf("unwanted name %q in sequence", n)
			}
		}
	})
}
