package bench

import (
	"time"

	"github.com/RoaringBitmap/roaring/v2"
	bsi "github.com/RoaringBitmap/roaring/v2/BitSliceIndexing"
)

// Roaring is the peer a careful developer writes by hand on the roaring
// library, the same as tagseg's core without the rest: one bitmap per tag
// (run-optimized), the current MRR as a dense slice and as roaring's own
// bit-sliced index, and each customer's MRR events. Counts are
// AndCardinality where the query allows it, sums BSI.Sum, tag stats a loop
// over every tag (AndCardinality, then the members' MRR from the slice) and
// the series a replay of the members' events, as the maps peer does it.
type Roaring struct {
	N        int
	Tags     map[string]*roaring.Bitmap
	All      *roaring.Bitmap // every customer
	MRRs     []int64         // customer → current MRR (cents)
	MRRIndex *bsi.BSI        // the same, bit-sliced
	Events   [][]Event       // customer → MRR events in time order
}

// LoadRoaring builds the roaring peer from the data set.
func (d *Dataset) LoadRoaring() (*Roaring, LoadMeta) {
	start := time.Now()
	r := &Roaring{N: d.N, Tags: map[string]*roaring.Bitmap{}, MRRs: make([]int64, d.N), Events: make([][]Event, d.N)}
	meta := LoadMeta{System: "roaring", N: d.N, Seed: d.Seed, Mode: "in memory"}
	bar := Progress(d.N, "roaring load")
	posting := map[string][]uint32{}
	flush := func() { // the IDs gathered so far, into the bitmaps
		for t, ids := range posting {
			bm := r.Tags[t]
			if bm == nil {
				bm = roaring.New()
				r.Tags[t] = bm
			}
			bm.AddMany(ids)
			posting[t] = ids[:0]
		}
	}
	for lo, cs := range d.Batches(DefaultBatch) {
		for i := range cs {
			id := uint32(lo + i)
			c := &cs[i]
			for _, t := range c.Tags {
				posting[t] = append(posting[t], id)
			}
			r.Events[id], r.MRRs[id] = eventsOf(c)
			meta.Assignments += int64(len(c.Tags))
			meta.Events += int64(len(c.Events))
		}
		flush()
		bar.Add(len(cs))
	}
	bar.Finish()
	for _, bm := range r.Tags {
		bm.RunOptimize()
	}
	r.All = roaring.New()
	r.All.AddRange(0, uint64(d.N))
	var lo, hi int64
	for _, v := range r.MRRs {
		lo, hi = min(lo, v), max(hi, v)
	}
	r.MRRIndex = bsi.NewBSI(hi, lo)
	for id, v := range r.MRRs {
		if v != 0 {
			r.MRRIndex.SetValue(uint64(id), v)
		}
	}
	r.MRRIndex.RunOptimize()
	meta.Seconds = time.Since(start).Seconds()
	meta.Built = time.Now().UTC()
	return r, meta
}

// Name implements System.
func (*Roaring) Name() string { return "roaring" }

// eval returns q's members. The result may be one of the tag bitmaps
// itself: callers never change it.
func (r *Roaring) eval(q Q) *roaring.Bitmap {
	switch q.Op {
	case "tag":
		if bm := r.Tags[q.Tag]; bm != nil {
			return bm
		}
		return roaring.New()
	case "not":
		return roaring.AndNot(r.All, r.eval(q.Kids[0]))
	case "or":
		kids := make([]*roaring.Bitmap, len(q.Kids))
		for i, k := range q.Kids {
			kids[i] = r.eval(k)
		}
		return roaring.FastOr(kids...)
	}
	// and: intersect the positive terms, subtract the negative ones.
	pos, neg := r.andOperands(q)
	var out *roaring.Bitmap
	if len(pos) == 0 {
		out = r.All.Clone()
	} else {
		out = roaring.FastAnd(pos...)
	}
	for _, n := range neg {
		out.AndNot(n)
	}
	return out
}

// andOperands evaluates the terms of an And: the positive ones, and the
// operands of the negated ones.
func (r *Roaring) andOperands(q Q) (pos, neg []*roaring.Bitmap) {
	for _, k := range q.Kids {
		if k.Op == "not" {
			neg = append(neg, r.eval(k.Kids[0]))
		} else {
			pos = append(pos, r.eval(k))
		}
	}
	return pos, neg
}

// Count implements System: an And ends in one AndCardinality (of the last
// positive term, or minus that of the last negative one) instead of
// building its result.
func (r *Roaring) Count(q Q) (uint64, error) {
	if q.Op != "and" {
		return r.eval(q).GetCardinality(), nil
	}
	pos, neg := r.andOperands(q)
	switch {
	case len(neg) > 0 && len(pos) > 0:
		acc := roaring.FastAnd(pos...)
		for _, n := range neg[:len(neg)-1] {
			acc.AndNot(n)
		}
		return acc.GetCardinality() - acc.AndCardinality(neg[len(neg)-1]), nil
	case len(pos) == 2:
		return pos[0].AndCardinality(pos[1]), nil
	case len(pos) > 2:
		return roaring.FastAnd(pos[:len(pos)-1]...).AndCardinality(pos[len(pos)-1]), nil
	}
	return r.eval(q).GetCardinality(), nil
}

// CountMRR implements System: the members, then the sum on the BSI.
func (r *Roaring) CountMRR(q Q) (uint64, int64, error) {
	ids := r.eval(q)
	sum, n := r.MRRIndex.Sum(ids)
	return n, sum, nil
}

// Series implements System: the members' events replayed (as Maps does).
func (r *Roaring) Series(q Q, from, to time.Time) ([]Point, error) {
	return replay(r.Events, r.eval(q).Iterate, from, to), nil
}

// TagStats implements System: for every tag, its AndCardinality with the
// segment, and for a tag some members hold, their MRR summed from the
// dense slice.
func (r *Roaring) TagStats(q Q, limit int, byCount bool) ([]TagStat, error) {
	seg := r.eval(q)
	var out []TagStat
	buf := make([]uint32, 4096)
	for t, bm := range r.Tags {
		n := seg.AndCardinality(bm)
		if n == 0 {
			continue
		}
		s := TagStat{Tag: t, Customers: n}
		it := roaring.And(seg, bm).ManyIterator()
		for k := it.NextMany(buf); k > 0; k = it.NextMany(buf) {
			for _, id := range buf[:k] {
				s.MRR += r.MRRs[id]
			}
		}
		out = append(out, s)
	}
	return sortTagStats(out, limit, byCount), nil
}

// Close implements System.
func (r *Roaring) Close() error { return nil }
