package tagseg

// Watched segments: who entered and who left each saved segment, commit by
// commit.
//
// Every commit that changes the members of a saved segment records one
// change for it, in the same bbolt transaction as the commit: the time, the
// customers that entered and the customers that left. The writer finds
// them from what the commit touched (the set T of dense IDs whose tags,
// fields, MRR or liveness it changed): the segment's members among T before
// and after, never the whole segment. Saving a segment records its members
// at that moment as its first change; saving another query under the same
// name records the difference as one change; deleting the segment drops its
// changes. Readers ask for the changes after a cursor (Index.Changes).
//
// A query with a relative date (reldate.go) is evaluated on the commit's
// day (Index.today, taken once per commit), and its log stores the day its
// members were last recorded on. The first commit of another day records
// the whole segment's difference instead: its members on the stored day
// before the commit against its members on the commit's day after it, so
// that the customers who drifted in or out with the days are recorded too
// (watchCommitter.rollDay). Nothing runs between commits: the drift of days
// without a commit is recorded by the next commit, with its time.
//
// The layout on disk is in watchlog.go, the writer's side in
// watchwrite.go.
//
// Retention (Options.KeepChanges, Options.KeepChangesFor) is applied by the
// writer, in its commits: no goroutine runs in the background, so on an
// index nobody writes, old changes stay until the next commit.
//
// In memory, the Index keeps the parsed query of each saved segment and
// what it needs to prune without reading (watchSet), replaced at each
// commit that changes it, and a channel per segment closed when a commit
// records a change for it: a reader that found nothing new waits on it.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"slices"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
	bolt "go.etcd.io/bbolt"
)

// ---- the public side ----

// Change is one commit's change to a saved segment's members (for a query
// with a relative date, the first commit of a day's includes the drift of
// the days since the last commit: see Index.Changes).
type Change struct {
	// Cursor names this change: Changes with After set to it returns the
	// changes after this one.
	Cursor string
	// At is the time of the commit, UTC.
	At time.Time
	// Entered and Left are the UUIDs of the customers that entered and
	// left the segment, in dense-ID (creation) order. A customer deleted
	// since is still named.
	Entered, Left []string
	// EnteredCount and LeftCount are how many entered and left: more than
	// Entered and Left hold when ChangesOptions.MaxCustomers cut them.
	EnteredCount, LeftCount int
}

// ChangesOptions select what Changes returns.
type ChangesOptions struct {
	// After is a cursor (Change.Cursor or ChangePage.Cursor): only changes
	// after it are returned. Empty means from the oldest change kept.
	After string
	// Limit is the most changes returned; 0 means 100.
	Limit int
	// Wait, when no change follows After, waits up to this long for the
	// next commit that records one, and returns it (ChangesContext also
	// stops waiting when its context is done).
	Wait time.Duration
	// Names fills ChangePage.Names.
	Names bool
	// Last, when positive, returns the newest Last changes after After
	// (oldest first, as always) instead of the oldest Limit: what a page
	// showing recent changes asks. HasMore is then false.
	Last int
	// MaxCustomers, when positive, cuts Entered and Left to their first
	// MaxCustomers each (EnteredCount and LeftCount keep the counts): a
	// segment's first change holds all its members.
	MaxCustomers int
}

// ChangePage is an answer of Changes.
type ChangePage struct {
	// Changes are the changes after the cursor, oldest first, one per
	// commit that changed the segment's members.
	Changes []Change
	// Cursor is what to pass as After to read on: the last change's
	// cursor, or, when there is none, the cursor given (or, without one,
	// a cursor of the segment's latest state).
	Cursor string
	// HasMore reports that more changes follow Changes: Limit cut it short.
	HasMore bool
	// Names, with ChangesOptions.Names, holds the name of every customer
	// in Changes, by UUID: as it is now, or, for a customer deleted since,
	// as it was then.
	Names map[string]string
}

// Default retention of changes (see Options.KeepChanges and
// Options.KeepChangesFor).
const (
	DefaultKeepChanges    = 10_000
	DefaultKeepChangesFor = 30 * 24 * time.Hour
	defaultChangesLimit   = 100
)

func (o *Options) keepChanges() int {
	switch {
	case o == nil || o.KeepChanges == 0:
		return DefaultKeepChanges
	case o.KeepChanges < 0:
		return 0 // no limit
	}
	return o.KeepChanges
}

func (o *Options) keepChangesFor() time.Duration {
	switch {
	case o == nil || o.KeepChangesFor == 0:
		return DefaultKeepChangesFor
	case o.KeepChangesFor < 0:
		return 0 // forever
	}
	return o.KeepChangesFor
}

// Changes returns the changes of the saved segment name after the cursor
// opt.After, oldest first: one per commit that changed its members, with
// the commit's time and the customers that entered and left. The first
// change of a segment is its members when it was saved; saving another
// query under the name records the difference; deleting a customer makes
// it leave. Changes are kept per Options.KeepChanges and KeepChangesFor.
//
// A segment whose query holds a relative date is evaluated at each commit
// on that commit's day (UTC, by Options.Clock): the first commit of a new
// day records, with its own writes' effect, the customers who drifted in
// or out since the day last recorded, once a day; nothing is recorded
// between commits (see Change). A Load evaluates on the day it began. The
// changes are thus the differences between the segment's members at each
// commit, each evaluated on that commit's day.
//
// A cursor stays valid across restarts. It is a position in this file's
// commits: a copy of the file (Backup, Restore, a replica that applies the
// same writes) goes on with commits of its own, so a cursor of one copy
// must not be used on another (it may be taken for a position there, or
// refused). An unknown segment gives
// ErrNotFound; a cursor that does not decode, or is not of this segment
// and file, ErrInvalid; a cursor of changes since dropped (by retention, or
// because the segment was deleted and saved again), ErrExpired: the reader
// has missed changes and should start again without one.
//
// Changes made by Load appear as each of its batches commits, before Load
// returns and its customers can be read by UUID.
func (ix *Index) Changes(name string, opt ChangesOptions) (*ChangePage, error) {
	return ix.ChangesContext(context.Background(), name, opt)
}

// ChangesContext is Changes, waiting (opt.Wait) at most until ctx is done:
// then it returns ctx's error.
func (ix *Index) ChangesContext(ctx context.Context, name string, opt ChangesOptions) (*ChangePage, error) {
	if opt.Limit <= 0 {
		opt.Limit = defaultChangesLimit
	}
	var timer *time.Timer
	for {
		// The channel is taken before the file is read: a commit after
		// the read closes it.
		var sig <-chan struct{}
		if ws := ix.watch.Load(); ws != nil {
			if w := ws.segs[name]; w != nil {
				sig = w.sig
			}
		}
		var page *ChangePage
		err := ix.view(func(_ *state, btx *bolt.Tx) error {
			var err error
			page, err = readChanges(btx, ix.path, name, opt)
			return err
		})
		if err != nil || len(page.Changes) > 0 || opt.Wait <= 0 || sig == nil {
			return page, err
		}
		if timer == nil {
			timer = time.NewTimer(opt.Wait)
			defer timer.Stop()
		}
		select {
		case <-sig:
		case <-timer.C:
			return page, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// ReadChanges reads the changes of a saved segment as Index.Changes does,
// from the file at path, without opening the index: it loads nothing into
// memory and holds the file (a shared lock, as a read-only Open) only
// while it reads, so that a process can follow a file another one opens
// for writing now and then (tagseg watch does, when no server holds the
// file). opt.Wait is ignored: it does not wait. A file another process
// holds open for writing gives ErrLocked after 2 seconds.
func ReadChanges(path, name string, opt ChangesOptions) (*ChangePage, error) {
	if opt.Limit <= 0 {
		opt.Limit = defaultChangesLimit
	}
	if err := checkLength(path); err != nil {
		return nil, fmt.Errorf("tagseg: open %s: %v: %w", path, err, ErrCorrupt)
	}
	db, err := openDB(path, &Options{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer db.Close()
	if err := initDB(db, path, true, false); err != nil {
		return nil, err
	}
	var page *ChangePage
	err = guard(path, func() error {
		return db.View(func(btx *bolt.Tx) error {
			var err error
			page, err = readChanges(btx, path, name, opt)
			return err
		})
	})
	return page, err
}

// ---- cursors ----

// A cursor is base64url (no padding) of: version 1, uvarint gen, uvarint
// G, and the first 4 bytes of the CRC-32C of the file's feed identity, the
// segment's name and the bytes before. It says "every change up to
// transaction G of incarnation gen has been read".
const cursorVersion = 1

type cursor struct{ gen, g uint64 }

func (c cursor) encode(fileID []byte, name string) string {
	b := []byte{cursorVersion}
	b = binary.AppendUvarint(b, c.gen)
	b = binary.AppendUvarint(b, c.g)
	b = binary.BigEndian.AppendUint32(b, cursorSum(fileID, name, b))
	return base64.RawURLEncoding.EncodeToString(b)
}

func cursorSum(fileID []byte, name string, b []byte) uint32 {
	h := crc32.New(castagnoli)
	h.Write(fileID)
	h.Write([]byte(name))
	h.Write([]byte{0})
	h.Write(b)
	return h.Sum32()
}

func decodeCursor(s string, fileID []byte, name string) (cursor, error) {
	bad := fmt.Errorf("tagseg: changes of %s: malformed cursor %q: %w", name, truncate(s), ErrInvalid)
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) < 7 || b[0] != cursorVersion {
		return cursor{}, bad
	}
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if cursorSum(fileID, name, body) != sum {
		return cursor{}, fmt.Errorf("tagseg: changes of %s: cursor %q is not one of this segment's: %w", name, truncate(s), ErrInvalid)
	}
	var c cursor
	var n int
	body = body[1:]
	if c.gen, n = binary.Uvarint(body); n <= 0 {
		return cursor{}, bad
	}
	body = body[n:]
	if c.g, n = binary.Uvarint(body); n <= 0 || n != len(body) {
		return cursor{}, bad
	}
	return c, nil
}

// ---- reading ----

// readChanges reads a page of changes of segment name in a bbolt read
// transaction.
func readChanges(btx *bolt.Tx, path, name string, opt ChangesOptions) (*ChangePage, error) {
	corrupt := func(format string, args ...any) error {
		return fmt.Errorf("tagseg: %s: changes of %s: %s: %w", path, name, fmt.Sprintf(format, args...), ErrCorrupt)
	}
	if btx.Bucket(bktSeg).Get([]byte(name)) == nil {
		return nil, fmt.Errorf("tagseg: changes of %s: no such saved segment: %w", name, ErrNotFound)
	}
	page := &ChangePage{Changes: []Change{}, Cursor: opt.After}
	if opt.Names {
		page.Names = map[string]string{}
	}
	wb := btx.Bucket(bktWatch)
	var sb *bolt.Bucket
	if wb != nil {
		sb = wb.Bucket(segBucketKey(name))
	}
	if sb == nil {
		// Saved before this version and not yet watched (a read-only
		// open of such a file): nothing recorded, and no cursor.
		if opt.After != "" {
			return nil, fmt.Errorf("tagseg: changes of %s: cursor %q: no changes are recorded: %w", name, truncate(opt.After), ErrInvalid)
		}
		return page, nil
	}
	fileID := wb.Get(keyFeedID)
	info, err := decodeSegInfo(sb.Get(keyInfo))
	if err != nil {
		return nil, corrupt("info: %v", err)
	}
	c := sb.Cursor()
	last := max(info.gen, info.pruned)
	if k, _ := c.Last(); k != nil {
		if !bytes.Equal(k, keyInfo) {
			return nil, corrupt("bad key %s", clipKey(k))
		}
		if k, _ := c.Prev(); k != nil {
			g, _, ok := parseChangeKey(k)
			if !ok {
				return nil, corrupt("bad key %s", clipKey(k))
			}
			last = max(last, g)
		}
	}
	after := cursor{info.gen, info.pruned}
	if opt.After != "" {
		if after, err = decodeCursor(opt.After, fileID, name); err != nil {
			return nil, err
		}
		switch {
		case after.gen < info.gen:
			return nil, fmt.Errorf("tagseg: changes of %s: cursor %q is of a segment of that name since deleted: %w", name, truncate(opt.After), ErrExpired)
		case after.gen > info.gen || after.g > last:
			return nil, fmt.Errorf("tagseg: changes of %s: cursor %q is ahead of the changes recorded: %w", name, truncate(opt.After), ErrInvalid)
		case after.g < info.pruned:
			return nil, fmt.Errorf("tagseg: changes of %s: cursor %q: changes after it were dropped (retention): %w", name, truncate(opt.After), ErrExpired)
		}
	} else {
		page.Cursor = cursor{info.gen, last}.encode(fileID, name)
	}
	// The keys and values of the changes to return, oldest first.
	var kvs [][2][]byte
	if opt.Last > 0 {
		c.Seek([]byte{wkChange + 1})
		for k, v := c.Prev(); k != nil && k[0] == wkChange && len(kvs) < opt.Last; k, v = c.Prev() {
			if g, _, ok := parseChangeKey(k); ok && g <= after.g {
				break
			}
			kvs = append(kvs, [2][]byte{k, v})
		}
		slices.Reverse(kvs)
	} else {
		k, v := c.Seek(changeKey(after.g+1, 0)[:9])
		for ; k != nil && k[0] == wkChange; k, v = c.Next() {
			if len(kvs) == opt.Limit {
				page.HasMore = true
				break
			}
			kvs = append(kvs, [2][]byte{k, v})
		}
	}
	res := resolver{btx: btx, path: path, names: page.Names, max: opt.MaxCustomers}
	for _, kv := range kvs {
		g, at, ok := parseChangeKey(kv[0])
		if !ok {
			return nil, corrupt("bad key %s", clipKey(kv[0]))
		}
		entered, left, err := decodeChange(kv[1])
		if err != nil {
			return nil, corrupt("change %d: %v", g, err)
		}
		ch := Change{Cursor: cursor{info.gen, g}.encode(fileID, name), At: time.Unix(0, at).UTC(),
			EnteredCount: int(entered.GetCardinality()), LeftCount: int(left.GetCardinality())}
		if ch.Entered, err = res.uuids(entered); err != nil {
			return nil, err
		}
		if ch.Left, err = res.uuids(left); err != nil {
			return nil, err
		}
		page.Changes = append(page.Changes, ch)
		page.Cursor = ch.Cursor
	}
	return page, nil
}

// resolver turns dense IDs into UUIDs (and names) from the records, or
// for deleted customers from their 'g' entries.
type resolver struct {
	btx   *bolt.Tx
	path  string
	names map[string]string // filled when not nil
	max   int               // the most IDs of a set resolved; 0: all
	key   [4]byte
	cust  *bolt.Bucket
	wb    *bolt.Bucket
}

func (r *resolver) uuids(ids *roaring.Bitmap) ([]string, error) {
	if r.cust == nil {
		r.cust, r.wb = r.btx.Bucket(bktCust), r.btx.Bucket(bktWatch)
	}
	n := int(ids.GetCardinality())
	if r.max > 0 {
		n = min(n, r.max)
	}
	out := make([]string, 0, n)
	for it := ids.Iterator(); it.HasNext() && len(out) < n; {
		id := it.Next()
		var uuid, name string
		if v := r.cust.Get(u32key(r.key[:0], id)); v != nil {
			var err error
			if uuid, name, err = recordHead(v); err != nil {
				return nil, fmt.Errorf("tagseg: %s: customer %d: %v: %w", r.path, id, err, ErrCorrupt)
			}
		} else {
			v := r.wb.Get(goneKey(id))
			if v == nil {
				return nil, fmt.Errorf("tagseg: %s: a change names customer %d, which has neither a record nor a deletion entry: %w", r.path, id, ErrCorrupt)
			}
			x, err := decodeGone(v)
			if err != nil {
				return nil, fmt.Errorf("tagseg: %s: deletion entry of customer %d: %v: %w", r.path, id, err, ErrCorrupt)
			}
			uuid, name = x.uuid, x.name
		}
		out = append(out, uuid)
		if r.names != nil {
			r.names[uuid] = name
		}
	}
	return out, nil
}
