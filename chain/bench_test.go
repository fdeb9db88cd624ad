package chain_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/vhdkit/vhdkit/chain"
	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

// BenchmarkValidate30x100GiB validates a 30-deep chain of 100 GiB dynamic
// and differencing disks (blktap layout, 51200-entry BATs), each link with
// a few allocated blocks, in confined mode: the walk, vhd.CheckFile of every
// link with its parent rules, and the chain rules.
func BenchmarkValidate30x100GiB(b *testing.B) {
	const depth, size = 30, 100 << 30
	dir := realPath(b, b.TempDir())
	writes := func(i int) []vhdtest.Write {
		var w []vhdtest.Write
		for k := range 4 {
			blk := int64((i*131 + k*12007) % 51200)
			w = append(w, vhdtest.Fill(uint64(i*10+k), blk*2*mib+int64(k)*4096, 64<<10))
		}
		return w
	}
	paths := vhdtest.Chain(b, dir, depth, size, nil, writes)
	opts := &chain.Options{Root: dir}
	ctx := context.Background()
	for b.Loop() {
		c, err := chain.Validate(ctx, paths[0], opts)
		if err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}

// readThroughFixture builds, in dir, a 1 GiB 3-deep chain with substantial
// data (half the base's blocks full, the middle link overwriting an eighth
// of the blocks and parts of others, the leaf overwriting a sixteenth and
// scattered sectors) and a qemu-img dynamic disk (force_size, so exactly 1
// GiB) holding the same virtual disk. It returns the leaf and the qemu
// disk; qemuDisk is "" when qemu-img is absent.
func readThroughFixture(b *testing.B, dir string) (leaf, qemuDisk string) {
	const size = 1 << 30
	const blocks = size / (2 * mib)
	writes := func(i int) []vhdtest.Write {
		var w []vhdtest.Write
		for blk := int64(0); blk < blocks; blk++ {
			off := blk * 2 * mib
			switch i {
			case 2: // base
				if blk%2 == 0 {
					w = append(w, vhdtest.Fill(uint64(blk), off, 2*mib))
				}
			case 1:
				if blk%8 == 1 {
					w = append(w, vhdtest.Fill(uint64(1000+blk), off, 2*mib))
				} else if blk%8 == 2 {
					w = append(w, vhdtest.Fill(uint64(2000+blk), off+100<<10, 64<<10))
				}
			case 0:
				if blk%16 == 4 {
					w = append(w, vhdtest.Fill(uint64(3000+blk), off, 2*mib))
				} else if blk%4 == 0 {
					w = append(w, vhdtest.Fill(uint64(4000+blk), off+mib, 4096))
				}
			}
		}
		return w
	}
	paths := vhdtest.Chain(b, dir, 3, size, nil, writes)
	leaf = paths[0]

	qemu, err := exec.LookPath("qemu-img")
	if err != nil {
		return leaf, ""
	}
	c, err := chain.Walk(context.Background(), leaf, &chain.Options{Root: dir})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	raw := filepath.Join(dir, "image.raw")
	f, err := os.Create(raw)
	if err != nil {
		b.Fatal(err)
	}
	if err := c.WriteRaw(context.Background(), f, nil); err != nil {
		b.Fatal(err)
	}
	f.Close()
	qemuDisk = filepath.Join(dir, "qemu.vhd")
	if out, err := exec.Command(qemu, "convert", "-f", "raw", "-O", "vpc", "-o", "subformat=dynamic,force_size=on", raw, qemuDisk).CombinedOutput(); err != nil {
		b.Fatalf("qemu-img convert: %v\n%s", err, out)
	}
	os.Remove(raw)
	return leaf, qemuDisk
}

// BenchmarkReadThrough1GiB converts a 1 GiB virtual disk to a raw file: the
// 3-deep chain with Chain.WriteRaw ("vhdkit", to a new file on the same
// file system, as qemu-img writes one), and a dynamic disk with the same
// data with qemu-img convert -f vpc -O raw ("qemu-img"; qemu cannot read a
// differencing chain). Both read from the page cache.
func BenchmarkReadThrough1GiB(b *testing.B) {
	dir := realPath(b, b.TempDir())
	leaf, qemuDisk := readThroughFixture(b, dir)
	out := filepath.Join(dir, "out.raw")
	b.Run("vhdkit", func(b *testing.B) {
		c, err := chain.Walk(context.Background(), leaf, &chain.Options{Root: dir})
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		b.SetBytes(c.VirtualSize())
		for b.Loop() {
			f, err := os.Create(out)
			if err != nil {
				b.Fatal(err)
			}
			if err := c.WriteRaw(context.Background(), f, nil); err != nil {
				b.Fatal(err)
			}
			if err := f.Close(); err != nil {
				b.Fatal(err)
			}
			os.Remove(out)
		}
	})
	b.Run("qemu-img", func(b *testing.B) {
		if qemuDisk == "" {
			if vhdtest.InteropRequired() {
				b.Fatal("qemu-img is not installed (VHDKIT_INTEROP=required)")
			}
			b.Skip("qemu-img is not installed")
		}
		b.SetBytes(1 << 30)
		for b.Loop() {
			if o, err := exec.Command("qemu-img", "convert", "-f", "vpc", "-O", "raw", qemuDisk, out).CombinedOutput(); err != nil {
				b.Fatalf("qemu-img convert: %v\n%s", err, o)
			}
			os.Remove(out)
		}
	})
}
