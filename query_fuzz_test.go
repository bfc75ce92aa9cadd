package tagseg

import (
	"errors"
	"testing"
)

// FuzzParse checks that Parse never panics, that its errors are
// *SyntaxErrors pointing into the query, and that whatever parses prints
// canonical text that parses back to an equivalent expression.
func FuzzParse(f *testing.F) {
	for _, q := range []string{
		"",
		"*",
		"tag:a",
		`tag:"feature: dark mode" OR tags:any(sso, scim)`,
		"NOT tags:none(a,b) AND tags:all()",
		"tag:a OR tag:b AND NOT (tag:c OR tag:d)",
		"not not tag:x and (tag:y or tag:z)",
		`email:adam@example.com AND name:"Ada \"L\" \\" AND zip:01234`,
		"mrr >= 10000 AND arr<18446744073709551615 AND mrr!=-5",
		"lead_created_at>=2024-01-02 AND free_trial_started_at<2024-01-02T03:04:05.5+02:00",
		"custom.seats>10 AND custom.f:1e300 AND custom.g:-0.0 AND custom.h:NaN AND custom.vip:true",
		`custom.plan:"10" OR custom.since:2024-01-02 OR "custom.my key":x`,
		"foo:bar",
		"((((tag:a))))",
		`tag:"unterminated`,
		`tag:"bad\escape"`,
		"tag:ünïcødé-标签",
		"tag:feature-* OR tags:any(sso, beta-*) AND name:Acme* AND email != x@*",
		`company:"Acme In"* OR custom.plan:pr*`,
		"country:any(US, GB*) AND NOT city:none(Berlin) AND mrr:all(1, 2)",
		"lead_created_at > now-30d AND free_trial_started_at <= now+2w OR lead_created_at:now-3m",
		"country:any AND state:none",
	} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, q string) {
		e, err := Parse(q)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q) = %v, not a *SyntaxError", q, err)
			}
			if se.Query != q || se.Offset < 0 || se.Offset > len(q) || se.Expected == "" {
				t.Fatalf("Parse(%q): bad error %#v", q, se)
			}
			_ = se.Error()
			return
		}
		s := e.String()
		p, err := Parse(s)
		if err != nil {
			t.Fatalf("Parse(%q) prints %q, which does not parse: %v", q, s, err)
		}
		if s2 := p.String(); s2 != s {
			t.Fatalf("Parse(%q) prints %q, which reprints as %q", q, s, s2)
		}
		if d := diffExpr(norm(e), norm(p)); d != "" {
			t.Fatalf("Parse(%q) prints %q, which parses to a different structure (-want +got):\n%s", q, s, d)
		}
	})
}
