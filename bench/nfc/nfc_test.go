package nfc

import (
	"flag"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/tagseg/tagseg"
	"golang.org/x/text/unicode/norm"
)

var seed = flag.Uint64("seed", 0, "seed of the random strings (0: from the clock)")

// TestEveryRune: every rune alone is normalized as x/text's NFC does; so
// is every rune of the first two planes (where every combining mark and
// composite but the CJK compatibility ideographs lives) after "e", "ᄀ"
// and "가" (which combine with what follows) and before two marks.
func TestEveryRune(t *testing.T) {
	bad := 0
	for r := rune(0); r <= utf8.MaxRune; r++ {
		if r >= 0xD800 && r <= 0xDFFF || unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || unicode.IsSpace(r) {
			continue
		}
		cases := []string{string(r)}
		if r < 0x20000 {
			cases = append(cases, "e"+string(r), "\u1100"+string(r), "\uAC00"+string(r), string(r)+"\u0301\u0323")
		}
		for _, s := range cases {
			got, err := tagseg.CheckTag(s)
			want := norm.NFC.String(s)
			if err != nil || got != want {
				if bad++; bad <= 10 {
					t.Errorf("CheckTag(%+q) = %+q, %v; want %+q", s, got, err, want)
				}
			}
		}
	}
}

// TestRandomStrings: random strings of letters, composites, combining
// marks of many classes and Hangul jamo, against x/text.
func TestRandomStrings(t *testing.T) {
	s := *seed
	if s == 0 {
		s = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -seed=%d)", s, s)
	rng := rand.New(rand.NewPCG(s, s))
	pool := []rune{'a', 'e', 'o', 'A', 'Z', 'é', 'Å', 'ḍ', 'ṩ', 'ǖ', 'Ω', 'Ω', 'ά', 'ᾷ',
		0x0300, 0x0301, 0x0307, 0x0308, 0x0323, 0x0327, 0x0328, 0x031B, 0x0345, 0x05B0, 0x05BC, 0x0E38, 0x0E48, 0x093C, 0x094D,
		0x0340, 0x0344, 0x0958, 0x2126, 0x212B, 0xF900, 0x1D15E, 0x0F73, 0x0FB5,
		0x1100, 0x1112, 0x1161, 0x1175, 0x11A8, 0x11C2, 0xAC00, 0xAC01, 0xD7A3, 0x3099, 0x304B, 0x30AB, 'か', 'ガ'}
	for i := 0; i < 50_000; i++ {
		var b strings.Builder
		b.WriteByte('x')
		for n := rng.IntN(12); n > 0; n-- {
			b.WriteRune(pool[rng.IntN(len(pool))])
		}
		in := b.String()
		want := norm.NFC.String(in)
		got, err := tagseg.CheckTag(in)
		if err != nil || got != want {
			t.Fatalf("CheckTag(%+q) = %+q, %v; want %+q", in, got, err, want)
		}
		if again, _ := tagseg.CheckTag(got); again != got {
			t.Fatalf("CheckTag is not idempotent on %+q: %+q", got, again)
		}
	}
}
