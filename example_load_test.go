package tagseg_test

import (
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/tagseg/tagseg"
)

// Loading customers in bulk, each with its MRR history, from any iterator:
// a CRM export, a CSV reader, a generator.
func ExampleIndex_Load() {
	ix, done := openExample()
	defer done()

	type row struct {
		ext  string
		tags []string
		mrr  []tagseg.MRRChange
	}
	jan, feb := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC)
	rows := []row{
		{"1", []string{"plan-pro"}, []tagseg.MRRChange{{At: jan, Cents: 4900}, {At: feb, Cents: 9900}}},
		{"2", []string{"plan-pro", "feature-sso"}, []tagseg.MRRChange{{At: jan, Cents: 4900}}},
		{"3", []string{"plan-starter"}, nil},
	}
	n, err := ix.Load(func(yield func(tagseg.Customer, []tagseg.MRRChange) bool) {
		for _, r := range rows {
			c := tagseg.Customer{DataSourceUUID: "ds_crm", ExternalID: r.ext, Tags: r.tags}
			if !yield(c, r.mrr) {
				return
			}
		}
	})
	if err != nil {
		log.Fatal(err)
	}
	seg, _ := ix.Segment(tagseg.Tag("plan-pro"))
	fmt.Println("loaded:", n, "plan-pro:", seg.Count(), "MRR:", seg.MRR())

	// A duplicate stops the load; the error says which customer of the input.
	_, err = ix.Load(func(yield func(tagseg.Customer, []tagseg.MRRChange) bool) {
		yield(tagseg.Customer{DataSourceUUID: "ds_crm", ExternalID: "4"}, nil)
		yield(tagseg.Customer{DataSourceUUID: "ds_crm", ExternalID: "2"}, nil)
	})
	var le *tagseg.LoadError
	fmt.Println(errors.Is(err, tagseg.ErrDuplicate), errors.As(err, &le) && le.Index == 1)
	// Output:
	// loaded: 3 plan-pro: 2 MRR: 14800
	// true true
}

// Several reads on one snapshot: whatever writers do meanwhile, the
// segment, its tag ranking and the customer agree with each other.
func ExampleIndex_View() {
	ix, done := openExample()
	defer done()
	c, _ := ix.CreateCustomer(tagseg.Customer{Tags: []string{"feature-sso"}})
	_ = ix.SetMRR(c.UUID, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), 9900)

	err := ix.View(func(tx *tagseg.Tx) error {
		seg, err := tx.Segment(tagseg.Tag("feature-sso"))
		if err != nil {
			return err
		}
		// A writer commits in the middle of the View...
		if _, err := ix.AddTags(c.UUID, "feature-scim"); err != nil {
			return err
		}
		// ...and the View still sees the commit it began on.
		stats, _ := tx.TagStats(tagseg.All(), tagseg.TagStatsOptions{})
		got, _ := tx.Customer(c.UUID)
		fmt.Println(seg.Count(), seg.MRR(), len(stats), got.Tags)
		_, err = tx.AddTags(c.UUID, "x")
		fmt.Println(errors.Is(err, tagseg.ErrReadOnly))
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	got, _ := ix.Customer(c.UUID)
	fmt.Println(got.Tags)
	// Output:
	// 1 9900 1 [feature-sso]
	// true
	// [feature-sso feature-scim]
}
