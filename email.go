package tagseg

import (
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
)

// emailTable finds customers by the hash of their lower-cased email. It
// lives beside the snapshots, not in them: it only proposes candidates,
// and every lookup reads the candidates' records in its own transaction
// and keeps those whose email matches. So the table may hold more than the
// truth — IDs of deleted customers, old emails, batches that failed to
// commit — and it only ever grows until the index is reopened: the writer
// adds each email it stores before it commits, and an entry is never
// removed, so a reader on an older snapshot still finds what it needs.
//
// It is built from the email column on first use by a reader, so a file
// opened for segments alone never pays for it. The writer never builds it
// (seconds at 10M customers, during which every write would wait): until
// a reader, or Index.AddTagsByEmail before it takes the writer's lock,
// has built it, a write that looks up an email finds the candidates by
// one pass over the email column (milliseconds). Each of its 256 shards
// has a lock held for one map access.
type emailTable struct {
	once  sync.Once
	ready atomic.Bool // built
	sh    [nShards]struct {
		mu sync.RWMutex
		x  emailIndex
	}
}

// emailBuildHook, when set by a test, is called as the table's build
// starts.
var emailBuildHook func()

func (t *emailTable) shard(h int64) *struct {
	mu sync.RWMutex
	x  emailIndex
} {
	return &t.sh[uint8(uint64(h)>>56)]
}

// add records that id has (or had) the email of hash h.
func (t *emailTable) add(h int64, id uint32) {
	if h == 0 {
		return
	}
	s := t.shard(h)
	s.mu.Lock()
	if s.x.one == nil {
		s.x = newEmailIndex()
	}
	s.x.add(h, id)
	s.mu.Unlock()
}

// candidates returns the candidate IDs for hash h as of st. For a reader
// (writer false) that is ids; the writer does not build the table but
// scans st's email column while the table is not built (see emailTable).
func (t *emailTable) candidates(st *state, h int64, writer bool) []uint32 {
	if writer && !t.ready.Load() {
		return scanEmails(st, h)
	}
	return t.ids(st, h)
}

// scanEmails returns the IDs whose email hash in st is h: one pass over
// the column.
func scanEmails(st *state, h int64) []uint32 {
	if h == 0 {
		return nil
	}
	var out []uint32
	for b, blk := range st.cols[colEmail].blks {
		for i, v := range blk {
			if v == h {
				out = append(out, uint32(b<<blkBits|i))
			}
		}
	}
	return out
}

// ensure builds the table from st's email column unless it is built.
func (t *emailTable) ensure(st *state) {
	t.once.Do(func() {
		t.build(st)
		t.ready.Store(true)
	})
}

// ids returns the candidate IDs for hash h, building the table from st's
// email column on first use.
func (t *emailTable) ids(st *state, h int64) []uint32 {
	t.ensure(st)
	if h == 0 {
		return nil
	}
	s := t.shard(h)
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.x.ids(h)
}

// build fills the table from st's email column. One pass over the live
// customers sorts (hash, ID) pairs into their shards; then up to two
// cores fill the shards' maps, sized in advance, one shard at a time so
// that its map stays in cache, and merge each under its lock with what
// writers added meanwhile. That is about four times faster than adding
// the IDs one by one in ID order (a lock and a cache miss each), but it
// still reads every live customer's email hash once per Open: the first
// email lookup after Open pays it (see bench/paging_test.go).
func (t *emailTable) build(st *state) {
	if emailBuildHook != nil {
		emailBuildHook()
	}
	type pair struct {
		h  int64
		id uint32
	}
	col := st.cols[colEmail]
	var counts [nShards]int
	for _, blk := range col.blks {
		for _, h := range blk {
			if h != 0 {
				counts[uint8(uint64(h)>>56)]++
			}
		}
	}
	var pairs [nShards][]pair
	for sh, n := range counts {
		pairs[sh] = make([]pair, 0, n)
	}
	it := st.live.ManyIterator()
	buf := make([]uint32, 4096)
	for n := it.NextMany(buf); n > 0; n = it.NextMany(buf) {
		for _, id := range buf[:n] {
			if h := col.at(id); h != 0 {
				sh := uint8(uint64(h) >> 56)
				pairs[sh] = append(pairs[sh], pair{h, id})
			}
		}
	}
	workers := min(2, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for sh := w; sh < nShards; sh += workers {
				if len(pairs[sh]) == 0 {
					continue
				}
				x := emailIndex{one: make(map[int64]uint32, len(pairs[sh])), more: map[int64][]uint32{}}
				for _, p := range pairs[sh] {
					x.add(p.h, p.id)
				}
				pairs[sh] = nil
				s := &t.sh[sh]
				s.mu.Lock()
				for h, id := range s.x.one { // added by writers meanwhile
					x.add(h, id)
					for _, id := range s.x.more[h] {
						x.add(h, id)
					}
				}
				s.x = x
				s.mu.Unlock()
			}
		})
	}
	wg.Wait()
}

// emailIndex finds customers by email hash: most hashes have one ID, kept
// in one, a few have several, kept in more.
type emailIndex struct {
	one  map[int64]uint32
	more map[int64][]uint32
}

func newEmailIndex() emailIndex {
	return emailIndex{one: map[int64]uint32{}, more: map[int64][]uint32{}}
}

func (x *emailIndex) add(h int64, id uint32) {
	if h == 0 {
		return
	}
	if first, ok := x.one[h]; ok {
		if first != id && !slices.Contains(x.more[h], id) {
			x.more[h] = append(x.more[h], id)
		}
		return
	}
	x.one[h] = id
}

func (x *emailIndex) ids(h int64) []uint32 {
	first, ok := x.one[h]
	if !ok {
		return nil
	}
	return append([]uint32{first}, x.more[h]...)
}
