package tagseg

// The string index: for each field the table indexes ixSorted (email,
// name, company, external_id), the field's distinct values in sorted order
// with the IDs of the customers holding each, so that =, !=, <, <=, >, >=
// and prefixes take a few milliseconds at 10M customers instead of a read
// of every record.
//
// It is a B+tree of immutable nodes. A leaf holds up to leafMax values,
// packed in one string, each with its holders: one ID inline, or a bitmap
// when several customers share the value. Every inner node keeps the union
// of its subtree's IDs (a leaf too, when it holds many), so a range is the
// union of the few nodes it covers whole plus the two leaves at its ends:
// about 2 × fanMax nodes a level, whatever the number of values in range.
//
// A commit changes it as it changes the other state: edit returns a new
// tree that shares every node the commit did not touch (the path to each
// changed leaf is copied, the unions are patched with roaring's
// copy-on-write of containers, see patch in state.go). It is built on
// first use, from the records (sortedIndexes in strbuild.go), and follows
// the commits from then on.

import (
	"cmp"
	"iter"
	"slices"
	"strings"

	"github.com/RoaringBitmap/roaring/v2"
)

const (
	leafMax     = 1024  // values in a leaf, at most
	leafIDMax   = 65536 // IDs in a leaf of more than one value, at most
	leafBuild   = 768   // values in a leaf when building (room to grow)
	leafUnionAt = 4096  // a leaf keeps the union of its IDs from this many on
	postMax     = 4096  // holders of a value kept as sorted IDs, at most; more: a bitmap
	fanMax      = 32    // kids of an inner node, at most
	fanBuild    = 24    // kids of an inner node when building
)

// strIndex is the index of one field: nil root when no customer exists.
type strIndex struct {
	root *snode
}

// snode is a node of the tree: an inner node (kids) or a leaf.
type snode struct {
	// Inner nodes: the kids, and the lower bound of each kid's values
	// (keys[0] is unused: the node's own lower bound).
	kids []*snode
	keys []string

	// Leaves: value i is blob[off[i]:off[i+1]]. Its holder is one[i], or,
	// when bit i of multi is set, its holders are post[one[i]].
	blob  string
	off   []uint32
	one   []uint32
	multi []uint64 // nil when every value has one holder
	post  []posting

	ids *roaring.Bitmap // the IDs in the subtree: always for inner nodes, for leaves from leafUnionAt IDs
	n   int             // the number of IDs in the subtree
}

func (n *snode) leaf() bool { return n.kids == nil }
func (n *snode) vals() int  { return len(n.off) - 1 }
func (n *snode) val(i int) string {
	return n.blob[n.off[i]:n.off[i+1]]
}

// posting is the holders of a value several customers hold: sorted IDs
// while there are at most postMax, else a bitmap.
type posting struct {
	ids []uint32
	bm  *roaring.Bitmap
}

func (p *posting) count() int {
	if p.bm != nil {
		return int(p.bm.GetCardinality())
	}
	return len(p.ids)
}

// isMulti reports whether value i of a leaf has several holders.
func (n *snode) isMulti(i int) bool { return n.multi != nil && n.multi[i/64]&(1<<(i%64)) != 0 }

// holders adds the holders of value i to a (IDs) or bms (bitmaps).
func (n *snode) holders(i int, a *[]uint32, bms *[]*roaring.Bitmap) {
	if !n.isMulti(i) {
		*a = append(*a, n.one[i])
	} else if p := &n.post[n.one[i]]; p.bm != nil {
		*bms = append(*bms, p.bm)
	} else {
		*a = append(*a, p.ids...)
	}
}

// search is the first value index of a leaf whose value is >= s.
func (n *snode) search(s string) int {
	lo, hi := 0, n.vals()
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if n.val(m) < s {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// ---- reading ----

// strRange is the range of values [lo, hi), hi unbounded when !hasHi.
type strRange struct {
	lo    string
	hi    string
	hasHi bool
}

// after is the least string greater than s.
func after(s string) string { return s + "\x00" }

// prefixEnd is the least string greater than every string starting with p;
// ok is false when there is none (p empty or all 0xff bytes).
func prefixEnd(p string) (string, bool) {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] != 0xff {
			return p[:i] + string([]byte{p[i] + 1}), true
		}
	}
	return "", false
}

// opRange is the range of values v with "v op s" (not NotEq).
func opRange(op Op, s string) strRange {
	switch op {
	case Eq:
		return strRange{s, after(s), true}
	case Gt:
		return strRange{lo: after(s)}
	case Gte:
		return strRange{lo: s}
	case Lt:
		return strRange{"", s, true}
	case Lte:
		return strRange{"", after(s), true}
	}
	panic("tagseg: no range for " + op.String())
}

// prefixRange is the range of values starting with p.
func prefixRange(p string) strRange {
	hi, ok := prefixEnd(p)
	return strRange{p, hi, ok}
}

// below reports whether s is past the range.
func (r strRange) below(s string) bool { return r.hasHi && s >= r.hi }

// ids returns the IDs holding a value in r, a new bitmap.
func (x *strIndex) ids(r strRange) *roaring.Bitmap {
	if x == nil || x.root == nil || (r.hasHi && r.hi <= r.lo) {
		return roaring.New()
	}
	var one []uint32
	var bms []*roaring.Bitmap
	x.root.collect(r, "", "", false, &one, &bms)
	return unionOf(one, bms)
}

// unionOf is the union of IDs in any order and bitmaps, a new bitmap.
func unionOf(ids []uint32, bms []*roaring.Bitmap) *roaring.Bitmap {
	out := roaring.FastOr(bms...)
	if len(ids) > 0 {
		sortIDs(ids)
		out.AddMany(ids)
	}
	return out
}

// sortIDs sorts IDs: a radix sort, three passes of 11 bits, for many.
func sortIDs(a []uint32) {
	if len(a) < 512 {
		slices.Sort(a)
		return
	}
	buf := make([]uint32, len(a))
	src, dst := a, buf
	for shift := 0; shift < 33; shift += 11 {
		var count [2049]int
		for _, v := range src {
			count[(v>>shift)&2047+1]++
		}
		for i := 1; i < len(count); i++ {
			count[i] += count[i-1]
		}
		for _, v := range src {
			d := (v >> shift) & 2047
			dst[count[d]] = v
			count[d]++
		}
		src, dst = dst, src
	}
	copy(a, src) // three passes: the result is in buf
}

// collect gathers the IDs of n's values in r, n's values lying in
// [lo, hi) (hi unbounded when !hasHi): whole nodes as their union,
// single holders into one.
func (n *snode) collect(r strRange, lo, hi string, hasHi bool, one *[]uint32, bms *[]*roaring.Bitmap) {
	inside := lo >= r.lo && (!r.hasHi || hasHi && hi <= r.hi)
	if inside && n.ids != nil {
		*bms = append(*bms, n.ids)
		return
	}
	if n.leaf() {
		i := 0
		if !inside {
			i = n.search(r.lo)
		}
		for ; i < n.vals() && (inside || !r.below(n.val(i))); i++ {
			n.holders(i, one, bms)
		}
		return
	}
	for i, k := range n.kids {
		klo, khi, kHasHi := n.kidRange(i, lo, hi, hasHi)
		if kHasHi && khi <= r.lo {
			continue
		}
		if r.below(klo) {
			break
		}
		k.collect(r, klo, khi, kHasHi, one, bms)
	}
}

// kidRange is the range of kid i's values, the node's being [lo, hi).
func (n *snode) kidRange(i int, lo, hi string, hasHi bool) (string, string, bool) {
	if i > 0 {
		lo = n.keys[i]
	}
	if i+1 < len(n.kids) {
		hi, hasHi = n.keys[i+1], true
	}
	return lo, hi, hasHi
}

// ---- editing ----

// strChange is one change of a commit to a field: id holds val (add) or
// no longer does. Applying one is idempotent: adding a holder a value has,
// or removing one it lacks, changes nothing.
type strChange struct {
	val string
	id  uint32
	add bool
}

// edit returns the index after the changes, sharing with x every node
// they do not touch; x is not changed. chs is sorted by val here.
func (x *strIndex) edit(chs []strChange) *strIndex {
	if len(chs) == 0 {
		return x
	}
	slices.SortFunc(chs, func(a, b strChange) int { return strings.Compare(a.val, b.val) })
	var root *snode
	if x != nil {
		root = x.root
	}
	var nodes []*snode
	if root == nil {
		nodes = buildLeaves(mergeLeaf(nil, chs))
	} else {
		nodes = root.apply(chs)
	}
	for len(nodes) > 1 {
		nodes = buildInner(nodes)
	}
	if len(nodes) == 0 {
		return &strIndex{}
	}
	root = nodes[0]
	for !root.leaf() && len(root.kids) == 1 {
		root = root.kids[0]
	}
	return &strIndex{root: root}
}

// netIDs splits changes into the IDs in a subtree after them (add: each
// changed ID's current value has an add) and those no longer in it (del:
// removed from some value, added to none of the subtree's).
func netIDs(chs []strChange) (add, del *roaring.Bitmap) {
	add, del = roaring.New(), roaring.New()
	for _, c := range chs {
		if c.add {
			add.Add(c.id)
		} else {
			del.Add(c.id)
		}
	}
	del.AndNot(add)
	return add, del
}

// apply returns the nodes that replace n after the changes (sorted by
// val, all within n's range): none when n ends up empty, several when it
// splits.
func (n *snode) apply(chs []strChange) []*snode {
	if n.leaf() {
		return n.applyLeaf(chs)
	}
	kids := make([]*snode, 0, len(n.kids)+2)
	keys := make([]string, 0, len(n.kids)+2)
	changed := false
	i := 0
	for k, kid := range n.kids {
		j := i
		if k+1 < len(n.kids) {
			for j < len(chs) && chs[j].val < n.keys[k+1] {
				j++
			}
		} else {
			j = len(chs)
		}
		if j == i {
			kids, keys = append(kids, kid), append(keys, n.keys[k])
			continue
		}
		changed = true
		for m, nk := range kid.apply(chs[i:j]) {
			kids = append(kids, nk)
			if m == 0 {
				keys = append(keys, n.keys[k])
			} else {
				keys = append(keys, nk.first())
			}
		}
		i = j
	}
	if !changed {
		return []*snode{n}
	}
	if len(kids) == 0 {
		return nil
	}
	keys[0] = ""
	if len(kids) <= fanMax {
		nn := &snode{kids: kids, keys: keys}
		add, del := netIDs(chs)
		nn.ids = patch(n.ids, add, del)
		if nn.ids == nil {
			return nil
		}
		nn.n = int(nn.ids.GetCardinality())
		return []*snode{nn}
	}
	return buildInner(kids) // split; buildInner recomputes the unions
}

// first is the least value of a subtree.
func (n *snode) first() string {
	for !n.leaf() {
		n = n.kids[0]
	}
	return n.val(0)
}

// valEntry is a value and its holders while a leaf is rebuilt: one ID, or
// (multi) a posting of several.
type valEntry struct {
	val   string
	one   uint32
	multi bool
	p     posting
}

func (e *valEntry) count() int {
	if e.multi {
		return e.p.count()
	}
	return 1
}

// valEntryOf is the valEntry of a value with the holders b (a new or frozen
// bitmap, not changed after); ok is false when b is empty.
func valEntryOf(val string, b *roaring.Bitmap) (valEntry, bool) {
	switch n := b.GetCardinality(); {
	case n == 0:
		return valEntry{}, false
	case n == 1:
		return valEntry{val: val, one: b.Minimum()}, true
	case n <= postMax:
		return valEntry{val: val, multi: true, p: posting{ids: b.ToArray()}}, true
	}
	return valEntry{val: val, multi: true, p: posting{bm: freeze(b)}}, true
}

// mergeLeaf returns the entries of leaf n (nil: none) after the changes,
// sorted. Holder bitmaps the changes do not touch are shared; changed ones
// are new (patch).
func mergeLeaf(n *snode, chs []strChange) []valEntry {
	nv := 0
	if n != nil {
		nv = n.vals()
	}
	out := make([]valEntry, 0, nv+len(chs))
	i := 0
	for j := 0; j < len(chs); {
		v := chs[j].val
		for ; i < nv && n.val(i) < v; i++ {
			out = append(out, n.entryAt(i))
		}
		k := j
		for k < len(chs) && chs[k].val == v {
			k++
		}
		var old valEntry
		has := i < nv && n.val(i) == v
		if has {
			old = n.entryAt(i)
			i++
		} else {
			old = valEntry{val: v}
		}
		if e, ok := old.change(chs[j:k], has); ok {
			out = append(out, e)
		}
		j = k
	}
	for ; i < nv; i++ {
		out = append(out, n.entryAt(i))
	}
	return out
}

func (n *snode) entryAt(i int) valEntry {
	if n.isMulti(i) {
		return valEntry{val: n.val(i), multi: true, p: n.post[n.one[i]]}
	}
	return valEntry{val: n.val(i), one: n.one[i]}
}

// change applies changes of one value to its valEntry (has: the value had
// holders); ok is false when none are left.
func (e valEntry) change(chs []strChange, has bool) (valEntry, bool) {
	add, del := roaring.New(), roaring.New() // the last change of an ID wins
	for _, c := range chs {
		if c.add {
			add.Add(c.id)
			del.Remove(c.id)
		} else {
			del.Add(c.id)
			add.Remove(c.id)
		}
	}
	cur := e.p.bm
	if cur == nil {
		cur = roaring.New()
		if e.multi {
			cur.AddMany(e.p.ids)
		} else if has {
			cur.Add(e.one)
		}
	}
	add.AndNot(cur)
	del.And(cur)
	if add.IsEmpty() && del.IsEmpty() {
		return e, has
	}
	nb := patch(cur, add, del)
	if nb == nil {
		return valEntry{}, false
	}
	return valEntryOf(e.val, nb)
}

// buildLeaves packs sorted entries into new leaves of at most leafBuild
// values and leafIDMax IDs (a value with more is a leaf of its own).
func buildLeaves(es []valEntry) []*snode { return packLeaves(slices.Values(es)) }

// packLeaves is buildLeaves for entries as they come, without holding them
// all: a build's millions of values pass through one leaf's worth.
func packLeaves(es iter.Seq[valEntry]) []*snode {
	var out []*snode
	buf := make([]valEntry, 0, leafBuild)
	ids := 0
	for e := range es {
		if len(buf) == leafBuild || len(buf) > 0 && ids+e.count() > leafIDMax {
			out = append(out, newLeaf(buf))
			buf, ids = buf[:0], 0
		}
		buf = append(buf, e)
		ids += e.count()
	}
	if len(buf) > 0 {
		out = append(out, newLeaf(buf))
	}
	return out
}

// applyLeaf is apply for a leaf: it stays one leaf while it fits, its
// union patched rather than made again.
func (n *snode) applyLeaf(chs []strChange) []*snode {
	es := mergeLeaf(n, chs)
	ids := 0
	for i := range es {
		ids += es[i].count()
	}
	if len(es) == 0 || len(es) > leafMax || len(es) > 1 && ids > leafIDMax {
		return buildLeaves(es)
	}
	nl := packLeaf(es)
	switch {
	case nl.n < leafUnionAt:
	case n.ids != nil:
		add, del := netIDs(chs)
		nl.ids = patch(n.ids, add, del)
	default:
		nl.ids = freeze(nl.union())
	}
	return []*snode{nl}
}

// newLeaf makes a leaf of sorted entries, with its union when it holds
// many IDs.
func newLeaf(es []valEntry) *snode {
	n := packLeaf(es)
	if n.n >= leafUnionAt {
		n.ids = freeze(n.union())
	}
	return n
}

// packLeaf makes a leaf of sorted entries, without its union.
func packLeaf(es []valEntry) *snode {
	size := 0
	for i := range es {
		size += len(es[i].val)
	}
	var b strings.Builder
	b.Grow(size)
	n := &snode{off: make([]uint32, 1, len(es)+1), one: make([]uint32, len(es))}
	for i := range es {
		b.WriteString(es[i].val)
		n.off = append(n.off, uint32(b.Len()))
		if es[i].multi {
			if n.multi == nil {
				n.multi = make([]uint64, (len(es)+63)/64)
			}
			n.multi[i/64] |= 1 << (i % 64)
			n.one[i] = uint32(len(n.post))
			n.post = append(n.post, es[i].p)
			n.n += es[i].p.count()
		} else {
			n.one[i] = es[i].one
			n.n++
		}
	}
	n.post = slices.Clip(n.post)
	n.blob = b.String()
	return n
}

// union is the union of a leaf's holders, made from its entries.
func (n *snode) union() *roaring.Bitmap {
	var one []uint32
	var bms []*roaring.Bitmap
	for i := range n.vals() {
		n.holders(i, &one, &bms)
	}
	return unionOf(one, bms)
}

// buildInner groups nodes (in value order) under new inner nodes of at
// most fanBuild kids each, with their unions.
func buildInner(nodes []*snode) []*snode {
	var out []*snode
	for len(nodes) > 0 {
		k := min(len(nodes), fanBuild)
		if len(nodes) <= fanMax {
			k = len(nodes)
		}
		kids := slices.Clone(nodes[:k])
		nn := &snode{kids: kids, keys: make([]string, k)}
		var one []uint32
		var bms []*roaring.Bitmap
		for i, kid := range kids {
			if i > 0 {
				nn.keys[i] = kid.first()
			}
			if kid.ids != nil {
				bms = append(bms, kid.ids)
			} else {
				for v := range kid.vals() {
					kid.holders(v, &one, &bms)
				}
			}
		}
		u := unionOf(one, bms)
		nn.ids, nn.n = freeze(u), int(u.GetCardinality())
		out = append(out, nn)
		nodes = nodes[k:]
	}
	return out
}

// sortedEntries groups (value, id) pairs sorted by value, then ID, into
// entries.
func sortedEntries(pairs []strPair) iter.Seq[valEntry] {
	return func(yield func(valEntry) bool) {
		for i := 0; i < len(pairs); {
			j := i + 1
			for j < len(pairs) && pairs[j].key == pairs[i].key && pairs[j].val == pairs[i].val {
				j++
			}
			e := valEntry{val: pairs[i].val, one: pairs[i].id} // val: copied into its leaf
			if j-i > 1 {
				ids := make([]uint32, j-i)
				for k, p := range pairs[i:j] {
					ids[k] = p.id
				}
				e.multi, e.one = true, 0
				if len(ids) <= postMax {
					e.p.ids = ids
				} else {
					e.p.bm = freeze(roaring.BitmapOf(ids...))
				}
			}
			if !yield(e) {
				return
			}
			i = j
		}
	}
}

// strPair is one customer's value of a field, while building; key is the
// value's prefixKey.
type strPair struct {
	key uint64
	val string
	id  uint32
}

func cmpPair(a, b strPair) int {
	if a.key != b.key {
		return cmp.Compare(a.key, b.key)
	}
	return cmp.Or(strings.Compare(a.val, b.val), cmp.Compare(a.id, b.id))
}

// buildStrIndex makes the index of (value, ID) pairs sorted by cmpPair.
func buildStrIndex(pairs []strPair) *strIndex {
	nodes := packLeaves(sortedEntries(pairs))
	if len(nodes) == 0 {
		return &strIndex{}
	}
	for len(nodes) > 1 {
		nodes = buildInner(nodes)
	}
	return &strIndex{root: nodes[0]}
}
