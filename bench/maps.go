package bench

import (
	"time"

	"github.com/tagseg/tagseg/internal/gen"
)

// Maps is the peer a developer writes without a library: a posting list
// (sorted customer IDs) per tag in a map, the tags of each customer, the
// MRR per customer and its events, and straightforward merge loops.
type Maps struct {
	N        int
	Postings map[string][]uint32 // tag → sorted customer IDs
	TagNames []string            // tag number → name
	TagsOf   [][]uint32          // customer → tag numbers
	MRRs     []int64             // customer → current MRR (cents)
	Events   [][]Event           // customer → MRR events in time order
}

// Event is one MRR change (unix seconds, cents).
type Event struct {
	At    int64
	Cents int64
}

// LoadMaps builds the maps peer from the data set.
func (d *Dataset) LoadMaps() (*Maps, LoadMeta) {
	start := time.Now()
	m := &Maps{N: d.N, Postings: map[string][]uint32{}, TagsOf: make([][]uint32, d.N), MRRs: make([]int64, d.N), Events: make([][]Event, d.N)}
	tagNum := map[string]uint32{}
	meta := LoadMeta{System: "maps", N: d.N, Seed: d.Seed, Mode: "in memory"}
	bar := Progress(d.N, "maps load")
	for lo, cs := range d.Batches(DefaultBatch) {
		for i := range cs {
			id := uint32(lo + i)
			c := &cs[i]
			tags := make([]uint32, len(c.Tags))
			for k, t := range c.Tags {
				n, ok := tagNum[t]
				if !ok {
					n = uint32(len(m.TagNames))
					tagNum[t] = n
					m.TagNames = append(m.TagNames, t)
				}
				tags[k] = n
				m.Postings[t] = append(m.Postings[t], id)
			}
			m.TagsOf[id] = tags
			m.Events[id], m.MRRs[id] = eventsOf(c)
			meta.Assignments += int64(len(c.Tags))
			meta.Events += int64(len(c.Events))
		}
		bar.Add(len(cs))
	}
	bar.Finish()
	meta.Seconds = time.Since(start).Seconds()
	meta.Built = time.Now().UTC()
	return m, meta
}

// eventsOf returns a generated customer's MRR events and its current MRR.
func eventsOf(c *gen.Customer) ([]Event, int64) {
	if len(c.Events) == 0 {
		return nil, 0
	}
	ev := make([]Event, len(c.Events))
	for k, e := range c.Events {
		ev[k] = Event{e.At.Unix(), e.Cents}
	}
	return ev, ev[len(ev)-1].Cents
}

// Name implements System.
func (*Maps) Name() string { return "maps" }

// eval returns the sorted IDs of q's members.
func (m *Maps) eval(q Q) []uint32 {
	switch q.Op {
	case "tag":
		return m.Postings[q.Tag] // shared: never changed in place
	case "not":
		return m.difference(m.all(), m.eval(q.Kids[0]))
	case "or":
		out := m.eval(q.Kids[0])
		for _, k := range q.Kids[1:] {
			out = union(out, m.eval(k))
		}
		return out
	}
	// and: intersect the positive terms, subtract the negative ones.
	var out []uint32
	first := true
	var neg [][]uint32
	for _, k := range q.Kids {
		if k.Op == "not" {
			neg = append(neg, m.eval(k.Kids[0]))
			continue
		}
		if first {
			out, first = m.eval(k), false
		} else {
			out = intersect(out, m.eval(k))
		}
	}
	if first {
		out = m.all()
	}
	for _, n := range neg {
		out = m.difference(out, n)
	}
	return out
}

func (m *Maps) all() []uint32 {
	out := make([]uint32, m.N)
	for i := range out {
		out[i] = uint32(i)
	}
	return out
}

func intersect(a, b []uint32) []uint32 {
	out := make([]uint32, 0, min(len(a), len(b)))
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] < b[j]:
			i++
		case a[i] > b[j]:
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	return out
}

func union(a, b []uint32) []uint32 {
	out := make([]uint32, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] < b[j]:
			out = append(out, a[i])
			i++
		case a[i] > b[j]:
			out = append(out, b[j])
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	out = append(out, a[i:]...)
	return append(out, b[j:]...)
}

func (m *Maps) difference(a, b []uint32) []uint32 {
	out := make([]uint32, 0, len(a))
	j := 0
	for _, x := range a {
		for j < len(b) && b[j] < x {
			j++
		}
		if j < len(b) && b[j] == x {
			continue
		}
		out = append(out, x)
	}
	return out
}

// Count implements System.
func (m *Maps) Count(q Q) (uint64, error) { return uint64(len(m.eval(q))), nil }

// CountMRR implements System.
func (m *Maps) CountMRR(q Q) (uint64, int64, error) {
	ids := m.eval(q)
	var sum int64
	for _, id := range ids {
		sum += m.MRRs[id]
	}
	return uint64(len(ids)), sum, nil
}

// Series implements System: each member's events are replayed.
func (m *Maps) Series(q Q, from, to time.Time) ([]Point, error) {
	ids := m.eval(q)
	each := func(yield func(uint32) bool) {
		for _, id := range ids {
			if !yield(id) {
				return
			}
		}
	}
	return replay(m.Events, each, from, to), nil
}

// replay is the monthly series of the customers each yields, from their
// events: each change is classified by the value before it and whether
// the customer ever paid before.
func replay(events [][]Event, each func(func(uint32) bool), from, to time.Time) []Point {
	bounds := months(from, to)
	var mv []movement
	byMonth := map[int]*movement{}
	each(func(id uint32) bool {
		var prev int64
		paid := false
		for _, e := range events[id] {
			t := time.Unix(e.At, 0).UTC()
			if !t.Before(bounds[len(bounds)-1]) {
				break
			}
			mi := monthIndex(t)
			a := byMonth[mi]
			if a == nil {
				a = &movement{month: mi}
				byMonth[mi] = a
			}
			cur := e.Cents
			if cur == prev {
				continue
			}
			switch {
			case prev == 0 && paid:
				a.react += cur
			case prev == 0:
				a.nb += cur
			case cur == 0:
				a.churn -= prev
			case cur > prev:
				a.exp += cur - prev
			default:
				a.contr += cur - prev
			}
			switch {
			case prev == 0 && cur > 0:
				a.dpaying++
			case prev > 0 && cur == 0:
				a.dpaying--
			}
			prev = cur
			if cur > 0 {
				paid = true
			}
		}
		return true
	})
	for _, a := range byMonth {
		mv = append(mv, *a)
	}
	return fold(mv, from, to)
}

// TagStats implements System: for each member, for each of its tags, add
// one customer and its MRR to that tag's row.
func (m *Maps) TagStats(q Q, limit int, byCount bool) ([]TagStat, error) {
	type acc struct {
		n   uint64
		mrr int64
	}
	accs := make([]acc, len(m.TagNames))
	for _, id := range m.eval(q) {
		for _, t := range m.TagsOf[id] {
			accs[t].n++
			accs[t].mrr += m.MRRs[id]
		}
	}
	var out []TagStat
	for t, a := range accs {
		if a.n > 0 {
			out = append(out, TagStat{Tag: m.TagNames[t], Customers: a.n, MRR: a.mrr})
		}
	}
	return sortTagStats(out, limit, byCount), nil
}

// Close implements System.
func (m *Maps) Close() error { return nil }
