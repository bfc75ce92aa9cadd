package tagseg

// TagStats: per tag, how many members of a segment hold it and their MRR.
// Two ways, chosen by the segment's size: a small segment walks its
// members' tag lists (the forward index), a large one intersects every tag
// with the segment and the segment's MRR bit planes.

import (
	"cmp"
	"fmt"
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

// memberDriven: TagStats walks the members' tag lists (the forward index)
// when the segment holds at most 1/memberDriven of the customers, and
// intersects every tag with the segment otherwise. A variable so that tests
// can force either way.
var memberDriven uint64 = 4

// tagStatsByMember counts, for each member of seg, each of its tags, through
// the forward index: work proportional to the members' tag assignments,
// not to the number of tags.
func (st *state) tagStatsByMember(seg *roaring.Bitmap, prefix string) []TagStat {
	f := st.forwardIndex()
	ids := seg.ToArray()
	w := min(runtime.GOMAXPROCS(0), len(ids)/4096+1)
	type part struct {
		n   []uint64
		mrr []int64
	}
	parts := make([]part, w)
	var wg sync.WaitGroup
	for p := range w {
		lo, hi := p*len(ids)/w, (p+1)*len(ids)/w
		wg.Go(func() {
			n, mrr := make([]uint64, len(f.names)), make([]int64, len(f.names))
			for _, id := range ids[lo:hi] {
				v := st.mrr.at(id)
				for _, t := range f.list(id) {
					n[t]++
					mrr[t] += v
				}
			}
			parts[p] = part{n, mrr}
		})
	}
	wg.Wait()
	out := []TagStat{}
	for t, name := range f.names {
		var s TagStat
		for _, p := range parts {
			s.Customers += p.n[t]
			s.MRR += p.mrr[t]
		}
		if s.Customers > 0 && strings.HasPrefix(name, prefix) {
			s.Tag = name
			out = append(out, s)
		}
	}
	return out
}

// forward is the forward index: each customer's tags as tag numbers, in
// CSR form (off, tags) as built, plus the lists of customers changed since
// (more). Built on the first TagStats that needs it; each state derived
// from one that has it gets a copy that shares the CSR arrays and follows
// small batches; large batches drop it.
type forward struct {
	names []string          // tag number → tag
	nums  map[string]uint32 // tag → tag number; read and written by builders and the writer only
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

// num returns the number of a tag, giving it the next one if it has none.
func (f *forward) num(tag string) uint32 {
	if n, ok := f.nums[tag]; ok && int(n) < len(f.names) && f.names[n] == tag {
		return n
	}
	n := uint32(len(f.names))
	f.names = append(f.names, tag)
	f.nums[tag] = n
	return n
}

// forwardIndex returns the forward index of st, building it from the tag
// bitmaps if needed; one build at a time, and readers that find it built
// take no lock.
func (st *state) forwardIndex() *forward {
	if f := st.fwd.Load(); f != nil {
		return f
	}
	st.fwdMu.Lock()
	defer st.fwdMu.Unlock()
	if f := st.fwd.Load(); f != nil {
		return f
	}
	n := st.nextID
	f := &forward{nums: make(map[string]uint32, st.tags.len()), off: make([]uint32, n+1), more: newMore()}
	bms := make([]*roaring.Bitmap, 0, st.tags.len())
	for t, bm := range st.tags.all() {
		f.num(t)
		bms = append(bms, bm)
	}
	for _, bm := range bms { // count, then place
		bm.Iterate(func(id uint32) bool { f.off[id+1]++; return true })
	}
	for i := 1; i < len(f.off); i++ {
		f.off[i] += f.off[i-1]
	}
	f.tags = make([]uint32, f.off[n])
	pos := slices.Clone(f.off[:n])
	for t, bm := range bms {
		bm.Iterate(func(id uint32) bool {
			f.tags[pos[id]] = uint32(t)
			pos[id]++
			return true
		})
	}
	st.fwd.Store(f)
	return f
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
		if k.kind != bkTag {
			continue
		}
		t := nf.num(k.name)
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

// gatherFactor weighs summing MRR member by member against the bit planes
// in TagStats (a variable so that tests can force either way).
var gatherFactor uint64 = 20

// smallTag is the size up to which a tag's figures are gathered member by
// member rather than with one AndCardinality per MRR bit plane.
const smallTag = 128

// TagStats reports, for every tag that members of the segment e hold, how
// many members hold it and their total current MRR. The result is exact,
// sorted by MRR descending (ByCount: by Customers), then by the other
// figure descending, then by tag ascending, and cut to opt.Limit.
//
// For a segment of at most a quarter of the customers it walks the
// members' tag lists (a forward index, built from the bitmaps by the first
// TagStats that needs it, about 4 bytes per tag assignment, kept up to date
// by small write batches and dropped by large ones). For a larger segment
// it goes tag by tag: it intersects the segment with each MRR bit plane
// once, and a tag's MRR is then the weighted sum of its AndCardinality with
// each of those (or the sum of its members' MRR, when they are few). Both
// spread over GOMAXPROCS goroutines.
func (tx *Tx) TagStats(e Expr, opt TagStatsOptions) (out []TagStat, err error) {
	ix := tx.ix
	if opt.Limit < 0 {
		return nil, fmt.Errorf("tagseg: tag stats: negative limit %d: %w", opt.Limit, ErrInvalid)
	}
	err = tx.run(func(st *state, btx *bolt.Tx) error {
		ev := &evaluator{ix: ix, st: st, btx: btx}
		v, err := ev.eval(e)
		if err != nil {
			return err
		}
		seg := v.bm
		if seg.IsEmpty() {
			out = []TagStat{}
			return nil
		}
		if seg.GetCardinality()*memberDriven <= uint64(st.nextID) {
			out = st.tagStatsByMember(seg, opt.Prefix)
			return nil
		}
		segPlanes := make([]*roaring.Bitmap, len(st.planes))
		for i, p := range st.planes {
			segPlanes[i] = roaring.And(seg, p)
		}
		type tb struct {
			tag string
			bm  *roaring.Bitmap
		}
		var tags []tb
		for t, bm := range st.tags.all() {
			if strings.HasPrefix(t, opt.Prefix) {
				tags = append(tags, tb{t, bm})
			}
		}
		chunks := uint64(st.nextID>>16) + 1
		stats := make([]TagStat, len(tags))
		parallel(len(tags), func(i int) {
			t := tags[i]
			s := TagStat{Tag: t.tag}
			if t.bm.GetCardinality() <= smallTag && gatherFactor > 0 {
				t.bm.Iterate(func(id uint32) bool {
					if seg.Contains(id) {
						s.Customers++
						s.MRR += st.mrr.at(id)
					}
					return true
				})
			} else if s.Customers = seg.AndCardinality(t.bm); s.Customers > 0 {
				// Summing the members' MRR one by one costs a few ns a
				// member; a plane costs an intersection per chunk.
				if s.Customers < gatherFactor*uint64(len(segPlanes))*min(chunks, t.bm.GetCardinality()) {
					both := roaring.And(seg, t.bm)
					it := both.ManyIterator()
					buf := make([]uint32, 1024)
					for n := it.NextMany(buf); n > 0; n = it.NextMany(buf) {
						for _, id := range buf[:n] {
							s.MRR += st.mrr.at(id)
						}
					}
				} else {
					for j, p := range segPlanes {
						s.MRR += int64(p.AndCardinality(t.bm)) << j
					}
				}
			}
			stats[i] = s
		})
		out = slices.DeleteFunc(stats, func(s TagStat) bool { return s.Customers == 0 })
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b TagStat) int {
		x, y := cmp.Compare(b.MRR, a.MRR), cmp.Compare(b.Customers, a.Customers)
		if opt.ByCount {
			x, y = y, x
		}
		if x != 0 {
			return x
		}
		if y != 0 {
			return y
		}
		return strings.Compare(a.Tag, b.Tag)
	})
	if opt.Limit > 0 && len(out) > opt.Limit {
		out = out[:opt.Limit:opt.Limit]
	}
	return out, nil
}

// parallel calls fn(0..n-1) on up to GOMAXPROCS goroutines and returns
// when all calls have.
func parallel(n int, fn func(i int)) {
	w := min(runtime.GOMAXPROCS(0), n/64+1)
	if w <= 1 {
		for i := range n {
			fn(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range w {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				fn(i)
			}
		})
	}
	wg.Wait()
}

// TagStats reports, for every tag that members of the segment e hold, how
// many members hold it and their total current MRR; see Tx.TagStats.
func (ix *Index) TagStats(e Expr, opt TagStatsOptions) (out []TagStat, err error) {
	err = ix.viewExpr(e, func(tx *Tx) error { out, err = tx.TagStats(e, opt); return err })
	return out, err
}
