package tagseg

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The concurrency test: one writer changes the index while readers call
// every read method, and each read must equal the model at SOME committed
// state between the moment the read started and the moment it returned —
// never a mix of two states (a torn read).
//
// The protocol: after each commit the writer computes the fingerprint of
// the model (what every read below should return) and publishes it as
// version v+1. A reader notes the published version vs before its call and
// ve after it. The index was at version ≥ vs when the call started, and at
// most ve+1 when it returned (the writer publishes each version before it
// starts the next write), so the result must match one of versions
// vs … ve+1.

// concExprs are the segments whose count, MRR and paying count are
// fingerprinted. They mix what is evaluated in memory (tags, country, MRR)
// with what is read from the file (name scans the records, email checks
// them), which is where a read seeing two states would show.
var concExprs = []Expr{
	All(),
	Tag("vip"),
	And(Tag("plan-pro"), Not(Tag("churn-risk-high"))),
	Or(Tag("beta"), Tag("a"), Tag("internal")),
	Where("name", Eq, "Ann"),
	And(Where("name", Eq, "Bo"), Tag("vip")),
	Where("email", Eq, "adam@x.com"),
	Where("mrr", Gte, int64(5000)),
	And(Where("country", Eq, "US"), Not(Where("mrr", Eq, int64(0)))),
}

var (
	// A segment of about a fifth of the customers: TagStats walks the
	// members' tag lists (the forward index, built by a reader, kept up to
	// date by the writer) rather than intersecting every tag.
	concSmallExpr    = Where("country", Eq, "US")
	concSeriesExpr   = Or(Tag("vip"), Tag("plan-pro"))
	concFrom, concTo = day(2023, 1, 1), day(2025, 12, 31)
)

// concFP is what the reads return at one committed version.
type concFP struct {
	segs   [][3]int64 // per concExprs: count, MRR, paying
	tags   string     // Tags()
	stats  string     // TagStats(All(), {})
	small  string     // TagStats(concSmallExpr, {})
	series string     // Series(concSeriesExpr, concFrom, concTo, Quarter)
	emails []string   // CustomersByEmail, per emailPool entry
}

func concFingerprint(m *model) *concFP {
	fp := &concFP{}
	for _, e := range concExprs {
		var mrr, paying int64
		members := m.eval(e)
		for u := range members {
			if v := m.custs[u].mrr(); v > 0 {
				mrr += v
				paying++
			}
		}
		fp.segs = append(fp.segs, [3]int64{int64(len(members)), mrr, paying})
	}
	tags := map[string]uint64{}
	stats := map[string]TagStat{}
	for _, c := range m.custs {
		for _, tg := range c.tags {
			tags[tg]++
			s := stats[tg]
			s.Tag, s.Customers, s.MRR = tg, s.Customers+1, s.MRR+c.mrr()
			stats[tg] = s
		}
	}
	fp.tags = fmt.Sprint(tags)
	fp.stats = fmt.Sprint(sortStats(slices.Collect(maps.Values(stats))))
	small := map[string]TagStat{}
	for u := range m.eval(concSmallExpr) {
		c := m.custs[u]
		for _, tg := range c.tags {
			s := small[tg]
			s.Tag, s.Customers, s.MRR = tg, s.Customers+1, s.MRR+c.mrr()
			small[tg] = s
		}
	}
	fp.small = fmt.Sprint(sortStats(slices.Collect(maps.Values(small))))
	fp.series = fmt.Sprint(seriesModel(m, m.eval(concSeriesExpr), concFrom, concTo, Quarter))
	for _, email := range emailPool {
		var cs []Customer
		for _, c := range m.custs {
			if email != "" && strings.EqualFold(c.c.Email, email) {
				cs = append(cs, m.customer(c.c.UUID))
			}
		}
		slices.SortFunc(cs, func(a, b Customer) int { return int(a.ID) - int(b.ID) })
		fp.emails = append(fp.emails, customersKey(cs))
	}
	return fp
}

// sortStats orders stats as TagStats does.
func sortStats(s []TagStat) []TagStat {
	slices.SortFunc(s, func(a, b TagStat) int {
		switch {
		case a.MRR != b.MRR:
			return map[bool]int{true: -1, false: 1}[a.MRR > b.MRR]
		case a.Customers != b.Customers:
			return map[bool]int{true: -1, false: 1}[a.Customers > b.Customers]
		}
		return strings.Compare(a.Tag, b.Tag)
	})
	return s
}

func customerKey(c Customer) string { return fmt.Sprintf("%+v", c) }

func customersKey(cs []Customer) string {
	var b strings.Builder
	for _, c := range cs {
		b.WriteString(customerKey(c))
		b.WriteByte('\n')
	}
	return b.String()
}

// concVersions is what the writer publishes: a fingerprint per version and
// every customer's states with the versions they began at.
type concVersions struct {
	mu    sync.RWMutex
	fps   []*concFP
	custs map[string][]custAt // UUID → states, in version order
	uuids []string            // every UUID ever created
	last  map[string]string   // the latest state of each customer

	ver  atomic.Int64 // the latest published version
	done atomic.Bool  // the writer has finished
}

type custAt struct {
	v   int
	key string // customerKey, or "" once deleted
}

// publish records the model as the next version.
func (cv *concVersions) publish(m *model) {
	fp := concFingerprint(m)
	cv.mu.Lock()
	v := len(cv.fps)
	cv.fps = append(cv.fps, fp)
	for u := range m.custs {
		k := customerKey(m.customer(u))
		if old, ok := cv.last[u]; !ok || old != k {
			if !ok {
				cv.uuids = append(cv.uuids, u)
			}
			cv.last[u] = k
			cv.custs[u] = append(cv.custs[u], custAt{v, k})
		}
	}
	for u, k := range cv.last {
		if _, ok := m.custs[u]; !ok && k != "" {
			cv.last[u] = ""
			cv.custs[u] = append(cv.custs[u], custAt{v, ""})
		}
	}
	cv.mu.Unlock()
	cv.ver.Store(int64(v))
}

// window returns the versions a read that started at vs and ended at ve
// may have seen: vs … ve+1, once ve+1 is published (or the writer is done).
func (cv *concVersions) window(vs, ve int) (int, int) {
	for int(cv.ver.Load()) == ve && !cv.done.Load() {
		time.Sleep(20 * time.Microsecond)
	}
	return vs, min(ve+1, int(cv.ver.Load()))
}

// match reports whether ok holds for the fingerprint of some version in
// the window of a read, and describes the window when not.
func (cv *concVersions) match(vs, ve int, ok func(fp *concFP) bool) (bool, string) {
	lo, hi := cv.window(vs, ve)
	cv.mu.RLock()
	defer cv.mu.RUnlock()
	for v := lo; v <= hi; v++ {
		if ok(cv.fps[v]) {
			return true, ""
		}
	}
	return false, fmt.Sprintf("versions %d…%d", lo, hi)
}

// near describes how got differs from what sel picks out of the
// fingerprints at the two ends of a read's window.
func (cv *concVersions) near(vs, ve int, got string, sel func(fp *concFP) string) string {
	lo, hi := cv.window(vs, ve)
	cv.mu.RLock()
	defer cv.mu.RUnlock()
	var b strings.Builder
	for _, v := range []int{lo, hi} {
		fmt.Fprintf(&b, "\nvs version %d:%s", v, lineDiff(got, sel(cv.fps[v])))
	}
	return b.String()
}

// lineDiff lists the lines only in got (+) and only in want (-).
func lineDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	var b strings.Builder
	for _, l := range g {
		if !slices.Contains(w, l) {
			b.WriteString("\n+ " + l)
		}
	}
	for _, l := range w {
		if !slices.Contains(g, l) {
			b.WriteString("\n- " + l)
		}
	}
	return b.String()
}

// matchCustomer reports whether key is the state of customer u at some
// version in the window of a read.
func (cv *concVersions) matchCustomer(u string, vs, ve int, key string) (bool, []string) {
	lo, hi := cv.window(vs, ve)
	cv.mu.RLock()
	defer cv.mu.RUnlock()
	var cands []string
	at := "" // state at lo
	for _, s := range cv.custs[u] {
		if s.v <= lo {
			at = s.key
		} else if s.v <= hi {
			cands = append(cands, s.key)
		}
	}
	cands = append(cands, at)
	return slices.Contains(cands, key), cands
}

func TestConcurrentReadsSeeCommittedStates(t *testing.T) {
	writes, readers := 600, 4
	switch {
	case testing.Short():
		writes = 100
	case raceEnabled:
		writes = 200
	}
	seed := testSeed(t)
	r := newRand(seed)
	// Durable writes: the fsync at commit widens the window between the
	// commit reaching the file and the batch reaching memory.
	ix := openTestAt(t, filepath.Join(t.TempDir(), "conc.db"), nil)
	m := newModel()
	ext := 0
	newCust := func(r *rand.Rand) Customer {
		c := randCustomer(r, 0)
		ext++
		c.ExternalID = fmt.Sprint("e", ext)
		return c
	}
	addModel := func(c Customer, got Customer) {
		tags := c.Tags
		c.UUID, c.ID, c.Tags = got.UUID, got.ID, nil
		m.custs[got.UUID] = &mCust{c: c, events: map[int64]int64{}}
		m.byID[got.ID] = got.UUID
		m.addTags(got.UUID, tags)
	}
	// The starting population, in one batch.
	err := ix.Update(func(tx *Tx) error {
		for range 150 {
			c := newCust(r)
			got, err := tx.CreateCustomer(c)
			if err != nil {
				return err
			}
			addModel(c, got)
			at, cents := randTime(r), int64(r.IntN(4))*2500
			if err := tx.SetMRR(got.UUID, at, cents); err != nil {
				return err
			}
			m.custs[got.UUID].events[at.UnixNano()] = cents
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	cv := &concVersions{custs: map[string][]custAt{}, last: map[string]string{}}
	cv.publish(m)

	var wg sync.WaitGroup
	var reads [9]atomic.Int64
	kinds := []string{"Segment", "TagStats", "Series", "Customer", "CustomersByEmail", "Tags", "Segment(Parse)", "Check", "TagStats(small)"}
	var failed atomic.Bool
	fail := func(format string, args ...any) {
		if failed.CompareAndSwap(false, true) {
			t.Errorf(format, args...)
		}
	}
	for g := range readers {
		rr := newRand(seed + uint64(g) + 1)
		wg.Go(func() {
			for !cv.done.Load() && !failed.Load() {
				k := rr.IntN(len(kinds))
				if k == 7 && rr.IntN(20) != 0 {
					k = 0 // Check reads the whole file: now and then
				}
				vs := int(cv.ver.Load())
				switch k {
				case 0, 6:
					i := rr.IntN(len(concExprs))
					e := concExprs[i]
					if k == 6 {
						var err error
						if e, err = Parse(e.String()); err != nil {
							fail("Parse(%q): %v", concExprs[i].String(), err)
							return
						}
					}
					seg, err := ix.Segment(e)
					if err != nil {
						fail("Segment: %v", err)
						return
					}
					got := [3]int64{int64(seg.Count()), seg.MRR(), int64(seg.Paying())}
					if got[0] != int64(seg.IDs().GetCardinality()) {
						fail("Segment(%s): Count %d, IDs hold %d", e, got[0], seg.IDs().GetCardinality())
					}
					ve := int(cv.ver.Load())
					if ok, w := cv.match(vs, ve, func(fp *concFP) bool { return fp.segs[i] == got }); !ok {
						fail("Segment(%s) = %v (count, MRR, paying): no committed state in %s has it:%s", e, got, w,
							cv.near(vs, ve, fmt.Sprint(got), func(fp *concFP) string { return fmt.Sprint(fp.segs[i]) }))
					}
				case 1:
					s, err := ix.TagStats(All(), TagStatsOptions{})
					if err != nil {
						fail("TagStats: %v", err)
						return
					}
					got := fmt.Sprint(s)
					ve := int(cv.ver.Load())
					if ok, w := cv.match(vs, ve, func(fp *concFP) bool { return fp.stats == got }); !ok {
						fail("TagStats: no committed state in %s has it:%s", w, cv.near(vs, ve, got, func(fp *concFP) string { return fp.stats }))
					}
				case 2:
					p, err := ix.Series(concSeriesExpr, concFrom, concTo, Quarter)
					if err != nil {
						fail("Series: %v", err)
						return
					}
					got := fmt.Sprint(p)
					if ok, w := cv.match(vs, int(cv.ver.Load()), func(fp *concFP) bool { return fp.series == got }); !ok {
						fail("Series = %s: no committed state in %s has it", got, w)
					}
				case 3:
					cv.mu.RLock()
					u := pick(rr, cv.uuids)
					cv.mu.RUnlock()
					c, err := ix.Customer(u)
					got := ""
					switch {
					case err == nil:
						got = customerKey(c)
					case !errors.Is(err, ErrNotFound):
						fail("Customer(%s): %v", u, err)
						return
					}
					if ok, cands := cv.matchCustomer(u, vs, int(cv.ver.Load()), got); !ok {
						fail("Customer(%s) = %q, err %v; committed states in the window:\n%s", u, got, err, strings.Join(cands, "\n"))
					}
				case 4:
					i := rr.IntN(len(emailPool))
					q := emailPool[i]
					if rr.IntN(2) == 0 {
						q = strings.ToUpper(q)
					}
					cs, err := ix.CustomersByEmail(q)
					if err != nil {
						fail("CustomersByEmail(%q): %v", q, err)
						return
					}
					got := customersKey(cs)
					ve := int(cv.ver.Load())
					if ok, w := cv.match(vs, ve, func(fp *concFP) bool { return fp.emails[i] == got }); !ok {
						fail("CustomersByEmail(%q): no committed state in %s has it:%s", q, w, cv.near(vs, ve, got, func(fp *concFP) string { return fp.emails[i] }))
					}
				case 5:
					got := fmt.Sprint(maps.Collect(ix.Tags()))
					if ok, w := cv.match(vs, int(cv.ver.Load()), func(fp *concFP) bool { return fp.tags == got }); !ok {
						fail("Tags() = %s: no committed state in %s has it", got, w)
					}
				case 7:
					if err := ix.Check(); err != nil {
						fail("Check during writes: %v", err)
					}
				case 8:
					s, err := ix.TagStats(concSmallExpr, TagStatsOptions{})
					if err != nil {
						fail("TagStats: %v", err)
						return
					}
					got := fmt.Sprint(s)
					ve := int(cv.ver.Load())
					if ok, w := cv.match(vs, ve, func(fp *concFP) bool { return fp.small == got }); !ok {
						fail("TagStats(%s): no committed state in %s has it:%s", concSmallExpr, w, cv.near(vs, ve, got, func(fp *concFP) string { return fp.small }))
					}
				}
				reads[k].Add(1)
			}
		})
	}

	// The writer: tags, untags, deletes, creates and MRR changes, alone and
	// in batches that touch several customers at once.
	uuids := func() []string { return slices.Sorted(maps.Keys(m.custs)) }
	ops := map[string]int{}
	for w := 0; w < writes && !failed.Load(); w++ {
		var op string
		var err error
		switch k := r.IntN(100); {
		case k < 20:
			op = "AddTags"
			u, tags := pick(r, uuids()), randTags(r, 1+r.IntN(3))
			_, err = ix.AddTags(u, tags...)
			m.addTags(u, tags)
		case k < 35:
			op = "RemoveTags"
			u := pick(r, uuids())
			tags := randTags(r, 1+r.IntN(2))
			if len(m.custs[u].tags) > 0 {
				tags = append(tags, pick(r, m.custs[u].tags))
			}
			_, err = ix.RemoveTags(u, tags...)
			m.removeTags(u, tags)
		case k < 55:
			op = "SetMRR"
			u, at, cents := pick(r, uuids()), randTime(r), int64(r.IntN(4))*2500+int64(r.IntN(3))
			err = ix.SetMRR(u, at, cents)
			m.custs[u].events[at.UnixNano()] = cents
		case k < 62:
			op = "Delete+Create"
			u := pick(r, uuids())
			if err = ix.DeleteCustomer(u); err == nil {
				delete(m.byID, m.custs[u].c.ID)
				delete(m.custs, u)
				cv.publish(m)
				c := newCust(r)
				var got Customer
				if got, err = ix.CreateCustomer(c); err == nil {
					addModel(c, got)
				}
			}
		case k < 90:
			// A batch touching several customers: tags and MRR of each
			// change together, and a customer is replaced by one with the
			// same name, email and country.
			op = "Update"
			next := m.clone()
			saved, savedExt := m, ext
			m = next
			err = ix.Update(func(tx *Tx) error {
				for range 1 + r.IntN(3) {
					u := pick(r, uuids())
					tags := randTags(r, 1+r.IntN(2))
					if _, err := tx.AddTags(u, tags...); err != nil {
						return err
					}
					m.addTags(u, tags)
					at, cents := randTime(r), int64(r.IntN(4))*2500
					if err := tx.SetMRR(u, at, cents); err != nil {
						return err
					}
					m.custs[u].events[at.UnixNano()] = cents
					if old := m.custs[u].tags; len(old) > 1 {
						rm := []string{old[0]}
						if _, err := tx.RemoveTags(u, rm...); err != nil {
							return err
						}
						m.removeTags(u, rm)
					}
				}
				if r.IntN(2) == 0 {
					u := pick(r, uuids())
					old := m.custs[u].c
					if err := tx.DeleteCustomer(u); err != nil {
						return err
					}
					delete(m.byID, old.ID)
					delete(m.custs, u)
					c := newCust(r)
					c.Name, c.Email, c.Country = old.Name, old.Email, old.Country
					got, err := tx.CreateCustomer(c)
					if err != nil {
						return err
					}
					addModel(c, got)
					at := randTime(r)
					if err := tx.SetMRR(got.UUID, at, 5000); err != nil {
						return err
					}
					m.custs[got.UUID].events[at.UnixNano()] = 5000
				}
				return nil
			})
			if err != nil {
				m, ext = saved, savedExt
			}
		default:
			e, tag := randExpr(r, 2), pick(r, tagPool)
			add := r.IntN(2) == 0
			members := m.eval(e)
			if add {
				op = "AddTagsToSegment"
				_, err = ix.AddTagsToSegment(e, tag)
			} else {
				op = "RemoveTagsFromSegment"
				_, err = ix.RemoveTagsFromSegment(e, tag)
			}
			for u := range members {
				if add {
					m.addTags(u, []string{tag})
				} else {
					m.removeTags(u, []string{tag})
				}
			}
		}
		if err != nil {
			fail("write %d (%s): %v", w, op, err)
			break
		}
		ops[op]++
		cv.publish(m)
	}
	cv.done.Store(true)
	wg.Wait()
	var total int64
	var per []string
	for i, k := range kinds {
		n := reads[i].Load()
		total += n
		per = append(per, fmt.Sprintf("%s %d", k, n))
	}
	t.Logf("%d committed versions (writes %v); %d reads checked against them: %s", cv.ver.Load(), ops, total, strings.Join(per, ", "))
	if total == 0 {
		t.Error("no reads ran")
	}
}
