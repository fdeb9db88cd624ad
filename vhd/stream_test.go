package vhd_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/vhdkit/vhdkit/vhd"
	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

// TestStreamWriterOrder: blocks must come in order, each allocated one
// once, before Close; a stream closed early has no footer.
func TestStreamWriterOrder(t *testing.T) {
	spec := &vhd.StreamSpec{Type: vhd.DiskDynamic, Size: 6 * mib, UUID: vhdtest.NameUUID("order"), Time: vhdtest.Epoch,
		Blocks: []vhd.StreamBlock{vhd.BlockFull, vhd.BlockAbsent, vhd.BlockPartial}}
	s, err := vhd.NewStream(spec)
	if err != nil {
		t.Fatal(err)
	}
	data := vhdtest.Pattern(1, 2*mib)
	bitmap := make([]byte, 512)
	bitmap[0] = 0xF0
	for _, tc := range []struct {
		name  string
		write func(sw *vhd.StreamWriter) error
	}{
		{"skips block 0", func(sw *vhd.StreamWriter) error { return sw.WriteBlock(2, bitmap, data) }},
		{"absent block", func(sw *vhd.StreamWriter) error { return sw.WriteBlock(1, nil, data) }},
		{"twice", func(sw *vhd.StreamWriter) error {
			if err := sw.WriteBlock(0, nil, data); err != nil {
				return err
			}
			return sw.WriteBlock(0, nil, data)
		}},
		{"closed early", func(sw *vhd.StreamWriter) error {
			if err := sw.WriteBlock(0, nil, data); err != nil {
				return err
			}
			return sw.Close()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := tc.write(s.NewWriter(&buf)); !errors.Is(err, vhd.ErrStreamOrder) {
				t.Errorf("got %v, want ErrStreamOrder", err)
			}
			if int64(buf.Len()) >= s.Size() {
				t.Errorf("wrote %d of %d bytes", buf.Len(), s.Size())
			}
		})
	}
	// In order: exactly Size bytes, a valid file holding the data where
	// the bitmap says.
	var buf bytes.Buffer
	sw := s.NewWriter(&buf)
	if err := sw.WriteBlock(0, nil, data); err != nil {
		t.Fatal(err)
	}
	if err := sw.WriteBlock(2, bitmap, data[:4096]); err != nil {
		t.Fatal(err)
	}
	if err := sw.Close(); err != nil {
		t.Fatal(err)
	}
	if int64(buf.Len()) != s.Size() {
		t.Fatalf("wrote %d bytes, Size %d", buf.Len(), s.Size())
	}
	if _, err := vhd.Check(context.Background(), bytes.NewReader(buf.Bytes()), int64(buf.Len()), nil); err != nil {
		t.Errorf("Check: %v", err)
	}
	f, err := vhd.New(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 6*mib)
	if _, err := f.ReadAt(got, 0); err != nil {
		t.Fatal(err)
	}
	want := make([]byte, 6*mib)
	copy(want, data)
	copy(want[4*mib:], data[:4*512]) // four sectors' bits set
	if !bytes.Equal(got, want) {
		t.Errorf("disk differs: %s", firstDiff(got, want))
	}
}

// TestNewStreamRefusals: sizes and types a stream cannot have.
func TestNewStreamRefusals(t *testing.T) {
	u := vhdtest.NameUUID("refusals")
	for _, spec := range []vhd.StreamSpec{
		{Type: vhd.DiskDynamic, Size: 4 * mib}, // no UUID
		{Type: vhd.DiskDynamic, Size: 1000, UUID: u},
		{Type: vhd.DiskDynamic, Size: vhd.MaxSize + 512, UUID: u},
		{Type: vhd.DiskDifferencing, Size: 4 * mib, UUID: u},
		{Type: vhd.DiskFixed, Size: 4 * mib, UUID: u, Parent: &vhd.ParentInfo{Name: "p.vhd"}},
		{Type: vhd.DiskNone, Size: 4 * mib, UUID: u},
	} {
		if _, err := vhd.NewStream(&spec); err == nil {
			t.Errorf("NewStream(%+v) accepted", spec)
		}
	}
}
