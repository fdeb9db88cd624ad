package vhd_test

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/vhdkit/vhdkit/vhd"
	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

// TestClaimedBATBoundedMemory: a 20 MiB disk whose header claims 2^28 BAT
// entries (a 1 GiB table, and a 32 MiB batmap) in a sparse file is opened,
// checked and read with at most 64 MiB allocated in all: only the entries
// and map bytes the virtual size needs are read. blktap's vhd-util calls
// the file valid, and so must Check.
func TestClaimedBATBoundedMemory(t *testing.T) {
	p := vhdtest.ClaimedBAT(t, filepath.Join(t.TempDir(), "claim.vhd"), 20*mib, 1<<28)
	if st, err := os.Stat(p); err != nil || st.Size() < 1<<30 {
		t.Fatalf("stat: %v", err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	for _, o := range []*vhd.CheckOptions{nil, {Compat: true}} {
		if rep, err := vhd.CheckFile(context.Background(), p, o); err != nil || !rep.Valid() {
			t.Errorf("CheckFile(%+v): %v", o, err)
		}
	}
	f, err := vhd.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	bat, err := f.BAT()
	if err != nil || len(bat) != 10 {
		t.Errorf("BAT: %d entries, %v", len(bat), err)
	}
	if bm, err := f.Batmap(); err != nil || len(bm.Map) > 512 {
		t.Errorf("Batmap: %v", err)
	}
	if n, err := f.AllocatedBlocks(); n != 0 || err != nil {
		t.Errorf("AllocatedBlocks = %d, %v", n, err)
	}
	if _, err := f.PhysicalSize(); err != nil {
		t.Errorf("PhysicalSize: %v", err)
	}
	buf := make([]byte, mib)
	for off := int64(0); off < f.VirtualSize(); off += mib {
		if _, err := f.ReadAt(buf, off); err != nil && err != io.EOF {
			t.Fatalf("ReadAt(%d): %v", off, err)
		}
	}
	runtime.ReadMemStats(&after)
	if d := after.TotalAlloc - before.TotalAlloc; d > 64<<20 {
		t.Errorf("allocated %d MiB in all, want at most 64", d>>20)
	}
	if after.HeapInuse > 64<<20 {
		t.Errorf("heap in use %d MiB, want at most 64", after.HeapInuse>>20)
	}
}

// TestAllocatedBlocksUnalignedBAT: blktap reads the BAT with O_DIRECT, so a
// table offset that is not a multiple of 512 fails ("error reading bat:
// -22" from vhd-util query -a); AllocatedBlocks must not count entries
// from the bytes an unaligned table offset points at. With VHDKIT_VHDUTIL
// naming blktap's vhd-util, its query -a is compared too.
func TestAllocatedBlocksUnalignedBAT(t *testing.T) {
	dir := t.TempDir()
	base := vhdtest.Dynamic(t, filepath.Join(dir, "a.vhd"), 20*mib, &vhdtest.Options{Creator: vhd.Creator{'q', 'e', 'm', 'u'}},
		vhdtest.Fill(1, 0, 512), vhdtest.Fill(2, 4*mib, 512))
	vhdutil := os.Getenv("VHDKIT_VHDUTIL")
	for _, shift := range []int64{0, 4, 256, 508} {
		t.Run(fmtInt(shift), func(t *testing.T) {
			p := copyFile(t, filepath.Join(t.TempDir(), "u.vhd"), base)
			vhdtest.PatchHeader(t, p, true, func(h *vhd.Header) { h.TableOffset += uint64(shift) })
			f, err := vhd.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			n, err := f.AllocatedBlocks()
			got := fmtInt(n)
			var fe *vhd.FormatError
			if err != nil {
				got = "error"
				if !errors.As(err, &fe) || fe.Field != "table offset" || fe.Offset != 512+16 {
					t.Errorf("error %v does not name the table offset", err)
				}
			}
			want := "2"
			if shift != 0 {
				want = "error"
			}
			if got != want {
				t.Errorf("AllocatedBlocks = %s (%v), want %s", got, err, want)
			}
			if vhdutil != "" {
				out, _ := exec.Command(vhdutil, "query", "-n", p, "-a").Output()
				ref := strings.TrimSpace(string(out))
				if strings.HasPrefix(ref, "error reading bat") {
					ref = "error"
				}
				if ref != got {
					t.Errorf("vhd-util query -a says %q, AllocatedBlocks %s", out, got)
				}
			}
		})
	}
}
