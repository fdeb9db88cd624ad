package tarball

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// recorder is an io.Writer that keeps what it is given, optionally failing
// after limit bytes, and notes writes that arrive after it is frozen.
type recorder struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	limit  int // 0 means no limit
	frozen bool
	late   int
}

var errDiskFull = errors.New("test: disk full")

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.frozen {
		r.late += len(p)
	}
	if r.limit > 0 && r.buf.Len()+len(p) > r.limit {
		n := r.limit - r.buf.Len()
		r.buf.Write(p[:n])
		return n, errDiskFull
	}
	return r.buf.Write(p)
}

func (r *recorder) freeze() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.frozen = true
	return bytes.Clone(r.buf.Bytes())
}

// TestPackFailureLeavesTruncatedStream checks that every way Pack can fail
// returns an error and leaves output that Unpack, gzip -t and tar -t reject,
// and that nothing is written to w after Pack returns.
func TestPackFailureLeavesTruncatedStream(t *testing.T) {
	src := t.TempDir()
	writeFiles(t, src, map[string][]byte{"0.vhd": pseudoRandom(10<<20, 1), "1.vhd": imageLike(1<<20, 2)})
	errLate := errors.New("test: refused at the end")
	for _, tc := range []struct {
		name     string
		limit    int
		opts     func(cancel context.CancelFunc) *PackOptions
		wantErr  error
		wantName string
	}{
		{name: "cancelled mid-stream", opts: func(cancel context.CancelFunc) *PackOptions {
			return &PackOptions{Level: 1, Progress: func(p Progress) {
				if p.Logical >= 8<<20 {
					cancel()
				}
			}}
		}, wantErr: context.Canceled, wantName: "0.vhd"},
		{name: "failing writer", limit: 3 << 20, opts: func(context.CancelFunc) *PackOptions { return &PackOptions{Level: 1} }, wantErr: errDiskFull},
		{name: "before finish refuses", opts: func(context.CancelFunc) *PackOptions {
			return &PackOptions{Level: 1, BeforeFinish: func() error { return errLate }}
		}, wantErr: errLate},
		{name: "file shrinks", opts: func(context.CancelFunc) *PackOptions {
			started := false
			return &PackOptions{Level: 1, Progress: func(p Progress) {
				if p.Name == "1.vhd" && !started {
					started = true
					if err := os.Truncate(filepath.Join(src, "1.vhd"), 1000); err != nil {
						t.Error(err)
					}
				}
			}}
		}, wantErr: ErrSizeChanged, wantName: "1.vhd"},
		{name: "file grows", opts: func(context.CancelFunc) *PackOptions {
			started := false
			return &PackOptions{Level: 1, Progress: func(p Progress) {
				if p.Name == "1.vhd" && !started {
					started = true
					f, err := os.OpenFile(filepath.Join(src, "1.vhd"), os.O_APPEND|os.O_WRONLY, 0)
					if err != nil {
						t.Fatal(err)
					}
					f.Write([]byte("more"))
					f.Close()
				}
			}}
		}, wantErr: ErrSizeChanged, wantName: "1.vhd"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			writeFiles(t, src, map[string][]byte{"1.vhd": imageLike(1<<20, 2)})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			w := &recorder{limit: tc.limit}
			_, err := Pack(ctx, w, src, tc.opts(cancel))
			out := w.freeze()
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
			var ee *EntryError
			if tc.wantName != "" && (!errors.As(err, &ee) || ee.Name != tc.wantName) {
				t.Errorf("error %v does not name %q", err, tc.wantName)
			}
			if len(out) == 0 {
				t.Fatal("nothing was written; the test needs a partial stream")
			}
			if _, err := Unpack(context.Background(), bytes.NewReader(out), t.TempDir(), nil); err == nil {
				t.Error("Unpack accepted the output of a failed Pack")
			}
			time.Sleep(20 * time.Millisecond)
			if late := w.freeze(); len(late) != len(out) || w.late != 0 {
				t.Errorf("%d bytes written after Pack returned", len(late)-len(out))
			}
			checkTruncated(t, out)
		})
	}
}

// checkTruncated asks gzip -t and tar -tz whether out is complete; both
// must say no.
func checkTruncated(t *testing.T, out []byte) {
	t.Helper()
	for _, argv := range [][]string{{"gzip", "-t"}, {"tar", "-tzf", "-"}} {
		p := needTool(t, argv[0])
		cmd := exec.Command(p, argv[1:]...)
		cmd.Stdin = bytes.NewReader(out)
		msg, err := cmd.CombinedOutput()
		if err == nil {
			t.Errorf("%v accepted a truncated stream of %d bytes:\n%s", argv, len(out), msg)
			continue
		}
		t.Logf("%v: %v: %s", argv, err, bytes.TrimSpace(msg))
	}
}

// TestPackSuccessPassesOracles is the control for the truncation test: a
// complete Pack passes gzip -t and tar -tz.
func TestPackSuccessPassesOracles(t *testing.T) {
	src := t.TempDir()
	writeFiles(t, src, map[string][]byte{"0.vhd": imageLike(2<<20, 1)})
	var buf bytes.Buffer
	if _, err := Pack(context.Background(), &buf, src, nil); err != nil {
		t.Fatal(err)
	}
	for _, argv := range [][]string{{"gzip", "-t"}, {"tar", "-tzf", "-"}} {
		cmd := exec.Command(needTool(t, argv[0]), argv[1:]...)
		cmd.Stdin = bytes.NewReader(buf.Bytes())
		if msg, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%v rejected a complete archive: %v\n%s", argv, err, msg)
		}
	}
}
