package staging

import (
	"fmt"
	"slices"

	"github.com/google/uuid"
)

// FromStack turns the seed's uuid_stack, from which each VHD popped its UUID
// from the end (so 0.vhd got the last one), into the sequence order this
// package takes: it returns the stack reversed.
func FromStack(stack []uuid.UUID) []uuid.UUID {
	out := slices.Clone(stack)
	slices.Reverse(out)
	return out
}

// ParseUUIDs parses UUID strings, for callers that hold them as text.
func ParseUUIDs(ss []string) ([]uuid.UUID, error) {
	out := make([]uuid.UUID, 0, len(ss))
	for _, s := range ss {
		u, err := uuid.Parse(s)
		if err != nil {
			return nil, newErr("uuid", s, err)
		}
		out = append(out, u)
	}
	return out, nil
}

// checkDuplicates refuses a list that names a UUID twice, or the nil UUID.
func checkDuplicates(us []uuid.UUID) error {
	seen := make(map[uuid.UUID]bool, len(us))
	for _, u := range us {
		if u == uuid.Nil {
			return newErr("uuid", u.String(), fmt.Errorf("%w: the nil UUID", ErrDuplicateUUID))
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
func pickUUIDs(given []uuid.UUID, n int) ([]uuid.UUID, error) {
	if len(given) == 0 {
		out := make([]uuid.UUID, n)
		for i := range out {
			out[i] = uuid.New()
		}
		return out, nil
	}
	if len(given) < n {
		return nil, newErr("uuid", "", fmt.Errorf("%w: %d given for %d VHDs", ErrTooFewUUIDs, len(given), n))
	}
	return given[:n], nil
}

// vhdName is the file name of a VDI in the SR.
func vhdName(u uuid.UUID) string { return u.String() + ".vhd" }
