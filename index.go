package tagseg

import (
	"errors"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/RoaringBitmap/roaring/v2"
	bolt "go.etcd.io/bbolt"
	bolterr "go.etcd.io/bbolt/errors"
)

// Options configure Open. A nil *Options means the defaults.
type Options struct {
	// NoSync skips the fsync at the end of each write transaction. Writes
	// are then fast but a crash of the machine (not just the process) can
	// lose or corrupt recent ones. For bulk loads that can be redone.
	NoSync bool
	// ReadOnly opens the file for reading only; writes return ErrReadOnly.
	// Several processes may hold one file open read-only at once.
	ReadOnly bool
	// AcceptLostCommit opens a file one of whose two meta pages is
	// damaged. Open refuses such a file by default (ErrCorrupt): bbolt
	// would open it as of the commit recorded in the other page, and if
	// the damaged page held the newest commit, that commit — maybe an
	// acknowledged write — is lost without a word. With AcceptLostCommit
	// the file opens as of the surviving commit, and (unless ReadOnly)
	// Open's first commit rewrites the damaged page.
	AcceptLostCommit bool
	// CacheBytes bounds the memory of the answers the index keeps across
	// commits (segments' members and figures, series, tag rankings; see
	// answers.go): 0 means DefaultCacheBytes, a negative value keeps none
	// (every read evaluates afresh). Least recently used go first; saved
	// segments' queries are kept longest.
	CacheBytes int64
	// KeepChanges is how many changes of each saved segment the index
	// keeps for Changes: 0 means DefaultKeepChanges (10,000), a negative
	// value no limit.
	KeepChanges int
	// KeepChangesFor is how long it keeps them: 0 means
	// DefaultKeepChangesFor (30 days), a negative value forever. Both
	// limits apply; the commits that follow drop what they exclude.
	KeepChangesFor time.Duration
	// Clock is the time relative dates in queries (lead_created_at >
	// now-30d) are resolved against: its day, UTC. nil means time.Now.
	// For tests, and for replaying an evaluation as of a given day.
	Clock func() time.Time
	// Timeout is how long Open waits for another process that holds the
	// file to release it before returning ErrLocked. Zero means 2 seconds;
	// a negative value means wait forever.
	Timeout time.Duration
}

func (o *Options) timeout() time.Duration {
	switch {
	case o.Timeout == 0:
		return 2 * time.Second
	case o.Timeout < 0:
		return 0 // bbolt: wait forever
	}
	return o.Timeout
}

// Customer is one customer of the index.
//
// CreateCustomer takes every field but ID and MRR, which the index assigns:
// ID is the customer's dense ID (assigned in order, never reused) and MRR is
// its current MRR in cents, written with SetMRR. Times are stored to the
// nanosecond and returned in UTC. Custom holds typed attributes: string,
// int64, float64, bool or time.Time (other integer types are stored as
// int64, float32 as float64); each keeps its type across reopen.
type Customer struct {
	UUID               string // "cus_" + a random UUID when empty on create
	ID                 uint32 // dense ID, assigned by the index
	DataSourceUUID     string
	ExternalID         string // unique together with DataSourceUUID, when not empty
	Name               string
	Email              string // stored as given, matched case-insensitively
	Company            string
	Country            string
	State              string
	City               string
	Zip                string
	LeadCreatedAt      time.Time
	FreeTrialStartedAt time.Time
	Tags               []string       // in the order first added
	Custom             map[string]any // typed custom attributes
	MRR                int64          // current MRR in cents (read-only; see SetMRR)
}

// Limits on customer input; longer values give ErrInvalid.
const (
	maxTagLen   = 255
	maxFieldLen = 4096
	maxKeyLen   = 255
)

// Index is an open tagseg index: customers, tags and MRR in one bbolt file,
// with the bitmaps queries need held in memory. All methods are safe for
// concurrent use: any number of readers run alongside one writer at a time.
//
// Readers work on immutable snapshots (see state.go): a read takes the
// latest committed snapshot with one atomic load and keeps it to its end,
// so it never waits for the writer or for another reader, and the writer
// never waits for readers (for files up to 64 GiB: past that, bbolt's
// growing the memory map of a file waits for open read transactions). A write transaction builds the next snapshot
// from the one it started on, copying only what it changed, commits to the
// file, and then publishes the snapshot.
type Index struct {
	path     string
	db       *bolt.DB
	readOnly bool

	wmu    sync.Mutex            // serializes write transactions and Close
	cur    atomic.Pointer[state] // the latest committed snapshot
	pend   atomic.Pointer[state] // the snapshot of a commit in progress (or failed)
	closed atomic.Bool
	failed error // the error of a failed commit; writes are refused (under wmu)
	// down is failed for Err, which takes no lock.
	down atomic.Pointer[error]
	// counts caches the cardinality of each tag bitmap of the last full
	// Tags listing (bitmaps never change once published), so that the
	// next one counts only the tags commits changed (TagsWithPrefix).
	counts atomic.Pointer[countCache]
	// loading is set while Load commits batches that only add customers
	// after its snapshot: see matching.
	loading atomic.Pointer[loadSpan]
	emails  emailTable
	// followers follow each commit (follow.go); set by Open.
	followers []follower
	fwd       fwdHolder        // TagStats' forward index (tagstats.go)
	answers   *answers         // kept answers (answers.go); nil: none
	sorted    sortedIndexes    // the string indexes' builds (strbuild.go)
	clock     func() time.Time // Options.Clock
	// Watched segments (watch.go): the saved segments and their logs, and
	// the retention of changes.
	watch   atomic.Pointer[watchSet]
	keep    int
	keepFor time.Duration
}

// Open opens the index in the bbolt file at path, creating it when it does
// not exist, and loads its bitmaps and MRR column into memory. A file that
// is not a tagseg index, is truncated or does not decode gives ErrCorrupt;
// one written by another format gives ErrVersion; one held by another
// process gives ErrLocked after Options.Timeout.
func Open(path string, opts *Options) (*Index, error) {
	if opts == nil {
		opts = &Options{}
	}
	_, statErr := os.Stat(path)
	created := errors.Is(statErr, os.ErrNotExist) && !opts.ReadOnly
	if err := checkLength(path); err != nil {
		return nil, fmt.Errorf("tagseg: open %s: %v: %w", path, err, ErrCorrupt)
	}
	db, err := openDB(path, opts)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*Index, error) {
		db.Close()
		return nil, err
	}
	if err := initDB(db, path, opts.ReadOnly, opts.AcceptLostCommit); err != nil {
		return fail(err)
	}
	if created && !opts.NoSync {
		// The new file's directory entry must survive a crash too.
		if err := syncDir(filepath.Dir(path)); err != nil {
			return fail(fmt.Errorf("tagseg: open %s: sync directory: %w", path, err))
		}
	}
	if !opts.ReadOnly {
		// One empty commit: bbolt checks the free list as it writes it
		// (a damaged one panics), here rather than at the first write.
		btx, err := db.Begin(true)
		if err != nil {
			return fail(fmt.Errorf("tagseg: open %s: first commit: %v: %w", path, err, ErrCorrupt))
		}
		_, err = commitTx(db, path, btx)
		btx.Rollback() // after a commit, bbolt has ended it: a no-op
		if err != nil {
			return fail(fmt.Errorf("tagseg: open %s: first commit: %w", path, err))
		}
	}
	st, un, err := readState(db, path)
	if err != nil {
		return fail(err)
	}
	if !opts.ReadOnly {
		// What load found unfinished (see unfinished): small tags in
		// chunks, and the tags and external IDs of a Load that died.
		get := func(name string) *roaring.Bitmap { return st.get(bmKey{bkTag, name}) }
		if tags := append(un.misformed, un.tags...); len(tags) > 0 {
			txid, err := storeTags(db, path, tags, get, false, nil)
			if err != nil {
				return fail(err)
			}
			st.txid = txid
		}
		if un.pending {
			txid, err := mergeExt(db, path, &un.ext, nil)
			if err != nil {
				return fail(err)
			}
			st.txid = txid
		}
	}
	ix := &Index{path: path, db: db, readOnly: opts.ReadOnly, clock: opts.Clock}
	ix.followers = []follower{&ix.fwd}
	if opts.CacheBytes >= 0 {
		max := opts.CacheBytes
		if max == 0 {
			max = DefaultCacheBytes
		}
		ix.answers = newAnswers(ix, max)
		ix.followers = append(ix.followers, ix.answers)
	}
	ix.cur.Store(st)
	if ix.answers != nil {
		for _, q := range ix.SavedSegments() {
			ix.answers.setSaved(q, true)
		}
	}
	ix.followers = append(ix.followers, &watcher{ix: ix})
	if err := ix.openWatch(opts); err != nil {
		return fail(err)
	}
	return ix, nil
}

// readState reads the file into its first snapshot: Open's image of it
// (open.go) made a state. un says what a writable Open has left to store.
func readState(db *bolt.DB, path string) (*state, *unfinished, error) {
	img, un, err := loadImage(db, path)
	if err != nil {
		return nil, nil, err
	}
	return stateFromImage(img, un.tags), un, nil
}

// Path returns the file the index was opened from.
func (ix *Index) Path() string { return ix.path }

// Close waits for a write in progress, then closes the file. Every later
// call returns ErrClosed, and iterators yield nothing. Reads in progress
// that need the file finish first.
func (ix *Index) Close() error {
	ix.wmu.Lock()
	defer ix.wmu.Unlock()
	if ix.closed.Swap(true) {
		return fmt.Errorf("tagseg: close %s: %w", ix.path, ErrClosed)
	}
	ix.closeWatch()
	return ix.db.Close()
}

// Err reports whether the index serves: nil while it is open and its
// commits succeed; an error wrapping ErrClosed once it is closed; one
// wrapping ErrCorrupt, naming the cause, once a commit has failed (writes
// are then refused until the index is reopened, and reads see the state
// before the failure, which the file may no longer hold). It takes no
// lock and waits for no writer: a server can ask it on every request.
func (ix *Index) Err() error {
	if ix.closed.Load() {
		return ix.errClosed()
	}
	if p := ix.down.Load(); p != nil {
		return fmt.Errorf("tagseg: %s: a commit failed (%v); reopen the index: %w", ix.path, *p, ErrCorrupt)
	}
	return nil
}

// fail records the error of a failed commit (under wmu).
func (ix *Index) fail(err error) {
	ix.failed = err
	ix.down.Store(&err)
}

func (ix *Index) errClosed() error { return fmt.Errorf("tagseg: %s: %w", ix.path, ErrClosed) }

// snapshot returns the latest committed snapshot, or ErrClosed.
func (ix *Index) snapshot() (*state, error) {
	if ix.closed.Load() {
		return nil, ix.errClosed()
	}
	return ix.cur.Load(), nil
}

// read runs fn with the latest committed snapshot: memory only, no lock.
func (ix *Index) read(fn func(st *state) error) error {
	st, err := ix.snapshot()
	if err != nil {
		return err
	}
	return fn(st)
}

// view runs fn, the package's own code, with a bbolt read transaction and
// the snapshot of the same commit, turning bbolt's panics and memory
// faults on a damaged file into ErrCorrupt (see guard).
func (ix *Index) view(fn func(st *state, btx *bolt.Tx) error) error {
	return ix.viewRaw(func(st *state, btx *bolt.Tx) error {
		return guard(ix.path, func() error { return fn(st, btx) })
	})
}

// viewRaw runs fn with a bbolt read transaction and the snapshot of the
// same commit. fn runs outside any guard: View passes the caller's
// function, whose panics go on to its caller (the Tx's reads guard
// themselves). The writer publishes a commit's snapshot as pend before it
// writes the commit's meta page and as cur after, so one of the two
// matches any transaction bbolt can begin; no lock is taken.
func (ix *Index) viewRaw(fn func(st *state, btx *bolt.Tx) error) error {
	for range 1000 {
		if ix.closed.Load() {
			return ix.errClosed()
		}
		var btx *bolt.Tx
		var st *state
		err := guard(ix.path, func() error {
			var err error
			if btx, err = ix.db.Begin(false); err != nil {
				if errors.Is(err, bolterr.ErrDatabaseNotOpen) {
					return ix.errClosed()
				}
				return fmt.Errorf("tagseg: %s: %w", ix.path, err)
			}
			if st = ix.matching(btx.ID()); st == nil {
				btx.Rollback() // a whole commit happened meanwhile: again
			}
			return nil
		})
		if err != nil {
			return err
		}
		if st != nil {
			defer btx.Rollback() // also when fn panics
			return fn(st, btx)
		}
	}
	return fmt.Errorf("tagseg: %s: the file stays ahead of memory; reopen the index: %w", ix.path, ErrCorrupt)
}

// matching returns the snapshot of bbolt transaction id, or nil.
//
// While Load runs, its batches commit to the file but the snapshot stays
// the one before Load until it returns. A batch only adds customers with
// IDs past the snapshot's, so a bbolt transaction of one of those commits
// still agrees with the snapshot on every customer the snapshot knows:
// the snapshot is returned for it, and the reads ignore customers whose ID
// is past the snapshot's next ID (lookupID).
func (ix *Index) matching(id int) *state {
	for range 2 {
		st := ix.cur.Load()
		if st.txid == id {
			return st
		}
		if p := ix.pend.Load(); p != nil && p.txid == id {
			return p
		}
		if l := ix.loading.Load(); l != nil && l.base == st.txid && id > l.base && int64(id) <= l.top.Load() {
			return st
		}
	}
	return nil
}

// loadSpan is the run of commits of a Load in progress: from base, the
// transaction of the snapshot before it, to top.
type loadSpan struct {
	base int
	top  atomic.Int64
}

// Update runs fn in one write transaction: fn sees its own writes, and the
// whole batch becomes durable (and visible to readers) when Update returns
// nil. If fn returns an error, or panics, every write of the batch is
// rolled back and the error is returned. A batch that changes nothing
// commits nothing. The *Tx must not be used after fn returns.
//
// If committing fails, what reached the file decides what follows:
//
//   - Nothing (bbolt still serves the commit before: the file system is
//     full, the file size limit is reached, a write of the batch's pages
//     failed): the error wraps ErrIO, the batch changed nothing, and the
//     index goes on. Later writes are tried as usual, so they succeed once
//     space is freed, and retrying the batch is safe.
//   - The commit's meta page, which could then not be synced: the batch is
//     published to readers (the file serves it, and memory follows the
//     file) while Update returns an error wrapping ErrCorrupt that names
//     the cause. Whether the batch survives a crash is unknown, so the
//     index refuses every later write until it is closed and opened again,
//     which gives the file's truth; read it before retrying (a retried
//     CreateCustomer could create the customer twice).
func (ix *Index) Update(fn func(tx *Tx) error) error {
	return ix.update(fn)
}

// View runs fn in a read-only transaction: every read of fn (Customer,
// Segment, Count, Series, TagStats, …) sees one snapshot, the latest
// commit when View began, however long fn takes and whatever writers do
// meanwhile. The write methods of the Tx return ErrReadOnly. fn's error is
// returned; a panic in fn goes on to View's caller (only a damaged file
// met by a read of the Tx is an error, wrapping ErrCorrupt). The *Tx must not be used after fn returns; a Segment made in
// fn reads its customers from that snapshot while fn runs, and from the
// file as it is afterwards.
//
// View holds a bbolt read transaction while fn runs: a reader kept open
// for hours keeps the pages it sees from being reused, so the file grows.
func (ix *Index) View(fn func(tx *Tx) error) error {
	return ix.viewRaw(func(st *state, btx *bolt.Tx) error {
		tx := &Tx{ix: ix, btx: btx, st: st, nextID: st.nextID}
		defer tx.end()
		return fn(tx)
	})
}

// ---- Index: single-call writes ----

func (ix *Index) write1(fn func(tx *Tx) error) error { return ix.update(fn) }

// CreateCustomer adds a customer (with its tags) in one durable
// transaction and returns it as stored: UUID assigned ("cus_" + a random
// UUID) when empty, ID assigned, tags trimmed and de-duplicated, times in
// UTC. An existing UUID or (DataSourceUUID, ExternalID) pair gives
// ErrDuplicate; an invalid tag ErrInvalidTag; a bad custom attribute
// ErrInvalidField. c.ID and c.MRR are ignored: MRR is written with SetMRR.
func (ix *Index) CreateCustomer(c Customer) (out Customer, err error) {
	err = ix.write1(func(tx *Tx) error { out, err = tx.CreateCustomer(c); return err })
	return out, err
}

// DeleteCustomer removes the customer with the UUID, its tags and its MRR
// history. Its ID is never reused; its (DataSourceUUID, ExternalID) may be
// created again.
func (ix *Index) DeleteCustomer(uuid string) error {
	return ix.write1(func(tx *Tx) error { return tx.DeleteCustomer(uuid) })
}

// AddTags adds tags to the customer and returns all its tags after, in the
// order first added. Tags are trimmed; one the customer has is skipped. An
// invalid tag gives ErrInvalidTag and adds none of them.
func (ix *Index) AddTags(uuid string, tags ...string) (out []string, err error) {
	err = ix.write1(func(tx *Tx) error { out, err = tx.AddTags(uuid, tags...); return err })
	return out, err
}

// AddTagsByEmail adds tags to every customer whose email matches
// (case-insensitively) and returns those customers after the change, in
// dense-ID order. No match gives ErrNotFound; an empty email matches
// nobody.
func (ix *Index) AddTagsByEmail(email string, tags ...string) (out []Customer, err error) {
	st, err := ix.snapshot()
	if err != nil {
		return nil, err
	}
	ix.emails.ensure(st) // before the writer's lock: see emailTable
	err = ix.write1(func(tx *Tx) error { out, err = tx.AddTagsByEmail(email, tags...); return err })
	return out, err
}

// RemoveTags removes tags from the customer and returns the tags left.
// Removing a tag the customer lacks is a no-op.
func (ix *Index) RemoveTags(uuid string, tags ...string) (out []string, err error) {
	err = ix.write1(func(tx *Tx) error { out, err = tx.RemoveTags(uuid, tags...); return err })
	return out, err
}

// SetMRR records an MRR change event for the customer: from the instant at
// its MRR is cents. See Tx.SetMRR.
func (ix *Index) SetMRR(uuid string, at time.Time, cents int64) error {
	return ix.write1(func(tx *Tx) error { return tx.SetMRR(uuid, at, cents) })
}

// ---- Index: reads ----

// Customer returns the customer with the UUID, or ErrNotFound.
func (ix *Index) Customer(uuid string) (out Customer, err error) {
	err = ix.View(func(tx *Tx) error { out, err = tx.Customer(uuid); return err })
	return out, err
}

// CustomersByEmail returns every customer whose email matches
// (case-insensitively), in dense-ID order: an empty slice when none does.
// An empty email matches nobody.
func (ix *Index) CustomersByEmail(email string) (out []Customer, err error) {
	err = ix.View(func(tx *Tx) error { out, err = tx.CustomersByEmail(email); return err })
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Tags yields every tag some customer holds, with its customer count, in
// byte order of the tag names. It works on a snapshot taken when iteration
// starts, so the loop body may call any method of the index. The names
// are sorted once per set of tag names, not per call (a commit that only
// changes who holds which tags keeps the order), and the counts of a full
// listing are kept for the next one, which counts again only the tags
// commits changed since.
func (ix *Index) Tags() iter.Seq2[string, uint64] { return ix.TagsWithPrefix("") }

// TagsWithPrefix yields the tags starting with prefix that some customer
// holds, with their customer counts, in byte order, as Tags does: it
// finds the first by binary search and stops after the last, so a
// completion of a few letters costs what it yields.
func (ix *Index) TagsWithPrefix(prefix string) iter.Seq2[string, uint64] {
	return func(yield func(string, uint64) bool) {
		st, err := ix.snapshot()
		if err != nil {
			return
		}
		names := st.tags.sorted()
		i, _ := slices.BinarySearch(names, prefix)
		// Counts from the cache of the last full listing where the bitmap
		// is the same (published bitmaps never change); a full listing of
		// another state makes the next cache of what it counted.
		old := ix.counts.Load()
		var next *countCache
		if prefix == "" && (old == nil || old.txid != st.txid) {
			next = &countCache{st.txid, make(map[*roaring.Bitmap]uint64, len(names))}
		}
		for _, t := range names[i:] {
			if !strings.HasPrefix(t, prefix) {
				break
			}
			bm, _ := st.tags.get(t)
			n, ok := uint64(0), false
			if old != nil {
				n, ok = old.n[bm]
			}
			if !ok {
				n = bm.GetCardinality()
			}
			if next != nil {
				next.n[bm] = n
			}
			if !yield(t, n) {
				return
			}
		}
		if next != nil {
			ix.counts.Store(next)
		}
	}
}

// countCache is the customer count of each tag bitmap of state txid.
type countCache struct {
	txid int
	n    map[*roaring.Bitmap]uint64
}

// ---- saved segments ----

// SaveSegment saves a query under a name, replacing any segment of that
// name. The query must parse (else the *SyntaxError is returned); the name
// must be non-empty UTF-8 of at most 255 bytes.
func (ix *Index) SaveSegment(name, query string) error {
	return ix.write1(func(tx *Tx) error { return tx.SaveSegment(name, query) })
}

// SaveSegment saves a query under a name in the transaction, as
// Index.SaveSegment does.
func (tx *Tx) SaveSegment(name, query string) error {
	if name == "" || len(name) > maxKeyLen || !utf8.ValidString(name) {
		return fmt.Errorf("tagseg: save segment %q: name must be 1–%d bytes of UTF-8: %w", truncate(name), maxKeyLen, ErrInvalid)
	}
	if _, err := Parse(query); err != nil {
		return err
	}
	if err := tx.checkWrite(); err != nil {
		return err
	}
	tx.dirty = true
	b := tx.btx.Bucket(bktSeg)
	prev := ""
	if q, err := openVal(b.Get([]byte(name))); err == nil {
		prev = string(q)
	}
	if err := b.Put([]byte(name), seal([]byte(query))); err != nil {
		return err
	}
	tx.segs = append(tx.segs, savedChange{name, prev, query})
	return nil
}

// SavedSegments yields every saved segment's name and query, by name. A
// damaged one is left out (Check reports it).
func (ix *Index) SavedSegments() iter.Seq2[string, string] {
	return func(yield func(string, string) bool) {
		var names, queries []string
		if ix.view(func(_ *state, btx *bolt.Tx) error {
			b := btx.Bucket(bktSeg)
			if b == nil { // a file opened read-only before Open made its buckets
				return nil
			}
			return b.ForEach(func(k, v []byte) error {
				if q, err := openVal(v); err == nil {
					names, queries = append(names, string(k)), append(queries, string(q))
				}
				return nil
			})
		}) != nil {
			return
		}
		for i := range names {
			if !yield(names[i], queries[i]) {
				return
			}
		}
	}
}

// SavedSegment returns the query saved under name as the transaction sees
// it: ErrNotFound when there is none, ErrCorrupt when it is damaged. With
// Segment in the same View, a server answers a request for a saved
// segment on one snapshot.
func (tx *Tx) SavedSegment(name string) (query string, err error) {
	err = tx.read(func() error {
		v := tx.btx.Bucket(bktSeg).Get([]byte(name))
		if v == nil {
			return fmt.Errorf("tagseg: saved segment %s: %w", name, ErrNotFound)
		}
		q, err := openVal(v)
		if err != nil {
			return tx.corrupt("saved segment %s: %v", name, err)
		}
		query = string(q)
		return nil
	})
	return query, err
}

// DeleteSegment deletes a saved segment; an unknown name gives ErrNotFound.
func (ix *Index) DeleteSegment(name string) error {
	return ix.write1(func(tx *Tx) error { return tx.DeleteSegment(name) })
}

// DeleteSegment deletes a saved segment in the transaction, as
// Index.DeleteSegment does.
func (tx *Tx) DeleteSegment(name string) error {
	if err := tx.checkWrite(); err != nil {
		return err
	}
	b := tx.btx.Bucket(bktSeg)
	v := b.Get([]byte(name))
	if v == nil {
		return fmt.Errorf("tagseg: delete segment %s: %w", name, ErrNotFound)
	}
	prev := ""
	if q, err := openVal(v); err == nil {
		prev = string(q)
	}
	tx.dirty = true
	if err := b.Delete([]byte(name)); err != nil {
		return err
	}
	tx.segs = append(tx.segs, savedChange{name, prev, ""})
	return nil
}

// AddTagsToSegment adds tags to every customer of the segment e in one
// durable transaction and returns how many customers' tag sets actually
// changed. Tags are trimmed, de-duplicated and appended in the order
// given; an invalid tag gives ErrInvalidTag with nothing changed.
//
// The segment is evaluated once, on the latest snapshot, before the
// change takes the writer's lock: other writes are not held up by the
// evaluation (the first comparison of a text field after Open, for one,
// builds its index). So the change applies to the members as of the latest
// commit before it: a customer deleted meanwhile is skipped, one that
// entered the segment meanwhile is not changed. Tx.AddTagsToSegment, in a
// batch, evaluates on the batch's own view instead.
func (ix *Index) AddTagsToSegment(e Expr, tags ...string) (changed int, err error) {
	return ix.segmentTags("add tags to segment", e, tags, true)
}

// RemoveTagsFromSegment removes tags from every customer of the segment e
// in one durable transaction, as AddTagsToSegment adds them (evaluated
// before the change, on the latest snapshot); for example
// RemoveTagsFromSegment(Tag("churn-risk-high"), "churn-risk-high").
func (ix *Index) RemoveTagsFromSegment(e Expr, tags ...string) (changed int, err error) {
	return ix.segmentTags("remove tags from segment", e, tags, false)
}

// segmentTagsHook, when a test sets it, runs between the evaluation of a
// bulk change's segment and its write.
var segmentTagsHook func()

// segmentTags is AddTagsToSegment or RemoveTagsFromSegment: the segment
// evaluated before the write, then the change of its members still live.
func (ix *Index) segmentTags(op string, e Expr, tags []string, add bool) (int, error) {
	if ix.readOnly {
		return 0, fmt.Errorf("tagseg: %s: %w", ix.path, ErrReadOnly)
	}
	if _, err := normTags(op, tags); err != nil {
		return 0, err
	}
	seg, err := ix.Segment(e)
	if err != nil {
		return 0, err
	}
	ids := seg.IDs() // a copy: a kept answer's members are shared
	if segmentTagsHook != nil {
		segmentTagsHook()
	}
	changed := 0
	err = ix.write1(func(tx *Tx) error {
		if err := tx.checkWrite(); err != nil {
			return err
		}
		tags, err := normTags(op, tags)
		if err != nil {
			return err
		}
		ids.And(tx.st.live) // deleted since the evaluation: skipped
		changed = tx.tagsBulk(tags, ids, add)
		return nil
	})
	if err != nil {
		return 0, err
	}
	return changed, nil
}

// ---- lookups for integrations ----

// CustomerByExternalID returns the customer with the (DataSourceUUID,
// ExternalID) pair, or ErrNotFound.
func (ix *Index) CustomerByExternalID(dataSource, externalID string) (out Customer, err error) {
	err = ix.View(func(tx *Tx) error { out, err = tx.CustomerByExternalID(dataSource, externalID); return err })
	return out, err
}

// MRRChange is one event of a customer's MRR history: from At on, its MRR
// is Cents.
type MRRChange struct {
	At    time.Time // UTC
	Cents int64
}

// MRRHistory returns the customer's MRR events in time order, one per
// instant (a later SetMRR at the same instant replaced the earlier one).
func (ix *Index) MRRHistory(uuid string) (out []MRRChange, err error) {
	err = ix.View(func(tx *Tx) error { out, err = tx.MRRHistory(uuid); return err })
	return out, err
}

// MRRHistory returns the customer's MRR events as the transaction sees
// them; see Index.MRRHistory.
func (tx *Tx) MRRHistory(uuid string) (out []MRRChange, err error) {
	err = tx.read(func() error {
		v := tx.get(bktUUID, []byte(uuid))
		if v == nil {
			return fmt.Errorf("tagseg: MRR history of %s: %w", uuid, ErrNotFound)
		}
		id, err := parseID(v)
		if err != nil {
			return tx.corrupt("uuid entry for %s: %v", uuid, err)
		}
		if id >= tx.nextID {
			return fmt.Errorf("tagseg: MRR history of %s: %w", uuid, ErrNotFound)
		}
		out = []MRRChange{}
		for _, e := range tx.histOf(id) {
			out = append(out, MRRChange{time.Unix(0, e.at).UTC(), e.cents})
		}
		return nil
	})
	return out, err
}
