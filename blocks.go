package tagseg

// Blocked storage: the in-memory form of the per-ID columns and the MRR
// histories, one block per blkSize IDs. Open fills new ones from the file
// (open.go); snapshots share them and copy only the blocks a write
// changes (state.go: colEdit, histEdit).

const (
	blkBits = 12
	blkSize = 1 << blkBits
	blkMask = blkSize - 1
)

// column holds one value per dense ID in blocks of blkSize IDs, shared
// between states: a derived state copies the block table and only the
// blocks it changes. IDs past the end read as none.
type column[T any] struct {
	blks []*[blkSize]T
	none T
}

func (c column[T]) at(id uint32) T {
	if b := int(id >> blkBits); b < len(c.blks) {
		return c.blks[b][id&blkMask]
	}
	return c.none
}

// newColumn returns a column of n IDs, each none, in blocks no snapshot
// shares yet: for Open to fill with span.
func newColumn[T any](n uint32, none T) column[T] {
	c := column[T]{blks: make([]*[blkSize]T, (uint64(n)+blkSize-1)/blkSize), none: none}
	for i := range c.blks {
		b := new([blkSize]T)
		for j := range b {
			b[j] = none
		}
		c.blks[i] = b
	}
	return c
}

// span returns the values of IDs lo..hi-1 (within one block) of a column
// no snapshot shares yet, for writing.
func (c column[T]) span(lo, hi uint32) []T {
	return c.blks[lo>>blkBits][lo&blkMask : (hi-1)&blkMask+1]
}

// histBlk holds the MRR histories of one block of blkSize IDs packed in
// one array: the history of the i-th ID is ev[off[i]:off[i+1]]. A block is
// two pointers for the garbage collector, not blkSize slices.
type histBlk struct {
	off [blkSize + 1]uint32
	ev  []mrrEvent
}

// histCol is the MRR history of every ID, in blocks shared between states
// like a column's.
type histCol struct{ blks []*histBlk }

func (c histCol) at(id uint32) []mrrEvent {
	b := int(id >> blkBits)
	if b >= len(c.blks) || c.blks[b] == nil {
		return nil
	}
	blk, i := c.blks[b], id&blkMask
	lo, hi := blk.off[i], blk.off[i+1]
	if lo == hi {
		return nil
	}
	return blk.ev[lo:hi:hi]
}
