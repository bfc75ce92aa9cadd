package tagseg

// The encoder of the write path. Every change a batch makes reaches bbolt
// through it, whichever path made the batch — Update (Tx.flush) or Load
// (loader.write) — so each stored value is encoded one way: customer
// records, column blocks, MRR history blocks, bitmap chunks and small tags
// (in the form their counts call for, see wholeMax), and the next ID.
// Each kind of key is written in key order, by the caller's order of the
// blocks and keys it passes.

import (
	"runtime"
	"sync"

	"github.com/RoaringBitmap/roaring/v2"
	bolt "go.etcd.io/bbolt"
)

// encoder writes a batch into a bbolt write transaction.
type encoder struct {
	btx    *bolt.Tx
	nextID uint32 // the next ID after the batch: blocks hold the IDs below it
}

// records puts rs in the order given (ID order), encoding them on every
// core when there are many.
func (e encoder) records(rs []*record) error {
	vals := make([][]byte, len(rs))
	w := min(runtime.GOMAXPROCS(0), len(rs)/1024+1)
	var wg sync.WaitGroup
	for p := range w {
		wg.Go(func() {
			for i := p * len(rs) / w; i < (p+1)*len(rs)/w; i++ {
				vals[i] = seal(encodeRecord(rs[i]))
			}
		})
	}
	wg.Wait()
	b := e.btx.Bucket(bktCust)
	for i, v := range vals {
		if err := b.Put(u32key(nil, rs[i].id), v); err != nil {
			return err
		}
	}
	return nil
}

// record puts one record.
func (e encoder) record(r *record) error {
	return e.btx.Bucket(bktCust).Put(u32key(nil, r.id), seal(encodeRecord(r)))
}

// column writes blocks blks (in order) of column col, each value from at.
func (e encoder) column(col int, blks []uint32, at func(id uint32) int64) error {
	b := e.btx.Bucket(bktCol)
	vals := make([]int64, 0, colBlock)
	for _, blk := range blks {
		vals = vals[:0]
		for id := uint64(blk) * colBlock; id < min(uint64(blk+1)*colBlock, uint64(e.nextID)); id++ {
			vals = append(vals, at(uint32(id)))
		}
		if err := b.Put(colKey(col, blk), seal(encodeCol(vals))); err != nil {
			return err
		}
	}
	return nil
}

// histories writes the MRR history blocks blks (in order), each ID's
// history from at; a block whose IDs have none is deleted.
func (e encoder) histories(blks []uint32, at func(id uint32) []mrrEvent) error {
	b := e.btx.Bucket(bktEv)
	for _, blk := range blks {
		lo := uint64(blk) * histBlock
		n := int(min(lo+histBlock, uint64(e.nextID)) - lo)
		hs := func(i int) []mrrEvent { return at(uint32(lo) + uint32(i)) }
		empty := true
		for i := range n {
			if len(hs(i)) > 0 {
				empty = false
				break
			}
		}
		var err error
		if empty {
			err = b.Delete(u32key(nil, blk))
		} else {
			err = b.Put(u32key(nil, blk), seal(encodeHistBlock(hs, n)))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// next writes the next ID.
func (e encoder) next() error { return e.btx.Bucket(bktMeta).Put(keyNext, idVal(e.nextID)) }

// bmBefore is a bitmap as it was before a batch: the union of parts that
// share no ID (nil parts are none). Update's has one part, the snapshot's
// bitmap; Load's two, the state's before the Load and what its earlier
// batches added, never joined in memory.
type bmBefore []*roaring.Bitmap

func (b bmBefore) card() uint64 {
	var n uint64
	for _, p := range b {
		if p != nil {
			n += p.GetCardinality()
		}
	}
	return n
}

// within returns the IDs of r, a chunk's range.
func (b bmBefore) within(r *roaring.Bitmap) *roaring.Bitmap {
	out := roaring.New()
	for _, p := range b {
		if p != nil {
			out.Or(roaring.And(p, r))
		}
	}
	return out
}

// all returns the whole bitmap, a private copy.
func (b bmBefore) all() *roaring.Bitmap {
	out := roaring.New()
	for _, p := range b {
		if p != nil {
			out.Or(p)
		}
	}
	return out
}

// bitmap writes the change of bitmap k from before: the IDs of add join
// it (none of them in before) and those of del leave it (all in before).
// A large bitmap's chunks that the change touches are rewritten; a tag
// whose count is or becomes at most wholeMax is written in its new form
// whole (its whole value, or every chunk when it outgrows it), except
// that with deferSmall a tag that is small after the change is not
// written at all (Load stores those whole when it ends).
func (e encoder) bitmap(k bmKey, before bmBefore, add, del *roaring.Bitmap, deferSmall bool) error {
	bmb := e.btx.Bucket(bktBm)
	if k.kind == bkTag {
		oldN := before.card()
		newN := oldN + add.GetCardinality() - del.GetCardinality()
		if isWhole(newN) && deferSmall {
			return nil
		}
		if isWhole(oldN) || isWhole(newN) {
			return e.reform(bmb, k, before, add, del, oldN, newN)
		}
	}
	return chunks(roaring.Or(add, del), func(hi uint16) error {
		r := chunkRange(hi)
		c := roaring.And(add, r)
		c.Or(before.within(r))
		if !del.IsEmpty() {
			c.AndNot(del)
		}
		key := chunkKey(k, hi)
		if c.IsEmpty() {
			return bmb.Delete(key)
		}
		v, err := encodeChunk(c)
		if err != nil {
			return err
		}
		return bmb.Put(key, seal(v))
	})
}

// reform writes a tag whose old or new form is whole (see wholeMax),
// changing forms when its count crosses wholeMax: a small tag's whole
// value, or all the chunks of a tag that outgrew it.
func (e encoder) reform(bmb *bolt.Bucket, k bmKey, before bmBefore, add, del *roaring.Bitmap, oldN, newN uint64) error {
	old := before.all()
	nb := roaring.Or(old, add)
	nb.AndNot(del)
	if isWhole(newN) {
		if oldN > 0 && !isWhole(oldN) { // from chunks
			if err := chunks(old, func(hi uint16) error { return bmb.Delete(chunkKey(k, hi)) }); err != nil {
				return err
			}
		}
		v, err := encodeWhole(nb)
		if err != nil {
			return err
		}
		return bmb.Put(wholeKey(k.name), seal(v))
	}
	if err := bmb.Delete(wholeKey(k.name)); err != nil {
		return err
	}
	return putChunks(bmb, k, nb)
}
