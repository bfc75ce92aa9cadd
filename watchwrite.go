package tagseg

// Watched segments (see watch.go): the writer's side. A follower of the
// commits (follow.go) records each saved segment's change in the commit's
// transaction and keeps, in memory, what it needs to do so cheaply.

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
	bolt "go.etcd.io/bbolt"
	bolterr "go.etcd.io/bbolt/errors"
)

// ---- the writer's side ----

// watchSet is what the writer keeps in memory about the saved segments:
// replaced, never changed, once published.
type watchSet struct {
	segs map[string]*watched
}

// watched is one saved segment.
type watched struct {
	query   string
	e       Expr
	info    segInfo
	last    uint64 // the newest change recorded (or gen, or pruned)
	firstAt int64  // the time of the oldest change kept (when kept > 0)
	first   uint64 // its transaction
	deps    *deps  // what its members depend on
	sig     chan struct{}
}

func (w *watched) clone() *watched {
	c := *w
	return &c
}

// segEdit is a batch's last word on a saved segment: saved with a query,
// or deleted; reborn when it was deleted and saved again in the batch.
type segEdit struct {
	query  string
	e      Expr
	del    bool
	reborn bool
	quiet  bool // no first change: a segment saved before changes were recorded (openWatch)
}

// editsOf is a batch's last word on each saved segment it saved or
// deleted (commitInfo.Saved, in order); quiet names the segments whose
// save records no first change.
func editsOf(saved []savedChange, quiet map[string]bool) map[string]*segEdit {
	if len(saved) == 0 {
		return nil
	}
	edits := map[string]*segEdit{}
	for _, s := range saved {
		old := edits[s.Name]
		if s.New == "" {
			edits[s.Name] = &segEdit{del: true}
			continue
		}
		e, err := Parse(s.New) // parsed by SaveSegment: no error
		if err != nil {
			continue
		}
		edits[s.Name] = &segEdit{query: s.New, e: e, reborn: old != nil && (old.del || old.reborn), quiet: quiet[s.Name]}
	}
	return edits
}

// openWatch reads the saved segments and their change logs' state into
// memory on Open; a writable Open starts watching segments saved before
// this version (one commit).
func (ix *Index) openWatch(opts *Options) error {
	ix.keep, ix.keepFor = opts.keepChanges(), opts.keepChangesFor()
	ws := &watchSet{segs: map[string]*watched{}}
	var legacy []string
	err := guard(ix.path, func() error {
		return ix.db.View(func(btx *bolt.Tx) error {
			wb, segs := btx.Bucket(bktWatch), btx.Bucket(bktSeg)
			if segs == nil { // a file opened read-only before Open made its buckets
				return nil
			}
			return segs.ForEach(func(k, v []byte) error {
				name := string(k)
				q, err := openVal(v)
				if err != nil {
					return nil // Check reports it; it cannot be evaluated
				}
				e, err := Parse(string(q))
				if err != nil {
					return nil
				}
				var sb *bolt.Bucket
				if wb != nil {
					sb = wb.Bucket(segBucketKey(name))
				}
				if sb == nil {
					legacy = append(legacy, name)
					return nil
				}
				w, err := loadWatched(sb)
				if err != nil {
					return fmt.Errorf("tagseg: open %s: changes of saved segment %s: %v: %w", ix.path, truncate(name), err, ErrCorrupt)
				}
				w.query, w.e, w.deps = string(q), e, depsOf(e)
				ws.segs[name] = w
				return nil
			})
		})
	})
	if err != nil {
		return err
	}
	ix.watch.Store(ws)
	if len(legacy) == 0 || ix.readOnly {
		return nil
	}
	// Watch them from now on: an empty log each, with no first change.
	var wr *watcher
	for _, f := range ix.followers {
		if x, ok := f.(*watcher); ok {
			wr = x
		}
	}
	wr.quiet = map[string]bool{}
	defer func() { wr.quiet = nil }()
	return ix.update(func(tx *Tx) error {
		for _, name := range legacy {
			q, err := tx.SavedSegment(name)
			if err != nil {
				return err
			}
			if err := tx.SaveSegment(name, q); err != nil {
				return err
			}
			wr.quiet[name] = true
		}
		return nil
	})
}

// loadWatched reads a saved segment's log state.
func loadWatched(sb *bolt.Bucket) (*watched, error) {
	info, err := decodeSegInfo(sb.Get(keyInfo))
	if err != nil {
		return nil, fmt.Errorf("info: %v", err)
	}
	w := &watched{info: info, last: max(info.gen, info.pruned), sig: make(chan struct{})}
	c := sb.Cursor()
	if k, _ := c.First(); k != nil && k[0] == wkChange {
		g, at, ok := parseChangeKey(k)
		if !ok {
			return nil, fmt.Errorf("bad key %s", clipKey(k))
		}
		w.first, w.firstAt = g, at
	}
	c.Last()
	if k, _ := c.Prev(); k != nil && k[0] == wkChange {
		g, _, ok := parseChangeKey(k)
		if !ok {
			return nil, fmt.Errorf("bad key %s", clipKey(k))
		}
		w.last = max(w.last, g)
	}
	return w, nil
}

// watchNow is the clock of change times; tests replace it.
var watchNow = time.Now

// watcher is the follower (follow.go) that records the changes: prepare
// writes them into the commit's transaction and keeps what memory will
// hold after it; once the commit is served, that is published and the
// readers waiting on the segments that changed are woken. Load commits in
// batches and publishes its state once, at its end; the changes of each
// batch are published as it commits (batchCommitted), so that a reader
// waiting on a segment learns of them then.
type watcher struct {
	ix    *Index
	pend  *watchPending   // what the commit under way will publish
	quiet map[string]bool // segments whose save records no first change (openWatch)
}

// watchPending is what a prepared commit publishes.
type watchPending struct {
	next *watchSet
	wake []*watched // whose channel to close
}

func (w *watcher) prepare(c *commitInfo) error {
	w.pend = nil
	p, err := w.ix.watchCommit(c, editsOf(c.Saved(), w.quiet))
	if err != nil {
		return err
	}
	w.pend = p
	return nil
}

func (w *watcher) published(c *commitInfo) {
	if !c.load { // Load's batches were published as each committed
		w.publish()
	}
}

func (w *watcher) batchCommitted(*commitInfo) { w.publish() }

func (w *watcher) publish() {
	p := w.pend
	if p == nil {
		return
	}
	w.pend = nil
	w.ix.watch.Store(p.next)
	for _, x := range p.wake {
		close(x.sig)
	}
}

// watchCommit records, in the commit's write transaction c.btx, every
// saved segment's change, prunes what retention drops, and returns what
// to publish once the commit is served (nil: nothing).
func (ix *Index) watchCommit(c *commitInfo, edits map[string]*segEdit) (*watchPending, error) {
	ws := ix.watch.Load()
	if len(ws.segs) == 0 && len(edits) == 0 {
		return nil, nil
	}
	wc := &watchCommitter{ix: ix, c: c, ws: ws, g: uint64(c.btx.ID()), at: watchNow().UnixNano(), today: ix.today()}
	defer wc.close()
	if err := guard(ix.path, func() error { return wc.run(edits) }); err != nil {
		return nil, err
	}
	if wc.next == nil {
		return nil, nil
	}
	return &watchPending{wc.next, wc.wake}, nil
}

// watchCommitter does the work of watchCommit.
type watchCommitter struct {
	ix *Index
	c  *commitInfo
	ws *watchSet // as published
	g  uint64    // the commit's transaction
	at int64     // its time
	// today is the commit's day (Index.today): the day relative dates
	// resolve on, whatever the clock says while the commit runs.
	today time.Time
	wb    *bolt.Bucket
	old   *bolt.Tx  // a read transaction of the commit before, when needed
	next  *watchSet // as this commit leaves it, once it changes anything
	wake  []*watched
}

func (wc *watchCommitter) close() {
	if wc.old != nil {
		wc.old.Rollback()
	}
}

// oldTx is a read transaction of the last commit: the file as c.Before()
// knows it (outside Load), whose records the old members of a query on
// name, company, email or external_id are evaluated with. A read
// transaction may begin while this write one is open: bbolt serves it the
// last committed meta page, and its map never moves (see openDB).
func (wc *watchCommitter) oldTx() (*bolt.Tx, error) {
	if wc.old == nil {
		var err error
		if wc.old, err = wc.ix.db.Begin(false); err != nil {
			return nil, err
		}
	}
	return wc.old, nil
}

// cur is the set as this commit leaves it so far.
func (wc *watchCommitter) cur() *watchSet {
	if wc.next != nil {
		return wc.next
	}
	return wc.ws
}

// edit returns the segment's entry in the next set, copied on first use
// (its readers woken at publish); nil if not watched.
func (wc *watchCommitter) edit(name string) *watched {
	if wc.next == nil {
		wc.next = &watchSet{segs: maps.Clone(wc.ws.segs)}
	}
	w := wc.next.segs[name]
	if w == nil {
		return nil
	}
	if old := wc.ws.segs[name]; old == w {
		wc.wake = append(wc.wake, old)
		w = w.clone()
		w.sig = make(chan struct{})
		wc.next.segs[name] = w
	}
	return w
}

// bucket returns the watch bucket, made with the file's feed identity the
// first time.
func (wc *watchCommitter) bucket() (*bolt.Bucket, error) {
	if wc.wb != nil {
		return wc.wb, nil
	}
	btx := wc.c.btx
	wb := btx.Bucket(bktWatch)
	if wb == nil {
		var err error
		if wb, err = btx.CreateBucket(bktWatch); err != nil {
			return nil, err
		}
		id := make([]byte, 8)
		rand.Read(id)
		if err := wb.Put(keyFeedID, id); err != nil {
			return nil, err
		}
	}
	wc.wb = wb
	return wb, nil
}

func (wc *watchCommitter) run(edits map[string]*segEdit) error {
	// The batch's saved segments: whole evaluations.
	for name, ed := range edits {
		if err := wc.saved(name, ed); err != nil {
			return err
		}
	}
	// Every other saved segment: a segment with a relative date whose
	// recorded day is not the commit's, in whole (rollDay); any other the
	// batch may change, its members among the touched IDs, before and
	// after.
	if len(wc.ws.segs) > 0 {
		ch := changedBy(wc.c)
		for name, w := range wc.ws.segs {
			if edits[name] != nil {
				continue
			}
			if w.e.dependsOnDay() && (!w.info.dated || w.info.day != unixDay(wc.today)) {
				rolled, err := wc.rollDay(name)
				if err != nil {
					return err
				}
				if rolled {
					continue
				}
			}
			if !ch.mayChange(w.deps) {
				continue
			}
			t := wc.c.IDs()
			if t.IsEmpty() {
				continue
			}
			e := resolveDays(w.e, wc.recordedDay(w))
			before, err := wc.members(wc.c.Before(), e, t)
			if err != nil {
				return err
			}
			after, err := wc.members(wc.c.After(), e, t)
			if err != nil {
				return err
			}
			if err := wc.record(name, wc.edit(name), roaring.AndNot(after, before), roaring.AndNot(before, after)); err != nil {
				return err
			}
		}
	}
	// Retention by age, for every segment.
	if wc.ix.keepFor > 0 {
		cutoff := wc.at - int64(wc.ix.keepFor)
		for name, w := range wc.cur().segs {
			if w.info.kept > 0 && w.firstAt < cutoff {
				if err := wc.prune(name, wc.edit(name)); err != nil {
					return err
				}
			}
		}
	}
	// The customers the batch deleted, for the changes that name them.
	if !wc.c.load && len(wc.cur().segs) > 0 && wc.c.tx != nil && wc.c.tx.deleted() {
		if err := wc.graveyard(); err != nil {
			return err
		}
	}
	if wc.wb != nil {
		return wc.pruneGone()
	}
	return nil
}

// saved applies a batch's last word on a saved segment: a new log and its
// first change (the members), or the difference a new query makes, or the
// log dropped.
func (wc *watchCommitter) saved(name string, ed *segEdit) error {
	wb, err := wc.bucket()
	if err != nil {
		return err
	}
	old := wc.ws.segs[name]
	if old != nil && (ed.del || ed.reborn) {
		wc.edit(name)
		delete(wc.next.segs, name)
		if err := wb.DeleteBucket(segBucketKey(name)); err != nil {
			return err
		}
		old = nil
	}
	if ed.del {
		return nil
	}
	var before *roaring.Bitmap
	if old == nil {
		// A new log (a leftover of a segment memory did not know is
		// dropped first).
		if err := wb.DeleteBucket(segBucketKey(name)); err != nil && !errors.Is(err, bolterr.ErrBucketNotFound) {
			return err
		}
		sb, err := wb.CreateBucket(segBucketKey(name))
		if err != nil {
			return err
		}
		w := &watched{info: segInfo{gen: wc.g}, last: wc.g, sig: make(chan struct{})}
		if err := sb.Put(keyInfo, w.info.encode()); err != nil {
			return err
		}
		if wc.next == nil {
			wc.next = &watchSet{segs: maps.Clone(wc.ws.segs)}
		}
		wc.next.segs[name] = w
		before = roaring.New()
	} else if before, err = wc.members(wc.c.Before(), resolveDays(old.e, wc.recordedDay(old)), nil); err != nil {
		return err
	}
	w := wc.edit(name)
	w.query, w.e, w.deps = ed.query, ed.e, depsOf(ed.e)
	if err := wc.setDay(name, w); err != nil {
		return err
	}
	if ed.quiet {
		return nil
	}
	after, err := wc.members(wc.c.After(), resolveDays(ed.e, wc.today), nil)
	if err != nil {
		return err
	}
	return wc.record(name, w, roaring.AndNot(after, before), roaring.AndNot(before, after))
}

// rollDay brings segment name, whose query has a relative date and whose
// members were last recorded on another day than the commit's (or on no
// day known: a log of a file from before days were recorded), to the
// commit's day. Its change is then the difference of the whole segment:
// its members on the day last recorded, before the commit, against its
// members on the commit's day, after it — one whole evaluation each, once
// a day. The day is stored with the log, in the commit's transaction.
//
// It reports false, having recorded nothing, when the caller is to record
// the change among the touched IDs, on the day recordedDay then gives: a log
// with no day known takes the commit's (its members before the commit on
// that day are unknown); a Load's batch after the first keeps the Load's
// day (a whole evaluation needs the state before the batch, which Load
// has only before its first: a Load evaluates on one day, as a query does).
func (wc *watchCommitter) rollDay(name string) (bool, error) {
	c := wc.c
	if c.load && c.IDs().Minimum() != c.Before().nextID {
		return false, nil
	}
	w := wc.edit(name)
	if !w.info.dated {
		return false, wc.setDay(name, w)
	}
	was := resolveDays(w.e, dayOfUnix(w.info.day))
	is := resolveDays(w.e, wc.today)
	if err := wc.setDay(name, w); err != nil {
		return false, err
	}
	var before, after *roaring.Bitmap
	var err error
	if c.load {
		// The first batch of a Load: the state before it is Before; its
		// customers are the batch's, evaluated on After.
		btx := c.btx
		if needsRecords(w.e) {
			if btx, err = wc.oldTx(); err != nil {
				return false, err
			}
		}
		if before, err = evalOn(wc.ix, c.Before(), btx, was, nil); err != nil {
			return false, err
		}
		if after, err = evalOn(wc.ix, c.Before(), btx, is, nil); err != nil {
			return false, err
		}
		batch, err := evalOn(wc.ix, c.After(), c.btx, is, c.IDs())
		if err != nil {
			return false, err
		}
		after.Or(batch)
	} else {
		if before, err = wc.members(c.Before(), was, nil); err != nil {
			return false, err
		}
		if after, err = wc.members(c.After(), is, nil); err != nil {
			return false, err
		}
	}
	return true, wc.record(name, w, roaring.AndNot(after, before), roaring.AndNot(before, after))
}

// recordedDay is the day the members of w were last recorded on: the stored
// day of a query with a relative date; else the commit's (a query
// without one does not depend on it; a log from before days were
// recorded takes the commit's, see rollDay).
func (wc *watchCommitter) recordedDay(w *watched) time.Time {
	if w.info.dated {
		return dayOfUnix(w.info.day)
	}
	return wc.today
}

// setDay records, for w (as edited by this commit), the commit's day as
// the day its members are recorded on when its query has a relative date,
// and no day otherwise; the log's info is written when that changes it.
func (wc *watchCommitter) setDay(name string, w *watched) error {
	dated, day := w.e.dependsOnDay(), int64(0)
	if dated {
		day = unixDay(wc.today)
	}
	if w.info.dated == dated && w.info.day == day {
		return nil
	}
	w.info.dated, w.info.day = dated, day
	wb, err := wc.bucket()
	if err != nil {
		return err
	}
	return wb.Bucket(segBucketKey(name)).Put(keyInfo, w.info.encode())
}

// unixDay is the number of the day d (midnight UTC): days since
// 1970-01-01.
func unixDay(d time.Time) int64 { return d.Unix() / 86400 }

// dayOfUnix is the day numbered n (see unixDay).
func dayOfUnix(n int64) time.Time { return time.Unix(n*86400, 0).UTC() }

// members evaluates e on state s (c.Before() or c.After()) among ids, or
// everywhere when ids is nil. Before a Load's batch its customers did not
// exist.
func (wc *watchCommitter) members(s *state, e Expr, ids *roaring.Bitmap) (*roaring.Bitmap, error) {
	c := wc.c
	btx := c.btx
	if s == c.Before() {
		if c.load {
			return roaring.New(), nil
		}
		if needsRecords(e) {
			var err error
			if btx, err = wc.oldTx(); err != nil {
				return nil, err
			}
		}
	}
	return evalOn(wc.ix, s, btx, e, ids)
}

// record writes one change of segment name and prunes by count.
func (wc *watchCommitter) record(name string, w *watched, entered, left *roaring.Bitmap) error {
	if entered.IsEmpty() && left.IsEmpty() {
		return nil
	}
	wb, err := wc.bucket()
	if err != nil {
		return err
	}
	sb := wb.Bucket(segBucketKey(name))
	v, err := encodeChange(entered, left)
	if err != nil {
		return err
	}
	if err := sb.Put(changeKey(wc.g, wc.at), v); err != nil {
		return err
	}
	if w.info.kept == 0 {
		w.first, w.firstAt = wc.g, wc.at
	}
	w.info.kept++
	w.last = wc.g
	if wc.ix.keep > 0 && w.info.kept > wc.ix.keep {
		return wc.prune(name, w)
	}
	return sb.Put(keyInfo, w.info.encode())
}

// prune drops the oldest changes of segment name beyond the count or the
// age retention keeps.
func (wc *watchCommitter) prune(name string, w *watched) error {
	wb, err := wc.bucket()
	if err != nil {
		return err
	}
	sb := wb.Bucket(segBucketKey(name))
	cutoff := int64(math.MinInt64)
	if wc.ix.keepFor > 0 {
		cutoff = wc.at - int64(wc.ix.keepFor)
	}
	c := sb.Cursor()
	for k, _ := c.First(); k != nil && k[0] == wkChange; k, _ = c.First() {
		g, at, ok := parseChangeKey(k)
		if !ok {
			return fmt.Errorf("tagseg: %s: changes of %s: bad key %s: %w", wc.ix.path, name, clipKey(k), ErrCorrupt)
		}
		if !(wc.ix.keep > 0 && w.info.kept > wc.ix.keep) && at >= cutoff {
			w.first, w.firstAt = g, at
			break
		}
		if err := c.Delete(); err != nil {
			return err
		}
		w.info.pruned = max(w.info.pruned, g)
		w.info.kept--
	}
	if w.info.kept == 0 {
		w.first, w.firstAt = 0, 0
	}
	return sb.Put(keyInfo, w.info.encode())
}

// graveyard keeps the UUID and name of each customer the batch deleted,
// read from the commit before.
func (wc *watchCommitter) graveyard() error {
	del := roaring.And(wc.c.IDs(), wc.c.Before().live)
	del.AndNot(wc.c.After().live)
	if del.IsEmpty() {
		return nil
	}
	old, err := wc.oldTx()
	if err != nil {
		return err
	}
	wb, err := wc.bucket()
	if err != nil {
		return err
	}
	for it := del.Iterator(); it.HasNext(); {
		id := it.Next()
		r, err := readRecord(old, wc.ix.path, id)
		if err != nil {
			return err
		}
		if err := wb.Put(goneKey(id), gone{wc.g, r.c.UUID, r.c.Name}.encode()); err != nil {
			return err
		}
		if err := wb.Put(goneByKey(wc.g, id), seal(nil)); err != nil {
			return err
		}
	}
	return nil
}

// pruneGone drops the deletion entries no kept change can name: those of
// deletions before every segment's oldest kept change.
func (wc *watchCommitter) pruneGone() error {
	horizon := wc.g // changes from now on name no customer deleted before
	for _, w := range wc.cur().segs {
		if w.info.kept > 0 {
			horizon = min(horizon, w.first)
		}
	}
	c := wc.wb.Cursor()
	for k, _ := c.Seek([]byte{wkGoneBy}); k != nil && k[0] == wkGoneBy; k, _ = c.Seek([]byte{wkGoneBy}) {
		if len(k) != 13 {
			return fmt.Errorf("tagseg: %s: bad deletion key %s: %w", wc.ix.path, clipKey(k), ErrCorrupt)
		}
		if binary.BigEndian.Uint64(k[1:]) >= horizon {
			break
		}
		if err := c.Delete(); err != nil {
			return err
		}
		if err := wc.wb.Delete(goneKey(binary.BigEndian.Uint32(k[9:]))); err != nil {
			return err
		}
	}
	return nil
}

// ---- which segments a batch may change ----

// deps is what the members of an expression depend on besides liveness:
// a batch that changes none of it changes no customer's membership (each
// customer's depends on its own tags, fields and MRR alone), and the
// segment is not evaluated.
type deps struct {
	all     bool            // something not classified below: always evaluate
	tags    map[string]bool // tags named
	fields  map[string]bool // equality fields (country, ..., custom.KEY)
	cols    [numCols]bool   // columns (email hash, lead and trial dates)
	mrr     bool            // mrr, arr
	records bool            // fields read from records: name, company, email, external_id
}

func depsOf(e Expr) *deps {
	d := &deps{tags: map[string]bool{}, fields: map[string]bool{}}
	d.add(e)
	return d
}

func (d *deps) add(e Expr) {
	n := e.n
	if n == nil {
		return
	}
	switch n.kind {
	case kAll:
	case kTag, kAnyTags, kAllTags:
		for _, t := range n.tags {
			d.tags[strings.TrimSpace(t)] = true
		}
	case kAnd, kOr, kNot:
		for _, k := range n.kids {
			d.add(k)
		}
	case kWhere:
		switch f := n.field; {
		case f == "mrr" || f == "arr":
			d.mrr = true
		case slices.Contains(eqFields, f) || strings.HasPrefix(f, "custom."):
			d.fields[f] = true
		case f == "lead_created_at":
			d.cols[colLead] = true
		case f == "free_trial_started_at":
			d.cols[colTrial] = true
		case f == "email":
			d.cols[colEmail], d.records = true, true
		case f == "name" || f == "company" || f == "external_id":
			d.records = true
		default:
			d.all = true
		}
	default:
		d.all = true
	}
}

// changes is what a batch changed, in deps' terms.
type changes struct {
	all     bool // customers created or deleted, or a Load
	tags    map[string]bool
	fields  map[string]bool
	cols    [numCols]bool
	mrr     bool
	records bool
}

func changedBy(c *commitInfo) *changes {
	tx := c.tx
	if tx == nil || c.load {
		return &changes{all: true}
	}
	ch := &changes{mrr: len(tx.hist) > 0, records: tx.recs != nil && !tx.recs.IsEmpty()}
	for k, d := range tx.deltas {
		if d.add.IsEmpty() && d.del.IsEmpty() {
			continue
		}
		switch k.kind {
		case bkTag:
			if ch.tags == nil {
				ch.tags = map[string]bool{}
			}
			ch.tags[k.name] = true
		case bkEq:
			if ch.fields == nil {
				ch.fields = map[string]bool{}
			}
			f, _ := splitEq(k.name)
			ch.fields[f] = true
		default:
			ch.all = true
		}
	}
	for cid := range tx.cols {
		ch.cols[cid.col] = true
	}
	return ch
}

// mayChange reports whether the batch may change the members of an
// expression with dependencies d.
func (ch *changes) mayChange(d *deps) bool {
	if ch.all || d.all || ch.mrr && d.mrr || ch.records && d.records {
		return true
	}
	for i := range ch.cols {
		if ch.cols[i] && d.cols[i] {
			return true
		}
	}
	small, large := ch.tags, d.tags
	if len(small) > len(large) {
		small, large = large, small
	}
	for t := range small {
		if large[t] {
			return true
		}
	}
	for f := range ch.fields {
		if d.fields[f] {
			return true
		}
	}
	return false
}

// deleted reports whether the batch deleted a customer.
func (tx *Tx) deleted() bool {
	d := tx.deltas[bmKey{bkLive, ""}]
	return d != nil && !d.del.IsEmpty()
}

// closeWatch wakes every reader waiting for changes: the index is closing.
// Under the writer's lock: no commit publishes after it.
func (ix *Index) closeWatch() {
	if ws := ix.watch.Load(); ws != nil {
		for _, w := range ws.segs {
			close(w.sig)
		}
		ix.watch.Store(&watchSet{})
	}
}
