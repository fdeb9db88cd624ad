package vhd_test

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/vhdkit/vhdkit/vhd"
	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

// FuzzReadStream feeds arbitrary bytes to the stream reader: it must
// refuse or read them without panicking, hanging or holding more than its
// limits. Seeds are small streams vhdkit writes: dynamic ones without
// blocks (a block is 2 MiB, too large for the fuzzer to mutate fast) and
// fixed ones with data.
func FuzzReadStream(f *testing.F) {
	for _, typ := range []vhd.DiskType{vhd.DiskDynamic, vhd.DiskFixed} {
		for _, size := range []int64{0, 512, 8192, 3 * mib} {
			if typ == vhd.DiskFixed && size > 8192 {
				continue
			}
			img := make([]byte, size)
			if typ == vhd.DiskFixed && size <= 8192 {
				copy(img, vhdtest.Pattern(uint64(size), int(size)))
			}
			p, err := vhd.PlanRawStream(context.Background(), bytes.NewReader(img), size, &vhd.RawStreamOptions{Type: typ})
			if err != nil {
				f.Fatal(err)
			}
			var buf bytes.Buffer
			if _, err := p.WriteStream(context.Background(), &buf); err != nil {
				f.Fatal(err)
			}
			f.Add(buf.Bytes(), int64(0))
			f.Add(buf.Bytes(), int64(buf.Len()))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte, size int64) {
		opts := &vhd.ReadStreamOptions{Size: size, MaxVirtualSize: 64 * mib, MaxHead: 1 << 20}
		s, err := vhd.NewStreamReader(context.Background(), bytes.NewReader(b), opts)
		if err != nil {
			return
		}
		if _, err := s.WriteRaw(context.Background(), io.Discard); err != nil {
			return
		}
		s, err = vhd.NewStreamReader(context.Background(), bytes.NewReader(b), opts)
		if err != nil {
			t.Fatalf("a stream read once is refused the second time: %v", err)
		}
		var out bytes.Buffer
		if _, err := s.WriteVHD(context.Background(), &out); err == nil && !bytes.Equal(out.Bytes(), b) {
			t.Fatalf("WriteVHD changed the stream")
		}
	})
}
