package tagseg

// The bulk load path. Load creates customers in batches of one 2^16-ID
// chunk each: every key a batch writes is new or written once (records,
// UUIDs and external IDs sorted, one column and history block per 1,024
// IDs, one bitmap chunk per tag and field value), so a batch costs the
// same at 10M customers as at 1M. The in-memory side is built privately,
// batch by batch after each commit, and published once at the end.

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"iter"
	"math"
	"math/bits"
	"slices"
	"sync"

	"github.com/RoaringBitmap/roaring/v2"
	bolt "go.etcd.io/bbolt"
)

// loadBatch is the most customers Load commits in one transaction: a
// divisor of 2^16 (a variable so that tests can make batches small).
var loadBatch uint32 = 1 << 16

// Load creates the customers seq yields, each with its MRR history, in
// bulk, and returns how many it created. Each customer is created as by
// CreateCustomer (the same checks and normalization; a UUID assigned when
// empty); its MRR changes are recorded as by SetMRR, in any order (for
// two at the same instant, the later one in the slice wins).
//
// Customers are committed in batches of up to 65,536, one per 2^16-ID
// chunk, each one durable transaction. If a customer is invalid or a
// duplicate (UUID or external ID, in the index or earlier in seq), or a
// commit fails, Load stops: the batch holding that customer is rolled back
// whole, the batches before it stay, and the count returned is the number
// of customers they hold: the first n of seq. An error about one customer
// is a *LoadError saying which. To resume, call Load again with the rest.
// Readers see the new customers when Load returns (also when it fails);
// other writers wait until then.
//
// Some work is left to the end: the customers' external-ID entries are
// written in key order, and tags of at most 512 customers (see wholeMax)
// whole, once. If the process dies before, the committed batches are in
// the file and the next Open finishes that work from their records (a
// read-only Open in memory only). If a commit of that work fails, the
// index refuses writes until it is reopened, which finishes it, whatever
// the failure (see Update for batches).
func (ix *Index) Load(seq iter.Seq2[Customer, []MRRChange]) (n int, err error) {
	if ix.readOnly {
		return 0, fmt.Errorf("tagseg: %s: %w", ix.path, ErrReadOnly)
	}
	ix.wmu.Lock()
	defer ix.wmu.Unlock()
	if ix.closed.Load() {
		return 0, ix.errClosed()
	}
	if ix.failed != nil {
		return 0, ix.errFailed()
	}
	l := newLoader(ix, ix.cur.Load())
	span := &loadSpan{base: l.st.txid}
	span.top.Store(int64(l.st.txid))
	ix.loading.Store(span)
	defer func() {
		if l.batches > 0 {
			if ferr := l.finish(span); ferr != nil {
				err = errors.Join(err, ferr)
			}
			ns := l.state()
			ix.cur.Store(ns)
			ix.pend.Store(nil)
			t := roaring.New()
			t.AddRange(uint64(l.first), uint64(l.next))
			ix.published(&commitInfo{ix: ix, old: l.st, new: ns, load: true, touched: t})
		}
		ix.loading.Store(nil)
	}()
	var batch []loadRow
	next := l.next
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := l.commit(batch); err != nil {
			return err
		}
		n += len(batch)
		next = l.next
		batch = batch[:0]
		return nil
	}
	for c, events := range seq {
		id := next + uint32(len(batch))
		if id == math.MaxUint32 {
			return n, fmt.Errorf("tagseg: load: all 2^32-1 IDs used: %w", ErrInvalid)
		}
		row, err := loadRowOf(c, events, id)
		if err != nil {
			return n, &LoadError{Index: n + len(batch), Err: err}
		}
		batch = append(batch, row)
		if (id+1)%loadBatch == 0 {
			if err := flush(); err != nil {
				return n, err
			}
		}
	}
	return n, flush()
}

// finish does what Load leaves to its end, once some batch committed:
// the small tags, whose batches wrote nothing, stored whole, then the
// external IDs merged into ext (which also clears extfrom, even when no
// customer had one). If a commit fails, the rest is left to the next Open
// (see unfinished), so writes are refused until the index is reopened,
// whatever the failure; l.txid follows every commit bbolt serves.
func (l *loader) finish(span *loadSpan) error {
	ix := l.ix
	if ix.failed != nil {
		return nil // a batch's commit failed: Open completes the rest
	}
	var small []string
	for k, add := range l.adds {
		if k.kind != bkTag {
			continue
		}
		n := add.GetCardinality()
		if b := l.st.get(k); b != nil {
			n += b.GetCardinality()
		}
		if isWhole(n) {
			small = append(small, k.name)
		}
	}
	get := func(name string) *roaring.Bitmap {
		k := bmKey{bkTag, name}
		b := l.adds[k].Clone()
		if old := l.st.get(k); old != nil {
			b.Or(old)
		}
		return b
	}
	before := func(txid int) { span.top.Store(int64(txid)) }
	// Never in chunks: stored whole before the Load, or new.
	txid, err := storeTags(ix.db, ix.path, small, get, true, before)
	if err == nil {
		var mtxid int
		mtxid, err = mergeExt(ix.db, ix.path, &l.staged, before)
		txid = max(txid, mtxid)
	}
	if txid != 0 {
		l.txid = txid
	}
	if err != nil {
		ix.fail(err)
		return fmt.Errorf("tagseg: %s: finishing the load: %w (writes refused until the index is reopened, which completes the load: %w)", ix.path, err, ErrCorrupt)
	}
	return nil
}

// LoadError is the error of Load about one customer of its input: the
// Index-th (from 0) that seq yielded. It wraps the reason (ErrDuplicate,
// ErrInvalid, ErrInvalidTag, ErrInvalidField).
type LoadError struct {
	Index int
	Err   error
}

func (e *LoadError) Error() string {
	return fmt.Sprintf("tagseg: load: customer %d of the input: %v", e.Index, e.Err)
}

func (e *LoadError) Unwrap() error { return e.Err }

// loadRow is one customer of a batch, checked and with its ID.
type loadRow struct {
	r       record
	hist    []mrrEvent
	cols    [numCols]int64
	genUUID bool // UUID made here (a version 7 UUID: no need to look it up)
}

func loadRowOf(c Customer, events []MRRChange, id uint32) (loadRow, error) {
	c, err := normCustomer(c)
	if err != nil {
		return loadRow{}, err
	}
	gen := c.UUID == ""
	if gen {
		c.UUID = newUUID()
	}
	var h []mrrEvent
	if len(events) > 0 {
		h = make([]mrrEvent, 0, len(events))
		for _, e := range events {
			if e.Cents < 0 || e.Cents > maxMRR {
				return loadRow{}, fmt.Errorf("MRR %d of %s out of range 0–%d cents: %w", e.Cents, c.UUID, int64(maxMRR), ErrInvalid)
			}
			if e.At.IsZero() {
				return loadRow{}, fmt.Errorf("MRR change of %s at the zero time: %w", c.UUID, ErrInvalid)
			}
			at, err := checkTime("MRR change time", e.At)
			if err != nil {
				return loadRow{}, err
			}
			h = append(h, mrrEvent{at.UnixNano(), e.Cents})
		}
		// Time order; for one instant the last given wins.
		slices.SortStableFunc(h, func(a, b mrrEvent) int { return cmp.Compare(a.at, b.at) })
		out := h[:0]
		for i, e := range h {
			if i+1 < len(h) && h[i+1].at == e.at {
				continue
			}
			out = append(out, e)
		}
		h = out
	}
	row := loadRow{r: record{id: id, c: c}, hist: h, genUUID: gen}
	row.cols = colValues(&row.r.c)
	return row, nil
}

// loader holds what Load has committed so far, privately: the IDs each
// bitmap gained, and edits of the columns of the state it started on.
type loader struct {
	ix      *Index
	st      *state // the state before Load
	first   uint32 // the ID of the input's first customer
	next    uint32
	txid    int
	batches int
	adds    map[bmKey]*roaring.Bitmap
	cols    [numCols]*colEdit[int64]
	mrr     *colEdit[int64]
	hist    *histEdit
	planes  []*roaring.Bitmap // IDs to add to each plane; the last: paying
	staged  extEntries        // external IDs of committed batches, not yet in ext
}

func newLoader(ix *Index, st *state) *loader {
	l := &loader{ix: ix, st: st, first: st.nextID, next: st.nextID, adds: map[bmKey]*roaring.Bitmap{}, mrr: st.mrr.edit(), hist: st.hist.edit()}
	for col := range numCols {
		l.cols[col] = st.cols[col].edit()
	}
	return l
}

// state is the state before Load with every committed batch.
func (l *loader) state() *state {
	ns := &state{txid: l.txid, nextID: l.next, live: l.st.live, tags: l.st.tags, eq: l.st.eq, mrr: l.mrr.done(), hist: l.hist.done(), planes: l.st.planes, paying: l.st.paying, journal: l.st.journal, jseq: l.st.jseq}
	for col := range numCols {
		ns.cols[col] = l.cols[col].done()
	}
	empty := roaring.New()
	ns.patchBitmaps(l.st, func(yield func(bmKey, *bmDelta) bool) {
		for k, add := range l.adds {
			if !yield(k, &bmDelta{add, empty}) {
				return
			}
		}
	})
	ns.patchPlanes(l.st, l.planes, nil)
	return ns
}

// commit writes one batch (IDs l.next on, all in one 2^16-ID chunk) in
// one durable transaction and adds it to what the loader holds.
func (l *loader) commit(batch []loadRow) (err error) {
	ix := l.ix
	lo := l.next
	hi := lo + uint32(len(batch))
	btx, err := ix.db.Begin(true)
	if err != nil {
		return fmt.Errorf("tagseg: %s: begin: %w", ix.path, err)
	}
	defer btx.Rollback() // after a commit, bbolt has ended it: a no-op
	var ids map[bmKey][]uint32
	err = guard(ix.path, func() error {
		var err error
		ids, err = l.write(btx, batch, lo, hi)
		return err
	})
	if err != nil {
		return err
	}
	txid := btx.ID()
	if span := ix.loading.Load(); span != nil {
		span.top.Store(int64(txid)) // before bbolt serves it: see matching
	}
	// Email candidates go in before the commit (see emailTable).
	for i := range batch {
		ix.emails.add(batch[i].cols[colEmail], batch[i].r.id)
	}
	var ci *commitInfo
	if len(ix.followers) > 0 { // follow.go
		t := roaring.New()
		t.AddRange(uint64(lo), uint64(hi))
		ci = &commitInfo{ix: ix, old: l.st, btx: btx, load: true, touched: t,
			mkNew: func() *state { return batchState(txid, lo, hi, ids, batch) }}
		if err := ix.prepare(ci); err != nil {
			return err
		}
	}
	served, err := ix.commit(btx)
	if served {
		l.take(batch, ids, lo, hi, txid)
		if ci != nil {
			ix.batchCommitted(ci)
		}
	}
	return err
}

// take adds a committed batch to the loader.
func (l *loader) take(batch []loadRow, ids map[bmKey][]uint32, lo, hi uint32, txid int) {
	for k, v := range ids {
		b := l.adds[k]
		if b == nil {
			b = roaring.New()
			l.adds[k] = b
		}
		b.AddMany(v) // IDs past every earlier one: appends a container
	}
	for col := range numCols {
		l.cols[col].grow(hi)
	}
	l.mrr.grow(hi)
	var planes [payPlane + 1][]uint32
	for i := range batch {
		row := &batch[i]
		id := row.r.id
		for col, v := range row.cols {
			l.cols[col].set(id, v)
		}
		if len(row.hist) == 0 {
			continue
		}
		l.hist.set(id, row.hist)
		v := current(row.hist)
		l.mrr.set(id, v)
		if v > 0 {
			planes[payPlane] = append(planes[payPlane], id)
		}
		for u := uint64(v); u != 0; u &= u - 1 {
			p := bits.TrailingZeros64(u)
			planes[p] = append(planes[p], id)
		}
	}
	for p, v := range planes {
		if len(v) == 0 {
			continue
		}
		for len(l.planes) <= p {
			l.planes = append(l.planes, nil)
		}
		if l.planes[p] == nil {
			l.planes[p] = roaring.New()
		}
		l.planes[p].AddMany(v)
	}
	for i := range batch {
		if c := &batch[i].r.c; c.ExternalID != "" {
			l.staged.add(extKey(c.DataSourceUUID, c.ExternalID), batch[i].r.id)
		}
	}
	l.hist.done() // pack the batch's blocks: the edit stays private
	l.next, l.txid = hi, txid
	l.batches++
}

// write puts a batch into the bbolt transaction and returns the IDs each
// bitmap gains.
func (l *loader) write(btx *bolt.Tx, batch []loadRow, lo, hi uint32) (map[bmKey][]uint32, error) {
	for _, b := range [][]byte{bktCust, bktUUID, bktCol, bktBm, bktEv} {
		btx.Bucket(b).FillPercent = 1
	}
	// UUIDs and external IDs: sorted, checked against the file and each
	// other, then written.
	type kv struct {
		k  []byte
		id uint32
	}
	uuids := make([]kv, len(batch))
	var exts []kv
	given := 0 // UUIDs given in the input, which the file may hold
	for i := range batch {
		c := &batch[i].r.c
		uuids[i] = kv{[]byte(c.UUID), batch[i].r.id}
		if !batch[i].genUUID {
			given++
		}
		if c.ExternalID != "" {
			exts = append(exts, kv{extKey(c.DataSourceUUID, c.ExternalID), batch[i].r.id})
		}
	}
	for _, x := range []struct {
		bucket []byte
		kvs    []kv
		what   func(kv) string
	}{
		{bktUUID, uuids, func(x kv) string { return "UUID " + string(x.k) }},
		{bktExt, exts, func(x kv) string {
			c := &batch[x.id-lo].r.c
			return fmt.Sprintf("external ID %q in data source %q", c.ExternalID, c.DataSourceUUID)
		}},
	} {
		// Stable: of two equal keys, the later in the input is reported.
		slices.SortStableFunc(x.kvs, func(a, b kv) int { return bytes.Compare(a.k, b.k) })
		bk := btx.Bucket(x.bucket)
		c := bk.Cursor()
		for i, e := range x.kvs {
			if i > 0 && bytes.Equal(x.kvs[i-1].k, e.k) {
				return nil, &LoadError{Index: int(e.id - l.first), Err: fmt.Errorf("%s given twice: %w", x.what(e), ErrDuplicate)}
			}
			if x.bucket[0] == bktUUID[0] && given == 0 {
				continue // new version 7 UUIDs only: the file holds none of them
			}
			if k, _ := c.Seek(e.k); bytes.Equal(k, e.k) {
				return nil, &LoadError{Index: int(e.id - l.first), Err: fmt.Errorf("%s exists: %w", x.what(e), ErrDuplicate)}
			}
		}
		if x.bucket[0] == bktExt[0] {
			// Written when the Load ends (mergeExt), after a check
			// against the earlier batches of this Load.
			for _, e := range x.kvs {
				dup, err := l.staged.has(e.k)
				if err != nil {
					return nil, err
				}
				if dup {
					return nil, &LoadError{Index: int(e.id - l.first), Err: fmt.Errorf("%s given twice: %w", x.what(e), ErrDuplicate)}
				}
			}
			continue
		}
		for _, e := range x.kvs {
			if err := bk.Put(e.k, idVal(e.id)); err != nil {
				return nil, err
			}
		}
	}
	if meta := btx.Bucket(bktMeta); meta.Get(keyExtFrom) == nil {
		// From here on, customers' external IDs may be missing from ext
		// until the merge at the end of the Load (see extids.go).
		if err := meta.Put(keyExtFrom, idVal(lo)); err != nil {
			return nil, err
		}
	}
	// Records, encoded on every core, written in ID order. Meanwhile: the
	// IDs each bitmap gains, in ID order. Equality fields are gathered by
	// field and value, and named (eqKey) once per value, not once per
	// customer.
	e := encoder{btx: btx, nextID: hi}
	var ids map[bmKey][]uint32
	var wg sync.WaitGroup
	wg.Go(func() { ids = batchIDs(batch) })
	rs := make([]*record, len(batch))
	for i := range batch {
		rs[i] = &batch[i].r
		rs[i].seq = l.st.jseq // the journal does not change while Load runs
	}
	err := e.records(rs)
	wg.Wait()
	if err != nil {
		return nil, err
	}
	// Column and history blocks of the batch's IDs; a block that begins
	// before the batch keeps the values it had.
	colOf := func(col int, id uint32) int64 {
		if id >= lo {
			return batch[id-lo].cols[col]
		}
		return l.cols[col].c.at(id)
	}
	histOf := func(id uint32) []mrrEvent {
		if id >= lo {
			return batch[id-lo].hist
		}
		return l.hist.at(id)
	}
	cblks := make([]uint32, 0, (hi-lo)/colBlock+2)
	for blk := lo / colBlock; blk <= (hi-1)/colBlock; blk++ {
		cblks = append(cblks, blk)
	}
	for col := range numCols {
		if err := e.column(col, cblks, func(id uint32) int64 { return colOf(col, id) }); err != nil {
			return nil, err
		}
	}
	hblks := make([]uint32, 0, (hi-lo)/histBlock+2)
	for blk := lo / histBlock; blk <= (hi-1)/histBlock; blk++ {
		hblks = append(hblks, blk)
	}
	if err := e.histories(hblks, histOf); err != nil {
		return nil, err
	}
	// One bitmap chunk per key, in key order; tags of at most wholeMax
	// customers so far are written when the Load ends, whole.
	empty := roaring.New()
	for _, k := range sortedBmKeys(ids) {
		add := roaring.New()
		add.AddMany(ids[k]) // IDs past every earlier one: appends a container
		if err := e.bitmap(k, bmBefore{l.st.get(k), l.adds[k]}, add, empty, true); err != nil {
			return nil, err
		}
	}
	if err := e.next(); err != nil {
		return nil, err
	}
	return ids, nil
}

// batchIDs returns the IDs each bitmap gains with a batch, in ID order:
// live, tags, equality fields (named by eqKey once per value, not once per
// customer).
func batchIDs(batch []loadRow) map[bmKey][]uint32 {
	live := make([]uint32, 0, len(batch))
	tagIDs := map[string][]uint32{}
	eqIDs := map[string]map[string][]uint32{}
	customField := map[string]string{}
	addEq := func(field, value string, id uint32) {
		m := eqIDs[field]
		if m == nil {
			m = map[string][]uint32{}
			eqIDs[field] = m
		}
		m[value] = append(m[value], id)
	}
	for i := range batch {
		c, id := &batch[i].r.c, batch[i].r.id
		live = append(live, id)
		for _, t := range c.Tags {
			tagIDs[t] = append(tagIDs[t], id)
		}
		for _, f := range eqFields {
			addEq(f, eqValue(c, f), id)
		}
		for k, v := range c.Custom {
			f, ok := customField[k]
			if !ok {
				f = "custom." + k
				customField[k] = f
			}
			addEq(f, customEq(v), id)
		}
	}
	ids := make(map[bmKey][]uint32, len(tagIDs)+64)
	ids[bmKey{bkLive, ""}] = live
	for t, v := range tagIDs {
		ids[bmKey{bkTag, t}] = v
	}
	for f, m := range eqIDs {
		for v, l := range m {
			ids[eqKey(f, v)] = l
		}
	}
	return ids
}

// loadSeq adapts a slice for Load; for tests and examples.
func loadSeq(cs []Customer, events [][]MRRChange) iter.Seq2[Customer, []MRRChange] {
	return func(yield func(Customer, []MRRChange) bool) {
		for i, c := range cs {
			var e []MRRChange
			if i < len(events) {
				e = events[i]
			}
			if !yield(c, e) {
				return
			}
		}
	}
}
