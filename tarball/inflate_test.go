package tarball

import (
	"bufio"
	"bytes"
	stdflate "compress/flate"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// stdInflate decodes comp with compress/flate, the reference, keeping at
// most limit bytes; used is where the stream ends in comp, and over
// reports that it decodes to more than limit.
func stdInflate(comp []byte, limit int) (out []byte, used int, over bool, err error) {
	br := bytes.NewReader(comp)
	out, err = io.ReadAll(io.LimitReader(stdflate.NewReader(br), int64(limit)+1))
	return out, len(comp) - br.Len(), len(out) > limit, err
}

var errTooLong = errors.New("more bytes than expected")

// inflateWhole decodes comp in one call, as the parallel path decodes a
// piece, into room for limit bytes.
func inflateWhole(comp []byte, limit int) (out []byte, used int, err error) {
	var f inflater
	f.reset(comp, true)
	buf := make([]byte, limit+1+inflateSlack)
	n, err := f.decode(buf, 0, 0, limit+1)
	if err == nil && !f.done() {
		err = errTooLong
	}
	return buf[:n], f.rewind(), err
}

// shortReader returns at most n bytes a call.
type shortReader struct {
	r io.Reader
	n int
}

func (s *shortReader) Read(p []byte) (int, error) { return s.r.Read(p[:min(len(p), s.n)]) }

// inflateStreamed decodes comp as the serial path does: from a reader
// returning at most read bytes a call, into chunks of chunk bytes.
func inflateStreamed(comp []byte, read, chunk int) (out []byte, used int, err error) {
	br := bytes.NewReader(comp)
	r := bufio.NewReaderSize(&shortReader{br, read}, 4096)
	var f inflater
	_, err = f.stream(r, chunk, func(n int) []byte { return make([]byte, n) }, func(_, data []byte) bool {
		if len(data) > max(chunk, minStreamChunk) {
			err = fmt.Errorf("a chunk of %d bytes, more than %d", len(data), chunk)
		}
		out = append(out, data...)
		return true
	})
	return out, len(comp) - br.Len() - r.Buffered(), err
}

// inflateResult summarizes a decode for cmp.Diff: the length and CRC-32
// of the bytes, the offset of the first byte that differs from the
// reference, and where the stream ended.
type inflateResult struct {
	Len       int
	CRC       uint32
	FirstDiff int
	Used      int
}

func summarize(out, ref []byte, used int) inflateResult {
	d := 0
	for d < min(len(out), len(ref)) && out[d] == ref[d] {
		d++
	}
	if d == len(out) && d == len(ref) {
		d = -1
	}
	return inflateResult{len(out), crc32.ChecksumIEEE(out), d, used}
}

// TestInflateMatchesFlate decodes the output of every encoder the readers
// are checked on (gzip -1 to -9, pigz with and without -i, Python's gzip,
// zlib's strategies) whole and streamed in small reads and chunks, and
// compares the bytes and where the stream ends with compress/flate's.
func TestInflateMatchesFlate(t *testing.T) {
	data := pieceTestData()
	if testing.Short() { // the same kinds of bytes, less of them
		data = append(append(imageLike(300<<10, 7), make([]byte, 100<<10)...), pseudoRandom(50<<10, 8)...)
	}
	for _, e := range deflateEncoders() {
		t.Run(e.name, func(t *testing.T) {
			comp := e.enc(t)([][]byte{data})[0]
			comp = append(comp, "trailing bytes"...) // a gzip trailer follows
			out, used, _, err := stdInflate(comp, len(data))
			if err != nil || !bytes.Equal(out, data) {
				t.Fatalf("compress/flate: %d bytes, %v", len(out), err)
			}
			want := summarize(data, data, used)
			check := func(name string, out []byte, used int, err error) {
				t.Helper()
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if diff := cmp.Diff(want, summarize(out, data, used)); diff != "" {
					t.Errorf("%s: (-compress/flate +inflater):\n%.600s", name, diff)
				}
			}
			out, used, err = inflateWhole(comp, len(data))
			check("whole", out, used, err)
			sizes := []struct{ read, chunk int }{{7, 1000}, {4093, 64 << 10}, {1 << 20, 1 << 20}}
			if testing.Short() {
				sizes[0].read = 61 // fewer calls under the race detector
			}
			for _, s := range sizes {
				out, used, err := inflateStreamed(comp, s.read, s.chunk)
				check(fmt.Sprintf("streamed read %d chunk %d", s.read, s.chunk), out, used, err)
			}
		})
	}
}

// inflateSeeds are deflate streams at the edges of the format.
func inflateSeeds() [][]byte {
	text := []byte("vhdkit inflates; vhdkit inflates; vhdkit inflates again and again")
	seeds := [][]byte{
		{3, 0},                // a fixed block holding only its end
		{1, 0, 0, 0xff, 0xff}, // an empty stored block
		{1, 5, 0, 0xfa, 0xff, 'h', 'e', 'l', 'l', 'o'},
		{0, 1, 0, 0xfe, 0xff, 'x', 3, 0},     // a stored block, then a fixed one
		{1, 1, 0, 0xfe, 0xfe, 'x'},           // NLEN does not match
		{7},                                  // block type 3
		{0x63, 0, 0x42, 0},                   // a fixed block reaching before the start
		{0xed, 0xc0, 0x01, 0x01, 0, 0, 0},    // a dynamic block cut short
		{0x05, 0xc0, 0x81, 0x08, 0, 0, 0},    // dynamic, degenerate codes
		{1, 5, 0, 0xfa, 0xff, 'h', 'e', 'l'}, // a stored block cut short
	}
	for _, level := range []int{stdflate.HuffmanOnly, 0, 1, 6, 9} {
		seeds = append(seeds, goDeflate(level)(text), goDeflate(level)(imageLike(20000, 4)))
	}
	return seeds
}

// FuzzInflate decodes fuzzer-made deflate data whole and streamed and
// compares the result with compress/flate's: the same bytes and end when
// it accepts the data, an error when it refuses them.
func FuzzInflate(f *testing.F) {
	for i, s := range inflateSeeds() {
		f.Add(s, uint16(i*977))
	}
	f.Fuzz(func(t *testing.T, comp []byte, sizes uint16) {
		const limit = 1 << 20
		want, used, over, werr := stdInflate(comp, limit)
		if over {
			return // a bomb: compress/flate's verdict is not known
		}
		read, chunk := 1+int(sizes&0xff), 1+int(sizes>>8)*256
		for _, dec := range []struct {
			name string
			run  func() ([]byte, int, error)
		}{
			{"whole", func() ([]byte, int, error) { return inflateWhole(comp, limit) }},
			{"streamed", func() ([]byte, int, error) { return inflateStreamed(comp, read, chunk) }},
		} {
			got, gotUsed, err := dec.run()
			switch {
			case werr != nil && err == nil:
				t.Fatalf("%s: accepted %d bytes that compress/flate refuses: %v", dec.name, len(got), werr)
			case werr == nil && err != nil:
				t.Fatalf("%s: refused what compress/flate decodes to %d bytes: %v", dec.name, len(want), err)
			case werr == nil:
				if diff := cmp.Diff(summarize(want, want, used), summarize(got, want, gotUsed)); diff != "" {
					t.Fatalf("%s: (-compress/flate +inflater):\n%.600s", dec.name, diff)
				}
			}
		}
	})
}

// TestInflateDamaged cuts deflate streams of each block type at every byte
// and flips every bit of their first bytes: wherever compress/flate
// refuses the data the inflater must refuse it too (a cut with
// io.ErrUnexpectedEOF), and wherever it accepts them the inflater must
// decode the same bytes.
func TestInflateDamaged(t *testing.T) {
	data := append(imageLike(6000, 3), make([]byte, 3000)...)
	stride := 1 // every cut and every bit; in short mode a sample
	if testing.Short() {
		stride = 7
	}
	for _, level := range []int{stdflate.HuffmanOnly, 0, 1, 9} {
		comp := goDeflate(level)(data)
		t.Run(fmt.Sprintf("level %d", level), func(t *testing.T) {
			for cut := 0; cut < len(comp); cut += stride {
				for name, dec := range map[string]func() ([]byte, int, error){
					"whole":    func() ([]byte, int, error) { return inflateWhole(comp[:cut], len(data)) },
					"streamed": func() ([]byte, int, error) { return inflateStreamed(comp[:cut], 1+cut%300, 1) },
				} {
					if _, _, err := dec(); !errors.Is(err, io.ErrUnexpectedEOF) {
						t.Fatalf("%s, cut at %d of %d bytes: %v, want %v", name, cut, len(comp), err, io.ErrUnexpectedEOF)
					}
				}
			}
			for bit := 0; bit < min(len(comp), 400)*8; bit += stride {
				bad := bytes.Clone(comp)
				bad[bit/8] ^= 1 << (bit % 8)
				want, used, _, werr := stdInflate(bad, 1<<20)
				got, gotUsed, err := inflateWhole(bad, 1<<20)
				if (err == nil) != (werr == nil) {
					t.Fatalf("bit %d flipped: %v; compress/flate: %v", bit, err, werr)
				}
				if err == nil {
					if diff := cmp.Diff(summarize(want, want, used), summarize(got, want, gotUsed)); diff != "" {
						t.Fatalf("bit %d flipped: (-compress/flate +inflater):\n%s", bit, diff)
					}
				}
			}
		})
	}
}
