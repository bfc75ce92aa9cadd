package tagseg

import (
	"fmt"
	"io"

	bolt "go.etcd.io/bbolt"
)

// Backup writes a consistent copy of the index file, as of the latest
// commit when it starts, to w, and returns the number of bytes written.
// Readers and the writer go on meanwhile: the copy is made from a bbolt
// read transaction, page by page, so it takes no more memory than a read
// and holds no lock (while it runs, pages freed by later commits are not
// reused, so the file may grow). The copy is a complete index: to restore,
// open it. A write to w that fails ends the backup with its error.
func (ix *Index) Backup(w io.Writer) (n int64, err error) {
	err = ix.view(func(_ *state, btx *bolt.Tx) error {
		var err error
		n, err = btx.WriteTo(w)
		if err != nil {
			return fmt.Errorf("tagseg: backup %s: %w", ix.path, err)
		}
		return nil
	})
	return n, err
}
