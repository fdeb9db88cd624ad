package vhd_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vhdkit/vhdkit/vhd"
	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

// A file whose only problem is a hidden flag out of range (vhd-util set
// writes 2..255) is mended by setting 0 or 1; every other write, and a
// value out of range, is refused as for any file that fails Check.
func TestSetHiddenMendsBadHidden(t *testing.T) {
	tests := []struct {
		name    string
		which   vhdtest.Footers
		set     uint8
		wantErr bool
	}{
		{name: "both footers 2, set 0", which: vhdtest.Both, set: 0},
		{name: "both footers 200, set 1", which: vhdtest.Both, set: 1},
		{name: "primary 2, set 1", which: vhdtest.Primary, set: 1},
		{name: "both footers 2, set 3", which: vhdtest.Both, set: 3, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := vhdtest.Dynamic(t, filepath.Join(t.TempDir(), "a.vhd"), 8<<20, nil, vhdtest.Write{Offset: 0, Data: []byte("hello")})
			bad := uint8(2)
			if tt.set == 1 {
				bad = 200
			}
			vhdtest.PatchFooter(t, p, tt.which, true, func(f *vhd.Footer) { f.Hidden = bad })
			f, err := vhd.OpenFile(p, os.O_RDWR)
			if err != nil {
				t.Fatal(err)
			}
			err = f.SetHidden(tt.set)
			if cerr := f.Close(); cerr != nil && err == nil {
				err = cerr
			}
			var ce *vhd.CheckError
			if tt.wantErr {
				if !errors.As(err, &ce) {
					t.Fatalf("SetHidden(%d) = %v, want a *CheckError", tt.set, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("SetHidden(%d): %v", tt.set, err)
			}
			rep, err := vhd.CheckFile(context.Background(), p, nil)
			if err != nil {
				t.Fatalf("Check after mending: %v", err)
			}
			g, err := vhd.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			h, _ := g.Hidden()
			if diff := cmp.Diff(struct {
				Hidden uint8
				Valid  bool
			}{tt.set, true}, struct {
				Hidden uint8
				Valid  bool
			}{h, rep.Valid()}); diff != "" {
				t.Errorf("after SetHidden (-want +got):\n%s", diff)
			}
		})
	}
}

// The exception is SetHidden's alone: SetParent still refuses the file.
func TestBadHiddenRefusesOtherWriters(t *testing.T) {
	dir := t.TempDir()
	parent := vhdtest.Dynamic(t, filepath.Join(dir, "p.vhd"), 8<<20, nil)
	child := vhdtest.Child(t, filepath.Join(dir, "c.vhd"), parent, nil)
	vhdtest.PatchFooter(t, child, vhdtest.Both, true, func(f *vhd.Footer) { f.Hidden = 2 })
	f, err := vhd.OpenFile(child, os.O_RDWR)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ce *vhd.CheckError
	if err := f.SetParent(context.Background(), parent, nil); !errors.As(err, &ce) {
		t.Fatalf("SetParent on a file with hidden=2: %v, want a *CheckError", err)
	}
}
