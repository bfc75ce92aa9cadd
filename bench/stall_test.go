package bench

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tagseg/tagseg"
)

// stallTag is the tag the Stall benchmark's writer toggles.
const stallTag = "bench-stall"

// BenchmarkStall times a short Count (the and2-sparse query) issued once
// a millisecond, as a client would, alone (mode=quiet) and while three
// goroutines run flat out beside it (mode=loaded): an attribute scan that
// reads every customer record (name = "Nobody Here"), a TagStats over
// every customer (top 1,000 by MRR), and a durable writer adding and
// removing a tag on one customer at a time. It reports the short Count's
// p50-ns and p99-ns, and how many of each slow operation completed per
// second. Readers work on snapshots, so the Count never waits for a lock;
// what remains is sharing two cores with three busy goroutines.
func BenchmarkStall(b *testing.B) {
	short := tagseg.And(tagseg.Tag("feature-sso"), tagseg.Tag("feature-scim"))
	for _, n := range sizes(b) {
		e := getEnv(b, n)
		targets, err := e.ts.Targets(stallTag, 1000)
		if err != nil {
			b.Fatal(err)
		}
		for _, mode := range []string{"quiet", "loaded"} {
			b.Run(fmt.Sprintf("n=%d/mode=%s/sys=tagseg", n, mode), func(b *testing.B) {
				ix := e.ts.Ix
				if err := markDirty(e.ts.Path); err != nil {
					b.Fatal(err)
				}
				var stop atomic.Bool
				var scans, stats, writes atomic.Int64
				var wg sync.WaitGroup
				var bgErr error
				var errOnce sync.Once
				fail := func(err error) { errOnce.Do(func() { bgErr = err }) }
				if mode == "loaded" {
					wg.Go(func() {
						for !stop.Load() {
							if _, err := ix.Count(tagseg.Where("name", tagseg.Eq, "Nobody Here")); err != nil {
								fail(err)
								return
							}
							scans.Add(1)
						}
					})
					wg.Go(func() {
						for !stop.Load() {
							if _, err := ix.TagStats(tagseg.All(), tagseg.TagStatsOptions{Limit: 1000}); err != nil {
								fail(err)
								return
							}
							stats.Add(1)
						}
					})
					wg.Go(func() {
						for i := 0; !stop.Load(); i++ {
							t := targets[i%len(targets)]
							if _, err := ix.AddTags(t.UUID, stallTag); err != nil {
								fail(err)
								return
							}
							if _, err := ix.RemoveTags(t.UUID, stallTag); err != nil {
								fail(err)
								return
							}
							writes.Add(2)
						}
					})
					time.Sleep(100 * time.Millisecond) // let them get going
				}
				var ss samples
				start := time.Now()
				tick := time.NewTicker(time.Millisecond)
				for b.Loop() {
					<-tick.C
					t0 := time.Now()
					if _, err := ix.Count(short); err != nil {
						b.Fatal(err)
					}
					ss = append(ss, time.Since(t0))
				}
				tick.Stop()
				secs := time.Since(start).Seconds()
				stop.Store(true)
				wg.Wait()
				if bgErr != nil {
					b.Fatal(bgErr)
				}
				ss.report(b)
				if mode == "loaded" {
					b.ReportMetric(float64(scans.Load())/secs, "scans/s")
					b.ReportMetric(float64(stats.Load())/secs, "tagstats/s")
					b.ReportMetric(float64(writes.Load())/secs, "writes/s")
				}
				if c, err := ix.Count(tagseg.Tag(stallTag)); err != nil || c != 0 {
					b.Fatalf("%s held by %d after the benchmark (%v)", stallTag, c, err)
				}
				if err := markClean(e.ts.Path); err != nil {
					b.Fatal(err)
				}
			})
		}
	}
}
