package tagseg

// Answers kept across commits. A segment's count, paying count and MRR, a
// series and a tag ranking are each a sum over the segment's members of
// what each member contributes. The index keeps recently asked answers,
// with the members behind them, and brings them to a later snapshot from
// what the commits in between touched (follow.go), instead of evaluating
// them again or throwing them away at every write:
//
//	members' = (members − T) ∪ evalOn(new state, e, T)
//	answer'  = answer − the shares of members ∩ T on the old state
//	                  + the shares of members' ∩ T on the new state
//
// where T is the union of the touched sets of the commits in between. The
// result is exact: the same as a fresh evaluation on the new snapshot.
//
// When and where: the writer only records each commit's touched set in a
// log (cost ∝ what it changed, whatever the number of kept answers); a
// reader that finds a kept answer older than its snapshot brings it
// forward in its own call, holding that answer's lock, then keeps the
// newer one. No goroutine does it in the background. An answer is valid
// for exactly one snapshot: a reader on an older snapshot than a kept
// answer's evaluates afresh. When T is large against the members
// (a bulk change, a Load), a part of the answer whose roll would cost
// more than computing it is dropped and computed again when next asked.
//
// Memory: Options.CacheBytes bounds the estimated bytes held (members'
// bitmaps, series sums, rankings), least recently used out first, saved
// segments' queries last. An answer also keeps the snapshot it is valid
// for reachable, which shares all but what changed since with the latest.

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
)

// CacheStats are the figures of the index's kept answers (see
// Options.CacheBytes), for a server's metrics.
type CacheStats struct {
	Hits     uint64 // reads answered from a kept answer, brought forward or not
	Misses   uint64 // reads that evaluated the segment afresh
	Entries  int    // segments whose answers are kept
	Bytes    int64  // memory they hold, estimated
	MaxBytes int64  // the bound (Options.CacheBytes); 0 when there is no cache
}

// CacheStats returns the figures of the kept answers.
func (ix *Index) CacheStats() CacheStats {
	a := ix.answers
	if a == nil {
		return CacheStats{}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return CacheStats{Hits: a.hits.Load(), Misses: a.misses.Load(), Entries: len(a.byKey), Bytes: a.bytes, MaxBytes: a.max}
}

// DefaultCacheBytes is the memory bound of kept answers when
// Options.CacheBytes is 0.
const DefaultCacheBytes = 128 << 20

// answers is the index's cache of kept answers; see the top of the file.
type answers struct {
	ix  *Index
	max int64

	mu    sync.Mutex // guards byKey, the list, bytes and saved
	byKey map[string]*entry
	lru   entry // sentinel of the list of entries, most recently used first
	bytes int64
	saved map[string]int // keys of saved segments' queries → how many

	locs map[seriesKey]*locator // shared by the series of the same intervals; under mu

	hits, misses atomic.Uint64
	rolls        atomic.Uint64 // answers brought forward over commits that touched something
	log          commitLog
	sweepIn      int // commits that drop log entries before the next sweep; the writer's
}

func newAnswers(ix *Index, max int64) *answers {
	a := &answers{ix: ix, max: max, byKey: map[string]*entry{}, saved: map[string]int{}}
	a.lru.prev, a.lru.next = &a.lru, &a.lru
	return a
}

// entry is the kept answers of one expression.
type entry struct {
	key        string
	prev, next *entry // in the list; under answers.mu
	bytes      int64  // as last accounted; under answers.mu

	mu      sync.Mutex // guards the rest; held while reading or bringing forward
	st      *state     // the snapshot the answers are valid for; nil: none yet
	members *roaring.Bitmap
	count   uint64
	sums    bool // paying and mrr are made
	paying  uint64
	mrr     int64
	series  map[seriesKey]*seriesAns
	ranks   map[string]*ranking // by the prefix of the tags they hold

	unknown       []string // the expression's unknown tags on unknownAt (Segment.UnknownTags)
	unknownFields []string // and fields (Segment.UnknownFields)
	unknownAt     *state
}

// seriesKey names a series of an entry: its first and last boundaries and
// interval, which determine every boundary.
type seriesKey struct {
	from, to int64
	every    Interval
}

// ---- the log of touched sets ----

// commitLog holds the touched sets of the latest commits, in order, for
// bringing kept answers forward. Bounded: past logItems commits or logCard
// IDs in all, the oldest go (an answer older than the log is evaluated
// afresh).
type commitLog struct {
	mu    sync.Mutex
	items []logItem
	card  uint64
}

type logItem struct {
	from, to int // the snapshots' transaction IDs
	t        *roaring.Bitmap
}

// The log's bounds: variables so that tests can make them small.
var (
	logItems        = 1 << 14
	logCard  uint64 = 1 << 22
)

// add logs a commit; it returns the transaction ID of the oldest
// snapshot the log still leads from when it dropped some, else 0.
func (l *commitLog) add(from, to int, t *roaring.Bitmap) (oldest int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := len(l.items); n > 0 && l.items[n-1].to != from {
		l.items, l.card = nil, 0 // a gap: what came before no longer leads here
	}
	l.items = append(l.items, logItem{from, to, t})
	l.card += t.GetCardinality()
	drop := 0
	for card := l.card; len(l.items)-drop > logItems || card > logCard; drop++ {
		card -= l.items[drop].t.GetCardinality()
	}
	if drop > 0 {
		for _, it := range l.items[:drop] {
			l.card -= it.t.GetCardinality()
		}
		l.items = slices.Delete(l.items, 0, drop)
		if len(l.items) == 0 { // one commit past the bounds (a Load of millions): the log starts here
			return to
		}
		return l.items[0].from
	}
	return 0
}

// between returns the union of the touched sets of the commits from the
// snapshot of transaction from to that of to, and false when the log does
// not hold them all, or they hold more than limit IDs.
func (l *commitLog) between(from, to int, limit uint64) (*roaring.Bitmap, bool) {
	l.mu.Lock()
	i, found := slices.BinarySearchFunc(l.items, from, func(it logItem, from int) int { return cmp.Compare(it.from, from) })
	if !found {
		l.mu.Unlock()
		return nil, false
	}
	var ts []*roaring.Bitmap
	var card uint64
	for ; i < len(l.items) && l.items[i].to <= to; i++ {
		ts = append(ts, l.items[i].t)
		card += l.items[i].t.GetCardinality()
		if l.items[i].to == to {
			break
		}
	}
	ok := i < len(l.items) && l.items[i].to == to && card <= limit
	l.mu.Unlock()
	if !ok {
		return nil, false
	}
	switch len(ts) {
	case 0:
		return roaring.New(), true
	case 1:
		return ts[0], true // not changed by the caller
	}
	return roaring.FastOr(ts...), true
}

// ---- following commits ----

func (a *answers) prepare(*commitInfo) error { return nil }

func (a *answers) published(c *commitInfo) {
	if oldest := a.log.add(c.old.txid, c.new.txid, c.IDs()); oldest != 0 {
		if a.sweepIn--; a.sweepIn <= 0 {
			a.sweepIn = sweepEvery
			a.sweep(oldest)
		}
	}
	for _, sc := range c.Saved() {
		a.setSaved(sc.Old, false)
		a.setSaved(sc.New, true)
	}
}

// sweepEvery is how many commits that drop log entries pass between
// sweeps (a variable for tests).
var sweepEvery = 1024

// sweep drops the answers (but keeps the entries, as recently asked) of
// entries older than the log's oldest snapshot: they cannot be brought
// forward any more, and each keeps its old snapshot reachable. An entry
// in use is left for the next sweep. In the writer's call: the work is a
// lock attempt per entry.
func (a *answers) sweep(oldest int) {
	a.mu.Lock()
	all := make([]*entry, 0, len(a.byKey))
	for x := a.lru.next; x != &a.lru; x = x.next {
		all = append(all, x)
	}
	a.mu.Unlock()
	for _, en := range all {
		if !en.mu.TryLock() {
			continue
		}
		if en.st != nil && en.st.txid < oldest {
			en.reset()
		}
		size := en.size()
		en.mu.Unlock()
		a.account(en, size)
	}
}

// ---- saved segments ----

// setSaved records that a saved segment's query is q (add) or no longer is.
func (a *answers) setSaved(q string, add bool) {
	e, err := Parse(q)
	if q == "" || err != nil {
		return
	}
	key := e.String()
	a.mu.Lock()
	defer a.mu.Unlock()
	if add {
		a.saved[key]++
	} else if a.saved[key]--; a.saved[key] <= 0 {
		delete(a.saved, key)
	}
}

// locator returns the locator of a series' intervals, shared by every
// kept series of the same ones (a day table is kilobytes). The table of
// them is bounded: past 64, it starts again.
func (a *answers) locator(k seriesKey, bounds []time.Time) *locator {
	a.mu.Lock()
	defer a.mu.Unlock()
	if l := a.locs[k]; l != nil {
		return l
	}
	if a.locs == nil || len(a.locs) >= 64 {
		a.locs = map[seriesKey]*locator{}
	}
	l := newSeriesAns(bounds, nil).loc
	a.locs[k] = l
	return l
}

// ---- the list and the bound ----

func (a *answers) unlink(en *entry) {
	en.prev.next, en.next.prev = en.next, en.prev
	en.prev, en.next = nil, nil
}

func (a *answers) pushFront(en *entry) {
	en.prev, en.next = &a.lru, a.lru.next
	en.prev.next, en.next.prev = en, en
}

// account records en's new size and evicts, least recently used first
// (saved segments' last), until the bound holds.
func (a *answers) account(en *entry, size int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.byKey[en.key] == en {
		a.bytes += size - en.bytes
		en.bytes = size
	}
	for pass := 0; a.bytes > a.max && pass < 2; pass++ {
		for x := a.lru.prev; x != &a.lru && a.bytes > a.max; {
			prev := x.prev
			if pass == 1 || a.saved[x.key] == 0 {
				a.remove(x)
			}
			x = prev
		}
	}
}

// remove forgets en; under a.mu.
func (a *answers) remove(en *entry) {
	if a.byKey[en.key] != en {
		return
	}
	delete(a.byKey, en.key)
	a.unlink(en)
	a.bytes -= en.bytes
}

// ---- getting an entry at a snapshot ----

// at returns the entry of e valid for the transaction's snapshot, locked
// (the caller unlocks it, then calls account), or nil when the snapshot is
// older than the kept answer's (the caller evaluates afresh). An error of
// the evaluation is returned and nothing is kept.
func (a *answers) at(ctx context.Context, tx *Tx, e Expr) (*entry, error) {
	st := tx.st
	e = resolveDays(e, a.ix.today()) // relative dates: one answer per day
	key := e.String()
	a.mu.Lock()
	en := a.byKey[key]
	if en == nil {
		en = &entry{key: key}
		a.byKey[key] = en
	} else {
		a.unlink(en)
	}
	a.pushFront(en)
	a.mu.Unlock()

	en.mu.Lock()
	switch {
	case en.st == nil:
	case en.st.txid == st.txid:
		a.hits.Add(1)
		return en, nil
	case en.st.txid > st.txid:
		en.mu.Unlock()
		a.misses.Add(1)
		return nil, nil
	default:
		if t, ok := a.log.between(en.st.txid, st.txid, uint64(st.nextID)/2+4096); ok {
			err := en.roll(a.ix, tx, e, t)
			if err == nil {
				if !t.IsEmpty() {
					a.rolls.Add(1)
				}
				a.hits.Add(1)
				return en, nil
			}
			en.reset()
			en.mu.Unlock()
			a.drop(en)
			return nil, err
		}
	}
	// Afresh.
	a.misses.Add(1)
	en.reset()
	ev := &evaluator{ctx: ctx, ix: a.ix, st: st, btx: tx.btx}
	v, err := ev.eval(e)
	if err != nil {
		en.mu.Unlock()
		a.drop(en)
		return nil, err
	}
	en.st, en.members = st, freeze(v.own())
	en.count = en.members.GetCardinality()
	en.unknown, en.unknownFields, en.unknownAt = ev.unknown, ev.unknownFields, st
	return en, nil
}

// drop forgets en.
func (a *answers) drop(en *entry) {
	a.mu.Lock()
	a.remove(en)
	a.mu.Unlock()
}

// release unlocks en after a read and accounts for its size.
func (a *answers) release(en *entry) {
	size := en.size()
	en.mu.Unlock()
	a.account(en, size)
}

func (en *entry) reset() {
	en.st, en.members, en.sums, en.series, en.ranks = nil, nil, false, nil, nil
	en.unknown, en.unknownFields, en.unknownAt = nil, nil, nil
	en.count, en.paying, en.mrr = 0, 0, 0
}

// size estimates the bytes en holds.
func (en *entry) size() int64 {
	n := int64(256 + len(en.key))
	if en.members != nil {
		n += int64(en.members.GetSizeInBytes())
	}
	for _, sa := range en.series { // the locator is shared (answers.locator)
		n += 128 + int64(len(sa.accs))*int64(unsafeSizeofAcc)
	}
	for p, r := range en.ranks {
		n += 128 + int64(len(p)) + r.size()
	}
	return n
}

const unsafeSizeofAcc = 10 * 8

// roll brings en, valid for en.st, forward to the transaction's snapshot,
// over the commits that touched t. Parts whose roll would cost more than
// computing them again are dropped.
func (en *entry) roll(ix *Index, tx *Tx, e Expr, t *roaring.Bitmap) error {
	old, st := en.st, tx.st
	if t.IsEmpty() {
		en.st = st
		return nil
	}
	newIn, err := evalOn(ix, st, tx.btx, e, t)
	if err != nil {
		return err
	}
	was := roaring.And(en.members, t)
	enter, leave := roaring.AndNot(newIn, was), roaring.AndNot(was, newIn)
	if !enter.IsEmpty() || !leave.IsEmpty() {
		m := patch(en.members, enter, leave)
		if m == nil {
			m = freeze(roaring.New())
		}
		en.members = m
	}
	en.count = en.members.GetCardinality()
	en.st = st
	k := was.GetCardinality() + newIn.GetCardinality() // shares to take away and add
	if k == 0 {
		return nil
	}
	if en.sums {
		if k <= en.count/8+1024 {
			for it := was.Iterator(); it.HasNext(); {
				if v := old.mrr.at(it.Next()); v != 0 {
					en.mrr -= v
					en.paying--
				}
			}
			for it := newIn.Iterator(); it.HasNext(); {
				if v := st.mrr.at(it.Next()); v != 0 {
					en.mrr += v
					en.paying++
				}
			}
		} else {
			en.sums = false
		}
	}
	cheap := k <= en.count/4+1024
	if len(en.series) > 0 {
		if !cheap {
			en.series = nil
		}
		for _, sa := range en.series {
			minus, plus := newSeriesAns(nil, sa.loc), newSeriesAns(nil, sa.loc)
			for it := was.Iterator(); it.HasNext(); {
				replay(old.hist.at(it.Next()), sa.loc, &minus.open, &minus.open0, minus.accs)
			}
			for it := newIn.Iterator(); it.HasNext(); {
				replay(st.hist.at(it.Next()), sa.loc, &plus.open, &plus.open0, plus.accs)
			}
			sa.sub(minus)
			sa.merge(plus)
		}
	}
	if len(en.ranks) > 0 {
		of, nf := old.fwd.Load(), st.fwd.Load()
		if !cheap || of == nil || nf == nil {
			en.ranks = nil
		}
		if len(en.ranks) > 0 {
			// The net change per tag, so that a member whose tags and MRR
			// did not change leaves its tags alone.
			d := map[string]TagStat{}
			shares := func(f *forward, ids *roaring.Bitmap, s *state, sign int64) {
				for it := ids.Iterator(); it.HasNext(); {
					id := it.Next()
					v := s.mrr.at(id)
					for _, t := range f.list(id) {
						x := d[f.names[t]]
						x.Customers += uint64(sign)
						x.MRR += sign * v
						d[f.names[t]] = x
					}
				}
			}
			shares(of, was, old, -1)
			shares(nf, newIn, st, 1)
			for _, r := range en.ranks {
				for tag, x := range d {
					if x.Customers != 0 || x.MRR != 0 {
						r.add(tag, x)
					}
				}
			}
		}
	}
	return nil
}

// ---- the reads ----

// answers returns the index's kept answers for a read of the transaction:
// nil inside an Update (whose reads see its own writes) or without a cache.
func (tx *Tx) answers() *answers {
	if tx.write {
		return nil
	}
	return tx.ix.answers
}

// segment is Tx.Segment through the kept answers.
func (a *answers) segment(ctx context.Context, tx *Tx, e Expr) (*Segment, bool, error) {
	en, err := a.at(ctx, tx, e)
	if en == nil || err != nil {
		return nil, false, err
	}
	if !en.sums {
		en.paying = en.members.AndCardinality(en.st.paying)
		en.mrr = sumPlanes(en.members, en.st.planes)
		en.sums = true
	}
	if en.unknownAt != en.st { // once per snapshot
		tags, fields, err := unknownNames(a.ix, en.st, e)
		if err != nil {
			a.release(en)
			return nil, false, err
		}
		en.unknown, en.unknownFields, en.unknownAt = tags, fields, en.st
	}
	seg := &Segment{ix: a.ix, link: tx.segLink(), ids: en.members, count: en.count, unknown: en.unknown, unknownFields: en.unknownFields, paying: en.paying, mrr: en.mrr, mrrPlanes: en.st.planes, mrrCol: en.st.mrr}
	seg.sums.Do(func() {})
	a.release(en)
	return seg, true, nil
}

// count is Tx.Count through the kept answers, when e has some.
func (a *answers) count(ctx context.Context, tx *Tx, e Expr) (uint64, bool, error) {
	a.mu.Lock()
	_, ok := a.byKey[resolveDays(e, a.ix.today()).String()]
	a.mu.Unlock()
	if !ok {
		return 0, false, nil
	}
	en, err := a.at(ctx, tx, e)
	if en == nil || err != nil {
		return 0, false, err
	}
	n := en.count
	a.release(en)
	return n, true, nil
}

// series is Tx.SeriesContext through the kept answers.
func (a *answers) series(ctx context.Context, tx *Tx, e Expr, bounds []time.Time, every Interval) ([]Point, bool, error) {
	en, err := a.at(ctx, tx, e)
	if en == nil || err != nil {
		return nil, false, err
	}
	k := seriesKey{bounds[0].UnixNano(), bounds[len(bounds)-1].UnixNano(), every}
	sa := en.series[k]
	if sa == nil {
		loc := a.locator(k, bounds)
		err := en.unlocked(func(st *state, members *roaring.Bitmap) (func(), error) {
			var err error
			sa, err = st.seriesOf(ctx, members, bounds, loc)
			return func() {
				if en.series == nil {
					en.series = map[seriesKey]*seriesAns{}
				}
				en.series[k] = sa
			}, err
		})
		if err != nil {
			a.release(en)
			return nil, false, err
		}
	}
	pts := sa.points(bounds)
	a.release(en)
	return pts, true, nil
}

// tagStats is Tx.TagStatsContext through the kept answers.
func (a *answers) tagStats(ctx context.Context, tx *Tx, e Expr, opt TagStatsOptions) ([]TagStat, bool, error) {
	en, err := a.at(ctx, tx, e)
	if en == nil || err != nil {
		return nil, false, err
	}
	defer a.release(en)
	if en.count == 0 {
		return []TagStat{}, true, nil
	}
	for p, r := range en.ranks { // one for a prefix of the asked one
		if strings.HasPrefix(opt.Prefix, p) {
			return r.top(opt), true, nil
		}
	}
	var r *ranking
	err = en.unlocked(func(st *state, members *roaring.Bitmap) (func(), error) {
		stats, err := st.tagStatsByMember(ctx, a.ix.forwardIndex(st), members, opt.Prefix)
		r = &ranking{prefix: opt.Prefix, tags: stats}
		return func() {
			if en.ranks == nil {
				en.ranks = map[string]*ranking{}
			}
			en.ranks[opt.Prefix] = r
		}, err
	})
	if err != nil {
		return nil, false, err
	}
	return r.top(opt), true, nil
}

// unlocked runs a long computation of a part of en's answers (a series, a
// ranking) with en unlocked, so that the entry's other reads do not wait
// for it: compute gets en's snapshot and members (immutable) and returns
// how to keep its result, which is done only if en is still at that
// snapshot (a reader may have brought it forward meanwhile; the result is
// then answered but not kept). en is locked again when it returns.
func (en *entry) unlocked(compute func(st *state, members *roaring.Bitmap) (keep func(), err error)) error {
	st, members := en.st, en.members
	en.mu.Unlock()
	keep, err := compute(st, members)
	en.mu.Lock()
	if err == nil && en.st == st {
		keep()
	}
	return err
}

// ---- rankings ----

// ranking is the per-tag figures of a segment's members, for every tag
// with a prefix they hold, kept so that any limit and order of TagStats is
// answered from it. Two orders (by MRR, by customers) are kept sorted
// lazily: the tags changed since the last sort are set apart (dirty) and
// merged in at each read; past a share of the tags, the orders are sorted
// again.
type ranking struct {
	prefix string
	tags   []TagStat // by position; a tag's position does not change until a sort
	byName []int32   // positions sorted by tag; nil until needed
	order  [2][]int32
	sorted bool           // order is valid (but for dirty)
	dirty  map[int32]bool // positions whose figures changed since the sort
	reads  int
}

func (r *ranking) size() int64 {
	return int64(len(r.tags))*(16+8+8+4+8) + int64(len(r.dirty))*16
}

// names makes byName if needed.
func (r *ranking) names() {
	if r.byName == nil {
		r.byName = make([]int32, len(r.tags))
		for i := range r.byName {
			r.byName[i] = int32(i)
		}
		slices.SortFunc(r.byName, func(a, b int32) int { return strings.Compare(r.tags[a].Tag, r.tags[b].Tag) })
	}
}

// pos returns the position of tag, adding it when absent.
func (r *ranking) pos(tag string) int32 {
	r.names()
	i, found := slices.BinarySearchFunc(r.byName, tag, func(p int32, tag string) int { return strings.Compare(r.tags[p].Tag, tag) })
	if found {
		return r.byName[i]
	}
	p := int32(len(r.tags))
	r.tags = append(r.tags, TagStat{Tag: tag})
	r.byName = slices.Insert(r.byName, i, p)
	return p
}

// add adds d's figures to the tag's, if it has the ranking's prefix.
func (r *ranking) add(tag string, d TagStat) {
	if !strings.HasPrefix(tag, r.prefix) {
		return
	}
	p := r.pos(tag)
	s := &r.tags[p]
	s.Customers += d.Customers // a difference: wraps around as int64 would
	s.MRR += d.MRR
	if r.sorted {
		if r.dirty == nil {
			r.dirty = map[int32]bool{}
		}
		r.dirty[p] = true
	}
}

// top answers TagStats with opt from the ranking.
func (r *ranking) top(opt TagStatsOptions) []TagStat {
	r.reads++
	keep := func(s *TagStat) bool { return s.Customers > 0 && strings.HasPrefix(s.Tag, opt.Prefix) }
	less := tagOrder(opt.ByCount)
	pick := func(ps []int32) []TagStat { // by topK, as TagStats without a cache
		out := []TagStat{}
		for _, p := range ps {
			if keep(&r.tags[p]) {
				out = append(out, r.tags[p])
			}
		}
		return topK(out, opt.Limit, less)
	}
	if opt.Prefix != r.prefix { // a narrower prefix: its tags by name, if few
		r.names()
		lo, _ := slices.BinarySearchFunc(r.byName, opt.Prefix, func(p int32, pre string) int { return strings.Compare(r.tags[p].Tag, pre) })
		hi := lo
		for hi < len(r.byName) && strings.HasPrefix(r.tags[r.byName[hi]].Tag, opt.Prefix) && hi-lo <= 4*opt.Limit+4096 {
			hi++
		}
		if hi == len(r.byName) || !strings.HasPrefix(r.tags[r.byName[hi]].Tag, opt.Prefix) {
			return pick(r.byName[lo:hi])
		}
	}
	if !r.sorted && r.reads == 1 { // fresh: sorted at the next read
		all := make([]int32, len(r.tags))
		for i := range all {
			all[i] = int32(i)
		}
		return pick(all)
	}
	switch {
	case !r.sorted:
		r.sort()
	case len(r.dirty) > maxDirty:
		r.settle()
	}
	o := 0
	if opt.ByCount {
		o = 1
	}
	limit := opt.Limit
	if limit == 0 {
		limit = len(r.tags)
	}
	var changed []TagStat
	for p := range r.dirty {
		if keep(&r.tags[p]) {
			changed = append(changed, r.tags[p])
		}
	}
	changed = topK(changed, limit, less)
	out := make([]TagStat, 0, min(limit, len(r.tags)))
	j := 0
	for _, p := range r.order[o] {
		if len(out) == limit {
			break
		}
		s := &r.tags[p]
		if r.dirty[p] || !keep(s) {
			continue
		}
		for j < len(changed) && len(out) < limit && less(changed[j], *s) < 0 {
			out = append(out, changed[j])
			j++
		}
		if len(out) < limit {
			out = append(out, *s)
		}
	}
	for j < len(changed) && len(out) < limit {
		out = append(out, changed[j])
		j++
	}
	return out
}

// maxDirty is how many changed tags a ranking's reads merge in on the fly
// before settle puts them in place (a variable for tests).
var maxDirty = 256

// settle puts the changed tags (dirty) in place in both orders: the others
// are still in order, so one merge of them with the changed ones sorted,
// O(tags), instead of a sort. A tag no member holds any more leaves the
// orders (it stays in tags until the next sort).
func (r *ranking) settle() {
	for o := range r.order {
		less := tagOrder(o == 1)
		var d []int32
		for p := range r.dirty {
			if r.tags[p].Customers > 0 {
				d = append(d, p)
			}
		}
		slices.SortFunc(d, func(a, b int32) int { return less(r.tags[a], r.tags[b]) })
		old := r.order[o]
		merged := make([]int32, 0, len(old)+len(d))
		j := 0
		for _, p := range old {
			if r.dirty[p] {
				continue
			}
			for j < len(d) && less(r.tags[d[j]], r.tags[p]) < 0 {
				merged = append(merged, d[j])
				j++
			}
			merged = append(merged, p)
		}
		r.order[o] = append(merged, d[j:]...)
	}
	r.dirty = nil
}

// sort drops the tags no member holds and sorts the two orders.
func (r *ranking) sort() {
	r.tags = slices.DeleteFunc(r.tags, func(s TagStat) bool { return s.Customers == 0 })
	r.byName = nil
	for o := range r.order {
		ord := make([]int32, len(r.tags))
		for i := range ord {
			ord[i] = int32(i)
		}
		less := tagOrder(o == 1)
		slices.SortFunc(ord, func(a, b int32) int { return less(r.tags[a], r.tags[b]) })
		r.order[o] = ord
	}
	r.sorted, r.dirty = true, nil
}
