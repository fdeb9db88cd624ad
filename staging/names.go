package staging

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/vhdkit/vhdkit/chain"
)

// accepted says, in refusals, which names an image may use.
const accepted = "an image holds 0.vhd, 1.vhd, ... (leaf first), or snap.vhd, image.vhd, base.vhd, or one file NAME.vhd " +
	`(".vhd" in lower case; swap.vhd and other names are ignored)`

// legacyNames are the names of old images, leaf first.
var legacyNames = []string{"snap.vhd", "image.vhd", "base.vhd"}

// swapName is a legacy swap disk carried in old images; it is ignored.
const swapName = "swap.vhd"

type nameKind int

const (
	kindSkip     nameKind = iota // not a .vhd, or swap.vhd
	kindLegacy                   // snap.vhd, image.vhd, base.vhd
	kindNumbered                 // 0.vhd, 1.vhd, ...
	kindOther                    // any other .vhd
)

// classify says what a base name is under the naming rules, and for a
// numbered name its number.
func classify(name string) (nameKind, int) {
	if !strings.HasSuffix(name, ".vhd") || name == swapName {
		return kindSkip, 0
	}
	if slices.Contains(legacyNames, name) {
		return kindLegacy, 0
	}
	num := strings.TrimSuffix(name, ".vhd")
	if num != "" && len(num) <= 6 && (num == "0" || num[0] != '0') && strings.Trim(num, "0123456789") == "" {
		n, _ := strconv.Atoi(num)
		return kindNumbered, n
	}
	return kindOther, 0
}

// Wanted reports whether an archive entry or directory entry named name can
// be part of an image: it ends in ".vhd" and is not "swap.vhd". Other
// entries are skipped and never written.
func Wanted(name string) bool {
	k, _ := classify(name)
	return k != kindSkip
}

// Sequence orders the VHD names of an image leaf first, by the naming rules
// (see the package documentation): it returns the names that become 0.vhd,
// 1.vhd, ... in that order. Names that are not wanted (see [Wanted]) are
// ignored. maxDepth limits the length of the sequence (0 means
// [DefaultMaxDepth]).
func Sequence(names []string, maxDepth int) ([]string, error) {
	return sequence(names, nil, maxDepth)
}

// sequence is Sequence; skipped are the archive entries the name filter
// skipped, named when no VHD is left.
func sequence(names, skipped []string, maxDepth int) ([]string, error) {
	if maxDepth <= 0 {
		maxDepth = DefaultMaxDepth
	}
	var legacy, other []string
	numbered := map[int]string{}
	maxNum := -1
	for _, n := range names {
		k, num := classify(n)
		switch k {
		case kindLegacy:
			legacy = append(legacy, n)
		case kindNumbered:
			numbered[num] = n
			maxNum = max(maxNum, num)
		case kindOther:
			other = append(other, n)
		}
	}
	total := len(legacy) + len(numbered) + len(other)
	switch {
	case total == 0:
		holds := "nothing else"
		if len(skipped) > 0 {
			holds = strings.Join(skipped, ", ")
			if len(skipped) == maxSkipped {
				holds += ", ..."
			}
		}
		return nil, newErr("name", "", fmt.Errorf("%w: it holds %s; %s", ErrNoImages, holds, accepted))
	case total == 1:
		// A lone VHD is the leaf whatever its name (image.vhd alone, X.vhd).
		return slices.Concat(legacy, other, mapValues(numbered)), nil
	case len(other) > 0:
		slices.Sort(other)
		return nil, newErr("name", other[0], fmt.Errorf("%w: %s", ErrUnknownName, accepted))
	case len(legacy) > 0 && len(numbered) > 0:
		return nil, newErr("name", fmt.Sprintf("%s and %s", legacy[0], numbered[maxNum]), fmt.Errorf("%w: %s", ErrMixedNames, accepted))
	case len(legacy) > 0:
		var seq []string
		for _, n := range legacyNames {
			if slices.Contains(legacy, n) {
				seq = append(seq, n)
			}
		}
		return seq, nil
	}
	if len(numbered) > maxDepth || maxNum >= maxDepth {
		return nil, newErr("name", numbered[maxNum], fmt.Errorf("%w: %d VHDs, limit %d", chain.ErrTooDeep, max(len(numbered), maxNum+1), maxDepth))
	}
	seq := make([]string, len(numbered))
	for i := range seq {
		n, ok := numbered[i]
		if !ok {
			return nil, newErr("name", strconv.Itoa(i)+".vhd", fmt.Errorf("%w: missing, highest is %s", ErrGap, numbered[maxNum]))
		}
		seq[i] = n
	}
	return seq, nil
}

func mapValues(m map[int]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// nameFilter refuses, while an archive streams in, names that can already
// be seen to break the rules, so that a bad image fails before it is all
// written; Sequence makes the final decision.
type nameFilter struct {
	maxDepth int
	seen     []string
	skipped  []string // the first maxSkipped names skipped
}

// maxSkipped is how many skipped names a refusal lists.
const maxSkipped = 8

func (f *nameFilter) check(name string) error {
	k, num := classify(name)
	if k == kindSkip {
		if len(f.skipped) < maxSkipped {
			f.skipped = append(f.skipped, name)
		}
		return errSkip
	}
	if k == kindNumbered && num >= f.maxDepth {
		return newErr("name", name, fmt.Errorf("%w: limit %d VHDs", chain.ErrTooDeep, f.maxDepth))
	}
	f.seen = append(f.seen, name)
	if len(f.seen) == 1 {
		return nil
	}
	var legacy, numbered bool
	for _, n := range f.seen {
		switch k, _ := classify(n); k {
		case kindOther:
			return newErr("name", n, fmt.Errorf("%w: %s", ErrUnknownName, accepted))
		case kindLegacy:
			legacy = true
		case kindNumbered:
			numbered = true
		}
	}
	if legacy && numbered {
		return newErr("name", name, fmt.Errorf("%w: %s", ErrMixedNames, accepted))
	}
	return nil
}
