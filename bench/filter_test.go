package bench

import (
	"fmt"
	"github.com/tagseg/tagseg/internal/gen"
	"runtime"
	"strings"
	"testing"
	"time"

	bsi "github.com/RoaringBitmap/roaring/v2/BitSliceIndexing"
	"github.com/tagseg/tagseg"
)

// BenchmarkFilter times attribute filters: MRR ranges, which tagseg
// answers on its MRR bit planes and the roaring peer on BitSliceIndexing's
// BSI (CompareValue on all cores, the existence set as the found set),
// and a mix of tags, a string field and an MRR range (tagseg only). The
// counts are checked equal before timing.
func BenchmarkFilter(b *testing.B) {
	cases := []struct {
		name, q string
		op      bsi.Operation // for the roaring peer; -1: none
		lo, hi  int64
	}{
		{"mrr-gte-10000", "mrr >= 10000", bsi.GE, 10_000, 0},
		{"mrr-eq-29900", "mrr = 29900", bsi.EQ, 29_900, 0},
		{"mrr-range-5000-20000", "mrr >= 5000 AND mrr <= 20000", bsi.RANGE, 5_000, 20_000},
		{"mix-tags-country-mrr", "tags:any(plan-pro, plan-enterprise) AND country:US AND mrr >= 10000", -1, 0, 0},
	}
	for _, n := range sizes(b) {
		e := getEnv(b, n)
		var rp *Roaring
		for _, p := range e.peers {
			if r, ok := p.(*Roaring); ok {
				rp = r
			}
		}
		for _, c := range cases {
			q, err := tagseg.Parse(c.q)
			if err != nil {
				b.Fatal(err)
			}
			want, err := e.ts.Ix.Count(q)
			if err != nil {
				b.Fatal(err)
			}
			peer := func() uint64 {
				return rp.MRRIndex.CompareValue(0, c.op, c.lo, c.hi, nil).GetCardinality()
			}
			if rp != nil && c.op >= 0 {
				if got := peer(); got != want {
					b.Fatalf("%s: roaring's BSI counts %d, tagseg %d", c.name, got, want)
				}
			}
			run := func(b *testing.B, count func() (uint64, error)) {
				var ss samples
				for b.Loop() {
					t0 := time.Now()
					got, err := count()
					ss = append(ss, time.Since(t0))
					if err != nil || got != want {
						b.Fatalf("%s: %d, %v; want %d", c.name, got, err, want)
					}
				}
				ss.report(b)
			}
			b.Run(fmt.Sprintf("n=%d/q=%s/sys=tagseg", n, c.name), func(b *testing.B) {
				run(b, func() (uint64, error) { return e.ts.Ix.Count(q) })
			})
			if rp != nil && c.op >= 0 {
				b.Run(fmt.Sprintf("n=%d/q=%s/sys=roaring", n, c.name), func(b *testing.B) {
					run(b, func() (uint64, error) { return peer(), nil })
				})
			}
		}
	}
}

// BenchmarkStringFilter times comparisons of the text fields the string
// index answers (name, company, email, external_id): every operator and
// prefixes, with values of the data set's middle customer, and the
// index's build (the first comparison of a field after Open: build-ms)
// and its heap (heap-MB, measured around the build after a GC). Counts
// are checked against each other: a value's = and != make everyone, < and
// >= too.
func BenchmarkStringFilter(b *testing.B) {
	for _, n := range sizes(b) {
		e := getEnv(b, n)
		ix := e.ts.Ix
		var mid gen.Customer
		e.ds.Gen.Fill(&mid, n/2)
		all, err := ix.Count(tagseg.All())
		if err != nil {
			b.Fatal(err)
		}
		word := func(s string) string { // the first word, a prefix of many
			if i := strings.IndexByte(s, ' '); i > 0 {
				return s[:i+1]
			}
			return s
		}
		values := map[string]string{"company": mid.Company, "name": mid.Name, "email": mid.Email, "external_id": mid.ExternalID}
		prefixes := map[string]string{"company": word(mid.Company), "name": word(mid.Name), "email": mid.Email[:5], "external_id": mid.ExternalID[:5]}
		for _, f := range []string{"company", "name", "email", "external_id"} {
			v := values[f]
			runtime.GC()
			h0 := heapAlloc()
			t0 := time.Now()
			if _, err := ix.Count(tagseg.Where(f, tagseg.Gt, v)); err != nil {
				b.Fatal(err)
			}
			build := time.Since(t0)
			runtime.GC()
			heap := heapAlloc() - h0
			b.Run(fmt.Sprintf("n=%d/q=%s-index/sys=tagseg", n, f), func(b *testing.B) {
				for b.Loop() {
				}
				b.ReportMetric(float64(build.Milliseconds()), "build-ms")
				b.ReportMetric(float64(heap)/1e6, "heap-MB")
			})
			counts := map[tagseg.Op]uint64{}
			for _, op := range []tagseg.Op{tagseg.Eq, tagseg.NotEq, tagseg.Gt, tagseg.Gte, tagseg.Lt, tagseg.Lte, tagseg.Prefix} {
				q := tagseg.Where(f, op, v)
				if op == tagseg.Prefix {
					q = tagseg.Where(f, op, prefixes[f])
				}
				counts[op] = timeCount(b, n, ix, q)
			}
			if counts[tagseg.Eq]+counts[tagseg.NotEq] != all || counts[tagseg.Lt]+counts[tagseg.Gte] != all || counts[tagseg.Lte]+counts[tagseg.Gt] != all {
				b.Fatalf("%s: counts do not add up to %d: %v", f, all, counts)
			}
		}
		// Customers without an external ID, and a mix with tags.
		for _, q := range []tagseg.Expr{
			tagseg.Where("external_id", tagseg.Eq, ""),
			tagseg.And(tagseg.TagPrefix("feature-"), tagseg.Where("company", tagseg.Prefix, prefixes["company"]), tagseg.Where("email", tagseg.Gte, "user5")),
		} {
			timeCount(b, n, ix, q)
		}
	}
}

// timeCount times Count(q) as a sub-benchmark named by the query, checks
// every answer against the first, and returns it.
func timeCount(b *testing.B, n int, ix *tagseg.Index, q tagseg.Expr) uint64 {
	want, err := ix.Count(q)
	if err != nil {
		b.Fatal(err)
	}
	b.Run(fmt.Sprintf("n=%d/q=%s/sys=tagseg", n, strings.ReplaceAll(q.String(), " ", "_")), func(b *testing.B) {
		var ss samples
		for b.Loop() {
			t0 := time.Now()
			got, err := ix.Count(q)
			ss = append(ss, time.Since(t0))
			if err != nil || got != want {
				b.Fatalf("%s: %d, %v; want %d", q, got, err, want)
			}
		}
		ss.report(b)
		b.ReportMetric(float64(want), "members")
	})
	return want
}
