package tarball

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// rawHeader builds a tar header block by hand, so that sparse headers
// archive/tar cannot write can be tested. gnu selects the GNU magic.
func rawHeader(name string, flag byte, size int64, gnu bool, edit func(h []byte)) []byte {
	h := make([]byte, 512)
	copy(h, name)
	copy(h[100:], "0000644\x00")
	copy(h[108:], "0000000\x00")
	copy(h[116:], "0000000\x00")
	putNumeric(h[124:136], size)
	copy(h[136:], "00000000000\x00")
	h[156] = flag
	if gnu {
		copy(h[257:], "ustar  \x00")
	} else {
		copy(h[257:], "ustar\x0000")
	}
	if edit != nil {
		edit(h)
	}
	copy(h[148:156], "        ")
	sum := 0
	for _, c := range h {
		sum += int(c)
	}
	copy(h[148:], fmt.Sprintf("%06o\x00 ", sum))
	return h
}

// putNumeric writes v in octal when it fits, else in GNU base-256.
func putNumeric(b []byte, v int64) {
	if s := fmt.Sprintf("%0*o", len(b)-1, v); len(s) == len(b)-1 {
		copy(b, s+"\x00")
		return
	}
	for i := len(b) - 1; i > 0; i-- {
		b[i] = byte(v)
		v >>= 8
	}
	b[0] = 0x80
}

// padBlock pads b with NULs to a multiple of 512 bytes.
func padBlock(b []byte) []byte { return append(b, make([]byte, -len(b)&511)...) }

// paxEntry builds a PAX 'x' header whose records are given in order
// (repeated keys allowed, as PAX sparse 0.0 uses them).
func paxEntry(records ...[2]string) []byte {
	var data []byte
	for _, kv := range records {
		body := " " + kv[0] + "=" + kv[1] + "\n"
		n := len(body) + 1
		for len(fmt.Sprint(n))+len(body) != n {
			n++
		}
		data = append(data, fmt.Sprint(n)+body...)
	}
	return append(rawHeader("PaxHeaders/0.vhd", 'x', int64(len(data)), false, nil), padBlock(data)...)
}

// sparseCase is a sparse member of a given logical size whose data
// fragments hold pseudo-random bytes.
type sparseCase struct {
	size  int64
	frags []fragment
}

func (c sparseCase) data(i int) []byte { return pseudoRandom(int(c.frags[i].n), uint64(i+1)) }

func (c sparseCase) physical() []byte {
	var b []byte
	for i := range c.frags {
		b = append(b, c.data(i)...)
	}
	return b
}

// oldGNU encodes the member with a GNU 'S' header and, past four
// fragments, extension blocks.
func (c sparseCase) oldGNU() []byte {
	frags := c.frags
	if len(frags) == 0 {
		frags = []fragment{{c.size, 0}} // what GNU tar writes for a file of holes
	}
	phys := c.physical()
	put := func(b []byte, f fragment) { putNumeric(b[:12], f.off); putNumeric(b[12:24], f.n) }
	head := rawHeader("./0.vhd", 'S', int64(len(phys)), true, func(h []byte) {
		for i := 0; i < 4 && i < len(frags); i++ {
			put(h[386+24*i:], frags[i])
		}
		if len(frags) > 4 {
			h[482] = 1
		}
		putNumeric(h[483:495], c.size)
	})
	out := head
	for rest := frags[min(4, len(frags)):]; len(rest) > 0; {
		ext := make([]byte, 512)
		for i := 0; i < 21 && i < len(rest); i++ {
			put(ext[24*i:], rest[i])
		}
		if len(rest) > 21 {
			ext[504] = 1
		}
		rest = rest[min(21, len(rest)):]
		out = append(out, ext...)
	}
	return append(out, padBlock(phys)...)
}

// pax encodes the member with GNU's PAX sparse format 0.0, 0.1 or 1.0.
func (c sparseCase) pax(version string) []byte {
	phys := c.physical()
	var recs [][2]string
	var mapBlocks []byte
	var nums []string
	for _, f := range c.frags {
		nums = append(nums, fmt.Sprint(f.off), fmt.Sprint(f.n))
	}
	name := "./GNUSparseFile.1/0.vhd"
	switch version {
	case "0.0":
		recs = append(recs, [2]string{"GNU.sparse.size", fmt.Sprint(c.size)}, [2]string{"GNU.sparse.numblocks", fmt.Sprint(len(c.frags))})
		for _, f := range c.frags {
			recs = append(recs, [2]string{"GNU.sparse.offset", fmt.Sprint(f.off)}, [2]string{"GNU.sparse.numbytes", fmt.Sprint(f.n)})
		}
		recs = append(recs, [2]string{"GNU.sparse.name", "./0.vhd"})
	case "0.1":
		recs = append(recs, [2]string{"GNU.sparse.major", "0"}, [2]string{"GNU.sparse.minor", "1"},
			[2]string{"GNU.sparse.name", "./0.vhd"}, [2]string{"GNU.sparse.realsize", fmt.Sprint(c.size)},
			[2]string{"GNU.sparse.numblocks", fmt.Sprint(len(c.frags))}, [2]string{"GNU.sparse.map", strings.Join(nums, ",")})
	case "1.0":
		recs = append(recs, [2]string{"GNU.sparse.major", "1"}, [2]string{"GNU.sparse.minor", "0"},
			[2]string{"GNU.sparse.name", "./0.vhd"}, [2]string{"GNU.sparse.realsize", fmt.Sprint(c.size)})
		m := fmt.Sprint(len(c.frags)) + "\n"
		for _, n := range nums {
			m += n + "\n"
		}
		mapBlocks = padBlock([]byte(m))
	}
	size := int64(len(mapBlocks) + len(phys))
	recs = append(recs, [2]string{"size", fmt.Sprint(size)})
	out := append(paxEntry(recs...), rawHeader(name, '0', size, false, nil)...)
	out = append(out, mapBlocks...)
	return append(out, padBlock(phys)...)
}

// archive wraps one encoded member, plus a small regular file after it
// (to prove the stream continues in step), as a gzip-compressed tar.
func sparseArchive(t testing.TB, member []byte) []byte {
	t.Helper()
	raw := append(bytes.Clone(member), rawTar(t, tar.FormatGNU, true, reg("./1.vhd", []byte("parent")))...)
	return gz(t, raw)
}

// want returns the expected contents, for sizes small enough to hold.
func (c sparseCase) want() []byte {
	b := make([]byte, c.size)
	for i, f := range c.frags {
		copy(b[f.off:], c.data(i))
	}
	return b
}

var sparseEncodings = []struct {
	name string
	enc  func(sparseCase) []byte
}{
	{"gnu", sparseCase.oldGNU},
	{"pax0.0", func(c sparseCase) []byte { return c.pax("0.0") }},
	{"pax0.1", func(c sparseCase) []byte { return c.pax("0.1") }},
	{"pax1.0", func(c sparseCase) []byte { return c.pax("1.0") }},
}

func manyFragments(size int64, n int) []fragment {
	var fs []fragment
	step := size / int64(n)
	for i := range n {
		fs = append(fs, fragment{int64(i)*step + int64(i*513)%4096, int64(100 + i*37)})
	}
	return fs
}

// TestSparseFastEqualsSlow extracts small sparse members in every encoding
// both ways, skipping holes and through archive/tar's expansion, and
// checks the files are the same, and right.
func TestSparseFastEqualsSlow(t *testing.T) {
	for _, c := range []struct {
		name string
		sc   sparseCase
	}{
		{"all hole", sparseCase{size: 3 << 20}},
		{"one fragment at the end", sparseCase{size: 1 << 20, frags: []fragment{{1<<20 - 10, 10}}}},
		{"fragment at zero", sparseCase{size: 1 << 20, frags: []fragment{{0, 70000}}}},
		{"thirty fragments", sparseCase{size: 8 << 20, frags: manyFragments(8<<20, 30)}},
		{"zero-length fragments", sparseCase{size: 1 << 20, frags: []fragment{{0, 0}, {4096, 5000}, {900000, 0}}}},
		{"empty file", sparseCase{size: 0}},
	} {
		for _, e := range sparseEncodings {
			if len(c.sc.frags) == 0 && (e.name == "pax0.0" || c.sc.size == 0 && e.name == "gnu") {
				// PAX 0.0 has no way to say "sparse" without a fragment;
				// GNU tar writes a file of holes as one entry [size, 0].
				continue
			}
			t.Run(c.name+"/"+e.name, func(t *testing.T) {
				archive := sparseArchive(t, e.enc(c.sc))
				got := map[bool]map[string]string{}
				for _, slow := range []bool{false, true} {
					dir := t.TempDir()
					res, err := unpack(context.Background(), bytes.NewReader(archive), dir, nil, slow)
					if err != nil {
						t.Fatalf("slow=%v: %v", slow, err)
					}
					if diff := cmp.Diff([]FileInfo{{"0.vhd", c.sc.size}, {"1.vhd", 6}}, res.Files); diff != "" {
						t.Errorf("slow=%v: files (-want +got):\n%s", slow, diff)
					}
					got[slow] = readFiles(t, dir)
				}
				want := digests(map[string][]byte{"0.vhd": c.sc.want(), "1.vhd": []byte("parent")})
				if diff := cmp.Diff(want, got[false]); diff != "" {
					t.Errorf("hole-skipping path (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(got[true], got[false]); diff != "" {
					t.Errorf("paths differ (-archive/tar +hole-skipping):\n%s", diff)
				}
			})
		}
	}
}

// TestSparseLies checks that sparse maps which do not agree with their data
// are refused, on the hole-skipping path, and never extracted.
func TestSparseLies(t *testing.T) {
	good := sparseCase{size: 1 << 20, frags: []fragment{{0, 1000}, {500000, 2000}}}
	for _, tc := range []struct {
		name   string
		member []byte
	}{
		{"map holds more than the data", func() []byte {
			m := sparseCase{size: 1 << 20, frags: []fragment{{0, 1000}, {500000, 2000}}}.oldGNU()
			putNumeric(m[124:136], 1000) // the header says 1000 bytes follow
			return fixChecksum(m)
		}()},
		{"fragments overlap", func() []byte {
			c := sparseCase{size: 1 << 20, frags: []fragment{{0, 1000}, {500, 2000}}}
			return c.pax("1.0")
		}()},
		{"fragment past the size", sparseCase{size: 1 << 20, frags: []fragment{{1 << 20, 10}}}.pax("0.1")},
		{"data longer than the map", func() []byte {
			m := good.oldGNU()
			putNumeric(m[124:136], 3000+512)
			return append(fixChecksum(m), make([]byte, 512)...)
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			_, err := Unpack(context.Background(), bytes.NewReader(sparseArchive(t, tc.member)), dir, nil)
			var ee *EntryError
			if err == nil || !errors.As(err, &ee) {
				t.Fatalf("error %v, want an *EntryError", err)
			}
			if got := readFiles(t, dir); len(got) != 0 {
				t.Errorf("refused archive left %v", got)
			}
			t.Log(err)
		})
	}
}

// fixChecksum recomputes the checksum of the header block at the start of b.
func fixChecksum(b []byte) []byte {
	h := b[:512]
	copy(h[148:156], "        ")
	sum := 0
	for _, c := range h {
		sum += int(c)
	}
	copy(h[148:], fmt.Sprintf("%06o\x00 ", sum))
	return b
}

const holeChildEnv = "VHDKIT_TARBALL_HOLE_CHILD"

// TestHoleArchiveCPU extracts 100 GiB sparse members (a 132-byte archive
// for the all-hole GNU one) in a child process with the default limits;
// the child must use at most one second of CPU and leave a 100 GiB file
// that uses almost no disk.
func TestHoleArchiveCPU(t *testing.T) {
	if os.Getenv(holeChildEnv) != "" {
		t.Skip("in the child")
	}
	const size = 100 << 30
	for _, c := range []struct {
		name string
		sc   sparseCase
	}{
		{"all hole", sparseCase{size: size}},
		{"data in the middle and at the end", sparseCase{size: size, frags: []fragment{{size / 2, 4096}, {size - 100, 100}}}},
		{"forty fragments", sparseCase{size: size, frags: manyFragments(size, 40)}},
	} {
		for _, e := range sparseEncodings {
			if len(c.sc.frags) == 0 && e.name != "gnu" {
				continue
			}
			t.Run(c.name+"/"+e.name, func(t *testing.T) {
				archive := sparseArchive(t, e.enc(c.sc))
				t.Logf("archive of %d bytes", len(archive))
				in := filepath.Join(t.TempDir(), "in.tgz")
				if err := os.WriteFile(in, archive, 0o644); err != nil {
					t.Fatal(err)
				}
				dir := t.TempDir()
				cmd := exec.Command(os.Args[0], "-test.run=^TestHoleArchiveChild$", "-test.v")
				cmd.Env = append(os.Environ(), holeChildEnv+"="+in+"\n"+dir)
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("child: %v\n%s", err, out)
				}
				cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
				t.Logf("child used %v of CPU", cpu)
				if cpu > time.Second {
					t.Errorf("extracting used %v of CPU, want at most 1s", cpu)
				}
				f, err := os.Open(filepath.Join(dir, "0.vhd"))
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				if fi, _ := f.Stat(); fi.Size() != size {
					t.Errorf("size %d, want %d", fi.Size(), size)
				}
				for i, fr := range c.sc.frags {
					got := make([]byte, fr.n)
					if _, err := f.ReadAt(got, fr.off); err != nil || !bytes.Equal(got, c.sc.data(i)) {
						t.Errorf("fragment at %d differs (%v)", fr.off, err)
					}
				}
				if used := diskUsage(t, filepath.Join(dir, "0.vhd")); used > 4<<20 {
					t.Errorf("extracted file uses %d bytes of disk", used)
				}
			})
		}
	}
}

// TestHoleArchiveChild is the child of TestHoleArchiveCPU: it extracts the
// archive named in its environment and does nothing otherwise.
func TestHoleArchiveChild(t *testing.T) {
	in, dir, ok := strings.Cut(os.Getenv(holeChildEnv), "\n")
	if !ok {
		t.Skip("run by TestHoleArchiveCPU")
	}
	f, err := os.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := Unpack(context.Background(), f, dir, nil); err != nil {
		t.Fatal(err)
	}
}
