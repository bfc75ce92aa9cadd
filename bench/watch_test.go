package bench

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/tagseg/tagseg"
)

// The cost of watched segments (issue 25): saved segments whose every
// commit records who entered and who left them.
//
//   - op=addtag/watched=0|100: one durable AddTags (into newsletter, held by
//     about 55%), with no saved segment and with 100 (watchSegments: every
//     tenth names newsletter, so about ten are evaluated and get a change
//     per write), p50/p99;
//   - op=bulk/watched=0|100: AddTagsToSegment of a tag to SegmentQ (about
//     10% of the customers: 1M at 10M), one durable commit (every tenth
//     saved segment names the tag);
//   - op=load/watched=0|100: Index.Load of the data set's first
//     $TAGSEG_BENCH_WATCH_LOAD customers (default 1,000,000, or all when
//     fewer) into a new file, durable batches, with the 100 segments saved
//     on the empty index first (a change per segment per batch);
//   - op=read: Changes of 1,000 changes (each one customer), UUIDs resolved;
//   - op=wait: a reader waiting in Changes (Wait) for the next change, and
//     a durable AddTags that makes it: the time from the write's start to
//     the reader's return (wake-ns), and from the write's return (after-ns).
//
// Everything written to the cached index is undone at the end (tags
// removed, segments deleted), under the write benchmarks' dirty marker.

// watchHot are the tags the write benchmarks change, which every tenth
// watched segment names.
var watchHot = []string{"newsletter", "bench-watch-bulk"}

// watchSegments returns n queries over the index's 300 most held tags:
// AND, OR and NOT of two to four tags, some with an MRR bound; every tenth
// names one of watchHot. Fixed by seed 1.
func watchSegments(ix *tagseg.Index, n int) []string {
	type tc struct {
		t string
		n uint64
	}
	var all []tc
	for t, c := range ix.Tags() {
		all = append(all, tc{t, c})
	}
	slices.SortFunc(all, func(a, b tc) int { return cmp.Or(cmp.Compare(b.n, a.n), cmp.Compare(a.t, b.t)) })
	all = all[:min(len(all), 300)]
	r := rand.New(rand.NewPCG(1, 1))
	tag := func() string { return tagseg.Tag(all[r.IntN(len(all))].t).String() }
	out := make([]string, n)
	for i := range out {
		var q string
		switch r.IntN(4) {
		case 0:
			q = tag() + " AND " + tag()
		case 1:
			q = "(" + tag() + " OR " + tag() + ") AND NOT " + tag()
		case 2:
			q = tag() + " AND " + tag() + " AND NOT " + tag() + " AND mrr >= " + strconv.Itoa(1000*r.IntN(50))
		default:
			q = "tags:any(" + all[r.IntN(len(all))].t + ", " + all[r.IntN(len(all))].t + ") AND NOT " + tag()
		}
		if i%10 == 0 {
			q = "tag:" + watchHot[i/10%len(watchHot)] + " AND " + q
		}
		out[i] = q
	}
	return out
}

// watchNames are the saved segments' names.
func watchName(i int) string { return fmt.Sprintf("bench-watch-%03d", i) }

func saveWatched(b *testing.B, ix *tagseg.Index, queries []string) {
	for i, q := range queries {
		if err := ix.SaveSegment(watchName(i), q); err != nil {
			b.Fatalf("save %s: %v", q, err)
		}
	}
}

func deleteWatched(b *testing.B, ix *tagseg.Index, queries []string) {
	for i := range queries {
		if err := ix.DeleteSegment(watchName(i)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWatch(b *testing.B) {
	for _, n := range sizes(b) {
		e := getEnv(b, n)
		ix := e.ts.Ix
		queries := watchSegments(ix, 100)
		dirty := func(b *testing.B) func() {
			if err := markDirty(e.ts.Path); err != nil {
				b.Fatal(err)
			}
			return func() {
				if err := markClean(e.ts.Path); err != nil {
					b.Fatal(err)
				}
			}
		}
		targets, err := e.ts.Targets("newsletter", min(writeTargets, n/2))
		if err != nil {
			b.Fatal(err)
		}
		logf("bench: n=%d: load average %s", n, loadAverage())
		for _, watched := range []int{0, 100} {
			b.Run(fmt.Sprintf("n=%d/op=addtag/watched=%d/sys=tagseg", n, watched), func(b *testing.B) {
				defer dirty(b)()
				saveWatched(b, ix, queries[:watched])
				defer deleteWatched(b, ix, queries[:watched])
				var ss samples
				next := 0
				for b.Loop() {
					if next == len(targets) {
						b.StopTimer()
						if err := e.ts.RemoveTag(targets, "newsletter"); err != nil {
							b.Fatal(err)
						}
						next = 0
						b.StartTimer()
					}
					t0 := time.Now()
					if _, err := ix.AddTags(targets[next].UUID, "newsletter"); err != nil {
						b.Fatal(err)
					}
					ss = append(ss, time.Since(t0))
					next++
				}
				ss.report(b)
				if err := e.ts.RemoveTag(targets[:next], "newsletter"); err != nil {
					b.Fatal(err)
				}
			})
		}
		for _, watched := range []int{0, 100} {
			b.Run(fmt.Sprintf("n=%d/op=bulk/watched=%d/sys=tagseg", n, watched), func(b *testing.B) {
				defer dirty(b)()
				saveWatched(b, ix, queries[:watched])
				defer deleteWatched(b, ix, queries[:watched])
				var ss samples
				var changed int
				for b.Loop() {
					t0 := time.Now()
					changed, err = ix.AddTagsToSegment(SegmentQ.Expr(), watchHot[1])
					if err != nil {
						b.Fatal(err)
					}
					ss = append(ss, time.Since(t0))
					b.StopTimer()
					if _, err := ix.RemoveTagsFromSegment(tagseg.Tag(watchHot[1]), watchHot[1]); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
				ss.report(b)
				b.ReportMetric(float64(changed), "customers")
			})
		}
		for _, watched := range []int{0, 100} {
			b.Run(fmt.Sprintf("n=%d/op=load/watched=%d/sys=tagseg", n, watched), func(b *testing.B) {
				load := min(n, 1_000_000)
				if s := os.Getenv("TAGSEG_BENCH_WATCH_LOAD"); s != "" {
					if load, err = strconv.Atoi(s); err != nil {
						b.Fatal(err)
					}
				}
				path := filepath.Join(DataDir(), "watch-load.db")
				defer os.Remove(path)
				var ss samples
				for b.Loop() {
					b.StopTimer()
					os.Remove(path)
					lx, err := tagseg.Open(path, nil)
					if err != nil {
						b.Fatal(err)
					}
					saveWatched(b, lx, queries[:watched])
					b.StartTimer()
					t0 := time.Now()
					got, err := lx.Load(func(yield func(tagseg.Customer, []tagseg.MRRChange) bool) {
						k := 0
						for _, cs := range e.ds.Batches(DefaultBatch) {
							for i := range cs {
								c := &cs[i]
								events := make([]tagseg.MRRChange, len(c.Events))
								for j, ev := range c.Events {
									events[j] = tagseg.MRRChange{At: ev.At, Cents: ev.Cents}
								}
								if k == load || !yield(ToCustomer(c), events) {
									return
								}
								k++
							}
						}
					})
					ss = append(ss, time.Since(t0))
					if err != nil || got != load {
						b.Fatalf("Load: %d of %d, %v", got, load, err)
					}
					b.StopTimer()
					lx.Close()
					b.StartTimer()
				}
				ss.report(b)
				b.ReportMetric(float64(load), "customers")
			})
		}
		b.Run(fmt.Sprintf("n=%d/op=read/sys=tagseg", n), func(b *testing.B) {
			defer dirty(b)()
			const name, tag = "bench-watch-read", "bench-watch-toggle"
			if err := ix.SaveSegment(name, "tag:"+tag); err != nil {
				b.Fatal(err)
			}
			defer ix.DeleteSegment(name)
			for i := range 1000 { // a thousand changes of one customer each
				u := targets[i%len(targets)].UUID
				if _, err := ix.AddTags(u, tag); err != nil {
					b.Fatal(err)
				}
			}
			var ss samples
			for b.Loop() {
				t0 := time.Now()
				p, err := ix.Changes(name, tagseg.ChangesOptions{Limit: 1000})
				ss = append(ss, time.Since(t0))
				if err != nil || len(p.Changes) != 1000 {
					b.Fatalf("%d changes, %v", len(p.Changes), err)
				}
			}
			ss.report(b)
			seg, err := ix.Segment(tagseg.Tag(tag))
			if err != nil {
				b.Fatal(err)
			}
			if _, err := ix.RemoveTagsFromSegment(tagseg.Tag(tag), tag); err != nil || seg.Count() == 0 {
				b.Fatal(err)
			}
		})
		b.Run(fmt.Sprintf("n=%d/op=wait/sys=tagseg", n), func(b *testing.B) {
			defer dirty(b)()
			const name, tag = "bench-watch-wait", "bench-watch-wait"
			if err := ix.SaveSegment(name, "tag:"+tag); err != nil {
				b.Fatal(err)
			}
			defer ix.DeleteSegment(name)
			p, err := ix.Changes(name, tagseg.ChangesOptions{})
			if err != nil {
				b.Fatal(err)
			}
			cur := p.Cursor
			var wake, after samples
			type res struct {
				at  time.Time
				cur string
				err error
			}
			u := targets[0].UUID
			for i := 0; b.Loop(); i++ {
				done := make(chan res, 1)
				go func() {
					p, err := ix.ChangesContext(context.Background(), name, tagseg.ChangesOptions{After: cur, Wait: 30 * time.Second})
					r := res{at: time.Now(), err: err}
					if err == nil && len(p.Changes) == 1 {
						r.cur = p.Cursor
					}
					done <- r
				}()
				time.Sleep(2 * time.Millisecond) // the reader is waiting
				t0 := time.Now()
				if i%2 == 0 {
					_, err = ix.AddTags(u, tag)
				} else {
					_, err = ix.RemoveTags(u, tag)
				}
				t1 := time.Now()
				if err != nil {
					b.Fatal(err)
				}
				r := <-done
				if r.err != nil || r.cur == "" {
					b.Fatalf("reader: %+v", r)
				}
				cur = r.cur
				wake = append(wake, r.at.Sub(t0))
				after = append(after, max(0, r.at.Sub(t1)))
			}
			slices.Sort(wake)
			slices.Sort(after)
			b.ReportMetric(float64(wake[(len(wake)-1)/2]), "wake-p50-ns")
			b.ReportMetric(float64(wake[min(len(wake)-1, len(wake)*99/100)]), "wake-p99-ns")
			b.ReportMetric(float64(after[(len(after)-1)/2]), "after-p50-ns")
			b.ReportMetric(float64(after[min(len(after)-1, len(after)*99/100)]), "after-p99-ns")
			ix.RemoveTags(u, tag)
		})
	}
}

// loadAverage is /proc/loadavg's first three figures, for the log.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return string(b[:min(len(b), 14)])
}
