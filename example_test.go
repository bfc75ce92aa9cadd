package tagseg_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tagseg/tagseg"
)

// openExample opens a fresh index in a temporary directory.
func openExample() (*tagseg.Index, func()) {
	dir, err := os.MkdirTemp("", "tagseg-example")
	if err != nil {
		log.Fatal(err)
	}
	ix, err := tagseg.Open(filepath.Join(dir, "customers.db"), nil)
	if err != nil {
		log.Fatal(err)
	}
	return ix, func() { ix.Close(); os.RemoveAll(dir) }
}

// The three ways to tag a customer: when creating it, by UUID, and by
// email (every customer with that email, in any letter case).
func Example_tagging() {
	ix, done := openExample()
	defer done()

	// 1. Tags at create, as ChartMogul's "create a customer with tags".
	adam, err := ix.CreateCustomer(tagseg.Customer{
		DataSourceUUID: "ds_crm", ExternalID: "42",
		Name: "Adam Smith", Email: "adam@example.com", Country: "US",
		Tags: []string{"plan-pro", "  newsletter "}, // trimmed
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("created:", adam.Tags)

	// 2. By UUID: the result is every tag the customer has, in order added.
	tags, err := ix.AddTags(adam.UUID, "feature-sso", "plan-pro")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("after AddTags:", tags)

	// 3. By email, as a Zapier integration does.
	tagged, err := ix.AddTagsByEmail("ADAM@example.com", "churn-risk-high")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("by email:", tagged[0].Name, tagged[0].Tags)

	// And untagging.
	tags, _ = ix.RemoveTags(adam.UUID, "newsletter")
	fmt.Println("after RemoveTags:", tags)
	// Output:
	// created: [plan-pro newsletter]
	// after AddTags: [plan-pro newsletter feature-sso]
	// by email: Adam Smith [plan-pro newsletter feature-sso churn-risk-high]
	// after RemoveTags: [plan-pro feature-sso churn-risk-high]
}

// A segment with AND/OR/NOT over tags and fields, and its MRR figures.
func ExampleIndex_Segment() {
	ix, done := openExample()
	defer done()

	now := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name, country string
		tags          []string
		mrr           int64
	}{
		{"Acme", "US", []string{"churn-risk-high", "plan-pro"}, 50_000},
		{"Globex", "US", []string{"churn-risk-high", "plan-pro", "managed-account"}, 90_000},
		{"Initech", "DE", []string{"churn-risk-high", "plan-starter"}, 9_900},
		{"Umbrella", "US", []string{"churn-risk-high", "plan-pro"}, 0}, // on a free trial
	} {
		cu, err := ix.CreateCustomer(tagseg.Customer{Name: c.name, Country: c.country, Tags: c.tags})
		if err != nil {
			log.Fatal(err)
		}
		if err := ix.SetMRR(cu.UUID, now, c.mrr); err != nil {
			log.Fatal(err)
		}
	}

	// churn-risk-high AND plan-pro AND NOT managed-account AND country:US
	seg, err := ix.Segment(tagseg.And(
		tagseg.Tag("churn-risk-high"),
		tagseg.AnyTag("plan-pro", "plan-enterprise"),
		tagseg.Not(tagseg.Tag("managed-account")),
		tagseg.Where("country", tagseg.Eq, "US"),
	))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("customers %d, paying %d\n", seg.Count(), seg.Paying())
	fmt.Printf("MRR $%d, ARR $%d, ARPA $%d\n", seg.MRR()/100, seg.ARR()/100, seg.ARPA()/100)
	for c := range seg.Customers() {
		fmt.Println(c.Name, c.MRR)
	}
	// Output:
	// customers 2, paying 1
	// MRR $500, ARR $6000, ARPA $500
	// Acme 50000
	// Umbrella 0
}

// Watching a churn-risk segment month by month. Three customers:
//
//	           Jan    Feb    Mar    Apr    May
//	Acme       100    150    150      0    120   (new, expansion, churn, reactivation)
//	Globex       –     80     50     50     50   (new in Feb, contraction in Mar)
//	Initech    200    200    200    200    200   (tagged, but not churn-risk)
//
// In dollars; events on the 10th of each month. The segment is
// tag:churn-risk-high (Acme and Globex).
func ExampleIndex_Series() {
	ix, done := openExample()
	defer done()

	at := func(m time.Month) time.Time { return time.Date(2024, m, 10, 0, 0, 0, 0, time.UTC) }
	acme, _ := ix.CreateCustomer(tagseg.Customer{Name: "Acme", Tags: []string{"churn-risk-high"}})
	globex, _ := ix.CreateCustomer(tagseg.Customer{Name: "Globex", Tags: []string{"churn-risk-high"}})
	initech, _ := ix.CreateCustomer(tagseg.Customer{Name: "Initech", Tags: []string{"churn-risk-low"}})
	err := ix.Update(func(tx *tagseg.Tx) error {
		for _, e := range []struct {
			uuid  string
			month time.Month
			usd   int64
		}{
			{acme.UUID, time.January, 100}, {acme.UUID, time.February, 150},
			{acme.UUID, time.April, 0}, {acme.UUID, time.May, 120},
			{globex.UUID, time.February, 80}, {globex.UUID, time.March, 50},
			{initech.UUID, time.January, 200},
		} {
			if err := tx.SetMRR(e.uuid, at(e.month), e.usd*100); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}

	from := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	to := time.Date(2024, 5, 31, 0, 0, 0, 0, time.UTC)
	points, err := ix.Series(tagseg.Tag("churn-risk-high"), from, to, tagseg.Month)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("month    MRR  cust  ARPA   new  exp  contr  churn  react")
	for _, p := range points {
		fmt.Printf("%s %4d %5d %5d %5d %4d %6d %6d %6d\n", p.Start.Format("2006-01"),
			p.MRR/100, p.Customers, p.ARPA/100, p.NewBusiness/100, p.Expansion/100,
			p.Contraction/100, p.Churn/100, p.Reactivation/100)
	}
	// Output:
	// month    MRR  cust  ARPA   new  exp  contr  churn  react
	// 2024-01  100     1   100   100    0      0      0      0
	// 2024-02  230     2   115    80   50      0      0      0
	// 2024-03  200     2   100     0    0    -30      0      0
	// 2024-04   50     1    50     0    0      0   -150      0
	// 2024-05  170     2    85     0    0      0      0    120
}

// Ranking feature requests by the MRR of the customers who asked for them.
func ExampleIndex_TagStats() {
	ix, done := openExample()
	defer done()

	now := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		tags []string
		mrr  int64
	}{
		{[]string{"feature-sso", "feature-dark-mode"}, 90_000},
		{[]string{"feature-sso"}, 40_000},
		{[]string{"feature-dark-mode", "feature-api"}, 5_000},
		{[]string{"feature-dark-mode", "plan-starter"}, 5_000},
		{[]string{"feature-api", "internal"}, 100_000},
	} {
		cu, _ := ix.CreateCustomer(tagseg.Customer{Tags: c.tags})
		ix.SetMRR(cu.UUID, now, c.mrr)
	}
	stats, err := ix.TagStats(tagseg.Not(tagseg.Tag("internal")), tagseg.TagStatsOptions{Prefix: "feature-"})
	if err != nil {
		log.Fatal(err)
	}
	for _, s := range stats {
		fmt.Printf("%-18s %d customers  $%d MRR\n", s.Tag, s.Customers, s.MRR/100)
	}
	// Output:
	// feature-sso        2 customers  $1300 MRR
	// feature-dark-mode  3 customers  $1000 MRR
	// feature-api        1 customers  $50 MRR
}

func ExampleCheckTag() {
	for _, name := range []string{"  plan-pro ", "cafe\u0301", "feature\tsso", strings.Repeat("x", 300)} {
		tag, err := tagseg.CheckTag(name)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Printf("%q (%d bytes)\n", tag, len(tag))
	}
	// Output:
	// "plan-pro" (8 bytes)
	// "café" (5 bytes)
	// tagseg: tag "feature\tsso" holds the control character U+0009 (tags may not hold tabs, line breaks or other controls): invalid tag
	// tagseg: tag "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx…" is 300 bytes long, more than the limit of 255 bytes: invalid tag
}
