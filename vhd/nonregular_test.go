//go:build unix

package vhd_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/vhdkit/vhdkit/vhd"
	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

// TestNonRegularRefused opens a FIFO without a writer, a socket, a
// character device and a directory through every function of the package
// that opens a path: each must fail at once with ErrNotRegular, never block
// in open(2). A function that has not returned after the guard's deadline
// fails the test (the deadline is a hang detector, not a speed assertion).
func TestNonRegularRefused(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.vhd")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	sock := filepath.Join(dir, "sock.vhd")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	sub := filepath.Join(dir, "sub")
	os.Mkdir(sub, 0o755)
	base := vhdtest.Dynamic(t, filepath.Join(dir, "base.vhd"), 4*mib, nil)
	childPath := vhdtest.Child(t, filepath.Join(dir, "child.vhd"), base, nil)

	calls := []struct {
		name string
		call func(path string) error
	}{
		{"Open", func(p string) error { f, err := vhd.Open(p); closeIf(f); return err }},
		{"OpenFile RDONLY", func(p string) error { f, err := vhd.OpenFile(p, os.O_RDONLY); closeIf(f); return err }},
		{"OpenFile RDWR", func(p string) error { f, err := vhd.OpenFile(p, os.O_RDWR); closeIf(f); return err }},
		{"OpenBlockDevice", func(p string) error { f, err := vhd.OpenBlockDevice(p, os.O_RDWR); closeIf(f); return err }},
		{"CheckFile", func(p string) error { _, err := vhd.CheckFile(context.Background(), p, nil); return err }},
		{"CheckFile BlockDevice", func(p string) error {
			_, err := vhd.CheckFile(context.Background(), p, &vhd.CheckOptions{BlockDevice: true})
			return err
		}},
		{"Create Overwrite", func(p string) error {
			f, err := vhd.Create(p, &vhd.CreateOptions{Size: 4 * mib, Overwrite: true})
			closeIf(f)
			return err
		}},
		{"Snapshot parent", func(p string) error {
			f, err := vhd.Snapshot(filepath.Join(dir, "snap.vhd"), p, nil)
			closeIf(f)
			return err
		}},
		{"Snapshot raw parent", func(p string) error {
			f, err := vhd.Snapshot(filepath.Join(dir, "snapraw.vhd"), p, &vhd.SnapshotOptions{Raw: true})
			closeIf(f)
			return err
		}},
		{"ParentInfoFor", func(p string) error { _, err := vhd.ParentInfoFor(filepath.Join(dir, "x.vhd"), p); return err }},
		{"SetParent", func(p string) error {
			f, err := vhd.OpenFile(childPath, os.O_RDWR)
			if err != nil {
				return err
			}
			defer f.Close()
			return f.SetParent(context.Background(), p, nil)
		}},
		{"SetParent raw", func(p string) error {
			f, err := vhd.OpenFile(childPath, os.O_RDWR)
			if err != nil {
				return err
			}
			defer f.Close()
			return f.SetParent(context.Background(), p, &vhd.SetParentOptions{Raw: true})
		}},
	}
	kinds := []struct{ name, path string }{
		{"fifo", fifo}, {"socket", sock}, {"char device", os.DevNull}, {"directory", sub},
	}
	for _, k := range kinds {
		for _, c := range calls {
			if k.name == "char device" && c.name == "Create Overwrite" {
				continue // would truncate nothing, but keep /dev/null out of it
			}
			t.Run(k.name+"/"+c.name, func(t *testing.T) {
				done := make(chan error, 1)
				go func() { done <- c.call(k.path) }()
				select {
				case err := <-done:
					if !errors.Is(err, vhd.ErrNotRegular) {
						t.Errorf("error %v, want one matching ErrNotRegular", err)
					}
					var nr *vhd.NotRegularError
					if errors.As(err, &nr) && nr.Path == "" {
						t.Errorf("NotRegularError without a path: %v", err)
					}
				case <-time.After(5 * time.Second):
					t.Fatalf("%s(%s) blocked", c.name, k.name)
				}
			})
		}
	}
	// The FIFO is still there and untouched: nothing removed it.
	if st, err := os.Lstat(fifo); err != nil || st.Mode()&os.ModeNamedPipe == 0 {
		t.Errorf("the FIFO is gone or changed: %v", err)
	}
}

func closeIf(f *vhd.File) {
	if f != nil {
		f.Close()
	}
}
