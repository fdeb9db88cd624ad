package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vhdkit/vhdkit/vhd"
	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

// lvSize is the size of the logical volumes the block device tests make:
// larger than the VHD they hold, as an LVM SR's volumes are.
const lvSize = 12 * mib

// lvImage returns a file of lvSize bytes holding, at its start, an 8 MiB
// dynamic VHD whose first block holds data, and the offset of the footer at
// the end of that data. With footerAtEnd the footer is also at the file's
// end, where an LVM SR keeps it (vhd-util modify -s); without, only after
// the data, as a copy of the VHD left it.
func lvImage(t *testing.T, dir string, footerAtEnd bool) (string, int64) {
	t.Helper()
	src := vhdtest.Dynamic(t, filepath.Join(dir, "src.vhd"), 8*mib, nil, vhdtest.Fill(1, 0, 4096))
	st, err := os.Stat(src)
	if err != nil {
		t.Fatal(err)
	}
	img := vhdtest.Volume(t, filepath.Join(dir, "lv.img"), src, lvSize)
	if !footerAtEnd {
		vhdtest.Patch(t, img, lvSize-vhd.FooterSize, make([]byte, vhd.FooterSize)...)
	}
	return img, st.Size() - vhd.FooterSize
}

// TestBlockDevice runs the commands SM gives a VHD on an LVM SR against a
// loop device, as blktap's vhd-util accepts any path it can read: the
// footer at the device's end (or, failing that, the copy at offset 0),
// writes kept inside the device. The outputs and bytes are blktap's,
// checked against it when VHDKIT_VHDUTIL names one. "$V" in arguments and
// outputs stands for the device, "$D" in arguments for the test's
// directory.
func TestBlockDevice(t *testing.T) {
	hidden := func(want uint8) func(t *testing.T, img string) {
		return func(t *testing.T, img string) {
			f, err := vhd.Open(img)
			if err != nil {
				t.Fatalf("the volume's image does not open: %v", err)
			}
			defer f.Close()
			if f.Footer.Hidden != want {
				t.Errorf("hidden %d after the command, want %d", f.Footer.Hidden, want)
			}
		}
	}
	footerAtEnd := func(t *testing.T, img string) {
		b, err := os.ReadFile(img)
		if err != nil {
			t.Fatal(err)
		}
		var ft vhd.Footer
		if err := ft.UnmarshalBinary(b[lvSize-vhd.FooterSize:]); err != nil || !ft.ChecksumValid() {
			t.Errorf("no valid footer at the volume's end after the command (%v)", err)
		}
	}
	for _, tc := range []struct {
		name        string
		footerAtEnd bool
		args        []string
		want        result
		then        func(t *testing.T, img string) // with the device detached
		unchanged   bool                           // the image must be byte-identical afterwards
		// zeroesOldFooter: where blktap leaves the footer that followed
		// the data, the drop-in writes zeros (README, differences).
		zeroesOldFooter bool
	}{
		{name: "query", footerAtEnd: true, args: []string{"query", "-n", "$V", "-v", "-s", "-f", "-m", "-a", "-S", "-d"},
			want: result{Stdout: "8\n2101760\nhidden: 0\nmarker: 0\nchain depth: 1\n1\n8\n"}, unchanged: true},
		{name: "query from the copy at 0", args: []string{"query", "-n", "$V", "-v", "-f"},
			want: result{Stdout: "8\nhidden: 0\n"}, unchanged: true},
		{name: "query -p", footerAtEnd: true, args: []string{"query", "-n", "$V", "-p"},
			want: result{Stdout: "$V has no parent\n"}, unchanged: true},
		{name: "check", footerAtEnd: true, args: []string{"check", "-n", "$V"},
			want: result{Stdout: "$V is valid\n"}, unchanged: true},
		{name: "check -i without the footer at the end", args: []string{"check", "-i", "-n", "$V"},
			want: result{Stdout: "$V is valid\n"}, unchanged: true},
		{name: "set hidden", footerAtEnd: true, args: []string{"set", "-n", "$V", "-f", "hidden", "-v", "1"},
			then: hidden(1)},
		{name: "modify -s moves the footer to the end", args: []string{"modify", "-n", "$V", "-s", "12582912"},
			then: footerAtEnd},
		{name: "repair writes the footer at the end", args: []string{"repair", "-n", "$V"},
			then: footerAtEnd},
		{name: "resize -j with the table growing in its sectors", footerAtEnd: true,
			args: []string{"resize", "-n", "$V", "-s", "100", "-j", "$D/journal"},
			then: func(t *testing.T, img string) {
				f, err := vhd.Open(img)
				if err != nil {
					t.Fatalf("the volume's image does not open: %v", err)
				}
				defer f.Close()
				if got := f.VirtualSize(); got != 100*mib {
					t.Errorf("virtual size %d after resize, want %d", got, 100*mib)
				}
			}},
		{name: "fill", footerAtEnd: true, args: []string{"fill", "-n", "$V"}, zeroesOldFooter: true,
			then: func(t *testing.T, img string) {
				f, err := vhd.Open(img)
				if err != nil {
					t.Fatalf("the volume's image does not open: %v", err)
				}
				defer f.Close()
				if n, err := f.AllocatedBlocks(); err != nil || n != 4 {
					t.Errorf("%d blocks allocated after fill (%v), want 4", n, err)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := tempDir(t)
			img, oldFooter := lvImage(t, dir, tc.footerAtEnd)
			before, err := os.ReadFile(img)
			if err != nil {
				t.Fatal(err)
			}
			dev, detach := vhdtest.LoopDevice(t, img)
			args := make([]string, len(tc.args))
			for i, a := range tc.args {
				args[i] = strings.NewReplacer("$V", dev, "$D", dir).Replace(a)
			}
			got := invoke(args...)
			detach()
			got.Stdout = strings.ReplaceAll(got.Stdout, dev, "$V")
			got.Stderr = strings.ReplaceAll(got.Stderr, dev, "$V")
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("vhd-util %s: (-want +got)\n%s", strings.Join(tc.args, " "), diff)
			}
			after, err := os.ReadFile(img)
			if err != nil {
				t.Fatal(err)
			}
			if tc.unchanged && !bytes.Equal(before, after) {
				t.Errorf("vhd-util %s changed the volume at byte %d", strings.Join(tc.args, " "), firstDiff(before, after))
			}
			if tc.then != nil {
				tc.then(t, img)
			}
			ref := reference(t)
			if ref == "" {
				return
			}
			rdir := t.TempDir()
			rimg, _ := lvImage(t, rdir, tc.footerAtEnd)
			rdev, rdetach := vhdtest.LoopDevice(t, rimg)
			for i, a := range tc.args {
				args[i] = strings.NewReplacer("$V", rdev, "$D", rdir).Replace(a)
			}
			theirs := runReference(t, ref, rdir, args)
			rdetach()
			theirs.Stdout = strings.ReplaceAll(theirs.Stdout, rdev, "$V")
			theirs.Stderr = strings.ReplaceAll(theirs.Stderr, rdev, "$V")
			if diff := cmp.Diff(theirs, got); diff != "" {
				t.Errorf("vhd-util %s: drop-in and reference differ (-reference +drop-in):\n%s", strings.Join(tc.args, " "), diff)
			}
			rafter, err := os.ReadFile(rimg)
			if err != nil {
				t.Fatal(err)
			}
			if tc.zeroesOldFooter {
				old := after[oldFooter : oldFooter+vhd.FooterSize]
				if !bytes.Equal(old, make([]byte, vhd.FooterSize)) {
					t.Errorf("the footer that followed the data, at %d, is not zeroed", oldFooter)
				}
				copy(rafter[oldFooter:], old)
			}
			if !bytes.Equal(after, rafter) {
				t.Errorf("after vhd-util %s the volumes differ at byte %d", strings.Join(tc.args, " "), firstDiff(after, rafter))
			}
		})
	}
}

// TestBlockDeviceParent links disks to a parent on a block device, as SM
// does on an LVM SR: snapshot of a parent on a device, and modify -p of a
// child on a device to that parent. "$P" and "$C" stand for the parent's
// and the child's devices. Each step's output is blktap's, compared with it
// when VHDKIT_VHDUTIL names one.
func TestBlockDeviceParent(t *testing.T) {
	steps := []struct {
		args []string
		want result
	}{
		{[]string{"snapshot", "-n", "s.vhd", "-p", "$P"}, result{}},
		{[]string{"query", "-n", "s.vhd", "-p", "-d"}, result{Stdout: "$P\nchain depth: 2\n"}},
		{[]string{"check", "-p", "-n", "s.vhd"}, result{Stdout: "s.vhd is valid\n$P is valid\n"}},
		{[]string{"modify", "-n", "$C", "-p", "$P"}, result{}},
		{[]string{"query", "-n", "$C", "-p", "-d"}, result{Stdout: "$P\nchain depth: 2\n"}},
		{[]string{"check", "-p", "-n", "$C"}, result{Stdout: "$C is valid\n$P is valid\n"}},
	}
	// run makes the two volumes in dir, runs the steps through exec and
	// returns their results with the devices replaced by "$P" and "$C".
	run := func(dir string, exec func(args []string) result) []result {
		pimg, _ := lvImage(t, dir, true)
		pdev, _ := vhdtest.LoopDevice(t, pimg)
		other := vhdtest.Dynamic(t, filepath.Join(dir, "other.vhd"), 8*mib, nil)
		child := vhdtest.Child(t, filepath.Join(dir, "child.vhd"), other, nil, vhdtest.Fill(2, 0, 512))
		cdev, _ := vhdtest.LoopDevice(t, vhdtest.Volume(t, filepath.Join(dir, "child.img"), child, lvSize))
		devices := strings.NewReplacer("$P", pdev, "$C", cdev)
		names := strings.NewReplacer(pdev, "$P", cdev, "$C")
		var got []result
		for _, st := range steps {
			args := make([]string, len(st.args))
			for i, a := range st.args {
				args[i] = devices.Replace(a)
			}
			r := exec(args)
			r.Stdout, r.Stderr = names.Replace(r.Stdout), names.Replace(r.Stderr)
			got = append(got, r)
		}
		return got
	}
	ours := run(tempDir(t), func(args []string) result { return invoke(args...) })
	for i, st := range steps {
		if diff := cmp.Diff(st.want, ours[i]); diff != "" {
			t.Errorf("vhd-util %s: (-want +got)\n%s", strings.Join(st.args, " "), diff)
		}
	}
	ref := reference(t)
	if ref == "" {
		return
	}
	rdir := t.TempDir()
	theirs := run(rdir, func(args []string) result { return runReference(t, ref, rdir, args) })
	for i, st := range steps {
		if diff := cmp.Diff(theirs[i], ours[i]); diff != "" {
			t.Errorf("vhd-util %s: drop-in and reference differ (-reference +drop-in):\n%s", strings.Join(st.args, " "), diff)
		}
	}
}

// TestBlockDeviceCoalesce coalesces a child on a block device into its
// parent on another, as SM's garbage collector does on an LVM SR: the
// child is relinked to the parent's device (modify -p), then coalesced.
// The parent then reads the child's data, its footer still at the
// volume's end; with VHDKIT_VHDUTIL the output and the parent's bytes are
// blktap's.
func TestBlockDeviceCoalesce(t *testing.T) {
	data := vhdtest.Fill(3, 2*mib-32<<10, 64<<10) // across two blocks
	run := func(dir string, exec func(args []string) result) ([]result, []byte) {
		pimg, _ := lvImage(t, dir, true)
		child := vhdtest.Child(t, filepath.Join(dir, "child.vhd"), filepath.Join(dir, "src.vhd"), nil, data)
		pdev, pdetach := vhdtest.LoopDevice(t, pimg)
		cdev, _ := vhdtest.LoopDevice(t, vhdtest.Volume(t, filepath.Join(dir, "child.img"), child, lvSize))
		names := strings.NewReplacer(pdev, "$P", cdev, "$C")
		var got []result
		for _, args := range [][]string{{"modify", "-n", cdev, "-p", pdev}, {"coalesce", "-n", cdev}} {
			r := exec(args)
			r.Stdout, r.Stderr = names.Replace(r.Stdout), names.Replace(r.Stderr)
			got = append(got, r)
		}
		pdetach()
		b, err := os.ReadFile(pimg)
		if err != nil {
			t.Fatal(err)
		}
		return got, b
	}
	dir := tempDir(t)
	ours, parent := run(dir, func(args []string) result { return invoke(args...) })
	if diff := cmp.Diff([]result{{}, {Stdout: "Coalesced 128 sectors"}}, ours); diff != "" {
		t.Errorf("modify -p, then coalesce (-want +got):\n%s", diff)
	}
	if !bytes.Equal(parent[lvSize-vhd.FooterSize:], parent[:vhd.FooterSize]) {
		t.Errorf("the parent's footer at the volume's end is not its footer copy at 0")
	}
	p, err := vhd.New(bytes.NewReader(parent), int64(len(parent)))
	if err != nil {
		t.Fatalf("the parent's volume does not open: %v", err)
	}
	got := make([]byte, len(data.Data))
	if _, err := p.ReadAt(got, data.Offset); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data.Data) {
		t.Errorf("the parent does not read the child's data at %d after coalesce", data.Offset)
	}
	ref := reference(t)
	if ref == "" {
		return
	}
	rdir := t.TempDir()
	theirs, rparent := run(rdir, func(args []string) result { return runReference(t, ref, rdir, args) })
	if diff := cmp.Diff(theirs, ours); diff != "" {
		t.Errorf("drop-in and reference differ (-reference +drop-in):\n%s", diff)
	}
	if !bytes.Equal(parent, rparent) {
		t.Errorf("after coalesce the parents' volumes differ at byte %d", firstDiff(parent, rparent))
	}
}
