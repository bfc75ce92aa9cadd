package tagseg

// External IDs staged by Load. A Load's batches write the external-ID
// entries of their customers to the extlog bucket, keyed by dense ID (an
// append), instead of into ext, where their random keys would rewrite a
// growing share of the bucket's pages with every batch. When the Load
// ends, mergeExtLog writes them into ext in key order, a run of keys per
// transaction, so the bucket's pages are written about once, and empties
// extlog. A crash before the merge leaves them in extlog: a writable Open
// merges them, and lookups in the meantime (a read-only Open) also search
// extlog (extLogLookup).

import (
	"bytes"

	"fmt"
	"hash/maphash"
	"slices"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// extEntries are external-ID entries held in memory: keys packed in one
// array, and a hash of each for the duplicate check of Load.
type extEntries struct {
	keys []byte
	idx  []extEntry
	hash map[uint64]uint32 // key hash → index in idx (the first with it)
}

type extEntry struct {
	off uint64
	n   uint32
	id  uint32
}

var extSeed = maphash.MakeSeed()

func (es *extEntries) key(e extEntry) []byte { return es.keys[e.off : e.off+uint64(e.n)] }

func (es *extEntries) add(key []byte, id uint32) {
	if es.hash == nil {
		es.hash = map[uint64]uint32{}
	}
	h := maphash.Bytes(extSeed, key)
	if _, ok := es.hash[h]; !ok {
		es.hash[h] = uint32(len(es.idx))
	}
	es.idx = append(es.idx, extEntry{uint64(len(es.keys)), uint32(len(key)), id})
	es.keys = append(es.keys, key...)
}

// has reports whether key is among the entries. On a hash collision it
// compares the keys of every entry with that hash (rare: a scan).
func (es *extEntries) has(_ *bolt.Tx, key []byte) (bool, error) {
	h := maphash.Bytes(extSeed, key)
	i, ok := es.hash[h]
	if !ok {
		return false, nil
	}
	if bytes.Equal(es.key(es.idx[i]), key) {
		return true, nil
	}
	for _, e := range es.idx[i+1:] {
		if bytes.Equal(es.key(e), key) {
			return true, nil
		}
	}
	return false, nil
}

// sort orders the entries by key, on two cores when there are many.
func (es *extEntries) sort() {
	cmpE := func(a, b extEntry) int { return bytes.Compare(es.key(a), es.key(b)) }
	if len(es.idx) < 1<<16 {
		slices.SortFunc(es.idx, cmpE)
		return
	}
	mid := len(es.idx) / 2
	a, b := es.idx[:mid], es.idx[mid:]
	var wg sync.WaitGroup
	wg.Go(func() { slices.SortFunc(a, cmpE) })
	slices.SortFunc(b, cmpE)
	wg.Wait()
	out := make([]extEntry, 0, len(es.idx))
	for len(a) > 0 && len(b) > 0 {
		if cmpE(a[0], b[0]) <= 0 {
			out, a = append(out, a[0]), a[1:]
		} else {
			out, b = append(out, b[0]), b[1:]
		}
	}
	es.idx = append(append(out, a...), b...)
}

// extMergeChunk is the number of entries mergeExtLog writes a transaction.
const extMergeChunk = 1 << 20

// mergeExtLog writes staged entries into ext in key order, a chunk per
// durable transaction, and empties extlog in the last one. before is
// called with each transaction's ID before it commits. It returns the ID
// of the last transaction committed (0: none).
func mergeExtLog(db *bolt.DB, path string, es *extEntries, before func(txid int)) (txid int, err error) {
	es.sort()
	for lo := 0; lo < len(es.idx) || lo == 0; lo += extMergeChunk {
		hi := min(lo+extMergeChunk, len(es.idx))
		last := hi == len(es.idx)
		err := guard(path, func() error {
			btx, err := db.Begin(true)
			if err != nil {
				return err
			}
			defer btx.Rollback()
			b := btx.Bucket(bktExt)
			b.FillPercent = 1 // keys in order: fill the pages
			for _, e := range es.idx[lo:hi] {
				if err := b.Put(es.key(e), idVal(e.id)); err != nil {
					return err
				}
			}
			if last {
				if err := btx.DeleteBucket(bktExtLog); err != nil {
					return err
				}
				if _, err := btx.CreateBucket(bktExtLog); err != nil {
					return err
				}
			}
			id := btx.ID()
			if before != nil {
				before(id)
			}
			if err := btx.Commit(); err != nil {
				return err
			}
			txid = id
			return nil
		})
		if err != nil {
			return txid, fmt.Errorf("tagseg: %s: merging staged external IDs: %w (writes refused until the index is reopened: %w)", path, err, ErrCorrupt)
		}
		if last {
			break
		}
	}
	*es = extEntries{}
	return txid, nil
}

// readExtLog reads what a Load left in extlog (after a crash).
func readExtLog(btx *bolt.Tx, path string) (*extEntries, error) {
	es := &extEntries{}
	c := btx.Bucket(bktExtLog).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		key, err := openVal(v)
		if err != nil || len(k) != 4 {
			return nil, fmt.Errorf("tagseg: %s: staged external ID %s: %v: %w", path, clipKey(k), err, ErrCorrupt)
		}
		es.add(key, uint32(k[0])<<24|uint32(k[1])<<16|uint32(k[2])<<8|uint32(k[3]))
	}
	return es, nil
}

// extLogLookup finds a staged entry for key: a scan, for a file a Load left
// unmerged and opened read-only.
func extLogLookup(btx *bolt.Tx, key []byte) []byte {
	c := btx.Bucket(bktExtLog).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if b, err := openVal(v); err == nil && bytes.Equal(b, key) {
			return idVal(uint32(k[0])<<24 | uint32(k[1])<<16 | uint32(k[2])<<8 | uint32(k[3]))
		}
	}
	return nil
}

// extGet is the ext entry of key, in ext or staged in extlog.
func extGet(btx *bolt.Tx, key []byte) []byte {
	if v := btx.Bucket(bktExt).Get(key); v != nil {
		return v
	}
	if k, _ := btx.Bucket(bktExtLog).Cursor().First(); k == nil {
		return nil
	}
	return extLogLookup(btx, key)
}
