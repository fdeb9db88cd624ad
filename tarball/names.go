package tarball

import (
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"
)

// checkName reports whether name, with any leading "./" already dropped, is
// a single local path element that Unpack may create and Pack may read.
func checkName(name string) error {
	switch {
	case name == "" || name == "." || strings.IndexByte(name, 0) >= 0 || !utf8.ValidString(name):
		return ErrBadName
	case strings.HasPrefix(name, "/") || strings.HasPrefix(name, `\`) || filepath.IsAbs(name) || filepath.VolumeName(name) != "":
		return ErrAbsolute
	}
	for _, elem := range strings.FieldsFunc(name, isSeparator) {
		if elem == ".." {
			return ErrDotDot
		}
	}
	if strings.ContainsAny(name, `/\`) {
		return ErrNested
	}
	if !filepath.IsLocal(name) {
		return ErrBadName
	}
	return nil
}

func isSeparator(r rune) bool { return r == '/' || r == '\\' }

// naturalLess orders names so that runs of digits compare by numeric value:
// 0.vhd, 1.vhd, 2.vhd, ..., 10.vhd. Ties (such as 1.vhd and 01.vhd) fall back
// to byte order so the order is total.
func naturalLess(a, b string) bool {
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		ca, cb := a[i], b[j]
		if isDigit(ca) && isDigit(cb) {
			si, sj := i, j
			for i < len(a) && isDigit(a[i]) {
				i++
			}
			for j < len(b) && isDigit(b[j]) {
				j++
			}
			na := strings.TrimLeft(a[si:i], "0")
			nb := strings.TrimLeft(b[sj:j], "0")
			if len(na) != len(nb) {
				return len(na) < len(nb)
			}
			if na != nb {
				return na < nb
			}
			continue
		}
		if ca != cb {
			return ca < cb
		}
		i++
		j++
	}
	if len(a)-i != len(b)-j {
		return len(a)-i < len(b)-j
	}
	return a < b
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// sortNatural sorts names with naturalLess.
func sortNatural(names []string) {
	slices.SortFunc(names, func(a, b string) int {
		switch {
		case naturalLess(a, b):
			return -1
		case naturalLess(b, a):
			return 1
		}
		return 0
	})
}
