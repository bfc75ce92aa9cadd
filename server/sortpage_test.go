package server

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"net/url"
	"path/filepath"
	"slices"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/tagseg/tagseg"
)

// TestAPISortByMRR follows the cursors of /v1/segments/customers sorted by
// MRR, both ways, with random page sizes: the pages, put together, are the
// segment's members sorted by (MRR, ID), each once.
func TestAPISortByMRR(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, seed))
	ix, cs := pagingIndex(t, filepath.Join(t.TempDir(), "p.db"), 300)
	defer ix.Close()
	mrr := map[string]int64{}
	for _, c := range cs {
		if c.deleted || r.IntN(4) == 0 {
			continue
		}
		v := int64(r.IntN(6)) * 1000
		if err := ix.SetMRR(c.uuid, time.Unix(0, 0), v); err != nil {
			t.Fatal(err)
		}
		mrr[c.uuid] = v
	}
	h := New(ix, Options{})
	for _, q := range []string{"", "tag:t", "mrr >= 3000", "tag:nobody"} {
		for _, sort := range []string{"mrr", "-mrr"} {
			var want []pagingCustomer
			for _, c := range cs {
				if !c.deleted && (q == "" || q == "tag:t" && c.tagged || q == "mrr >= 3000" && mrr[c.uuid] >= 3000) {
					want = append(want, c)
				}
			}
			slices.SortFunc(want, func(a, b pagingCustomer) int {
				c := cmp.Compare(mrr[a.uuid], mrr[b.uuid])
				if sort == "-mrr" {
					c = -c
				}
				return cmp.Or(c, cmp.Compare(a.id, b.id))
			})
			wantUUIDs := uuidsOf(want, func(pagingCustomer) bool { return true })
			got := []string{}
			target := fmt.Sprintf("/v1/segments/customers?sort=%s&query=%s&per_page=%d", sort, url.QueryEscape(q), 1+r.IntN(40))
			for range 400 {
				p := getPage(t, h, target)
				for _, e := range p.Entries {
					got = append(got, e.UUID)
				}
				if !p.HasMore {
					break
				}
				target = fmt.Sprintf("/v1/segments/customers?sort=%s&query=%s&per_page=%d&cursor=%s", sort, url.QueryEscape(q), 1+r.IntN(40), url.QueryEscape(*p.Cursor))
			}
			if diff := gocmp.Diff(wantUUIDs, got); diff != "" {
				t.Errorf("query %q sort %s (-model +API):\n%s", q, sort, diff)
			}
		}
	}
	for target, status := range map[string]int{
		"/v1/segments/customers?sort=name":                                                       400,
		"/v1/segments/customers?sort=mrr&cursor=JjE=":                                            400, // a cursor of the unsorted list
		"/v1/segments/customers?cursor=" + encodeMRRCursor(tagseg.MRRPosition{MRR: 1000, ID: 3}): 400,
		"/v1/segments/customers?sort=-mrr&cursor=bTE6Mg==":                                       200,
		"/v1/segments/customers?sort=-mrr&cursor=":                                               200,
	} {
		if got, body := httpGet(t, h, target); got != status {
			t.Errorf("%s: %d %s, want %d", target, got, body, status)
		}
	}
}
