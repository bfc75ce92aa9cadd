package tagseg

// Series: a segment's MRR, customers, ARPA, ARR and the five MRR movements
// per interval, replayed from the members' MRR histories in memory.

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
	bolt "go.etcd.io/bbolt"
)

// Interval is the length of the intervals of a Series. Intervals are UTC and
// whole: days, ISO weeks from Monday, calendar months, quarters from
// January, years.
type Interval int

// The intervals of a Series.
const (
	Day Interval = iota
	Week
	Month
	Quarter
	Year
)

// String returns the interval's name: "day", "week", "month", "quarter" or
// "year".
func (iv Interval) String() string {
	switch iv {
	case Day:
		return "day"
	case Week:
		return "week"
	case Month:
		return "month"
	case Quarter:
		return "quarter"
	case Year:
		return "year"
	}
	return fmt.Sprintf("Interval(%d)", int(iv))
}

// ParseInterval reads an interval name as String writes it.
func ParseInterval(s string) (Interval, error) {
	for iv := Day; iv <= Year; iv++ {
		if strings.EqualFold(s, iv.String()) {
			return iv, nil
		}
	}
	return 0, fmt.Errorf("tagseg: unknown interval %q (want day, week, month, quarter or year): %w", s, ErrInvalid)
}

// start returns the start of the interval holding t.
func (iv Interval) start(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	switch iv {
	case Day:
		return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	case Week:
		day := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
		return day.AddDate(0, 0, -((int(day.Weekday()) + 6) % 7))
	case Month:
		return time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)
	case Quarter:
		return time.Date(y, m-(m-1)%3, 1, 0, 0, 0, 0, time.UTC)
	}
	return time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC)
}

// next returns the start of the interval after the one starting at s.
func (iv Interval) next(s time.Time) time.Time {
	switch iv {
	case Day:
		return s.AddDate(0, 0, 1)
	case Week:
		return s.AddDate(0, 0, 7)
	case Month:
		return s.AddDate(0, 1, 0)
	case Quarter:
		return s.AddDate(0, 3, 0)
	}
	return s.AddDate(1, 0, 0)
}

// Point is one interval of a Series: the segment's MRR figures at its end
// and the MRR movements of the events inside it.
type Point struct {
	Start, End   time.Time // the interval [Start, End), UTC
	MRR          int64     // at End: the value after every event before End
	Customers    uint64    // members with MRR > 0 at End
	ARPA, ARR    int64     // MRR / Customers (truncated, 0 if none); 12 × MRR
	NewBusiness  int64     // movements of events in [Start, End), cents:
	Expansion    int64     //   0 → x for a customer never paid before: +x (NewBusiness),
	Contraction  int64     //   0 → x after a churn: +x (Reactivation), x → 0: −x (Churn),
	Churn        int64     //   x → y > x: +(y−x), x → 0 < y < x: −(x−y).
	Reactivation int64     // So MRR(End) − MRR(Start) is the sum of the five.

	// Customers gained, reactivated and churned in [Start, End): the
	// numbers of 0 → x changes of customers never paid before, of 0 → x
	// changes after a churn, and of x → 0 changes. So Customers(End) −
	// Customers(Start) = NewCustomers + ReactivatedCustomers −
	// ChurnedCustomers.
	NewCustomers, ReactivatedCustomers, ChurnedCustomers uint64

	// ChartMogul's rates, in percent (ChartMogul's "Standard (B2B)"
	// formulas), 0 when their denominator is 0:
	//   CustomerChurnRate: of the customers paying at Start, the share
	//     that churned (an x → 0 change) in the interval; customers who
	//     both joined and churned in it are not counted.
	//   MRRChurnRate, the net MRR churn rate: (churn + contraction −
	//     expansion − reactivation, as amounts) / MRR at Start; negative
	//     when expansion and reactivation exceed churn and contraction.
	CustomerChurnRate, MRRChurnRate float64
	// LTV is ARPA / CustomerChurnRate (as a fraction), cents, truncated;
	// 0 when the churn rate is 0 (as ChartMogul: no churn, no estimate).
	LTV int64
}

// maxPoints bounds the length of a Series.
const maxPoints = 100_000

// seriesAcc accumulates the movements of one interval.
// Every figure is a sum of each member's share, so that kept series are
// brought forward by adding and taking away shares (answers.go): a field
// added here is added to add too.
type seriesAcc struct {
	mov    [5]int64 // new business, expansion, contraction, churn, reactivation
	paying int64    // change in the number of paying customers
	n      [4]int64 // customers gained (new), reactivated and churned (changes), lost (cnLost)
}

// The counts of seriesAcc.n.
const (
	cnNew         = iota // 0 → x changes of customers never paid before
	cnReactivated        // 0 → x changes after a churn
	cnChurned            // x → 0 changes
	cnLost               // customers paying at the interval's start with an x → 0 change in it
)

// add adds sign × o to a.
func (a *seriesAcc) add(o *seriesAcc, sign int64) {
	a.paying += sign * o.paying
	for k := range a.mov {
		a.mov[k] += sign * o.mov[k]
	}
	for k := range a.n {
		a.n[k] += sign * o.n[k]
	}
}

const (
	mvNew = iota
	mvExpansion
	mvContraction
	mvChurn
	mvReactivation
)

// Series returns the MRR figures and movements of the segment e for every
// interval that intersects the closed range [from, to], in order. Points
// are whole intervals, not clipped to [from, to]: a to exactly on a
// boundary includes the interval starting there.
//
// Membership is today's: e picks the customers by their current tags and
// fields, and the series sums their whole MRR history (as ChartMogul's
// segment filters do). Whether a 0 → x change is new business or a
// reactivation depends on the customer's history before it, from before
// from included.
//
// from after to, an unknown interval, or more than 100,000 points gives
// ErrInvalid.
//
// The work is one pass over the members' event histories, held in memory
// as arrays, split over GOMAXPROCS goroutines; no file access.
func (tx *Tx) Series(e Expr, from, to time.Time, every Interval) ([]Point, error) {
	return tx.SeriesContext(context.Background(), e, from, to, every)
}

// SeriesContext is Series, given up when ctx is done: the members' pass
// checks it every cancelEvery·64 members and returns ctx's error, wrapped.
func (tx *Tx) SeriesContext(ctx context.Context, e Expr, from, to time.Time, every Interval) ([]Point, error) {
	bounds, err := seriesBounds(from, to, every)
	if err != nil {
		return nil, err
	}
	if a := tx.answers(); a != nil {
		var pts []Point
		ok := false
		err := tx.read(func() (err error) { pts, ok, err = a.series(ctx, tx, e, bounds, every); return err })
		if ok || err != nil {
			return pts, err
		}
	}
	var sa *seriesAns
	err = tx.run(func(st *state, btx *bolt.Tx) error {
		ev := &evaluator{ctx: ctx, ix: tx.ix, st: st, btx: btx}
		v, err := ev.eval(e)
		if err != nil {
			return err
		}
		sa, err = st.seriesOf(ctx, v.bm, bounds, nil)
		return err
	})
	if err != nil {
		return nil, err
	}
	return sa.points(bounds), nil
}

// seriesBounds checks a Series' arguments and returns the boundaries of its
// intervals: bounds[i] is the start of point i, the last one the end of
// the last point.
func seriesBounds(from, to time.Time, every Interval) ([]time.Time, error) {
	if every < Day || every > Year {
		return nil, fmt.Errorf("tagseg: series: unknown interval %d: %w", int(every), ErrInvalid)
	}
	if from.After(to) {
		return nil, fmt.Errorf("tagseg: series: from %v is after to %v: %w", from, to, ErrInvalid)
	}
	for _, t := range []time.Time{from, to} {
		if y := t.UTC().Year(); y < 1678 || y > 2261 {
			return nil, fmt.Errorf("tagseg: series: time %v out of range (years 1678–2261): %w", t, ErrInvalid)
		}
	}
	var bounds []time.Time
	for s := every.start(from); !s.After(to); s = every.next(s) {
		if len(bounds) == maxPoints {
			return nil, fmt.Errorf("tagseg: series: more than %d %ss from %v to %v: %w", maxPoints, every, from, to, ErrInvalid)
		}
		bounds = append(bounds, s)
	}
	bounds = append(bounds, every.next(bounds[len(bounds)-1]))
	if bounds[len(bounds)-1].Year() > 2261 {
		return nil, fmt.Errorf("tagseg: series: range beyond the year 2261: %w", ErrInvalid)
	}
	return bounds, nil
}

// seriesAns is what a Series sums over the members, from which its points
// follow: the movements before the first boundary (open, and the MRR
// there, open0) and those of each interval. Each member adds its share, so
// a change of members or of their histories changes it by their shares
// only (see answers.go).
type seriesAns struct {
	loc   *locator
	open  seriesAcc
	open0 int64
	accs  []seriesAcc
}

// newSeriesAns returns empty sums for the intervals of bounds (loc nil) or
// of the locator loc.
func newSeriesAns(bounds []time.Time, loc *locator) *seriesAns {
	if loc == nil {
		nanos := make([]int64, len(bounds))
		for i, b := range bounds {
			nanos[i] = b.UnixNano()
		}
		loc = newLocator(nanos)
	}
	return &seriesAns{loc: loc, accs: make([]seriesAcc, len(loc.nanos)-1)}
}

// sub takes d's figures away from sa's.
func (sa *seriesAns) sub(d *seriesAns) { sa.addAll(d, -1) }

// merge adds d's figures to sa's.
func (sa *seriesAns) merge(d *seriesAns) { sa.addAll(d, 1) }

func (sa *seriesAns) addAll(d *seriesAns, sign int64) {
	sa.open.add(&d.open, sign)
	sa.open0 += sign * d.open0
	for i := range sa.accs {
		sa.accs[i].add(&d.accs[i], sign)
	}
}

// seriesOf sums the members' histories on st: one pass over their event
// histories, held in memory as arrays, split over GOMAXPROCS goroutines.
// loc is the locator of bounds, or nil to make one.
func (st *state) seriesOf(ctx context.Context, members *roaring.Bitmap, bounds []time.Time, loc *locator) (*seriesAns, error) {
	ids := members.ToArray()
	w := min(runtime.GOMAXPROCS(0), len(ids)/4096+1)
	parts := make([]*seriesAns, w)
	touches := make([]int64, w) // the first events' times, summed only to be read
	var wg sync.WaitGroup
	for p := range w {
		part := newSeriesAns(bounds, loc)
		loc, parts[p] = part.loc, part
		lo, hi := p*len(ids)/w, (p+1)*len(ids)/w
		wg.Go(func() {
			// By batches of members: their histories located, their
			// first events read (loads that do not depend on each
			// other, so their cache misses overlap), then replayed.
			var hs [readAhead][]mrrEvent
			for b := lo; b < hi; b += readAhead {
				if (b-lo)/readAhead%cancelEvery == 0 && ctx.Err() != nil {
					return
				}
				batch := ids[b:min(b+readAhead, hi)]
				for k, id := range batch {
					hs[k] = st.hist.at(id)
				}
				for _, h := range hs[:len(batch)] {
					if len(h) > 0 {
						touches[p] += h[0].at
					}
				}
				for _, h := range hs[:len(batch)] {
					replay(h, part.loc, &part.open, &part.open0, part.accs)
				}
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("tagseg: series: %w", err)
	}
	sa := parts[0]
	for _, part := range parts[1:] {
		sa.merge(part)
	}
	return sa, nil
}

// points returns the Series' points from its sums.
func (sa *seriesAns) points(bounds []time.Time) []Point {
	out := make([]Point, len(sa.accs))
	mrr, paying := sa.open0, sa.open.paying
	for i, a := range sa.accs {
		mrr0, paying0 := mrr, paying // at Start
		for _, m := range a.mov {
			mrr += m
		}
		paying += a.paying
		p := Point{
			Start: bounds[i], End: bounds[i+1],
			MRR: mrr, Customers: uint64(paying), ARR: 12 * mrr,
			NewBusiness: a.mov[mvNew], Expansion: a.mov[mvExpansion], Contraction: a.mov[mvContraction],
			Churn: a.mov[mvChurn], Reactivation: a.mov[mvReactivation],
			NewCustomers: uint64(a.n[cnNew]), ReactivatedCustomers: uint64(a.n[cnReactivated]),
			ChurnedCustomers: uint64(a.n[cnChurned]),
		}
		if paying > 0 {
			p.ARPA = mrr / paying
		}
		if paying0 > 0 {
			p.CustomerChurnRate = 100 * float64(a.n[cnLost]) / float64(paying0)
		}
		if mrr0 > 0 {
			lost := -(a.mov[mvChurn] + a.mov[mvContraction]) - (a.mov[mvExpansion] + a.mov[mvReactivation])
			p.MRRChurnRate = 100 * float64(lost) / float64(mrr0)
		}
		if p.CustomerChurnRate > 0 {
			p.LTV = int64(float64(p.ARPA) / (p.CustomerChurnRate / 100))
		}
		out[i] = p
	}
	return out
}

// readAhead is the number of members whose data Series and TagStats
// locate and start reading before working on them: loads that do not
// depend on each other, whose cache misses overlap.
const readAhead = 64

// locator finds the interval of an instant: through a table by whole days
// from the first boundary when the range is not too long (boundaries are
// whole UTC days), else by binary search.
type locator struct {
	nanos []int64
	byDay []int32 // interval of each day since nanos[0], or nil
}

const dayNanos = int64(24 * time.Hour)

func newLocator(nanos []int64) *locator {
	l := &locator{nanos: nanos}
	// The span in uint64: from 1678 to 2262 it exceeds MaxInt64.
	days := (uint64(nanos[len(nanos)-1]) - uint64(nanos[0])) / uint64(dayNanos)
	if days <= 1<<16 {
		l.byDay = make([]int32, days)
		i := int32(0)
		for d := range l.byDay {
			for nanos[i+1] <= nanos[0]+int64(d)*dayNanos {
				i++
			}
			l.byDay[d] = i
		}
	}
	return l
}

// interval returns i with nanos[i] <= at < nanos[i+1]; at must be in range.
func (l *locator) interval(at int64) int {
	if l.byDay != nil {
		return int(l.byDay[(at-l.nanos[0])/dayNanos])
	}
	i, found := slices.BinarySearch(l.nanos, at)
	if !found {
		i--
	}
	return i
}

// replay walks one customer's history: events before the first boundary go
// into open (and the MRR there into open0), events in interval i into
// accs[i]; later ones are not needed.
func replay(h []mrrEvent, loc *locator, open *seriesAcc, open0 *int64, accs []seriesAcc) {
	var prev int64
	paid := false
	nanos := loc.nanos
	end := nanos[len(nanos)-1]
	// The interval of the last change replayed, whether the customer paid
	// at its start, and whether it has been counted lost there.
	last, paidAtStart, lost := -1, false, false
	for _, e := range h {
		if e.at >= end {
			break
		}
		cur := e.cents
		if cur == prev {
			continue
		}
		var kind int
		switch {
		case prev == 0:
			kind = mvNew
			if paid {
				kind = mvReactivation
			}
		case cur == 0:
			kind = mvChurn
		case cur > prev:
			kind = mvExpansion
		default:
			kind = mvContraction
		}
		var dp int64
		if prev == 0 {
			dp = 1
		} else if cur == 0 {
			dp = -1
		}
		if e.at < nanos[0] {
			*open0 += cur - prev
			open.paying += dp
		} else {
			i := loc.interval(e.at)
			if i != last { // the first change in interval i: prev held since its start
				last, paidAtStart, lost = i, prev > 0, false
			}
			a := &accs[i]
			a.mov[kind] += cur - prev
			a.paying += dp
			switch kind {
			case mvNew:
				a.n[cnNew]++
			case mvReactivation:
				a.n[cnReactivated]++
			case mvChurn:
				a.n[cnChurned]++
				if paidAtStart && !lost {
					a.n[cnLost]++
					lost = true
				}
			}
		}
		prev = cur
		if cur > 0 {
			paid = true
		}
	}
}

// Series returns the MRR series of the segment e; see Tx.Series.
func (ix *Index) Series(e Expr, from, to time.Time, every Interval) (out []Point, err error) {
	return ix.SeriesContext(context.Background(), e, from, to, every)
}

// SeriesContext is Series, given up when ctx is done; see Tx.SeriesContext.
func (ix *Index) SeriesContext(ctx context.Context, e Expr, from, to time.Time, every Interval) (out []Point, err error) {
	err = ix.viewExpr(e, func(tx *Tx) error { out, err = tx.SeriesContext(ctx, e, from, to, every); return err })
	return out, err
}
