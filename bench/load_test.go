package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// loadRates are the offered rates (requests/s) tried per mix, rising; a
// mix stops at its second step that does not hold (p99 > 50 ms, an error,
// or under 95% of the rate sent): a step that fails is run once more, as
// the machine may be shared, and both runs are reported. Below 100k
// customers (the CI smoke run) one low rate a mix, for a second.
func loadRates(n int, mix string) []int {
	if n < 100_000 {
		return map[string][]int{"read": {50}, "write": {20}, "mixed": {55}, "dashboard": {55}}[mix]
	}
	return map[string][]int{
		"read":      {100, 175, 250, 500, 750, 1000, 1250, 1500, 2000, 2500, 3000},
		"write":     {50, 100, 200, 300, 400, 600, 800, 1000, 1500, 2000},
		"mixed":     {55, 110, 165, 220, 330, 550, 825, 1100, 1375, 1650, 2200, 3300},
		"dashboard": {55, 110, 165, 220, 330, 550, 825, 1100, 1375, 1650, 2200, 3300},
	}[mix]
}

// loadStepTime is how long each rate is held: $TAGSEG_BENCH_LOAD_STEP
// (a duration), else 5 s (1 s below 100k customers).
func loadStepTime(b *testing.B, n int) time.Duration {
	if s := os.Getenv("TAGSEG_BENCH_LOAD_STEP"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 || d > time.Minute {
			b.Fatalf("TAGSEG_BENCH_LOAD_STEP=%q: want a duration up to 1m", s)
		}
		return d
	}
	if n < 100_000 {
		return time.Second
	}
	return 5 * time.Second
}

// loadResults keeps each size's steps, so that a benchmark run again (a
// larger b.N) reports them without loading the server again.
var loadResults = map[int][]LoadStep{}

// BenchmarkLoad starts tagseg serve (the command, built from ../cmd/tagseg)
// on a copy of the cached index, on 127.0.0.1, and drives it with vegeta
// at rising rates with each mix of LoadMixes: segment metrics and counts,
// customer reads, searches and lists, segment pages, rarely a series and
// tag stats, and durable tag writes by UUID and by email; and the
// dashboard mix (20 saved segments' metrics and series polled, the page's
// four requests per query edit, the same writes). Each step sends
// rate × step time requests, so the run is bounded and stops by itself.
// It reports per mix the highest rate held with p99 ≤ 50 ms and no
// error (max-rps; 0 when even the first failed) and its p99, and writes
// the steps' table and a latency plot into the data directory
// (load-nN.md, load-nN.png), with what each kind of request costs the
// server alone (CPU per request, sent one at a time, and as a multiple of
// a ping's). The copy goes to $TAGSEG_BENCH_LOAD_TMP (or
// the temporary directory) and is removed after; a size whose copy would
// not fit there is skipped.
func BenchmarkLoad(b *testing.B) {
	for _, n := range sizes(b) {
		b.Run(fmt.Sprintf("n=%d/sys=tagseg-serve", n), func(b *testing.B) {
			steps, ok := loadResults[n]
			if !ok {
				steps = runLoad(b, n)
				loadResults[n] = steps
			}
			for _, m := range LoadMixes {
				s, ok := MaxHeld(steps, m.Name)
				if !ok {
					b.ReportMetric(0, m.Name+"-max-rps")
					continue
				}
				b.ReportMetric(float64(s.Rate), m.Name+"-max-rps")
				b.ReportMetric(float64(s.P99.Nanoseconds()), m.Name+"-p99-ns")
			}
		})
	}
}

// runLoad does the steps of every mix at size n.
func runLoad(b *testing.B, n int) []LoadStep {
	ds := NewDataset(n, Seed())
	tmpRoot := os.Getenv("TAGSEG_BENCH_LOAD_TMP")
	if tmpRoot == "" {
		tmpRoot = os.TempDir()
	}
	// The index: the one getEnv opened, else the cache (built if missing).
	var ts *Tagseg
	if e := envs[n]; e != nil {
		ts = e.ts
	} else {
		var err error
		if ts, err = ds.OpenTagseg(); err != nil {
			b.Fatal(err)
		}
		defer ts.Ix.Close()
	}
	size := fileSize(ts.Path)
	free, err := FreeBytes(tmpRoot)
	if err != nil {
		b.Fatal(err)
	}
	if free < size+size/4+1<<30 {
		b.Skipf("n=%d: the copy of %s (%d MB) would not fit in %s (%d MB free); set TAGSEG_BENCH_LOAD_TMP", n, ts.Path, size>>20, tmpRoot, free>>20)
	}
	dir, err := os.MkdirTemp(tmpRoot, "tagseg-load-")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(dir)
	bin, err := BuildServer(dir)
	if err != nil {
		b.Fatal(err)
	}
	pool, err := PickPool(ts.Ix, 2000, Seed())
	if err != nil {
		b.Fatal(err)
	}
	db := filepath.Join(dir, "load.db")
	start := time.Now()
	if err := CopyIndex(ts.Ix, db); err != nil {
		b.Fatal(err)
	}
	logf("bench: n=%d: load: copied the index to %s in %v", n, db, time.Since(start).Round(time.Millisecond))
	srv, err := StartServer(bin, db, filepath.Join(dir, "serve.log"))
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Stop()
	logf("bench: n=%d: load: tagseg serve on %s", n, srv.URL)
	if err := SaveDashboard(srv.URL); err != nil {
		b.Fatal(err)
	}
	warm, err := WarmUp(srv.URL, pool)
	if err != nil {
		b.Fatal(err)
	}
	logf("bench: n=%d: load: warm-up (first call of each read): %v", n, warm)

	stepTime := loadStepTime(b, n)
	if n >= 100_000 {
		// A step of the mixed load, not reported: the caches and the
		// heap settle (the first reported step was the worst without it).
		w := RunStep(srv, NewTargeter(srv.URL, LoadMixes[2], pool, Seed()+1), "warm-up", 200, stepTime)
		logf("bench: n=%d: load: warm-up step at 200/s: p99 %v, %d errors", n, w.P99.Round(10*time.Microsecond), w.Errors)
	}
	var steps []LoadStep
	for _, m := range LoadMixes {
		tr := NewTargeter(srv.URL, m, pool, Seed())
		retried := false
		rates := loadRates(n, m.Name)
		for i := 0; i < len(rates); i++ {
			rate := rates[i]
			s := RunStep(srv, tr, m.Name, rate, stepTime)
			steps = append(steps, s)
			logf("bench: n=%d: load %s at %d/s: sent %.0f/s, p50 %v p99 %v max %v, %d errors, server %.2f cores, vegeta %.2f; p99 by class: %v",
				n, m.Name, rate, s.Achieved, s.P50.Round(10*time.Microsecond), s.P99.Round(10*time.Microsecond), s.Max.Round(10*time.Microsecond), s.Errors, s.ServerCores, s.ClientCores, s.ClassP99)
			if s.FirstError != "" {
				logf("bench: n=%d: load %s at %d/s: first error: %s", n, m.Name, rate, s.FirstError)
			}
			time.Sleep(time.Second) // let the last answers and fsyncs settle
			if !s.Held() {
				if retried || n < 100_000 {
					break
				}
				retried = true
				i-- // once more
			}
		}
	}
	per := time.Second
	if n < 100_000 {
		per = 100 * time.Millisecond
	}
	costs, err := MeasureCosts(srv, pool, Seed(), per)
	if err != nil {
		b.Fatal(err)
	}
	md := filepath.Join(DataDir(), "load-n"+strconv.Itoa(n)+".md")
	if err := os.WriteFile(md, []byte(LoadMarkdown(n, steps)+"\n"+CostMarkdown(n, costs)), 0o644); err != nil {
		b.Fatal(err)
	}
	png := filepath.Join(DataDir(), "load-n"+strconv.Itoa(n)+".png")
	if err := LoadPlot(n, steps, png); err != nil {
		b.Fatal(err)
	}
	logf("bench: n=%d: load: %s, %s", n, md, png)
	return steps
}
