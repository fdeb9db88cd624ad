package vhd_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/vhdkit/vhdkit/vhd"
	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

// TestInteropTableGrown: qemu-img and python3-libvhdi read disks whose
// table Grow grew, in place and by moving blocks, as vhdkit wrote them:
// the old data, zeros beyond (libvhdi: see below).
func TestInteropTableGrown(t *testing.T) {
	// Writes end on 4 KiB boundaries, around libvhdi 20210425's bitmap
	// bug; its reads never cross a block (2 MiB blocks).
	w := []vhdtest.Write{vhdtest.Fill(1, 0, 8192), vhdtest.Fill(2, 5*mib, 2*mib), vhdtest.Fill(3, 10*mib-4096, 4096)}
	dir := t.TempDir()
	img := make([]byte, 10*mib)
	for _, x := range w {
		copy(img[x.Offset:], x.Data)
	}
	type growCase struct {
		path string
		size int64
	}
	var cases []growCase
	for _, size := range []int64{100 * mib, 300 * mib, 200 << 30} {
		p := vhdtest.Dynamic(t, filepath.Join(dir, fmt.Sprintf("g%d.vhd", len(cases))), 10*mib, nil, w...)
		f, err := vhd.OpenFile(p, os.O_RDWR)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Grow(context.Background(), size, &vhd.GrowOptions{GrowTable: true}); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		cases = append(cases, growCase{p, size})
	}
	t.Run("qemu-img", func(t *testing.T) {
		qemu := vhdtest.Tool(t, "qemu-img")
		for _, c := range cases {
			if n := qemuVirtualSize(t, qemu, c.path); n != c.size {
				t.Errorf("%s: qemu-img says %d bytes, want %d", c.path, n, c.size)
			}
			if c.size > 1<<30 {
				continue // not converted whole: the layout is the 300 MiB case's
			}
			raw := c.path + ".raw"
			if out, err := exec.Command(qemu, "convert", "-f", "vpc", "-O", "raw", c.path, raw).CombinedOutput(); err != nil {
				t.Fatalf("qemu-img convert: %v\n%s", err, out)
			}
			want := append(bytes.Clone(img), make([]byte, c.size-int64(len(img)))...)
			if got := fileBytesOf(t, raw); !bytes.Equal(got, want) {
				t.Errorf("%s: qemu-img reads it differently, first difference at %d", c.path, firstDifference(got, want))
			}
			os.Remove(raw)
		}
	})
	// libvhdi 20210425 sizes a disk by the footer's original size, which
	// resize leaves as it was (blktap's does too): it reads the grown
	// disks' first 10 MiB, the old data, through the new table.
	t.Run("python3-libvhdi", func(t *testing.T) {
		for _, c := range cases {
			out := c.path + ".pyvhdi"
			vhdtest.PyVHDIRead(t, out, c.path)
			if got := fileBytesOf(t, out); !bytes.Equal(got, img) {
				t.Errorf("%s: libvhdi reads it differently (%d bytes, want %d), first difference at %d", c.path, len(got), len(img), firstDifference(got, img))
			}
		}
	})
}
