package main

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vhdkit/vhdkit/vhd"
	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

// runCmd runs a vdi-transfer command in process.
func runCmd(t *testing.T, stdin []byte, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), &env{stdin: bytes.NewReader(stdin), stdout: &out, stderr: &errb}, args)
	return code, out.String(), errb.String()
}

// TestUploadDownload uploads a chain from one SR (listed, and walked from
// the leaf) and downloads it into another, with the UUIDs given.
func TestUploadDownload(t *testing.T) {
	sr1 := t.TempDir()
	ids := []string{vhd.NewUUID().String(), vhd.NewUUID().String(), vhd.NewUUID().String()}
	vhdtest.Chain(t, sr1, 3, 8<<20, func(i int) string { return ids[i] + ".vhd" }, func(i int) []vhdtest.Write {
		return []vhdtest.Write{vhdtest.Fill(uint64(i), int64(i)<<20, 64<<10)}
	})
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"listed", append([]string{"upload", "--sr", sr1}, ids...)},
		{"chain", []string{"upload", "--sr", sr1, "--chain", "--progress", ids[0]}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, archive, stderr := runCmd(t, nil, tc.args...)
			if code != 0 {
				t.Fatalf("upload exit %d: %s", code, stderr)
			}
			sr2 := t.TempDir()
			newIDs := []string{vhd.NewUUID().String(), vhd.NewUUID().String(), vhd.NewUUID().String()}
			code, out, stderr := runCmd(t, []byte(archive), "download", "--sr", sr2, "--progress",
				"--uuid", newIDs[0], "--uuid", newIDs[1], "--uuid", newIDs[2])
			if code != 0 {
				t.Fatalf("download exit %d: %s", code, stderr)
			}
			var res struct {
				Root struct{ UUID string } `json:"root"`
			}
			if err := json.Unmarshal([]byte(out), &res); err != nil || res.Root.UUID != newIDs[0] {
				t.Errorf("download printed %q (%v), want the leaf %s", out, err, newIDs[0])
			}
			if !strings.Contains(stderr, "MiB/s") {
				t.Errorf("no progress on stderr: %q", stderr)
			}
			var got []string
			for _, id := range newIDs {
				if _, err := os.Stat(filepath.Join(sr2, id+".vhd")); err == nil {
					got = append(got, id)
				}
			}
			if diff := cmp.Diff(newIDs, got); diff != "" {
				t.Errorf("SR files (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDownloadRefused(t *testing.T) {
	sr := t.TempDir()
	for _, tc := range []struct {
		name  string
		stdin []byte
		args  []string
		code  int
	}{
		{"no sr", nil, []string{"download"}, 2},
		{"bad uuid", nil, []string{"download", "--sr", sr, "--uuid", "nope"}, 1},
		{"not gzip", []byte("plain text"), []string{"download", "--sr", sr}, 1},
		{"upload without uuid", nil, []string{"upload", "--sr", sr}, 2},
		{"upload missing vdi", nil, []string{"upload", "--sr", sr, vhd.NewUUID().String()}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, stderr := runCmd(t, tc.stdin, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tc.code, stderr)
			}
			if tc.code != 0 && strings.Contains(out, "root") {
				t.Errorf("a failed command printed a result: %q", out)
			}
			ents, _ := os.ReadDir(sr)
			if len(ents) != 0 {
				t.Errorf("SR not empty after a refusal: %v", ents)
			}
		})
	}
}

// TestDownloadChecksum refuses an image whose MD5 is not the expected one,
// with the SR untouched, and accepts it with the right one.
func TestDownloadChecksum(t *testing.T) {
	sr1 := t.TempDir()
	id := vhd.NewUUID().String()
	vhdtest.Dynamic(t, filepath.Join(sr1, id+".vhd"), 4<<20, nil, vhdtest.Fill(1, 0, 8192))
	code, archive, stderr := runCmd(t, nil, "upload", "--sr", sr1, id)
	if code != 0 {
		t.Fatalf("upload: %s", stderr)
	}
	sum := fmt.Sprintf("%x", md5.Sum([]byte(archive)))
	sr2 := t.TempDir()
	code, out, stderr := runCmd(t, []byte(archive), "download", "--sr", sr2, "--expect-md5", strings.Repeat("0", 32))
	if code != 1 || out != "" || !strings.Contains(stderr, "checksum mismatch") {
		t.Errorf("wrong checksum: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	if ents, _ := os.ReadDir(sr2); len(ents) != 0 {
		t.Errorf("SR changed by a refused image: %v", ents)
	}
	code, out, stderr = runCmd(t, []byte(archive), "download", "--sr", sr2, "--expect-md5", sum, "--md5")
	if code != 0 || !strings.Contains(stderr, "md5 "+sum) || !strings.Contains(out, "root") {
		t.Errorf("right checksum: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
}
