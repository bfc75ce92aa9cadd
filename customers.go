package tagseg

// Reading a segment's members: the records behind its dense IDs, a page
// at a time, with read errors reported (ReadCustomers) or, for the
// contract's Customers and CustomersFrom, ending the iteration.
//
// Paging costs O(page), wherever the page starts: the roaring iterator
// jumps to the cursor (AdvanceIfNeeded: a binary search over containers,
// then within one), and only the members yielded, up to one batch ahead,
// are read. A batch is one bbolt read transaction: point reads of records,
// 32 for the first batch, twice as many for each next one up to 256, so
// that a small page reads little and a page of 200 (and one more, to tell
// whether there are more) reads 224; current MRR comes from the snapshot
// of the same commit in memory, not from the stored histories.

import (
	"fmt"
	"iter"
	"sync"
)

// firstBatch and readBatch are the numbers of members the first and the
// largest read transactions of ReadCustomers cover.
const (
	firstBatch = 32
	readBatch  = 256
)

// ReadCustomers yields the members whose dense ID is at least from, in
// dense-ID order, with a nil error. If reading fails (a damaged record, or
// the index closed meanwhile: errors wrapping ErrCorrupt, ErrClosed), it
// yields the members before the failure, then a zero Customer with the
// error, once, and stops. Like CustomersFrom, it reads the customers from
// the file as they are when yielded (tags and MRR may be newer than the
// segment), skips members deleted since, and lets the loop body call any
// method of the index. Each batch (32 members, then 64, up to 256) is
// read on one snapshot: the segment's own transaction while that is open,
// else the latest.
//
// A page of n members after the last one shown (ID last) is
//
//	for c, err := range seg.ReadCustomers(last + 1) { ... }
//
// stopping after n: it costs O(n) wherever the page is.
//
// ReadCustomers is the fallible form of CustomersFrom, which ends silently
// on an error (as the contract's iterators do after Close): a server
// answering a page should use ReadCustomers, so that a failure mid-page is
// an error rather than a short page.
func (s *Segment) ReadCustomers(from uint32) iter.Seq2[Customer, error] {
	return func(yield func(Customer, error) bool) {
		it := s.ids.Iterator()
		it.AdvanceIfNeeded(from)
		ids := make([]uint32, 0, firstBatch)
		batch := make([]Customer, 0, firstBatch)
		for n := firstBatch; ; n = min(2*n, readBatch) {
			ids = ids[:0]
			for len(ids) < n && it.HasNext() {
				ids = append(ids, it.Next())
			}
			if len(ids) == 0 {
				return
			}
			batch = batch[:0]
			err := s.readTx(func(tx *Tx) error {
				var err error
				batch, err = tx.readMembers(batch, ids)
				return err
			})
			for _, c := range batch { // on an error, those before it
				if !yield(c, nil) {
					return
				}
			}
			if err != nil {
				yield(Customer{}, err)
				return
			}
		}
	}
}

// txLink is all a Segment keeps of the transaction it was made in: the Tx
// while it runs, nil once it has ended, so that a Segment never keeps a
// finished Tx alive (an Update's deltas, its snapshot, its bbolt
// transaction). Tx.end clears it under mu, so it waits for a read through
// the Tx in progress on another goroutine, and no read starts on it after.
type txLink struct {
	mu sync.RWMutex
	tx *Tx
}

// segLink returns the link of the Segments made in tx: nil for a Tx that
// reads memory alone (no bbolt transaction to share).
func (tx *Tx) segLink() *txLink {
	if tx.btx == nil {
		return nil
	}
	if tx.link == nil {
		tx.link = &txLink{tx: tx}
	}
	return tx.link
}

// readTx runs fn in a Tx that reads the file: the one the segment was made
// in while that runs, else a View of the latest snapshot.
//
// So a Segment made in a View reads its members on the View's snapshot
// until the View returns, from the View's goroutine or any other: a
// read-only bbolt transaction is only read, never changed, by its reads,
// and the View's end waits for a batch being read through it. After the
// View, and for a Segment made by Index.Segment, each batch is read on
// the latest snapshot. A Segment made in an Update reads the batch's own
// customers through the Update's Tx, which, like the Tx, is for the
// goroutine running the Update's function only while it runs.
func (s *Segment) readTx(fn func(tx *Tx) error) error {
	guarded := func(tx *Tx) error { return guard(s.ix.path, func() error { return fn(tx) }) }
	if l := s.link; l != nil {
		l.mu.RLock()
		if tx := l.tx; tx != nil {
			defer l.mu.RUnlock()
			return guarded(tx)
		}
		l.mu.RUnlock()
	}
	return s.ix.View(guarded)
}

// readMembers appends to out the customers with the IDs as the transaction
// sees them, skipping IDs that have no record (deleted since). On an error
// out holds the customers before the one that failed.
func (tx *Tx) readMembers(out []Customer, ids []uint32) ([]Customer, error) {
	cust := tx.btx.Bucket(bktCust)
	var key [4]byte
	for _, id := range ids {
		if id >= tx.nextID {
			break // not in this snapshot (see lookupID)
		}
		v := cust.Get(u32key(key[:0], id))
		if v == nil {
			continue
		}
		r, err := openRecord(id, v)
		if err != nil {
			return out, fmt.Errorf("tagseg: %s: customer %d: %v: %w", tx.ix.path, id, err, ErrCorrupt)
		}
		out = append(out, tx.fold(r).customer(tx.mrrOf(id)))
	}
	return out, nil
}
