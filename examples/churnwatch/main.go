// Churn-risk watch: a success team tags accounts at risk, watches the
// segment's MRR month by month, and after a save campaign untags the whole
// segment at once.
//
//	go run ./churnwatch
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
	dir, err := os.MkdirTemp("", "tagseg-churnwatch")
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

	month := func(m time.Month) time.Time { return time.Date(2024, m, 5, 0, 0, 0, 0, time.UTC) }
	type change struct {
		m   time.Month
		usd int64
	}
	err = ix.Update(func(tx *tagseg.Tx) error {
		for _, c := range []struct {
			name    string
			tags    []string
			history []change
		}{
			{"Acme", []string{"churn-risk-high"}, []change{{1, 500}, {3, 300}, {5, 0}}},
			{"Globex", []string{"churn-risk-high", "managed-account"}, []change{{1, 2000}}},
			{"Initech", []string{"churn-risk-high"}, []change{{2, 100}, {4, 0}, {6, 250}}},
			{"Hooli", []string{"churn-risk-low"}, []change{{1, 800}, {2, 900}}},
		} {
			cu, err := tx.CreateCustomer(tagseg.Customer{Name: c.name, Tags: c.tags})
			if err != nil {
				return err
			}
			for _, h := range c.history {
				if err := tx.SetMRR(cu.UUID, month(h.m), h.usd*100); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}

	watch, err := tagseg.Parse(`tag:churn-risk-high AND NOT tag:managed-account`)
	if err != nil {
		return err
	}
	seg, err := ix.Segment(watch)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%s: %d customers, MRR $%d\n", watch, seg.Count(), seg.MRR()/100)
	from := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	to := time.Date(2024, 6, 30, 0, 0, 0, 0, time.UTC)
	points, err := ix.Series(watch, from, to, tagseg.Month)
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "month    MRR  paying  new  exp  contr  churn  react")
	for _, p := range points {
		fmt.Fprintf(w, "%s %4d %7d %4d %4d %6d %6d %6d\n", p.Start.Format("2006-01"), p.MRR/100, p.Customers,
			p.NewBusiness/100, p.Expansion/100, p.Contraction/100, p.Churn/100, p.Reactivation/100)
	}

	// The save campaign is over: untag the whole segment in one transaction.
	n, err := ix.RemoveTagsFromSegment(tagseg.Tag("churn-risk-high"), "churn-risk-high")
	if err != nil {
		return err
	}
	seg, err = ix.Segment(watch)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "untagged %d customers; the segment now has %d\n", n, seg.Count())
	return nil
}
