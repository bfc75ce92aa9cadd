package tagseg

// TagStats: per tag, how many members of a segment hold it and their MRR,
// by walking the members' tag lists (the forward index).

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/RoaringBitmap/roaring/v2"
	bolt "go.etcd.io/bbolt"
)

// TagStat is one tag's share of a segment.
type TagStat struct {
	Tag       string
	Customers uint64 // members of the segment holding the tag
	MRR       int64  // their current MRR, cents
}

// TagStatsOptions select and order the tags TagStats reports.
type TagStatsOptions struct {
	Prefix  string // only tags starting with it
	Limit   int    // at most this many (0 = all)
	ByCount bool   // sort by Customers instead of MRR
}

// tagStatsByMember counts, for each member of seg, each of its tags, through
// the forward index: work proportional to the members' tag assignments,
// not to the number of tags. The members are split into GOMAXPROCS runs
// of IDs, each counted into its own arrays; tag numbers follow the tags'
// sizes (see forwardIndex), so the counters the most members touch share
// a few cache lines.
func (st *state) tagStatsByMember(ctx context.Context, f *forward, seg *roaring.Bitmap, prefix string) ([]TagStat, error) {
	card := seg.GetCardinality()
	skip := uint32(0) // the tags numbered below are counted on their bitmaps
	if denseShare > 0 && card*denseShare >= uint64(st.nextID) {
		skip = uint32(f.dense)
	}
	w := int(min(uint64(runtime.GOMAXPROCS(0)), card/memberRun+1))
	type tally struct {
		n   uint64
		mrr int64
	}
	parts := make([][]tally, w)  // each run's figures, by tag number
	touches := make([]uint32, w) // the reads ahead, kept
	var wg sync.WaitGroup
	for p := range w {
		lo, hi := uint64(seg.Minimum()), uint64(seg.Maximum())+1
		if p > 0 {
			x, _ := seg.Select(uint32(uint64(p) * card / uint64(w)))
			lo = uint64(x)
		}
		if p < w-1 {
			x, _ := seg.Select(uint32(uint64(p+1) * card / uint64(w)))
			hi = uint64(x)
		}
		wg.Go(func() {
			ids := seg
			if w > 1 {
				ids = roaring.New()
				ids.AddRange(lo, hi)
				ids.And(seg)
			}
			acc := make([]tally, len(f.names))
			it := ids.ManyIterator()
			var buf [readAhead]uint32
			var lists [readAhead][]uint32
			var touch uint32
			for k, b := it.NextMany(buf[:]), 0; k > 0; k, b = it.NextMany(buf[:]), b+1 {
				if b%cancelEvery == 0 && ctx.Err() != nil {
					return
				}
				// The lists located and their first tags read before the
				// counting, so that their cache misses overlap.
				for j, id := range buf[:k] {
					lists[j] = f.list(id)
				}
				for _, l := range lists[:k] {
					if len(l) > 0 {
						touch += l[0]
					}
				}
				for j, id := range buf[:k] {
					l := lists[j]
					if v := st.mrr.at(id); v != 0 {
						for _, t := range l {
							if t >= skip {
								a := &acc[t]
								a.n++
								a.mrr += v
							}
						}
					} else {
						for _, t := range l {
							if t >= skip {
								acc[t].n++
							}
						}
					}
				}
			}
			parts[p] = acc
			touches[p] = touch
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("tagseg: tag stats: %w", err)
	}
	var dense []TagStat
	if skip > 0 {
		dense = st.denseTagStats(seg, f, prefix)
	}
	out := []TagStat{}
	for t, name := range f.names {
		var s TagStat
		if t < len(dense) {
			s = dense[t]
		}
		for _, p := range parts {
			s.Customers += p[t].n
			s.MRR += p[t].mrr
		}
		if s.Customers > 0 && strings.HasPrefix(name, prefix) {
			s.Tag = name
			out = append(out, s)
		}
	}
	return out, nil
}

// denseTagStats returns the figures of the forward index's dense tags (by
// tag number, those with the prefix) from their bitmaps: for each, its
// intersection with the segment and that one's MRR on the bit planes. The
// tags are split among up to GOMAXPROCS goroutines.
func (st *state) denseTagStats(seg *roaring.Bitmap, f *forward, prefix string) []TagStat {
	var todo []int
	for t := range f.dense {
		if strings.HasPrefix(f.names[t], prefix) {
			todo = append(todo, t)
		}
	}
	if len(todo) == 0 {
		return nil
	}
	out := make([]TagStat, f.dense)
	w := min(runtime.GOMAXPROCS(0), len(todo))
	var wg sync.WaitGroup
	for p := range w {
		wg.Go(func() {
			for i := p; i < len(todo); i += w {
				t := todo[i]
				bm, _ := st.tags.get(f.names[t])
				if bm == nil {
					continue
				}
				both := roaring.And(seg, bm)
				s := &out[t]
				s.Customers = both.GetCardinality()
				s.MRR = sumPlanes(both, st.planes)
			}
		})
	}
	wg.Wait()
	return out
}

// forward is the forward index: each customer's tags as tag numbers, in
// CSR form (off, tags) as built, plus the lists of customers changed since
// (more). Built on the first TagStats that needs it; each state derived
// from one that has it gets a copy that shares the CSR arrays and follows
// small batches; large batches drop it.
type forward struct {
	dense int               // the dense tags are numbered below: see denseShare
	names []string          // tag number → tag
	nums  map[string]uint32 // tag → tag number, as built: never changed after
	xnums map[string]uint32 // numbers given since the build: copied, not changed, by derive
	off   []uint32          // customer ID → start in tags; len = IDs at build + 1
	tags  []uint32
	more  cowMap[uint32, []uint32]
}

func newMore() cowMap[uint32, []uint32] {
	return newCowMap[uint32, []uint32](func(id uint32) uint8 { return uint8((id * 0x9E3779B1) >> 24) })
}

func (f *forward) list(id uint32) []uint32 {
	if f.more.len() > 0 {
		if l, ok := f.more.get(id); ok {
			return l
		}
	}
	if int(id)+1 < len(f.off) {
		return f.tags[f.off[id]:f.off[id+1]]
	}
	return nil
}

// number returns the number of a tag, if it has one.
func (f *forward) number(tag string) (uint32, bool) {
	if n, ok := f.nums[tag]; ok {
		return n, true
	}
	n, ok := f.xnums[tag]
	return n, ok
}

// fwdHolder makes the forward index once per index, not once per snapshot:
// one build at a time, on the snapshot of the TagStats that first needs
// it, then carried to the latest snapshot, over the commits that landed
// during the build; from there each commit derives the next snapshot's
// (state.derive), and a snapshot that lacks it (an older one, or one after
// a batch too large to follow) gets it from the latest one's by the
// difference of their tag bitmaps (catchUp) when that is cheaper than a
// build. Readers that find it take no lock.
type fwdHolder struct {
	mu       sync.Mutex    // held briefly: to install, and by the writer's prepare
	building chan struct{} // while a build runs; closed when it ends
	// The writer's latest commit, derived but maybe not yet published:
	// next from from, by deltas.
	next, from *state
	deltas     map[bmKey]*bmDelta
	builds     atomic.Int64 // builds so far, for tests
}

// forwardBuilt, when set by a test, is called after each build of the
// forward index, before it is carried to the latest snapshot.
var forwardBuilt func()

// forwardIndex returns the forward index of st; see fwdHolder.
func (ix *Index) forwardIndex(st *state) *forward {
	h := &ix.fwd
	for {
		if f := st.fwd.Load(); f != nil {
			return f
		}
		h.mu.Lock()
		cur := ix.cur.Load()
		if cf := cur.fwd.Load(); cf != nil && cur != st {
			h.mu.Unlock()
			if f := cf.catchUp(cur, st); f != nil {
				st.fwd.CompareAndSwap(nil, f)
				return st.fwd.Load()
			}
			h.mu.Lock() // too far apart: build
		}
		if st.fwd.Load() != nil {
			h.mu.Unlock()
			continue
		}
		if ch := h.building; ch != nil {
			h.mu.Unlock()
			<-ch // then look again: it may serve st
			continue
		}
		ch := make(chan struct{})
		h.building = ch
		h.mu.Unlock()
		f := buildForward(st)
		h.builds.Add(1)
		if forwardBuilt != nil {
			forwardBuilt()
		}
		st.fwd.CompareAndSwap(nil, f)
		ix.carry(st, f)
		h.mu.Lock()
		h.building = nil
		h.mu.Unlock()
		close(ch)
		return st.fwd.Load()
	}
}

// carry gives the forward index f of base to the latest snapshot (and the
// writer's commit in progress), over whatever commits landed since base.
func (ix *Index) carry(base *state, f *forward) {
	h := &ix.fwd
	for {
		h.mu.Lock()
		cur := ix.cur.Load()
		if cur == base || cur.fwd.Load() != nil {
			// Installed under the lock the writer's prepare takes: a
			// commit derived from cur from now on gets it (state.derive or
			// prepare); the one derived before, not yet published, is
			// given it here.
			if cur == base {
				cur.fwd.CompareAndSwap(nil, f)
			}
			if n := h.next; n != nil && h.from == cur && n.fwd.Load() == nil {
				if cf := cur.fwd.Load(); cf != nil {
					if nf := cf.derive(h.deltas); nf != nil {
						n.fwd.Store(nf)
					}
				}
			}
			h.mu.Unlock()
			return
		}
		h.mu.Unlock()
		nf := f.catchUp(base, cur) // outside the lock: the writer does not wait
		if nf == nil {
			return // too far apart: the next TagStats builds
		}
		base, f = cur, nf
	}
}

// prepare, as a follower of commits (follow.go): the new snapshot gets the
// forward index if the old one got it after state.derive looked.
func (h *fwdHolder) prepare(c *commitInfo) error {
	if c.load {
		return nil // Load's batches are published at its end
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	ns := c.After()
	if ns.fwd.Load() == nil {
		if f := c.old.fwd.Load(); f != nil {
			if nf := f.derive(c.deltas); nf != nil {
				ns.fwd.Store(nf)
			}
		}
	}
	h.next, h.from, h.deltas = ns, c.old, c.deltas
	return nil
}

// published, as a follower: after a Load, the new snapshot gets the forward
// index from the old one's when that is cheaper than a build.
func (h *fwdHolder) published(c *commitInfo) {
	if !c.load {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if f := c.old.fwd.Load(); f != nil && c.new.fwd.Load() == nil {
		if nf := f.catchUp(c.old, c.new); nf != nil {
			c.new.fwd.Store(nf)
		}
	}
}

// catchUp returns f, the forward index of from, made into to's by the
// difference of their tag bitmaps (either may be the older), or nil when
// they differ too much (see derive). A bitmap that did not change is the
// same pointer in both, so the work is one map read per tag plus the
// changed bitmaps.
func (f *forward) catchUp(from, to *state) *forward {
	deltas := map[bmKey]*bmDelta{}
	empty := roaring.New()
	for t, b := range to.tags.all() {
		a, _ := from.tags.get(t)
		if a == b {
			continue
		}
		if a == nil {
			deltas[bmKey{bkTag, t}] = &bmDelta{b, empty}
		} else {
			deltas[bmKey{bkTag, t}] = &bmDelta{roaring.AndNot(b, a), roaring.AndNot(a, b)}
		}
	}
	for t, a := range from.tags.all() {
		if _, ok := to.tags.get(t); !ok {
			deltas[bmKey{bkTag, t}] = &bmDelta{empty, a}
		}
	}
	return f.derive(deltas)
}

// buildForward builds the forward index of st from its tag bitmaps.
func buildForward(st *state) *forward {
	n := st.nextID
	f := &forward{nums: make(map[string]uint32, st.tags.len()), off: make([]uint32, n+1), more: newMore()}
	type sized struct {
		tag  string
		bm   *roaring.Bitmap
		card uint64
	}
	all := make([]sized, 0, st.tags.len())
	for t, bm := range st.tags.all() {
		all = append(all, sized{t, bm, bm.GetCardinality()})
	}
	// Numbered largest first: the counters of the tags most members hold
	// are then neighbours in TagStats.
	slices.SortFunc(all, func(a, b sized) int { return cmp.Or(cmp.Compare(b.card, a.card), strings.Compare(a.tag, b.tag)) })
	bms := make([]*roaring.Bitmap, len(all))
	f.names = make([]string, len(all))
	for i, t := range all {
		f.names[i] = t.tag
		f.nums[t.tag] = uint32(i)
		bms[i] = t.bm
		if denseShare > 0 && t.card*denseShare >= uint64(n) {
			f.dense = i + 1
		}
	}

	byBlocks(n, bms, func(_ int, ids []uint32) { // count, then place
		for _, id := range ids {
			f.off[id+1]++
		}
	})
	for i := 1; i < len(f.off); i++ {
		f.off[i] += f.off[i-1]
	}
	f.tags = make([]uint32, f.off[n])
	pos := slices.Clone(f.off[:n])
	byBlocks(n, bms, func(t int, ids []uint32) {
		for _, id := range ids {
			f.tags[pos[id]] = uint32(t)
			pos[id]++
		}
	})
	return f
}

// byBlocks calls fn(t, ids) with the members of each bitmap bms[t], all
// below n, block of 2^blockBits IDs by block: every tag's members in a
// block, then in the next, so that the writes fn makes for one block stay
// close together in memory. The blocks are split into runs, one per
// goroutine (up to GOMAXPROCS): fn is called concurrently for IDs of
// different runs. Each tag is read through a buffer sized for its members
// per block; ids is part of it.
func byBlocks(n uint32, bms []*roaring.Bitmap, fn func(t int, ids []uint32)) {
	blocks := uint64(n>>blockBits) + 1
	sizes := make([]int, len(bms))
	total := 0
	for t, bm := range bms {
		sizes[t] = int(min(4096, max(16, bm.GetCardinality()/blocks)))
		total += sizes[t]
	}
	w := min(uint64(runtime.GOMAXPROCS(0)), blocks)
	var wg sync.WaitGroup
	for p := range w {
		wg.Go(func() { blockRun(bms, sizes, total, p*blocks/w, (p+1)*blocks/w, fn) })
	}
	wg.Wait()
}

// blockRun is one run of byBlocks: the blocks first..end-1. Members below
// the first block are read and skipped (roaring's bulk iterator cannot
// seek).
func blockRun(bms []*roaring.Bitmap, sizes []int, total int, first, end uint64, fn func(t int, ids []uint32)) {
	type cursor struct {
		it     roaring.ManyIntIterable
		t      int
		buf    []uint32
		at, to int // the unread part of buf
	}
	cur := make([]cursor, len(bms))
	bufs := make([]uint32, total)
	for t, bm := range bms {
		l := sizes[t]
		cur[t] = cursor{it: bm.ManyIterator(), t: t, buf: bufs[:l:l]}
		bufs = bufs[l:]
	}
	lower := first << blockBits
	for b := first; b < end && len(cur) > 0; b++ {
		limit := (b + 1) << blockBits
		k := 0
		for _, c := range cur {
			for {
				if c.at == c.to {
					c.at, c.to = 0, c.it.NextMany(c.buf)
					if c.to == 0 {
						break
					}
				}
				j := c.at
				for j < c.to && uint64(c.buf[j]) < limit {
					j++
				}
				i := c.at
				for b == first && i < j && uint64(c.buf[i]) < lower {
					i++
				}
				if j > i {
					fn(c.t, c.buf[i:j])
				}
				c.at = j
				if j < c.to {
					break // the next member is in a later block
				}
			}
			if c.to > 0 {
				cur[k] = c
				k++
			}
		}
		cur = cur[:k]
	}
}

// derive returns the forward index after a batch's tag changes, sharing
// what did not change; nil when the batch is large enough that a new build
// is cheaper. f is not changed.
func (f *forward) derive(deltas map[bmKey]*bmDelta) *forward {
	changed := 0
	for k, d := range deltas {
		if k.kind == bkTag {
			changed += int(d.add.GetCardinality() + d.del.GetCardinality())
		}
	}
	if changed == 0 {
		return f
	}
	if f.more.len()+changed > len(f.off)/8+1024 {
		return nil // cheaper to build again when next needed
	}
	nf := *f
	more := f.more.edit()
	for k, d := range deltas {
		if k.kind != bkTag || (d.add.IsEmpty() && d.del.IsEmpty()) {
			continue
		}
		t, ok := nf.number(k.name)
		if !ok { // a new tag: numbered in nf's copies of the extra numbers
			if len(nf.xnums) == len(f.xnums) {
				nf.xnums = maps.Clone(f.xnums)
				if nf.xnums == nil {
					nf.xnums = map[string]uint32{}
				}
				nf.names = slices.Clip(nf.names)
			}
			t = uint32(len(nf.names))
			nf.names = append(nf.names, k.name)
			nf.xnums[k.name] = t
		}
		get := func(id uint32) []uint32 {
			if l, ok := more.get(id); ok {
				return l
			}
			return f.list(id)
		}
		d.add.Iterate(func(id uint32) bool {
			if l := get(id); !slices.Contains(l, t) {
				more.set(id, append(slices.Clip(l), t))
			}
			return true
		})
		d.del.Iterate(func(id uint32) bool {
			more.set(id, slices.DeleteFunc(slices.Clone(get(id)), func(x uint32) bool { return x == t }))
			return true
		})
	}
	nf.more = more.done()
	return &nf
}

// denseShare: a tag held by at least 1/denseShare of the customers when
// the forward index is built is a dense tag. For a segment of at least
// 1/denseShare of the customers too, TagStats skips the dense tags in the
// members' lists and counts them on their bitmaps instead: their
// intersections with such a segment are bitmap containers, whose MRR the
// bit planes sum in a few microseconds per 2^16 IDs (the dozen tags above
// 25% of the customers hold about 30% of all assignments). 0: no dense
// tags. A variable so that tests can vary it.
var denseShare uint64 = 4

// memberRun is the number of members per goroutine below which the
// forward-index TagStats does not split a segment, and blockBits the log2
// of the ID blocks the forward index is built by: variables so that tests
// can exercise the splits on small data.
var (
	memberRun uint64 = 65536
	blockBits        = 16
)

// TagStats reports, for every tag that members of the segment e hold, how
// many members hold it and their total current MRR. The result is exact,
// sorted by MRR descending (ByCount: by Customers), then by the other
// figure descending, then by tag ascending, and cut to opt.Limit.
//
// It walks the members' tag lists: a forward index, built from the
// bitmaps by the first TagStats (a few seconds at 10M customers, on
// GOMAXPROCS goroutines), about 4 bytes per tag assignment, kept up to
// date by small write batches and dropped by large ones. The work is
// proportional to the members' tag assignments, spread over GOMAXPROCS
// goroutines; for a segment of a quarter of the customers or more, the
// tags held by a quarter or more are counted on their bitmaps and the MRR
// bit planes instead (see denseShare). The first opt.Limit are picked
// without sorting the rest.
func (tx *Tx) TagStats(e Expr, opt TagStatsOptions) ([]TagStat, error) {
	return tx.TagStatsContext(context.Background(), e, opt)
}

// TagStatsContext is TagStats, given up when ctx is done: the members'
// walk checks it every cancelEvery·64 members and returns ctx's error,
// wrapped. (Building the forward index, which the first TagStats does, is
// not given up: it serves the calls after.)
func (tx *Tx) TagStatsContext(ctx context.Context, e Expr, opt TagStatsOptions) (out []TagStat, err error) {
	ix := tx.ix
	if opt.Limit < 0 {
		return nil, fmt.Errorf("tagseg: tag stats: negative limit %d: %w", opt.Limit, ErrInvalid)
	}
	if a := tx.answers(); a != nil {
		ok := false
		err := tx.read(func() (err error) { out, ok, err = a.tagStats(ctx, tx, e, opt); return err })
		if ok || err != nil {
			return out, err
		}
	}
	err = tx.run(func(st *state, btx *bolt.Tx) error {
		ev := &evaluator{ctx: ctx, ix: ix, st: st, btx: btx}
		v, err := ev.eval(e)
		if err != nil {
			return err
		}
		seg := v.bm
		if seg.IsEmpty() {
			out = []TagStat{}
			return nil
		}
		out, err = st.tagStatsByMember(ctx, ix.forwardIndex(st), seg, opt.Prefix)
		return err
	})
	if err != nil {
		return nil, err
	}
	return topK(out, opt.Limit, tagOrder(opt.ByCount)), nil
}

// tagOrder is the order of TagStats: by MRR descending (byCount: by
// Customers), then by the other figure descending, then by tag.
func tagOrder(byCount bool) func(a, b TagStat) int {
	return func(a, b TagStat) int {
		x, y := cmp.Compare(b.MRR, a.MRR), cmp.Compare(b.Customers, a.Customers)
		if byCount {
			x, y = y, x
		}
		if x != 0 {
			return x
		}
		if y != 0 {
			return y
		}
		return strings.Compare(a.Tag, b.Tag)
	}
}

// topK sorts s by cmp and cuts it to its first k (k = 0: all of it),
// sorting only what it keeps: the k first are gathered in a heap (the last
// of them on top), then sorted. s is reordered.
func topK[T any](s []T, k int, cmp func(a, b T) int) []T {
	if k == 0 || len(s) <= k {
		slices.SortFunc(s, cmp)
		return s
	}
	h := s[:k:k]
	down := func(i int) {
		for {
			c := 2*i + 1
			if c >= k {
				return
			}
			if r := c + 1; r < k && cmp(h[r], h[c]) > 0 {
				c = r
			}
			if cmp(h[c], h[i]) <= 0 {
				return
			}
			h[i], h[c] = h[c], h[i]
			i = c
		}
	}
	for i := k/2 - 1; i >= 0; i-- {
		down(i)
	}
	for _, x := range s[k:] {
		if cmp(x, h[0]) < 0 {
			h[0] = x
			down(0)
		}
	}
	slices.SortFunc(h, cmp)
	return h
}

// TagStats reports, for every tag that members of the segment e hold, how
// many members hold it and their total current MRR; see Tx.TagStats.
func (ix *Index) TagStats(e Expr, opt TagStatsOptions) (out []TagStat, err error) {
	return ix.TagStatsContext(context.Background(), e, opt)
}

// TagStatsContext is TagStats, given up when ctx is done; see
// Tx.TagStatsContext.
func (ix *Index) TagStatsContext(ctx context.Context, e Expr, opt TagStatsOptions) (out []TagStat, err error) {
	err = ix.viewExpr(e, func(tx *Tx) error { out, err = tx.TagStatsContext(ctx, e, opt); return err })
	return out, err
}

// cancelEvery: TagStatsContext and SeriesContext check their context every
// cancelEvery batches of readAhead members (4,096 members: well under a
// millisecond of work).
const cancelEvery = 64
