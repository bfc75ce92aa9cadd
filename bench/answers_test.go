package bench

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/tagseg/tagseg"
)

// answersQueries are the dashboard reads BenchmarkAnswers repeats: a
// segment's metrics, its 36-month series and its top-1,000 tags, over the
// ~N/10 segment and larger ones.
var answersQueries = []string{"count-mrr", "count-mrr-3m", "series-36m", "tagstats-1000", "tagstats-count-1000", "tagstats-1000-5m"}

// cacheTag is the tag BenchmarkAnswers adds to segment members between
// reads (and removes at the end).
const cacheTag = "bench-answers"

// BenchmarkAnswers measures the answers the index keeps across commits
// (Options.CacheBytes), on a second handle of the cached index with the
// cache on (the other benchmarks open it with the cache off, so that they
// time first-time answers):
//
//   - mode=miss: first-time answers through the cache (nothing kept);
//   - mode=repeat: a read asked again with no write in between (µs per
//     call);
//   - mode=repeat-writes: a durable AddTags to a member of the segment
//     before each read (not timed), so that each read brings the kept
//     answer forward over one commit;
//   - op=addtag/kept=K: durable AddTags p50/p99 with K segments' answers
//     kept (metrics and 36-month series; rankings for ten of them);
//   - op=memory/kept=1000: the heap 1,000 kept segments hold (metrics and
//     series of 2-tag segments of every size), and the cache's estimate.
//
// The timed ones report p50/p99 wall time and cpu-ns, the process's CPU
// time per call (user + system: what the call costs, whatever else the
// machine runs).
func BenchmarkAnswers(b *testing.B) {
	for _, n := range sizes(b) {
		e := getEnv(b, n)
		path := e.ts.Path
		if err := e.ts.Close(); err != nil {
			b.Fatal(err)
		}
		// First-time answers through the cache: a bound of one byte keeps
		// nothing, so every read misses (compare with BenchmarkQuery, which
		// has no cache).
		ix, err := tagseg.Open(path, &tagseg.Options{CacheBytes: 1})
		if err != nil {
			b.Fatal(err)
		}
		for _, name := range answersQueries {
			q := queryNamed(b, name)
			b.Run(fmt.Sprintf("n=%d/q=%s/mode=miss", n, name), func(b *testing.B) {
				s := &Tagseg{Ix: ix}
				var ss samples
				var cpu time.Duration
				for b.Loop() {
					t0, c0 := time.Now(), cpuTime()
					if _, _, _, _, err := Answer(s, q); err != nil {
						b.Fatal(err)
					}
					ss, cpu = append(ss, time.Since(t0)), cpu+cpuTime()-c0
				}
				ss.report(b)
				b.ReportMetric(float64(cpu.Nanoseconds())/float64(len(ss)), "cpu-ns")
				if cs := ix.CacheStats(); cs.Hits > 0 {
					b.Fatalf("hits with a bound of one byte: %+v", cs)
				}
			})
		}
		ix = reopen(b, ix, path)
		cached := &Tagseg{Ix: ix, Path: path}
		if err := markDirty(path); err != nil {
			b.Fatal(err)
		}
		for _, name := range answersQueries {
			q := queryNamed(b, name)
			seg, err := ix.Segment(q.Q.Expr())
			if err != nil {
				b.Fatal(err)
			}
			var targets []string // members lacking cacheTag
			for c := range seg.Customers() {
				if !slices.Contains(c.Tags, cacheTag) {
					targets = append(targets, c.UUID)
				}
				if len(targets) == 4096 {
					break
				}
			}
			for _, mode := range []string{"repeat", "repeat-writes"} {
				b.Run(fmt.Sprintf("n=%d/q=%s/mode=%s", n, name, mode), func(b *testing.B) {
					if _, _, _, _, err := Answer(cached, q); err != nil { // kept
						b.Fatal(err)
					}
					before := ix.CacheStats()
					var ss samples
					var cpu time.Duration
					next := 0
					for b.Loop() {
						if mode == "repeat-writes" {
							b.StopTimer()
							if _, err := ix.AddTags(targets[next%len(targets)], cacheTag); err != nil {
								b.Fatal(err)
							}
							next++
							b.StartTimer()
						}
						t0, c0 := time.Now(), cpuTime()
						if _, _, _, _, err := Answer(cached, q); err != nil {
							b.Fatal(err)
						}
						ss, cpu = append(ss, time.Since(t0)), cpu+cpuTime()-c0
					}
					ss.report(b)
					b.ReportMetric(float64(cpu.Nanoseconds())/float64(len(ss)), "cpu-ns")
					after := ix.CacheStats()
					b.ReportMetric(float64(after.Misses-before.Misses), "misses")
					b.ReportMetric(float64(after.Bytes), "cache-B") // every entry kept so far
					b.ReportMetric(float64(seg.Count()), "members")
				})
			}
			if err := untag(ix, cacheTag); err != nil {
				b.Fatal(err)
			}
		}

		// Durable AddTags with 0 and 100 kept segments.
		targets, err := e.ts.targetsOf(ix, cacheTag, 20_000)
		if err != nil {
			b.Fatal(err)
		}
		segs := keptSegments(b, ix, 1000)
		for _, kept := range []int{0, 100} {
			b.Run(fmt.Sprintf("n=%d/op=addtag/kept=%d", n, kept), func(b *testing.B) {
				ix = reopen(b, ix, path)
				for i, s := range segs[:kept] {
					keep(b, ix, s, i < 10)
				}
				var ss samples
				var cpu time.Duration
				next := 0
				for b.Loop() {
					if next == len(targets) {
						b.StopTimer()
						if err := untag(ix, cacheTag); err != nil {
							b.Fatal(err)
						}
						next = 0
						b.StartTimer()
					}
					t0, c0 := time.Now(), cpuTime()
					if _, err := ix.AddTags(targets[next], cacheTag); err != nil {
						b.Fatal(err)
					}
					ss, cpu = append(ss, time.Since(t0)), cpu+cpuTime()-c0
					next++
				}
				ss.report(b)
				b.ReportMetric(float64(cpu.Nanoseconds())/float64(len(ss)), "cpu-ns")
				b.ReportMetric(float64(ix.CacheStats().Entries), "entries")
				if err := untag(ix, cacheTag); err != nil {
					b.Fatal(err)
				}
			})
		}

		// Memory of 1,000 kept segments.
		b.Run(fmt.Sprintf("n=%d/op=memory/kept=1000", n), func(b *testing.B) {
			ix = reopen(b, ix, path) // measured once: b.Loop runs this function once
			runtime.GC()
			h0 := heapAlloc()
			for _, s := range segs {
				keep(b, ix, s, false)
			}
			runtime.GC()
			h1 := heapAlloc()
			cs := ix.CacheStats()
			for b.Loop() {
			}
			b.ReportMetric(float64(h1-h0)/1000, "heap-B/segment")
			b.ReportMetric(float64(cs.Bytes)/1000, "cache-B/segment")
			b.ReportMetric(float64(cs.Entries), "entries")
		})

		if err := ix.Close(); err != nil {
			b.Fatal(err)
		}
		if err := markClean(path); err != nil {
			b.Fatal(err)
		}
		if e.ts.Ix, err = tagseg.Open(path, OpenOptions); err != nil {
			b.Fatal(err)
		}
	}
}

// queryNamed returns the query of Queries with the name.
func queryNamed(b *testing.B, name string) Query {
	for _, q := range Queries {
		if q.Name == name {
			return q
		}
	}
	b.Fatalf("no query %s", name)
	return Query{}
}

// untag removes tag from every holder, in one durable transaction.
func untag(ix *tagseg.Index, tag string) error {
	_, err := ix.RemoveTagsFromSegment(tagseg.Tag(tag), tag)
	return err
}

// targetsOf returns up to k UUIDs of customers lacking tag.
func (s *Tagseg) targetsOf(ix *tagseg.Index, tag string, k int) ([]string, error) {
	ts, err := (&Tagseg{Ix: ix}).Targets(tag, k)
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.UUID
	}
	return out, err
}

// reopen closes ix and opens path again with the cache on, so that no
// answer is kept.
func reopen(b *testing.B, ix *tagseg.Index, path string) *tagseg.Index {
	b.Helper()
	if err := ix.Close(); err != nil {
		b.Fatal(err)
	}
	ix, err := tagseg.Open(path, &tagseg.Options{CacheBytes: 4 << 30})
	if err != nil {
		b.Fatal(err)
	}
	return ix
}

// keptSegments returns k 2-tag segments (AND of two tags, a tag held by
// at least 1,000 customers and any other) of every size, fixed by seed 1.
func keptSegments(b *testing.B, ix *tagseg.Index, k int) []tagseg.Expr {
	var big, any []string
	for t, c := range ix.Tags() {
		any = append(any, t)
		if c >= 1000 {
			big = append(big, t)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	out := make([]tagseg.Expr, k)
	for i := range out {
		out[i] = tagseg.And(tagseg.Tag(big[r.IntN(len(big))]), tagseg.Not(tagseg.Tag(any[r.IntN(len(any))])))
	}
	return out
}

// keep asks a segment's metrics and 36-month series (and ranking) so that
// the index keeps them.
func keep(b *testing.B, ix *tagseg.Index, e tagseg.Expr, ranking bool) {
	seg, err := ix.Segment(e)
	if err != nil {
		b.Fatal(err)
	}
	seg.MRR()
	if _, err := ix.Series(e, HistoryFrom, HistoryTo, tagseg.Month); err != nil {
		b.Fatal(err)
	}
	if ranking {
		if _, err := ix.TagStats(e, tagseg.TagStatsOptions{Limit: TagStatsLimit}); err != nil {
			b.Fatal(err)
		}
	}
}

// cpuTime is the CPU time the process has used so far (user and system):
// a read's CPU, unlike its wall time, does not grow with the other
// programs the machine runs.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
