package tarball

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/klauspost/compress/flate"
)

// gunzipAll decodes b with the package's gzip reader (parallel for indexed
// pieces) from a plain io.Reader, as from a pipe.
func gunzipAll(b []byte, workers int) ([]byte, error) {
	z := newGunzipper(context.Background(), &rawReader{r: struct{ io.Reader }{bytes.NewReader(b)}}, 64<<10, 4, workers)
	defer z.Close()
	return io.ReadAll(z)
}

// stdGunzip decodes b with compress/gzip, which ignores the piece index:
// the serial reference.
func stdGunzip(b []byte) ([]byte, error) {
	r, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

// piece is one member to assemble: its deflate data and what its trailer
// and index say.
type piece struct {
	body      []byte
	crc, size uint32
	clen      int    // index; -1 means no index (a plain member)
	extra     []byte // FEXTRA data replacing the index, when not nil
}

func honest(data, body []byte) piece {
	return piece{body: body, crc: crc32.ChecksumIEEE(data), size: uint32(len(data)), clen: len(body)}
}

// assemble builds a gzip stream of the pieces, ended by a final piece
// with the given totals when final is true.
func assemble(pieces []piece, final bool, total uint64, crc uint32) []byte {
	var out []byte
	for _, p := range pieces {
		switch {
		case p.extra != nil:
			h := []byte{0x1f, 0x8b, 8, 4, 0, 0, 0, 0, 0, 255, 0, 0}
			binary.LittleEndian.PutUint16(h[10:], uint16(len(p.extra)))
			out = append(append(out, h...), p.extra...)
		case p.clen < 0:
			out = append(out, 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255)
		default:
			out = append(out, pieceHeader(p.clen, false, 0, 0)...)
		}
		out = append(out, p.body...)
		out = binary.LittleEndian.AppendUint32(out, p.crc)
		out = binary.LittleEndian.AppendUint32(out, p.size)
	}
	if final {
		out = append(out, pieceHeader(2, true, total, crc)...)
		out = append(out, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0)
	}
	return out
}

// split cuts data into pieces of size bytes (the last may be shorter; an
// empty data gives one empty piece).
func split(data []byte, size int) [][]byte {
	var out [][]byte
	for len(data) > size {
		out = append(out, data[:size])
		data = data[size:]
	}
	return append(out, data)
}

func goDeflate(level int) func([]byte) []byte {
	return func(b []byte) []byte {
		var buf bytes.Buffer
		w, err := flate.NewWriter(&buf, level)
		if err != nil {
			panic(err)
		}
		w.Write(b)
		w.Close()
		return buf.Bytes()
	}
}

// gzipBody runs a gzip-compatible tool on b and returns the deflate data
// of the single member it writes.
func gzipBody(t *testing.T, argv ...string) func([]byte) []byte {
	tool := needTool(t, argv[0])
	return func(b []byte) []byte {
		cmd := exec.Command(tool, argv[1:]...)
		cmd.Stdin = bytes.NewReader(b)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%v: %v", argv, err)
		}
		return memberBody(t, out)
	}
}

// memberBody strips the header and trailer of a one-member gzip stream.
func memberBody(t *testing.T, m []byte) []byte {
	t.Helper()
	if len(m) < 18 || m[0] != 0x1f || m[1] != 0x8b || m[3]&^0x08 != 0 {
		t.Fatalf("unexpected gzip header % x", m[:min(len(m), 12)])
	}
	h := 10
	if m[3]&0x08 != 0 {
		h += bytes.IndexByte(m[10:], 0) + 1
	}
	return m[h : len(m)-8]
}

// pyDeflate compresses each piece with Python's zlib, raw deflate, at a
// level and strategy, in one process; the bodies come back length-prefixed.
func pyDeflate(t *testing.T, level int, strategy string) func([][]byte) [][]byte {
	return func(pieces [][]byte) [][]byte {
		py := needTool(t, "/usr/bin/python3")
		script := fmt.Sprintf(`
import sys, struct, zlib
data = sys.stdin.buffer.read()
out = sys.stdout.buffer
while data:
    n = struct.unpack("<I", data[:4])[0]
    piece, data = data[4:4+n], data[4+n:]
    c = zlib.compressobj(%d, zlib.DEFLATED, -15, 8, zlib.%s)
    body = c.compress(piece) + c.flush()
    out.write(struct.pack("<I", len(body)) + body)
`, level, strategy)
		var in []byte
		for _, p := range pieces {
			in = binary.LittleEndian.AppendUint32(in, uint32(len(p)))
			in = append(in, p...)
		}
		cmd := exec.Command(py, "-c", script)
		cmd.Stdin = bytes.NewReader(in)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("python zlib %s: %v", strategy, err)
		}
		var bodies [][]byte
		for len(out) > 0 {
			n := binary.LittleEndian.Uint32(out)
			bodies = append(bodies, out[4:4+n])
			out = out[4+n:]
		}
		return bodies
	}
}

// pieceTestData is tar-like: data pages, text, zeros, incompressible runs.
func pieceTestData() []byte {
	return append(append(imageLike(1<<20+12345, 7), make([]byte, 300<<10)...), pseudoRandom(200<<10, 8)...)
}

// deflateEncoder makes raw deflate data of each of a list of inputs.
type deflateEncoder struct {
	name string
	enc  func(*testing.T) func([][]byte) [][]byte
}

// deflateEncoders are the writers whose output the readers are checked
// on: gzip -1 to -9, pigz with and without -i, Python's gzip, zlib's
// Huffman-only, RLE, fixed and stored strategies, and Go's.
func deflateEncoders() []deflateEncoder {
	each := func(f func([]byte) []byte) func([][]byte) [][]byte {
		return func(ps [][]byte) [][]byte {
			var out [][]byte
			for _, p := range ps {
				out = append(out, f(p))
			}
			return out
		}
	}
	var encoders []deflateEncoder
	for level := 1; level <= 9; level++ {
		encoders = append(encoders, deflateEncoder{fmt.Sprintf("gzip -%d", level), func(t *testing.T) func([][]byte) [][]byte {
			return each(gzipBody(t, "gzip", "-n", "-c", fmt.Sprintf("-%d", level)))
		}})
	}
	encoders = append(encoders,
		deflateEncoder{"pigz", func(t *testing.T) func([][]byte) [][]byte { return each(gzipBody(t, "pigz", "-n", "-c", "-b", "32")) }},
		deflateEncoder{"pigz -i", func(t *testing.T) func([][]byte) [][]byte {
			return each(gzipBody(t, "pigz", "-n", "-c", "-i", "-b", "32"))
		}},
		deflateEncoder{"python gzip", func(t *testing.T) func([][]byte) [][]byte {
			return each(gzipBody(t, "/usr/bin/python3", "-c", "import gzip,sys; sys.stdout.buffer.write(gzip.compress(sys.stdin.buffer.read(), mtime=0))"))
		}},
		deflateEncoder{"zlib huffman only", func(t *testing.T) func([][]byte) [][]byte { return pyDeflate(t, 6, "Z_HUFFMAN_ONLY") }},
		deflateEncoder{"zlib rle", func(t *testing.T) func([][]byte) [][]byte { return pyDeflate(t, 6, "Z_RLE") }},
		deflateEncoder{"zlib fixed", func(t *testing.T) func([][]byte) [][]byte { return pyDeflate(t, 6, "Z_FIXED") }},
		deflateEncoder{"zlib stored", func(t *testing.T) func([][]byte) [][]byte { return pyDeflate(t, 0, "Z_DEFAULT_STRATEGY") }},
		deflateEncoder{"go huffman only", func(*testing.T) func([][]byte) [][]byte { return each(goDeflate(flate.HuffmanOnly)) }},
		deflateEncoder{"go stored", func(*testing.T) func([][]byte) [][]byte { return each(goDeflate(0)) }},
		deflateEncoder{"go level 1", func(*testing.T) func([][]byte) [][]byte { return each(goDeflate(1)) }},
		deflateEncoder{"go level 9", func(*testing.T) func([][]byte) [][]byte { return each(goDeflate(9)) }},
	)
	return encoders
}

// TestPiecesParallelEqualsSerial wraps the deflate data of many encoders
// (gzip -1 to -9, pigz with and without -i, Python's gzip, zlib's
// strategies, Go's levels) in indexed pieces and checks that the parallel
// path, the serial path (the same members without index) and compress/gzip
// all return the original bytes.
func TestPiecesParallelEqualsSerial(t *testing.T) {
	data := pieceTestData()
	pieces := split(data, 256<<10)
	for _, e := range deflateEncoders() {
		t.Run(e.name, func(t *testing.T) {
			bodies := e.enc(t)(pieces)
			var indexed, plain []piece
			var crc uint32
			for i, b := range bodies {
				p := honest(pieces[i], b)
				indexed = append(indexed, p)
				p.clen = -1
				plain = append(plain, p)
				crc = crc32Combine(crc, p.crc, int64(len(pieces[i])))
			}
			par := assemble(indexed, true, uint64(len(data)), crc)
			ser := assemble(plain, false, 0, 0)
			gotPar, err := gunzipAll(par, 3)
			if err != nil {
				t.Fatalf("parallel: %v", err)
			}
			gotSer, err := gunzipAll(ser, 3)
			if err != nil {
				t.Fatalf("serial: %v", err)
			}
			gotStd, err := stdGunzip(par)
			if err != nil {
				t.Fatalf("compress/gzip: %v", err)
			}
			for name, got := range map[string][]byte{"parallel": gotPar, "serial": gotSer, "compress/gzip": gotStd} {
				if !bytes.Equal(got, data) {
					t.Errorf("%s: %d bytes differ from the %d bytes compressed", name, len(got), len(data))
				}
			}
		})
	}
}

var atByte = regexp.MustCompile(`gzip (?:member|stream ends) at byte (\d+)`)

// errOffset returns the compressed offset an error names, or -1.
func errOffset(err error) int64 {
	m := atByte.FindStringSubmatch(fmt.Sprint(err))
	if m == nil {
		return -1
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	return n
}

// TestPieceIndexLies builds streams whose index, trailers or final piece
// lie and checks that each is refused with a typed error naming the
// member's offset, or decoded serially to the right bytes, never
// mis-decoded.
func TestPieceIndexLies(t *testing.T) {
	data := pieceTestData()[:700<<10]
	chunks := split(data, 256<<10)
	good := func() []piece {
		var ps []piece
		for _, c := range chunks {
			ps = append(ps, honest(c, goDeflate(6)(c)))
		}
		return ps
	}
	totals := func(ps []piece) (uint64, uint32) {
		var n uint64
		var crc uint32
		for _, p := range ps {
			crc = crc32Combine(crc, p.crc, int64(p.size))
			n += uint64(p.size)
		}
		return n, crc
	}
	offsetOf := func(ps []piece, i int) int64 { return int64(len(assemble(ps[:i], false, 0, 0))) }
	big := pseudoRandom(maxPiece+1, 9)
	for _, tc := range []struct {
		name    string
		edit    func(ps []piece) ([]piece, bool) // false: no final piece
		bad     int                              // the piece the error must name; -1: the end
		wantErr error                            // nil: decodes to data
	}{
		{"honest", func(ps []piece) ([]piece, bool) { return ps, true }, 0, nil},
		{"index too short", func(ps []piece) ([]piece, bool) { ps[1].clen -= 3; return ps, true }, 1, gzip.ErrHeader}, // the trailer is read 3 bytes early
		{"index swallows the next header", func(ps []piece) ([]piece, bool) { ps[1].clen += 30; return ps, true }, 1, gzip.ErrHeader},
		{"index promises more than the data", func(ps []piece) ([]piece, bool) { ps[2].clen += 4000; return ps, false }, 2, io.ErrUnexpectedEOF},
		{"index beyond the cap: decoded serially", func(ps []piece) ([]piece, bool) {
			ps[1].extra = []byte{'V', 'K', 8, 0, 0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0}
			return ps, true
		}, 0, nil},
		{"reserved flag: decoded serially", func(ps []piece) ([]piece, bool) {
			ps[1].extra = binary.LittleEndian.AppendUint32([]byte{'V', 'K', 8, 0}, uint32(len(ps[1].body)))
			ps[1].extra = append(ps[1].extra, 2, 0, 0, 0)
			return ps, true
		}, 0, nil},
		{"two indexes: decoded serially", func(ps []piece) ([]piece, bool) {
			one := binary.LittleEndian.AppendUint32([]byte{'V', 'K', 8, 0}, uint32(len(ps[0].body)))
			one = append(one, 0, 0, 0, 0)
			ps[0].extra = append(bytes.Clone(one), one...)
			return ps, true
		}, 0, nil},
		{"trailer CRC wrong", func(ps []piece) ([]piece, bool) { ps[1].crc ^= 1; return ps, true }, 1, gzip.ErrChecksum},
		{"trailer size wrong", func(ps []piece) ([]piece, bool) { ps[2].size--; return ps, true }, 2, gzip.ErrChecksum},
		{"plain member CRC wrong", func(ps []piece) ([]piece, bool) { ps[1].clen = -1; ps[1].crc ^= 1; return ps, true }, 1, gzip.ErrChecksum},
		{"piece larger than the cap", func(ps []piece) ([]piece, bool) {
			ps[1] = honest(big, goDeflate(1)(big))
			return ps, true
		}, 1, gzip.ErrHeader},
		{"final piece missing", func(ps []piece) ([]piece, bool) { return ps, false }, -1, io.ErrUnexpectedEOF},
		{"piece dropped", func(ps []piece) ([]piece, bool) { return append(ps[:1], ps[2:]...), true }, -1, gzip.ErrChecksum},
		{"pieces swapped", func(ps []piece) ([]piece, bool) { ps[0], ps[1] = ps[1], ps[0]; return ps, true }, -1, gzip.ErrChecksum},
		{"corrupt deflate data", func(ps []piece) ([]piece, bool) {
			ps[1].body = bytes.Clone(ps[1].body)
			ps[1].body[0] |= 6 // BTYPE 3, reserved
			return ps, true
		}, 1, flate.CorruptInputError(0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			orig := good()
			n, crc := totals(orig) // the totals of the honest stream
			ps, final := tc.edit(good())
			stream := assemble(ps, final, n, crc)
			got, err := gunzipAll(stream, 2)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, data) {
					t.Fatalf("decoded %d bytes that differ from the %d compressed", len(got), len(data))
				}
				return
			}
			var ce flate.CorruptInputError
			if _, isCorrupt := tc.wantErr.(flate.CorruptInputError); isCorrupt && !errors.As(err, &ce) || !isCorrupt && !errors.Is(err, tc.wantErr) {
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
			want := int64(len(stream) - len(pieceHeader(2, true, 0, 0)) - 10)
			if !final {
				want = int64(len(stream))
			}
			if tc.bad >= 0 {
				want = offsetOf(ps, tc.bad)
			}
			if got := errOffset(err); got != want {
				t.Errorf("error names byte %d, want %d: %v", got, want, err)
			}
			t.Log(err)
		})
	}
}

// TestCorruptAndTruncatedPieces truncates a packed archive of many pieces
// and flips bytes in it at many offsets: every truncation must fail with
// io.ErrUnexpectedEOF, every flip must fail or (in bytes no reader checks,
// such as MTIME) give the same files; an error names a member at or before
// the damage; a refused archive leaves nothing.
func TestCorruptAndTruncatedPieces(t *testing.T) {
	src := t.TempDir()
	files := map[string][]byte{"0.vhd": imageLike(600<<10, 3), "1.vhd": []byte("parent")}
	writeFiles(t, src, files)
	var buf bytes.Buffer
	if _, err := Pack(context.Background(), &buf, src, &PackOptions{BlockSize: 32 << 10}); err != nil {
		t.Fatal(err)
	}
	archive := buf.Bytes()
	want := digests(files)
	step := len(archive)/151 + 1
	for off := 0; off < len(archive); off += step {
		for _, kind := range []string{"truncated", "flipped"} {
			b := bytes.Clone(archive)
			if kind == "truncated" {
				b = b[:off]
			} else {
				b[off] ^= 0x5a
			}
			dir := t.TempDir()
			_, err := Unpack(context.Background(), bytes.NewReader(b), dir, nil)
			got := readFiles(t, dir)
			if err == nil {
				if kind == "truncated" {
					t.Errorf("%s at %d: accepted", kind, off)
				} else if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("%s at %d: accepted with other files (-want +got):\n%s", kind, off, diff)
				}
				continue
			}
			var ee *EntryError
			if !errors.As(err, &ee) {
				t.Errorf("%s at %d: %v is not an *EntryError", kind, off, err)
			}
			if kind == "truncated" && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("%s at %d: %v, want io.ErrUnexpectedEOF", kind, off, err)
			}
			if at := errOffset(err); at > int64(off) {
				t.Errorf("%s at %d: error names byte %d, after the damage: %v", kind, off, at, err)
			}
			if len(got) != 0 {
				t.Errorf("%s at %d: refused archive left %v", kind, off, got)
			}
		}
	}
}

// TestPackReaders packs archives of every shape and reads them back with
// Unpack (from a pipe too), GNU tar, gzip, pigz and Python's gzip and
// tarfile (r:gz), which must all see the same files.
func TestPackReaders(t *testing.T) {
	type src struct {
		name  string
		setup func(t *testing.T, dir string)
		block int
		want  int // pieces at least
	}
	files := func(m map[string][]byte) func(*testing.T, string) {
		return func(t *testing.T, dir string) { writeFiles(t, dir, m) }
	}
	many := map[string][]byte{}
	for i := range 40 {
		many[fmt.Sprintf("%d.vhd", i)] = imageLike(i*3001, uint64(i))
	}
	for _, s := range []src{
		{"empty directory", func(*testing.T, string) {}, 0, 1},
		{"0-byte file", files(map[string][]byte{"0.vhd": {}}), 0, 1},
		{"1-byte file", files(map[string][]byte{"0.vhd": {7}}), 0, 1},
		{"1 piece", files(map[string][]byte{"0.vhd": imageLike(200<<10, 1)}), 0, 1},
		{"many pieces", files(map[string][]byte{"0.vhd": imageLike(3<<20, 2), "1.vhd": []byte("parent")}), 64 << 10, 40},
		{"holes", func(t *testing.T, dir string) {
			f, err := os.Create(filepath.Join(dir, "0.vhd"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			f.WriteAt(pseudoRandom(100000, 4), 0)
			f.WriteAt(pseudoRandom(5000, 5), 5<<20)
			f.Truncate(8 << 20)
		}, 256 << 10, 30},
		{"many files", files(many), 32 << 10, 20},
	} {
		t.Run(s.name, func(t *testing.T) {
			dir := t.TempDir()
			s.setup(t, dir)
			want := readFiles(t, dir)
			var buf bytes.Buffer
			if _, err := Pack(context.Background(), &buf, dir, &PackOptions{BlockSize: s.block}); err != nil {
				t.Fatal(err)
			}
			if n := countPieces(t, buf.Bytes()); n < s.want {
				t.Errorf("%d indexed pieces, want at least %d", n, s.want)
			}
			archive := filepath.Join(t.TempDir(), "a.tgz")
			if err := os.WriteFile(archive, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			for _, r := range []struct {
				name string
				argv []string // run with A and D replaced; nil: Unpack
				pipe bool
			}{
				{"Unpack", nil, false},
				{"Unpack from a pipe", nil, true},
				{"tar -zx", []string{"tar", "-zxf", "A", "-C", "D"}, false},
				{"gzip -dc | tar -x", []string{"sh", "-c", "gzip -dc < A | tar -xf - -C D"}, false},
				{"pigz -dc | tar -x", []string{"sh", "-c", "pigz -dc < A | tar -xf - -C D"}, false},
				{"python tarfile r:gz", []string{"/usr/bin/python3", "-c", "import sys, tarfile; tarfile.open(sys.argv[1], 'r:gz').extractall(sys.argv[2])", "A", "D"}, false},
				{"python gzip", []string{"/usr/bin/python3", "-c", "import gzip, io, sys, tarfile; tarfile.open(fileobj=io.BytesIO(gzip.open(sys.argv[1]).read())).extractall(sys.argv[2])", "A", "D"}, false},
			} {
				t.Run(r.name, func(t *testing.T) {
					out := t.TempDir()
					if r.argv == nil {
						var in io.Reader = bytes.NewReader(buf.Bytes())
						if r.pipe {
							pr, pw := io.Pipe()
							go func() { pw.CloseWithError(iotestCopy(pw, buf.Bytes())) }()
							in = pr
						}
						if _, err := Unpack(context.Background(), in, out, nil); err != nil {
							t.Fatal(err)
						}
					} else {
						if r.argv[0] == "sh" {
							needTool(t, "gzip")
							needTool(t, "pigz")
						}
						argv := make([]string, len(r.argv))
						for i, a := range r.argv {
							a = regexp.MustCompile(`\bA\b`).ReplaceAllString(a, archive)
							argv[i] = regexp.MustCompile(`\bD\b`).ReplaceAllString(a, out)
						}
						cmd := exec.Command(needTool(t, argv[0]), argv[1:]...)
						if msg, err := cmd.CombinedOutput(); err != nil {
							t.Fatalf("%v: %v\n%s", r.argv, err, msg)
						}
					}
					if diff := cmp.Diff(want, readFiles(t, out)); diff != "" {
						t.Errorf("files (-packed +read):\n%s", diff)
					}
				})
			}
			t.Run("gzip -t", func(t *testing.T) {
				if msg, err := exec.Command(needTool(t, "gzip"), "-t", archive).CombinedOutput(); err != nil {
					t.Errorf("gzip -t: %v\n%s", err, msg)
				}
			})
		})
	}
}

// iotestCopy writes b in small, uneven writes, as a network would.
func iotestCopy(w io.Writer, b []byte) error {
	for i := 1; len(b) > 0; i++ {
		n := min(len(b), i*997%8192+1)
		if _, err := w.Write(b[:n]); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// countPieces walks the members of a packed archive by their indexes and
// returns how many data pieces it holds; the last member must be the
// final piece.
func countPieces(t *testing.T, b []byte) int {
	t.Helper()
	n := 0
	for len(b) > 0 {
		if len(b) < 12 || b[3] != 4 {
			t.Fatalf("member without FEXTRA: % x", b[:min(len(b), 12)])
		}
		xlen := int(binary.LittleEndian.Uint16(b[10:]))
		idx, ok := parsePieceIndex(b[12 : 12+xlen])
		if !ok {
			t.Fatalf("member without a piece index")
		}
		b = b[12+xlen+int(idx.clen)+8:]
		if idx.final {
			if len(b) != 0 {
				t.Fatalf("%d bytes after the final piece", len(b))
			}
			return n
		}
		n++
	}
	t.Fatal("no final piece")
	return n
}

func TestCRC32Combine(t *testing.T) {
	data := pseudoRandom(100000, 11)
	for _, cut := range []int{0, 1, 7, 4096, 65537, 99999, 100000} {
		a, b := data[:cut], data[cut:]
		got := crc32Combine(crc32.ChecksumIEEE(a), crc32.ChecksumIEEE(b), int64(len(b)))
		if want := crc32.ChecksumIEEE(data); got != want {
			t.Errorf("cut at %d: %#08x, want %#08x", cut, got, want)
		}
	}
}
