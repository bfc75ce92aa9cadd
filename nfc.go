package tagseg

// Unicode Normalization Form C for tag names, without a dependency: the
// library's module holds roaring, bbolt and go-cmp only (DESIGN.md), so
// the canonical decompositions, combining classes and compositions it
// needs are generated from golang.org/x/text/unicode/norm into
// nfc_tables.go (bench/nfc/gen.go), and bench/nfc's test checks this code
// against x/text for every rune and for random strings of combining
// marks. Only the canonical mappings are used: NFC, not NFKC, so "ﬁ"
// stays a ligature and "Ⅻ" a numeral.

import (
	"sort"
	"unicode/utf8"
)

type nfcDec struct {
	r rune
	d string // the full canonical decomposition
}

type nfcClass struct {
	lo, hi rune
	ccc    uint8
}

type nfcPair struct{ a, b, c rune }

// Hangul syllables decompose and compose by arithmetic (Unicode 3.12).
const (
	hangulS, hangulL, hangulV, hangulT = 0xAC00, 0x1100, 0x1161, 0x11A7
	hangulLCount, hangulVCount         = 19, 21
	hangulTCount                       = 28
	hangulNCount                       = hangulVCount * hangulTCount
	hangulSCount                       = hangulLCount * hangulNCount
)

// nfc returns s in Unicode Normalization Form C: canonical decomposition,
// canonical ordering of combining marks, then canonical composition, so
// that "e\u0301" (e + combining acute) and "\u00e9" (é) are one string.
// s must be valid UTF-8. Text whose runes are all below U+0300 is already
// in NFC and returned as is, without an allocation.
func nfc(s string) string {
	i := 0
	for i < len(s) {
		if s[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r >= 0x300 {
			break
		}
		i += n
	}
	if i == len(s) || !utf8.ValidString(s) {
		return s
	}
	rs := make([]rune, 0, len(s))
	for _, r := range s {
		rs = nfcDecompose(rs, r)
	}
	nfcOrder(rs)
	rs = nfcCompose(rs)
	if string(rs) == s {
		return s
	}
	return string(rs)
}

// nfcDecompose appends r's canonical decomposition to rs.
func nfcDecompose(rs []rune, r rune) []rune {
	if r >= hangulS && r < hangulS+hangulSCount {
		si := r - hangulS
		rs = append(rs, hangulL+si/hangulNCount, hangulV+(si%hangulNCount)/hangulTCount)
		if t := si % hangulTCount; t != 0 {
			rs = append(rs, hangulT+t)
		}
		return rs
	}
	if r < 0xC0 {
		return append(rs, r)
	}
	i := sort.Search(len(nfcDecomp), func(i int) bool { return nfcDecomp[i].r >= r })
	if i < len(nfcDecomp) && nfcDecomp[i].r == r {
		for _, d := range nfcDecomp[i].d {
			rs = append(rs, d)
		}
		return rs
	}
	return append(rs, r)
}

// nfcCCC is r's canonical combining class (0 for starters).
func nfcCCC(r rune) uint8 {
	if r < 0x300 {
		return 0
	}
	i := sort.Search(len(nfcClasses), func(i int) bool { return nfcClasses[i].hi >= r })
	if i < len(nfcClasses) && nfcClasses[i].lo <= r {
		return nfcClasses[i].ccc
	}
	return 0
}

// nfcOrder sorts each run of combining marks (nonzero classes) by class,
// stably: the canonical ordering algorithm.
func nfcOrder(rs []rune) {
	for i := 1; i < len(rs); i++ {
		c := nfcCCC(rs[i])
		if c == 0 {
			continue
		}
		for j := i; j > 0; j-- {
			p := nfcCCC(rs[j-1])
			if p <= c {
				break
			}
			rs[j], rs[j-1] = rs[j-1], rs[j]
		}
	}
}

// nfcComposePair is the primary composite of a followed by b, if any.
func nfcComposePair(a, b rune) (rune, bool) {
	if a >= hangulL && a < hangulL+hangulLCount && b >= hangulV && b < hangulV+hangulVCount {
		return hangulS + ((a-hangulL)*hangulVCount+(b-hangulV))*hangulTCount, true
	}
	if a >= hangulS && a < hangulS+hangulSCount && (a-hangulS)%hangulTCount == 0 && b > hangulT && b < hangulT+hangulTCount {
		return a + (b - hangulT), true
	}
	i := sort.Search(len(nfcPairs), func(i int) bool {
		p := nfcPairs[i]
		return p.a > a || p.a == a && p.b >= b
	})
	if i < len(nfcPairs) && nfcPairs[i].a == a && nfcPairs[i].b == b {
		return nfcPairs[i].c, true
	}
	return 0, false
}

// nfcCompose composes a decomposed, canonically ordered sequence in
// place: each rune combines with the last starter before it unless a rune
// between them blocks it (one of class 0, or of a class at least its own).
func nfcCompose(rs []rune) []rune {
	out := rs[:0]
	starter := -1  // index in out of the last starter
	var last uint8 // class of the last rune put in out
	for _, r := range rs {
		c := nfcCCC(r)
		if starter >= 0 {
			adjacent := starter == len(out)-1
			if adjacent || last != 0 && last < c {
				if comp, ok := nfcComposePair(out[starter], r); ok {
					out[starter] = comp
					continue
				}
			}
		}
		if c == 0 {
			starter = len(out)
		}
		last = c
		out = append(out, r)
	}
	return out
}
