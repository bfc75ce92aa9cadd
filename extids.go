package tagseg

// External IDs of a Load. Its batches do not write their customers'
// external-ID entries into ext, where their random keys would rewrite a
// growing share of the bucket's pages with every batch; they keep them in
// memory (with a hash of each for the duplicate check), and the first
// batch records in the meta bucket the first ID whose entry may be missing
// (extfrom). When the Load ends, mergeExt sorts the entries and writes
// them in key order, a run of keys per transaction, so the bucket's pages
// are written about once, and removes extfrom. A crash before the merge
// leaves extfrom behind (the meta key "loadfrom", which also marks small
// tags the Load had not written; see unfinished): Open reads the customers
// from it on, and a writable Open merges their external IDs; until then (a
// read-only Open) a lookup that misses ext scans those records.

import (
	"bytes"
	"encoding/binary"

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
func (es *extEntries) has(key []byte) (bool, error) {
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

// extMergeChunk is the number of entries mergeExt writes a transaction.
const extMergeChunk = 1 << 20

// mergeExt writes the entries into ext in key order, a chunk per
// durable transaction, and removes extfrom in the last one. before is
// called with each transaction's ID before it commits. It returns the ID
// of the last transaction committed (0: none).
func mergeExt(db *bolt.DB, path string, es *extEntries, before func(txid int)) (txid int, err error) {
	es.sort()
	txid, err = inTxs(db, path, "merging the external IDs of a load", len(es.idx), extMergeChunk, true, before,
		func(btx *bolt.Tx, lo, hi int, last bool) error {
			b := btx.Bucket(bktExt)
			b.FillPercent = 1 // keys in order: fill the pages
			for _, e := range es.idx[lo:hi] {
				if err := b.Put(es.key(e), idVal(e.id)); err != nil {
					return err
				}
			}
			if last {
				return btx.Bucket(bktMeta).Delete(keyExtFrom)
			}
			return nil
		})
	if err == nil {
		*es = extEntries{}
	}
	return txid, err
}

// extFrom is the first ID whose external-ID entry may be missing from ext
// (a Load in progress, or interrupted), and whether there is one.
func extFrom(btx *bolt.Tx) (uint32, bool) {
	meta := btx.Bucket(bktMeta)
	if meta == nil { // a file opened read-only before Open made its buckets
		return 0, false
	}
	v := meta.Get(keyExtFrom)
	if v == nil {
		return 0, false
	}
	id, err := parseID(v)
	return id, err == nil
}

// extGet is the ext entry of key, or, while extfrom is set below limit,
// the ID of a customer from extfrom on with that external ID (a scan: only
// a read-only Open of a file whose Load was interrupted needs it; readers
// during a Load have a limit of extfrom).
func extGet(btx *bolt.Tx, key []byte, limit uint32) []byte {
	if v := btx.Bucket(bktExt).Get(key); v != nil {
		return v
	}
	from, ok := extFrom(btx)
	if !ok || from >= limit {
		return nil
	}
	c := btx.Bucket(bktCust).Cursor()
	for k, v := c.Seek(u32key(nil, from)); k != nil; k, v = c.Next() {
		if len(k) != 4 {
			continue
		}
		id := binary.BigEndian.Uint32(k)
		if r, err := openRecord(id, v); err == nil && r.c.ExternalID != "" && bytes.Equal(extKey(r.c.DataSourceUUID, r.c.ExternalID), key) {
			return idVal(id)
		}
	}
	return nil
}
