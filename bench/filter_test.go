package bench

import (
	"fmt"
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
