package chain_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vhdkit/vhdkit/chain"
	"github.com/vhdkit/vhdkit/vhd"
	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

// optionalTool returns the path of an interop tool, or "" when it is
// absent (a failure under VHDKIT_INTEROP=required).
func optionalTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if vhdtest.InteropRequired() {
			t.Fatalf("interop oracle missing (VHDKIT_INTEROP=required): %s", name)
		}
		return ""
	}
	return p
}

// streamChain is a chain built for the stream tests.
type streamChain struct {
	dir   string
	paths []string // leaf first
}

// streamChains builds the chains of the stream table: 1, 3 and 8 deep,
// dynamic, fixed and qemu-made bases, sizes off 2 MiB multiples, zeros a
// child wrote over its parent's data, and an allocated block of zeros.
func streamChains(t *testing.T) map[string]func(t *testing.T) streamChain {
	build := func(depth int, size int64, base func(t *testing.T, path string, writes []vhdtest.Write)) func(t *testing.T) streamChain {
		return func(t *testing.T) streamChain {
			dir := tempDir(t)
			writes := chainWrites(depth, size)
			paths := make([]string, depth)
			for i := depth - 1; i >= 0; i-- {
				paths[i] = filepath.Join(dir, strconv.Itoa(i)+".vhd")
				if i == depth-1 {
					base(t, paths[i], writes(i))
				} else {
					vhdtest.Child(t, paths[i], paths[i+1], &vhdtest.Options{Hidden: boolByte(i > 0)}, writes(i)...)
				}
			}
			return streamChain{dir, paths}
		}
	}
	dynamic := func(size int64) func(t *testing.T, path string, writes []vhdtest.Write) {
		return func(t *testing.T, path string, writes []vhdtest.Write) {
			vhdtest.Dynamic(t, path, size, &vhdtest.Options{Hidden: 1}, writes...)
		}
	}
	return map[string]func(t *testing.T) streamChain{
		"1 deep, zero block": func(t *testing.T) streamChain {
			dir := tempDir(t)
			p := vhdtest.Dynamic(t, filepath.Join(dir, "0.vhd"), 5*mib, nil,
				vhdtest.Fill(1, 100*512, 3000),
				vhdtest.Write{Offset: 2 * mib, Data: make([]byte, 2*mib)}, // allocated, only zeros
				vhdtest.Fill(2, 4*mib+512, 512))
			return streamChain{dir, []string{p}}
		},
		"3 deep, odd size": build(3, 7*mib+1536, dynamic(7*mib+1536)),
		"8 deep":           build(8, 9*mib, dynamic(9*mib)),
		"3 deep, fixed base": build(3, 6*mib+512, func(t *testing.T, path string, writes []vhdtest.Write) {
			vhdtest.Fixed(t, path, 6*mib+512, &vhdtest.Options{Hidden: 1}, writes...)
		}),
		"3 deep, qemu base": func(t *testing.T) streamChain {
			qemu := optionalTool(t, "qemu-img")
			if qemu == "" {
				t.Skip("qemu-img is not installed")
			}
			dir := tempDir(t)
			raw := filepath.Join(dir, "base.raw")
			data := make([]byte, 10*mib+3*512)
			copy(data, vhdtest.Pattern(7, 3*mib))
			copy(data[6*mib:], vhdtest.Pattern(8, mib+1000))
			if err := os.WriteFile(raw, data, 0o644); err != nil {
				t.Fatal(err)
			}
			base := filepath.Join(dir, "2.vhd")
			if out, err := exec.Command(qemu, "convert", "-f", "raw", "-O", "vpc", "-o", "subformat=dynamic", raw, base).CombinedOutput(); err != nil {
				t.Fatalf("qemu-img convert: %v\n%s", err, out)
			}
			mid := vhdtest.Child(t, filepath.Join(dir, "1.vhd"), base, &vhdtest.Options{Hidden: 1}, vhdtest.Fill(9, mib, 8192))
			leaf := vhdtest.Child(t, filepath.Join(dir, "0.vhd"), mid, nil, vhdtest.Fill(10, 2*mib-4096, 12288))
			return streamChain{dir, []string{leaf, mid, base}}
		},
		"zeros over parent data": func(t *testing.T) streamChain {
			dir := tempDir(t)
			base := vhdtest.Dynamic(t, filepath.Join(dir, "1.vhd"), 6*mib+1024, &vhdtest.Options{Hidden: 1},
				vhdtest.Fill(1, 0, 6*mib))
			leaf := vhdtest.Child(t, filepath.Join(dir, "0.vhd"), base, nil,
				vhdtest.Write{Offset: mib, Data: make([]byte, 64<<10)},
				vhdtest.Write{Offset: 2 * mib, Data: make([]byte, 2*mib)}) // a whole block back to zeros
			return streamChain{dir, []string{leaf, base}}
		},
	}
}

func boolByte(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// writeStream plans and writes a stream of the chain at leaf into out.
func writeStream(t *testing.T, root, leaf, out string, opts *chain.StreamOptions) (*chain.StreamPlan, []byte) {
	t.Helper()
	c, err := chain.Walk(context.Background(), leaf, &chain.Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	plan, err := c.PlanStream(context.Background(), opts)
	if err != nil {
		t.Fatalf("PlanStream: %v", err)
	}
	// Into the file itself, so that blocks go through sendfile on Linux.
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n, err := plan.WriteStream(context.Background(), f)
	if err != nil {
		t.Fatalf("WriteStream: %v", err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if n != plan.Size() || int64(len(b)) != plan.Size() {
		t.Errorf("wrote %d bytes (returned %d), plan says %d", len(b), n, plan.Size())
	}
	// And into a buffer, through user memory: the same bytes.
	var buf bytes.Buffer
	if _, err := plan.WriteStream(context.Background(), &buf); err != nil {
		t.Fatalf("WriteStream to a buffer: %v", err)
	}
	if !bytes.Equal(buf.Bytes(), b) {
		t.Errorf("stream to a buffer differs from the one to a file: %s", firstDiff(buf.Bytes(), b))
	}
	return plan, b
}

// writeStreamBuffer plans and writes a stream of the chain at leaf into a
// buffer.
func writeStreamBuffer(t *testing.T, root, leaf string, opts *chain.StreamOptions) (*chain.StreamPlan, []byte) {
	t.Helper()
	c, err := chain.Walk(context.Background(), leaf, &chain.Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	plan, err := c.PlanStream(context.Background(), opts)
	if err != nil {
		t.Fatalf("PlanStream: %v", err)
	}
	var buf bytes.Buffer
	if _, err := plan.WriteStream(context.Background(), &buf); err != nil {
		t.Fatalf("WriteStream: %v", err)
	}
	return plan, buf.Bytes()
}

// checkStreamFile runs vhd.Check (with parents resolved in root) and
// requires no problem and no rule left unrun.
func checkStreamFile(t *testing.T, root, path string) {
	t.Helper()
	res, err := chain.NewResolver(root)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := vhd.CheckFile(context.Background(), path, &vhd.CheckOptions{Parents: res})
	if err != nil || !rep.Valid() || len(rep.NotRun) > 0 {
		t.Errorf("Check %s: %v, problems %v, not run %v", filepath.Base(path), err, rep.Problems, rep.NotRun)
	}
}

// leafDisk reads the leaf's virtual disk through its chain.
func leafDisk(t *testing.T, root, leaf string) []byte {
	t.Helper()
	c, err := chain.Walk(context.Background(), leaf, &chain.Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return readAll(t, c.ReaderAt(), c.VirtualSize())
}

// TestStream writes every format of stream of every chain of the table and
// checks its length against the plan, its validity, its bytes against a
// second run, and its disk against the leaf's, as vhdkit, python3-libvhdi
// and qemu-img read it. Each delta is written beside its ancestor and read
// through it.
func TestStream(t *testing.T) {
	qemu := optionalTool(t, "qemu-img")
	for name, build := range streamChains(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			sc := build(t)
			leaf := sc.paths[0]
			want := leafDisk(t, sc.dir, leaf)
			type mode struct {
				name string
				opts chain.StreamOptions
			}
			modes := []mode{
				{"consolidated", chain.StreamOptions{Format: chain.StreamConsolidated}},
				{"fixed", chain.StreamOptions{Format: chain.StreamFixed}},
			}
			for i := 1; i < len(sc.paths); i++ {
				if testing.Short() && len(sc.paths) > 3 && i != 1 && i != len(sc.paths)/2 && i != len(sc.paths)-1 {
					continue // under -short: the nearest, a middle and the base
				}
				modes = append(modes, mode{"delta to " + filepath.Base(sc.paths[i]),
					chain.StreamOptions{Format: chain.StreamDelta, RelativeTo: sc.paths[i]}})
			}
			for _, m := range modes {
				t.Run(m.name, func(t *testing.T) {
					outDir := tempDir(t)
					out := filepath.Join(outDir, "s.vhd")
					if m.opts.Format == chain.StreamDelta {
						out = filepath.Join(sc.dir, "delta.vhd") // beside its ancestor
						t.Cleanup(func() { os.Remove(out) })
					}
					_, first := writeStream(t, sc.dir, leaf, out, &m.opts)
					_, second := writeStreamBuffer(t, sc.dir, leaf, &m.opts)
					if !bytes.Equal(first, second) {
						t.Errorf("two runs differ: %s", firstDiff(second, first))
					}
					root := outDir
					if m.opts.Format == chain.StreamDelta {
						root = sc.dir
					}
					checkStreamFile(t, root, out)
					got := leafDisk(t, root, out)
					switch m.opts.Format {
					case chain.StreamFixed:
						if len(got)%mib != 0 || len(got) < len(want) || len(got)-len(want) >= mib {
							t.Errorf("fixed size %d for a leaf of %d: not the next whole MiB", len(got), len(want))
						}
						if fi, err := os.Stat(out); err != nil || fi.Size() != int64(len(got))+512 {
							t.Errorf("fixed file is %v bytes, want %d", fi.Size(), len(got)+512)
						}
						sameBytes(t, "tail past the leaf's size", got[len(want):], make([]byte, len(got)-len(want)))
						got = got[:min(len(got), len(want))]
					case chain.StreamConsolidated:
						f, err := vhd.Open(out)
						if err != nil {
							t.Fatal(err)
						}
						n, _ := f.AllocatedBlocks()
						f.Close()
						nonzero := int64(0)
						for off := 0; off < len(want); off += 2 * mib {
							if !bytes.Equal(want[off:min(len(want), off+2*mib)], make([]byte, min(len(want), off+2*mib)-off)) {
								nonzero++
							}
						}
						if n != nonzero {
							t.Errorf("%d blocks allocated, %d hold data", n, nonzero)
						}
					}
					sameBytes(t, "stream's disk vs leaf", got, want)
					// Back through the stream reader: the same bytes; a
					// delta received beside its ancestor validates first.
					recv := filepath.Join(root, "received.vhd")
					res, err := chain.NewResolver(root)
					if err != nil {
						t.Fatal(err)
					}
					if _, err := vhd.ReceiveStream(context.Background(), bytes.NewReader(first), recv,
						&vhd.ReadStreamOptions{Size: int64(len(first)), Check: vhd.CheckOptions{Parents: res}}); err != nil {
						t.Fatalf("ReceiveStream: %v", err)
					}
					t.Cleanup(func() { os.Remove(recv) })
					if b, _ := os.ReadFile(recv); !bytes.Equal(b, first) {
						t.Errorf("received stream differs: %s", firstDiff(b, first))
					}
					if m.opts.Format == chain.StreamDelta {
						// Without a parent opener the parent rules do not
						// run; the stream is read on the others, but has
						// no raw form.
						s, err := vhd.NewStreamReader(context.Background(), bytes.NewReader(first), nil)
						if err != nil {
							t.Fatalf("NewStreamReader of a delta without Parents: %v", err)
						}
						if _, err := s.WriteRaw(context.Background(), io.Discard); !errors.Is(err, vhd.ErrNoParentReader) {
							t.Errorf("delta to raw: %v, want ErrNoParentReader", err)
						}
						return // libvhdi misreads some parent sectors; the other readers cover deltas
					}
					if py := optionalTool(t, "/usr/bin/python3"); py != "" {
						lib := filepath.Join(outDir, "libvhdi.raw")
						vhdtest.PyVHDIRead(t, lib, out)
						b, err := os.ReadFile(lib)
						if err != nil {
							t.Fatal(err)
						}
						sameBytes(t, "python3-libvhdi read", b[:min(len(b), len(want))], want)
					}
					if qemu != "" {
						raw := filepath.Join(outDir, "qemu.raw")
						if o, err := exec.Command(qemu, "convert", "-f", "vpc", "-O", "raw", out, raw).CombinedOutput(); err != nil {
							t.Fatalf("qemu-img convert: %v\n%s", err, o)
						}
						b, err := os.ReadFile(raw)
						if err != nil {
							t.Fatal(err)
						}
						if len(b) < len(want) {
							t.Fatalf("qemu reads %d bytes, leaf has %d", len(b), len(want))
						}
						sameBytes(t, "qemu-img read", b[:len(want)], want)
					}
				})
			}
		})
	}
}

// TestStreamDeltaOverrides: the parent name and UUID of a delta can be
// replaced, and the delta then validates beside a copy with that name.
func TestStreamDeltaOverrides(t *testing.T) {
	dir := tempDir(t)
	paths := vhdtest.Chain(t, dir, 2, 4*mib, nil, chainWrites(2, 4*mib))
	other := tempDir(t)
	b, err := os.ReadFile(paths[1])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(other, "renamed.vhd"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(other, "delta.vhd")
	plan, _ := writeStream(t, dir, paths[0], out, &chain.StreamOptions{Format: chain.StreamDelta, RelativeTo: paths[1],
		ParentName: "renamed.vhd"})
	if plan.Footer().DiskType != vhd.DiskDifferencing {
		t.Errorf("delta footer type %v", plan.Footer().DiskType)
	}
	// mtime differs on the copy; the check ignores parent timestamps but not names or UUIDs.
	sameBytes(t, "delta beside the renamed copy", leafDisk(t, other, out), leafDisk(t, dir, paths[0]))

	f, err := vhd.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	name, _ := f.Header.ParentUnicodeName()
	u := vhdtest.NameUUID("elsewhere")
	plan2, _ := writeStream(t, dir, paths[0], filepath.Join(other, "d2.vhd"), &chain.StreamOptions{Format: chain.StreamDelta,
		RelativeTo: paths[1], ParentUUID: u})
	_ = plan2
	g, err := vhd.Open(filepath.Join(other, "d2.vhd"))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	got := struct {
		Name string
		UUID vhd.UUID
	}{name, g.Header.ParentUUID}
	if diff := cmp.Diff(struct {
		Name string
		UUID vhd.UUID
	}{"renamed.vhd", u}, got); diff != "" {
		t.Errorf("overrides (-want +got):\n%s", diff)
	}
}

// TestStreamRefusals: a delta relative to the leaf or a stranger, a
// cancelled context, and a chain changed between plan and write.
func TestStreamRefusals(t *testing.T) {
	dir := tempDir(t)
	paths := vhdtest.Chain(t, dir, 2, 4*mib, nil, chainWrites(2, 4*mib))
	stranger := vhdtest.Dynamic(t, filepath.Join(dir, "x.vhd"), 4*mib, nil)
	c, err := chain.Walk(context.Background(), paths[0], &chain.Options{Root: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, rel := range []string{paths[0], stranger} {
		if _, err := c.PlanStream(context.Background(), &chain.StreamOptions{Format: chain.StreamDelta, RelativeTo: rel}); !errors.Is(err, chain.ErrNotAncestor) {
			t.Errorf("delta relative to %s: %v, want ErrNotAncestor", filepath.Base(rel), err)
		}
	}

	plan, err := c.PlanStream(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var buf bytes.Buffer
	if _, err := plan.WriteStream(ctx, &buf); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	if int64(buf.Len()) >= plan.Size() {
		t.Errorf("a cancelled stream wrote all %d bytes", buf.Len())
	}

	// Change a sector of the leaf's data in place (same size).
	f, err := vhd.OpenFile(paths[0], os.O_RDWR)
	if err != nil {
		t.Fatal(err)
	}
	ext := chainExtents(t, c)
	var target int64 = -1
	for _, e := range ext {
		if e.Link == 0 && e.Data {
			target = e.Offset
			break
		}
	}
	if target < 0 {
		t.Fatal("the leaf holds no data")
	}
	if _, err := f.WriteAt(bytes.Repeat([]byte{0xAB}, 512), target); err != nil {
		t.Fatal(err)
	}
	f.Close()
	// The change is seen by its modification time, whose clock ticks
	// coarsely: move it clearly past the plan's.
	soon := time.Now().Add(time.Minute)
	if err := os.Chtimes(paths[0], soon, soon); err != nil {
		t.Fatal(err)
	}
	buf.Reset()
	if _, err := plan.WriteStream(context.Background(), &buf); !errors.Is(err, vhd.ErrChanged) {
		t.Errorf("changed leaf: %v, want ErrChanged", err)
	}
	if int64(buf.Len()) >= plan.Size() {
		t.Errorf("a changed chain's stream wrote all %d bytes", buf.Len())
	}
}

// TestStreamProgress: each call's Done never decreases and Total never
// changes; a context cancelled in the middle stops the stream before its
// footer.
func TestStreamProgress(t *testing.T) {
	dir := tempDir(t)
	paths := vhdtest.Chain(t, dir, 2, 9*mib, nil, func(i int) []vhdtest.Write {
		return []vhdtest.Write{vhdtest.Fill(uint64(i), int64(i)*4*mib, 3*mib)}
	})
	c, err := chain.Walk(context.Background(), paths[0], &chain.Options{Root: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var got []chain.Progress
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cancelAt := int64(-1)
	opts := &chain.StreamOptions{Progress: func(p chain.Progress) {
		got = append(got, p)
		if p.Phase == chain.PhaseStream && cancelAt >= 0 && p.Done >= cancelAt {
			cancel()
		}
	}}
	plan, err := c.PlanStream(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := plan.WriteStream(ctx, &buf); err != nil {
		t.Fatal(err)
	}
	check := func(phase chain.Phase, total int64) {
		t.Helper()
		var last int64 = -1
		n := 0
		for _, p := range got {
			if p.Phase != phase {
				continue
			}
			n++
			if p.Done < last || p.Total != total || p.Name != paths[0] {
				t.Errorf("%s: %+v after Done %d; want Total %d, Name %s", phase, p, last, total, paths[0])
			}
			last = p.Done
		}
		if n == 0 || last != total {
			t.Errorf("%s: %d reports, last Done %d, want %d", phase, n, last, total)
		}
	}
	check(chain.PhasePlan, c.VirtualSize())
	check(chain.PhaseStream, plan.Size())

	// Cancelled after the first block: no footer, an error.
	cancelAt = 1
	buf.Reset()
	if _, err := plan.WriteStream(ctx, &buf); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled mid-stream: %v", err)
	}
	if int64(buf.Len()) >= plan.Size() || bytes.HasSuffix(buf.Bytes(), mustFooter(t, plan)) {
		t.Errorf("a cancelled stream wrote %d of %d bytes, or its footer", buf.Len(), plan.Size())
	}
}

func mustFooter(t *testing.T, plan *chain.StreamPlan) []byte {
	t.Helper()
	ft := plan.Footer()
	b, err := ft.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}
