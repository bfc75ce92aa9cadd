package tagseg

import (
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// seriesModel computes a Series the slow, obvious way: per point, per
// customer, straight from the definitions.
func seriesModel(m *model, members map[string]bool, from, to time.Time, every Interval) []Point {
	// Interval starts, written independently of Interval.start/next.
	start := func(t time.Time) time.Time {
		t = t.UTC()
		switch every {
		case Day:
			return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
		case Week:
			d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
			for d.Weekday() != time.Monday {
				d = d.AddDate(0, 0, -1)
			}
			return d
		case Month:
			return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
		case Quarter:
			q := (int(t.Month()) - 1) / 3
			return time.Date(t.Year(), time.Month(3*q+1), 1, 0, 0, 0, 0, time.UTC)
		}
		return time.Date(t.Year(), 1, 1, 0, 0, 0, 0, time.UTC)
	}
	step := map[Interval][3]int{Day: {0, 0, 1}, Week: {0, 0, 7}, Month: {0, 1, 0}, Quarter: {0, 3, 0}, Year: {1, 0, 0}}[every]
	var out []Point
	for s := start(from); !s.After(to); s = s.AddDate(step[0], step[1], step[2]) {
		e := s.AddDate(step[0], step[1], step[2])
		p := Point{Start: s, End: e}
		var mrr0 int64          // MRR at Start
		var paying0, lost int64 // customers paying at Start; those of them who churned in [s, e)
		for u := range members {
			c := m.custs[u]
			times := slices.Sorted(maps.Keys(c.events))
			var v, v0 int64 // values at End and at Start
			for _, t := range times {
				if t < e.UnixNano() {
					v = c.events[t]
				}
				if t < s.UnixNano() {
					v0 = c.events[t]
				}
			}
			p.MRR += v
			if v > 0 {
				p.Customers++
			}
			mrr0 += v0
			if v0 > 0 {
				paying0++
			}
			var prev int64
			paid, churned := false, false
			for _, t := range times {
				cur := c.events[t]
				if t >= s.UnixNano() && t < e.UnixNano() && cur != prev {
					switch {
					case prev == 0 && !paid:
						p.NewBusiness += cur
						p.NewCustomers++
					case prev == 0:
						p.Reactivation += cur
						p.ReactivatedCustomers++
					case cur == 0:
						p.Churn -= prev
						p.ChurnedCustomers++
						churned = true
					case cur > prev:
						p.Expansion += cur - prev
					default:
						p.Contraction -= prev - cur
					}
				}
				if cur > 0 {
					paid = true
				}
				prev = cur
			}
			if v0 > 0 && churned {
				lost++
			}
		}
		p.ARR = 12 * p.MRR
		if p.Customers > 0 {
			p.ARPA = p.MRR / int64(p.Customers)
		}
		if paying0 > 0 {
			p.CustomerChurnRate = 100 * float64(lost) / float64(paying0)
		}
		if mrr0 > 0 {
			p.MRRChurnRate = 100 * float64(-p.Churn-p.Contraction-p.Expansion-p.Reactivation) / float64(mrr0)
		}
		if lost > 0 {
			p.LTV = int64(float64(p.ARPA) / (p.CustomerChurnRate / 100))
		}
		out = append(out, p)
	}
	return out
}

// TestSeriesModel checks every field of every point against the model, for
// random event streams (out of order, same instant, same day, before from)
// and all five intervals.
func TestSeriesModel(t *testing.T) {
	rounds := 30
	if testing.Short() {
		rounds = 8
	}
	seed := testSeed(t)
	r := newRand(seed)
	path := filepath.Join(t.TempDir(), "series.db")
	ix := openTestAt(t, path, &Options{NoSync: true})
	m := newModel()
	for round := range rounds {
		// More customers and events.
		for range 5 {
			c := randCustomer(r, 0)
			c.ExternalID = ""
			got := mustCreate(t, ix, c)
			tags := c.Tags
			c.UUID, c.ID, c.Tags = got.UUID, got.ID, nil
			m.custs[got.UUID] = &mCust{c: c, events: map[int64]int64{}}
			m.byID[got.ID] = got.UUID
			m.addTags(got.UUID, tags)
		}
		us := slices.Sorted(maps.Keys(m.custs))
		err := ix.Update(func(tx *Tx) error {
			for range 40 {
				u := pick(r, us)
				at := day(2022, 6, 1).Add(time.Duration(r.IntN(4*365*24*4)) * 15 * time.Minute)
				if r.IntN(5) == 0 { // collide with an existing instant
					for t := range m.custs[u].events {
						at = time.Unix(0, t).UTC()
						break
					}
				}
				cents := int64(0)
				if r.IntN(4) > 0 {
					cents = int64(1+r.IntN(5)) * 1000
				}
				if err := tx.SetMRR(u, at, cents); err != nil {
					return err
				}
				m.custs[u].events[at.UnixNano()] = cents
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if round%7 == 6 && len(us) > 0 { // a deleted customer leaves every series
			u := pick(r, us)
			if err := ix.DeleteCustomer(u); err != nil {
				t.Fatal(err)
			}
			delete(m.byID, m.custs[u].c.ID)
			delete(m.custs, u)
		}
		if round%10 == 9 { // histories survive a reopen
			if err := ix.Close(); err != nil {
				t.Fatal(err)
			}
			ix = openTestAt(t, path, &Options{NoSync: true})
		}
		for _, every := range []Interval{Day, Week, Month, Quarter, Year} {
			e := randExpr(r, 2)
			from := day(2022, 1, 1).Add(time.Duration(r.IntN(4*365)) * 24 * time.Hour).Add(time.Duration(r.IntN(86400)) * time.Second)
			span := map[Interval]int{Day: 60, Week: 200, Month: 900, Quarter: 1500, Year: 2000}[every]
			to := from.Add(time.Duration(r.IntN(span)) * 24 * time.Hour)
			got, err := ix.Series(e, from, to, every)
			if err != nil {
				t.Fatalf("round %d: Series(%s, %v, %v, %v): %v", round, dump(e), from, to, every, err)
			}
			want := seriesModel(m, m.eval(e), from, to, every)
			if d := cmp.Diff(want, got); d != "" {
				t.Fatalf("round %d: Series(%s, %v, %v, %v) (-model +index):\n%s", round, dump(e), from, to, every, d)
			}
			for i, p := range got {
				if i > 0 && p.MRR-got[i-1].MRR != p.NewBusiness+p.Expansion+p.Contraction+p.Churn+p.Reactivation {
					t.Fatalf("point %d: movements do not add up", i)
				}
				if i > 0 && int64(p.Customers)-int64(got[i-1].Customers) != int64(p.NewCustomers+p.ReactivatedCustomers)-int64(p.ChurnedCustomers) {
					t.Fatalf("point %d: customer movements do not add up", i)
				}
			}
		}
	}
}

func TestSeriesBounds(t *testing.T) {
	ix := openTest(t)
	c := mustCreate(t, ix, Customer{Email: "a@b.c"})
	if err := ix.SetMRR(c.UUID, day(2024, 3, 15), 100); err != nil {
		t.Fatal(err)
	}
	// A to exactly on a boundary includes the interval starting there.
	got, err := ix.Series(All(), day(2024, 1, 1), day(2024, 3, 1), Month)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || !got[2].Start.Equal(day(2024, 3, 1)) || !got[2].End.Equal(day(2024, 4, 1)) || got[2].MRR != 100 || got[2].NewBusiness != 100 {
		t.Fatalf("got %+v", got)
	}
	// ISO weeks start on Monday: 2024-01-03 is a Wednesday.
	got, err = ix.Series(All(), day(2024, 1, 3), day(2024, 1, 3), Week)
	if err != nil || len(got) != 1 || !got[0].Start.Equal(day(2024, 1, 1)) || !got[0].End.Equal(day(2024, 1, 8)) {
		t.Fatalf("week: %+v, %v", got, err)
	}
	for _, tc := range []struct {
		name     string
		from, to time.Time
		every    Interval
	}{
		{"from after to", day(2024, 2, 1), day(2024, 1, 1), Month},
		{"unknown interval", day(2024, 1, 1), day(2024, 2, 1), Interval(9)},
		{"too many points", day(1800, 1, 1), day(2200, 1, 1), Day},
		{"zero from", time.Time{}, day(2024, 1, 1), Year},
		{"beyond 2261", day(2024, 1, 1), day(2300, 1, 1), Year},
	} {
		if _, err := ix.Series(All(), tc.from, tc.to, tc.every); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err %v, want ErrInvalid", tc.name, err)
		}
	}
	if _, err := ix.Series(Where("nope", Eq, 1), day(2024, 1, 1), day(2024, 2, 1), Month); !errors.Is(err, ErrInvalidField) {
		t.Errorf("unknown field: %v", err)
	}
}

// TestSeriesRates: ChartMogul's worked examples. Customer churn rate: of
// 10 customers paying on March 1st, 1 churns; one who joins and churns in
// March is not counted: 10%. Net MRR churn rate: with $100 at the start,
// $10 lost to churn and $10 to contraction, $10 gained by expansion: 10%;
// with more expansion than losses, negative. LTV = ARPA / churn rate.
func TestSeriesRates(t *testing.T) {
	ix := openTest(t)
	var uuids []string
	for i := range 12 {
		c := mustCreate(t, ix, Customer{Email: fmt.Sprintf("c%d@example.com", i)})
		uuids = append(uuids, c.UUID)
	}
	set := func(i int, at time.Time, cents int64) {
		t.Helper()
		if err := ix.SetMRR(uuids[i], at, cents); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 10 { // $100 from ten customers on March 1st
		set(i, day(2024, 2, 1), 1000)
	}
	set(0, day(2024, 3, 5), 0)    // churn: −$10
	set(1, day(2024, 3, 6), 0)    // churn −$10, and back:
	set(1, day(2024, 3, 7), 1000) //   reactivation +$10
	set(2, day(2024, 3, 8), 0)    // the same for 2
	set(3, day(2024, 3, 9), 0)    // and 3
	set(2, day(2024, 3, 10), 1000)
	set(3, day(2024, 3, 10), 1000)
	set(4, day(2024, 3, 11), 0)    // a churn that stays
	set(5, day(2024, 3, 12), 2000) // expansion +$10
	set(10, day(2024, 3, 13), 500) // joins
	set(10, day(2024, 3, 20), 0)   //   and churns: not in the rate
	pts, err := ix.Series(All(), day(2024, 3, 1), day(2024, 3, 31), Month)
	if err != nil {
		t.Fatal(err)
	}
	p := pts[0]
	// Customers paying on March 1st who churned in March: 0..4 (five of
	// ten: 50%); changes: six churns, one gained, three reactivated.
	if p.CustomerChurnRate != 50 || p.ChurnedCustomers != 6 || p.NewCustomers != 1 || p.ReactivatedCustomers != 3 {
		t.Errorf("churn rate %v, churned %d, new %d, reactivated %d; want 50, 6, 1, 3", p.CustomerChurnRate, p.ChurnedCustomers, p.NewCustomers, p.ReactivatedCustomers)
	}
	// Net MRR churn: churn 10+10+10+10+10+5 = 55, expansion 10,
	// reactivation 30 → (55 − 40) / 100 = 15%.
	if p.MRRChurnRate != 15 {
		t.Errorf("MRR churn rate %v, want 15 (%+v)", p.MRRChurnRate, p)
	}
	// At the end: customers 1,2,3 (1000 each), 5 (2000), 6..9 (1000 each) =
	// 9000 from 8 → ARPA 1125; LTV 1125 / 0.5 = 2250.
	if p.ARPA != 1125 || p.LTV != 2250 {
		t.Errorf("ARPA %d, LTV %d; want 1125, 2250", p.ARPA, p.LTV)
	}
	// April: only expansion → a negative net MRR churn rate, no customer
	// churn and so no LTV.
	set(6, day(2024, 4, 2), 10000)
	pts, err = ix.Series(All(), day(2024, 4, 1), day(2024, 4, 30), Month)
	if err != nil {
		t.Fatal(err)
	}
	if p := pts[0]; p.MRRChurnRate != -100 || p.CustomerChurnRate != 0 || p.LTV != 0 {
		t.Errorf("April: MRR churn %v, customer churn %v, LTV %d; want -100, 0, 0", p.MRRChurnRate, p.CustomerChurnRate, p.LTV)
	}
}
