package tagseg

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// tree mirrors an Expr with exported fields, so that go-cmp can show where
// two expressions differ.
type tree struct {
	Kind  string
	Tags  []string `json:",omitempty"`
	Kids  []tree   `json:",omitempty"`
	Field string   `json:",omitempty"`
	Op    Op
	Value any
}

var kindNames = map[nodeKind]string{
	kAll: "All", kTag: "Tag", kAnyTags: "AnyTag", kAllTags: "AllTags",
	kAnd: "And", kOr: "Or", kNot: "Not", kWhere: "Where", kTagPrefix: "TagPrefix",
}

func toTree(e Expr) tree {
	if e.n == nil {
		return tree{Kind: "All"}
	}
	t := tree{Kind: kindNames[e.n.kind], Tags: e.n.tags, Field: e.n.field, Op: e.n.op, Value: e.n.value}
	for _, k := range e.n.kids {
		t.Kids = append(t.Kids, toTree(k))
	}
	return t
}

// diffExpr returns a readable difference between two expressions' structure,
// or "" when they are the same (NaN equals NaN, times compare with Equal).
func diffExpr(want, got Expr) string {
	w, g := toTree(want), toTree(got)
	if equalTree(w, g) {
		return "" // cmp.Diff takes time exponential in the depth of equal trees
	}
	return cmp.Diff(w, g, cmpopts.EquateNaNs(), cmpopts.EquateEmpty())
}

func equalTree(a, b tree) bool {
	if a.Kind != b.Kind || a.Field != b.Field || a.Op != b.Op || len(a.Tags) != len(b.Tags) || len(a.Kids) != len(b.Kids) {
		return false
	}
	for i := range a.Tags {
		if a.Tags[i] != b.Tags[i] {
			return false
		}
	}
	switch x := a.Value.(type) {
	case float64:
		y, ok := b.Value.(float64)
		if !ok || !(x == y || math.IsNaN(x) && math.IsNaN(y)) || math.Signbit(x) != math.Signbit(y) {
			return false
		}
	case time.Time:
		y, ok := b.Value.(time.Time)
		if !ok || !x.Equal(y) {
			return false
		}
	default:
		if !cmp.Equal(a.Value, b.Value) {
			return false
		}
	}
	for i := range a.Kids {
		if !equalTree(a.Kids[i], b.Kids[i]) {
			return false
		}
	}
	return true
}

// norm rewrites e into the structure its canonical text parses to: And()
// becomes All(), Or() becomes AnyTag(), one-operand And and Or become their
// operand, nested chains of one kind are flattened, and Where values get
// the types Parse gives them (times in UTC, date strings as times).
func norm(e Expr) Expr {
	switch e.kind() {
	case kAll:
		return All()
	case kTag:
		return Tag(e.n.tags[0])
	case kTagPrefix:
		return TagPrefix(e.n.tags[0])
	case kAnyTags:
		return AnyTag(e.n.tags...)
	case kAllTags:
		return AllTags(e.n.tags...)
	case kNot:
		return Not(norm(e.n.kids[0]))
	case kAnd, kOr:
		var kids []Expr
		for _, k := range e.n.kids {
			k = norm(k)
			if k.kind() == e.n.kind {
				kids = append(kids, k.n.kids...)
			} else {
				kids = append(kids, k)
			}
		}
		switch {
		case len(kids) == 1:
			return kids[0]
		case len(kids) > 1 && e.n.kind == kAnd:
			return And(kids...)
		case len(kids) > 1:
			return Or(kids...)
		case e.n.kind == kAnd:
			return All()
		}
		return AnyTag()
	case kWhere:
		v := e.n.value
		switch x := v.(type) {
		case time.Time:
			v = x.UTC()
		case string:
			if typeOfField(e.n.field) == ftTime {
				if t, exp := parseTime(x); exp == "" {
					v = t
				} else if r, ok := parseRelDate(x); ok {
					v = r.String()
				}
			}
		}
		return Where(e.n.field, e.n.op, v)
	}
	panic("unknown kind")
}

func date(y int, m time.Month, d, hh, mm, ss, ns int) time.Time {
	return time.Date(y, m, d, hh, mm, ss, ns, time.UTC)
}

func TestParse(t *testing.T) {
	a, b, c, d := Tag("a"), Tag("b"), Tag("c"), Tag("d")
	tests := []struct {
		query string
		want  Expr
	}{
		// Terms.
		{"*", All()},
		{"tag:a", a},
		{"  tag : a  ", a},
		{`tag:"feature: dark mode"`, Tag("feature: dark mode")},
		{`tag:"say \"hi\" \\o/"`, Tag(`say "hi" \o/`)},
		{`tag:""`, Tag("")},
		{`tag:"AND"`, Tag("AND")},
		{`tag:"(x)"`, Tag("(x)")},
		{"tag:churn-risk-high", Tag("churn-risk-high")},
		{"tag:a_b.c@d+e/f", Tag("a_b.c@d+e/f")},
		{"tag:ünïcødé-标签", Tag("ünïcødé-标签")},
		{"tag:a:b", Tag("a:b")},
		{"tag:andy", Tag("andy")},
		{"tag:\"\xff\n\"", Tag("\xff\n")},
		{"tags:any(a, b)", AnyTag("a", "b")},
		{"tags : any ( a , b )", AnyTag("a", "b")},
		{"tags:any(a)", AnyTag("a")},
		{"tags:any()", AnyTag()},
		{"tags:any( )", AnyTag()},
		{`tags:all(a,"b c",d)`, AllTags("a", "b c", "d")},
		{"tags:all()", AllTags()},
		{"tags:none(a, b)", Not(AnyTag("a", "b"))},
		{"tags:none()", Not(AnyTag())},

		// Precedence and keywords.
		{"tag:a OR tag:b AND tag:c", Or(a, And(b, c))},
		{"tag:a AND tag:b OR tag:c", Or(And(a, b), c)},
		{"NOT tag:a AND tag:b", And(Not(a), b)},
		{"NOT tag:a OR tag:b", Or(Not(a), b)},
		{"NOT NOT tag:a", Not(Not(a))},
		{"NOT (tag:a OR tag:b)", Not(Or(a, b))},
		{"NOT(tag:a)", Not(a)},
		{"(tag:a OR tag:b) AND tag:c", And(Or(a, b), c)},
		{"tag:a and tag:b Or tag:c oR tag:d", Or(And(a, b), c, d)},
		{"not tag:a AnD nOt tag:b", And(Not(a), Not(b))},
		{"(tag:a)", a},
		{"((tag:a AND tag:b) AND tag:c)", And(And(a, b), c)},
		{"tag:a AND tag:b AND tag:c AND tag:d", And(a, b, c, d)},
		{"tag:a OR (tag:b OR tag:c)", Or(a, Or(b, c))},
		{"* AND NOT tag:a", And(All(), Not(a))},
		{"(tag:a)AND(tag:b)", And(a, b)},
		{"tag:a\u00a0AND\ttag:b\nOR\r\ntag:c", Or(And(a, b), c)},

		// Every string field and operator.
		{"email:adam@example.com", Where("email", Eq, "adam@example.com")},
		{"name:\"Ada Lovelace\"", Where("name", Eq, "Ada Lovelace")},
		{"company = Acme", Where("company", Eq, "Acme")},
		{"country:US", Where("country", Eq, "US")},
		{"state != US-NY", Where("state", NotEq, "US-NY")},
		{"city>Berlin", Where("city", Gt, "Berlin")},
		{"zip>=01234", Where("zip", Gte, "01234")},
		{"data_source<ds_1", Where("data_source", Lt, "ds_1")},
		{"external_id <= 123", Where("external_id", Lte, "123")},
		{`"email":x`, Where("email", Eq, "x")},
		{"name:true", Where("name", Eq, "true")},

		// Integer fields.
		{"mrr:100", Where("mrr", Eq, 100)},
		{"mrr=100", Where("mrr", Eq, 100)},
		{"mrr!=100", Where("mrr", NotEq, 100)},
		{"mrr>100", Where("mrr", Gt, 100)},
		{"mrr>=100", Where("mrr", Gte, 100)},
		{"mrr<100", Where("mrr", Lt, 100)},
		{"mrr<=100", Where("mrr", Lte, 100)},
		{"mrr >= 10000", Where("mrr", Gte, 10000)},
		{"mrr>-5", Where("mrr", Gt, -5)},
		{"mrr>+5", Where("mrr", Gt, 5)},
		{"mrr>007", Where("mrr", Gt, 7)},
		{"arr<9223372036854775807", Where("arr", Lt, int64(math.MaxInt64))},
		{"arr<9223372036854775808", Where("arr", Lt, uint64(1<<63))},
		{"arr<18446744073709551615", Where("arr", Lt, uint64(math.MaxUint64))},
		{"arr>-9223372036854775808", Where("arr", Gt, int64(math.MinInt64))},

		// Date fields.
		{"lead_created_at>=2024-01-02", Where("lead_created_at", Gte, date(2024, 1, 2, 0, 0, 0, 0))},
		{"lead_created_at < 2024-01-02T03:04:05Z", Where("lead_created_at", Lt, date(2024, 1, 2, 3, 4, 5, 0))},
		{`free_trial_started_at:"2024-01-02T03:04:05.5+02:00"`, Where("free_trial_started_at", Eq, date(2024, 1, 2, 1, 4, 5, 5e8))},
		{"free_trial_started_at>0000-01-01T00:00:00Z", Where("free_trial_started_at", Gt, date(0, 1, 1, 0, 0, 0, 0))},
		{"free_trial_started_at>9999-12-31T23:59:59.999999999Z", Where("free_trial_started_at", Gt, date(9999, 12, 31, 23, 59, 59, 999999999))},

		// Custom fields, typed by the look of bare values.
		{"custom.plan:pro", Where("custom.plan", Eq, "pro")},
		{`custom.plan:"pro"`, Where("custom.plan", Eq, "pro")},
		{"custom.seats>10", Where("custom.seats", Gt, 10)},
		{"custom.seats>-3", Where("custom.seats", Gt, -3)},
		{"custom.seats>-0", Where("custom.seats", Gt, 0)},
		{`custom.seats>"10"`, Where("custom.seats", Gt, "10")},
		{"custom.big:18446744073709551615", Where("custom.big", Eq, uint64(math.MaxUint64))},
		{"custom.zip:007", Where("custom.zip", Eq, "007")},
		{"custom.n:+5", Where("custom.n", Eq, "+5")},
		{"custom.x:1.5", Where("custom.x", Eq, 1.5)},
		{"custom.x:-2.5e-3", Where("custom.x", Eq, -2.5e-3)},
		{"custom.x:1e3", Where("custom.x", Eq, 1000.0)},
		{"custom.x:3.0", Where("custom.x", Eq, 3.0)},
		{"custom.x:1e-400", Where("custom.x", Eq, 0.0)},
		{"custom.x:NaN", Where("custom.x", Eq, math.NaN())},
		{"custom.x:+Inf", Where("custom.x", Eq, math.Inf(1))},
		{"custom.x:-Inf", Where("custom.x", Eq, math.Inf(-1))},
		{"custom.x:nan", Where("custom.x", Eq, "nan")},
		{"custom.x:1.", Where("custom.x", Eq, "1.")},
		{"custom.x:.5", Where("custom.x", Eq, ".5")},
		{"custom.vip:true", Where("custom.vip", Eq, true)},
		{"custom.vip:false", Where("custom.vip", Eq, false)},
		{"custom.vip:True", Where("custom.vip", Eq, "True")},
		{`custom.vip:"true"`, Where("custom.vip", Eq, "true")},
		{"custom.since>2024-01-02", Where("custom.since", Gt, date(2024, 1, 2, 0, 0, 0, 0))},
		{"custom.at:2024-01-02T03:04:05.5-01:00", Where("custom.at", Eq, date(2024, 1, 2, 4, 4, 5, 5e8))},
		{`custom.at:"2024-01-02"`, Where("custom.at", Eq, "2024-01-02")},
		{"custom.at:2024-02-30", Where("custom.at", Eq, "2024-02-30")},
		{"custom.a.b:c", Where("custom.a.b", Eq, "c")},
		{"custom.größe:XL", Where("custom.größe", Eq, "XL")},
		{`"custom.my key":x`, Where("custom.my key", Eq, "x")},
		{`"custom.a:b" > 1`, Where("custom.a:b", Gt, 1)},

		// Prefixes.
		{"tag:feature-*", TagPrefix("feature-")},
		{`tag:"feature: "*`, TagPrefix("feature: ")},
		{`tag:""*`, TagPrefix("")},
		{"tags:any(sso, feature-*)", Or(Tag("sso"), TagPrefix("feature-"))},
		{"tags:all(a*, b)", And(TagPrefix("a"), Tag("b"))},
		{"tags:none(a*)", Not(Or(TagPrefix("a")))},
		{"name:Acme*", Where("name", Prefix, "Acme")},
		{"name = Acme*", Where("name", Prefix, "Acme")},
		{"name != Acme*", Not(Where("name", Prefix, "Acme"))},
		{`company:"Acme In"*`, Where("company", Prefix, "Acme In")},
		{"email:adam@*", Where("email", Prefix, "adam@")},
		{"country:U*", Where("country", Prefix, "U")},
		{"custom.plan:10*", Where("custom.plan", Prefix, "10")},
		{"external_id:cus_*", Where("external_id", Prefix, "cus_")},

		// Lists of values.
		{"country:any(US, GB)", Or(Where("country", Eq, "US"), Where("country", Eq, "GB"))},
		{"country = any ( US , \"G B\" )", Or(Where("country", Eq, "US"), Where("country", Eq, "G B"))},
		{"country:none(US)", Not(Or(Where("country", Eq, "US")))},
		{"country:all(US, GB)", And(Where("country", Eq, "US"), Where("country", Eq, "GB"))},
		{"country:any()", Or()},
		{"name:any(Acme*, Globex)", Or(Where("name", Prefix, "Acme"), Where("name", Eq, "Globex"))},
		{"mrr:any(100, 200)", Or(Where("mrr", Eq, 100), Where("mrr", Eq, 200))},
		{"custom.seats:any(1, x)", Or(Where("custom.seats", Eq, 1), Where("custom.seats", Eq, "x"))},
		{"lead_created_at:any(2024-01-02, now)", Or(Where("lead_created_at", Eq, date(2024, 1, 2, 0, 0, 0, 0)), Where("lead_created_at", Eq, "now"))},
		{"country:any", Where("country", Eq, "any")},
		{"country:none AND tag:a", And(Where("country", Eq, "none"), a)},
		{"country != any", Where("country", NotEq, "any")},

		// Relative dates.
		{"lead_created_at > now-30d", Where("lead_created_at", Gt, "now-30d")},
		{"lead_created_at>now-030d", Where("lead_created_at", Gt, "now-30d")},
		{"free_trial_started_at <= now+2w", Where("free_trial_started_at", Lte, "now+2w")},
		{"lead_created_at >= now-3m", Where("lead_created_at", Gte, "now-3m")},
		{`lead_created_at:"now"`, Where("lead_created_at", Eq, "now")},
		{"lead_created_at:now-0d", Where("lead_created_at", Eq, "now")},
		{"custom.at > now-30d", Where("custom.at", Gt, "now-30d")},

		{
			`tag:churn-risk-high AND (tag:"feature: dark mode" OR tags:any(sso, scim))
			   AND NOT tags:any(managed-account, internal) AND mrr >= 10000 AND country:US`,
			And(Tag("churn-risk-high"), Or(Tag("feature: dark mode"), AnyTag("sso", "scim")),
				Not(AnyTag("managed-account", "internal")), Where("mrr", Gte, 10000), Where("country", Eq, "US")),
		},
	}
	for _, tt := range tests {
		got, err := Parse(tt.query)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.query, err)
			continue
		}
		if d := diffExpr(tt.want, got); d != "" {
			t.Errorf("Parse(%q) (-want +got):\n%s", tt.query, d)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		query    string
		offset   int
		expected string
		found    string
		unknown  bool // an unknown field: errors.Is(err, ErrInvalidField)
	}{
		// Empty, dangling and unbalanced.
		{"", 0, expExpr, "", false},
		{"   ", 3, expExpr, "", false},
		{"tag:a AND", 9, expExpr, "", false},
		{"tag:a AND   ", 12, expExpr, "", false},
		{"tag:a OR", 8, expExpr, "", false},
		{"AND tag:a", 0, expExpr, "AND", false},
		{"or tag:a", 0, expExpr, "or", false},
		{"tag:a OR OR tag:b", 9, expExpr, "OR", false},
		{"NOT", 3, expExpr, "", false},
		{"NOT NOT", 7, expExpr, "", false},
		{"(tag:a", 6, expClose, "", false},
		{"((tag:a)", 8, expClose, "", false},
		{"(tag:a tag:b)", 7, expClose, "tag:b", false},
		{"tag:a)", 5, expEnd, ")", false},
		{")", 0, expExpr, ")", false},
		{"()", 1, expExpr, ")", false},
		{"tag:a tag:b", 6, expEnd, "tag:b", false},
		{"tag:a NOT tag:b", 6, expEnd, "NOT", false},
		{"tag:a & tag:b", 6, expEnd, "&", false},
		{"tag:a ANDtag:b", 6, expEnd, "ANDtag:b", false},
		{"* *", 2, expEnd, "*", false},
		{"tag:a\x00", 5, expEnd, "\x00", false},
		{"tag:a \xff", 6, expEnd, "\xff", false},
		{"-tag:a", 0, expField, "-tag", true},
		{"#", 0, expExpr, "#", false},

		// Unknown fields.
		{"foo:bar", 0, expField, "foo", true},
		{"tag:a AND plan:pro", 10, expField, "plan", true},
		{"Email:x", 0, expField, "Email", true},
		{"custom.:x", 0, expField, "custom.", true},
		{`"tag":x`, 0, expField, "tag", true},
		{`"":x`, 0, expField, "", true},
		{"churn-risk", 0, expField, "churn-risk", true},

		// Tag terms.
		{"tag", 3, expColon, "", false},
		{"tag=a", 3, expColon, "=", false},
		{"tag:", 4, expValue, "", false},
		{"tag:)", 4, expValue, ")", false},
		{"tag:OR", 4, expValue, "OR", false},
		{"tag:Not", 4, expValue, "Not", false},
		{"tag:*", 4, expValue, "*", false},
		{"tag::a", 4, expValue, ":", false}, // a value word cannot start with ':'
		{"tags", 4, expColon, "", false},
		{"tags:some(a)", 5, expTagsFunc, "some", false},
		{"tags:ANY(a)", 5, expTagsFunc, "ANY", false},
		{"tags:(a)", 5, expTagsFunc, "(", false},
		{"tags:any a", 9, expOpen, "a", false},
		{"tags:any", 8, expOpen, "", false},
		{"tags:any(", 9, expValueClose, "", false},
		{"tags:any(,a)", 9, expValueClose, ",", false},
		{"tags:any(a,", 11, expValue, "", false},
		{"tags:any(a,)", 11, expValue, ")", false},
		{"tags:any(a b)", 11, expCommaClose, "b", false},
		{"tags:any(a", 10, expCommaClose, "", false},
		{"tags:all(a,AND)", 11, expValue, "AND", false},

		// Operators and values.
		{"email", 5, expOperator, "", false},
		{"email~x", 5, expOperator, "~", false},
		{"email !x", 6, expOperator, "!", false},
		{"email == x", 7, expValue, "=", false},
		{"email =< x", 7, expValue, "<", false},
		{"email:", 6, expValue, "", false},
		{"email: AND tag:a", 7, expValue, "AND", false},
		{"email:*", 6, expValue, "*", false},
		{"email:(a)", 6, expValue, "(", false},
		{"mrr>abc", 4, expInteger, "abc", false},
		{"mrr>1.5", 4, expInteger, "1.5", false},
		{"mrr>1e3", 4, expInteger, "1e3", false},
		{"mrr>1_000", 4, expInteger, "1_000", false},
		{`mrr:"100"`, 4, expInteger, `"100"`, false},
		{"arr<-", 4, expInteger, "-", false},
		{"mrr>99999999999999999999", 4, expInt64, "99999999999999999999", false},
		{"mrr>-9223372036854775809", 4, expInt64, "-9223372036854775809", false},
		{"lead_created_at>2024-13-01", 16, expTime, "2024-13-01", false},
		{"lead_created_at>yesterday", 16, expTime, "yesterday", false},
		{"lead_created_at > 2024-01-02T25:00:00Z", 18, expTime, "2024-01-02T25:00:00Z", false},
		{`lead_created_at>"2024-01-02 03:04:05"`, 16, expTime, `"2024-01-02 03:04:05"`, false},
		{`free_trial_started_at:"0000-01-01T00:00:00+01:00"`, 22, expTimeRange, `"0000-01-01T00:00:00+01:00"`, false},
		{"free_trial_started_at:9999-12-31T23:00:00-02:00", 22, expTimeRange, "9999-12-31T23:00:00-02:00", false},
		{"custom.x:99999999999999999999", 9, expInt64, "99999999999999999999", false},
		{"custom.x:-9223372036854775809", 9, expInt64, "-9223372036854775809", false},
		{"custom.x:1e400", 9, expFloat, "1e400", false},
		{"custom.x:-1.5e999", 9, expFloat, "-1.5e999", false},
		{"custom.t:0000-01-01T00:00:00+01:00", 9, expTimeRange, "0000-01-01T00:00:00+01:00", false},

		// Quoted strings.
		{`tag:"abc`, 8, expQuote, "", false},
		{`tag:"abc\"`, 10, expQuote, "", false},
		{`"email`, 6, expQuote, "", false},
		{`tag:"a\nb"`, 6, expEscape, `\n`, false},
		{`tag:"a\'"`, 6, expEscape, `\'`, false},
		{"tag:\"a\\é\"", 6, expEscape, `\é`, false},
		{`tag:"a\`, 6, expEscape, `\`, false},
		{`tag:"x"y`, 7, expEnd, "y", false},
		{`tag:a"b"`, 5, expEnd, `"b"`, false},

		// Long tokens are cut.
		{"tag:a " + strings.Repeat("x", 100), 6, expEnd, strings.Repeat("x", 40) + "...", false},
		{"tag:a " + strings.Repeat("é", 30), 6, expEnd, strings.Repeat("é", 20) + "...", false},
		{"tag:a " + strings.Repeat("x", 39) + "é", 6, expEnd, strings.Repeat("x", 39) + "...", false},

		// Prefixes, lists, relative dates.
		{"mrr:1*", 5, expPrefix, "*", false},
		{"lead_created_at:2024*", 20, expPrefix, "*", false},
		{"name > a*", 8, expPrefix, "*", false},
		{"name:a *", 7, expEnd, "*", false},
		{"tag:a**", 6, expEnd, "*", false},
		{"tags:any(a*b)", 11, expCommaClose, "b", false},
		{"country:any(US", 14, expCommaClose, "", false},
		{"country:any(", 12, expValueClose, "", false},
		{"country:any(,)", 12, expValueClose, ",", false},
		{"mrr:any(1, x)", 11, expInteger, "x", false},
		{"lead_created_at > now-30x", 18, expTime, "now-30x", false},
		{"lead_created_at > now-1000000d", 18, expTime, "now-1000000d", false},
		{"lead_created_at > now30d", 18, expTime, "now30d", false},
		{"lead_created_at > now-d", 18, expTime, "now-d", false},

		// Nesting.
		{strings.Repeat("(", 1001) + "tag:a" + strings.Repeat(")", 1001), 1000, expDepth, "(", false},
		{strings.Repeat("NOT ", 1001) + "tag:a", 4000, expDepth, "NOT", false},
		{strings.Repeat("NOT (", 501) + "tag:a" + strings.Repeat(")", 501), 2500, expDepth, "NOT", false},
	}
	for _, tt := range tests {
		_, err := Parse(tt.query)
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Parse(%.60q) = %v, want a *SyntaxError", tt.query, err)
			continue
		}
		got := SyntaxError{Query: se.Query, Offset: se.Offset, Expected: se.Expected, Found: se.Found}
		want := SyntaxError{Query: tt.query, Offset: tt.offset, Expected: tt.expected, Found: tt.found}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("Parse(%.60q) error (-want +got):\n%s", tt.query, d)
		}
		if is := errors.Is(err, ErrInvalidField); is != tt.unknown {
			t.Errorf("Parse(%.60q): errors.Is(err, ErrInvalidField) = %v, want %v", tt.query, is, tt.unknown)
		}
	}
}

func TestSyntaxErrorMessage(t *testing.T) {
	tests := []struct{ query, want string }{
		{"(tag:a", `tagseg: syntax error at offset 6: expected AND, OR or ")", found end of query`},
		{"tag:a tag:b", `tagseg: syntax error at offset 6: expected AND, OR or end of query, found "tag:b"`},
		{"plan:pro", `tagseg: syntax error at offset 0: expected field, found unknown field "plan"`},
		{"mrr >= ten", `tagseg: syntax error at offset 7: expected integer, found "ten"`},
		{`tag:"a\nb"`, `tagseg: syntax error at offset 6: expected escape \" or \\, found "\\n"`},
		{"", `tagseg: syntax error at offset 0: expected expression, found end of query`},
	}
	for _, tt := range tests {
		_, err := Parse(tt.query)
		if err == nil || err.Error() != tt.want {
			t.Errorf("Parse(%q) error:\n got %v\nwant %s", tt.query, err, tt.want)
		}
	}
}

func TestParseFlatAndDeep(t *testing.T) {
	const n = 10000
	var b strings.Builder
	kids := make([]Expr, n)
	for i := range n {
		if i > 0 {
			b.WriteString(" OR ")
		}
		fmt.Fprintf(&b, "tag:t%d", i)
		kids[i] = Tag(fmt.Sprintf("t%d", i))
	}
	q := b.String()
	e, err := Parse(q)
	if err != nil {
		t.Fatal(err)
	}
	if d := diffExpr(Or(kids...), e); d != "" {
		t.Fatalf("flat OR (-want +got):\n%s", d)
	}
	if s := e.String(); s != q {
		t.Errorf("flat OR does not print back as given")
	}

	q = strings.ReplaceAll(q, " OR ", " AND NOT ")
	if _, err := Parse(q); err != nil {
		t.Fatal(err)
	}

	deep := strings.Repeat("(", maxDepth) + "tag:a" + strings.Repeat(")", maxDepth)
	if e, err := Parse(deep); err != nil {
		t.Errorf("%d nested parentheses: %v", maxDepth, err)
	} else if d := diffExpr(Tag("a"), e); d != "" {
		t.Errorf("%d nested parentheses (-want +got):\n%s", maxDepth, d)
	}
	nots := strings.Repeat("NOT ", maxDepth) + "tag:a"
	e, err = Parse(nots)
	if err != nil {
		t.Fatalf("%d NOTs: %v", maxDepth, err)
	}
	if s := e.String(); s != nots {
		t.Errorf("%d NOTs do not print back as given", maxDepth)
	}
}

func TestString(t *testing.T) {
	a, b, c := Tag("a"), Tag("b"), Tag("c")
	at := time.Date(2024, 1, 2, 3, 4, 5, 600, time.FixedZone("X", 3600))
	tests := []struct {
		e    Expr
		want string
	}{
		{Expr{}, "*"},
		{All(), "*"},
		{And(), "*"},
		{Or(), "tags:any()"},
		{AnyTag(), "tags:any()"},
		{AllTags(), "tags:all()"},
		{Not(Or()), "tags:none()"},
		{Not(AnyTag("a", "b")), "tags:none(a, b)"},
		{Not(And(AnyTag("a"))), "tags:none(a)"},
		{Not(Not(AnyTag("a"))), "NOT tags:none(a)"},
		{Not(Expr{}), "NOT *"},
		{Not(And()), "NOT *"},
		{And(a), "tag:a"},
		{Or(And(Or(a))), "tag:a"},
		{And(a, b), "tag:a AND tag:b"},
		{Or(a, And(b, c)), "tag:a OR tag:b AND tag:c"},
		{Or(And(a, b), c), "tag:a AND tag:b OR tag:c"},
		{And(Or(a, b), c), "(tag:a OR tag:b) AND tag:c"},
		{And(a, Or(b, c)), "tag:a AND (tag:b OR tag:c)"},
		{And(And(a, b), And(c)), "tag:a AND tag:b AND tag:c"},
		{And(a, Or(And(b, c))), "tag:a AND tag:b AND tag:c"},
		{Or(a, Or(b, Or(c))), "tag:a OR tag:b OR tag:c"},
		{And(a, And()), "tag:a AND *"},
		{Or(a, Or()), "tag:a OR tags:any()"},
		{And(a, Or()), "tag:a AND tags:any()"},
		{Not(And(a, b)), "NOT (tag:a AND tag:b)"},
		{Not(Or(a, b)), "NOT (tag:a OR tag:b)"},
		{And(Not(a), Not(Or(b, c))), "NOT tag:a AND NOT (tag:b OR tag:c)"},
		{Not(Not(a)), "NOT NOT tag:a"},
		{Not(And(Or(a, b))), "NOT (tag:a OR tag:b)"},
		{Tag("AND"), `tag:"AND"`},
		{Tag("not"), `tag:"not"`},
		{Tag(""), `tag:""`},
		{Tag(`a"b\c`), `tag:"a\"b\\c"`},
		{Tag("feature: dark mode"), `tag:"feature: dark mode"`},
		{Tag("a:b"), `tag:"a:b"`},
		{Tag("é\u0301"), "tag:\"é\u0301\""},
		{Tag("\xff"), "tag:\"\xff\""},
		{Tag("标签"), "tag:标签"},
		{AllTags("a b", "c"), `tags:all("a b", c)`},
		{Where("country", Eq, "US"), "country:US"},
		{Where("country", NotEq, "US"), "country != US"},
		{Where("email", Eq, "Adam@X.com"), "email:Adam@X.com"},
		{Where("zip", Eq, "01234"), "zip:01234"},
		{Where("name", Lt, ""), `name < ""`},
		{Where("mrr", Gte, 10000), "mrr >= 10000"},
		{Where("mrr", Gt, uint8(7)), "mrr > 7"},
		{Where("arr", Lte, -1), "arr <= -1"},
		{Where("arr", Eq, uint64(math.MaxUint64)), "arr:18446744073709551615"},
		{Where("lead_created_at", Gt, at), "lead_created_at > 2024-01-02T02:04:05.0000006Z"},
		{Where("lead_created_at", Gt, "2024-01-02"), "lead_created_at > 2024-01-02T00:00:00Z"},
		{Where("free_trial_started_at", Eq, "2024-01-02T03:04:05+01:00"), "free_trial_started_at:2024-01-02T02:04:05Z"},
		{Where("custom.plan", Eq, "pro"), "custom.plan:pro"},
		{TagPrefix("feature-"), "tag:feature-*"},
		{TagPrefix("a b"), `tag:"a b"*`},
		{TagPrefix(""), `tag:""*`},
		{Where("name", Prefix, "Acme"), "name:Acme*"},
		{Where("name", Prefix, "and"), `name:"and"*`},
		{Not(Where("email", Prefix, "x@")), "NOT email:x@*"},
		{Where("custom.code", Prefix, "10"), "custom.code:10*"},
		{Where("mrr", Prefix, "10"), "mrr:?string(10)*"},
		{Or(Where("country", Eq, "US"), Where("country", Eq, "GB")), "country:any(US, GB)"},
		{Or(Where("country", Eq, "US"), Or(Where("country", Eq, "GB"), Where("country", Prefix, "F"))), "country:any(US, GB, F*)"},
		{Not(Or(Where("country", Eq, "US"), Where("country", Eq, "G B"))), `country:none(US, "G B")`},
		{And(Where("mrr", Eq, 1), Where("mrr", Eq, 2)), "mrr:all(1, 2)"},
		{And(Tag("a"), Or(Where("city", Eq, "x"), Where("city", Eq, "y"))), "tag:a AND city:any(x, y)"},
		{Or(Where("country", Eq, "US"), Where("country", NotEq, "GB")), "country:US OR country != GB"},
		{Or(Where("country", Eq, "US"), Where("city", Eq, "GB")), "country:US OR city:GB"},
		{Or(Where("nope", Eq, "US"), Where("nope", Eq, "GB")), "nope:US OR nope:GB"},
		{Where("lead_created_at", Gt, "now-30d"), "lead_created_at > now-30d"},
		{Where("lead_created_at", Gt, "now-030d"), "lead_created_at > now-30d"},
		{Where("lead_created_at", Lt, "now+0m"), "lead_created_at < now"},
		{Where("lead_created_at", Lt, "now-2x"), `lead_created_at < now-2x`},
		{Where("custom.plan", Eq, "10"), `custom.plan:"10"`},
		{Where("custom.plan", Eq, "true"), `custom.plan:"true"`},
		{Where("custom.plan", Eq, "NaN"), `custom.plan:"NaN"`},
		{Where("custom.plan", Eq, "1e400"), `custom.plan:"1e400"`},
		{Where("custom.plan", Eq, "2024-01-02"), `custom.plan:"2024-01-02"`},
		{Where("custom.plan", Eq, "True"), "custom.plan:True"},
		{Where("custom.plan", Eq, "007"), "custom.plan:007"},
		{Where("custom.n", Gt, 10), "custom.n > 10"},
		{Where("custom.n", Gt, uint(math.MaxUint64)), "custom.n > 18446744073709551615"},
		{Where("custom.f", Eq, 3.0), "custom.f:3.0"},
		{Where("custom.f", Eq, float32(0.5)), "custom.f:0.5"},
		{Where("custom.f", Eq, -1.5), "custom.f:-1.5"},
		{Where("custom.f", Eq, 1e300), "custom.f:1e+300"},
		{Where("custom.f", Eq, 1e-7), "custom.f:1e-07"},
		{Where("custom.f", Eq, math.Copysign(0, -1)), "custom.f:-0.0"},
		{Where("custom.f", Eq, math.NaN()), "custom.f:NaN"},
		{Where("custom.f", Eq, math.Inf(1)), "custom.f:+Inf"},
		{Where("custom.f", Eq, math.Inf(-1)), "custom.f:-Inf"},
		{Where("custom.vip", Eq, true), "custom.vip:true"},
		{Where("custom.at", Gte, at), "custom.at >= 2024-01-02T02:04:05.0000006Z"},
		{Where("custom.my key", Eq, "x"), `"custom.my key":x`},
		{Where("custom.a:b", Eq, "x"), `"custom.a:b":x`},
		{Where(`custom.a"b`, Eq, "x"), `"custom.a\"b":x`},
		// Printed so that Parse rejects them.
		{Where("foo", Eq, "x"), "foo:x"},
		{Where("tag", Eq, "x"), `"tag":x`},
		{Where("tags", Eq, "x"), `"tags":x`},
		{Where("NOT", Eq, 1), `"NOT":1`},
		{Where("", Eq, 1), `"":1`},
		{Where("custom.", Eq, 1), "custom.:1"},
		{Where("a b", Gt, 1.5), `"a b" > 1.5`},
		{Where("zip", Eq, 12345), "zip:?int64(12345)"},
		{Where("mrr", Eq, "100"), "mrr:?string(100)"},
		{Where("mrr", Eq, 1.0), "mrr:?float64(1)"},
		{Where("name", Eq, true), "name:?bool(true)"},
		{Where("lead_created_at", Eq, 20240102), "lead_created_at:?int64(20240102)"},
		{Where("lead_created_at", Eq, "yesterday"), "lead_created_at:yesterday"},
		{Where("lead_created_at", Eq, time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)), "lead_created_at:?time.Time(10000-01-01 00:00:00 +0000 UTC)"},
		{Where("custom.x", Eq, struct{}{}), "custom.x:?struct {}({})"},
		{Where("custom.x", Eq, nil), "custom.x:?<nil>(<nil>)"},
		{Where("name", Op(9), "x"), "name Op(9) x"},
	}
	for _, tt := range tests {
		if got := tt.e.String(); got != tt.want {
			t.Errorf("String() = %s, want %s", got, tt.want)
		}
	}
}

// TestStringInvalid checks that what String cannot express equivalently is
// rejected by Parse, and that unknown fields are reported as such.
func TestStringInvalid(t *testing.T) {
	tests := []struct {
		e       Expr
		unknown bool
	}{
		{Where("foo", Eq, "x"), true},
		{Where("tag", Eq, "x"), true},
		{Where("tags", Gt, "x"), true},
		{Where("AND", Eq, "x"), true},
		{Where("", Eq, "x"), true},
		{Where("custom.", Eq, "x"), true},
		{Where("a b", Eq, struct{}{}), true},
		{Where("(", Op(42), "x"), true},
		{And(Tag("a"), Or(Tag("b"), Not(Where("nope", Lt, 3)))), true},
		{Where("zip", Eq, 12345), false},
		{Where("mrr", Eq, "100"), false},
		{Where("mrr", Eq, 1.5), false},
		{Where("arr", Eq, true), false},
		{Where("name", Eq, time.Time{}), false},
		{Where("lead_created_at", Eq, "soon"), false},
		{Where("lead_created_at", Eq, ""), false},
		{Where("lead_created_at", Eq, "AND"), false},
		{Where("lead_created_at", Eq, time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)), false},
		{Where("custom.t", Eq, time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)), false},
		{Where("custom.x", Eq, []byte("x")), false},
		{Where("custom.x", Eq, nil), false},
		{Where("email", Op(-1), "x"), false},
		{Where("email", Op(7), "x"), false},
		{Where("mrr", Prefix, "1"), false},
		{Where("lead_created_at", Prefix, "2024"), false},
		{Where("name", Prefix, 5), false},
		{Or(Where("mrr", Prefix, "1"), Where("mrr", Eq, int64(2))), false},
		{Not(Where("custom.x", Gt, complex(1, 2))), false},
	}
	for _, tt := range tests {
		s := tt.e.String()
		_, err := Parse(s)
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Parse(%q) = %v, want a *SyntaxError", s, err)
			continue
		}
		if is := errors.Is(err, ErrInvalidField); is != tt.unknown {
			t.Errorf("Parse(%q): %v; errors.Is(err, ErrInvalidField) = %v, want %v", s, err, is, tt.unknown)
		}
	}
}

// TestRoundTripRandom prints random expressions, parses them back and checks
// that the text is canonical and the structure equivalent.
func TestRoundTripRandom(t *testing.T) {
	seed := testSeed(t)
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	n := 5000
	if testing.Short() {
		n = 500
	}
	for i := range n {
		e := randQExpr(r, r.IntN(6))
		s := e.String()
		p, err := Parse(s)
		if err != nil {
			t.Fatalf("expression %d: Parse(%q): %v", i, s, err)
		}
		if s2 := p.String(); s2 != s {
			t.Fatalf("expression %d: not canonical:\n printed  %q\n reprinted %q", i, s, s2)
		}
		if d := diffExpr(norm(e), norm(p)); d != "" {
			t.Fatalf("expression %d: %q parses to a different structure (-want +got):\n%s", i, s, d)
		}
	}
}

var (
	stringFields = []string{"email", "name", "company", "country", "state", "city", "zip", "data_source", "external_id"}
	customKeys   = []string{"plan", "seats", "a.b", "größe", "my key", "a:b", `q"uote`, "AND", "tag", "-"}
	textPieces   = []string{
		"a", "Z", "0", "7", "-", "_", ".", "@", "+", "/", ":", " ", "\t", "\n", `"`, `\`, "(", ")", ",",
		"*", "=", "!", "<", ">", "é", "\u0301", "标", "\u00a0", "\xff", "\x00", "AND", "or", "Not",
		"true", "false", "NaN", "+Inf", "-Inf", "10", "-3", "1.5", "1e400", "007", "2024-01-02",
		"2024-01-02T03:04:05Z", "tag", "tags", "any", "custom.x",
	}
	locations = []*time.Location{time.UTC, time.FixedZone("A", 5*3600+1800), time.FixedZone("B", -11*3600)}
)

func randText(r *rand.Rand) string {
	n := r.IntN(4)
	if r.IntN(8) == 0 {
		return ""
	}
	var b strings.Builder
	for range n + 1 {
		b.WriteString(textPieces[r.IntN(len(textPieces))])
	}
	return b.String()
}

func randQTags(r *rand.Rand) []string {
	tags := make([]string, r.IntN(4))
	for i := range tags {
		tags[i] = randText(r)
	}
	return tags
}

func randQTime(r *rand.Rand) time.Time {
	lo := time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	hi := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	var sec int64
	switch r.IntN(3) {
	case 0:
		sec = lo + r.Int64N(hi-lo)
	case 1:
		sec = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).Unix() + r.Int64N(10*365*86400)
	default:
		sec = []int64{lo, hi - 1, 0}[r.IntN(3)]
	}
	var ns int64
	if r.IntN(2) == 0 {
		ns = r.Int64N(1e9)
	}
	return time.Unix(sec, ns).In(locations[r.IntN(len(locations))])
}

func randInt(r *rand.Rand) any {
	switch r.IntN(8) {
	case 0:
		return uint64(1<<63) + r.Uint64N(1<<63)
	case 1:
		return []int64{0, -1, math.MaxInt64, math.MinInt64}[r.IntN(4)]
	case 2:
		return int32(r.Int32())
	case 3:
		return uint8(r.UintN(256))
	case 4:
		return uint(r.Uint64())
	default:
		return r.Int64N(2e6) - 1e6
	}
}

func randFloat(r *rand.Rand) float64 {
	switch r.IntN(6) {
	case 0:
		return []float64{math.NaN(), math.Inf(1), math.Inf(-1), 0, math.Copysign(0, -1),
			1e300, -1e-300, 5e-324, math.MaxFloat64, 3, 1 << 53}[r.IntN(11)]
	case 1:
		return float64(r.Int64N(1e6))
	case 2:
		return math.Float64frombits(r.Uint64()) // may be NaN
	default:
		return (r.Float64() - 0.5) * math.Pow(10, float64(r.IntN(40)-20))
	}
}

func randWhere(r *rand.Rand) Expr {
	op := Op(r.IntN(6))
	switch r.IntN(7) {
	case 4: // a prefix
		if r.IntN(2) == 0 {
			return Where(stringFields[r.IntN(len(stringFields))], Prefix, randText(r))
		}
		return Where("custom."+customKeys[r.IntN(len(customKeys))], Prefix, randText(r))
	case 5: // a relative date
		f := []string{"lead_created_at", "free_trial_started_at"}[r.IntN(2)]
		rd := relDate{r.IntN(2001) - 1000, "dwm"[r.IntN(3)]}
		return Where(f, op, rd.String())
	case 6: // a list of values of one field
		f := stringFields[r.IntN(len(stringFields))]
		kids := make([]Expr, 2+r.IntN(3))
		for i := range kids {
			op := Eq
			if r.IntN(3) == 0 {
				op = Prefix
			}
			kids[i] = Where(f, op, randText(r))
		}
		switch r.IntN(3) {
		case 0:
			return And(kids...)
		case 1:
			return Not(Or(kids...))
		}
		return Or(kids...)
	}
	switch r.IntN(4) {
	case 0:
		return Where(stringFields[r.IntN(len(stringFields))], op, randText(r))
	case 1:
		return Where([]string{"mrr", "arr"}[r.IntN(2)], op, randInt(r))
	case 2:
		f := []string{"lead_created_at", "free_trial_started_at"}[r.IntN(2)]
		t := randQTime(r)
		switch r.IntN(3) {
		case 0:
			if y := t.Year(); 0 <= y && y <= 9999 { // else RFC 3339 cannot write it
				return Where(f, op, t.Format(time.RFC3339Nano))
			}
		case 1:
			return Where(f, op, t.UTC().Format(time.DateOnly))
		}
		return Where(f, op, t)
	}
	f := "custom." + customKeys[r.IntN(len(customKeys))]
	var v any
	switch r.IntN(6) {
	case 0:
		v = randText(r)
	case 1:
		v = randInt(r)
	case 2:
		v = randFloat(r)
	case 3:
		v = r.IntN(2) == 0
	case 4:
		v = randQTime(r)
	default:
		v = []string{"10", "true", "NaN", "1e400", "2024-01-02", "007", "x", ""}[r.IntN(8)]
	}
	return Where(f, op, v)
}

func randQExpr(r *rand.Rand, depth int) Expr {
	if depth > 0 && r.IntN(3) > 0 {
		switch r.IntN(3) {
		case 0:
			return Not(randQExpr(r, depth-1))
		default:
			kids := make([]Expr, r.IntN(5))
			for i := range kids {
				kids[i] = randQExpr(r, depth-1)
			}
			if r.IntN(2) == 0 {
				return And(kids...)
			}
			return Or(kids...)
		}
	}
	switch r.IntN(13) {
	case 0:
		return All()
	case 1:
		return Expr{}
	case 12:
		return TagPrefix(randText(r))
	case 2, 3:
		return Tag(randText(r))
	case 4:
		return AnyTag(randQTags(r)...)
	case 5:
		return AllTags(randQTags(r)...)
	}
	return randWhere(r)
}

func BenchmarkParse(b *testing.B) {
	var sb strings.Builder
	for i := range 10000 {
		if i > 0 {
			sb.WriteString(" OR ")
		}
		fmt.Fprintf(&sb, "tag:t%d", i)
	}
	queries := []struct{ name, q string }{
		{"typical", `tag:churn-risk-high AND (tag:"feature: dark mode" OR tags:any(sso, scim)) AND NOT tags:any(managed-account, internal) AND mrr >= 10000 AND country:US`},
		{"flat10k", sb.String()},
	}
	for _, q := range queries {
		b.Run(q.name, func(b *testing.B) {
			b.SetBytes(int64(len(q.q)))
			for b.Loop() {
				if _, err := Parse(q.q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
