package tagseg

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
	gocmp "github.com/google/go-cmp/cmp"
	bolt "go.etcd.io/bbolt"
)

// randIndex opens an index (opts nil: openTest's) and makes writes random
// writes in it; it returns the random source (seed logged) and the UUIDs
// created.
func randIndex(t *testing.T, writes int, opts *Options) (*Index, *rand.Rand, []string) {
	t.Helper()
	r := newRand(testSeed(t))
	var ix *Index
	if opts == nil {
		ix = openTest(t)
	} else {
		ix = openTestAt(t, filepath.Join(t.TempDir(), "test.db"), opts)
	}
	var uuids []string
	for range writes {
		randWrite(t, r, ix, &uuids, -1)
	}
	return ix, r, uuids
}

// ans is every answer the tests ask of a segment.
type ans struct {
	Count, Paying uint64
	MRR, ARR      int64
	ARPA          int64
	IDs           []uint32
	Unknown       []string
	Series        [][]Point
	Stats         [][]TagStat
}

type seriesArgs struct {
	from, to time.Time
	every    Interval
}

var (
	testSeries = []seriesArgs{
		{day(2023, 1, 1), day(2025, 12, 31), Month},
		{day(2024, 2, 10), day(2024, 3, 5), Day},
		{day(2022, 11, 1), day(2026, 1, 1), Quarter},
	}
	testStatsOpts = []TagStatsOptions{
		{}, {Limit: 3}, {ByCount: true, Limit: 2}, {Prefix: "feature"},
		{Prefix: "churn-risk-", Limit: 1, ByCount: true}, {Prefix: "plan"}, {Prefix: "churn"}, {ByCount: true},
	}
)

// askTx asks e's answers through the transaction's reads (the kept
// answers, when the index keeps them).
func askTx(tx *Tx, e Expr) (ans, error) {
	var a ans
	seg, err := tx.Segment(e)
	if err != nil {
		return a, err
	}
	a.Count, a.Paying, a.MRR, a.ARR, a.ARPA = seg.Count(), seg.Paying(), seg.MRR(), seg.ARR(), seg.ARPA()
	a.IDs, a.Unknown = seg.IDs().ToArray(), seg.UnknownTags()
	n, err := tx.Count(e)
	if err != nil {
		return a, err
	}
	if n != a.Count {
		return a, fmt.Errorf("Count %d, Segment.Count %d", n, a.Count)
	}
	for _, s := range testSeries {
		pts, err := tx.Series(e, s.from, s.to, s.every)
		if err != nil {
			return a, err
		}
		a.Series = append(a.Series, pts)
	}
	for _, o := range testStatsOpts {
		st, err := tx.TagStats(e, o)
		if err != nil {
			return a, err
		}
		a.Stats = append(a.Stats, st)
	}
	return a, nil
}

// refAnswers computes e's answers afresh on a snapshot, without the kept
// answers: the members by the evaluator, the sums on the bit planes, the
// series by replaying the members' histories, and the tag statistics from
// each tag's bitmap (not through the forward index).
func refAnswers(ix *Index, st *state, btx *bolt.Tx, e Expr) (ans, error) {
	var a ans
	ev := &evaluator{ix: ix, st: st, btx: btx}
	v, err := ev.eval(e)
	if err != nil {
		return a, err
	}
	m := v.bm
	a.Count, a.IDs, a.Unknown = m.GetCardinality(), m.ToArray(), ev.unknown
	a.Paying, a.MRR = m.AndCardinality(st.paying), sumPlanes(m, st.planes)
	a.ARR = 12 * a.MRR
	if a.Paying > 0 {
		a.ARPA = a.MRR / int64(a.Paying)
	}
	for _, s := range testSeries {
		bounds, err := seriesBounds(s.from, s.to, s.every)
		if err != nil {
			return a, err
		}
		sa, err := st.seriesOf(context.Background(), m, bounds, nil)
		if err != nil {
			return a, err
		}
		a.Series = append(a.Series, sa.points(bounds))
	}
	var all []TagStat
	for t, bm := range st.tags.all() {
		both := roaring.And(m, bm)
		if n := both.GetCardinality(); n > 0 {
			all = append(all, TagStat{Tag: t, Customers: n, MRR: sumPlanes(both, st.planes)})
		}
	}
	for _, o := range testStatsOpts {
		var out []TagStat
		for _, s := range all {
			if strings.HasPrefix(s.Tag, o.Prefix) {
				out = append(out, s)
			}
		}
		if out == nil {
			out = []TagStat{}
		}
		a.Stats = append(a.Stats, topK(out, o.Limit, tagOrder(o.ByCount)))
	}
	return a, nil
}

// matchFresh asks e's answers through the transaction's reads and
// compares them with a fresh evaluation on its snapshot.
func matchFresh(tx *Tx, e Expr) error {
	got, gerr := askTx(tx, e)
	want, werr := refAnswers(tx.ix, tx.st, tx.btx, e)
	if (gerr != nil) != (werr != nil) {
		return fmt.Errorf("%s: errors differ: kept %v, fresh %v", e, gerr, werr)
	}
	if gerr != nil {
		return nil
	}
	if d := gocmp.Diff(want, got); d != "" {
		return fmt.Errorf("%s (txid %d): kept answers differ from fresh ones (-fresh +kept):\n%s", e, tx.st.txid, d)
	}
	return nil
}

// checkAnswers is matchFresh on the latest snapshot.
func checkAnswers(t *testing.T, ix *Index, e Expr, where string) {
	t.Helper()
	if err := ix.View(func(tx *Tx) error { return matchFresh(tx, e) }); err != nil {
		t.Fatalf("%s: %v", where, err)
	}
}

// TestAnswersModel asks the answers of a set of segments between random
// commits of every kind (tags, attributes, MRR, deletes, bulk changes,
// SetTagMembers, Update batches, Load, saved segments) and compares every
// kept answer — counts, sums, members, series points, whole rankings —
// with a fresh evaluation of the same snapshot. Each step asks only some
// of the segments, so that kept answers are brought forward over one
// commit or several.
func TestAnswersModel(t *testing.T) {
	defer func(b uint32, d int) { loadBatch, maxDirty = b, d }(loadBatch, maxDirty)
	loadBatch, maxDirty = 8, 3 // rankings merge changed tags in and settle them often
	ix, r, uuids := randIndex(t, 40, nil)
	exprs := []Expr{All(), Tag("vip"), Not(Tag("vip")), And(Tag("plan-pro"), Not(Tag("churn-risk-high")))}
	for range 14 {
		exprs = append(exprs, randExprAll(r, 2))
	}
	steps := 250
	if testing.Short() || raceEnabled {
		steps = 80
	}
	for step := range steps {
		what, _ := randWrite(t, r, ix, &uuids, step)
		for i, e := range exprs {
			if step > 0 && r.IntN(3) == 0 {
				continue
			}
			checkAnswers(t, ix, e, fmt.Sprintf("step %d (after %s), segment %d", step, what, i))
		}
	}
	cs := ix.CacheStats()
	t.Logf("cache: %+v, rolls %d", cs, ix.answers.rolls.Load())
	if cs.Hits == 0 || ix.answers.rolls.Load() == 0 {
		t.Fatalf("no kept answer was brought forward: %+v", cs)
	}
	keys := map[string]bool{}
	for _, e := range exprs {
		if _, err := ix.Count(e); err == nil {
			keys[e.String()] = true
		}
	}
	if cs.Entries != len(keys) {
		t.Fatalf("%d entries kept, want %d (one per valid segment)", cs.Entries, len(keys))
	}
}

// TestAnswersOldSnapshot checks that a reader on an older snapshot than a
// kept answer's gets its own snapshot's answers, and a newer reader the
// newer ones.
func TestAnswersOldSnapshot(t *testing.T) {
	ix, r, uuids := randIndex(t, 30, nil)
	exprs := []Expr{All(), Tag("vip"), Or(Tag("a"), Where("mrr", Gt, int64(0)))}
	for _, e := range exprs {
		checkAnswers(t, ix, e, "before")
	}
	ready, done := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		err := ix.View(func(tx *Tx) error {
			close(ready)
			<-done // meanwhile: commits, and newer readers bring the answers forward
			for _, e := range exprs {
				if err := matchFresh(tx, e); err != nil {
					t.Errorf("old reader: %v", err)
				}
			}
			return nil
		})
		if err != nil {
			t.Error(err)
		}
	})
	<-ready
	for step := range 10 {
		randWrite(t, r, ix, &uuids, step)
		if _, err := ix.CreateCustomer(Customer{Tags: []string{"vip", "a"}}); err != nil {
			t.Fatal(err)
		}
		for _, e := range exprs {
			checkAnswers(t, ix, e, fmt.Sprintf("newer, step %d", step))
		}
	}
	close(done)
	wg.Wait()
	for _, e := range exprs {
		checkAnswers(t, ix, e, "after")
	}
}

// TestAnswersEviction checks the memory bound and the order of eviction:
// least recently used first, saved segments' queries last.
func TestAnswersEviction(t *testing.T) {
	ix := openTest(t)
	for i := range 300 {
		mustCreate(t, ix, Customer{Tags: []string{fmt.Sprint("t", i%10), "all"}})
	}
	a := ix.answers
	seg := func(i int) {
		t.Helper()
		if _, err := ix.Segment(Tag(fmt.Sprint("t", i))); err != nil {
			t.Fatal(err)
		}
	}
	kept := func() []string {
		a.mu.Lock()
		defer a.mu.Unlock()
		var out []string
		for x := a.lru.next; x != &a.lru; x = x.next {
			out = append(out, x.key)
		}
		if a.bytes > a.max {
			t.Fatalf("%d bytes held, bound %d", a.bytes, a.max)
		}
		return out
	}
	seg(0)
	one := a.bytes
	a.max = 3*one + one/2 // room for three
	seg(1)
	seg(2)
	if d := gocmp.Diff([]string{"tag:t2", "tag:t1", "tag:t0"}, kept()); d != "" {
		t.Fatalf("after three (-want +got):\n%s", d)
	}
	seg(0) // used again: t1 is the least recently used now
	seg(3)
	if d := gocmp.Diff([]string{"tag:t3", "tag:t0", "tag:t2"}, kept()); d != "" {
		t.Fatalf("after t0 again and t3 (-want +got):\n%s", d)
	}
	if err := ix.SaveSegment("two", "tag:t2"); err != nil {
		t.Fatal(err)
	}
	seg(4)
	seg(5)
	if d := gocmp.Diff([]string{"tag:t5", "tag:t4", "tag:t2"}, kept()); d != "" {
		t.Fatalf("t2 saved, then t4 and t5 (-want +got):\n%s", d)
	}
	if err := ix.DeleteSegment("two"); err != nil {
		t.Fatal(err)
	}
	seg(6)
	if d := gocmp.Diff([]string{"tag:t6", "tag:t5", "tag:t4"}, kept()); d != "" {
		t.Fatalf("t2 no longer saved, then t6 (-want +got):\n%s", d)
	}
	cs := ix.CacheStats()
	if cs.Entries != 3 || cs.Bytes > cs.MaxBytes || cs.Misses != 7 || cs.Hits != 1 {
		t.Fatalf("CacheStats %+v: want 3 entries within the bound, 7 misses, 1 hit", cs)
	}
}

// TestAnswersOff checks that a negative CacheBytes keeps nothing and the
// answers are the same.
func TestAnswersOff(t *testing.T) {
	ix, _, _ := randIndex(t, 30, &Options{NoSync: true, CacheBytes: -1})
	if ix.answers != nil {
		t.Fatal("a cache with CacheBytes -1")
	}
	checkAnswers(t, ix, Or(Tag("vip"), Tag("a")), "no cache")
	if cs := ix.CacheStats(); cs != (CacheStats{}) {
		t.Fatalf("CacheStats without a cache: %+v", cs)
	}
}

// TestAnswersConcurrent runs readers that check the kept answers against
// fresh ones on their own snapshots while a writer commits.
func TestAnswersConcurrent(t *testing.T) {
	ix, r, uuids := randIndex(t, 30, nil)
	exprs := []Expr{All(), Tag("vip"), Not(Tag("a")), Where("mrr", Gte, int64(2500))}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 3 {
		wg.Go(func() {
			untilClosed(stop, func(i int) bool {
				e := exprs[(g+i)%len(exprs)]
				if err := ix.View(func(tx *Tx) error { return matchFresh(tx, e) }); err != nil {
					t.Error(err)
					return false
				}
				return true
			})
		})
	}
	steps := 60
	if raceEnabled {
		steps = 25
	}
	for step := range steps {
		randWrite(t, r, ix, &uuids, step)
	}
	close(stop)
	wg.Wait()
}

// refStats is TagStats computed from each tag's bitmap on the
// transaction's snapshot.
func refStats(tx *Tx, e Expr, o TagStatsOptions) ([]TagStat, error) {
	ev := &evaluator{ix: tx.ix, st: tx.st, btx: tx.btx}
	v, err := ev.eval(e)
	if err != nil {
		return nil, err
	}
	out := []TagStat{}
	for t, bm := range tx.st.tags.all() {
		both := roaring.And(v.bm, bm)
		if n := both.GetCardinality(); n > 0 && strings.HasPrefix(t, o.Prefix) {
			out = append(out, TagStat{Tag: t, Customers: n, MRR: sumPlanes(both, tx.st.planes)})
		}
	}
	return topK(out, o.Limit, tagOrder(o.ByCount)), nil
}

// TestForwardOncePerIndex checks that the forward index of TagStats is
// built once per index: not again for each snapshot under a steady
// writer, not lost when commits land during its build, not built twice
// at once by readers on different snapshots; and that TagStats stays
// exact throughout (the kept answers are off, so that every call walks
// the forward index).
func TestForwardOncePerIndex(t *testing.T) {
	ix, r, uuids := randIndex(t, 40, &Options{NoSync: true, CacheBytes: -1})
	h := &ix.fwd
	check := func(where string, e Expr) {
		t.Helper()
		err := ix.View(func(tx *Tx) error {
			for _, o := range testStatsOpts {
				got, err := tx.TagStats(e, o)
				if err != nil {
					return err
				}
				want, err := refStats(tx, e, o)
				if err != nil {
					return err
				}
				if d := gocmp.Diff(want, got); d != "" {
					t.Fatalf("%s: TagStats(%s, %+v) (-bitmaps +forward index):\n%s", where, e, o, d)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}

	// Readers on different snapshots while the first build runs: one
	// build; commits land during it.
	var views sync.WaitGroup
	release := make(chan struct{})
	for i := range 3 {
		views.Go(func() {
			ix.View(func(tx *Tx) error {
				<-release
				if _, err := tx.TagStats(Tag("vip"), TagStatsOptions{}); err != nil {
					t.Error(err)
				}
				return nil
			})
		})
		if i < 2 {
			if _, err := ix.CreateCustomer(Customer{Tags: []string{"vip", fmt.Sprint("new-", i)}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	forwardBuilt = func() {
		forwardBuilt = nil
		close(release) // the other readers ask now, while the build is not yet carried
		time.Sleep(10 * time.Millisecond)
		for step := range 5 {
			randWrite(t, r, ix, &uuids, 1000+step)
		}
	}
	defer func() { forwardBuilt = nil }()
	check("first build", All())
	views.Wait()
	if n := h.builds.Load(); n != 1 {
		t.Fatalf("%d builds after readers on three snapshots and commits during the build, want 1", n)
	}
	if ix.cur.Load().fwd.Load() == nil {
		t.Fatal("the latest snapshot has no forward index after the build")
	}

	// A steady writer beside TagStats on every snapshot.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		untilClosed(stop, func(i int) bool {
			check(fmt.Sprint("reader ", i), pick(newRand(uint64(i)), []Expr{All(), Tag("vip"), Not(Tag("a")), Where("mrr", Gt, int64(0))}))
			return true
		})
	})
	steps := 150
	if raceEnabled {
		steps = 50
	}
	for range steps {
		var err error
		u := pick(r, uuids)
		switch r.IntN(4) {
		case 0:
			_, err = ix.AddTags(u, randTags(r, 2)...)
		case 1:
			_, err = ix.RemoveTags(u, randTags(r, 1)...)
		case 2:
			err = ix.SetMRR(u, randTime(r), int64(r.IntN(5))*1000)
		case 3:
			var c Customer
			if c, err = ix.CreateCustomer(Customer{Tags: randTags(r, 3)}); err == nil {
				uuids = append(uuids, c.UUID)
			}
		}
		if err != nil && !errors.Is(err, ErrNotFound) {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	check("after the writer", Tag("vip"))
	if n := h.builds.Load(); n != 1 {
		t.Fatalf("%d builds under a steady writer, want 1", n)
	}
}

// untilClosed calls fn(0), fn(1), … until stop is closed or fn returns
// false.
func untilClosed(stop <-chan struct{}, fn func(i int) bool) {
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		if !fn(i) {
			return
		}
	}
}

// TestAnswersOutOfLog checks that answers older than the log of touched
// sets are evaluated afresh, and that a sweep drops them (and the old
// snapshot they keep) while keeping the entry.
func TestAnswersOutOfLog(t *testing.T) {
	defer func(i int, c uint64, s int) { logItems, logCard, sweepEvery = i, c, s }(logItems, logCard, sweepEvery)
	logItems, logCard, sweepEvery = 4, 1<<20, 2
	ix, r, uuids := randIndex(t, 20, nil)
	e := Or(Tag("vip"), Tag("a"))
	checkAnswers(t, ix, e, "first")
	key := e.String()
	en := ix.answers.byKey[key]
	if en == nil || en.st == nil {
		t.Fatal("no kept answer")
	}
	for step := range 8 {
		randWrite(t, r, ix, &uuids, step)
		if _, err := ix.CreateCustomer(Customer{Tags: []string{"vip"}}); err != nil {
			t.Fatal(err)
		}
	}
	if en.st != nil || ix.answers.byKey[key] != en {
		t.Fatalf("after the log moved past it: entry kept %v, answers dropped %v", ix.answers.byKey[key] == en, en.st == nil)
	}
	misses := ix.CacheStats().Misses
	checkAnswers(t, ix, e, "after")
	if got := ix.CacheStats().Misses; got != misses+1 {
		t.Fatalf("misses %d → %d: want one, the answer evaluated afresh", misses, got)
	}
}

// One commit that touches more IDs than the log holds (a Load of more than
// 2^22 customers: the 10M benchmark index) empties the log instead of
// reading past its end.
func TestCommitLogOneHugeCommit(t *testing.T) {
	defer func(c uint64) { logCard = c }(logCard)
	logCard = 10
	var l commitLog
	l.add(1, 2, roaring.BitmapOf(1, 2))
	big := roaring.New()
	big.AddRange(0, 100)
	if oldest := l.add(2, 3, big); oldest != 3 || len(l.items) != 0 {
		t.Errorf("after a commit past the bounds: oldest %d, %d items; want 3 and none", oldest, len(l.items))
	}
	if _, ok := l.between(2, 3, 1000); ok {
		t.Error("the log still leads from before the huge commit")
	}
}
