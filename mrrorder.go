package tagseg

// A segment's members in MRR order, a page at a time, from the MRR bit
// planes: no sort of the segment, no read of a member outside the page.
//
// The members are split by the planes from the highest bit down, depth
// first: for the highest MRR first, those with the bit set before those
// without; at the lowest bit a set holds members of one MRR, yielded in
// dense-ID order. A set is split only when the walk reaches it, and one of
// at most smallSet members is not split further: its members' MRR is read
// from the column and those few are sorted. So a page costs an
// intersection and a difference per plane down to the first small set
// (over the members, word-parallel), a sort of a few small sets, then the
// page's point reads; a page after a position skips, by their bits, the
// subtrees that lie wholly before it.

import (
	"cmp"
	"iter"
	"slices"

	"github.com/RoaringBitmap/roaring/v2"
)

// smallSet is the size up to which the walk sorts a set by the MRR column
// instead of splitting it by the planes (a variable for the tests).
var smallSet uint64 = 1024

// MRRPosition is a place in a segment's MRR order: the MRR and dense ID of
// a member, after which ReadCustomersByMRR goes on. The position of a
// customer it yielded is its MRR and ID.
type MRRPosition struct {
	MRR int64
	ID  uint32
}

// ReadCustomersByMRR is ReadCustomers in the order of current MRR: the
// highest first when desc, else the lowest first; members of equal MRR in
// dense-ID order. With after, it yields the members that come after that
// position (the last customer of the previous page: its MRR and ID), so
// that a page of n costs O(n) point reads wherever it is, plus a few
// bitmap operations per MRR plane. The order is the MRR of the state the
// segment was evaluated in; the customers are read as ReadCustomers reads
// them, on the segment's own transaction while it is open (so their MRR is
// the one they are ordered by), else on the latest snapshot.
func (s *Segment) ReadCustomersByMRR(desc bool, after *MRRPosition) iter.Seq2[Customer, error] {
	return func(yield func(Customer, error) bool) {
		ids := make([]uint32, 0, firstBatch)
		batch := make([]Customer, 0, firstBatch)
		n := firstBatch
		var failed error
		// flush reads and yields the IDs gathered; false: stop.
		flush := func() bool {
			if len(ids) == 0 {
				return true
			}
			batch = batch[:0]
			err := s.readTx(func(tx *Tx) error {
				var err error
				batch, err = tx.readMembers(batch, ids)
				return err
			})
			ids = ids[:0]
			n = min(2*n, readBatch)
			for _, c := range batch {
				if !yield(c, nil) {
					return false
				}
			}
			if err != nil {
				failed = err
				return false
			}
			return true
		}
		done := mrrOrder(s.ids, s.mrrPlanes, s.mrrCol.at, desc, after, func(id uint32) bool {
			ids = append(ids, id)
			return len(ids) < n || flush()
		})
		if done && failed == nil {
			flush()
		}
		if failed != nil {
			yield(Customer{}, failed)
		}
	}
}

// mrrOrder calls fn with the IDs of set in MRR order (see
// ReadCustomersByMRR), after the position when one is given, until fn
// returns false; it reports whether it went to the end. planes[i] holds
// the IDs whose MRR has bit i set.
func mrrOrder(set *roaring.Bitmap, planes []*roaring.Bitmap, mrrOf func(uint32) int64, desc bool, after *MRRPosition, fn func(uint32) bool) bool {
	type member struct {
		mrr int64
		id  uint32
	}
	var buf []member
	// before reports whether (mrr, id) comes before the position (or is it).
	before := func(mrr int64, id uint32) bool {
		if after == nil {
			return false
		}
		if mrr == after.MRR {
			return id <= after.ID
		}
		return desc == (mrr > after.MRR)
	}
	// walk yields the members of e, whose MRR bits above bit are those of
	// prefix, in order.
	// skip reports whether the subtree of prefix below bit lies wholly
	// before the position: checked before its set is computed.
	skip := func(bit int, prefix int64) bool {
		if after == nil {
			return false
		}
		lo, hi := prefix, prefix|(int64(1)<<(bit+1)-1) // the values below
		return desc && lo > after.MRR || !desc && hi < after.MRR
	}
	var walk func(e *roaring.Bitmap, bit int, prefix int64) bool
	walk = func(e *roaring.Bitmap, bit int, prefix int64) bool {
		if e.IsEmpty() || skip(bit, prefix) {
			return true
		}
		if bit >= 0 && e.GetCardinality() <= smallSet { // a few: sorted by the column
			buf = buf[:0]
			for it := e.Iterator(); it.HasNext(); {
				id := it.Next()
				if v := mrrOf(id); !before(v, id) {
					buf = append(buf, member{v, id})
				}
			}
			slices.SortFunc(buf, func(a, b member) int {
				c := cmp.Compare(a.mrr, b.mrr)
				if desc {
					c = -c
				}
				return cmp.Or(c, cmp.Compare(a.id, b.id))
			})
			for _, m := range buf {
				if !fn(m.id) {
					return false
				}
			}
			return true
		}
		if bit < 0 { // one MRR: dense-ID order
			it := e.Iterator()
			if after != nil && prefix == after.MRR {
				if after.ID == ^uint32(0) {
					return true
				}
				it.AdvanceIfNeeded(after.ID + 1)
			}
			for it.HasNext() {
				if !fn(it.Next()) {
					return false
				}
			}
			return true
		}
		if bit >= len(planes) || planes[bit] == nil || !e.Intersects(planes[bit]) { // no member has this bit: no copy
			return walk(e, bit-1, prefix)
		}
		one := prefix | int64(1)<<bit
		set := func() bool { return skip(bit-1, one) || walk(roaring.And(e, planes[bit]), bit-1, one) }
		unset := func() bool { return skip(bit-1, prefix) || walk(roaring.AndNot(e, planes[bit]), bit-1, prefix) }
		if desc {
			return set() && unset()
		}
		return unset() && set()
	}
	return walk(set, len(planes)-1, 0)
}
