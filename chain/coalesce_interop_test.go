package chain

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

// TestCoalesceInterop coalesces children into dynamic, fixed and
// differencing parents and has python3-libvhdi, and qemu-img for parents
// without a parent of their own, read the result: it must be what vhdkit
// read through the child before. Every written run ends on a 4 KiB
// boundary, around libvhdi 20210425's misreading of a clear bit after a
// set one in the same bitmap byte; blocks are 2 MiB.
func TestCoalesceInterop(t *testing.T) {
	vhdtest.PyVHDI(t)
	qemu := vhdtest.Tool(t, "qemu-img")
	const size = 12 * miB
	pw := []vhdtest.Write{vhdtest.Fill(1, 0, 3*miB), vhdtest.Fill(2, 7*miB+512, 4096-512)}
	cw := []vhdtest.Write{
		vhdtest.Fill(3, 512*3, 2*miB-512*3),          // over parent data, ending on a block
		vhdtest.Fill(4, 2*miB+512*5, 8192-512*5),     // partial run in a parent block
		vhdtest.Fill(5, 5*miB, 2*miB),                // a whole block the parent lacks
		vhdtest.Fill(6, 9*miB+512, 4096-512),         // a partial block the parent lacks
		{Offset: 8 * miB, Data: make([]byte, 4096)},  // zeros
		vhdtest.Fill(7, size-8192+512*2, 8192-512*2), // the last block
	}
	for _, kind := range []string{"dynamic", "fixed", "differencing"} {
		t.Run(kind, func(t *testing.T) {
			dir := t.TempDir()
			var parent []string
			p := filepath.Join(dir, "p.vhd")
			switch kind {
			case "dynamic":
				parent = []string{vhdtest.Dynamic(t, p, size, nil, pw...)}
			case "fixed":
				parent = []string{vhdtest.Fixed(t, p, size, nil, pw...)}
			case "differencing":
				g := vhdtest.Dynamic(t, filepath.Join(dir, "g.vhd"), size, nil, vhdtest.Fill(8, miB, 6*miB))
				parent = []string{vhdtest.Child(t, p, g, nil, pw...), g}
			}
			c := vhdtest.Child(t, filepath.Join(dir, "c.vhd"), p, nil)
			vhdtest.WriteChain(t, append([]string{c}, parent...), cw...)
			want := readChildView(t, c, "")
			if _, err := Coalesce(context.Background(), c, &CoalesceOptions{Mode: Compat}); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, "libvhdi.raw")
			vhdtest.PyVHDIRead(t, out, parent...)
			if got := readRaw(t, out); !bytes.Equal(got, want) {
				t.Errorf("libvhdi reads the parent differently at byte %d", firstDiff(got, want))
			}
			if kind == "differencing" {
				return
			}
			qout := filepath.Join(dir, "qemu.raw")
			if b, err := exec.Command(qemu, "convert", "-f", "vpc", "-O", "raw", p, qout).CombinedOutput(); err != nil {
				t.Fatalf("qemu-img convert: %v\n%s", err, b)
			}
			got := readRaw(t, qout)
			if len(got) < len(want) || !bytes.Equal(got[:len(want)], want) {
				t.Errorf("qemu-img reads the parent differently at byte %d", firstDiff(got, want))
			}
			os.Remove(qout)
		})
	}
}
