package vhd_test

import (
	"context"
	"encoding/binary"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vhdkit/vhdkit/vhd"
	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

// utf16le encodes s (which may hold NULs and non-ASCII) as UTF-16LE and
// appends extra raw bytes.
func utf16Raw(s string, extra ...byte) []byte {
	var b []byte
	for _, r := range s {
		b = binary.LittleEndian.AppendUint16(b, uint16(r))
	}
	return append(b, extra...)
}

// TestUTF16OneRule: UTF-16 locator data and the header's parent name
// decode by one rule everywhere (DecodeLocator, File.ParentLocators,
// Header.ParentUnicodeName, File.ParentName, and Check in both modes):
// an even length, every code unit ASCII past the first NUL too, the text
// ending at that NUL. Odd-length data resolved in one path and failed in
// another.
func TestUTF16OneRule(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		ok   bool
	}{
		{"plain", utf16Raw(`.\p.vhd`), true},
		{"NUL then ASCII", utf16Raw(".\\p.vhd\x00zz"), true},
		{"odd length", utf16Raw(`.\p.vhd`, 'x'), false},
		{"odd length ending in NUL", utf16Raw(`.\p.vhd`, 0), false},
		{"non-ASCII after the NUL", utf16Raw(".\\p.vhd\x00\u00e9"), false},
		{"non-ASCII", utf16Raw(`.\p` + "\u00e9" + `.vhd`), false},
	}
	dir := t.TempDir()
	parent := vhdtest.Dynamic(t, filepath.Join(dir, "p.vhd"), 4*mib, nil)
	for _, tc := range tests {
		t.Run("locator/"+tc.name, func(t *testing.T) {
			child := vhdtest.Child(t, filepath.Join(t.TempDir(), "c.vhd"), parent, nil)
			// The child lives elsewhere; make its locators point at p.vhd by name.
			copyFile(t, filepath.Join(filepath.Dir(child), "p.vhd"), parent)
			f, err := vhd.Open(child)
			if err != nil {
				t.Fatal(err)
			}
			l := f.Header.Locators[1]
			f.Close()
			vhdtest.Patch(t, child, int64(l.DataOffset), tc.data...)
			vhdtest.PatchHeader(t, child, true, func(h *vhd.Header) { h.Locators[1].DataLength = uint32(len(tc.data)) })

			var verdicts []string
			say := func(path string, ok bool) {
				if ok != tc.ok {
					verdicts = append(verdicts, path)
				}
			}
			_, err = vhd.DecodeLocator(vhd.PlatformW2ku, tc.data)
			say("DecodeLocator(W2ku)", err == nil)
			if err != nil && !errors.Is(err, vhd.ErrLocator) {
				t.Errorf("DecodeLocator error %v does not match ErrLocator", err)
			}
			_, err = vhd.DecodeLocator(vhd.PlatformW2ru, tc.data)
			say("DecodeLocator(W2ru)", err == nil)
			f, err = vhd.Open(child)
			if err != nil {
				t.Fatal(err)
			}
			for _, loc := range f.ParentLocators() {
				if loc.Slot == 1 {
					say("ParentLocators", loc.Err == nil)
				}
			}
			f.Close()
			for _, compat := range []bool{false, true} {
				rep, _ := vhd.CheckFile(context.Background(), child, &vhd.CheckOptions{Compat: compat, Parents: spOpener{}})
				bad := false
				for _, p := range rep.Problems {
					if strings.HasPrefix(p.Msg, "error reading parent locator 1") {
						bad = true
					}
				}
				say(map[bool]string{false: "Check", true: "Check(Compat)"}[compat], !bad)
			}
			if len(verdicts) > 0 {
				t.Errorf("these paths disagree with the rule (ok=%v): %v", tc.ok, verdicts)
			}
		})
	}
	for _, tc := range tests {
		be := make([]byte, 0, len(tc.data))
		for i := 0; i+1 < len(tc.data); i += 2 {
			be = append(be, tc.data[i+1], tc.data[i])
		}
		if len(be) != len(tc.data) || len(be) > 512 {
			continue // the header's name is 512 bytes: never odd
		}
		t.Run("header name/"+tc.name, func(t *testing.T) {
			child := vhdtest.Child(t, filepath.Join(t.TempDir(), "c.vhd"), parent, nil)
			vhdtest.PatchHeader(t, child, true, func(h *vhd.Header) {
				h.ParentName = [512]byte{}
				copy(h.ParentName[:], be)
			})
			f, err := vhd.Open(child)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			var verdicts []string
			say := func(path string, ok bool) {
				if ok != tc.ok {
					verdicts = append(verdicts, path)
				}
			}
			_, err = f.Header.ParentUnicodeName()
			say("ParentUnicodeName", err == nil)
			_, err = f.ParentName()
			say("ParentName", err == nil)
			for _, compat := range []bool{false, true} {
				rep, _ := vhd.CheckFile(context.Background(), child, &vhd.CheckOptions{Compat: compat})
				bad := false
				for _, p := range rep.Problems {
					if p.Msg == "differencing header is invalid: invalid parent name" {
						bad = true
					}
				}
				say(map[bool]string{false: "Check", true: "Check(Compat)"}[compat], !bad)
			}
			if len(verdicts) > 0 {
				t.Errorf("these paths disagree with the rule (ok=%v): %v", tc.ok, verdicts)
			}
		})
	}
}
