package main

import (
	"context"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vhdkit/vhdkit/chain"
	"github.com/vhdkit/vhdkit/vhd"
	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

// bigCoalesceChain builds, in dir, p.vhd (512 MiB, its first 96 MiB
// written) and c.vhd, a child of 180 allocated blocks: 120 whole blocks,
// half of them over the parent's data, and 60 blocks written in four
// partial runs (1 MiB of data each); every block's data is its own. It
// returns the child's allocated data bytes.
func bigCoalesceChain(tb testing.TB, dir string) int64 {
	tb.Helper()
	const size = 512 * mib
	p := filepath.Join(dir, "p.vhd")
	f, err := vhd.Create(p, &vhd.CreateOptions{Type: vhd.DiskDynamic, Size: size, Time: vhdtest.Epoch, Overwrite: true})
	if err != nil {
		tb.Fatal(err)
	}
	chunk := vhdtest.Pattern(1, 8*mib)
	for off := int64(0); off < 96*mib; off += int64(len(chunk)) {
		if _, err := f.WriteAt(chunk, off); err != nil {
			tb.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
	c := vhdtest.Child(tb, filepath.Join(dir, "c.vhd"), p, &vhdtest.Options{Hidden: 1})
	cf, err := vhd.OpenFile(c, os.O_RDWR)
	if err != nil {
		tb.Fatal(err)
	}
	var data int64
	for i := int64(0); i < 120; i++ {
		blk := 16 + i*2 // every other block from 32 MiB: over the parent's data, then past it
		block := vhdtest.Pattern(uint64(blk), 2*mib)
		if _, err := cf.WriteAt(block, blk*2*mib); err != nil {
			tb.Fatal(err)
		}
		data += 2 * mib
	}
	for i := int64(0); i < 60; i++ {
		blk := 17 + i*4
		block := vhdtest.Pattern(uint64(blk), 256*1024)
		for r := int64(0); r < 4; r++ {
			off := blk*2*mib + r*512*1024 + 512*(3+r)
			if _, err := cf.WriteAt(block[:256*1024], off); err != nil {
				tb.Fatal(err)
			}
		}
		data += 2 * mib
	}
	if err := cf.Close(); err != nil {
		tb.Fatal(err)
	}
	return data
}

func copyFile(tb testing.TB, from, to string) {
	tb.Helper()
	in, err := os.Open(from)
	if err != nil {
		tb.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		tb.Fatal(err)
	}
	if err := out.Close(); err != nil {
		tb.Fatal(err)
	}
}

func sumFile(tb testing.TB, path string) [32]byte {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		tb.Fatal(err)
	}
	var s [32]byte
	h.Sum(s[:0])
	return s
}

// TestCoalesceSIGKILL runs the built command on a child of about 300 MiB,
// kills it with SIGKILL at random moments, checks the parent after each
// kill, and reruns it to completion: the parent must end byte-identical to
// an uninterrupted run's.
func TestCoalesceSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("coalesces several hundred MiB; skipped with -short")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("go tool not found: %v", err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "vhd-util")
	if out, err := exec.Command(goTool, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	bigCoalesceChain(t, dir)
	p, pristine := filepath.Join(dir, "p.vhd"), filepath.Join(dir, "p.orig")
	copyFile(t, p, pristine)
	childSum := sumFile(t, filepath.Join(dir, "c.vhd"))

	coalesce := func() *exec.Cmd {
		cmd := exec.Command(bin, "coalesce", "-n", "c.vhd")
		cmd.Dir = dir
		return cmd
	}
	start := time.Now()
	if out, err := coalesce().CombinedOutput(); err != nil || !strings.HasPrefix(string(out), "Coalesced ") {
		t.Fatalf("uninterrupted run: %v: %s", err, out)
	}
	full := time.Since(start)
	want := sumFile(t, p)

	r := rand.New(rand.NewPCG(1, 2))
	kills, rounds := 0, 6
	deadline := time.Now().Add(30 * time.Second)
	for round := 0; round < rounds && time.Now().Before(deadline); round++ {
		copyFile(t, pristine, p)
		// Kill up to three times in a row, each run at a random moment of
		// an uninterrupted run's duration, then let one finish.
		for k := 0; k < 3; k++ {
			cmd := coalesce()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Duration(r.Int64N(int64(full))))
			cmd.Process.Signal(syscall.SIGKILL)
			err := cmd.Wait()
			if ee, ok := err.(*exec.ExitError); ok && ee.ProcessState.Sys().(syscall.WaitStatus).Signaled() {
				kills++
			}
			if _, err := vhd.CheckFile(context.Background(), p, &vhd.CheckOptions{Parents: chain.CompatResolver()}); err != nil {
				t.Fatalf("round %d, kill %d: parent fails check: %v", round, k, err)
			}
		}
		if out, err := coalesce().CombinedOutput(); err != nil {
			t.Fatalf("round %d: rerun: %v: %s", round, err, out)
		}
		if sumFile(t, p) != want {
			t.Fatalf("round %d: the parent differs from an uninterrupted run's", round)
		}
	}
	if sumFile(t, filepath.Join(dir, "c.vhd")) != childSum {
		t.Error("the child was written")
	}
	if kills == 0 {
		t.Error("no run was killed before it finished")
	}
	t.Logf("uninterrupted run %v; %d runs killed", full, kills)
}
