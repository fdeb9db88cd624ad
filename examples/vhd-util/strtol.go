package main

import "math"

// strtol reads a base-10 integer as C's strtol(s, NULL, 10) does: leading
// white space, an optional sign, then digits up to the first non-digit;
// no digits give 0, and overflow saturates.
func strtol(s string) int64 {
	i, neg := signStart(s)
	var v uint64
	over := false
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		if v > (math.MaxUint64-9)/10 {
			over = true
			continue
		}
		v = v*10 + uint64(s[i]-'0')
	}
	switch {
	case neg && (over || v > 1<<63):
		return math.MinInt64
	case neg:
		return -int64(v)
	case over || v > math.MaxInt64:
		return math.MaxInt64
	}
	return int64(v)
}

// strtoull reads an unsigned base-10 integer as C's strtoull(s, NULL, 10)
// does: like strtol, saturating at the largest uint64, and a leading '-'
// negates modulo 2^64.
func strtoull(s string) uint64 {
	i, neg := signStart(s)
	var v uint64
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		d := uint64(s[i] - '0')
		if v > (math.MaxUint64-d)/10 {
			return math.MaxUint64
		}
		v = v*10 + d
	}
	if neg {
		return -v
	}
	return v
}

// signStart skips the white space C's strto* functions skip and an
// optional sign, returning where the digits start and whether the sign
// was '-'.
func signStart(s string) (i int, neg bool) {
	for i < len(s) && (s[i] == ' ' || (s[i] >= '\t' && s[i] <= '\r')) {
		i++
	}
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	return i, neg
}
