package vhd_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/vhdkit/vhdkit/vhd"
	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

// TestInteropRepairedAndGrown: qemu-img and python3-libvhdi read a
// repaired file (its primary footer had been cut off) and a grown one as
// vhdkit wrote them: the old data, zeros beyond (libvhdi: see below).
func TestInteropRepairedAndGrown(t *testing.T) {
	// Writes end on 4 KiB boundaries, around libvhdi 20210425's bitmap bug.
	w := []vhdtest.Write{vhdtest.Fill(1, 0, 8192), vhdtest.Fill(2, 5*mib, 2*mib)}
	dir := t.TempDir()
	repaired := vhdtest.Dynamic(t, filepath.Join(dir, "r.vhd"), 10*mib, nil, w...)
	truncate(t, repaired, -512)
	f, err := vhd.OpenFile(repaired, os.O_RDWR)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Repair(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	f.Close()

	orig, img := roomyDisk(t, 10*mib, 40*mib, w...)
	grown := filepath.Join(dir, "g.vhd")
	if err := os.WriteFile(grown, orig, 0o644); err != nil {
		t.Fatal(err)
	}
	if f, err = vhd.OpenFile(grown, os.O_RDWR); err != nil {
		t.Fatal(err)
	}
	if err := f.Grow(context.Background(), 40*mib, nil); err != nil {
		t.Fatal(err)
	}
	f.Close()

	cases := []struct {
		path string
		want []byte
	}{
		{repaired, img},
		{grown, append(append([]byte(nil), img...), make([]byte, 30*mib)...)},
	}
	t.Run("qemu-img", func(t *testing.T) {
		qemu := vhdtest.Tool(t, "qemu-img")
		for _, c := range cases {
			if n := qemuVirtualSize(t, qemu, c.path); n != int64(len(c.want)) {
				t.Errorf("%s: qemu-img says %d bytes, want %d", c.path, n, len(c.want))
			}
			raw := c.path + ".raw"
			if out, err := exec.Command(qemu, "convert", "-f", "vpc", "-O", "raw", c.path, raw).CombinedOutput(); err != nil {
				t.Fatalf("qemu-img convert: %v\n%s", err, out)
			}
			if got := fileBytesOf(t, raw); !bytes.Equal(got, c.want) {
				t.Errorf("%s: qemu-img reads it differently, first difference at %d", c.path, firstDifference(got, c.want))
			}
		}
	})
	// libvhdi 20210425 sizes a disk by the footer's original size, which
	// resize leaves as it was (blktap's does too): it reads the grown disk's
	// first 10 MiB, the old data.
	cases[1].want = img
	t.Run("python3-libvhdi", func(t *testing.T) {
		for _, c := range cases {
			out := c.path + ".pyvhdi"
			vhdtest.PyVHDIRead(t, out, c.path)
			if got := fileBytesOf(t, out); !bytes.Equal(got, c.want) {
				t.Errorf("%s: libvhdi reads it differently (%d bytes, want %d), first difference at %d", c.path, len(got), len(c.want), firstDifference(got, c.want))
			}
		}
	})
}
