package tagseg

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestCheckTag: what a tag may be, the reason named for each refusal,
// and the one form kept.
func TestCheckTag(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		why      string // in the error when refused
	}{
		{"  plan-pro ", "plan-pro", ""},
		{"caf\u00e9", "caf\u00e9", ""},
		{"cafe\u0301", "caf\u00e9", ""},       // combining acute → precomposed
		{"\u1112\u1161\u11ab", "\ud55c", ""},  // Hangul jamo → syllable
		{"a\u0307\u0323", "\u1ea1\u0307", ""}, // marks put in class order (dot below first), then composed
		{"\ufb01", "\ufb01", ""},              // compatibility forms stay (NFC, not NFKC)
		{"VIP", "VIP", ""},
		{"", "", "empty"},
		{" \t ", "", "white space"},
		{"bad\xff", "", "UTF-8"},
		{"a\tb", "", "U+0009"},
		{"a\nb", "", "U+000A"},
		{"a\x00b", "", "U+0000"},
		{"a\u0085b", "", "U+0085"},
		{"a\u2028b", "", "U+2028"},
		{strings.Repeat("x", 255), strings.Repeat("x", 255), ""},
		{strings.Repeat("x", 300), "", "300 bytes long, more than the limit of 255 bytes"},
		{strings.Repeat("e\u0301", 100), strings.Repeat("\u00e9", 100), ""}, // 300 bytes given, 200 kept
	} {
		got, err := CheckTag(tc.in)
		if tc.why != "" {
			if !errors.Is(err, ErrInvalidTag) || !strings.Contains(err.Error(), tc.why) {
				t.Errorf("CheckTag(%+q) = %+q, %v; want ErrInvalidTag saying %q", tc.in, got, err, tc.why)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("CheckTag(%+q) = %+q, %v; want %+q", tc.in, got, err, tc.want)
		}
	}
}

// TestTagOneForm: a tag written in either Unicode form is one tag, found
// by either form in writes, expressions and queries.
func TestTagOneForm(t *testing.T) {
	ix := openTest(t)
	pre, comb := "caf\u00e9", "cafe\u0301"
	a := mustCreate(t, ix, Customer{Email: "a@x.test", Tags: []string{pre}})
	b := mustCreate(t, ix, Customer{Email: "b@x.test", Tags: []string{comb}})
	if tags, err := ix.AddTags(a.UUID, comb); err != nil || !slices.Equal(tags, []string{pre}) {
		t.Fatalf("AddTags(%+q) on a holder of %+q = %+q, %v; want one tag", comb, pre, tags, err)
	}
	var all []string
	for tag := range ix.Tags() {
		all = append(all, tag)
	}
	if diff := cmp.Diff([]string{pre}, all); diff != "" {
		t.Errorf("Tags() (-want +got):\n%s", diff)
	}
	for _, e := range []Expr{Tag(pre), Tag(comb), AnyTag(comb), AllTags(comb, pre)} {
		if n := mustSegment(t, ix, e).Count(); n != 2 {
			t.Errorf("%v counts %d, want 2", e, n)
		}
	}
	q, err := Parse(`tag:"` + comb + `"`)
	if err != nil {
		t.Fatal(err)
	}
	if seg := mustSegment(t, ix, q); seg.Count() != 2 || len(seg.UnknownTags()) != 0 {
		t.Errorf("%v: %d customers, unknown %q; want 2, none", q, seg.Count(), seg.UnknownTags())
	}
	if tags, err := ix.RemoveTags(b.UUID, comb); err != nil || len(tags) != 0 {
		t.Errorf("RemoveTags(%+q) = %+q, %v; want none left", comb, tags, err)
	}
	if _, err := ix.AddTags(a.UUID, "tab\there"); !errors.Is(err, ErrInvalidTag) || !strings.Contains(err.Error(), "U+0009") {
		t.Errorf("AddTags with a tab: %v; want ErrInvalidTag naming U+0009", err)
	}
}
