package tarball

import (
	"archive/tar"
	"bytes"
	stdflate "compress/flate"
	"context"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/klauspost/compress/flate"
)

// FuzzExtract feeds arbitrary bytes to Unpack with small limits. Whatever
// the input, Unpack must not panic or hang, must leave the directory either
// empty (on error) or holding exactly the regular 0644 files it reports, and
// must never touch anything beside the directory.
func FuzzExtract(f *testing.F) {
	src := f.TempDir()
	writeFiles(f, src, map[string][]byte{"0.vhd": imageLike(20000, 1), "1.vhd": []byte("parent")})
	var packed bytes.Buffer
	if _, err := Pack(context.Background(), &packed, src, &PackOptions{Level: 1}); err != nil {
		f.Fatal(err)
	}
	f.Add(packed.Bytes())
	f.Add(tgz(f, reg("0.vhd", []byte("bare name")), typed("./", tar.TypeDir)))
	f.Add(gz(f, rawTar(f, tar.FormatPAX, true, reg("./0.vhd", make([]byte, 9000)))))
	f.Add(append(gz(f, rawTar(f, 0, false, reg("0.vhd", []byte("a")))), gz(f, rawTar(f, 0, true, reg("1.vhd", []byte("b"))))...))
	f.Add(tgz(f, reg("../evil", []byte("x"))))
	f.Add(tgz(f, entry{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: "0.vhd", Linkname: "/etc/passwd"}}))
	f.Add(tgz(f, entry{hdr: tar.Header{Typeflag: tar.TypeLink, Name: "0.vhd", Linkname: "1.vhd"}}))
	f.Add(tgz(f, reg("./0.vhd", []byte("a")), reg("0.vhd", []byte("b"))))
	f.Add(tgz(f, typed("sub/", tar.TypeDir), reg("sub/0.vhd", nil)))
	f.Add(gz(f, paxHeader(100)))
	for _, name := range []string{"gnu-sparse.tar.gz", "pax-sparse.tar.gz"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}

	small := sparseCase{size: 300 << 10, frags: []fragment{{5000, 3000}, {200 << 10, 100}}}
	for _, e := range sparseEncodings {
		f.Add(sparseArchive(f, e.enc(small)))
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		base := t.TempDir()
		dir := filepath.Join(base, "d")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		writeFiles(t, base, map[string][]byte{"sibling": []byte("keep")})
		before := snapshot(t, base)
		opts := &UnpackOptions{MaxEntries: 8, MaxFileSize: 1 << 20, MaxTotalSize: 4 << 20, Concurrency: 2, BlockSize: 64 << 10}
		res, err := Unpack(context.Background(), bytes.NewReader(data), dir, opts)
		after := snapshot(t, base)
		var got []FileInfo
		for rel, n := range after {
			if filepath.Dir(rel) != "d" {
				continue
			}
			if !n.Mode.IsRegular() || n.Mode.Perm() != 0o644 {
				t.Errorf("%s has mode %v", rel, n.Mode)
			}
			got = append(got, FileInfo{Name: filepath.Base(rel), Size: n.Size})
			delete(after, rel)
		}
		if diff := cmp.Diff(before, after); diff != "" {
			t.Errorf("outside the files, the tree changed (-before +after):\n%s", diff)
		}
		var want []FileInfo
		if err == nil {
			want = slices.Clone(res.Files)
		}
		cmpName := func(a, b FileInfo) int { return strings.Compare(a.Name, b.Name) }
		slices.SortFunc(want, cmpName)
		slices.SortFunc(got, cmpName)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("directory holds (-reported +found), err=%v:\n%s", err, diff)
		}
		if err == nil {
			// Sparse members skip their holes; archive/tar's expansion
			// of them must give the same files.
			slow := t.TempDir()
			if _, err := unpack(context.Background(), bytes.NewReader(data), slow, opts, true); err != nil {
				t.Fatalf("accepted skipping holes, refused expanding them: %v", err)
			}
			if diff := cmp.Diff(readFiles(t, slow), readFiles(t, dir)); diff != "" {
				t.Errorf("files differ (-expanding holes +skipping them):\n%s", diff)
			}
		}
	})
}

func TestGNUSparseTestdata(t *testing.T) {
	want := make([]byte, 1<<20)
	copy(want, "head of a sparse image")
	copy(want[600<<10:], "tail data")
	for _, name := range []string{"gnu-sparse.tar.gz", "pax-sparse.tar.gz"} {
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", name))
			if err != nil {
				t.Fatal(err)
			}
			dst := t.TempDir()
			if _, err := Unpack(context.Background(), bytes.NewReader(b), dst, nil); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(digests(map[string][]byte{"0.vhd": want, "1.vhd": []byte("parent")}), readFiles(t, dst)); diff != "" {
				t.Errorf("contents (-want +got):\n%s", diff)
			}
		})
	}
}

// FuzzPieces feeds fuzzer-made deflate data, and indexes, trailers and
// final pieces that may lie about it, to the gzip reader between two
// honest pieces. Whatever the reader accepts must be exactly what
// compress/gzip, which ignores the index, decodes from the same bytes; and
// an honest index over valid deflate data must be accepted, on the
// parallel path and the serial one alike.
func FuzzPieces(f *testing.F) {
	text := []byte(strings.Repeat("vhdkit splits gzip into pieces; ", 40))
	for _, level := range []int{flate.HuffmanOnly, 0, 1, 6, 9} {
		f.Add(goDeflate(level)(text), []byte("payload"), int16(0), uint8(0))
		f.Add(goDeflate(level)(imageLike(9000, 2)), text, int16(3), uint8(1))
	}
	f.Add([]byte{3, 0}, []byte{}, int16(0), uint8(0x20))
	f.Add([]byte{1, 5, 0, 0xfa, 0xff, 'h', 'e', 'l', 'l', 'o'}, []byte("x"), int16(-2), uint8(0x11))
	f.Add(pseudoRandom(300, 5), []byte("y"), int16(100), uint8(0x04))
	f.Fuzz(func(t *testing.T, body, payload []byte, lie int16, mode uint8) {
		// What a serial inflater makes of body, and where it stops.
		br := bytes.NewReader(body)
		decoded, derr := io.ReadAll(stdflate.NewReader(br))
		used := len(body) - br.Len()
		valid := derr == nil && len(decoded) <= maxPiece
		b := piece{body: body, crc: crc32.ChecksumIEEE(decoded), size: uint32(len(decoded)), clen: len(body)}
		if valid {
			b.body = body[:used]
			b.clen = used
		}
		honestIndex := valid
		if mode&1 != 0 && lie != 0 {
			b.clen = max(0, b.clen+int(lie))
			honestIndex = false
		}
		if mode&2 != 0 {
			b.crc ^= uint32(lie) | 1
			honestIndex = false
		}
		if mode&0x20 != 0 {
			b.clen = -1 // a plain member: the serial path
		}
		a := honest(payload, goDeflate(int(mode>>6)+1)(payload))
		c := honest(text[:len(text)/3], goDeflate(6)(text[:len(text)/3]))
		ps := []piece{a, b, c}
		var total uint64
		var crc uint32
		for _, p := range ps {
			crc = crc32Combine(crc, p.crc, int64(p.size))
			total += uint64(p.size)
		}
		if mode&8 != 0 {
			crc ^= 1
			honestIndex = false
		}
		stream := assemble(ps, true, total, crc)
		if mode&0x10 != 0 {
			stream = stream[:len(stream)-1-int(uint16(lie))%len(stream)]
			honestIndex = false
		}
		want, werr := stdGunzip(stream)
		for _, workers := range []int{1, 3} {
			got, err := gunzipAll(stream, workers)
			if err == nil && (werr != nil || !bytes.Equal(got, want)) {
				t.Fatalf("workers=%d: accepted %d bytes; compress/gzip: %d bytes, %v", workers, len(got), len(want), werr)
			}
			if honestIndex && err != nil {
				t.Fatalf("workers=%d: honest stream refused: %v", workers, err)
			}
		}
	})
}
