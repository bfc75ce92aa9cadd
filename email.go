package tagseg

import (
	"slices"
	"sync"
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
// It is built from the email column on first use, so a file opened for
// segments alone never pays for it. Each of its 256 shards has a lock held
// for one map access.
type emailTable struct {
	once sync.Once
	sh   [nShards]struct {
		mu sync.RWMutex
		x  emailIndex
	}
}

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

// ids returns the candidate IDs for hash h, building the table from st's
// email column on first use.
func (t *emailTable) ids(st *state, h int64) []uint32 {
	t.once.Do(func() {
		col := st.cols[colEmail]
		for it := st.live.Iterator(); it.HasNext(); {
			id := it.Next()
			t.add(col.at(id), id)
		}
	})
	if h == 0 {
		return nil
	}
	s := t.shard(h)
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.x.ids(h)
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
