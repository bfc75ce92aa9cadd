package tagseg

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestUpdateCustomerModel updates random customers' attributes and compares
// every lookup the attributes feed (UUID, external ID, email, equality
// fields, custom attributes, dates) with a plain map, before and after a
// reopen, with Check on the way.
func TestUpdateCustomerModel(t *testing.T) {
	seed := testSeed(t)
	rng := newRand(seed)
	path := filepath.Join(t.TempDir(), "u.db")
	ix := openTestAt(t, path, &Options{NoSync: true})
	model := map[string]Customer{}
	countries := []string{"US", "DE", "FR", ""}
	mk := func(i int) Customer {
		c := Customer{
			DataSourceUUID: fmt.Sprintf("ds%d", rng.IntN(2)),
			ExternalID:     fmt.Sprintf("e%d", rng.IntN(60)),
			Name:           fmt.Sprintf("n%d", rng.IntN(5)),
			Email:          fmt.Sprintf("U%d@x.test", rng.IntN(8)),
			Country:        countries[rng.IntN(len(countries))],
			City:           fmt.Sprintf("c%d", rng.IntN(3)),
		}
		if rng.IntN(2) == 0 {
			c.Custom = map[string]any{"plan": fmt.Sprintf("p%d", rng.IntN(3)), "seats": int64(rng.IntN(4))}
		}
		if rng.IntN(2) == 0 {
			c.LeadCreatedAt = time.Date(2024, time.Month(1+rng.IntN(12)), 1, 0, 0, 0, 0, time.UTC)
		}
		return c
	}
	for i := range 30 {
		c := mk(i)
		c.Tags = []string{fmt.Sprintf("t%d", i%3)}
		got, err := ix.CreateCustomer(c)
		if errors.Is(err, ErrDuplicate) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		model[got.UUID] = got
	}
	uuids := slices.Sorted(func(yield func(string) bool) {
		for u := range model {
			if !yield(u) {
				return
			}
		}
	})
	ops := 0
	for range 200 {
		u := uuids[rng.IntN(len(uuids))]
		c := mk(0)
		c.UUID = u
		got, err := ix.UpdateCustomer(c)
		taken := false
		for v, m := range model {
			if v != u && c.ExternalID != "" && m.ExternalID == c.ExternalID && m.DataSourceUUID == c.DataSourceUUID {
				taken = true
			}
		}
		if taken {
			if !errors.Is(err, ErrDuplicate) {
				t.Fatalf("update %s to a taken external ID: %v", u, err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		ops++
		want := model[u]
		want.DataSourceUUID, want.ExternalID, want.Name, want.Email = c.DataSourceUUID, c.ExternalID, c.Name, c.Email
		want.Country, want.City, want.Custom, want.LeadCreatedAt = c.Country, c.City, c.Custom, c.LeadCreatedAt
		model[u] = want
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("update %s (-want +got):\n%s", u, diff)
		}
	}
	if ops == 0 {
		t.Fatal("no update succeeded")
	}
	if _, err := ix.UpdateCustomer(Customer{UUID: "cus_nobody"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown UUID: %v", err)
	}
	if _, err := ix.UpdateCustomer(Customer{UUID: uuids[0], Custom: map[string]any{"bad key": 1}}); !errors.Is(err, ErrInvalidField) {
		t.Errorf("bad custom key: %v", err)
	}
	compare := func(ix *Index) {
		t.Helper()
		if err := ix.Check(); err != nil {
			t.Fatal(err)
		}
		for u, want := range model {
			got, err := ix.Customer(u)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("%s (-want +got):\n%s", u, diff)
			}
			if want.ExternalID != "" {
				byExt, err := ix.CustomerByExternalID(want.DataSourceUUID, want.ExternalID)
				if err != nil || byExt.UUID != u {
					t.Fatalf("by external ID %s/%s: %v %v", want.DataSourceUUID, want.ExternalID, byExt.UUID, err)
				}
			}
		}
		for _, q := range []string{"country:US", "country:DE", "city:c1", "email:u3@x.test", "custom.plan:p1", "custom.seats >= 2", "lead_created_at >= 2024-06-01", "data_source:ds1", "external_id:e7", "name:n2"} {
			e, err := Parse(q)
			if err != nil {
				t.Fatal(err)
			}
			seg, err := ix.Segment(e)
			if err != nil {
				t.Fatal(err)
			}
			var got, want []string
			for c := range seg.Customers() {
				got = append(got, c.UUID)
			}
			for u, c := range model {
				if modelMatch(c, q) {
					want = append(want, u)
				}
			}
			slices.Sort(got)
			slices.Sort(want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s (-want +got):\n%s", q, diff)
			}
		}
	}
	compare(ix)
	ix.Close()
	compare(openTestAt(t, path, nil))
}

// modelMatch evaluates the few queries of TestUpdateCustomerModel on the model.
func modelMatch(c Customer, q string) bool {
	switch q {
	case "country:US", "country:DE":
		return c.Country == q[len("country:"):]
	case "city:c1":
		return c.City == "c1"
	case "email:u3@x.test":
		return c.Email == "U3@x.test"
	case "custom.plan:p1":
		return c.Custom["plan"] == "p1"
	case "custom.seats >= 2":
		s, ok := c.Custom["seats"].(int64)
		return ok && s >= 2
	case "lead_created_at >= 2024-06-01":
		return !c.LeadCreatedAt.IsZero() && !c.LeadCreatedAt.Before(time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC))
	case "data_source:ds1":
		return c.DataSourceUUID == "ds1"
	case "external_id:e7":
		return c.ExternalID == "e7"
	case "name:n2":
		return c.Name == "n2"
	}
	panic(q)
}
