package tagseg

// The snapshot. A state is one committed version of the in-memory part of
// the index: the bitmaps, the dense columns and the MRR bit planes. Once
// published it never changes: readers take the current one with an atomic
// load and keep it as long as they like, with no lock.
//
// A write transaction derives the next state from the one it started on,
// copying only what it changed:
//
//   - maps of bitmaps (tags, equality fields) are split into 256 shards;
//     the new state copies the shard array and the shards it touched;
//   - a changed bitmap is rebuilt from the old one with roaring's own
//     copy-on-write of containers: the new bitmap shares every 2^16-ID
//     container the write did not touch (see freeze), so adding a tag to
//     one customer copies one container of the tag, never a 5M-member
//     bitmap;
//   - columns (current MRR, MRR histories, attribute columns) are split
//     into blocks of 4,096 IDs; the new state copies the block table and
//     the blocks it touched.
//
// Published bitmaps are frozen: every container is marked as shared, so
// that any operation that would change one copies it first, and the
// bitmap itself has copy-on-write off, so that Clone makes a deep copy
// without writing to it. Readers may therefore pass them to any roaring
// function that does not change its arguments; no roaring call made by
// this package on a published bitmap writes to it.

import (
	"hash/maphash"
	"iter"
	"math/bits"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/RoaringBitmap/roaring/v2"
)

// state is an immutable snapshot of the in-memory index; see above.
type state struct {
	txid   int // the bbolt transaction it reflects
	nextID uint32
	live   *roaring.Bitmap
	tags   cowMap[string, *roaring.Bitmap]
	eq     map[string]cowMap[string, *roaring.Bitmap] // field → value → IDs
	mrr    column[int64]                              // current MRR by ID
	hist   histCol                                    // MRR history by ID
	cols   [numCols]column[int64]                     // attribute columns by ID
	planes []*roaring.Bitmap                          // bit i of mrr
	paying *roaring.Bitmap                            // mrr > 0
	// journal is the tag journal (journal.go); jseq the newest seq given.
	journal journal
	jseq    uint64

	fwd atomic.Pointer[forward] // see fwdHolder; nil until needed

	strx  [maxSorted]atomic.Pointer[strIndex] // the string indexes (strbuild.go); nil until built
	batch *Tx                                 // a write batch's view of its own writes (Tx.snapshot): its Tx
}

func newState() *state {
	st := &state{live: roaring.New(), tags: newStrMap(), eq: map[string]cowMap[string, *roaring.Bitmap]{}, paying: roaring.New()}
	for _, f := range eqFields {
		st.eq[f] = newStrMap()
	}
	st.mrr.none = 0
	for col := range numCols {
		st.cols[col].none = colNone[col]
	}
	return st
}

// stateFromImage makes a state of an image: its bitmaps in the sharded
// maps, its columns and histories as they are, the MRR bit planes derived
// from the current MRR. The bitmaps read from the file need no freezing:
// their containers come from FromBuffer marked as shared; those of the
// tags in thawed (completed in memory, see readTail) are frozen.
func stateFromImage(img *image, thawed []string) *state {
	st := newState()
	st.txid, st.nextID = img.txid, img.nextID
	for k, b := range img.bitmaps {
		st.set(k, b)
	}
	st.cols, st.mrr, st.hist = img.cols, img.mrr, img.hist
	st.journal, st.jseq = img.journal, img.jseq
	st.rebuildPlanes()
	st.freezeAll()
	for _, t := range thawed {
		if b := st.get(bmKey{bkTag, t}); b != nil {
			freeze(b)
		}
	}
	return st
}

// get returns the stored bitmap k, or nil.
func (st *state) get(k bmKey) *roaring.Bitmap {
	switch k.kind {
	case bkLive:
		return st.live
	case bkTag:
		b, _ := st.tags.get(k.name)
		return b
	case bkEq:
		f, v := splitEq(k.name)
		b, _ := st.eq[f].get(v)
		return b
	}
	return nil
}

// ---- frozen bitmaps ----

// freeze marks every container of b as shared and returns b. Called on a
// bitmap before it is published; from then on nothing may change it.
func freeze(b *roaring.Bitmap) *roaring.Bitmap {
	b.SetCopyOnWrite(true)
	_ = b.Clone() // marks b's containers as needing a copy before a write
	b.SetCopyOnWrite(false)
	return b
}

// patch returns (b ∪ add) − del as a new frozen bitmap sharing b's
// untouched containers, or nil when it is empty. b may be nil; b, add and
// del are not changed.
func patch(b, add, del *roaring.Bitmap) *roaring.Bitmap {
	var nb *roaring.Bitmap
	if b == nil {
		nb = add.Clone()
	} else {
		nb = roaring.Or(b, add) // shares b's frozen containers
	}
	if !del.IsEmpty() {
		nb.AndNot(del) // copies only the containers it changes
	}
	if nb.IsEmpty() {
		return nil
	}
	return freeze(nb)
}

// ---- sharded copy-on-write maps ----

const nShards = 256

// cowMap is a map split into shards, shared between states: a derived
// state copies the shard table and only the shards it changes.
type cowMap[K comparable, V any] struct {
	sh   *[nShards]map[K]V
	n    int
	hash func(K) uint8
	// order, in a map made with one (string keys), sorts the keys on first
	// use (sorted); maps derived without adding or removing a key share
	// it, so a commit that only changes values keeps it.
	order *keyOrder[K]
}

// keyOrder is the keys of a key set in order, sorted once.
type keyOrder[K comparable] struct {
	cmp  func(a, b K) int
	once sync.Once
	keys []K
}

var strSeed = maphash.MakeSeed()

func newStrMap() cowMap[string, *roaring.Bitmap] {
	m := newCowMap[string, *roaring.Bitmap](func(s string) uint8 { return uint8(maphash.String(strSeed, s)) })
	m.order = &keyOrder[string]{cmp: strings.Compare}
	return m
}

// sorted returns the keys in order; the map must have been made with an
// order. The slice is shared: do not change it.
func (m cowMap[K, V]) sorted() []K {
	o := m.order
	o.once.Do(func() {
		ks := make([]K, 0, m.n)
		for k := range m.all() {
			ks = append(ks, k)
		}
		slices.SortFunc(ks, o.cmp)
		o.keys = ks
	})
	return o.keys
}

// newKeySet gives m an order of its own after a key was added or removed.
func (m *cowMap[K, V]) newKeySet() {
	if m.order != nil {
		m.order = &keyOrder[K]{cmp: m.order.cmp}
	}
}

func newCowMap[K comparable, V any](hash func(K) uint8) cowMap[K, V] {
	return cowMap[K, V]{sh: new([nShards]map[K]V), hash: hash}
}

func (m cowMap[K, V]) get(k K) (V, bool) {
	if m.sh == nil {
		var zero V
		return zero, false
	}
	v, ok := m.sh[m.hash(k)][k]
	return v, ok
}

func (m cowMap[K, V]) len() int { return m.n }

// all yields every entry, in no particular order.
func (m cowMap[K, V]) all() iter.Seq2[K, V] {
	return func(yield func(K, V) bool) {
		if m.sh == nil {
			return
		}
		for _, s := range m.sh {
			for k, v := range s {
				if !yield(k, v) {
					return
				}
			}
		}
	}
}

// cowEdit changes a copy of a cowMap; the original is left alone.
type cowEdit[K comparable, V any] struct {
	m           cowMap[K, V]
	own         [nShards]bool
	keysChanged bool // a key was added or removed: the order is not m's
}

func (m cowMap[K, V]) edit() *cowEdit[K, V] {
	sh := *m.sh
	m.sh = &sh
	return &cowEdit[K, V]{m: m}
}

func (e *cowEdit[K, V]) shard(k K) map[K]V {
	i := e.m.hash(k)
	if !e.own[i] {
		s := make(map[K]V, len(e.m.sh[i])+1)
		for k, v := range e.m.sh[i] {
			s[k] = v
		}
		e.m.sh[i] = s
		e.own[i] = true
	}
	return e.m.sh[i]
}

func (e *cowEdit[K, V]) set(k K, v V) {
	s := e.shard(k)
	if _, ok := s[k]; !ok {
		e.m.n++
		e.keysChanged = true
	}
	s[k] = v
}

func (e *cowEdit[K, V]) del(k K) {
	if _, ok := e.m.get(k); !ok {
		return
	}
	delete(e.shard(k), k)
	e.m.n--
	e.keysChanged = true
}

func (e *cowEdit[K, V]) get(k K) (V, bool) { return e.m.get(k) }

// done returns the changed map.
func (e *cowEdit[K, V]) done() cowMap[K, V] {
	if e.keysChanged {
		e.m.newKeySet()
		e.keysChanged = false
	}
	return e.m
}

// ---- blocked copy-on-write columns ----

// colEdit changes a copy of a column; the original is left alone.
type colEdit[T any] struct {
	c   column[T]
	own map[int]bool
}

func (c column[T]) edit() *colEdit[T] {
	c.blks = append([]*[blkSize]T(nil), c.blks...)
	return &colEdit[T]{c: c, own: map[int]bool{}}
}

// grow makes room for IDs below n.
func (e *colEdit[T]) grow(n uint32) {
	for len(e.c.blks)<<blkBits < int(n) {
		b := new([blkSize]T)
		for i := range b {
			b[i] = e.c.none
		}
		e.own[len(e.c.blks)] = true
		e.c.blks = append(e.c.blks, b)
	}
}

// block returns block b for writing.
func (e *colEdit[T]) block(b int) *[blkSize]T {
	if !e.own[b] {
		nb := *e.c.blks[b]
		e.c.blks[b] = &nb
		e.own[b] = true
	}
	return e.c.blks[b]
}

func (e *colEdit[T]) set(id uint32, v T) {
	e.grow(id + 1)
	e.block(int(id >> blkBits))[id&blkMask] = v
}

func (e *colEdit[T]) done() column[T] { return e.c }

// ---- deriving the next state ----

// patchBitmaps sets each bitmap k of changes in ns, a state derived from
// st, to (st's ∪ add) − del, copying only the maps it changes.
func (ns *state) patchBitmaps(st *state, changes iter.Seq2[bmKey, *bmDelta]) {
	var tags *cowEdit[string, *roaring.Bitmap]
	eqs := map[string]*cowEdit[string, *roaring.Bitmap]{}
	for k, d := range changes {
		nb := patch(st.get(k), d.add, d.del)
		switch k.kind {
		case bkLive:
			if nb == nil {
				nb = freeze(roaring.New())
			}
			ns.live = nb
		case bkTag:
			if tags == nil {
				tags = st.tags.edit()
			}
			if nb == nil {
				tags.del(k.name)
			} else {
				tags.set(k.name, nb)
			}
		case bkEq:
			f, v := splitEq(k.name)
			e := eqs[f]
			if e == nil {
				m, ok := st.eq[f]
				if !ok {
					m = newStrMap()
				}
				e = m.edit()
				eqs[f] = e
			}
			if nb == nil {
				e.del(v)
			} else {
				e.set(v, nb)
			}
		}
	}
	if tags != nil {
		ns.tags = tags.done()
	}
	if len(eqs) > 0 {
		ns.eq = make(map[string]cowMap[string, *roaring.Bitmap], len(st.eq)+len(eqs))
		for f, m := range st.eq {
			ns.eq[f] = m
		}
		for f, e := range eqs {
			ns.eq[f] = e.done()
		}
	}
}

// payPlane is the index of the paying set in per-plane lists of changes: a
// plane number no MRR reaches.
const payPlane = 63

// patchPlanes sets the MRR bit planes and paying set of ns, a state
// derived from st, to st's with the IDs of add[i] set in plane i and those
// of del[i] cleared (i = payPlane: the paying set); a missing or empty
// entry changes nothing.
func (ns *state) patchPlanes(st *state, add, del []*roaring.Bitmap) {
	n := max(len(add), len(del))
	if n == 0 {
		return
	}
	empty := roaring.New()
	at := func(s []*roaring.Bitmap, i int) *roaring.Bitmap {
		if i < len(s) && s[i] != nil {
			return s[i]
		}
		return empty
	}
	planes := append([]*roaring.Bitmap(nil), st.planes...)
	for i := range min(n, payPlane) {
		a, d := at(add, i), at(del, i)
		if a.IsEmpty() && d.IsEmpty() {
			continue
		}
		for len(planes) <= i {
			planes = append(planes, freeze(roaring.New()))
		}
		if nb := patch(planes[i], a, d); nb != nil {
			planes[i] = nb
		} else {
			planes[i] = freeze(roaring.New())
		}
	}
	ns.planes = planes
	if a, d := at(add, payPlane), at(del, payPlane); !a.IsEmpty() || !d.IsEmpty() {
		if ns.paying = patch(st.paying, a, d); ns.paying == nil {
			ns.paying = freeze(roaring.New())
		}
	}
}

// derive returns the state after a write batch: st with the batch's
// bitmap deltas, column values and MRR histories applied, sharing with st
// everything the batch did not touch. st is not changed.
func (st *state) derive(tx *Tx) *state {
	ns := &state{nextID: tx.nextID, live: st.live, tags: st.tags, eq: st.eq, mrr: st.mrr, hist: st.hist, cols: st.cols, planes: st.planes, paying: st.paying,
		journal: tx.journal(), jseq: tx.jseq()}

	// Bitmaps.
	ns.patchBitmaps(st, func(yield func(bmKey, *bmDelta) bool) {
		for k, d := range tx.deltas {
			if (!d.add.IsEmpty() || !d.del.IsEmpty()) && !yield(k, d) {
				return
			}
		}
	})

	// Columns.
	var cols [numCols]*colEdit[int64]
	for c, v := range tx.cols {
		if cols[c.col] == nil {
			cols[c.col] = st.cols[c.col].edit()
		}
		cols[c.col].set(c.id, v)
	}
	for col, e := range cols {
		if e != nil {
			e.grow(tx.nextID)
			ns.cols[col] = e.done()
		}
	}

	// MRR histories, the current MRR and its bit planes.
	if len(tx.hist) > 0 {
		hist, mrr := st.hist.edit(), st.mrr.edit()
		var add, del []*roaring.Bitmap // per plane; the last: paying
		bit := func(s *[]*roaring.Bitmap, i int, id uint32) {
			for len(*s) <= i {
				*s = append(*s, roaring.New())
			}
			(*s)[i].Add(id)
		}
		for id, h := range tx.hist {
			hist.set(id, h)
			old, v := st.mrr.at(id), current(h)
			if old == v {
				continue
			}
			mrr.set(id, v)
			for diff := uint64(old ^ v); diff != 0; diff &= diff - 1 {
				i := bits.TrailingZeros64(diff)
				if v&(1<<i) != 0 {
					bit(&add, i, id)
				} else {
					bit(&del, i, id)
				}
			}
			if (old > 0) != (v > 0) {
				if v > 0 {
					bit(&add, payPlane, id)
				} else {
					bit(&del, payPlane, id)
				}
			}
		}
		ns.hist, ns.mrr = hist.done(), mrr.done()
		ns.patchPlanes(st, add, del)
	}
	ns.deriveSorted(st, tx.deltas)
	// The forward index, when built, follows the tag changes.
	if f := st.fwd.Load(); f != nil {
		if nf := f.derive(tx.deltas); nf != nil {
			ns.fwd.Store(nf)
		}
	}
	return ns
}

// splitEq splits the name of an equality-field bitmap into field and value.
func splitEq(name string) (field, value string) {
	field, value, _ = strings.Cut(name, "\x00")
	return field, value
}

// set stores bitmap k (nil or empty: removes it) in a state that is not
// published yet: while loading or checking.
func (st *state) set(k bmKey, bm *roaring.Bitmap) {
	switch k.kind {
	case bkLive:
		st.live = bm
	case bkTag:
		setIn(&st.tags, k.name, bm)
	case bkEq:
		f, v := splitEq(k.name)
		m, ok := st.eq[f]
		if !ok {
			m = newStrMap()
		}
		setIn(&m, v, bm)
		st.eq[f] = m
	}
}

func setIn(m *cowMap[string, *roaring.Bitmap], k string, bm *roaring.Bitmap) {
	i := m.hash(k)
	s := m.sh[i]
	if s == nil {
		s = map[string]*roaring.Bitmap{}
		m.sh[i] = s
	}
	_, had := s[k]
	if bm == nil || bm.IsEmpty() {
		if had {
			delete(s, k)
			m.n--
			m.newKeySet()
		}
		return
	}
	if !had {
		m.n++
		m.newKeySet()
	}
	s[k] = bm
}

// freezeAll freezes every bitmap of a state about to be published.
// The bitmaps read from the file (live, tags, fields) need no freezing:
// loadBitmaps builds them from chunks read with FromBuffer, whose
// containers come marked as shared.
func (st *state) freezeAll() {
	freeze(st.paying)
	for _, p := range st.planes {
		freeze(p)
	}
}

// rebuildPlanes derives the bit planes and paying set from the mrr column,
// one 2^16-ID chunk at a time through dense words; for a state not yet
// published.
func (st *state) rebuildPlanes() {
	st.planes, st.paying = nil, roaring.New()
	n := st.nextID
	var maxv int64
	for id := range n {
		maxv = max(maxv, st.mrr.at(id))
	}
	nb := bits.Len64(uint64(maxv))
	words := make([][]uint64, nb+1) // last one: paying
	for i := range words {
		words[i] = make([]uint64, 1024)
		if i < nb {
			st.planes = append(st.planes, roaring.New())
		}
	}
	for lo := uint64(0); lo < uint64(n); lo += 1 << 16 {
		for _, w := range words {
			clear(w)
		}
		any := false
		for j := range min(1<<16, uint64(n)-lo) {
			v := st.mrr.at(uint32(lo + j))
			if v == 0 {
				continue
			}
			any = true
			w, b := j>>6, uint64(1)<<(j&63)
			words[nb][w] |= b
			for u := uint64(v); u != 0; u &= u - 1 {
				words[bits.TrailingZeros64(u)][w] |= b
			}
		}
		if !any {
			continue
		}
		for i, w := range words {
			c := roaring.AddOffset(roaring.FromDense(w, true), uint32(lo))
			if i < nb {
				st.planes[i].Or(c)
			} else {
				st.paying.Or(c)
			}
		}
	}
}

// ---- packed MRR histories ----

// histEdit changes a copy of a histCol; the original is left alone. The
// changed blocks are packed again by done.
type histEdit struct {
	c    histCol
	pend map[int]*histPend
}

// histPend is the new histories of some IDs of one block.
type histPend struct {
	set [blkSize / 64]uint64 // which IDs changed
	h   [blkSize][]mrrEvent
}

func (c histCol) edit() *histEdit { return &histEdit{c: c, pend: map[int]*histPend{}} }

func (e *histEdit) block(b int) *histPend {
	p := e.pend[b]
	if p == nil {
		p = new(histPend)
		e.pend[b] = p
	}
	return p
}

// set makes h (not copied) the history of id.
func (e *histEdit) set(id uint32, h []mrrEvent) {
	p, i := e.block(int(id>>blkBits)), id&blkMask
	p.set[i/64] |= 1 << (i % 64)
	p.h[i] = h
}

// at is the history of id with the edit's changes.
func (e *histEdit) at(id uint32) []mrrEvent {
	if p, i := e.pend[int(id>>blkBits)], id&blkMask; p != nil && p.set[i/64]&(1<<(i%64)) != 0 {
		return p.h[i]
	}
	return e.c.at(id)
}

func (e *histEdit) done() histCol {
	if len(e.pend) == 0 {
		return e.c
	}
	maxb := len(e.c.blks) - 1
	for b := range e.pend {
		maxb = max(maxb, b)
	}
	blks := make([]*histBlk, maxb+1)
	copy(blks, e.c.blks)
	for b, p := range e.pend {
		old := blks[b]
		n := 0
		for i := range blkSize {
			if p.set[i/64]&(1<<(i%64)) != 0 {
				n += len(p.h[i])
			} else if old != nil {
				n += int(old.off[i+1] - old.off[i])
			}
		}
		nb := &histBlk{ev: make([]mrrEvent, 0, n)}
		for i := range blkSize {
			if p.set[i/64]&(1<<(i%64)) != 0 {
				nb.ev = append(nb.ev, p.h[i]...)
			} else if old != nil {
				nb.ev = append(nb.ev, old.ev[old.off[i]:old.off[i+1]]...)
			}
			nb.off[i+1] = uint32(len(nb.ev))
		}
		blks[b] = nb
	}
	e.pend = map[int]*histPend{}
	e.c = histCol{blks}
	return e.c
}
