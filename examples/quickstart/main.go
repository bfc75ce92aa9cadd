// Quickstart: create an index, tag customers three ways, record MRR, and
// ask a segment question.
//
//	go run ./examples/quickstart
package main

import (
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/tagseg/tagseg"
)

func main() {
	dir, err := os.MkdirTemp("", "tagseg-quickstart")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := run(os.Stdout, filepath.Join(dir, "customers.db")); err != nil {
		log.Fatal(err)
	}
}

func run(w io.Writer, path string) error {
	ix, err := tagseg.Open(path, nil)
	if err != nil {
		return err
	}
	defer ix.Close()

	// Customers, tagged at create.
	jan := time.Date(2024, 1, 15, 0, 0, 0, 0, time.UTC)
	for i, c := range []tagseg.Customer{
		{Name: "Acme", Email: "ops@acme.test", Country: "US", Tags: []string{"plan-pro"}},
		{Name: "Globex", Email: "it@globex.test", Country: "US", Tags: []string{"plan-pro", "managed-account"}},
		{Name: "Initech", Email: "ops@initech.test", Country: "DE", Tags: []string{"plan-starter"}},
	} {
		c, err := ix.CreateCustomer(c)
		if err != nil {
			return err
		}
		if err := ix.SetMRR(c.UUID, jan, int64(i+1)*10_000); err != nil {
			return err
		}
		// Tagged by UUID.
		if _, err := ix.AddTags(c.UUID, "churn-risk-high"); err != nil {
			return err
		}
	}
	// Tagged by email, as a Zapier step would.
	if _, err := ix.AddTagsByEmail("OPS@ACME.TEST", "feature-sso"); err != nil {
		return err
	}

	q := `tag:churn-risk-high AND tags:any(plan-pro, plan-enterprise) AND NOT tag:managed-account`
	e, err := tagseg.Parse(q)
	if err != nil {
		return err
	}
	seg, err := ix.Segment(e)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%s\n  customers %d, MRR $%d, ARR $%d, ARPA $%d\n", q,
		seg.Count(), seg.MRR()/100, seg.ARR()/100, seg.ARPA()/100)
	for c := range seg.Customers() {
		fmt.Fprintf(w, "  %s %v\n", c.Name, c.Tags)
	}
	return nil
}
