package tagseg

// The applied index: a number a replicated host commits with its writes.
//
// A host that replicates the index by a log of commands (tagseg serve on
// Raft: every node applies the same log to its own index) must know, after
// a restart, which entries its file already holds: the file is durable on
// its own, so entries applied before a crash are in it, and applying one
// again is wrong for writes that are not idempotent (a create fails as a
// duplicate, a removed tag comes back). So the host records the index of
// the last entry it applied in the same transaction as that entry's
// writes, with Tx.SetApplied, and after Open skips every entry at or below
// Index.Applied. The number is the host's: the library stores it, copies
// it with Backup, and does nothing else with it.

import (
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// keyApplied is the meta key of the applied index (see SetApplied).
var keyApplied = []byte("applied")

// SetApplied records n as the applied index of a replicated log, in the
// batch's transaction: it becomes durable together with the batch's
// writes, or not at all, so after a crash Index.Applied names exactly the
// last entry whose writes the file holds. A batch that calls SetApplied
// commits even when it changes nothing else (an entry whose command failed
// or was a no-op is still applied). The value may go down as well as up;
// the host decides. In View it gives ErrReadOnly.
func (tx *Tx) SetApplied(n uint64) error {
	if err := tx.checkWrite(); err != nil {
		return err
	}
	tx.dirty = true
	v := seal(binary.BigEndian.AppendUint64(make([]byte, 0, 12), n))
	if err := tx.btx.Bucket(bktMeta).Put(keyApplied, v); err != nil {
		return fmt.Errorf("tagseg: %s: set applied index: %w", tx.ix.path, err)
	}
	return nil
}

// Applied returns the applied index the latest commit recorded with
// Tx.SetApplied, or 0 when none ever did. A Backup carries it: an index
// opened from a copy reports the number of the commit the copy was made
// of.
func (ix *Index) Applied() (n uint64, err error) {
	err = ix.view(func(_ *state, btx *bolt.Tx) error {
		n, err = readApplied(btx)
		if err != nil {
			return fmt.Errorf("tagseg: %s: applied index: %v: %w", ix.path, err, ErrCorrupt)
		}
		return nil
	})
	return n, err
}

// readApplied reads the applied index of a transaction: 0 when unset.
func readApplied(btx *bolt.Tx) (uint64, error) {
	meta := btx.Bucket(bktMeta)
	if meta == nil {
		return 0, nil // a fresh read-only file
	}
	v := meta.Get(keyApplied)
	if v == nil {
		return 0, nil
	}
	b, err := openVal(v)
	if err != nil {
		return 0, err
	}
	if len(b) != 8 {
		return 0, fmt.Errorf("entry of %d bytes", len(b))
	}
	return binary.BigEndian.Uint64(b), nil
}
