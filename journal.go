package tagseg

// The tag journal: bulk tag changes that cost what they change.
//
// A customer's tags live twice: in its record, in the order first added
// (what Customer.Tags returns), and in one bitmap per tag (what queries
// read). Writing a tag on a whole segment used to rewrite every member's
// record: at 10M customers a tag on 1M of them rewrote some 3 GB of record
// pages. The copy in the record is still worth keeping — it is the only
// place the order lives, it gives a customer's tags without a tag index,
// a crash of Load is completed from it (recover.go), and Check compares
// every bitmap with it — so bulk writes keep it, but lazily:
//
//   - AddTagsToSegment, RemoveTagsFromSegment and SetTagMembers change the
//     tag's bitmap and append one entry to the journal: the tag, add or
//     remove, and the customers whose tag set it changed. No record is
//     read or written.
//   - A record carries seq, the newest entry its tags include. Reading a
//     customer applies the entries after it that name the customer, in
//     order (an add appends the tag, a remove drops it): exactly what a
//     rewrite would have stored. Any write of the record (AddTags,
//     RemoveTags, UpdateCustomer, …) stores that and the newest seq.
//   - The journal is bounded (journalMax): a commit that leaves more folds
//     the oldest entries into the records they name, oldest first, and
//     drops them; that deferred rewrite is the cost the bulk write saved.
//     Reading a customer costs one bitmap lookup per entry (a page of 200
//     customers one intersection per entry).
//
// On disk, bucket jr holds each entry under its seq (8 bytes BE): the
// entry's kind and tag, and its customers in chunks of 2^16 IDs under seq
// and the chunk number (10 bytes); meta's jseq is the newest seq ever
// given, so that a record's seq stays meaningful after its entries are
// dropped.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/RoaringBitmap/roaring/v2"
	bolt "go.etcd.io/bbolt"
)

// jentry is one bulk change of one tag.
type jentry struct {
	seq uint64
	tag string
	add bool
	ids *roaring.Bitmap // the customers whose tag set it changed; frozen once published
}

// journal is the entries not yet folded into every record they name,
// oldest first. States share it: it is never changed in place.
type journal []*jentry

// journalMaxEntries and journalMaxIDs bound the journal: at most 1,024
// entries, holding at most as many customer IDs as there are live
// customers, or 2^20 when fewer. (Variables: tests lower them.)
var (
	journalMaxEntries = 1024
	journalMinIDs     = uint64(1 << 20)
)

func journalMaxIDs(live uint64) uint64 { return max(live, journalMinIDs) }

// fold brings the tags of r, a record just read, up to the newest entry:
// those after r.seq that name it are applied in order.
func (j journal) fold(r *record) {
	i, _ := slices.BinarySearchFunc(j, r.seq+1, func(e *jentry, seq uint64) int {
		switch {
		case e.seq < seq:
			return -1
		case e.seq > seq:
			return 1
		}
		return 0
	})
	for _, e := range j[i:] {
		if !e.ids.Contains(r.id) {
			continue
		}
		r.c.Tags = slices.DeleteFunc(r.c.Tags, func(t string) bool { return t == e.tag })
		if e.add {
			r.c.Tags = append(r.c.Tags, e.tag)
		}
	}
}

// ids is the number of customer IDs the entries hold.
func (j journal) ids() uint64 {
	var n uint64
	for _, e := range j {
		n += e.ids.GetCardinality()
	}
	return n
}

// over reports whether the journal is past its bounds with live customers.
func (j journal) over(live uint64) bool {
	return len(j) > journalMaxEntries || j.ids() > journalMaxIDs(live)
}

// ---- on disk ----

func jKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

func jChunkKey(seq uint64, hi uint16) []byte { return binary.BigEndian.AppendUint16(jKey(seq), hi) }

// journal writes entry e.
func (e encoder) journal(j *jentry) error {
	b := e.btx.Bucket(bktJr)
	head := []byte{0}
	if j.add {
		head[0] = 1
	}
	if err := b.Put(jKey(j.seq), seal(append(head, j.tag...))); err != nil {
		return err
	}
	return chunks(j.ids, func(hi uint16) error {
		v, err := encodeChunk(roaring.And(j.ids, chunkRange(hi)))
		if err != nil {
			return err
		}
		return b.Put(jChunkKey(j.seq, hi), seal(v))
	})
}

// dropJournal deletes entry j.
func (e encoder) dropJournal(j *jentry) error {
	b := e.btx.Bucket(bktJr)
	if err := chunks(j.ids, func(hi uint16) error { return b.Delete(jChunkKey(j.seq, hi)) }); err != nil {
		return err
	}
	return b.Delete(jKey(j.seq))
}

// jseq writes the newest seq ever given.
func (e encoder) jseq(seq uint64) error {
	return e.btx.Bucket(bktMeta).Put(keyJSeq, seal(binary.BigEndian.AppendUint64(nil, seq)))
}

// loadJournal reads the journal and the newest seq of a file (none in a
// file of format 2), checking every entry: its customers below nextID,
// its seq at most the newest.
func loadJournal(btx *bolt.Tx, nextID uint32) (journal, uint64, error) {
	var jseq uint64
	if v := btx.Bucket(bktMeta).Get(keyJSeq); v != nil {
		b, err := openVal(v)
		if err != nil || len(b) != 8 {
			return nil, 0, fmt.Errorf("journal position: bad value")
		}
		jseq = binary.BigEndian.Uint64(b)
	}
	b := btx.Bucket(bktJr)
	if b == nil {
		return nil, jseq, nil
	}
	var j journal
	err := b.ForEach(func(k, v []byte) error {
		switch len(k) {
		case 8:
			h, err := openVal(v)
			if err != nil || len(h) < 2 || h[0] > 1 {
				return fmt.Errorf("journal entry %x: bad header", k)
			}
			seq := binary.BigEndian.Uint64(k)
			if seq == 0 || seq > jseq {
				return fmt.Errorf("journal entry %d past the newest %d", seq, jseq)
			}
			j = append(j, &jentry{seq: seq, add: h[0] == 1, tag: string(h[1:]), ids: roaring.New()})
		case 10:
			seq, hi := binary.BigEndian.Uint64(k), binary.BigEndian.Uint16(k[8:])
			if len(j) == 0 || j[len(j)-1].seq != seq {
				return fmt.Errorf("journal chunk %x without its entry", k)
			}
			c, err := openVal(v)
			if err != nil {
				return fmt.Errorf("journal chunk %x: %v", k, err)
			}
			bm, err := decodeChunk(c, hi)
			if err != nil {
				return fmt.Errorf("journal chunk %x: %v", k, err)
			}
			if bm.Maximum() >= nextID {
				return fmt.Errorf("journal chunk %x: customer %d beyond next ID %d", k, bm.Maximum(), nextID)
			}
			j[len(j)-1].ids.Or(bm)
		default:
			return fmt.Errorf("bad journal key %s", clipKey(k))
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	for _, e := range j {
		if e.ids.IsEmpty() {
			return nil, 0, errors.New("journal entry without customers")
		}
		freeze(e.ids)
	}
	return j, jseq, nil
}

// ---- in a batch ----

// journal is the batch's view of the journal: the committed entries it
// has not folded, then its own.
func (tx *Tx) journal() journal {
	if !tx.write {
		return tx.st.journal // a View's Tx may be read on several goroutines (txLink): no cache
	}
	if tx.jview == nil {
		tx.jview = slices.Concat(tx.st.journal[tx.jdrop:], tx.jpend)
	}
	return tx.jview
}

// jseq is the newest seq as the batch sees it: what a record written now
// includes.
func (tx *Tx) jseq() uint64 { return tx.st.jseq + uint64(len(tx.jpend)) }

// fold brings a record read in the batch up to the batch's journal.
func (tx *Tx) fold(r *record) *record {
	tx.journal().fold(r)
	return r
}

// current returns bitmap k as the batch sees it (nil: none), without
// deriving the whole view: the committed bitmap with the batch's delta.
// Not to be changed.
func (tx *Tx) current(k bmKey) *roaring.Bitmap {
	b, d := tx.base(k), tx.deltas[k]
	if d == nil || d.add.IsEmpty() && d.del.IsEmpty() {
		return b
	}
	out := d.add.Clone()
	if b != nil {
		out.Or(b)
	}
	out.AndNot(d.del)
	return out
}

// tagBulk adds tag to every customer of ids that lacks it (add), or
// removes it from every one holding it, by the tag's bitmap and one
// journal entry, and returns the customers whose tags changed. ids are
// live customers of the batch.
func (tx *Tx) tagBulk(tag string, ids *roaring.Bitmap, add bool) *roaring.Bitmap {
	k := bmKey{bkTag, tag}
	holders := tx.current(k)
	var changed *roaring.Bitmap
	switch {
	case add && holders != nil:
		changed = roaring.AndNot(ids, holders)
	case add:
		changed = ids.Clone()
	case holders != nil:
		changed = roaring.And(ids, holders)
	default:
		changed = roaring.New()
	}
	if changed.IsEmpty() {
		return changed
	}
	tx.view, tx.jview = nil, nil
	d := tx.delta(k)
	base := tx.base(k)
	if base == nil {
		base = roaring.New()
	}
	if add {
		d.del.AndNot(changed)                   // those in base come back
		d.add.Or(roaring.AndNot(changed, base)) // the others join
	} else {
		d.add.AndNot(changed)
		d.del.Or(roaring.And(changed, base))
	}
	tx.jpend = append(tx.jpend, &jentry{seq: tx.jseq() + 1, tag: tag, add: add, ids: freeze(changed)})
	return changed
}

// compact folds the oldest committed entries into the records they name,
// and drops them, while the batch would leave the journal past its bounds
// (see journalMax). A record the batch or an earlier fold wrote after an
// entry already includes it.
func (tx *Tx) compact(live uint64) error {
	e := encoder{btx: tx.btx}
	for tx.jdrop < len(tx.st.journal) && tx.journal().over(live) {
		j := tx.st.journal[tx.jdrop]
		only := journal{j}
		for it := j.ids.Iterator(); it.HasNext(); {
			id := it.Next()
			v := tx.btx.Bucket(bktCust).Get(u32key(nil, id))
			if v == nil {
				continue // deleted since
			}
			r, err := openRecord(id, v)
			if err != nil {
				return tx.corrupt("customer %d: %v", id, err)
			}
			if r.seq >= j.seq {
				continue
			}
			only.fold(r)
			r.seq = j.seq
			tx.dirty = true
			if err := e.record(r); err != nil {
				return err
			}
		}
		tx.jdrop++
		tx.view, tx.jview = nil, nil
	}
	return nil
}
