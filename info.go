package tagseg

// FormatVersion is the on-disk format version this package writes and
// reads; Open refuses other versions with ErrVersion.
const FormatVersion = formatVersion

// Info is a summary of an open index, as of its latest commit.
type Info struct {
	Path          string
	FormatVersion int
	// TxID is the bbolt transaction ID of the latest commit the index
	// reflects: it grows by one with every durable write.
	TxID int
	// NextID is the dense ID the next created customer gets: every
	// customer ever created, deleted ones included.
	NextID uint32
	// Customers is the number of customers (the live bitmap's size).
	Customers uint64
	// Tags is the number of distinct tags some customer holds (what
	// Tags yields), without listing them.
	Tags int
}

// Info returns a summary of the index as of its latest commit, or
// ErrClosed.
func (ix *Index) Info() (Info, error) {
	st, err := ix.snapshot()
	if err != nil {
		return Info{}, err
	}
	in := Info{Path: ix.path, FormatVersion: formatVersion, TxID: st.txid, NextID: st.nextID, Tags: st.tags.len()}
	if live := st.get(bmKey{bkLive, ""}); live != nil {
		in.Customers = live.GetCardinality()
	}
	return in, nil
}
