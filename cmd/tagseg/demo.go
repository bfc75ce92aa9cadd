package main

import (
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"path/filepath"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/tagseg/tagseg"
	"github.com/tagseg/tagseg/internal/gen"
)

// runDemo builds a synthetic index with internal/gen (the benchmarks' data:
// Zipf-distributed tags, feature requests, churn-risk tags, log-normal MRR
// and 36 months of MRR events) and prints a report of what tagseg answers
// over it, with the time each answer took.
func runDemo(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("demo", "[-customers N] [-db PATH] [-seed N]", stderr)
	n := fs.Int("customers", 100_000, "number of synthetic customers")
	db := fs.String("db", "", "index `file` to build (default: a temporary file, removed after)")
	seed := fs.Uint64("seed", 1, "data set seed")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	if *n < 1 {
		return usagef("-customers must be positive")
	}
	path := *db
	if path == "" {
		dir, err := os.MkdirTemp("", "tagseg-demo")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		path = filepath.Join(dir, "demo.db")
	} else if err := notDir(path); err != nil {
		return err
	} else if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("%s exists: the demo builds a new index; remove it or choose another -db", path)
	}

	cfg := gen.DefaultConfig(*n)
	cfg.Seed = *seed
	g := gen.NewGenerator(cfg)
	ix, err := tagseg.Open(path, nil)
	if err != nil {
		return err
	}
	defer ix.Close()

	fmt.Fprintf(stdout, "Building %s synthetic customers (%s tags, %d months of MRR history) in %s\n\n",
		count(*n), count(g.NumTags()), cfg.Months, path)
	loaded, err := demoLoad(ix, g, stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Loaded %s customers, %s tag assignments and %s MRR events in %s (%s customers/s), durably.\n",
		count(*n), count(loaded.tags), count(loaded.events), loaded.took.Round(time.Millisecond),
		count(int(float64(*n)/loaded.took.Seconds())))

	// The largest tags.
	t0 := time.Now()
	top, err := ix.TagStats(tagseg.All(), tagseg.TagStatsOptions{Limit: 8, ByCount: true})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nLargest tags (%s)\n", since(t0))
	tagTable(stdout, top, uint64(*n))

	// 1. Feature requests ranked by the MRR of the customers who asked.
	t0 = time.Now()
	feats, err := ix.TagStats(tagseg.Not(tagseg.Tag("internal")), tagseg.TagStatsOptions{Prefix: "feature-", Limit: 8})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\n1. Feature requests by MRR of the customers asking, internal accounts excluded (%s)\n", since(t0))
	tagTable(stdout, feats, uint64(*n))

	// 2. A churn-risk segment and 3. an AND/OR/NOT segment.
	for i, q := range []string{
		`tag:churn-risk-high AND NOT tag:managed-account`,
		`tags:any(plan-pro, plan-enterprise) AND (tag:feature-sso OR tag:feature-scim) AND NOT tag:internal AND country:US AND mrr >= 10000`,
	} {
		e, err := tagseg.Parse(q)
		if err != nil {
			return err
		}
		t0 = time.Now()
		seg, err := ix.Segment(e)
		if err != nil {
			return err
		}
		took := since(t0)
		fmt.Fprintf(stdout, "\n%d. %s\n", i+2, q)
		fmt.Fprintf(stdout, "   %s customers (%s paying), MRR %s, ARR %s, ARPA %s (%s)\n",
			count(seg.Count()), count(seg.Paying()), money(seg.MRR()), money(seg.ARR()), money(seg.ARPA()), took)
	}

	// The churn-risk segment's last 12 months.
	e, _ := tagseg.Parse(`tag:churn-risk-high AND NOT tag:managed-account`)
	end := cfg.Start.AddDate(0, cfg.Months, -1)
	from := cfg.Start.AddDate(0, cfg.Months-12, 0)
	t0 = time.Now()
	points, err := ix.Series(e, from, end, tagseg.Month)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nMRR of the churn-risk segment, month by month (%s)\n", since(t0))
	tb := &table{header: []string{"month", "MRR", "paying", "ARPA", "new", "expansion", "contraction", "churn", "reactivation"},
		right: []bool{false, true, true, true, true, true, true, true, true}}
	for _, p := range points {
		tb.add(p.Start.Format("2006-01"), money(p.MRR), count(p.Customers), money(p.ARPA), money(p.NewBusiness),
			money(p.Expansion), money(p.Contraction), money(p.Churn), money(p.Reactivation))
	}
	tb.write(stdout)
	if *db != "" {
		fmt.Fprintf(stdout, "\nThe index is in %s; try: tagseg query -db %s 'tag:feature-sso AND mrr > 50000'\n", path, path)
		fmt.Fprintf(stdout, "or explore it in a browser: tagseg serve -db %s, then open http://127.0.0.1:8080/?from=%s&to=%s\n",
			path, cfg.Start.Format(time.DateOnly), cfg.Start.AddDate(0, cfg.Months, -1).Format(time.DateOnly))
	} else {
		fmt.Fprintln(stdout, "\nThe index was temporary; give -db demo.db to keep it, then explore it in a browser with tagseg serve -db demo.db.")
	}
	return nil
}

type demoLoaded struct {
	tags, events int
	took         time.Duration
}

// demoProgressEvery is how many customers the demo reports progress by
// when stderr is not a terminal.
const demoProgressEvery = 16_384

// demoLoad creates the generator's customers with their MRR histories in
// one Index.Load (durable batches of up to 65,536 customers), showing
// progress on a terminal and a line every demoProgressEvery customers
// otherwise. Progress counts the customers as Load takes them; the last
// line, written when Load returns, counts the ones it created.
func demoLoad(ix *tagseg.Index, g *gen.Generator, stderr io.Writer) (demoLoaded, error) {
	n := g.Config().Customers
	var bar *progressbar.ProgressBar
	if isTerminal(stderr) {
		bar = progressbar.NewOptions(n,
			progressbar.OptionSetWriter(stderr),
			progressbar.OptionSetDescription("loading"),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("customers"),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
			progressbar.OptionSetWidth(30),
		)
	}
	var out demoLoaded
	start := time.Now()
	progress := func(done int) {
		if bar != nil {
			bar.Set(done)
			return
		}
		fmt.Fprintf(stderr, "loaded %s/%s customers (%s/s)\n", count(done), count(n), count(int64(float64(done)/time.Since(start).Seconds())))
	}
	var seq iter.Seq2[tagseg.Customer, []tagseg.MRRChange] = func(yield func(tagseg.Customer, []tagseg.MRRChange) bool) {
		for i := range n {
			// Customer, not Fill: a value seq yields must not change after
			// (Load does not promise to be done with one when it asks for
			// the next).
			c := g.Customer(i)
			events := make([]tagseg.MRRChange, len(c.Events))
			for j, e := range c.Events {
				events[j] = tagseg.MRRChange{At: e.At, Cents: e.Cents}
			}
			out.tags += len(c.Tags)
			out.events += len(c.Events)
			if !yield(tagseg.Customer{
				DataSourceUUID: c.DataSourceUUID, ExternalID: c.ExternalID,
				Name: c.Name, Email: c.Email, Company: c.Company,
				Country: c.Country, State: c.State, City: c.City, Zip: c.Zip,
				LeadCreatedAt: c.LeadCreatedAt, FreeTrialStartedAt: c.FreeTrialStartedAt,
				Tags: c.Tags, Custom: c.Custom,
			}, events) {
				return
			}
			if done := i + 1; done < n && (done%demoProgressEvery == 0 || bar != nil && done%1024 == 0) {
				progress(done)
			}
		}
	}
	loaded, err := ix.Load(seq)
	if err != nil {
		var le *tagseg.LoadError
		if errors.As(err, &le) {
			return out, fmt.Errorf("customer %d: %w", le.Index, le.Err)
		}
		return out, err
	}
	if loaded != n {
		return out, fmt.Errorf("loaded %s customers of %s", count(loaded), count(n))
	}
	progress(n)
	if bar != nil {
		bar.Finish()
	}
	out.took = time.Since(start)
	if out.took <= 0 {
		return out, errors.New("clock went backwards")
	}
	return out, nil
}

func tagTable(w io.Writer, stats []tagseg.TagStat, n uint64) {
	tb := &table{header: []string{"tag", "customers", "share", "MRR"}, right: []bool{false, true, true, true}}
	for _, s := range stats {
		tb.add(s.Tag, count(s.Customers), percent(s.Customers, n), money(s.MRR))
	}
	tb.write(w)
}

// since formats the time since t0 for the report.
func since(t0 time.Time) string {
	d := time.Since(t0)
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%.0f µs", float64(d.Microseconds()))
	case d < time.Second:
		return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000)
	}
	return d.Round(10 * time.Millisecond).String()
}
