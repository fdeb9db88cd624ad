package vhd_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vhdkit/vhdkit/vhd"
	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

// span is a [start, end) byte range in tests.
type span struct{ Start, End int64 }

// extentsOf collects f's extent map, failing the test on error.
func extentsOf(t *testing.T, f *vhd.File) []vhd.Extent {
	t.Helper()
	var out []vhd.Extent
	for e, err := range f.Extents(context.Background()) {
		if err != nil {
			t.Fatalf("Extents: %v", err)
		}
		out = append(out, e)
	}
	return out
}

// dataSpans returns the merged ranges of the extents holding data.
func dataSpans(ext []vhd.Extent) []span {
	var out []span
	for _, e := range ext {
		if !e.Data {
			continue
		}
		if n := len(out); n > 0 && out[n-1].End == e.Offset {
			out[n-1].End = e.End()
		} else {
			out = append(out, span{e.Offset, e.End()})
		}
	}
	return out
}

// sectorSpans returns the merged ranges of the sectors writes touch,
// clipped to size.
func sectorSpans(size int64, writes ...vhdtest.Write) []span {
	held := make([]bool, (size+511)/512)
	for _, w := range writes {
		for s := w.Offset / 512; s*512 < w.Offset+int64(len(w.Data)); s++ {
			held[s] = true
		}
	}
	var out []span
	for s, h := range held {
		if !h {
			continue
		}
		a, b := int64(s)*512, min(size, int64(s+1)*512)
		if n := len(out); n > 0 && out[n-1].End == a {
			out[n-1].End = b
		} else {
			out = append(out, span{a, b})
		}
	}
	return out
}

// TestExtents checks the extent map of vhdkit-made disks against the
// sectors their writes touched, that it covers the disk without gaps, and
// that each held run's FileOffset holds the run's bytes.
func TestExtents(t *testing.T) {
	tests := []struct {
		name   string
		fixed  bool
		size   int64
		writes []vhdtest.Write
	}{
		{name: "empty", size: 5 * mib},
		{name: "fixed", fixed: true, size: 3*mib + 512, writes: []vhdtest.Write{vhdtest.Fill(1, 0, 10)}},
		{name: "partial sectors", size: 7*mib + 1024, writes: []vhdtest.Write{
			vhdtest.Fill(2, 100, 1000),
			vhdtest.Fill(3, 2*mib-700, 1400), // across a block boundary
			vhdtest.Fill(4, 7*mib+512, 512),  // the partial last block
		}},
		{name: "full block (batmap)", size: 6 * mib, writes: []vhdtest.Write{
			vhdtest.Fill(5, 2*mib, 2*mib),
			vhdtest.Fill(6, 4*mib+4096, 8192),
		}},
		{name: "zeros are data", size: 4 * mib, writes: []vhdtest.Write{{Offset: 1 * mib, Data: make([]byte, 64<<10)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "d.vhd")
			if tt.fixed {
				vhdtest.Fixed(t, p, tt.size, nil, tt.writes...)
			} else {
				vhdtest.Dynamic(t, p, tt.size, nil, tt.writes...)
			}
			f, err := vhd.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			ext := extentsOf(t, f)
			want := sectorSpans(tt.size, tt.writes...)
			if tt.fixed {
				want = []span{{0, tt.size}}
			}
			if diff := cmp.Diff(want, dataSpans(ext)); diff != "" {
				t.Errorf("data ranges (-want +got):\n%s", diff)
			}
			raw, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			var pos int64
			for i, e := range ext {
				if e.Offset != pos || e.Length <= 0 {
					t.Fatalf("extent %d %+v does not follow %d", i, e, pos)
				}
				if i > 0 && ext[i-1].Data == e.Data && !e.Data {
					t.Errorf("extents %d and %d not merged: %+v %+v", i-1, i, ext[i-1], e)
				}
				if e.Data {
					virt := make([]byte, e.Length)
					if _, err := f.ReadAt(virt, e.Offset); err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(raw[e.FileOffset:e.FileOffset+e.Length], virt) {
						t.Errorf("extent %+v: the file at FileOffset does not hold the run", e)
					}
				} else if e.FileOffset != -1 {
					t.Errorf("extent %+v without data has a file offset", e)
				}
				pos = e.End()
			}
			if pos != tt.size {
				t.Errorf("extents end at %d, virtual size %d", pos, tt.size)
			}
		})
	}
}

// qemuDataSpans returns the merged data ranges of qemu-img map.
func qemuDataSpans(t *testing.T, qemu, path string) []span {
	t.Helper()
	out, err := exec.Command(qemu, "map", "-f", "vpc", "--output=json", path).Output()
	if err != nil {
		t.Fatalf("qemu-img map %s: %v", path, err)
	}
	var m []struct {
		Start, Length int64
		Data          bool
	}
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatalf("qemu-img map: %v\n%s", err, out)
	}
	var spans []span
	for _, e := range m {
		if !e.Data {
			continue
		}
		if n := len(spans); n > 0 && spans[n-1].End == e.Start {
			spans[n-1].End = e.Start + e.Length
		} else {
			spans = append(spans, span{e.Start, e.Start + e.Length})
		}
	}
	return spans
}

// TestInteropExtentsQemuMap compares the data ranges of the extent map
// with qemu-img map's on dynamic disks qemu-img and vhdkit made. qemu's vpc
// driver counts every sector of an allocated block as data, ignoring the
// bitmap, so the vhdkit-made disks here write whole blocks (qemu's own
// always have full bitmaps).
func TestInteropExtentsQemuMap(t *testing.T) {
	qemu := vhdtest.Tool(t, "qemu-img")
	qemuIO := vhdtest.Tool(t, "qemu-io")
	t.Run("qemu-made", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "q.vhd")
		runTool(t, qemu, "create", "-q", "-f", "vpc", "-o", "subformat=dynamic", p, "21M")
		runTool(t, qemuIO, "-f", "vpc", "-c", "write -P 1 0 4k", "-c", "write -P 0 3M 512",
			"-c", "write -P 2 9M 3M", "-c", "write -P 3 20M 100k", p)
		f, err := vhd.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if diff := cmp.Diff(qemuDataSpans(t, qemu, p), dataSpans(extentsOf(t, f))); diff != "" {
			t.Errorf("(-qemu +ours):\n%s", diff)
		}
	})
	t.Run("vhdkit-made", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "v.vhd")
		vhdtest.Dynamic(t, p, 15*mib, nil,
			vhdtest.Fill(1, 0, 2*mib),
			vhdtest.Fill(2, 6*mib, 4*mib),
			vhdtest.Fill(3, 14*mib, 1*mib)) // the partial last block, whole
		f, err := vhd.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if diff := cmp.Diff(qemuDataSpans(t, qemu, p), dataSpans(extentsOf(t, f))); diff != "" {
			t.Errorf("(-qemu +ours):\n%s", diff)
		}
	})
}
