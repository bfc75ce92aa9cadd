package tagseg_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/tagseg/tagseg"
)

func ExampleParse() {
	e, err := tagseg.Parse(`tag:churn-risk-high and (tag:"feature: dark mode" or tags:any(sso,scim))
		AND NOT tags:any(managed-account, internal) AND mrr>=10000 AND country=US`)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(e)

	_, err = tagseg.Parse("tag:a AND plan:pro")
	fmt.Println(err)
	fmt.Println(errors.Is(err, tagseg.ErrInvalidField))
	// Output:
	// tag:churn-risk-high AND (tag:"feature: dark mode" OR tags:any(sso, scim)) AND tags:none(managed-account, internal) AND mrr >= 10000 AND country:US
	// tagseg: syntax error at offset 10: expected field, found unknown field "plan"
	// true
}

func ExampleExpr_String() {
	e := tagseg.And(
		tagseg.Or(tagseg.Tag("plan-pro"), tagseg.Tag("plan enterprise")),
		tagseg.Not(tagseg.AnyTag("internal")),
		tagseg.Where("custom.seats", tagseg.Gte, 10),
		tagseg.Where("custom.code", tagseg.Eq, "10"),
	)
	fmt.Println(e)
	// Output:
	// (tag:plan-pro OR tag:"plan enterprise") AND tags:none(internal) AND custom.seats >= 10 AND custom.code:"10"
}

func ExampleExpr_ResolveDates() {
	e, err := tagseg.Parse("lead_created_at >= now-30d AND NOT tag:internal AND free_trial_started_at < now-1m")
	if err != nil {
		fmt.Println(err)
		return
	}
	// Whenever and wherever it is evaluated, the same customers as on
	// March 31 (UTC), the day of the request: what a replicated log
	// carries.
	fixed := e.ResolveDates(time.Date(2025, 3, 31, 18, 45, 0, 0, time.UTC))
	fmt.Println(e)
	fmt.Println(fixed)
	// Output:
	// lead_created_at >= now-30d AND NOT tag:internal AND free_trial_started_at < now-1m
	// lead_created_at >= 2025-03-01T00:00:00Z AND NOT tag:internal AND free_trial_started_at < 2025-02-28T00:00:00Z
}

func ExampleFields() {
	for _, f := range tagseg.Fields()[:4] {
		fmt.Printf("%-8s %-7s %s\n", f.Name, f.Type, f.Doc)
	}
	// Output:
	// email    string  email address, matched in any case
	// name     string  customer name
	// company  string  company name
	// country  string  country, as stored (case-sensitive), e.g. US
}
