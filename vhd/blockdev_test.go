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

// TestParentOnBlockDevice links children to a parent VHD on a block device,
// a loop device standing for the logical volume an LVM-based SR keeps it
// in: Snapshot and SetParent read the parent there, and the child records
// its UUID and name, and in every locator a path that leads to the device.
func TestParentOnBlockDevice(t *testing.T) {
	dir := t.TempDir()
	src := vhdtest.Dynamic(t, filepath.Join(dir, "p.vhd"), 4*mib, nil, vhdtest.Fill(1, 0, 4096))
	img := vhdtest.Volume(t, filepath.Join(dir, "p.img"), src, 8*mib)
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

// TestGrowOnBlockDevice grows a VHD on a block device (a loop device
// standing for an LVM SR's logical volume) whose table has room in its
// sectors, as blktap does, and refuses a growth that would have to move
// metadata past the device's end.
func TestGrowOnBlockDevice(t *testing.T) {
	dir := t.TempDir()
	src := vhdtest.Dynamic(t, filepath.Join(dir, "d.vhd"), 8*mib, nil, vhdtest.Fill(1, 0, 4096))
	img := vhdtest.Volume(t, filepath.Join(dir, "d.img"), src, 12*mib)
	dev, detach := vhdtest.LoopDevice(t, img)
	f, err := vhd.OpenBlockDevice(dev, os.O_RDWR)
	if err != nil {
		t.Fatal(err)
	}
	opts := &vhd.GrowOptions{GrowTable: true, Journal: filepath.Join(dir, "journal")}
	// 2000 entries need 16 table sectors where there is one: refused, unchanged.
	if err := f.Grow(context.Background(), 4000*mib, opts); !errors.Is(err, vhd.ErrNoTableRoom) {
		t.Errorf("growing to 4000 MiB on a device: %v, want an error matching ErrNoTableRoom", err)
	}
	// 50 entries fit in the table's one sector.
	if err := f.Grow(context.Background(), 100*mib, opts); err != nil {
		t.Fatalf("growing to 100 MiB on a device: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	detach()
	g, err := vhd.Open(img)
	if err != nil {
		t.Fatalf("the volume's image does not open after the grow: %v", err)
	}
	defer g.Close()
	if got := []int64{g.VirtualSize(), g.FileSize()}; !cmp.Equal(got, []int64{100 * mib, 12 * mib}) {
		t.Errorf("virtual and file size %v after the grow, want [%d %d]", got, 100*mib, 12*mib)
	}
	if _, err := os.Stat(opts.Journal); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the journal is still there after the grow: %v", err)
	}
}
