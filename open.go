package tagseg

// Opening the file: bbolt's options, the checks Open makes before it trusts
// the file, the guard that turns bbolt's panics and memory faults on a
// damaged file into ErrCorrupt, and reading what queries need into memory.

import (
	"bytes"

	"github.com/RoaringBitmap/roaring/v2"
	bolt "go.etcd.io/bbolt"
	bolterr "go.etcd.io/bbolt/errors"

	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
)

// openDB opens the bbolt file and maps its errors onto ours.
func openDB(path string, opts *Options) (*bolt.DB, error) {
	// A large initial map (mmapSize: address space, not memory) saves the
	// remaps while a file grows. A remap waits for every open read
	// transaction (a View, a Segment.Customers loop, a Backup): with the map
	// larger than the file, the writer never waits for a reader. The array
	// free list is written by a copy at each commit; the
	// hashmap one sorts every free page ID first, which after a bulk load
	// cost a small durable write several milliseconds. PreLoadFreelist:
	// read the free list here, under safeOpen's guard, even when read-only
	// (bbolt would read it in Check's goroutine, unguarded).
	bo := &bolt.Options{Timeout: opts.timeout(), ReadOnly: opts.ReadOnly, NoSync: opts.NoSync,
		FreelistType: bolt.FreelistArrayType, InitialMmapSize: mmapSize, PreLoadFreelist: true}
	if opts.ReadOnly {
		fi, err := os.Stat(path)
		if err != nil {
			return nil, fmt.Errorf("tagseg: open %s: %w", path, err)
		}
		if fi.Size() == 0 { // bbolt would try to write a new file's pages
			return nil, fmt.Errorf("tagseg: open %s: empty file, not an index: %w", path, ErrCorrupt)
		}
	}
	db, err := safeOpen(path, bo)
	switch {
	case err == nil:
		return db, nil
	case errors.Is(err, bolterr.ErrTimeout):
		return nil, fmt.Errorf("tagseg: open %s: waited %v: %w", path, opts.timeout(), ErrLocked)
	case errors.Is(err, bolterr.ErrInvalid), errors.Is(err, bolterr.ErrChecksum),
		errors.Is(err, bolterr.ErrVersionMismatch), errors.Is(err, bolterr.ErrInvalidMapping),
		errors.Is(err, errPanic):
		return nil, fmt.Errorf("tagseg: open %s: %v: %w", path, err, ErrCorrupt)
	}
	var pe *os.PathError
	if errors.As(err, &pe) {
		return nil, fmt.Errorf("tagseg: open %s: %w", path, err)
	}
	// Anything else bbolt says about the file's contents is corruption.
	return nil, fmt.Errorf("tagseg: open %s: %v: %w", path, err, ErrCorrupt)
}

// mmapSize is the address space an open index maps: files up to 64 GiB
// never remap (see openDB).
const mmapSize = 1 << 36

var errPanic = errors.New("panic while reading")

// syncDir fsyncs a directory, so that a file created in it survives a
// crash of the machine.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return err
	}
	return d.Close()
}

func safeOpen(path string, bo *bolt.Options) (db *bolt.DB, err error) {
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, fmt.Errorf("%w: %v", errPanic, r)
		}
	}()
	old := debug.SetPanicOnFault(true)
	defer debug.SetPanicOnFault(old)
	return bolt.Open(path, 0o600, bo)
}

// guard runs fn, turning a panic or memory fault inside bbolt (a corrupt
// page) into an ErrCorrupt error naming the path.
func guard(path string, fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("tagseg: %s: %v: %w", path, r, ErrCorrupt)
		}
	}()
	old := debug.SetPanicOnFault(true)
	defer debug.SetPanicOnFault(old)
	return fn()
}

// initDB creates the buckets and the version key of a new file, or checks
// the version of an existing one.
func initDB(db *bolt.DB, path string, readOnly, acceptLost bool) error {
	var fresh, upgrade bool
	err := guard(path, func() error {
		return db.View(func(tx *bolt.Tx) error {
			if err := checkFile(path, tx); err != nil {
				return fmt.Errorf("tagseg: open %s: %v: %w", path, err, ErrCorrupt)
			}
			if err := checkMetas(path, tx); err != nil && !acceptLost {
				return fmt.Errorf("tagseg: open %s: %v (Options.AcceptLostCommit opens it as of that commit): %w", path, err, ErrCorrupt)
			}
			meta := tx.Bucket(bktMeta)
			if meta == nil {
				empty := true
				tx.ForEach(func([]byte, *bolt.Bucket) error { empty = false; return nil })
				if !empty {
					return fmt.Errorf("tagseg: open %s: not a tagseg index (no meta bucket): %w", path, ErrCorrupt)
				}
				fresh = true
				return nil
			}
			v := meta.Get(keyVersion)
			if len(v) != 4 {
				return fmt.Errorf("tagseg: open %s: missing format version: %w", path, ErrCorrupt)
			}
			ver := binary.BigEndian.Uint32(v)
			if ver != formatVersion && ver != 2 {
				return fmt.Errorf("tagseg: open %s: format version %d, this build reads 2 and %d: %w", path, ver, formatVersion, ErrVersion)
			}
			upgrade = ver == 2
			for _, b := range allBuckets {
				if tx.Bucket(b) == nil && !(upgrade && bytes.Equal(b, bktJr)) {
					return fmt.Errorf("tagseg: open %s: missing bucket %q: %w", path, b, ErrCorrupt)
				}
			}
			return nil
		})
	})
	if err != nil || readOnly || !fresh && !upgrade {
		return err
	}
	// A new file, or one of format 2 given the tag journal.
	return db.Update(func(tx *bolt.Tx) error {
		for _, b := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bktMeta)
		if err := meta.Put(keyVersion, u32key(nil, formatVersion)); err != nil {
			return err
		}
		if upgrade {
			return nil
		}
		return meta.Put(keyNext, idVal(0))
	})
}

// loadBitmaps reads every bitmap into img: the bm bucket is split by chunk number
// among GOMAXPROCS goroutines, each with its own read transaction, and the
// parts (disjoint, in chunk order) are then joined.
func loadBitmaps(db *bolt.DB, path string, img *image, un *unfinished) error {
	corrupt := func(format string, args ...any) error {
		return fmt.Errorf("tagseg: open %s: %s: %w", path, fmt.Sprintf(format, args...), ErrCorrupt)
	}
	if img.nextID == 0 {
		return nil
	}
	type part map[byte]map[string]*roaring.Bitmap
	lastHi := int(uint64(img.nextID-1) >> 16)
	w := min(runtime.GOMAXPROCS(0), lastHi+1)
	parts := make([]part, w)
	errs := make([]error, w)
	var wg sync.WaitGroup
	for p := range w {
		lo, hi := p*(lastHi+1)/w, (p+1)*(lastHi+1)/w // chunks [lo, hi)
		wg.Go(func() {
			errs[p] = guard(path, func() error {
				return db.View(func(tx *bolt.Tx) error {
					pt := part{bkLive: {}, bkTag: {}, bkEq: {}}
					parts[p] = pt
					var ar arena
					scratch := roaring.New()
					c := tx.Bucket(bktBm).Cursor()
					for _, kind := range []byte{bkLive, bkEq, bkTag} {
						m := pt[kind]
						start := []byte{kind, byte(lo >> 8), byte(lo)}
						for k, v := c.Seek(start); k != nil && k[0] == kind; k, v = c.Next() {
							_, chi, name, err := parseChunkKey(k)
							if err != nil {
								return corrupt("%v", err)
							}
							if int(chi) >= hi {
								break
							}
							chunk, err := viewChunk(&ar, scratch, v, chi)
							if err != nil {
								return corrupt("bitmap %q chunk %d: %v", truncate(string(name)), chi, err)
							}
							if uint64(chunk.Maximum()) >= uint64(img.nextID) {
								return corrupt("bitmap %q holds ID %d beyond next ID %d", truncate(string(name)), chunk.Maximum(), img.nextID)
							}
							bm := m[string(name)]
							if bm == nil {
								bm = roaring.New()
								m[string(name)] = bm
							}
							bm.Or(chunk) // takes the container without copying it
						}
					}
					return nil
				})
			})
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	// Anything outside the known kinds, or beyond the last chunk?
	err := db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bktBm).Cursor()
		for k, _ := c.First(); k != nil; {
			if k[0] == bkWhole {
				k, _ = c.Seek([]byte{bkWhole + 1})
				continue
			}
			kind, _, _, err := parseChunkKey(k)
			if err != nil {
				return corrupt("%v", err)
			}
			if lastHi < math.MaxUint16 {
				next := lastHi + 1
				if k, _ := c.Seek([]byte{kind, byte(next >> 8), byte(next)}); k != nil && k[0] == kind {
					return corrupt("bitmap chunk %s beyond next ID", clipKey(k))
				}
			}
			k, _ = c.Seek([]byte{kind + 1})
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, pt := range parts {
		for kind, m := range pt {
			for name, bm := range m {
				k := bmKey{kind, name}
				if have := img.bitmaps[k]; have != nil {
					have.Or(bm)
				} else {
					img.bitmaps[k] = bm
				}
			}
		}
	}
	// Small tags in chunks: a Load that did not finish (see wholeMax).
	for k, bm := range img.bitmaps {
		if k.kind == bkTag && isWhole(bm.GetCardinality()) {
			un.misformed = append(un.misformed, k.name)
		}
	}
	// The small tags, stored whole.
	return db.View(func(tx *bolt.Tx) error {
		var ar arena
		c := tx.Bucket(bktBm).Cursor()
		for k, v := c.Seek([]byte{bkWhole}); k != nil && k[0] == bkWhole; k, v = c.Next() {
			name := string(k[1:])
			bm, err := viewWhole(&ar, v)
			if err != nil {
				return corrupt("whole bitmap of tag %q: %v", truncate(name), err)
			}
			if uint64(bm.Maximum()) >= uint64(img.nextID) {
				return corrupt("bitmap %q holds ID %d beyond next ID %d", truncate(name), bm.Maximum(), img.nextID)
			}
			if img.bitmaps[bmKey{bkTag, name}] != nil {
				return corrupt("tag %q stored both whole and in chunks", truncate(name))
			}
			img.bitmaps[bmKey{bkTag, name}] = bm
		}
		return nil
	})
}

// image is what Open reads from the file, as plain data: every stored
// bitmap, the columns and MRR histories in memory blocks (blocks.go), and
// the current MRR, derived from the histories. A snapshot is made from it
// (state.go: stateFromImage); nothing here knows of snapshots.
type image struct {
	txid    int // the bbolt transaction read
	nextID  uint32
	bitmaps map[bmKey]*roaring.Bitmap // live, tags, equality fields
	cols    [numCols]column[int64]
	mrr     column[int64]
	hist    histCol
	journal journal
	jseq    uint64
}

// loadImage reads the file into an image, and says what a writable Open
// has left to store (see unfinished).
func loadImage(db *bolt.DB, path string) (*image, *unfinished, error) {
	img := &image{bitmaps: map[bmKey]*roaring.Bitmap{}}
	var txid int
	err := guard(path, func() error {
		return db.View(func(tx *bolt.Tx) error {
			txid = tx.ID()
			meta := tx.Bucket(bktMeta)
			if meta == nil { // a fresh read-only file
				return nil
			}
			next, err := parseID(meta.Get(keyNext))
			if err != nil {
				return fmt.Errorf("tagseg: open %s: next ID: %v: %w", path, err, ErrCorrupt)
			}
			img.nextID = next
			// The next ID sizes every in-memory column (56 bytes an ID): check
			// it against the column blocks, which every customer ever created
			// wrote its values to, before a damaged one asks for gigabytes.
			c := tx.Bucket(bktCol).Cursor()
			k, _ := c.Seek([]byte{colEmail + 1})
			if k == nil {
				k, _ = c.Last()
			} else {
				k, _ = c.Prev()
			}
			last := int64(-1) // the last block of the first column
			if len(k) == 5 && k[0] == colEmail {
				last = int64(binary.BigEndian.Uint32(k[1:]))
			}
			if want := (int64(img.nextID) - 1 + colBlock) / colBlock; last+1 != want {
				return fmt.Errorf("tagseg: open %s: next ID %d, but the last column block is %d: %w", path, img.nextID, last, ErrCorrupt)
			}
			if img.journal, img.jseq, err = loadJournal(tx, img.nextID); err != nil {
				return fmt.Errorf("tagseg: open %s: %v: %w", path, err, ErrCorrupt)
			}
			return nil
		})
	})
	if err != nil {
		return nil, nil, err
	}
	// Bitmaps on their goroutines, alongside the histories and columns.
	var bmErr error
	var wg sync.WaitGroup
	un := &unfinished{}
	for col := range numCols {
		img.cols[col] = newColumn(img.nextID, colNone[col])
	}
	img.mrr = newColumn(img.nextID, int64(0))
	wg.Go(func() { bmErr = guard(path, func() error { return loadBitmaps(db, path, img, un) }) })
	err = guard(path, func() error {
		return db.View(func(tx *bolt.Tx) error {
			meta := tx.Bucket(bktMeta)
			if meta == nil { // a fresh read-only file
				return nil
			}
			corrupt := func(format string, args ...any) error {
				return fmt.Errorf("tagseg: open %s: %s: %w", path, fmt.Sprintf(format, args...), ErrCorrupt)
			}

			// MRR histories, copied block by block into the packed
			// in-memory blocks (see histBlk), and the current MRR.
			mrr := newColumn(img.nextID, int64(0))
			blks := make([]*histBlk, (uint64(img.nextID)+blkSize-1)/blkSize)
			var cur *histBlk
			pos := 0 // IDs of cur whose end offset is set
			fill := func(upto int) {
				for ; pos < upto; pos++ {
					cur.off[pos+1] = uint32(len(cur.ev))
				}
			}
			c := tx.Bucket(bktEv).Cursor()
			for k, v := c.First(); k != nil; k, v = c.Next() {
				if len(k) != 4 {
					return corrupt("bad MRR history key")
				}
				lo := uint64(binary.BigEndian.Uint32(k)) * histBlock
				if lo >= uint64(img.nextID) {
					return corrupt("MRR history block %x beyond next ID", k)
				}
				v, err := openVal(v)
				if err != nil {
					return corrupt("MRR history block %x: %v", k, err)
				}
				n, off, ev, err := histBlockView(v)
				if err != nil {
					return corrupt("MRR history block %x: %v", k, err)
				}
				if uint64(n) > uint64(img.nextID)-lo {
					return corrupt("MRR history block %x holds customers beyond next ID", k)
				}
				if b := int(lo >> blkBits); blks[b] != cur || cur == nil {
					if cur != nil {
						fill(blkSize)
					}
					cur, pos = &histBlk{}, 0
					blks[b] = cur
				}
				base := int(lo & blkMask)
				fill(base)
				start := uint32(len(cur.ev))
				for j := range len(ev) / 16 {
					cur.ev = append(cur.ev, mrrEvent{int64(binary.LittleEndian.Uint64(ev[16*j:])), int64(binary.LittleEndian.Uint64(ev[16*j+8:]))})
				}
				ms := mrr.span(uint32(lo), uint32(lo)+uint32(max(n, 1)))
				for i := range n {
					olo, ohi := binary.LittleEndian.Uint32(off[4*i:]), binary.LittleEndian.Uint32(off[4*(i+1):])
					cur.off[base+i+1] = start + ohi
					if ohi > olo {
						ms[i] = cur.ev[start+ohi-1].cents
					}
				}
				pos = base + n
			}
			if cur != nil {
				fill(blkSize)
			}
			img.hist, img.mrr = histCol{blks}, mrr
			// Columns.
			cols := &img.cols
			c = tx.Bucket(bktCol).Cursor()
			for k, v := c.First(); k != nil; k, v = c.Next() {
				if len(k) != 5 || int(k[0]) >= numCols {
					return corrupt("bad column key %s", clipKey(k))
				}
				col, blk := int(k[0]), binary.BigEndian.Uint32(k[1:])
				lo := uint64(blk) * colBlock
				if lo >= uint64(img.nextID) {
					return corrupt("column %d block %d beyond next ID", col, blk)
				}
				v, err := openVal(v)
				if err != nil {
					return corrupt("column %d block %d: %v", col, blk, err)
				}
				if err := decodeCol(v, cols[col].span(uint32(lo), uint32(min(lo+colBlock, uint64(img.nextID))))); err != nil {
					return corrupt("column %d block %d: %v", col, blk, err)
				}
			}
			return nil
		})
	})
	wg.Wait()
	if err := errors.Join(err, bmErr); err != nil {
		return nil, nil, err
	}
	img.txid = txid
	if err := guard(path, func() error { return db.View(func(btx *bolt.Tx) error { return readTail(btx, path, img, un) }) }); err != nil {
		return nil, nil, err
	}
	return img, un, nil
}
