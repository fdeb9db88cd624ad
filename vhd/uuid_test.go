package vhd

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseUUID(t *testing.T) {
	want := UUID{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef}
	tests := []struct {
		in      string
		want    UUID
		wantErr bool
	}{
		{in: "01234567-89ab-cdef-0123-456789abcdef", want: want},
		{in: "01234567-89AB-CDEF-0123-456789ABCDEF", want: want},
		{in: "00000000-0000-0000-0000-000000000000"},
		{in: "", wantErr: true},
		{in: "0123456789abcdef0123456789abcdef", wantErr: true},
		{in: "{01234567-89ab-cdef-0123-456789abcdef}", wantErr: true},
		{in: "urn:uuid:01234567-89ab-cdef-0123-456789abcdef", wantErr: true},
		{in: "01234567-89ab-cdef-0123-456789abcdeg", wantErr: true},
		{in: "01234567+89ab-cdef-0123-456789abcdef", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseUUID(tt.in)
		if tt.wantErr {
			if !errors.Is(err, ErrUUIDSyntax) {
				t.Errorf("ParseUUID(%q) error = %v, want ErrUUIDSyntax", tt.in, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseUUID(%q): %v", tt.in, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("ParseUUID(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}

func TestUUIDRoundTrip(t *testing.T) {
	seen := map[UUID]bool{}
	for range 100 {
		u := NewUUID()
		if seen[u] || u.IsZero() {
			t.Fatalf("NewUUID repeated or zero: %v", u)
		}
		seen[u] = true
		if u[6]>>4 != 4 || u[8]>>6 != 2 {
			t.Fatalf("NewUUID %v is not version 4, variant RFC 9562", u)
		}
		back, err := ParseUUID(u.String())
		if err != nil || back != u {
			t.Fatalf("ParseUUID(%q) = %v, %v", u.String(), back, err)
		}
		js, _ := json.Marshal(map[string]UUID{"uuid": u})
		var m map[string]UUID
		if err := json.Unmarshal(js, &m); err != nil || m["uuid"] != u {
			t.Fatalf("JSON round trip of %s: %v, %v", js, m, err)
		}
	}
	if !(UUID{}).IsZero() {
		t.Error("zero UUID: IsZero false")
	}
}

// TestNewUUID checks that random UUIDs carry version 4 and the RFC 9562
// variant, and that a thousand of them are distinct and never zero.
func TestNewUUID(t *testing.T) {
	seen := make(map[UUID]bool)
	for i := 0; i < 1000; i++ {
		u := NewUUID()
		if got := [2]byte{u[6] >> 4, u[8] >> 6}; got != [2]byte{4, 2} {
			t.Fatalf("NewUUID() = %s: version %d, variant bits %b; want 4 and 10", u, got[0], got[1])
		}
		if u.IsZero() || seen[u] {
			t.Fatalf("NewUUID() = %s after %d calls: zero or repeated", u, i)
		}
		seen[u] = true
	}
}
