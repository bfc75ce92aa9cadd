package tagseg

// Following commits. Code that keeps something derived from the index —
// answers kept across commits (answers.go), the forward index of TagStats,
// records of who entered and left a saved segment — follows each commit
// from what the commit touched instead of recomputing it:
//
//   - commitInfo describes one commit: the state before, the state after,
//     and touched, the dense IDs of every customer whose tags, equality
//     fields, columns, record, MRR history or existence the commit changed
//     (a superset: a customer written back unchanged may be in it). No
//     customer outside touched reads differently in the two states.
//   - evalOn evaluates an expression on a state restricted to a set of
//     IDs, at a cost about proportional to the set's size times the
//     expression's, not to the number of customers: with touched, the
//     members after a commit are (before − touched) ∪ evalOn(after,
//     touched).
//   - a follower is called by the writer at each commit: prepare before
//     bbolt's Commit, inside the write transaction (it may write keys of
//     its own there; an error rolls the batch back), and published once the
//     new state is what readers get. Both run in the writer's call, holding
//     the writer's lock: keep them short.

import (
	"math/bits"

	"github.com/RoaringBitmap/roaring/v2"
	bolt "go.etcd.io/bbolt"
)

// commitInfo is one commit as followers see it.
//
// In Index.update (every write but Load): old is the state the batch began
// on, new the state it makes (new.txid is the commit's bbolt transaction),
// btx the write transaction, already holding the batch's writes, and
// deltas the batch's bitmap changes.
//
// In Load, prepare is called for each batch Load commits, with old the
// state before the Load, new a state that holds only the batch's customers
// (valid for IDs in touched, which are all new: evaluate on it with evalOn
// over touched only), btx the batch's write transaction and deltas nil.
// published is called once when Load ends, with old the state before the
// Load, new the state after, touched every ID it created, btx nil.
type commitInfo struct {
	ix     *Index
	old    *state
	btx    *bolt.Tx           // the write transaction; nil in published
	deltas map[bmKey]*bmDelta // the batch's bitmap changes; nil for Load
	load   bool               // a Load (see above)

	new     *state          // see After
	mkNew   func() *state   // makes new on first use, in Load's batches
	tx      *Tx             // the batch, to compute touched from
	touched *roaring.Bitmap // made on first use by IDs
}

// savedChange is a saved segment saved or deleted by a commit: its name,
// the query it had before ("" if none) and after ("" when deleted).
type savedChange struct{ Name, Old, New string }

// Saved returns the saved segments the commit saved or deleted, in the
// order the batch did it (none for Load).
func (c *commitInfo) Saved() []savedChange {
	if c.tx == nil {
		return nil
	}
	return c.tx.segs
}

// Before returns the state before the commit.
func (c *commitInfo) Before() *state { return c.old }

// After returns the state after the commit (in Load's prepare, the
// batch's customers only: see commitInfo).
func (c *commitInfo) After() *state {
	if c.new == nil {
		c.new = c.mkNew()
	}
	return c.new
}

// IDs returns the touched set of the commit: not to be changed.
func (c *commitInfo) IDs() *roaring.Bitmap {
	if c.touched == nil {
		c.touched = c.tx.touched()
	}
	return c.touched
}

// follower is code that follows commits; see the top of this file.
type follower interface {
	// prepare runs before bbolt's Commit, in the write transaction c.btx.
	// An error rolls the batch back and is returned to the writer. The
	// commit may still fail after it, and published is then not called:
	// when nothing reached the file (ErrIO) the index goes on from the
	// state before, so prepare must not change anything readers or the
	// next commit see (see commitTx).
	prepare(c *commitInfo) error
	// published runs once readers get c.new; c.btx is nil.
	published(c *commitInfo)
}

// batchFollower is a follower that also wants to know when each batch of
// a Load has committed (bbolt serves it), before the Load ends: watched
// segments wake the readers waiting for changes then.
type batchFollower interface {
	batchCommitted(c *commitInfo) // c as given to prepare; c.btx has ended
}

// batchCommitted runs the batchCommitted of the followers that have one,
// after a Load's batch committed.
func (ix *Index) batchCommitted(c *commitInfo) {
	for _, f := range ix.followers {
		if bf, ok := f.(batchFollower); ok {
			bf.batchCommitted(c)
		}
	}
}

// prepare runs every follower's prepare.
func (ix *Index) prepare(c *commitInfo) error {
	for _, f := range ix.followers {
		if err := f.prepare(c); err != nil {
			return err
		}
	}
	return nil
}

// published runs every follower's published, after c.new was published.
func (ix *Index) published(c *commitInfo) {
	c.btx = nil
	for _, f := range ix.followers {
		f.published(c)
	}
}

// touched returns the IDs of every customer the batch changed: those of
// its bitmap changes (tags, equality fields, live: creates and deletes),
// its column values, MRR histories and rewritten records, and the IDs it
// created. The work is proportional to the batch's changes.
func (tx *Tx) touched() *roaring.Bitmap {
	bms := make([]*roaring.Bitmap, 0, 2*len(tx.deltas)+1)
	for _, d := range tx.deltas {
		if !d.add.IsEmpty() {
			bms = append(bms, d.add)
		}
		if !d.del.IsEmpty() {
			bms = append(bms, d.del)
		}
	}
	if tx.recs != nil {
		bms = append(bms, tx.recs)
	}
	var t *roaring.Bitmap
	switch len(bms) {
	case 0:
		t = roaring.New()
	case 1:
		t = bms[0].Clone()
	default:
		t = roaring.FastOr(bms...)
	}
	for id := range tx.hist {
		t.Add(id)
	}
	for c := range tx.cols {
		t.Add(c.id)
	}
	if tx.nextID > tx.st.nextID {
		t.AddRange(uint64(tx.st.nextID), uint64(tx.nextID))
	}
	return t
}

// touch records that the batch rewrote the record of id in a way no bitmap,
// column or history shows (a name or company changed).
func (tx *Tx) touch(id uint32) {
	if tx.recs == nil {
		tx.recs = roaring.New()
	}
	tx.recs.Add(id)
}

// evalOn returns the members of e among the IDs of u on the state st: the
// same set as the whole evaluation of e on st intersected with u, at a
// cost about proportional to |u| times the size of e (each tag or field
// value's bitmap intersected with u, MRR and column comparisons on u's
// values, record-only fields from u's records).
//
// btx must be a bbolt transaction of the same commit as st (in a
// follower's prepare, c.btx for c.new), or nil: fields held only in the
// customer records (name, company, external_id, email ranges) then give
// an error wrapping ErrInvalid. u is not changed.
func evalOn(ix *Index, st *state, btx *bolt.Tx, e Expr, u *roaring.Bitmap) (*roaring.Bitmap, error) {
	ev := &evaluator{ix: ix, st: st, btx: btx, univ: u}
	v, err := ev.eval(e)
	if err != nil {
		return nil, err
	}
	return v.own(), nil
}

// unknownTags returns the tags e names that no customer of st holds, in the
// order first named (as Segment.UnknownTags), without evaluating e.
func unknownTags(ix *Index, st *state, e Expr) ([]string, error) {
	tags, _, err := unknownNames(ix, st, e)
	return tags, err
}

// unknownNames is unknownTags with the custom attributes e names that no
// customer of st holds (as Segment.UnknownFields).
func unknownNames(ix *Index, st *state, e Expr) (tags, fields []string, err error) {
	ev := &evaluator{ix: ix, st: st, univ: roaring.New()}
	if _, err := ev.eval(e); err != nil {
		return nil, nil, err
	}
	return ev.unknown, ev.unknownFields, nil
}

// batchState is the state of a batch of Load alone: its customers (IDs lo
// to hi-1, ids the IDs each bitmap gains) and nothing else, for evalOn
// over those IDs. Columns are sparse: blocks outside the batch share one
// block of "none" values.
func batchState(txid int, lo, hi uint32, ids map[bmKey][]uint32, batch []loadRow) *state {
	ns := newState()
	ns.txid, ns.nextID = txid, hi
	for k, v := range ids {
		b := roaring.New()
		b.AddMany(v)
		ns.set(k, freeze(b))
	}
	if ns.live == nil {
		ns.live = roaring.New()
	}
	sparse := func(none int64, val func(i int) int64) column[int64] {
		var shared [blkSize]int64
		for i := range shared {
			shared[i] = none
		}
		c := column[int64]{none: none, blks: make([]*[blkSize]int64, (hi-1)>>blkBits+1)}
		for b := range c.blks {
			c.blks[b] = &shared
		}
		for b := lo >> blkBits; b <= (hi-1)>>blkBits; b++ {
			blk := shared
			c.blks[b] = &blk
		}
		for i := range batch {
			id := lo + uint32(i)
			c.blks[id>>blkBits][id&blkMask] = val(i)
		}
		return c
	}
	for col := range numCols {
		ns.cols[col] = sparse(colNone[col], func(i int) int64 { return batch[i].cols[col] })
	}
	ns.mrr = sparse(0, func(i int) int64 { return current(batch[i].hist) })
	hist := ns.hist.edit()
	var planes [payPlane + 1][]uint32
	for i := range batch {
		h := batch[i].hist
		if len(h) == 0 {
			continue
		}
		id := lo + uint32(i)
		hist.set(id, h)
		v := current(h)
		if v > 0 {
			planes[payPlane] = append(planes[payPlane], id)
		}
		for u := uint64(v); u != 0; u &= u - 1 {
			p := bits.TrailingZeros64(u)
			planes[p] = append(planes[p], id)
		}
	}
	ns.hist = hist.done()
	for p, v := range planes {
		b := roaring.New()
		b.AddMany(v)
		if p == payPlane {
			ns.paying = b
		} else if len(v) > 0 {
			for len(ns.planes) < p {
				ns.planes = append(ns.planes, roaring.New())
			}
			ns.planes = append(ns.planes[:p], b)
		}
	}
	ns.freezeAll()
	return ns
}
