package console

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Binary size units.
const (
	KiB = 1 << 10
	MiB = 1 << 20
	GiB = 1 << 30
	TiB = 1 << 40
)

// Bytes formats n bytes in MiB with one decimal, "254.0 MiB": the one unit
// the programs print sizes in.
func Bytes(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/MiB) }

// Rate formats n bytes over d as MiB/s, "312.4 MiB/s".
func Rate(n int64, d time.Duration) string {
	return fmt.Sprintf("%.1f MiB/s", float64(n)/MiB/max(d.Seconds(), 1e-6))
}

// FormatSize formats n bytes for a flag default or a limit: the largest
// binary unit that divides it exactly, "2100GiB", "64MiB", "512".
func FormatSize(n int64) string {
	for _, u := range sizeUnits {
		if n != 0 && n%u.n == 0 {
			return strconv.FormatInt(n/u.n, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10)
}

var sizeUnits = []struct {
	name string
	n    int64
}{{"TiB", TiB}, {"GiB", GiB}, {"MiB", MiB}, {"KiB", KiB}}

// ParseSize parses a byte count: digits with an optional binary unit,
// K/KiB, M/MiB, G/GiB or T/TiB (case-insensitive), such as "2100GiB".
func ParseSize(s string) (int64, error) {
	num, mult := strings.TrimSpace(s), int64(1)
	lower := strings.ToLower(num)
	for _, u := range sizeUnits {
		long, short := strings.ToLower(u.name), strings.ToLower(u.name[:1])
		if strings.HasSuffix(lower, long) {
			num, mult = num[:len(num)-len(long)], u.n
			break
		}
		if strings.HasSuffix(lower, short) {
			num, mult = num[:len(num)-len(short)], u.n
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
	if err != nil || n < 0 || n > (1<<63-1)/mult {
		return 0, fmt.Errorf("%q is not a size: want a byte count such as 512, 64MiB or 2100GiB", s)
	}
	return n * mult, nil
}

// Size is a flag.Value holding a byte count, shown and parsed with binary
// units ("2100GiB").
type Size int64

// String formats the size as FormatSize does.
func (s *Size) String() string { return FormatSize(int64(*s)) }

// Set parses a size as ParseSize does.
func (s *Size) Set(v string) error {
	n, err := ParseSize(v)
	if err != nil {
		return err
	}
	*s = Size(n)
	return nil
}
