package vhd_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vhdkit/vhdkit/vhd"
	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

// TestLocatorDataBounds: LocatorData returns a locator's data only when
// its data length lies within the reserved space and the file, as Check
// requires; past the space it would read another structure's bytes.
func TestLocatorDataBounds(t *testing.T) {
	cases := []struct {
		name   string
		edit   func(l *vhd.ParentLocator)
		want   error // nil: the data is returned
		substr string
	}{
		{"as written", func(l *vhd.ParentLocator) {}, nil, ""},
		{"length at the space", func(l *vhd.ParentLocator) { l.DataLength = uint32(l.Size()) }, nil, ""},
		{"length one past the space", func(l *vhd.ParentLocator) { l.DataLength = uint32(l.Size()) + 1 }, vhd.ErrLocator, "reserved space"},
		{"empty", func(l *vhd.ParentLocator) { l.DataLength = 0 }, vhd.ErrLocator, "empty"},
		{"past the file", func(l *vhd.ParentLocator) { l.DataOffset = 1 << 40 }, vhd.ErrTruncated, "do not fit"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := vhdtest.Dynamic(t, filepath.Join(dir, "p.vhd"), 4<<20, nil)
			c := vhdtest.Child(t, filepath.Join(dir, "c.vhd"), p, nil)
			slot := -1
			vhdtest.PatchHeader(t, c, true, func(h *vhd.Header) {
				for i := range h.Locators {
					if h.Locators[i].Code.Decodable() && slot < 0 {
						slot = i
						tc.edit(&h.Locators[i])
					}
				}
			})
			f, err := vhd.Open(c)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			data, err := f.LocatorData(slot)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("LocatorData(%d) = %v, want %v", slot, err, tc.want)
			}
			var fe *vhd.FormatError
			if tc.want != nil {
				if !errors.As(err, &fe) || fe.Field != "data length" && fe.Field != "data offset" {
					t.Fatalf("error %v is not a FormatError naming the field", err)
				}
				if got := err.Error(); !strings.Contains(got, tc.substr) {
					t.Errorf("error %q does not say %q", got, tc.substr)
				}
				return
			}
			l := f.Header.Locators[slot]
			if diff := cmp.Diff(int(l.DataLength), len(data)); diff != "" {
				t.Errorf("data length (-entry +read):\n%s", diff)
			}
		})
	}
}
