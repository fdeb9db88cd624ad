package vhd_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vhdkit/vhdkit/vhd"
	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

// TestParentOnBlockDevice links children to a parent VHD on a block device,
// a loop device standing for the logical volume an LVM-based SR keeps it
// in: Snapshot and SetParent read the parent there, and the child records
// its UUID and name, and in every locator a path that leads to the device.
func TestParentOnBlockDevice(t *testing.T) {
	dir := t.TempDir()
	src := vhdtest.Dynamic(t, filepath.Join(dir, "p.vhd"), 4*mib, nil, vhdtest.Fill(1, 0, 4096))
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	volume := make([]byte, 8*mib) // the VHD at the start, its footer also at the end
	copy(volume, b)
	copy(volume[len(volume)-vhd.FooterSize:], b[len(b)-vhd.FooterSize:])
	img := filepath.Join(dir, "p.img")
	if err := os.WriteFile(img, volume, 0o644); err != nil {
		t.Fatal(err)
	}
	dev, _ := vhdtest.LoopDevice(t, img)
	p, err := vhd.OpenBlockDevice(dev, os.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	parentUUID := p.Footer.UUID
	p.Close()

	type link struct {
		UUID  vhd.UUID
		Name  string
		Paths []string // each locator's path, resolved from the child's directory
	}
	for _, tc := range []struct {
		name string
		link func(t *testing.T) *vhd.File
	}{
		{"Snapshot", func(t *testing.T) *vhd.File {
			f, err := vhd.Snapshot(filepath.Join(dir, "snap.vhd"), dev, nil)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}},
		{"SetParent", func(t *testing.T) *vhd.File {
			other := vhdtest.Dynamic(t, filepath.Join(dir, "other.vhd"), 4*mib, nil)
			child := vhdtest.Child(t, filepath.Join(dir, "child.vhd"), other, nil, vhdtest.Fill(2, 0, 512))
			f, err := vhd.OpenFile(child, os.O_RDWR)
			if err != nil {
				t.Fatal(err)
			}
			if err := f.SetParent(context.Background(), dev, nil); err != nil {
				f.Close()
				t.Fatal(err)
			}
			return f
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.link(t)
			defer f.Close()
			name, err := f.ParentName()
			if err != nil {
				t.Fatal(err)
			}
			got := link{UUID: f.ParentUUID(), Name: name}
			want := link{UUID: parentUUID, Name: filepath.Base(dev)}
			for _, l := range f.ParentLocators() {
				if l.Err != nil {
					t.Fatalf("locator %d: %v", l.Slot, l.Err)
				}
				got.Paths = append(got.Paths, filepath.Clean(filepath.Join(dir, l.Path)))
				want.Paths = append(want.Paths, dev)
			}
			if len(got.Paths) == 0 {
				t.Fatal("the child has no parent locators")
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("the child's link to %s (-want +got):\n%s", dev, diff)
			}
		})
	}
}
