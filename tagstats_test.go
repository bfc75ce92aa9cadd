package tagseg

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestTagStatsModel checks TagStats against a map model on random data:
// random segments, prefixes, limits and both orders, with ties on purpose
// (MRR values from a tiny set, so equal sums are common).
func TestTagStatsModel(t *testing.T) {
	r := newRand(testSeed(t))
	ix := openTest(t)
	m := newModel()
	tags := []string{"feature-a", "feature-b", "feature-c", "feature-d", "feat", "plan-x", "plan-y", "z"}
	err := ix.Update(func(tx *Tx) error {
		for i := range 400 {
			var ts []string
			for _, tg := range tags {
				if r.IntN(3) == 0 {
					ts = append(ts, tg)
				}
			}
			c, err := tx.CreateCustomer(Customer{ExternalID: fmt.Sprint(i), Country: pick(r, countryPool), Tags: ts})
			if err != nil {
				return err
			}
			mc := &mCust{c: Customer{UUID: c.UUID, ID: c.ID, ExternalID: c.ExternalID, Country: c.Country}, events: map[int64]int64{}}
			mc.tags = c.Tags
			m.custs[c.UUID] = mc
			m.byID[c.ID] = c.UUID
			if v := int64(r.IntN(4)) * 100; r.IntN(4) > 0 {
				if err := tx.SetMRR(c.UUID, day(2024, 1, 1), v); err != nil {
					return err
				}
				mc.events[day(2024, 1, 1).UnixNano()] = v
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func(r, d uint64, b int) { memberRun, denseShare, blockBits = r, d, b }(memberRun, denseShare, blockBits)
	for round := range 400 {
		// The members in one run or split into runs; the forward index
		// built again now and then, by large or tiny blocks of IDs, with
		// no dense tags, some or all.
		memberRun = []uint64{65536, 7}[round%2]
		if round%20 == 4 {
			blockBits = []int{16, 3, 5}[round/20%3]
			denseShare = []uint64{0, 3, 16, 2}[round/20%4]
			ix.dropForward()
		}
		e := randExpr(r, 2)
		opt := TagStatsOptions{Prefix: pick(r, []string{"", "feature-", "feat", "plan-", "nope"}), Limit: r.IntN(6), ByCount: r.IntN(2) == 0}
		got, err := ix.TagStats(e, opt)
		if err != nil {
			t.Fatal(err)
		}
		// The model: sums per tag over the members, then the documented order.
		sums := map[string]*TagStat{}
		for u := range m.eval(e) {
			c := m.custs[u]
			for _, tg := range c.tags {
				if !strings.HasPrefix(tg, opt.Prefix) {
					continue
				}
				s := sums[tg]
				if s == nil {
					s = &TagStat{Tag: tg}
					sums[tg] = s
				}
				s.Customers++
				s.MRR += c.mrr()
			}
		}
		var want []TagStat
		for _, tg := range slices.Sorted(maps.Keys(sums)) {
			want = append(want, *sums[tg])
		}
		sort.SliceStable(want, func(i, j int) bool {
			a, b := want[i], want[j]
			if opt.ByCount {
				if a.Customers != b.Customers {
					return a.Customers > b.Customers
				}
				return a.MRR > b.MRR
			}
			if a.MRR != b.MRR {
				return a.MRR > b.MRR
			}
			return a.Customers > b.Customers
		})
		if opt.Limit > 0 && len(want) > opt.Limit {
			want = want[:opt.Limit]
		}
		if want == nil {
			want = []TagStat{}
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Fatalf("round %d: TagStats(%s, %+v) (-model +index):\n%s", round, dump(e), opt, d)
		}
	}
	if _, err := ix.TagStats(All(), TagStatsOptions{Limit: -1}); !errors.Is(err, ErrInvalid) {
		t.Errorf("negative limit: %v", err)
	}
}

func TestSavedSegments(t *testing.T) {
	path := t.TempDir() + "/s.db"
	ix := openTestAt(t, path, nil)
	if err := ix.SaveSegment("at risk", `tag:churn-risk-high AND NOT tag:managed-account`); err != nil {
		t.Fatal(err)
	}
	if err := ix.SaveSegment("big", `mrr >= 100000`); err != nil {
		t.Fatal(err)
	}
	if err := ix.SaveSegment("big", `mrr >= 200000`); err != nil { // replaces
		t.Fatal(err)
	}
	var se *SyntaxError
	if err := ix.SaveSegment("bad", `tag:a AND (`); !errors.As(err, &se) {
		t.Errorf("bad query saved: %v", err)
	}
	if err := ix.SaveSegment("", `*`); !errors.Is(err, ErrInvalid) {
		t.Errorf("empty name: %v", err)
	}
	want := map[string]string{"at risk": `tag:churn-risk-high AND NOT tag:managed-account`, "big": `mrr >= 200000`}
	if got := maps.Collect(ix.SavedSegments()); !cmp.Equal(got, want) {
		t.Errorf("SavedSegments = %v", got)
	}
	ix.Close()
	ix = openTestAt(t, path, nil)
	if got := maps.Collect(ix.SavedSegments()); !cmp.Equal(got, want) {
		t.Errorf("after reopen: %v", got)
	}
	if err := ix.DeleteSegment("big"); err != nil {
		t.Fatal(err)
	}
	if err := ix.DeleteSegment("big"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
	if got := maps.Collect(ix.SavedSegments()); len(got) != 1 {
		t.Errorf("after delete: %v", got)
	}
}

// TestTopK checks the heap selection against a full sort and cut, on
// random slices with many ties, for every k from 0 to past the length.
func TestTopK(t *testing.T) {
	r := newRand(testSeed(t))
	type kv struct{ K, V int }
	order := func(a, b kv) int {
		if a.K != b.K {
			return b.K - a.K
		}
		return a.V - b.V
	}
	for range 200 {
		s := make([]kv, r.IntN(50))
		for i := range s {
			s[i] = kv{r.IntN(5), i}
		}
		for k := range len(s) + 3 {
			want := slices.Clone(s)
			slices.SortFunc(want, order)
			if k > 0 && len(want) > k {
				want = want[:k]
			}
			got := topK(slices.Clone(s), k, order)
			if d := cmp.Diff(want, got); d != "" {
				t.Fatalf("topK(%v, %d) (-sort +topK):\n%s", s, k, d)
			}
		}
	}
}

// dropForward forgets the current snapshot's forward index, so that the
// next TagStats that needs it builds it again.
func (ix *Index) dropForward() {
	if st, err := ix.snapshot(); err == nil {
		st.fwd.Store(nil)
	}
}

// TestContextGivesUp checks that TagStatsContext and SeriesContext return
// the context's error when it is done, and the same answers as TagStats
// and Series when it is not.
func TestContextGivesUp(t *testing.T) {
	ix := openTest(t)
	err := ix.Update(func(tx *Tx) error {
		for i := range 200 {
			c, err := tx.CreateCustomer(Customer{ExternalID: fmt.Sprint(i), Tags: []string{"a", fmt.Sprint("t", i%7)}})
			if err != nil {
				return err
			}
			if err := tx.SetMRR(c.UUID, day(2024, 1+time.Month(i%12), 1), int64(i)*100); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	from, to := day(2024, 1, 1), day(2024, 12, 31)
	done, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := ix.TagStatsContext(done, Tag("a"), TagStatsOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("TagStatsContext, cancelled: %v", err)
	}
	if _, err := ix.SeriesContext(done, Tag("a"), from, to, Month); !errors.Is(err, context.Canceled) {
		t.Errorf("SeriesContext, cancelled: %v", err)
	}
	late, cancel2 := context.WithDeadline(context.Background(), time.Unix(0, 0))
	defer cancel2()
	err = ix.View(func(tx *Tx) error {
		_, err := tx.TagStatsContext(late, Tag("a"), TagStatsOptions{})
		return err
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Tx.TagStatsContext, past its deadline: %v", err)
	}
	stats, err := ix.TagStats(Tag("a"), TagStatsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	statsCtx, err := ix.TagStatsContext(context.Background(), Tag("a"), TagStatsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(stats, statsCtx); d != "" {
		t.Errorf("TagStatsContext differs from TagStats:\n%s", d)
	}
	pts, err := ix.Series(Tag("a"), from, to, Month)
	if err != nil {
		t.Fatal(err)
	}
	ptsCtx, err := ix.SeriesContext(context.Background(), Tag("a"), from, to, Month)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(pts, ptsCtx); d != "" {
		t.Errorf("SeriesContext differs from Series:\n%s", d)
	}
}
