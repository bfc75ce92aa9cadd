package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tagseg/tagseg"
)

// The benchmarks run per data set size ($TAGSEG_BENCH_N) and per system.
// Sub-benchmark names are key=value pairs: n (customers), q (query), sys
// (system), tag, mode. Besides ns/op (the mean), each timed benchmark
// reports p50-ns and p99-ns over its iterations, and result sizes.
//
// Systems: tagseg always; the peers of $TAGSEG_BENCH_PEERS (default
// "roaring,maps,sqlite,postgres"; postgres only when $TAGSEG_BENCH_PG_DSN is set;
// "none" for tagseg alone).

// env is everything loaded for one data set size, shared by the benchmarks.
type env struct {
	ds    *Dataset
	ts    *Tagseg
	want  *Answers
	peers []System
	// mapsHeap is the heap the maps peer took, measured around its load.
	mapsHeap int64
	// assignments is the number of (customer, tag) pairs.
	assignments int64
}

var envs = map[int]*env{}

// peerNames lists the peers to run.
func peerNames() []string {
	s := os.Getenv("TAGSEG_BENCH_PEERS")
	if s == "" {
		s = "roaring,maps,sqlite,postgres"
	}
	var out []string
	for p := range strings.SplitSeq(s, ",") {
		p = strings.TrimSpace(p)
		if p == "none" || p == "postgres" && PGDSN() == "" {
			continue
		}
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

func sizes(b *testing.B) []int {
	ns, err := Sizes()
	if err != nil {
		b.Fatal(err)
	}
	return ns
}

// getEnv loads (from the caches when possible) tagseg and every peer for
// n customers, answers every query on each and fails the run when a peer
// disagrees with tagseg.
func getEnv(b *testing.B, n int) *env {
	if e := envs[n]; e != nil {
		return e
	}
	e := &env{ds: NewDataset(n, Seed())}
	var err error
	logf("bench: n=%d: opening tagseg %s", n, e.ds.TagsegPath())
	if e.ts, err = e.ds.OpenTagseg(); err != nil {
		b.Fatal(err)
	}
	if e.want, err = AnswerAll(e.ts, Queries); err != nil {
		b.Fatal(err)
	}
	for _, c := range e.ts.Ix.Tags() {
		e.assignments += int64(c)
	}
	for _, name := range peerNames() {
		var p System
		switch name {
		case "maps":
			runtime.GC()
			before := heapAlloc()
			m, _ := e.ds.LoadMaps()
			runtime.GC()
			e.mapsHeap = heapAlloc() - before
			p = m
		case "roaring":
			p, _ = e.ds.LoadRoaring()
		case "sqlite":
			logf("bench: n=%d: opening sqlite %s", n, e.ds.SQLitePath())
			p, err = e.ds.OpenSQLiteCached()
		case "postgres":
			logf("bench: n=%d: opening postgres schema %s", n, e.ds.pgSchema())
			p, err = e.ds.OpenPostgres(PGDSN())
		default:
			b.Fatalf("TAGSEG_BENCH_PEERS: unknown peer %q", name)
		}
		if err != nil {
			b.Fatalf("%s: %v", name, err)
		}
		logf("bench: n=%d: checking %s against tagseg", n, name)
		got, err := AnswerAll(p, Queries)
		if err != nil {
			b.Fatal(err)
		}
		if err := Check(name, e.want, got, Queries); err != nil {
			b.Fatal(err)
		}
		e.peers = append(e.peers, p)
	}
	envs[n] = e
	return e
}

func (e *env) systems() []System { return append([]System{e.ts}, e.peers...) }

func heapAlloc() int64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

// samples records the duration of each iteration for percentiles.
type samples []time.Duration

func (s samples) report(b *testing.B) {
	if len(s) == 0 {
		return
	}
	slices.Sort(s)
	b.ReportMetric(float64(s[(len(s)-1)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(s[min(len(s)-1, len(s)*99/100)].Nanoseconds()), "p99-ns")
}

// BenchmarkImport loads the whole data set into a new store per
// iteration. tagseg: Index.Load (durable batches of 65,536 customers),
// durable (every batch fsynced) or nosync (no fsync until one at the end,
// inside the time); tagseg-update (only when named in
// $TAGSEG_BENCH_IMPORT): Index.Update batches of 65,536 customers, each
// CreateCustomer then SetMRR per event, durable, as an embedding service
// writes without knowing Load. Peers: SQLite bulk INSERTs then indexes; PostgreSQL COPY then
// indexes; maps built in memory. A durable tagseg import (and the peers')
// becomes the cached data set when there is none yet.
// $TAGSEG_BENCH_IMPORT selects the modes (default both tagseg modes and
// every peer that runs).
func BenchmarkImport(b *testing.B) {
	modes := append([]string{"tagseg-durable", "tagseg-nosync"}, peerNames()...)
	if s := os.Getenv("TAGSEG_BENCH_IMPORT"); s != "" {
		modes = strings.Split(s, ",")
	}
	for _, n := range sizes(b) {
		ds := NewDataset(n, Seed())
		for _, mode := range modes {
			if mode == "postgres" && PGDSN() == "" {
				continue
			}
			b.Run(fmt.Sprintf("n=%d/sys=%s", n, mode), func(b *testing.B) {
				b.ReportAllocs()
				var meta LoadMeta
				var err error
				for b.Loop() {
					meta, err = importOnce(ds, mode)
					if err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(meta.Seconds, "s/import")
				b.ReportMetric(meta.Seconds*1e6/float64(n), "us/customer")
				b.ReportMetric(float64(meta.Assignments), "assignments")
			})
		}
	}
}

// importOnce runs one import and keeps the result as the cache when the
// data set has none.
func importOnce(ds *Dataset, mode string) (LoadMeta, error) {
	switch mode {
	case "tagseg-update":
		tmp := filepath.Join(DataDir(), "import-update-"+ds.Key()+".db")
		meta, err := ds.UpdateTagseg(tmp)
		if err != nil {
			return meta, err
		}
		return meta, os.Remove(tmp)
	case "tagseg-durable", "tagseg-nosync":
		cache := ds.TagsegPath()
		tmp := filepath.Join(DataDir(), "import-"+ds.Key()+".db")
		meta, err := ds.LoadTagseg(tmp, DefaultBatch, mode == "tagseg-nosync")
		if err != nil {
			return meta, err
		}
		if _, err := os.Stat(cache); err != nil && mode == "tagseg-durable" && envs[ds.N] == nil {
			writeMeta(cache, meta)
			return meta, os.Rename(tmp, cache)
		}
		return meta, os.Remove(tmp)
	case "maps":
		_, meta := ds.LoadMaps()
		return meta, nil
	case "roaring":
		_, meta := ds.LoadRoaring()
		return meta, nil
	case "sqlite":
		cache := ds.SQLitePath()
		tmp := filepath.Join(DataDir(), "import-"+ds.Key()+".sqlite")
		meta, err := ds.LoadSQLite(tmp)
		if err != nil {
			return meta, err
		}
		if _, err := os.Stat(cache); err != nil && envs[ds.N] == nil {
			writeMeta(cache, meta)
			return meta, os.Rename(tmp, cache)
		}
		return meta, os.Remove(tmp)
	case "postgres":
		ctx := context.Background()
		schema := ds.pgSchema()
		meta, err := ds.LoadPostgres(PGDSN(), schema+"_import")
		if err != nil {
			return meta, err
		}
		admin, err := pgConnect(ctx, PGDSN(), "")
		if err != nil {
			return meta, err
		}
		defer admin.Close(ctx)
		var exists bool
		if err := admin.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", schema).Scan(&exists); err != nil {
			return meta, err
		}
		if !exists && envs[ds.N] == nil {
			writeMeta(ds.pgMarker(), meta)
			_, err = admin.Exec(ctx, "ALTER SCHEMA "+schema+"_import RENAME TO "+schema)
		} else {
			_, err = admin.Exec(ctx, "DROP SCHEMA "+schema+"_import CASCADE")
		}
		return meta, err
	}
	return LoadMeta{}, fmt.Errorf("TAGSEG_BENCH_IMPORT: unknown mode %q", mode)
}

// BenchmarkQuery times every query of Queries on every system.
func BenchmarkQuery(b *testing.B) {
	for _, n := range sizes(b) {
		e := getEnv(b, n)
		for _, q := range Queries {
			for _, s := range e.systems() {
				b.Run(fmt.Sprintf("n=%d/q=%s/sys=%s", n, q.Name, s.Name()), func(b *testing.B) {
					b.ReportAllocs()
					var ss samples
					var count uint64
					var pts []Point
					var stats []TagStat
					var cpu time.Duration
					for b.Loop() {
						t0, c0 := time.Now(), cpuTime()
						c, _, p, st, err := Answer(s, q)
						ss, cpu = append(ss, time.Since(t0)), cpu+cpuTime()-c0
						if err != nil {
							b.Fatal(err)
						}
						count, pts, stats = c, p, st
					}
					ss.report(b)
					b.ReportMetric(float64(cpu.Nanoseconds())/float64(len(ss)), "cpu-ns")
					switch q.Kind {
					case "count", "count+mrr":
						b.ReportMetric(float64(count), "members")
					case "series":
						b.ReportMetric(float64(len(pts)), "points")
					case "tagstats":
						b.ReportMetric(float64(len(stats)), "tags")
					}
					if q.Kind == "series" || q.Kind == "tagstats" {
						members, err := e.ts.Count(q.Q)
						if err != nil {
							b.Fatal(err)
						}
						b.ReportMetric(float64(members), "members")
					}
				})
			}
		}
	}
}

// rarestTag is the tag held by the fewest customers (at least one), the
// first by name among those.
func (e *env) rarestTag() string {
	var best string
	var bestN uint64
	for t, c := range e.ts.Ix.Tags() {
		if c > 0 && (best == "" || c < bestN || c == bestN && t < best) {
			best, bestN = t, c
		}
	}
	return best
}

// writeTargets is how many customers lacking the tag the AddTag
// benchmark prepares; when they run out the tag is removed from all of
// them (outside the timer) and they are used again.
const writeTargets = 20_000

// BenchmarkAddTag times one durable write adding one tag to one customer
// who lacks it, into a tag held by about half the customers (newsletter)
// and into the tag held by the fewest customers. Every tag
// added is removed again at the end, in one transaction, so the cached
// data sets are unchanged (a marker file makes an interrupted run rebuild
// them). The maps peer has no durable write and is left out.
func BenchmarkAddTag(b *testing.B) {
	for _, n := range sizes(b) {
		e := getEnv(b, n)
		rare := e.rarestTag()
		for _, tag := range []string{"newsletter", rare} {
			targets, err := e.ts.Targets(tag, min(writeTargets, n/2))
			if err != nil {
				b.Fatal(err)
			}
			label := tag
			if tag == rare {
				label = "rare"
			}
			for _, s := range e.systems() {
				w, ok := s.(Writer)
				if !ok {
					continue
				}
				held, err := w.Count(T(tag))
				if err != nil {
					b.Fatal(err)
				}
				b.Run(fmt.Sprintf("n=%d/tag=%s/sys=%s", n, label, s.Name()), func(b *testing.B) {
					marker := e.ts.Path
					switch p := s.(type) {
					case *SQLite:
						marker = p.Path
					case *Postgres:
						marker = e.ds.pgMarker()
					}
					if err := markDirty(marker); err != nil {
						b.Fatal(err)
					}
					b.ReportAllocs()
					var ss samples
					next := 0
					for b.Loop() {
						if next == len(targets) {
							b.StopTimer()
							if err := w.RemoveTag(targets, tag); err != nil {
								b.Fatal(err)
							}
							next = 0
							b.StartTimer()
						}
						t0 := time.Now()
						if err := w.AddTag(targets[next], tag); err != nil {
							b.Fatal(err)
						}
						ss = append(ss, time.Since(t0))
						next++
					}
					ss.report(b)
					b.ReportMetric(float64(held), "tag-members")
					if err := w.RemoveTag(targets[:next], tag); err != nil {
						b.Fatal(err)
					}
					if c, err := w.Count(T(tag)); err != nil || c != held {
						b.Fatalf("%s: %s held by %d after the benchmark, %d before (%v)", s.Name(), tag, c, held, err)
					}
					if err := markClean(marker); err != nil {
						b.Fatal(err)
					}
				})
			}
		}
	}
}

// BenchmarkReopen times Open of the cached tagseg index (Close not
// included): the file is read and the in-memory indexes rebuilt.
func BenchmarkReopen(b *testing.B) {
	for _, n := range sizes(b) {
		e := getEnv(b, n)
		b.Run(fmt.Sprintf("n=%d/sys=tagseg", n), func(b *testing.B) {
			if err := e.ts.Close(); err != nil {
				b.Fatal(err)
			}
			var ss samples
			for b.Loop() {
				t0 := time.Now()
				ix, err := tagseg.Open(e.ts.Path, OpenOptions)
				ss = append(ss, time.Since(t0))
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				ix.Close()
				b.StartTimer()
			}
			ss.report(b)
			ix, err := tagseg.Open(e.ts.Path, OpenOptions)
			if err != nil {
				b.Fatal(err)
			}
			e.ts.Ix = ix
		})
	}
}

// BenchmarkMemory reports the heap an open index holds per tag
// assignment (HeapAlloc after GC, after Open minus before, divided by
// the number of (customer, tag) pairs) and, of that, the in-memory size
// of the tag bitmaps (roaring's GetSizeInBytes of each tag's bitmap, as
// returned by Segment.IDs); for the maps peer, the heap its load took.
func BenchmarkMemory(b *testing.B) {
	for _, n := range sizes(b) {
		e := getEnv(b, n)
		b.Run(fmt.Sprintf("n=%d/sys=tagseg", n), func(b *testing.B) {
			if err := e.ts.Close(); err != nil {
				b.Fatal(err)
			}
			e.ts.Ix = nil
			var heap int64
			var ix *tagseg.Index
			for b.Loop() {
				if ix != nil {
					ix.Close()
					ix = nil
				}
				runtime.GC()
				before := heapAlloc()
				var err error
				if ix, err = tagseg.Open(e.ts.Path, OpenOptions); err != nil {
					b.Fatal(err)
				}
				runtime.GC()
				heap = heapAlloc() - before
			}
			e.ts.Ix = ix
			// The forward index the first TagStats builds, on top.
			runtime.GC()
			base := heapAlloc() - heap
			if _, err := ix.TagStats(tagseg.All(), tagseg.TagStatsOptions{Limit: 1}); err != nil {
				b.Fatal(err)
			}
			runtime.GC()
			withForward := heapAlloc() - base
			var bitmaps int64
			for t := range ix.Tags() {
				seg, err := ix.Segment(tagseg.Tag(t))
				if err != nil {
					b.Fatal(err)
				}
				bitmaps += int64(seg.IDs().GetSizeInBytes())
			}
			b.ReportMetric(float64(heap)/float64(e.assignments), "heap-B/assign")
			b.ReportMetric(float64(bitmaps)/float64(e.assignments), "bitmap-B/assign")
			b.ReportMetric(float64(heap)/(1<<20), "heap-MiB")
			b.ReportMetric(float64(withForward)/float64(e.assignments), "heap-B/assign-after-tagstats")
		})
		if e.mapsHeap > 0 {
			b.Run(fmt.Sprintf("n=%d/sys=maps", n), func(b *testing.B) {
				for b.Loop() {
				}
				b.ReportMetric(float64(e.mapsHeap)/float64(e.assignments), "heap-B/assign")
				b.ReportMetric(float64(e.mapsHeap)/(1<<20), "heap-MiB")
			})
		}
	}
}

// BenchmarkDataset times nothing: it reports the data set's figures and
// the on-disk size of each system's copy, for RESULTS.md.
func BenchmarkDataset(b *testing.B) {
	for _, n := range sizes(b) {
		e := getEnv(b, n)
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			for b.Loop() {
			}
			var tags, events int64
			for range e.ts.Ix.Tags() {
				tags++
			}
			if m, err := ReadMeta(e.ts.Path); err == nil {
				events = m.Events
				b.ReportMetric(m.Seconds, "tagseg-load-s")
			}
			b.ReportMetric(float64(n), "customers")
			b.ReportMetric(float64(e.assignments), "assignments")
			b.ReportMetric(float64(tags), "tags")
			b.ReportMetric(float64(events), "events")
			b.ReportMetric(float64(e.want.Counts["count-mrr"]), "segment")
			b.ReportMetric(float64(fileSize(e.ts.Path))/(1<<20), "tagseg-MiB")
			for _, p := range e.peers {
				switch p := p.(type) {
				case *SQLite:
					b.ReportMetric(float64(fileSize(p.Path)+fileSize(p.Path+"-wal"))/(1<<20), "sqlite-MiB")
				case *Postgres:
					if sz, err := p.Size(); err == nil {
						b.ReportMetric(float64(sz)/(1<<20), "postgres-MiB")
					}
				}
			}
		})
	}
}
