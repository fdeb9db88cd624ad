package staging

import (
	"fmt"
	"slices"

	"github.com/vhdkit/vhdkit/vhd"
)

// FromStack turns the uuid_stack of nova's XenServer plugin, from which
// each VHD popped its UUID from the end (so 0.vhd got the last one), into
// the sequence order this package takes: it returns the stack reversed.
func FromStack(stack []vhd.UUID) []vhd.UUID {
	out := slices.Clone(stack)
	slices.Reverse(out)
	return out
}

// ParseUUIDs parses UUID strings, for callers that hold them as text.
func ParseUUIDs(ss []string) ([]vhd.UUID, error) {
	out := make([]vhd.UUID, 0, len(ss))
	for _, s := range ss {
		u, err := vhd.ParseUUID(s)
		if err != nil {
			return nil, newErr("uuid", "", err)
		}
		out = append(out, u)
	}
	return out, nil
}

// checkDuplicates refuses a list that names a UUID twice, or the nil UUID.
func checkDuplicates(us []vhd.UUID) error {
	seen := make(map[vhd.UUID]bool, len(us))
	for _, u := range us {
		if u.IsZero() {
			return newErr("uuid", u.String(), ErrNilUUID)
		}
		if seen[u] {
			return newErr("uuid", u.String(), ErrDuplicateUUID)
		}
		seen[u] = true
	}
	return nil
}

// pickUUIDs returns the n UUIDs for a sequence of n VHDs: the first n
// given, or n fresh ones when none are given.
func pickUUIDs(given []vhd.UUID, n int) ([]vhd.UUID, error) {
	if len(given) == 0 {
		out := make([]vhd.UUID, n)
		for i := range out {
			out[i] = vhd.NewUUID()
		}
		return out, nil
	}
	if len(given) < n {
		return nil, newErr("uuid", "", fmt.Errorf("%w: %d given for %d VHDs", ErrTooFewUUIDs, len(given), n))
	}
	return given[:n], nil
}

// vhdName is the file name of a VDI in the SR.
func vhdName(u vhd.UUID) string { return u.String() + ".vhd" }
