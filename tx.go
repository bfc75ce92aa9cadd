package tagseg

// Tx is the transaction of Update (the write path) and View (reads on one
// snapshot). A write batch keeps its changes beside the snapshot it began
// on: bitmap deltas, column values, MRR histories and pending UUID and
// external-ID entries; flush writes them to bbolt in key order through the
// write path's one encoder (encode.go, which Load uses too). The batch's
// reads see one view of its own writes, the state derived from them
// (Tx.snapshot, state.derive); the commit derives the state it publishes
// the same way, as pending before bbolt's Commit, as current after. Data
// flows one way: Index → Tx → encoder → the codecs (layout.go) on writes.

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/RoaringBitmap/roaring/v2"
	bolt "go.etcd.io/bbolt"
)

// snapshot is the state the transaction's reads see: the snapshot it began
// on, with the batch's own writes applied in an Update. It is the batch's
// one view of its own writes: every read of the batch (evaluation, sums,
// series, tag stats, bulk tagging) works on it. Derived on the first read
// after a write (state.derive) and kept until the next write; the commit
// publishes a state derived afresh, free of what the batch's reads built
// on its view (its batch pointer, string indexes edited for it).
func (tx *Tx) snapshot() *state {
	if !tx.write || !tx.changed() {
		return tx.st
	}
	if tx.view == nil {
		tx.view = tx.st.derive(tx)
		tx.view.batch = tx
	}
	return tx.view
}

func (ix *Index) update(fn func(tx *Tx) error) (err error) {
	if ix.readOnly {
		return fmt.Errorf("tagseg: %s: %w", ix.path, ErrReadOnly)
	}
	ix.wmu.Lock()
	defer ix.wmu.Unlock()
	if ix.closed.Load() {
		return ix.errClosed()
	}
	if ix.failed != nil {
		return ix.errFailed()
	}
	st := ix.cur.Load()
	btx, err := ix.db.Begin(true)
	if err != nil {
		return fmt.Errorf("tagseg: %s: begin: %w", ix.path, err)
	}
	// Most writes append (new IDs, v7 UUIDs, sorted batches): fill pages.
	for _, b := range [][]byte{bktCust, bktUUID, bktExt, bktCol, bktBm, bktEv} {
		if bk := btx.Bucket(b); bk != nil {
			bk.FillPercent = 0.9
		}
	}
	tx := &Tx{ix: ix, btx: btx, st: st, write: true, deltas: map[bmKey]*bmDelta{}, hist: map[uint32][]mrrEvent{}, cols: map[colID]int64{}, pend: map[string]map[string][]byte{}, nextID: st.nextID}
	defer func() {
		tx.end()
		btx.Rollback() // after a commit, bbolt has ended it: a no-op
	}()
	if err := fn(tx); err != nil {
		return err
	}
	if !tx.changed() {
		return nil // nothing to commit: the deferred Rollback ends it
	}
	if err := guard(ix.path, tx.flush); err != nil {
		return err
	}
	ns := st.derive(tx) // not the view: a view keeps what its reads built for the batch
	ns.txid = btx.ID()
	ix.sorted.follow(st, ns, tx.deltas)
	ci := &commitInfo{ix: ix, old: st, new: ns, btx: btx, deltas: tx.deltas, tx: tx}
	if err := ix.prepare(ci); err != nil { // followers (follow.go)
		return err
	}
	ix.pend.Store(ns)
	served, err := ix.commit(btx)
	if served {
		ix.cur.Store(ns)
	}
	ix.pend.Store(nil)
	if served {
		ix.published(ci)
	}
	return err
}

// commit commits a write transaction of the index (see commitTx). A
// failure that may have left the file ahead of memory makes the index
// refuse writes until it is reopened; one that left the file as it was
// (ErrIO) does not.
func (ix *Index) commit(btx *bolt.Tx) (served bool, err error) {
	served, err = commitTx(ix.db, ix.path, btx)
	if err != nil && !errors.Is(err, ErrIO) {
		ix.fail(err)
	}
	return served, err
}

// errFailed is the error of a write refused after a failed commit.
func (ix *Index) errFailed() error {
	return fmt.Errorf("tagseg: %s: a commit failed (%v); reopen the index: %w", ix.path, ix.failed, ErrCorrupt)
}

// Tx is a write transaction, passed to the function given to Update. Its
// write methods behave as the Index methods of the same names, inside the
// batch; its read methods see the batch's own writes. A Tx is for the
// goroutine running fn only, and only until fn returns.
type Tx struct {
	ix     *Index
	btx    *bolt.Tx
	st     *state // the committed state, read-only while the batch runs
	deltas map[bmKey]*bmDelta
	hist   map[uint32][]mrrEvent        // new MRR histories by ID (nil: deleted)
	cols   map[colID]int64              // new column values
	pend   map[string]map[string][]byte // uuid and ext writes, sorted on flush (nil: delete)
	recs   *roaring.Bitmap              // IDs whose record changed beyond what deltas, cols and hist show (touch)
	segs   []savedChange                // saved segments the batch saved or deleted, in order (for followers)
	nextID uint32
	done   bool
	write  bool    // an Update transaction; false in View
	dirty  bool    // the batch wrote to bbolt directly
	link   *txLink // what the Segments made in the Tx keep of it; nil until one is
	view   *state  // see snapshot; nil after each write
	jpend  journal // the batch's journal entries (journal.go)
	jdrop  int     // how many of st.journal's oldest entries the batch folded
	jview  journal // see Tx.journal; nil after each change of the journal
}

// end ends the transaction: its methods give ErrClosed from now on, and
// the Segments made in it let go of it (see txLink).
func (tx *Tx) end() {
	tx.done = true
	if l := tx.link; l != nil {
		l.mu.Lock()
		l.tx = nil
		l.mu.Unlock()
	}
}

// changed reports whether the batch changed anything.
func (tx *Tx) changed() bool {
	if tx.dirty || len(tx.pend) > 0 || len(tx.cols) > 0 || len(tx.hist) > 0 || tx.nextID != tx.st.nextID || len(tx.jpend) > 0 || tx.jdrop > 0 {
		return true
	}
	for _, d := range tx.deltas {
		if !d.add.IsEmpty() || !d.del.IsEmpty() {
			return true
		}
	}
	return false
}

// colID names one cell of a column.
type colID struct {
	col int
	id  uint32
}

// bmDelta is a batch's change to one bitmap: the effective bitmap is
// (base ∪ add) − del, with add ∩ base = ∅ and del ⊆ base.
type bmDelta struct{ add, del *roaring.Bitmap }

func (tx *Tx) delta(k bmKey) *bmDelta {
	d := tx.deltas[k]
	if d == nil {
		d = &bmDelta{roaring.New(), roaring.New()}
		tx.deltas[k] = d
	}
	return d
}

func (tx *Tx) base(k bmKey) *roaring.Bitmap { return tx.st.get(k) }

func (tx *Tx) set(k bmKey, id uint32) {
	tx.view = nil
	d := tx.delta(k)
	if k.kind == bkStr { // no stored bitmap to check: see strKeys
		d.del.Remove(id)
		d.add.Add(id)
		return
	}
	if id >= tx.st.nextID { // created in this batch
		d.add.Add(id)
	} else if b := tx.base(k); b != nil && b.Contains(id) {
		d.del.Remove(id)
	} else {
		d.add.Add(id)
	}
}

func (tx *Tx) unset(k bmKey, id uint32) {
	tx.view = nil
	d := tx.delta(k)
	d.add.Remove(id)
	if k.kind == bkStr {
		d.del.Add(id)
		return
	}
	if b := tx.base(k); b != nil && b.Contains(id) {
		d.del.Add(id)
	}
}

// bitmap returns bitmap k as the batch sees it (nil: none), from its view
// (see snapshot): never a private copy, not to be changed.
func (tx *Tx) bitmap(k bmKey) (*roaring.Bitmap, bool) { return tx.snapshot().get(k), false }

// setCol sets a column value of id in the batch. A new email goes into the
// email table at once: the table may hold more than the truth (see
// emailTable), and the batch's own lookups find it there.
func (tx *Tx) setCol(col int, id uint32, v int64) {
	tx.view = nil
	tx.cols[colID{col, id}] = v
	if col == colEmail {
		tx.ix.emails.add(v, id)
	}
}

// setHist sets the MRR history of id in the batch (nil: deleted).
func (tx *Tx) setHist(id uint32, h []mrrEvent) {
	tx.view = nil
	tx.hist[id] = h
}

// histOf is the MRR history of id as the batch sees it; it must not be
// changed in place.
func (tx *Tx) histOf(id uint32) []mrrEvent {
	if h, ok := tx.hist[id]; ok {
		return h
	}
	return tx.st.hist.at(id)
}

func (tx *Tx) mrrOf(id uint32) int64 { return current(tx.histOf(id)) }

// colOf is a column value of id as the batch sees it.
func (tx *Tx) colOf(col int, id uint32) int64 {
	if v, ok := tx.cols[colID{col, id}]; ok {
		return v
	}
	return tx.st.cols[col].at(id)
}

// get reads a key of a point-write bucket (uuid, ext) as the batch sees it.
func (tx *Tx) get(bucket []byte, key []byte) []byte {
	if v, ok := tx.pend[string(bucket)][string(key)]; ok {
		return v
	}
	if bucket[0] == bktExt[0] && len(bucket) == len(bktExt) {
		return extGet(tx.btx, key, tx.nextID)
	}
	return tx.btx.Bucket(bucket).Get(key)
}

// put writes a key of a point-write bucket at flush (v nil: delete).
func (tx *Tx) put(bucket []byte, key []byte, v []byte) {
	m := tx.pend[string(bucket)]
	if m == nil {
		m = map[string][]byte{}
		tx.pend[string(bucket)] = m
	}
	m[string(key)] = v
}

// read runs a read of the Tx after check, turning bbolt's panics and
// memory faults on a damaged file into ErrCorrupt (see guard). Only the
// package's own code runs guarded: the function given to View or Update
// does not, so that its panics go on to the caller.
func (tx *Tx) read(fn func() error) error {
	if err := tx.check(); err != nil {
		return err
	}
	return guard(tx.ix.path, fn)
}

func (tx *Tx) check() error {
	if tx.done {
		return fmt.Errorf("tagseg: transaction already finished: %w", ErrClosed)
	}
	return nil
}

// checkWrite is check for the write methods: in View they give ErrReadOnly.
func (tx *Tx) checkWrite() error {
	if err := tx.check(); err != nil {
		return err
	}
	if !tx.write {
		return fmt.Errorf("tagseg: %s: write in a View transaction: %w", tx.ix.path, ErrReadOnly)
	}
	return nil
}

// flush writes the batch's bitmap chunks, MRR blocks and next ID to bbolt.
func (tx *Tx) flush() error {
	if len(tx.jpend) > 0 {
		var live uint64
		if b := tx.current(bmKey{bkLive, ""}); b != nil {
			live = b.GetCardinality()
		}
		if err := tx.compact(live); err != nil {
			return err
		}
	}
	// Point writes, in key order.
	for _, name := range sortedKeys(tx.pend) {
		b := tx.btx.Bucket([]byte(name))
		m := tx.pend[name]
		for _, k := range sortedKeys(m) {
			var err error
			if v := m[k]; v == nil {
				err = b.Delete([]byte(k))
			} else {
				err = b.Put([]byte(k), v)
			}
			if err != nil {
				return err
			}
		}
	}
	e := encoder{btx: tx.btx, nextID: tx.nextID}
	// Bitmaps, in key order.
	for _, k := range sortedBmKeys(tx.deltas) {
		if d := tx.deltas[k]; k.kind != bkStr && (!d.add.IsEmpty() || !d.del.IsEmpty()) {
			if err := e.bitmap(k, bmBefore{tx.base(k)}, d.add, d.del, false); err != nil {
				return err
			}
		}
	}
	// Column blocks.
	var blocks [numCols]map[uint32]bool
	for c := range tx.cols {
		if blocks[c.col] == nil {
			blocks[c.col] = map[uint32]bool{}
		}
		blocks[c.col][c.id/colBlock] = true
	}
	for col, blks := range blocks {
		if err := e.column(col, slices.Sorted(maps.Keys(blks)), func(id uint32) int64 { return tx.colOf(col, id) }); err != nil {
			return err
		}
	}
	// MRR history blocks.
	hblocks := map[uint32]bool{}
	for id := range tx.hist {
		hblocks[id/histBlock] = true
	}
	if err := e.histories(slices.Sorted(maps.Keys(hblocks)), tx.histOf); err != nil {
		return err
	}
	// The tag journal: the entries folded, the batch's own, the newest seq.
	for _, j := range tx.st.journal[:tx.jdrop] {
		if err := e.dropJournal(j); err != nil {
			return err
		}
	}
	for _, j := range tx.jpend {
		if err := e.journal(j); err != nil {
			return err
		}
	}
	if len(tx.jpend) > 0 {
		if err := e.jseq(tx.jseq()); err != nil {
			return err
		}
	}
	if tx.nextID != tx.st.nextID {
		return e.next()
	}
	return nil
}

// sortedBmKeys returns the keys of m in the order of their bm bucket keys
// within a chunk: kind, then name.
func sortedBmKeys[V any](m map[bmKey]V) []bmKey {
	keys := slices.Collect(maps.Keys(m))
	slices.SortFunc(keys, func(a, b bmKey) int { return cmp.Or(cmp.Compare(a.kind, b.kind), strings.Compare(a.name, b.name)) })
	return keys
}

// normTags checks tags (CheckTag: trimmed, NFC) and de-duplicates them,
// keeping their order.
func normTags(op string, tags []string) ([]string, error) {
	out := make([]string, 0, len(tags))
	var seen map[string]bool // for long lists; short ones are scanned
	for _, raw := range tags {
		t, why := checkTag(raw) // tag.go
		if why != "" {
			return nil, fmt.Errorf("tagseg: %s: tag %q %s: %w", op, truncate(raw), why, ErrInvalidTag)
		}
		if len(tags) <= 32 {
			if !slices.Contains(out, t) {
				out = append(out, t)
			}
			continue
		}
		if seen == nil {
			seen = make(map[string]bool, len(tags))
		}
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out, nil
}

// isKey reports whether s can be a custom attribute key: a word of the
// query language, so that custom.KEY can be queried.
func isKey(s string) bool { return s != "" && wordLen(s, false) == len(s) }

func checkTime(what string, t time.Time) (time.Time, error) {
	if t.IsZero() {
		return t, nil
	}
	if t.Year() < 1678 || t.Year() > 2261 {
		return t, fmt.Errorf("tagseg: %s %v out of range (years 1678–2261): %w", what, t, ErrInvalid)
	}
	return t.UTC(), nil
}

// normCustomer checks a customer for CreateCustomer and normalizes it.
func normCustomer(c Customer) (Customer, error) {
	c.ID, c.MRR = 0, 0
	if c.UUID != "" && (len(c.UUID) > maxKeyLen || !utf8.ValidString(c.UUID) || strings.TrimSpace(c.UUID) != c.UUID) {
		return c, fmt.Errorf("tagseg: create customer: bad UUID %q: %w", truncate(c.UUID), ErrInvalid)
	}
	for _, f := range recStrings {
		if v := *f.str(&c); len(v) > maxFieldLen || !utf8.ValidString(v) {
			return c, fmt.Errorf("tagseg: create customer: %s is longer than %d bytes or not UTF-8: %w", f.customerField(), maxFieldLen, ErrInvalid)
		}
	}
	var err error
	for _, f := range recTimes {
		if *f.tm(&c), err = checkTime(f.name, *f.tm(&c)); err != nil {
			return c, err
		}
	}
	if c.Tags, err = normTags("create customer", c.Tags); err != nil {
		return c, err
	}
	if len(c.Custom) > 0 {
		custom := make(map[string]any, len(c.Custom))
		for k, v := range c.Custom {
			if len(k) > maxKeyLen || !isKey(k) {
				return c, fmt.Errorf("tagseg: create customer: custom key %q must be a bare word (letters, digits, -_.@+/) of at most %d bytes: %w", truncate(k), maxKeyLen, ErrInvalidField)
			}
			nv, err := normCustom(k, v)
			if err != nil {
				return c, err
			}
			custom[k] = nv
		}
		c.Custom = custom
	} else {
		c.Custom = nil
	}
	return c, nil
}

func normCustom(k string, v any) (any, error) {
	nv := normValue(v) // returned as is where it is right: no new boxing
	switch x := nv.(type) {
	case string:
		if len(x) > maxFieldLen || !utf8.ValidString(x) {
			return nil, fmt.Errorf("tagseg: custom.%s: string longer than %d bytes or not UTF-8: %w", k, maxFieldLen, ErrInvalidField)
		}
		return nv, nil
	case int64, float64, bool:
		return nv, nil
	case time.Time:
		if x.IsZero() {
			return nil, fmt.Errorf("tagseg: custom.%s: zero time: %w", k, ErrInvalidField)
		}
		return checkTime("custom."+k, x)
	}
	return nil, fmt.Errorf("tagseg: custom.%s: unsupported type %T (want string, integer, float64, bool or time.Time): %w", k, v, ErrInvalidField)
}

// NewUUID returns a new customer UUID as CreateCustomer assigns one:
// "cus_" and a version 7 UUID (a millisecond timestamp then random bits,
// so that UUIDs created in turn sort in turn and their index grows at its
// end). A caller that must fix the UUID before the write (a replicated
// log, an idempotent retry) creates the customer with it.
func NewUUID() string { return newUUID() }

func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	ms := uint64(time.Now().UnixMilli())
	b[0], b[1], b[2], b[3], b[4], b[5] = byte(ms>>40), byte(ms>>32), byte(ms>>24), byte(ms>>16), byte(ms>>8), byte(ms)
	b[6] = b[6]&0x0f | 0x70
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return "cus_" + h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// ---- Tx reads ----

func (tx *Tx) corrupt(format string, args ...any) error {
	return fmt.Errorf("tagseg: %s: %s: %w", tx.ix.path, fmt.Sprintf(format, args...), ErrCorrupt)
}

// lookup finds the record of a customer by UUID.
func (tx *Tx) lookup(op, uuid string) (*record, error) {
	r, err := lookupID(tx.btx, tx.ix.path, op, uuid, tx.get(bktUUID, []byte(uuid)), tx.nextID)
	if err != nil {
		return nil, err
	}
	return tx.fold(r), nil
}

// lookupID reads the record of the customer whose UUID entry is v. A
// customer with an ID of limit or more is not found: a reader's bbolt
// transaction may hold customers created by Load after its snapshot (see
// Index.matching), which the snapshot does not know.
func lookupID(btx *bolt.Tx, path, op, uuid string, v []byte, limit uint32) (*record, error) {
	if v == nil {
		return nil, fmt.Errorf("tagseg: %s %s: %w", op, uuid, ErrNotFound)
	}
	id, err := parseID(v)
	if err != nil {
		return nil, fmt.Errorf("tagseg: %s: uuid entry for %s: %v: %w", path, uuid, err, ErrCorrupt)
	}
	if id >= limit {
		return nil, fmt.Errorf("tagseg: %s %s: %w", op, uuid, ErrNotFound)
	}
	return readRecord(btx, path, id)
}

func readRecord(btx *bolt.Tx, path string, id uint32) (*record, error) {
	v := btx.Bucket(bktCust).Get(u32key(nil, id))
	if v == nil {
		return nil, fmt.Errorf("tagseg: %s: customer %d has a UUID but no record: %w", path, id, ErrCorrupt)
	}
	r, err := openRecord(id, v)
	if err != nil {
		return nil, fmt.Errorf("tagseg: %s: customer %d: %v: %w", path, id, err, ErrCorrupt)
	}
	return r, nil
}

// byEmail reads the records of the candidate IDs and keeps those whose
// email matches (case-insensitively), in ID order.
func byEmail(btx *bolt.Tx, path, email string, ids []uint32, limit uint32) ([]*record, error) {
	slices.Sort(ids)
	ids = slices.Compact(ids)
	var out []*record
	cust := btx.Bucket(bktCust)
	want := lower(email)
	for _, id := range ids {
		if id >= limit {
			break // created after the snapshot (see lookupID)
		}
		v := cust.Get(u32key(nil, id))
		if v == nil {
			continue // deleted since
		}
		r, err := openRecord(id, v)
		if err != nil {
			return nil, fmt.Errorf("tagseg: %s: customer %d: %v: %w", path, id, err, ErrCorrupt)
		}
		if lower(r.c.Email) == want {
			out = append(out, r)
		}
	}
	return out, nil
}

// byEmail finds the customers with the email as the batch sees them.
func (tx *Tx) byEmail(email string) ([]*record, error) {
	h := emailHash(email)
	if h == 0 {
		return nil, nil
	}
	ids := tx.ix.emails.candidates(tx.st, h, tx.write)
	for c, v := range tx.cols { // the batch's own, which a scan of tx.st misses
		if c.col == colEmail && v == h {
			ids = append(ids, c.id)
		}
	}
	rs, err := byEmail(tx.btx, tx.ix.path, email, ids, tx.nextID)
	for _, r := range rs {
		tx.fold(r)
	}
	return rs, err
}

// customer returns the record as a Customer with its MRR. Tags is never
// nil, so that it encodes as [] in JSON.
func (r *record) customer(mrr int64) Customer {
	c := r.c
	c.ID, c.MRR = r.id, mrr
	c.Tags = cloneTags(c.Tags)
	return c
}

func cloneTags(tags []string) []string { return append([]string{}, tags...) }

// Customer returns the customer with the given UUID as the batch sees it.
func (tx *Tx) Customer(uuid string) (c Customer, err error) {
	err = tx.read(func() error {
		r, err := tx.lookup("customer", uuid)
		if err != nil {
			return err
		}
		c = r.customer(tx.mrrOf(r.id))
		return nil
	})
	return c, err
}

// CustomersByEmail returns the customers with the email (matched
// case-insensitively) as the batch sees them.
func (tx *Tx) CustomersByEmail(email string) (out []Customer, err error) {
	err = tx.read(func() error {
		rs, err := tx.byEmail(email)
		if err != nil {
			return err
		}
		out = []Customer{}
		for _, r := range rs {
			out = append(out, r.customer(tx.mrrOf(r.id)))
		}
		return nil
	})
	return out, err
}

// ---- Tx writes ----

func (tx *Tx) putRecord(r *record) error {
	tx.dirty = true
	r.seq = tx.jseq() // its tags include the batch's journal (see Tx.fold)
	return encoder{btx: tx.btx}.record(r)
}

// CreateCustomer adds a customer with its tags and returns it as stored,
// with its UUID and ID assigned. See Index.CreateCustomer.
func (tx *Tx) CreateCustomer(c Customer) (Customer, error) {
	if err := tx.checkWrite(); err != nil {
		return Customer{}, err
	}
	c, err := normCustomer(c)
	if err != nil {
		return Customer{}, err
	}
	if c.UUID == "" {
		c.UUID = newUUID()
	}
	if tx.get(bktUUID, []byte(c.UUID)) != nil {
		return Customer{}, fmt.Errorf("tagseg: create customer %s: UUID exists: %w", c.UUID, ErrDuplicate)
	}
	if c.ExternalID != "" && tx.get(bktExt, extKey(c.DataSourceUUID, c.ExternalID)) != nil {
		return Customer{}, fmt.Errorf("tagseg: create customer: external ID %q in data source %q exists: %w", c.ExternalID, c.DataSourceUUID, ErrDuplicate)
	}
	if tx.nextID == math.MaxUint32 {
		return Customer{}, fmt.Errorf("tagseg: create customer: all 2^32-1 IDs used: %w", ErrInvalid)
	}
	r := &record{id: tx.nextID, c: c}
	idb := idVal(r.id)
	if err := tx.putRecord(r); err != nil {
		return Customer{}, err
	}
	tx.put(bktUUID, []byte(c.UUID), idb)
	if c.ExternalID != "" {
		tx.put(bktExt, extKey(c.DataSourceUUID, c.ExternalID), idb)
	}
	for col, v := range colValues(&c) {
		tx.setCol(col, r.id, v)
	}
	tx.nextID++
	tx.set(bmKey{bkLive, ""}, r.id)
	for _, t := range c.Tags {
		tx.set(bmKey{bkTag, t}, r.id)
	}
	for _, k := range eqKeys(&c) {
		tx.set(k, r.id)
	}
	for _, k := range strKeys(&c) {
		tx.set(k, r.id)
	}
	return r.customer(0), nil
}

// DeleteCustomer removes a customer, its tags and its MRR history.
func (tx *Tx) DeleteCustomer(uuid string) error {
	if err := tx.checkWrite(); err != nil {
		return err
	}
	r, err := tx.lookup("delete customer", uuid)
	if err != nil {
		return err
	}
	tx.dirty = true
	if err := tx.btx.Bucket(bktCust).Delete(u32key(nil, r.id)); err != nil {
		return err
	}
	tx.put(bktUUID, []byte(uuid), nil)
	if r.c.ExternalID != "" {
		tx.put(bktExt, extKey(r.c.DataSourceUUID, r.c.ExternalID), nil)
	}
	for col, v := range colNone {
		tx.setCol(col, r.id, v)
	}
	tx.unset(bmKey{bkLive, ""}, r.id)
	for _, t := range r.c.Tags {
		tx.unset(bmKey{bkTag, t}, r.id)
	}
	for _, k := range eqKeys(&r.c) {
		tx.unset(k, r.id)
	}
	for _, k := range strKeys(&r.c) {
		tx.unset(k, r.id)
	}
	if len(tx.histOf(r.id)) > 0 {
		tx.setHist(r.id, nil)
	}
	return nil
}

// addTags adds normalized tags to r; it reports whether r changed.
func (tx *Tx) addTags(r *record, tags []string) (bool, error) {
	have := tagSet(r.c.Tags)
	changed := false
	for _, t := range tags {
		if have(t) {
			continue
		}
		r.c.Tags = append(r.c.Tags, t)
		tx.set(bmKey{bkTag, t}, r.id)
		changed = true
	}
	if changed {
		return true, tx.putRecord(r)
	}
	return false, nil
}

// removeTags removes normalized tags from r; it reports whether r changed.
func (tx *Tx) removeTags(r *record, tags []string) (bool, error) {
	drop := tagSet(tags)
	n := len(r.c.Tags)
	r.c.Tags = slices.DeleteFunc(r.c.Tags, func(t string) bool {
		if drop(t) {
			tx.unset(bmKey{bkTag, t}, r.id)
			return true
		}
		return false
	})
	if len(r.c.Tags) != n {
		return true, tx.putRecord(r)
	}
	return false, nil
}

// tagSet returns a membership test for tags: a scan for a few, a map for many.
func tagSet(tags []string) func(string) bool {
	if len(tags) <= 16 {
		return func(t string) bool { return slices.Contains(tags, t) }
	}
	m := make(map[string]bool, len(tags))
	for _, t := range tags {
		m[t] = true
	}
	return func(t string) bool { return m[t] }
}

// AddTags adds tags to a customer and returns all its tags after.
func (tx *Tx) AddTags(uuid string, tags ...string) ([]string, error) {
	if err := tx.checkWrite(); err != nil {
		return nil, err
	}
	tags, err := normTags("add tags to "+uuid, tags)
	if err != nil {
		return nil, err
	}
	r, err := tx.lookup("add tags to", uuid)
	if err != nil {
		return nil, err
	}
	if _, err := tx.addTags(r, tags); err != nil {
		return nil, err
	}
	return cloneTags(r.c.Tags), nil
}

// RemoveTags removes tags from a customer and returns the tags left.
func (tx *Tx) RemoveTags(uuid string, tags ...string) ([]string, error) {
	if err := tx.checkWrite(); err != nil {
		return nil, err
	}
	tags, err := normTags("remove tags from "+uuid, tags)
	if err != nil {
		return nil, err
	}
	r, err := tx.lookup("remove tags from", uuid)
	if err != nil {
		return nil, err
	}
	if _, err := tx.removeTags(r, tags); err != nil {
		return nil, err
	}
	return cloneTags(r.c.Tags), nil
}

// AddTagsByEmail adds tags to every customer with the email (any case) and
// returns them, in dense-ID order. No such customer gives ErrNotFound.
func (tx *Tx) AddTagsByEmail(email string, tags ...string) ([]Customer, error) {
	if err := tx.checkWrite(); err != nil {
		return nil, err
	}
	tags, err := normTags("add tags by email "+email, tags)
	if err != nil {
		return nil, err
	}
	rs, err := tx.byEmail(email)
	if err != nil {
		return nil, err
	}
	if len(rs) == 0 {
		return nil, fmt.Errorf("tagseg: add tags by email %s: %w", email, ErrNotFound)
	}
	out := make([]Customer, 0, len(rs))
	for _, r := range rs {
		if _, err := tx.addTags(r, tags); err != nil {
			return nil, err
		}
		out = append(out, r.customer(tx.mrrOf(r.id)))
	}
	return out, nil
}

// SetMRR records that the customer's MRR became cents at the instant at.
// The customer's current MRR is the value of its latest event; an event at
// the same instant as an earlier one replaces it. Negative cents, more
// than 2^40-1 cents, or a time outside the years 1678–2261, give
// ErrInvalid.
func (tx *Tx) SetMRR(uuid string, at time.Time, cents int64) error {
	if err := tx.checkWrite(); err != nil {
		return err
	}
	if cents < 0 {
		return fmt.Errorf("tagseg: set MRR of %s: negative MRR %d: %w", uuid, cents, ErrInvalid)
	}
	if cents > maxMRR {
		return fmt.Errorf("tagseg: set MRR of %s: MRR %d above the maximum %d cents: %w", uuid, cents, int64(maxMRR), ErrInvalid)
	}
	if at.IsZero() {
		return fmt.Errorf("tagseg: set MRR of %s: zero time: %w", uuid, ErrInvalid)
	}
	at, err := checkTime("set MRR time", at)
	if err != nil {
		return err
	}
	v := tx.get(bktUUID, []byte(uuid))
	if v == nil {
		return fmt.Errorf("tagseg: set MRR of %s: %w", uuid, ErrNotFound)
	}
	id, err := parseID(v)
	if err != nil {
		return tx.corrupt("uuid entry for %s: %v", uuid, err)
	}
	r := &record{id: id}
	// Insert the event in time order; one at the same instant is replaced.
	h := tx.histOf(r.id)
	e := mrrEvent{at.UnixNano(), cents}
	i, found := slices.BinarySearchFunc(h, e.at, func(x mrrEvent, t int64) int { return cmp.Compare(x.at, t) })
	nh := make([]mrrEvent, 0, len(h)+1)
	nh = append(nh, h[:i]...)
	nh = append(nh, e)
	if found {
		i++
	}
	tx.setHist(r.id, append(nh, h[i:]...))
	return nil
}

// ---- bulk tagging of a segment ----

// AddTagsToSegment adds tags to every customer of the segment e, evaluated
// once before the change, and returns how many customers' tag sets
// changed. See Index.AddTagsToSegment.
func (tx *Tx) AddTagsToSegment(e Expr, tags ...string) (int, error) {
	return tx.segmentTags("add tags to segment", e, tags, true)
}

// RemoveTagsFromSegment removes tags from every customer of the segment e,
// evaluated once before the change, and returns how many customers' tag
// sets changed.
func (tx *Tx) RemoveTagsFromSegment(e Expr, tags ...string) (int, error) {
	return tx.segmentTags("remove tags from segment", e, tags, false)
}

func (tx *Tx) segmentTags(op string, e Expr, tags []string, add bool) (int, error) {
	if err := tx.checkWrite(); err != nil {
		return 0, err
	}
	tags, err := normTags(op, tags)
	if err != nil {
		return 0, err
	}
	ev := &evaluator{ix: tx.ix, st: tx.snapshot(), btx: tx.btx, get: tx.get}
	v, err := ev.eval(e)
	if err != nil {
		return 0, err
	}
	return tx.tagsBulk(tags, v.bm, add), nil
}

// tagsBulk adds (or removes) each of tags to (from) every customer of ids
// by the tags' bitmaps and one journal entry per tag (journal.go): no
// record is read or written, and ids is not changed. It returns how many
// customers' tag sets changed.
func (tx *Tx) tagsBulk(tags []string, ids *roaring.Bitmap, add bool) int {
	changed := roaring.New()
	for _, t := range tags {
		changed.Or(tx.tagBulk(t, ids, add))
	}
	return int(changed.GetCardinality())
}

// CustomerByExternalID returns the customer with the (DataSourceUUID,
// ExternalID) pair as the batch sees it, or ErrNotFound.
func (tx *Tx) CustomerByExternalID(dataSource, externalID string) (c Customer, err error) {
	err = tx.read(func() error {
		r, err := lookupExt(tx.btx, tx.ix.path, dataSource, externalID, tx.get(bktExt, extKey(dataSource, externalID)), tx.nextID)
		if err != nil {
			return err
		}
		c = tx.fold(r).customer(tx.mrrOf(r.id))
		return nil
	})
	return c, err
}

func lookupExt(btx *bolt.Tx, path, ds, ext string, v []byte, limit uint32) (*record, error) {
	notFound := fmt.Errorf("tagseg: customer with external ID %q in data source %q: %w", ext, ds, ErrNotFound)
	if v == nil || ext == "" {
		return nil, notFound
	}
	id, err := parseID(v)
	if err != nil {
		return nil, fmt.Errorf("tagseg: %s: external ID entry: %v: %w", path, err, ErrCorrupt)
	}
	if id >= limit {
		return nil, notFound
	}
	return readRecord(btx, path, id)
}
