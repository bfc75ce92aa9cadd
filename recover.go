package tagseg

// What an interrupted Load leaves, and completing it: a Load writes its
// small tags whole and its external IDs into ext when it ends (see
// load.go, extids.go); a crash before leaves the meta key loadfrom, from
// which Open reads the customers it created and completes the work.

import (
	"github.com/RoaringBitmap/roaring/v2"
	bolt "go.etcd.io/bbolt"

	"encoding/binary"
	"fmt"
	"slices"
)

// unfinished is what load found left to store, for a writable Open: the
// small tags the file holds in chunks (see wholeMax), and what a Load that
// died left unfinished, found in the records of the customers it created
// (from loadfrom on): the external IDs it had not merged into ext, and the
// customers of the tags it had not written (a tag's batches write nothing
// while it has at most wholeMax customers).
type unfinished struct {
	misformed []string
	pending   bool // loadfrom is set
	ext       extEntries
	tags      []string // tags whose bitmaps readTail completed
}

// readTail reads the tail of a Load that died into an image being loaded:
// the missing tag memberships are added to its bitmaps, the rest noted in
// un for a writable Open to store.
func readTail(btx *bolt.Tx, path string, img *image, un *unfinished) error {
	from, ok := extFrom(btx)
	if !ok {
		return nil
	}
	un.pending = true
	missing := map[string]*roaring.Bitmap{}
	c := btx.Bucket(bktCust).Cursor()
	for k, v := c.Seek(u32key(nil, from)); k != nil; k, v = c.Next() {
		if len(k) != 4 {
			return fmt.Errorf("tagseg: %s: bad customer key %s: %w", path, clipKey(k), ErrCorrupt)
		}
		id := binary.BigEndian.Uint32(k)
		r, err := openRecord(id, v)
		if err != nil {
			return fmt.Errorf("tagseg: %s: customer %d: %v: %w", path, id, err, ErrCorrupt)
		}
		img.journal.fold(r)
		if r.c.ExternalID != "" {
			un.ext.add(extKey(r.c.DataSourceUUID, r.c.ExternalID), id)
		}
		for _, t := range r.c.Tags {
			if b := img.bitmaps[bmKey{bkTag, t}]; b != nil && b.Contains(id) {
				continue
			}
			m := missing[t]
			if m == nil {
				m = roaring.New()
				missing[t] = m
			}
			m.Add(id)
		}
	}
	for t, m := range missing {
		if b := img.bitmaps[bmKey{bkTag, t}]; b != nil {
			b.Or(m) // copies the containers it changes: the others refer to Open's copy of the file
		} else {
			img.bitmaps[bmKey{bkTag, t}] = m
		}
		un.tags = append(un.tags, t)
	}
	return nil
}

// storeTags writes the tags named in the form their counts call for
// (see wholeMax), some thousands a durable transaction; get returns a
// tag's bitmap. A small tag's chunks, if any, are deleted unless noChunks
// says it has none; a large tag's whole value is deleted. before is called
// with each transaction's ID before it commits. It returns the ID of the
// last transaction committed (0: none).
func storeTags(db *bolt.DB, path string, names []string, get func(string) *roaring.Bitmap, noChunks bool, before func(int)) (txid int, err error) {
	slices.Sort(names)
	return inTxs(db, path, "storing tags", len(names), 1<<14, false, before, func(btx *bolt.Tx, lo, hi int, _ bool) error {
		bmb := btx.Bucket(bktBm)
		for _, name := range names[lo:hi] {
			bm := get(name)
			k := bmKey{bkTag, name}
			if !isWhole(bm.GetCardinality()) {
				if err := bmb.Delete(wholeKey(name)); err != nil {
					return err
				}
				if err := putChunks(bmb, k, bm); err != nil {
					return err
				}
				continue
			}
			if !noChunks {
				if err := chunks(bm, func(hi uint16) error { return bmb.Delete(chunkKey(k, hi)) }); err != nil {
					return err
				}
			}
			v, err := encodeWhole(bm)
			if err != nil {
				return err
			}
			if err := bmb.Put(wholeKey(name), seal(v)); err != nil {
				return err
			}
		}
		return nil
	})
}

// inTxs writes n items in durable transactions of per items each: fn
// writes items [lo, hi), last in the last transaction; with once, one
// transaction runs even when n is 0. before is called with each
// transaction's ID before it commits. It returns the ID of the last
// transaction bbolt serves (0: none), also after a failed commit whose
// meta page reached the file (see commitTx); an error says what was being
// done.
func inTxs(db *bolt.DB, path, what string, n, per int, once bool, before func(int), fn func(btx *bolt.Tx, lo, hi int, last bool) error) (txid int, err error) {
	for lo := 0; lo < n || lo == 0 && once; lo += per {
		hi := min(lo+per, n)
		btx, err := db.Begin(true)
		if err != nil {
			return txid, fmt.Errorf("tagseg: %s: %s: begin: %w", path, what, err)
		}
		if err := guard(path, func() error { return fn(btx, lo, hi, hi == n) }); err != nil {
			btx.Rollback()
			return txid, fmt.Errorf("tagseg: %s: %s: %w", path, what, err)
		}
		id := btx.ID()
		if before != nil {
			before(id)
		}
		served, err := commitTx(db, path, btx)
		btx.Rollback() // after a commit, bbolt has ended it: a no-op
		if served {
			txid = id
		}
		if err != nil {
			return txid, fmt.Errorf("tagseg: %s: %s: %w", path, what, err)
		}
		if hi == n {
			break
		}
	}
	return txid, nil
}

// commitHook, when set by a test, replaces bbolt's Commit.
var commitHook func(btx *bolt.Tx) error

// commitTx commits a write transaction of db, through commitHook when a
// test set one, and says where that leaves the file. served reports
// whether bbolt now serves the transaction's commit: always after a
// success, and after a failure when its meta page reached the file anyway
// (its sync failed, or a panic came after it); the caller then publishes
// the transaction's state, so that memory follows the file. A failure is
// one of two kinds, told apart by reading which commit bbolt serves now:
//
//   - the file still serves the commit before (bbolt wrote no meta page and
//     rolled back, as when the file system is full, the file size limit is
//     reached, or a write of the data pages fails): nothing changed, the
//     pages the commit wrote are free space no commit refers to, and a
//     later commit may succeed. The error wraps ErrIO.
//   - anything else (the meta page written but not synced, so whether the
//     commit survives a crash is unknown; bbolt panicked, as on a damaged
//     free list; the file's state unreadable): the error wraps ErrCorrupt,
//     and the caller refuses writes until the index is reopened, which
//     gives the file's truth.
//
// Whatever happens, the caller's deferred Rollback (a no-op once bbolt has
// ended the transaction) releases it.
func commitTx(db *bolt.DB, path string, btx *bolt.Tx) (served bool, err error) {
	txid := btx.ID()
	var cerr error
	perr := guard(path, func() error {
		if commitHook != nil {
			cerr = commitHook(btx)
		} else {
			cerr = btx.Commit()
		}
		return nil
	})
	if perr == nil && cerr == nil {
		return true, nil
	}
	if perr != nil {
		guard(path, btx.Rollback) // release the writer's lock before reading the file's state
	}
	now := -1
	guard(path, func() error { return db.View(func(t *bolt.Tx) error { now = t.ID(); return nil }) })
	switch {
	case perr != nil:
		return now == txid, perr // wraps ErrCorrupt
	case now == txid-1:
		return false, fmt.Errorf("tagseg: %s: commit: %w; nothing was written: %w", path, cerr, ErrIO)
	}
	return now == txid, fmt.Errorf("tagseg: %s: commit: %w (writes refused until the index is reopened: %w)", path, cerr, ErrCorrupt)
}
