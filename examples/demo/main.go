// Command demo shows vhdkit's main job end to end, on any Linux machine,
// with no arguments and no external tools:
//
//  1. it makes a temporary storage repository (SR) holding a 3-deep VHD
//     chain (base, snapshot, leaf) with a few hundred MiB of mixed data:
//     pseudo-random bytes, text and zeros;
//  2. uploads the chain from the SR to a tar.gz image, as the Glance upload
//     does (staging.Export);
//  3. downloads the image into a second SR, as the Glance download does
//     (staging.Import: extract, check, relink, validate, move in all or
//     nothing);
//  4. proves the imported chain valid (chain.Validate, confined to the SR)
//     and its virtual disk identical to the source's (SHA-256 of a
//     read-through of each chain);
//  5. prints sizes, times and throughput, and removes everything.
//
// Run it with "go run ./examples/demo"; -keep leaves the files in place and
// says where. Sizes are in MiB, rates in MiB/s.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/vhdkit/vhdkit/chain"
	"github.com/vhdkit/vhdkit/examples/internal/console"
	"github.com/vhdkit/vhdkit/staging"
	"github.com/vhdkit/vhdkit/vhd"
)

func main() {
	keep := flag.Bool("keep", false, "keep the temporary SRs and image")
	scale := flag.Int("mib", 256, "MiB of data written across the chain, in whole 2 MiB blocks")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Stdout, *scale, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, w io.Writer, scale int, keep bool) (err error) {
	tmp, err := os.MkdirTemp("", "vhdkit-demo-")
	if err != nil {
		return err
	}
	if !keep {
		defer func() { err = errors.Join(err, os.RemoveAll(tmp)) }()
	}
	sr1, sr2 := filepath.Join(tmp, "sr1"), filepath.Join(tmp, "sr2")
	for _, d := range []string{sr1, sr2} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return err
		}
	}

	fmt.Fprintf(w, "vhdkit demo: a 3-deep VHD chain through upload and download\n\n")
	t0 := time.Now()
	leaf, written, err := makeChain(sr1, int64(scale)<<20)
	if err != nil {
		return fmt.Errorf("building the chain: %w", err)
	}
	fmt.Fprintf(w, "1. built a chain in %s (%s of data, %v)\n", sr1, console.Bytes(written), since(t0))
	if err := describe(ctx, w, sr1, leaf); err != nil {
		return err
	}

	// Upload: the chain, walked from its leaf inside the SR, to a tar.gz.
	image := filepath.Join(tmp, "image.tgz")
	f, err := os.Create(image)
	if err != nil {
		return err
	}
	t1 := time.Now()
	up, err := staging.Export(ctx, f, sr1, []vhd.UUID{leaf}, &staging.ExportOptions{Chain: true})
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	upTime := time.Since(t1)
	fmt.Fprintf(w, "\n2. upload (staging.Export, gzip level 6 on every core)\n")
	fmt.Fprintf(w, "   %d VHDs, %s of files -> %s image in %v: %s in, %s out\n",
		len(up.VDIs), console.Bytes(up.Logical), console.Bytes(up.Compressed), round(upTime), console.Rate(up.Logical, upTime), console.Rate(up.Compressed, upTime))

	// Download: the image into the second SR, with fresh UUIDs.
	in, err := os.Open(image)
	if err != nil {
		return err
	}
	defer in.Close()
	t2 := time.Now()
	down, err := staging.Import(ctx, in, sr2, nil)
	if err != nil {
		return fmt.Errorf("download: %w", err)
	}
	downTime := time.Since(t2)
	fmt.Fprintf(w, "\n3. download (staging.Import: extract, check, relink, validate, fsync, move in)\n")
	fmt.Fprintf(w, "   %s image -> %s of files in %v: %s in, %s out; leaf %s\n",
		console.Bytes(down.Compressed), console.Bytes(down.Logical), round(downTime), console.Rate(down.Compressed, downTime),
		console.Rate(down.Logical, downTime), down.Leaf.UUID)

	// Proof: the chain validates inside SR 2 and reads the same as SR 1's.
	fmt.Fprintf(w, "\n4. checks\n")
	if err := describe(ctx, w, sr2, down.Leaf.UUID); err != nil {
		return err
	}
	t3 := time.Now()
	h1, err := diskHash(ctx, sr1, leaf)
	if err != nil {
		return err
	}
	h2, err := diskHash(ctx, sr2, down.Leaf.UUID)
	if err != nil {
		return err
	}
	if h1 != h2 {
		return fmt.Errorf("virtual disks differ: source %s, imported %s", h1, h2)
	}
	fmt.Fprintf(w, "   virtual disk SHA-256 %s… identical in both SRs (read through each chain in %v)\n", h1[:16], since(t3))
	entries, _ := os.ReadDir(sr2)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	fmt.Fprintf(w, "   SR 2 holds exactly: %s\n", strings.Join(names, " "))
	fmt.Fprintf(w, "\n5. done in %v", since(t0))
	if !keep {
		fmt.Fprintf(w, "; temporary files removed\n")
		return nil
	}
	fmt.Fprintf(w, "; files kept (remove them with: rm -r %s):\n", tmp)
	fmt.Fprintf(w, "   SR 1   %s\n   image  %s\n   SR 2   %s\n", sr1, image, sr2)
	return nil
}

// describe validates the chain of leaf in sr and prints its links.
func describe(ctx context.Context, w io.Writer, sr string, leaf vhd.UUID) error {
	c, err := chain.Validate(ctx, filepath.Join(sr, leaf.String()+".vhd"), &chain.Options{Root: sr})
	if err != nil {
		return fmt.Errorf("validating the chain in %s: %w", sr, err)
	}
	defer c.Close()
	fmt.Fprintf(w, "   chain valid (chain.Validate, confined to %s), leaf first:\n", filepath.Base(sr))
	var data, files int64
	for i, l := range c.Links {
		h, _ := l.File.Hidden()
		blocks, err := l.File.AllocatedBlocks()
		if err != nil {
			return err
		}
		role := "interior"
		switch i {
		case 0:
			role = "leaf"
		case len(c.Links) - 1:
			role = "base"
		}
		d := blocks * l.File.BlockSize()
		data += d
		files += l.File.FileSize()
		fmt.Fprintf(w, "     %-8s %-38s %-12v data %10s  file %10s  virtual %s  hidden=%d\n",
			role, filepath.Base(l.Path), l.File.DiskType(), console.Bytes(d), console.Bytes(l.File.FileSize()), console.Bytes(l.File.VirtualSize()), h)
	}
	fmt.Fprintf(w, "     %-8s %-38s %-12s data %10s  file %10s (data plus VHD metadata)\n", "total", "", "", console.Bytes(data), console.Bytes(files))
	return nil
}

// diskHash reads the whole virtual disk of leaf's chain.
func diskHash(ctx context.Context, sr string, leaf vhd.UUID) (string, error) {
	c, err := chain.Walk(ctx, filepath.Join(sr, leaf.String()+".vhd"), &chain.Options{Root: sr})
	if err != nil {
		return "", err
	}
	defer c.Close()
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(c.ReaderAt(), 0, c.Leaf().VirtualSize())); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// makeChain builds base <- middle <- leaf in sr, named <uuid>.vhd as in a
// XenServer SR, with interior links hidden, and returns the leaf's UUID and
// the bytes written: data rounded down to whole 2 MiB blocks, 15% of them
// in the leaf, 25% in the middle and the rest in the base, each link's
// blocks at distinct offsets so that every byte written is data its file
// holds. The virtual disk is 1 GiB, or more when data needs it; blocks are
// half pseudo-random, a third text, the rest zeros.
func makeChain(sr string, data int64) (vhd.UUID, int64, error) {
	const block = 2 << 20
	total := data / block
	counts := []int64{total * 15 / 100, total * 25 / 100, 0} // leaf, middle, base
	counts[2] = total - counts[0] - counts[1]
	virtual := max(int64(1<<30), counts[2]*block)
	ids := []vhd.UUID{vhd.NewUUID(), vhd.NewUUID(), vhd.NewUUID()}
	rng := rand.New(rand.NewPCG(1, 2))
	var written int64
	for i := 2; i >= 0; i-- {
		path := filepath.Join(sr, ids[i].String()+".vhd")
		opts := &vhd.CreateOptions{Type: vhd.DiskDynamic, Size: virtual, UUID: ids[i]}
		if i < 2 {
			info, err := vhd.ParentInfoFor(path, filepath.Join(sr, ids[i+1].String()+".vhd"))
			if err != nil {
				return vhd.UUID{}, 0, err
			}
			opts = &vhd.CreateOptions{Type: vhd.DiskDifferencing, Parent: info, UUID: ids[i]}
		}
		f, err := vhd.Create(path, opts)
		if err != nil {
			return vhd.UUID{}, 0, err
		}
		buf := make([]byte, block)
		// Spread the blocks over the disk; later links overwrite some of
		// their parents' blocks and add new ones.
		for b, slot := range rng.Perm(int(virtual / block))[:counts[i]] {
			fill(buf, b%6, rng)
			off := int64(slot) * block
			if _, err := f.WriteAt(buf, off); err != nil {
				f.Close()
				return vhd.UUID{}, 0, err
			}
			written += block
		}
		if i > 0 {
			if err := f.SetHidden(1); err != nil {
				f.Close()
				return vhd.UUID{}, 0, err
			}
		}
		if err := f.Close(); err != nil {
			return vhd.UUID{}, 0, err
		}
	}
	return ids[0], written, nil
}

// fill makes one block of a kind: 0-2 pseudo-random, 3-4 text, 5 zeros.
func fill(buf []byte, kind int, rng *rand.Rand) {
	switch {
	case kind < 3:
		for i := 0; i+8 <= len(buf); i += 8 {
			v := rng.Uint64()
			for j := range 8 {
				buf[i+j] = byte(v >> (8 * j))
			}
		}
	case kind < 5:
		words := []string{"vhd", "chain", "block", "sector", "footer", "header", "parent", "locator", "tapdisk", "snapshot", "coalesce", "hidden"}
		n := 0
		for n < len(buf) {
			line := fmt.Sprintf("%08d %s %s: %s %d\n", rng.IntN(1e8), words[rng.IntN(len(words))], words[rng.IntN(len(words))], words[rng.IntN(len(words))], rng.IntN(1<<20))
			n += copy(buf[n:], line)
		}
	default:
		clear(buf)
	}
}

func round(d time.Duration) time.Duration { return d.Round(time.Millisecond) }

func since(t time.Time) time.Duration { return round(time.Since(t)) }
