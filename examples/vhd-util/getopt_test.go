package main

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestGetopt(t *testing.T) {
	for _, tc := range []struct {
		args     []string
		opts     []option
		operands []string
		stderr   string
	}{
		{args: []string{"-vsfp", "-n", "a"}, opts: []option{{c: 'v'}, {c: 's'}, {c: 'f'}, {c: 'p'}, {c: 'n', arg: "a"}}},
		{args: []string{"-vna", "-nb"}, opts: []option{{c: 'v'}, {c: 'n', arg: "a"}, {c: 'n', arg: "b"}}},
		{args: []string{"-n", "-v"}, opts: []option{{c: 'n', arg: "-v"}}},
		{args: []string{"x", "-v", "y"}, opts: []option{{c: 'v'}}, operands: []string{"x", "y"}},
		{args: []string{"-v", "--", "-s", "z"}, opts: []option{{c: 'v'}}, operands: []string{"-s", "z"}},
		{args: []string{"-", "-v"}, opts: []option{{c: 'v'}}, operands: []string{"-"}},
		{args: []string{"-vx", "-s"}, opts: []option{{c: 'v'}, {c: 'x', bad: true}}, stderr: "vhd-util: invalid option -- 'x'\n"},
		{args: []string{"-v:"}, opts: []option{{c: 'v'}, {c: ':', bad: true}}, stderr: "vhd-util: invalid option -- ':'\n"},
		{args: []string{"-s", "-n"}, opts: []option{{c: 's'}, {c: 'n', bad: true}}, stderr: "vhd-util: option requires an argument -- 'n'\n"},
		{args: []string{"--name"}, opts: []option{{c: '-', bad: true}}, stderr: "vhd-util: invalid option -- '-'\n"},
		{args: nil},
	} {
		var stderr bytes.Buffer
		opts, operands := getopt("vhd-util", tc.args, "n:vspfdSmauh", &stderr)
		if diff := cmp.Diff(tc.opts, opts, cmp.AllowUnexported(option{})); diff != "" {
			t.Errorf("getopt(%q) options (-want +got)\n%s", tc.args, diff)
		}
		if diff := cmp.Diff(tc.operands, operands); diff != "" {
			t.Errorf("getopt(%q) operands (-want +got)\n%s", tc.args, diff)
		}
		if stderr.String() != tc.stderr {
			t.Errorf("getopt(%q) stderr %q, want %q", tc.args, stderr.String(), tc.stderr)
		}
	}
}

func TestStrtol(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		u    uint64
	}{
		{"1", 1, 1}, {"255", 255, 255}, {" \t42", 42, 42}, {"+7", 7, 7}, {"-1", -1, math.MaxUint64},
		{"12abc", 12, 12}, {"abc", 0, 0}, {"", 0, 0}, {"-", 0, 0}, {"0x10", 0, 0},
		{"99999999999999999999", math.MaxInt64, math.MaxUint64}, {"-99999999999999999999", math.MinInt64, math.MaxUint64},
		{"18446744073709551615", math.MaxInt64, math.MaxUint64},
	} {
		if got := strtol(tc.in); got != tc.want {
			t.Errorf("strtol(%q) = %d, want %d", tc.in, got, tc.want)
		}
		if got := strtoull(tc.in); got != tc.u {
			t.Errorf("strtoull(%q) = %d, want %d", tc.in, got, tc.u)
		}
	}
}

// FuzzGetopt checks that getopt never panics, stops at its first error,
// and accounts for every word: each is an option, an option's argument,
// an operand or "--".
func FuzzGetopt(f *testing.F) {
	for _, s := range []string{"-vsfp -n a", "-na x -- -v", "-n", "--debug -x", "- -v", "-v:", "a b c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		args := strings.Fields(s)
		var stderr bytes.Buffer
		opts, operands := getopt("vhd-util", args, "n:vspfdSmauh", &stderr)
		for i, o := range opts {
			if o.bad && i != len(opts)-1 {
				t.Fatalf("getopt(%q): error before the last option: %+v", args, opts)
			}
		}
		if (len(opts) > 0 && opts[len(opts)-1].bad) != (stderr.Len() > 0) {
			t.Fatalf("getopt(%q): error %v but stderr %q", args, opts, stderr.String())
		}
		if len(operands) > len(args) {
			t.Fatalf("getopt(%q): %d operands from %d words", args, len(operands), len(args))
		}
	})
}

// FuzzStrtol checks strtol against strtoull: they agree on every input
// whose value fits both.
func FuzzStrtol(f *testing.F) {
	for _, s := range []string{"0", "-1", "255", " 12x", "99999999999999999999", "+", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, u := strtol(s), strtoull(s)
		if v >= 0 && v < math.MaxInt64 && uint64(v) != u {
			t.Fatalf("strtol(%q) = %d, strtoull = %d", s, v, u)
		}
	})
}
