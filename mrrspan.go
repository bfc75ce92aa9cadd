package tagseg

// The span of the MRR histories: where a series of the whole data starts
// and ends.

import (
	"time"

	bolt "go.etcd.io/bbolt"
)

// MRRSpan returns the times of the earliest and of the latest MRR event of
// any customer, and ok false when no customer has one: the range over
// which a Series of all the data moves (the page's default range). It
// reads each customer's first and last event in memory (no file access):
// O(customers), some milliseconds a million.
func (tx *Tx) MRRSpan() (first, last time.Time, ok bool, err error) {
	var lo, hi int64
	err = tx.run(func(st *state, _ *bolt.Tx) error {
		for _, b := range st.hist.blks {
			if b == nil || len(b.ev) == 0 {
				continue
			}
			for i := range len(b.off) - 1 {
				if s, e := b.off[i], b.off[i+1]; s < e {
					if f, l := b.ev[s].at, b.ev[e-1].at; !ok {
						lo, hi, ok = f, l, true
					} else {
						lo, hi = min(lo, f), max(hi, l)
					}
				}
			}
		}
		return nil
	})
	if !ok || err != nil {
		return time.Time{}, time.Time{}, false, err
	}
	return time.Unix(0, lo).UTC(), time.Unix(0, hi).UTC(), true, nil
}

// MRRSpan returns the times of the earliest and the latest MRR event; see
// Tx.MRRSpan.
func (ix *Index) MRRSpan() (first, last time.Time, ok bool, err error) {
	err = ix.View(func(tx *Tx) error {
		first, last, ok, err = tx.MRRSpan()
		return err
	})
	return first, last, ok, err
}
