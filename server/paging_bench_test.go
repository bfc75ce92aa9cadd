package server

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tagseg/tagseg"
	"github.com/tagseg/tagseg/internal/gen"
)

// The HTTP side of bench/paging_test.go (the bench module cannot import
// package server's module): one page of 200 customers at the first, middle and
// last cursor of GET /v1/customers and GET /v1/segments/customers, and
// the lookups GET /v1/customers?external_id= and
// GET /v1/customers/search?email=, through httptest.NewRecorder.
//
// The index is $TAGSEG_BENCH_DB, opened read-only: the bench module's
// cached data set (bench/data/tagseg-n<N>-s1-<fingerprint>.db, whose
// customer i is gen's customer i with seed 1), or, when that is unset, a
// data set of $TAGSEG_BENCH_N customers (a plain number, default 20,000)
// built in a temporary directory:
//
//	TAGSEG_BENCH_DB=$PWD/bench/data/tagseg-n1000000-s1-XXXXXXXX.db \
//	  go test -run '^$' -bench HTTP ./server

// benchSegment is bench.SegmentQ in the query language.
const benchSegment = `(tag:plan-pro OR tag:plan-enterprise) AND tag:active AND tag:newsletter AND NOT tag:managed-account`

func benchIndex(b *testing.B) (*tagseg.Index, *gen.Generator) {
	b.Helper()
	if path := os.Getenv("TAGSEG_BENCH_DB"); path != "" {
		ix, err := tagseg.Open(path, &tagseg.Options{ReadOnly: true})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { ix.Close() })
		n, err := ix.Count(tagseg.All())
		if err != nil {
			b.Fatal(err)
		}
		cfg := gen.DefaultConfig(int(n))
		cfg.Seed = 1
		return ix, gen.NewGenerator(cfg)
	}
	n := 20_000
	if s := os.Getenv("TAGSEG_BENCH_N"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1000 {
			b.Fatalf("TAGSEG_BENCH_N=%q: want a number of customers, at least 1000", s)
		}
		n = v
	}
	cfg := gen.DefaultConfig(n)
	cfg.Seed = 1
	g := gen.NewGenerator(cfg)
	ix, err := tagseg.Open(filepath.Join(b.TempDir(), "bench.db"), &tagseg.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ix.Close() })
	_, err = ix.Load(func(yield func(tagseg.Customer, []tagseg.MRRChange) bool) {
		for i := range n {
			c := g.Customer(i)
			events := make([]tagseg.MRRChange, len(c.Events))
			for j, e := range c.Events {
				events[j] = tagseg.MRRChange{At: e.At, Cents: e.Cents}
			}
			if !yield(tagseg.Customer{
				DataSourceUUID: c.DataSourceUUID, ExternalID: c.ExternalID,
				Name: c.Name, Email: c.Email, Company: c.Company,
				Country: c.Country, State: c.State, City: c.City, Zip: c.Zip,
				LeadCreatedAt: c.LeadCreatedAt, FreeTrialStartedAt: c.FreeTrialStartedAt,
				Tags: c.Tags, Custom: c.Custom,
			}, events) {
				return
			}
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	return ix, g
}

// benchGet serves one GET and fails unless it answers 200.
func benchGet(b *testing.B, h http.Handler, target string) []byte {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, newRequest(http.MethodGet, target, nil))
	if rec.Code != http.StatusOK {
		b.Fatalf("GET %s: %d %s", target, rec.Code, rec.Body)
	}
	return rec.Body.Bytes()
}

func BenchmarkHTTPPage(b *testing.B) {
	ix, g := benchIndex(b)
	h := New(ix, Options{})
	n := g.Config().Customers
	for _, list := range []struct{ name, path, query string }{
		{"all", "/v1/customers", "*"},
		{"seg", "/v1/segments/customers?query=" + url.QueryEscape(benchSegment) + "&", benchSegment},
	} {
		e, err := tagseg.Parse(list.query)
		if err != nil {
			b.Fatal(err)
		}
		seg, err := ix.Segment(e)
		if err != nil {
			b.Fatal(err)
		}
		ids := seg.IDs()
		count := ids.GetCardinality()
		if count <= maxPerPage { // a small data set
			b.Logf("%s: %d members, not more than a page: skipped", list.name, count)
			continue
		}
		sep := "?"
		if strings.Contains(list.path, "?") {
			sep = ""
		}
		for _, at := range []struct {
			name string
			rank uint64
		}{{"first", 0}, {"middle", count / 2}, {"last", count - maxPerPage}} {
			target := list.path + sep + "per_page=200"
			if at.rank > 0 {
				prev, err := ids.Select(uint32(at.rank - 1))
				if err != nil {
					b.Fatal(err)
				}
				target += "&cursor=" + url.QueryEscape(encodeCursor(prev+1))
			}
			b.Run(fmt.Sprintf("n=%d/list=%s/at=%s/sys=tagseg-http", n, list.name, at.name), func(b *testing.B) {
				b.ReportAllocs()
				var ss []time.Duration
				for b.Loop() {
					t0 := time.Now()
					body := benchGet(b, h, target)
					ss = append(ss, time.Since(t0))
					if n := entries(body); n != maxPerPage { // not json.Unmarshal: ns/op would time it
						b.Fatalf("GET %s: %d entries", target, n)
					}
				}
				reportPercentiles(b, ss)
				b.ReportMetric(float64(count), "members")
			})
		}
	}
}

func BenchmarkHTTPLookup(b *testing.B) {
	ix, g := benchIndex(b)
	h := New(ix, Options{})
	n := g.Config().Customers
	const k = 64
	cs := make([]gen.Customer, k)
	for i := range cs {
		g.Fill(&cs[i], int(uint64(i)*uint64(n-1)/(k-1)))
	}
	for _, by := range []string{"email", "external_id"} {
		b.Run(fmt.Sprintf("n=%d/by=%s/sys=tagseg-http", n, by), func(b *testing.B) {
			b.ReportAllocs()
			target := func(c *gen.Customer) string {
				if by == "email" {
					return "/v1/customers/search?email=" + url.QueryEscape(c.Email)
				}
				return "/v1/customers?data_source_uuid=" + url.QueryEscape(c.DataSourceUUID) + "&external_id=" + url.QueryEscape(c.ExternalID)
			}
			t0 := time.Now()
			benchGet(b, h, target(&cs[0]))
			first := time.Since(t0)
			var ss []time.Duration
			i := 0
			for b.Loop() {
				c := &cs[i%k]
				i++
				t0 := time.Now()
				body := benchGet(b, h, target(c))
				ss = append(ss, time.Since(t0))
				if entries(body) < 1 {
					b.Fatalf("GET %s: no entries", target(c))
				}
			}
			reportPercentiles(b, ss)
			b.ReportMetric(float64(first.Nanoseconds()), "first-ns")
		})
	}
}

// entries counts the customers of a page's body (each has one "uuid").
func entries(body []byte) int { return bytes.Count(body, []byte(`"uuid":`)) }

func reportPercentiles(b *testing.B, ss []time.Duration) {
	if len(ss) == 0 {
		return
	}
	slices.Sort(ss)
	b.ReportMetric(float64(ss[(len(ss)-1)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(ss[min(len(ss)-1, len(ss)*99/100)].Nanoseconds()), "p99-ns")
}

// BenchmarkHTTPTagCompletion: GET /v1/tags (tag completion, each
// keystroke of the page's query box) for prefixes from none (every tag)
// to a narrow one, and GET /metrics (each scrape). Neither lists and sorts
// every tag per call. With a writable index (not $TAGSEG_BENCH_DB) the
// "after-write" runs put a durable AddTags (an existing tag) before each
// request, so that each one sees a new index state.
func BenchmarkHTTPTagCompletion(b *testing.B) {
	ix, g := benchIndex(b)
	h := New(ix, Options{})
	n := g.Config().Customers
	writable := os.Getenv("TAGSEG_BENCH_DB") == ""
	var uuid string
	if writable {
		seg, err := ix.Segment(tagseg.All())
		if err != nil {
			b.Fatal(err)
		}
		for c := range seg.Customers() {
			uuid = c.UUID
			break
		}
	}
	info, err := ix.Info()
	if err != nil {
		b.Fatal(err)
	}
	for _, target := range []string{"/v1/tags?limit=10", "/v1/tags?prefix=f&limit=10", "/v1/tags?prefix=plan-&limit=10", "/metrics"} {
		for _, write := range []bool{false, true} {
			if write && !writable {
				continue
			}
			name := strings.NewReplacer("/", "", "?", ":", "&", ",").Replace(target)
			b.Run(fmt.Sprintf("n=%d/tags=%d/get=%s/after-write=%v/sys=tagseg-http", n, info.Tags, name, write), func(b *testing.B) {
				b.ReportAllocs()
				var ss []time.Duration
				i := 0
				for b.Loop() {
					if write {
						b.StopTimer()
						i++
						if _, err := ix.AddTags(uuid, []string{"plan-pro", "plan-basic"}[i%2]); err != nil {
							b.Fatal(err)
						}
						b.StartTimer()
					}
					t0 := time.Now()
					benchGet(b, h, target)
					ss = append(ss, time.Since(t0))
				}
				reportPercentiles(b, ss)
			})
		}
	}
}
