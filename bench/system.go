package bench

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// System is one way of answering the benchmark queries: tagseg itself or
// a peer a developer might pick instead. Every method answers one query
// exactly; Check compares a peer's answers with tagseg's.
type System interface {
	Name() string
	// Count is the number of members of q.
	Count(q Q) (uint64, error)
	// CountMRR is the number of members of q and their current MRR sum.
	CountMRR(q Q) (uint64, int64, error)
	// Series is the monthly MRR series of q's members for the months
	// from..to of the generated history.
	Series(q Q, from, to time.Time) ([]Point, error)
	// TagStats is, for every tag held by a member of q, the members
	// holding it and their MRR; sorted by MRR desc, customers desc, tag
	// asc (byCount: customers first, then MRR); the first limit.
	TagStats(q Q, limit int, byCount bool) ([]TagStat, error)
	Close() error
}

// Writer is a System that can add and remove a tag durably (one fsynced
// transaction per call), for the single-write benchmark.
type Writer interface {
	System
	AddTag(t Target, tag string) error
	// RemoveTag undoes AddTag for many customers at once (one
	// transaction); the benchmarks use it to restore the data set.
	RemoveTag(ts []Target, tag string) error
}

// Target names one customer in every system: its dense ID (the generator
// index, which is also the ID tagseg assigns when loading in order) and
// the UUID tagseg gave it.
type Target struct {
	ID   uint32
	UUID string
}

// Point is one month of a series, as every system reports it.
type Point struct {
	Start                                                    time.Time
	MRR                                                      int64
	Customers                                                int64
	NewBusiness, Expansion, Contraction, Churn, Reactivation int64
}

// TagStat is one row of a tag-stats answer.
type TagStat struct {
	Tag       string
	Customers uint64
	MRR       int64
}

// sortTagStats orders stats as tagseg does and cuts them to limit.
func sortTagStats(stats []TagStat, limit int, byCount bool) []TagStat {
	slices.SortFunc(stats, func(a, b TagStat) int {
		if byCount {
			return cmp.Or(cmp.Compare(b.Customers, a.Customers), cmp.Compare(b.MRR, a.MRR), cmp.Compare(a.Tag, b.Tag))
		}
		return cmp.Or(cmp.Compare(b.MRR, a.MRR), cmp.Compare(b.Customers, a.Customers), cmp.Compare(a.Tag, b.Tag))
	})
	if limit > 0 && len(stats) > limit {
		stats = stats[:limit]
	}
	return stats
}

// months returns the starts of the months from..to (inclusive of the
// month holding to) and the month after the last.
func months(from, to time.Time) []time.Time {
	var out []time.Time
	s := time.Date(from.Year(), from.Month(), 1, 0, 0, 0, 0, time.UTC)
	for ; !s.After(to); s = s.AddDate(0, 1, 0) {
		out = append(out, s)
	}
	return append(out, s)
}

// monthIndex is a month as year*12 + month-1, as the SQL peers compute it.
func monthIndex(t time.Time) int { return t.Year()*12 + int(t.Month()) - 1 }

// movement is one month's aggregate of MRR changes, as the SQL peers
// return them; fold turns them into points.
type movement struct {
	month                                 int // monthIndex
	nb, exp, contr, churn, react, dpaying int64
}

// fold accumulates per-month movements into the points of the months
// from..to: movements before from give the opening MRR and paying count,
// those after to are ignored.
func fold(mv []movement, from, to time.Time) []Point {
	bounds := months(from, to)
	first := monthIndex(bounds[0])
	n := len(bounds) - 1
	pts := make([]Point, n)
	var mrr, paying int64
	byMonth := make([]movement, n)
	for _, m := range mv {
		d := m.nb + m.exp + m.contr + m.churn + m.react
		switch i := m.month - first; {
		case i < 0:
			mrr += d
			paying += m.dpaying
		case i < n:
			b := &byMonth[i]
			b.nb += m.nb
			b.exp += m.exp
			b.contr += m.contr
			b.churn += m.churn
			b.react += m.react
			b.dpaying += m.dpaying
		}
	}
	for i, b := range byMonth {
		mrr += b.nb + b.exp + b.contr + b.churn + b.react
		paying += b.dpaying
		pts[i] = Point{Start: bounds[i], MRR: mrr, Customers: paying,
			NewBusiness: b.nb, Expansion: b.exp, Contraction: b.contr, Churn: b.churn, Reactivation: b.react}
	}
	return pts
}

// Answers are one system's answers to every query, for Check.
type Answers struct {
	Counts   map[string]uint64
	MRR      map[string]int64
	Series   map[string][]Point
	TagStats map[string][]TagStat
}

// HistoryFrom and HistoryTo bound the series query: the 36 months of the
// generated history (gen.DefaultConfig starts it in January 2023).
var (
	HistoryFrom = time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)
	HistoryTo   = time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC)
)

// Answer runs one query on s.
func Answer(s System, q Query) (count uint64, mrr int64, pts []Point, stats []TagStat, err error) {
	switch q.Kind {
	case "count":
		count, err = s.Count(q.Q)
	case "count+mrr":
		count, mrr, err = s.CountMRR(q.Q)
	case "series":
		pts, err = s.Series(q.Q, HistoryFrom, HistoryTo)
	case "tagstats":
		stats, err = s.TagStats(q.Q, TagStatsLimit, q.ByCount)
	default:
		err = fmt.Errorf("unknown query kind %q", q.Kind)
	}
	return
}

// AnswerAll runs every query on s.
func AnswerAll(s System, qs []Query) (*Answers, error) {
	a := &Answers{Counts: map[string]uint64{}, MRR: map[string]int64{}, Series: map[string][]Point{}, TagStats: map[string][]TagStat{}}
	for _, q := range qs {
		c, m, p, st, err := Answer(s, q)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", s.Name(), q.Name, err)
		}
		switch q.Kind {
		case "count":
			a.Counts[q.Name] = c
		case "count+mrr":
			a.Counts[q.Name], a.MRR[q.Name] = c, m
		case "series":
			a.Series[q.Name] = p
		case "tagstats":
			a.TagStats[q.Name] = st
		}
	}
	return a, nil
}

// Check compares a peer's answers with tagseg's (want) and describes the
// first differences, or returns nil when they are equal.
func Check(peer string, want, got *Answers, qs []Query) error {
	var diffs []string
	add := func(format string, args ...any) {
		if len(diffs) < 10 {
			diffs = append(diffs, fmt.Sprintf(format, args...))
		}
	}
	for _, q := range qs {
		switch q.Kind {
		case "count", "count+mrr":
			if w, g := want.Counts[q.Name], got.Counts[q.Name]; w != g {
				add("%s: count %d, tagseg %d", q.Name, g, w)
			}
			if w, g := want.MRR[q.Name], got.MRR[q.Name]; w != g {
				add("%s: MRR %d, tagseg %d", q.Name, g, w)
			}
		case "series":
			w, g := want.Series[q.Name], got.Series[q.Name]
			if len(w) != len(g) {
				add("%s: %d points, tagseg %d", q.Name, len(g), len(w))
				continue
			}
			for i := range w {
				if !w[i].Start.Equal(g[i].Start) || w[i].MRR != g[i].MRR || w[i].Customers != g[i].Customers ||
					w[i].NewBusiness != g[i].NewBusiness || w[i].Expansion != g[i].Expansion || w[i].Contraction != g[i].Contraction ||
					w[i].Churn != g[i].Churn || w[i].Reactivation != g[i].Reactivation {
					add("%s: point %d: %+v, tagseg %+v", q.Name, i, g[i], w[i])
				}
			}
		case "tagstats":
			w, g := want.TagStats[q.Name], got.TagStats[q.Name]
			if len(w) != len(g) {
				add("%s: %d tags, tagseg %d", q.Name, len(g), len(w))
			}
			for i := range min(len(w), len(g)) {
				if w[i] != g[i] {
					add("%s: row %d: %+v, tagseg %+v", q.Name, i, g[i], w[i])
				}
			}
		}
	}
	if len(diffs) == 0 {
		return nil
	}
	return fmt.Errorf("%s disagrees with tagseg:\n  %s", peer, joinLines(diffs))
}

func joinLines(s []string) string {
	out := ""
	for i, l := range s {
		if i > 0 {
			out += "\n  "
		}
		out += l
	}
	return out
}
