package tagseg

import (
	"cmp"
	"fmt"
	"slices"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// TestReadCustomersByMRRModel pages random segments in MRR order, both
// ways, with random page sizes, and compares the order with a sort of the
// model's members by (MRR, ID); inside an Update too, where the batch's own
// MRR changes decide the order.
func TestReadCustomersByMRRModel(t *testing.T) {
	seed := testSeed(t)
	r := newRand(seed)
	ix := openTest(t)
	m := newModel()
	mrr := map[string]int64{}
	values := []int64{0, 0, 1, 2, 3, 5, 8, 100, 1 << 20, 1<<40 - 1, 12345}
	for round := range 6 {
		err := ix.Update(func(tx *Tx) error {
			for range 40 {
				c := randCustomer(r, 0)
				c.ExternalID = ""
				got, err := tx.CreateCustomer(c)
				if err != nil {
					return err
				}
				tags := c.Tags
				c.UUID, c.ID, c.Tags = got.UUID, got.ID, nil
				m.custs[got.UUID] = &mCust{c: c, events: map[int64]int64{}}
				m.byID[got.ID] = got.UUID
				m.addTags(got.UUID, tags)
			}
			for u := range m.custs {
				if r.IntN(3) == 0 {
					v := values[r.IntN(len(values))]
					if err := tx.SetMRR(u, time.Unix(int64(round), 0), v); err != nil {
						return err
					}
					mrr[u] = v
					m.custs[u].events[time.Unix(int64(round), 0).UnixNano()] = v
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for range 8 {
			e := randExpr(r, 2)
			if r.IntN(3) == 0 {
				e = All()
			}
			for _, desc := range []bool{true, false} {
				// The planes' walk alone, small sets sorted alone, and both.
				defer func(n uint64) { smallSet = n }(smallSet)
				smallSet = []uint64{0, 3, 1024}[r.IntN(3)]
				want := modelByMRR(m, mrr, e, desc)
				var got []string
				var after *MRRPosition
				err := ix.View(func(tx *Tx) error {
					seg, err := tx.Segment(e)
					if err != nil {
						return err
					}
					for { // pages of 1 to 7
						page := 1 + r.IntN(7)
						n := 0
						for c, err := range seg.ReadCustomersByMRR(desc, after) {
							if err != nil {
								return err
							}
							if c.MRR != mrr[c.UUID] {
								return fmt.Errorf("%s: MRR %d, model %d", c.UUID, c.MRR, mrr[c.UUID])
							}
							got = append(got, c.UUID)
							after = &MRRPosition{c.MRR, c.ID}
							if n++; n == page {
								break
							}
						}
						if n < page {
							return nil
						}
					}
				})
				if err != nil {
					t.Fatalf("seed %d: %s: %v", seed, dump(e), err)
				}
				if diff := gocmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
					t.Fatalf("seed %d: %s desc=%v (-model +index):\n%s", seed, dump(e), desc, diff)
				}
			}
		}
	}
	// In an Update, the batch's own MRR changes order its segments.
	err := ix.Update(func(tx *Tx) error {
		us := slices.Sorted(func(yield func(string) bool) {
			for u := range m.custs {
				if !yield(u) {
					return
				}
			}
		})
		for _, u := range us[:10] {
			v := int64(r.IntN(1000))
			if err := tx.SetMRR(u, time.Unix(100, 0), v); err != nil {
				return err
			}
			mrr[u] = v
			m.custs[u].events[time.Unix(100, 0).UnixNano()] = v
		}
		seg, err := tx.Segment(All())
		if err != nil {
			return err
		}
		var got []string
		for c, err := range seg.ReadCustomersByMRR(true, nil) {
			if err != nil {
				return err
			}
			got = append(got, c.UUID)
		}
		if diff := gocmp.Diff(modelByMRR(m, mrr, All(), true), got); diff != "" {
			t.Errorf("in an Update (-model +index):\n%s", diff)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// modelByMRR is the members of e, sorted by MRR (desc or not), then ID.
func modelByMRR(m *model, mrr map[string]int64, e Expr, desc bool) []string {
	var us []string
	for u := range m.eval(e) {
		us = append(us, u)
	}
	slices.SortFunc(us, func(a, b string) int {
		c := cmp.Compare(mrr[a], mrr[b])
		if desc {
			c = -c
		}
		return cmp.Or(c, cmp.Compare(m.custs[a].c.ID, m.custs[b].c.ID))
	})
	return us
}

// TestMRRSpan: the earliest and latest events of every customer's history,
// deleted customers' gone, a batch's own events included.
func TestMRRSpan(t *testing.T) {
	ix := openTest(t)
	if _, _, ok, err := ix.MRRSpan(); ok || err != nil {
		t.Fatalf("empty index: ok %v, %v", ok, err)
	}
	var uuids []string
	for i := range 3 {
		c := mustCreate(t, ix, Customer{Email: fmt.Sprintf("s%d@example.com", i)})
		uuids = append(uuids, c.UUID)
	}
	set := func(i int, at time.Time) {
		t.Helper()
		if err := ix.SetMRR(uuids[i], at, 100); err != nil {
			t.Fatal(err)
		}
	}
	set(0, day(2023, 5, 1))
	set(0, day(2024, 1, 1))
	set(1, day(2022, 2, 2)) // earliest, then deleted
	set(2, day(2025, 3, 3))
	check := func(first, last time.Time) {
		t.Helper()
		f, l, ok, err := ix.MRRSpan()
		if !ok || err != nil || !f.Equal(first) || !l.Equal(last) {
			t.Errorf("MRRSpan: %v %v %v %v; want %v %v", f, l, ok, err, first, last)
		}
	}
	check(day(2022, 2, 2), day(2025, 3, 3))
	if err := ix.DeleteCustomer(uuids[1]); err != nil {
		t.Fatal(err)
	}
	check(day(2023, 5, 1), day(2025, 3, 3))
	ix.Update(func(tx *Tx) error {
		tx.SetMRR(uuids[0], day(2020, 1, 1), 5)
		if f, _, _, _ := tx.MRRSpan(); !f.Equal(day(2020, 1, 1)) {
			t.Errorf("in the batch: first %v", f)
		}
		return nil
	})
}
