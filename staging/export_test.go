//go:build linux

package staging

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vhdkit/vhdkit/tarball"
	"github.com/vhdkit/vhdkit/vhd"
	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

// importedSR imports a 3-deep test chain into a new SR and returns the SR,
// the result and the disk's hash.
func importedSR(t *testing.T) (string, *Result, string) {
	t.Helper()
	img := imageDir(t, 3, nil)
	want := diskHash(t, filepath.Join(img, "0.vhd"), img)
	sr := newSR(t)
	res, err := Import(context.Background(), bytes.NewReader(tarGz(t, img)), sr, nil)
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	return sr, res, want
}

func uuidsOf(r *Result) []vhd.UUID {
	var out []vhd.UUID
	for _, v := range r.VDIs {
		out = append(out, v.UUID)
	}
	return out
}

// TestExportRoundTrip exports a chain from one SR (listed, and walked from
// its leaf), checks the archive with GNU tar, and imports it into another.
func TestExportRoundTrip(t *testing.T) {
	sr, res, want := importedSR(t)
	for _, tc := range []struct {
		name  string
		uuids []vhd.UUID
		chain bool
	}{
		{"listed", uuidsOf(res), false},
		{"walked", []vhd.UUID{res.Leaf.UUID}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := srState(t, sr)
			var buf bytes.Buffer
			er, err := Export(context.Background(), &buf, sr, tc.uuids, &ExportOptions{Chain: tc.chain})
			if err != nil {
				t.Fatalf("Export: %v", err)
			}
			if diff := cmp.Diff(uuidsOf(res), []vhd.UUID{er.VDIs[0].UUID, er.VDIs[1].UUID, er.VDIs[2].UUID}); diff != "" || len(er.VDIs) != 3 {
				t.Errorf("exported VDIs (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(before, srState(t, sr)); diff != "" {
				t.Errorf("Export changed the SR:\n%s", diff)
			}
			cmd := exec.Command(vhdtest.Tool(t, "tar"), "-zt")
			cmd.Stdin = bytes.NewReader(buf.Bytes())
			list, err := cmd.Output()
			if err != nil {
				t.Fatalf("tar -zt: %v", err)
			}
			if diff := cmp.Diff("./\n./0.vhd\n./1.vhd\n./2.vhd\n", string(list)); diff != "" {
				t.Errorf("archive listing (-want +got):\n%s", diff)
			}
			sr2 := newSR(t)
			before2 := srState(t, sr2)
			r2, err := Import(context.Background(), bytes.NewReader(buf.Bytes()), sr2, nil)
			if err != nil {
				t.Fatalf("re-import: %v", err)
			}
			checkImported(t, sr2, before2, r2, want, []bool{false, true, true})
		})
	}
}

// TestExportChanged changes a source file while it is streamed: the export
// fails with ErrChanged and the stream is not a complete archive.
func TestExportChanged(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, path string)
	}{
		{"footer rewritten", func(t *testing.T, p string) {
			f, err := vhd.OpenFile(p, os.O_RDWR)
			if err != nil {
				t.Fatal(err)
			}
			if err := f.SetHidden(0); err != nil {
				t.Fatal(err)
			}
			f.Close()
		}},
		{"grown", func(t *testing.T, p string) {
			f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.Write(make([]byte, 4096))
			f.Close()
		}},
		{"data rewritten in place", func(t *testing.T, p string) {
			vhdtest.Patch(t, p, 0, 'x')
			vhdtest.Patch(t, p, 0, 'c')
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sr, res, _ := importedSR(t)
			target := res.VDIs[2].Path // the base, streamed last
			changed := false
			var buf bytes.Buffer
			_, err := Export(context.Background(), &buf, sr, uuidsOf(res), &ExportOptions{
				Progress: func(p Progress) {
					if !changed && p.Name == "1.vhd" {
						changed = true
						tc.change(t, target)
					}
				},
			})
			if !errors.Is(err, ErrChanged) {
				t.Fatalf("err = %v, want ErrChanged", err)
			}
			if _, err := tarball.Unpack(context.Background(), bytes.NewReader(buf.Bytes()), t.TempDir(), nil); err == nil {
				t.Errorf("the failed export's stream unpacks as a complete archive")
			}
			if left := stagingLeft(t, sr); len(left) != 0 {
				t.Errorf("staging areas left: %v", left)
			}
		})
	}
}

func TestExportRefused(t *testing.T) {
	sr, res, _ := importedSR(t)
	os.Symlink(res.VDIs[1].Path, filepath.Join(sr, "9d7e5c4e-1111-4222-8333-944455556666.vhd"))
	for _, tc := range []struct {
		name  string
		uuids []vhd.UUID
		opts  ExportOptions
		want  error
	}{
		{"none", nil, ExportOptions{}, ErrNoImages},
		{"duplicate", []vhd.UUID{res.Leaf.UUID, res.Leaf.UUID}, ExportOptions{}, ErrDuplicateUUID},
		{"missing", []vhd.UUID{vhd.NewUUID()}, ExportOptions{}, os.ErrNotExist},
		{"symlink", []vhd.UUID{vhdtest.UUID("9d7e5c4e-1111-4222-8333-944455556666")}, ExportOptions{}, vhd.ErrNotRegular},
		{"too deep", []vhd.UUID{res.Leaf.UUID}, ExportOptions{Chain: true, MaxDepth: 2}, ErrInvalidChain},
		{"wrong order", []vhd.UUID{res.VDIs[0].UUID, res.VDIs[2].UUID, res.VDIs[1].UUID}, ExportOptions{}, ErrInvalidChain},
		{"leaf only without Chain", []vhd.UUID{res.Leaf.UUID}, ExportOptions{}, ErrInvalidChain},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := srState(t, sr)
			var buf bytes.Buffer
			_, err := Export(context.Background(), &buf, sr, tc.uuids, &tc.opts)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if diff := cmp.Diff(before, srState(t, sr)); diff != "" {
				t.Errorf("SR changed:\n%s", diff)
			}
		})
	}
}
