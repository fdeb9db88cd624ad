//go:build linux

package staging

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/vhdkit/vhdkit/chain"
	"github.com/vhdkit/vhdkit/vhd"
	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

const mib = vhdtest.MiB

// fileState is what the SR snapshot records of one entry.
type fileState struct {
	Size  int64
	Ino   uint64
	Dir   bool
	Hash  string
	Links uint64
}

// srState records every top-level entry of dir: names, sizes, inodes and
// content hashes.
func srState(t testing.TB, dir string) map[string]fileState {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]fileState{}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		fs := fileState{Size: fi.Size(), Ino: st.Ino, Dir: fi.IsDir(), Links: uint64(st.Nlink)}
		if fi.IsDir() {
			fs.Size = 0
		} else {
			fs.Hash = fileHash(t, p)
		}
		out[e.Name()] = fs
	}
	return out
}

func fileHash(t testing.TB, p string) string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// newSR makes an SR directory holding two unrelated VDIs, so tests can see
// that nothing of the SR's is touched.
func newSR(t testing.TB) string {
	t.Helper()
	sr := t.TempDir()
	vhdtest.Dynamic(t, filepath.Join(sr, vhd.NewUUID().String()+".vhd"), 4*mib, nil, vhdtest.Fill(1, 0, 64<<10))
	vhdtest.Fixed(t, filepath.Join(sr, vhd.NewUUID().String()+".vhd"), 2*mib, nil, vhdtest.Fill(2, 4096, 4096))
	return sr
}

// chainWrites gives every link of a test chain some data of its own.
func chainWrites(i int) []vhdtest.Write {
	return []vhdtest.Write{
		vhdtest.Fill(uint64(10+i), int64(i)*mib+512*int64(i), 300<<10),
		vhdtest.Fill(uint64(20+i), 6*mib, 4096*(i+1)),
	}
}

// imageDir makes a directory holding a depth-deep chain named 0.vhd.. (or
// by name), leaf first, every interior link hidden.
func imageDir(t testing.TB, depth int, name func(int) string) string {
	t.Helper()
	dir := t.TempDir()
	vhdtest.Chain(t, dir, depth, 8*mib, name, chainWrites)
	return dir
}

// tarGz packs dir with GNU tar as nova's XenServer plugin does: tar -zc --directory=DIR .
func tarGz(t testing.TB, dir string) []byte {
	t.Helper()
	tarPath := vhdtest.Tool(t, "tar")
	out, err := exec.Command(tarPath, "-zc", "--directory="+dir, ".").Output()
	if err != nil {
		t.Fatalf("tar -zc: %v", err)
	}
	return out
}

// tarGzFiles packs the named files of dir (bare names, as Python producers wrote).
func tarGzFiles(t testing.TB, dir string, names ...string) []byte {
	t.Helper()
	tarPath := vhdtest.Tool(t, "tar")
	out, err := exec.Command(tarPath, append([]string{"-zc", "--directory=" + dir}, names...)...).Output()
	if err != nil {
		t.Fatalf("tar -zc: %v", err)
	}
	return out
}

// diskHash reads the virtual disk of the chain whose leaf is leaf (confined
// to root) and returns its SHA-256.
func diskHash(t testing.TB, leaf, root string) string {
	t.Helper()
	c, err := chain.Walk(context.Background(), leaf, &chain.Options{Root: root})
	if err != nil {
		t.Fatalf("walk %s: %v", leaf, err)
	}
	defer c.Close()
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(c.ReaderAt(), 0, c.Leaf().VirtualSize())); err != nil {
		t.Fatalf("read %s: %v", leaf, err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// vhdFiles lists the *.vhd names of dir, sorted.
func vhdFiles(t testing.TB, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.vhd"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range m {
		m[i] = filepath.Base(m[i])
	}
	slices.Sort(m)
	return m
}

// stagingLeft lists the staging areas left in sr.
func stagingLeft(t testing.TB, sr string) []string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(sr, Prefix+"*"))
	return m
}

// faultOps wraps osFileOps and fails the n-th operation (counting from 1),
// before or after performing it, with err. With noReplace set it answers
// RenameNoReplace with EINVAL as NFS does.
type faultOps struct {
	osFileOps
	mu         sync.Mutex
	calls      int
	failAt     int
	failAlso   int // a second step to fail, before it is performed
	after      bool
	err        error
	noReplace  bool
	beforeMove func(dst string)
	trace      []string
}

var errInjected = errors.New("injected failure")

func (f *faultOps) step(what string, do func() error) error {
	f.mu.Lock()
	f.calls++
	n := f.calls
	f.trace = append(f.trace, what)
	f.mu.Unlock()
	if n == f.failAt && !f.after || n == f.failAlso {
		return f.err
	}
	err := do()
	if n == f.failAt && f.after {
		return f.err
	}
	return err
}

func short(p string) string {
	if i := strings.LastIndex(p, "/"); i >= 0 {
		return p[i+1:]
	}
	return p
}

func (f *faultOps) Rename(a, b string) error {
	return f.step("rename "+short(a)+" "+short(b), func() error { return f.osFileOps.Rename(a, b) })
}

func (f *faultOps) RenameNoReplace(a, b string) error {
	return f.step("move "+short(b), func() error {
		if f.beforeMove != nil {
			f.beforeMove(b)
		}
		if f.noReplace {
			return &os.LinkError{Op: "renameat2", Old: a, New: b, Err: syscall.EINVAL}
		}
		return f.osFileOps.RenameNoReplace(a, b)
	})
}

func (f *faultOps) Link(a, b string) error {
	return f.step("link "+short(b), func() error { return f.osFileOps.Link(a, b) })
}

func (f *faultOps) Remove(p string) error {
	return f.step("remove "+short(p), func() error { return f.osFileOps.Remove(p) })
}

// Sync counts as a step but does not flush: what is tested is the logic
// around each fsync, and skipping the flushes keeps the loops fast.
func (f *faultOps) Sync(p string) error {
	return f.step("sync "+short(p), func() error { return nil })
}

func (f *faultOps) Checkpoint(point string) error {
	return f.step("checkpoint "+point, func() error { return nil })
}

func journalOf(t testing.TB, sr string) []byte {
	t.Helper()
	left := stagingLeft(t, sr)
	if len(left) != 1 {
		t.Fatalf("staging areas left: %v", left)
	}
	b, err := os.ReadFile(filepath.Join(left[0], journalName))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func committedJournal(b []byte) bool { return bytes.Contains(b, []byte("\n"+recCommitted+"\n")) }
