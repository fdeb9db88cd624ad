package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vhdkit/vhdkit/staging"
	"github.com/vhdkit/vhdkit/vhd"
	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

// TestUsageExitCodes checks that -h exits 0 and a real usage error 2, each
// saying why the usage was printed, and that defaults read as sizes.
func TestUsageExitCodes(t *testing.T) {
	dir := t.TempDir()
	id := vhd.NewUUID().String()
	for _, tc := range []struct {
		args    []string
		code    int
		says    []string
		notSays []string
	}{
		{nil, 2, []string{"no command given", "usage: vdi-transfer COMMAND"}, nil},
		{[]string{"-h"}, 0, []string{"usage: vdi-transfer COMMAND", "recover"}, nil},
		{[]string{"help"}, 0, []string{"usage: vdi-transfer COMMAND"}, nil},
		{[]string{"frobnicate"}, 2, []string{`unknown command "frobnicate"`}, nil},
		{[]string{"pack", "-h"}, 0, []string{"usage: vdi-transfer pack"}, []string{"vdi-transfer pack:"}},
		{[]string{"upload", "-h"}, 0, []string{"usage: vdi-transfer upload"}, nil},
		{[]string{"download", "-help"}, 0, []string{"usage: vdi-transfer download"}, nil},
		{[]string{"recover", "-h"}, 0, []string{"usage: vdi-transfer recover"}, nil},
		{[]string{"unpack", "-h"}, 0, []string{"(default 2100GiB)", "(default 16TiB)"}, []string{"2254857830400"}},
		{[]string{"pack"}, 2, []string{"too few arguments", "usage: vdi-transfer pack"}, nil},
		{[]string{"unpack", "a", "b"}, 2, []string{"too many arguments (b)"}, nil},
		{[]string{"pack", "-nope", dir}, 2, []string{"-nope"}, nil},
		{[]string{"download"}, 2, []string{"--sr is required", "usage: vdi-transfer download"}, nil},
		{[]string{"recover"}, 2, []string{"--sr is required"}, nil},
		{[]string{"upload", id, "--sr", dir}, 2, []string{`flag --sr after the argument "` + id + `": flags must come before the arguments`}, nil},
		{[]string{"pack", filepath.Join(dir, "missing")}, 1, []string{"vdi-transfer pack:"}, []string{"usage:"}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, _, stderr := runCmd(t, nil, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tc.code, stderr)
			}
			for _, s := range tc.says {
				if !strings.Contains(stderr, s) {
					t.Errorf("stderr does not say %q:\n%s", s, stderr)
				}
			}
			for _, s := range tc.notSays {
				if strings.Contains(stderr, s) {
					t.Errorf("stderr says %q:\n%s", s, stderr)
				}
			}
		})
	}
}

// openPTY opens a pseudo-terminal and returns its controller and terminal
// ends; what is written to the terminal end is drained from the other.
func openPTY(t *testing.T) *os.File {
	t.Helper()
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals: %v", err)
	}
	t.Cleanup(func() { ptmx.Close() })
	if err := unix.IoctlSetPointerInt(int(ptmx.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetInt(int(ptmx.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("ptsname: %v", err)
	}
	tty, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open the terminal end: %v", err)
	}
	t.Cleanup(func() { tty.Close() })
	go io.Copy(io.Discard, ptmx)
	return tty
}

// TestTerminalRefused runs pack and upload with stdout on a terminal: both
// refuse before writing anything, and -f (or /dev/null) lets them write.
func TestTerminalRefused(t *testing.T) {
	tty := openPTY(t)
	src := t.TempDir()
	writeTree(t, src, map[string]string{"0.vhd": "x"})
	sr := t.TempDir()
	id := vhd.NewUUID().String()
	vhdtest.Dynamic(t, filepath.Join(sr, id+".vhd"), 2<<20, nil, vhdtest.Fill(1, 0, 4096))
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	for _, tc := range []struct {
		name   string
		stdout *os.File
		args   []string
		code   int
	}{
		{"pack to a terminal", tty, []string{"pack", src}, 1},
		{"upload to a terminal", tty, []string{"upload", "--sr", sr, id}, 1},
		{"pack -f to a terminal", tty, []string{"pack", "-f", src}, 0},
		{"upload -f to a terminal", tty, []string{"upload", "-f", "--sr", sr, id}, 0},
		{"upload to /dev/null", null, []string{"upload", "--sr", sr, id}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			code := run(context.Background(), &env{stdin: strings.NewReader(""), stdout: tc.stdout, stderr: &stderr}, tc.args)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr %q", code, tc.code, stderr.String())
			}
			if tc.code == 1 && !strings.Contains(stderr.String(), "stdout is a terminal") {
				t.Errorf("stderr %q does not say why", stderr.String())
			}
			if left, _ := filepath.Glob(filepath.Join(sr, staging.Prefix+"*")); len(left) != 0 {
				t.Errorf("staging areas left: %v", left)
			}
		})
	}
}

// randomChain builds a 2-deep chain of mostly incompressible data in sr and
// returns its UUIDs, leaf first.
func randomChain(t *testing.T, sr string) []string {
	t.Helper()
	ids := []string{vhd.NewUUID().String(), vhd.NewUUID().String()}
	vhdtest.Chain(t, sr, 2, 16<<20, func(i int) string { return ids[i] + ".vhd" }, func(i int) []vhdtest.Write {
		return []vhdtest.Write{vhdtest.Fill(uint64(40+i), int64(i)*4<<20, 3<<20)}
	})
	return ids
}

func stagingAreas(t *testing.T, sr string) []string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(sr, staging.Prefix+"*"))
	return m
}

// TestUploadClosedStdout runs "vdi-transfer upload ... | head -c 1000": the
// closed pipe is an ordinary error (exit 1, not death by SIGPIPE) and the
// staging area of hard links is removed from the source SR.
func TestUploadClosedStdout(t *testing.T) {
	bin := buildBinary(t)
	sr := t.TempDir()
	ids := randomChain(t, sr)
	cmd := exec.Command(bin, append([]string{"upload", "--sr", sr}, ids...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(out, make([]byte, 1000)); err != nil {
		t.Fatalf("reading the first 1000 bytes: %v", err)
	}
	out.Close()
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("upload into a closed pipe: %v, want exit status 1", err)
	}
	if ws := ee.Sys().(syscall.WaitStatus); ws.Signaled() || ws.ExitStatus() != 1 {
		t.Errorf("upload into a closed pipe: %v (signaled %v), want exit status 1; stderr %q", err, ws.Signaled(), stderr.String())
	}
	if !strings.Contains(stderr.String(), "broken pipe") {
		t.Errorf("stderr %q does not say the pipe was closed", stderr.String())
	}
	if left := stagingAreas(t, sr); len(left) != 0 {
		t.Errorf("staging areas left in the source SR: %v", left)
	}
}

// TestDownloadKilled kills a download with SIGKILL while it extracts: its
// staging area stays behind, the next download says so and how to remove
// it, and "vdi-transfer recover" removes it and says what it did.
func TestDownloadKilled(t *testing.T) {
	bin := buildBinary(t)
	src := t.TempDir()
	ids := randomChain(t, src)
	code, archive, stderr := runCmd(t, nil, append([]string{"upload", "--level", "1", "--sr", src}, ids...)...)
	if code != 0 {
		t.Fatalf("upload: %s", stderr)
	}
	sr := t.TempDir()
	cmd := exec.Command(bin, "download", "--sr", sr)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Half the image, then wait for the area to appear, and kill.
	if _, err := in.Write([]byte(archive[:len(archive)/2])); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(stagingAreas(t, sr)) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()
	in.Close()
	left := stagingAreas(t, sr)
	if len(left) != 1 {
		t.Fatalf("staging areas after SIGKILL: %v, want one", left)
	}

	code, _, stderr = runCmd(t, []byte("not an image"), "download", "--sr", sr)
	if code != 1 || !strings.Contains(stderr, "1 staging area(s)") || !strings.Contains(stderr, "vdi-transfer recover --sr "+sr) {
		t.Errorf("download beside a stale area: exit %d, stderr %q; want it to say how to remove the area", code, stderr)
	}

	code, stdout, stderr := runCmd(t, nil, "recover", "--sr", sr)
	if code != 0 {
		t.Fatalf("recover: exit %d, %s", code, stderr)
	}
	want := filepath.Base(left[0]) + ": interrupted import rolled back: nothing of it had reached the SR; staging area removed\n"
	if stdout != want {
		t.Errorf("recover printed %q, want %q", stdout, want)
	}
	if ents, _ := os.ReadDir(sr); len(ents) != 0 {
		t.Errorf("SR after recover: %v, want empty", ents)
	}
	if _, stdout, _ := runCmd(t, nil, "recover", "--sr", sr); stdout != "no staging areas in "+sr+"\n" {
		t.Errorf("second recover printed %q", stdout)
	}
}
