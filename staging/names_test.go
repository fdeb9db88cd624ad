//go:build linux

package staging

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vhdkit/vhdkit/chain"
	"github.com/vhdkit/vhdkit/vhd"
	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

func TestSequence(t *testing.T) {
	tests := []struct {
		names []string
		want  []string
		err   error
	}{
		{[]string{"0.vhd"}, []string{"0.vhd"}, nil},
		{[]string{"2.vhd", "0.vhd", "1.vhd"}, []string{"0.vhd", "1.vhd", "2.vhd"}, nil},
		{[]string{"image.vhd"}, []string{"image.vhd"}, nil},
		{[]string{"base.vhd", "snap.vhd", "image.vhd"}, []string{"snap.vhd", "image.vhd", "base.vhd"}, nil},
		{[]string{"base.vhd", "snap.vhd"}, []string{"snap.vhd", "base.vhd"}, nil},
		{[]string{"image.vhd", "base.vhd", "swap.vhd", "README"}, []string{"image.vhd", "base.vhd"}, nil},
		{[]string{"disk.vhd"}, []string{"disk.vhd"}, nil},
		{[]string{"7.vhd", "swap.vhd"}, []string{"7.vhd"}, nil},
		{[]string{"0.vhd", "2.vhd"}, nil, ErrGap},
		{[]string{"1.vhd", "2.vhd"}, nil, ErrGap},
		{[]string{"0.vhd", "00.vhd"}, nil, ErrUnknownName},
		{[]string{"0.vhd", "disk.vhd"}, nil, ErrUnknownName},
		{[]string{"a.vhd", "b.vhd"}, nil, ErrUnknownName},
		{[]string{"snap.vhd", "1.vhd"}, nil, ErrMixedNames},
		{[]string{"swap.vhd", "notes.txt"}, nil, ErrNoImages},
		{nil, nil, ErrNoImages},
		{[]string{"0.vhd", "30.vhd"}, nil, chain.ErrTooDeep},
		{[]string{"0.VHD", "1.vhd"}, []string{"1.vhd"}, nil},
	}
	for _, tc := range tests {
		got, err := Sequence(tc.names, 0)
		if !errors.Is(err, tc.err) {
			t.Errorf("Sequence(%q) error %v, want %v", tc.names, err, tc.err)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("Sequence(%q) (-want +got):\n%s", tc.names, diff)
		}
	}
}

func TestNameFilter(t *testing.T) {
	tests := []struct {
		names []string
		err   error // of the last name
	}{
		{[]string{"0.vhd", "1.vhd"}, nil},
		{[]string{"README"}, errSkip},
		{[]string{"swap.vhd"}, errSkip},
		{[]string{"disk.vhd"}, nil},
		{[]string{"disk.vhd", "0.vhd"}, ErrUnknownName},
		{[]string{"snap.vhd", "0.vhd"}, ErrMixedNames},
		{[]string{"31.vhd"}, chain.ErrTooDeep},
	}
	for _, tc := range tests {
		f := &nameFilter{maxDepth: DefaultMaxDepth}
		var err error
		for _, n := range tc.names {
			err = f.check(n)
		}
		if !errors.Is(err, tc.err) {
			t.Errorf("filter %q: %v, want %v", tc.names, err, tc.err)
		}
	}
}

func TestFromStack(t *testing.T) {
	a, b, c := vhd.NewUUID(), vhd.NewUUID(), vhd.NewUUID()
	stack := []vhd.UUID{a, b, c}
	if diff := cmp.Diff([]vhd.UUID{c, b, a}, FromStack(stack)); diff != "" {
		t.Errorf("FromStack (-want +got):\n%s", diff)
	}
	if stack[0] != a {
		t.Errorf("FromStack changed its argument")
	}
}

func TestResultJSON(t *testing.T) {
	u := vhdtest.UUID("0b6a1f44-8d4c-4b7e-9c1a-3f2e5d6c7b8a")
	b, err := (&Result{Leaf: VDI{UUID: u}}).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(`{"root":{"uuid":"0b6a1f44-8d4c-4b7e-9c1a-3f2e5d6c7b8a"}}`, string(b)); diff != "" {
		t.Errorf("JSON (-want +got):\n%s", diff)
	}
}
