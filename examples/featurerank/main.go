// Feature-request prioritization: customers ask for features (tags like
// feature-sso, set by hand, from a CRM sync or by email from a support
// tool); the product team ranks the requests by the MRR of the customers
// who asked, leaving out internal and free accounts.
//
//	go run ./featurerank
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
	dir, err := os.MkdirTemp("", "tagseg-featurerank")
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

	now := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)
	err = ix.Update(func(tx *tagseg.Tx) error {
		for _, c := range []struct {
			name, email string
			mrr         int64 // dollars
			tags        []string
		}{
			{"Acme", "cto@acme.test", 2400, []string{"plan-enterprise", "feature-sso", "feature-audit-log"}},
			{"Globex", "it@globex.test", 900, []string{"plan-pro", "feature-sso"}},
			{"Initech", "ops@initech.test", 150, []string{"plan-pro", "feature-dark-mode", "feature-api"}},
			{"Hooli", "eng@hooli.test", 0, []string{"plan-free", "feature-dark-mode"}},
			{"Umbrella", "sec@umbrella.test", 1200, []string{"plan-enterprise", "feature-audit-log"}},
			{"Tagseg Inc", "team@tagseg.test", 5000, []string{"internal", "feature-api"}},
		} {
			cu, err := tx.CreateCustomer(tagseg.Customer{Name: c.name, Email: c.email, Tags: c.tags})
			if err != nil {
				return err
			}
			if err := tx.SetMRR(cu.UUID, now, c.mrr*100); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	// A request arriving by email, as a Zapier step from the help desk would.
	if _, err := ix.AddTagsByEmail("OPS@initech.test", "feature-sso"); err != nil {
		return err
	}

	paying, err := tagseg.Parse(`mrr > 0 AND NOT tag:internal`)
	if err != nil {
		return err
	}
	stats, err := ix.TagStats(paying, tagseg.TagStatsOptions{Prefix: "feature-"})
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "feature            customers        MRR")
	for _, s := range stats {
		fmt.Fprintf(w, "%-18s %9d %10s\n", s.Tag, s.Customers, fmt.Sprintf("$%d", s.MRR/100))
	}
	return nil
}
