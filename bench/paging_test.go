package bench

import (
	"fmt"
	"testing"
	"time"

	"github.com/tagseg/tagseg"
	"github.com/tagseg/tagseg/internal/gen"
)

// pageSize is the page of the paging benchmarks: ChartMogul's largest.
const pageSize = 200

// BenchmarkPage times one page of 200 customers through the library, at
// the first, middle and last cursor of two lists: every customer (all)
// and SegmentQ (seg, ~N/10 members). step=page reads the page from a
// segment evaluated once (Segment.ReadCustomers from the cursor);
// step=request evaluates the segment too, as a server answering a page
// does. The target: ≤ 5 ms, the same at the last page as at the first.
// The HTTP form is BenchmarkHTTPPage in cmd/tagseg.
func BenchmarkPage(b *testing.B) {
	for _, n := range sizes(b) {
		e := getEnv(b, n)
		for _, list := range []struct {
			name string
			expr tagseg.Expr
		}{{"all", tagseg.All()}, {"seg", SegmentQ.Expr()}} {
			seg, err := e.ts.Ix.Segment(list.expr)
			if err != nil {
				b.Fatal(err)
			}
			ids := seg.IDs()
			count := ids.GetCardinality()
			if count < pageSize { // a small data set
				b.Logf("%s: %d members, fewer than a page: skipped", list.name, count)
				continue
			}
			for _, at := range []struct {
				name string
				rank uint64
			}{{"first", 0}, {"middle", count / 2}, {"last", count - pageSize}} {
				from, err := ids.Select(uint32(at.rank))
				if err != nil {
					b.Fatal(err)
				}
				for _, step := range []string{"page", "request"} {
					b.Run(fmt.Sprintf("n=%d/list=%s/at=%s/step=%s/sys=tagseg", n, list.name, at.name, step), func(b *testing.B) {
						b.ReportAllocs()
						var ss samples
						for b.Loop() {
							t0 := time.Now()
							s := seg
							if step == "request" {
								if s, err = e.ts.Ix.Segment(list.expr); err != nil {
									b.Fatal(err)
								}
							}
							got := 0
							for c, err := range s.ReadCustomers(from) {
								if err != nil {
									b.Fatal(err)
								}
								if got == 0 && c.ID != from {
									b.Fatalf("page starts at %d, want %d", c.ID, from)
								}
								if got++; got == pageSize {
									break
								}
							}
							ss = append(ss, time.Since(t0))
							if got != pageSize {
								b.Fatalf("page of %d customers, want %d", got, pageSize)
							}
						}
						ss.report(b)
						b.ReportMetric(float64(count), "members")
					})
				}
			}
		}
	}
}

// BenchmarkPageByMRR times one page of 200 customers in MRR order
// (Segment.ReadCustomersByMRR, what GET /v1/segments/customers?sort=-mrr
// reads), highest first, of every customer (all) and of SegmentQ (seg): the
// first page, and pages after positions deep in the order (after the
// members of MRR 100.00 and up; among those of MRR 0, after the middle ID),
// from a segment evaluated once. It walks the MRR bit planes instead of
// sorting the segment: the target is the paging one, ≤ 5 ms wherever the
// page is.
func BenchmarkPageByMRR(b *testing.B) {
	for _, n := range sizes(b) {
		e := getEnv(b, n)
		for _, list := range []struct {
			name string
			expr tagseg.Expr
		}{{"all", tagseg.All()}, {"seg", SegmentQ.Expr()}} {
			seg, err := e.ts.Ix.Segment(list.expr)
			if err != nil {
				b.Fatal(err)
			}
			if seg.Count() < 2*pageSize {
				b.Logf("%s: %d members: skipped", list.name, seg.Count())
				continue
			}
			mid, _ := seg.IDs().Select(uint32(seg.Count() / 2))
			for _, at := range []struct {
				name string
				pos  *tagseg.MRRPosition
			}{{"first", nil}, {"mrr=10000", &tagseg.MRRPosition{MRR: 10000}}, {"mrr=0-middle", &tagseg.MRRPosition{MRR: 0, ID: mid}}} {
				b.Run(fmt.Sprintf("n=%d/list=%s/at=%s/sys=tagseg", n, list.name, at.name), func(b *testing.B) {
					b.ReportAllocs()
					var ss samples
					for b.Loop() {
						t0 := time.Now()
						got, last := 0, int64(-1)
						for c, err := range seg.ReadCustomersByMRR(true, at.pos) {
							if err != nil {
								b.Fatal(err)
							}
							if last >= 0 && c.MRR > last {
								b.Fatalf("MRR %d after %d", c.MRR, last)
							}
							last = c.MRR
							if got++; got == pageSize {
								break
							}
						}
						ss = append(ss, time.Since(t0))
						if got != pageSize && at.pos == nil {
							b.Fatalf("page of %d customers, want %d", got, pageSize)
						}
					}
					ss.report(b)
					b.ReportMetric(float64(seg.Count()), "members")
				})
			}
		}
	}
}

// BenchmarkLookup times finding one customer by external ID
// (Index.CustomerByExternalID, and a segment Where("external_id", Eq, …),
// which the HTTP list's external_id filter evaluates) and by email
// (Index.CustomersByEmail), cycling through customers spread over the
// data set. The email table is built on the first email lookup after
// Open; that first call is reported as first-ns and left out of the
// timings. The target: ≤ 1 ms, no scan.
func BenchmarkLookup(b *testing.B) {
	for _, n := range sizes(b) {
		e := getEnv(b, n)
		const k = 64
		cs := make([]gen.Customer, k)
		for i := range cs {
			e.ds.Gen.Fill(&cs[i], int(uint64(i)*uint64(n-1)/(k-1)))
		}
		for _, by := range []string{"email", "external_id", "external_id-where"} {
			b.Run(fmt.Sprintf("n=%d/by=%s/sys=tagseg", n, by), func(b *testing.B) {
				b.ReportAllocs()
				find := func(c *gen.Customer) (int, error) {
					switch by {
					case "email":
						got, err := e.ts.Ix.CustomersByEmail(c.Email)
						return len(got), err
					case "external_id":
						_, err := e.ts.Ix.CustomerByExternalID(c.DataSourceUUID, c.ExternalID)
						return 1, err
					}
					seg, err := e.ts.Ix.Segment(tagseg.Where("external_id", tagseg.Eq, c.ExternalID))
					if err != nil {
						return 0, err
					}
					return int(seg.Count()), nil
				}
				t0 := time.Now()
				if _, err := find(&cs[0]); err != nil {
					b.Fatal(err)
				}
				first := time.Since(t0)
				var ss samples
				i := 0
				for b.Loop() {
					c := &cs[i%k]
					i++
					t0 := time.Now()
					got, err := find(c)
					ss = append(ss, time.Since(t0))
					if err != nil {
						b.Fatal(err)
					}
					if got < 1 {
						b.Fatalf("%s %q %q: not found", by, c.Email, c.ExternalID)
					}
				}
				ss.report(b)
				b.ReportMetric(float64(first.Nanoseconds()), "first-ns")
			})
		}
	}
}
