package tagseg

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

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

// Restore replaces the index file at path with the copy that r yields (as
// Backup wrote it), atomically: it writes the copy to a temporary file
// beside path, syncs it, opens it read-only (which reads and verifies
// everything Open loads: the format, the meta pages, every bitmap, column
// and MRR history, each against its checksum), and only then renames it
// over path and syncs the directory. A copy that is truncated, damaged or
// not an index gives an error wrapping ErrCorrupt (or ErrVersion) and
// leaves path as it was; so does a failed write. It returns the number of
// bytes read from r. Customer records are not read (Index.Check does that,
// at the cost of reading the whole file: minutes at a million
// customers); run it on the restored index when the copy's journey is not
// otherwise checksummed.
//
// An Index open on path when Restore renames goes on reading and writing
// the file it opened, which is no longer at path (on Unix: the old file
// stays whole until its last user closes it). Open path again to use the
// restored copy, then Close the old Index: a host that serves requests
// swaps the two and closes the old one once its requests in flight are
// done, so none of them fails.
func Restore(path string, r io.Reader) (n int64, err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, filepath.Base(path)+".restore-*")
	if err != nil {
		return 0, fmt.Errorf("tagseg: restore %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if n, err = io.Copy(f, r); err != nil {
		return n, fmt.Errorf("tagseg: restore %s: copy: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return n, fmt.Errorf("tagseg: restore %s: sync: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return n, fmt.Errorf("tagseg: restore %s: %w", path, err)
	}
	ix, err := Open(tmp, &Options{ReadOnly: true})
	if err != nil {
		return n, fmt.Errorf("tagseg: restore %s: the copy: %w", path, err)
	}
	if err = ix.Close(); err != nil {
		return n, fmt.Errorf("tagseg: restore %s: the copy: %w", path, err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return n, fmt.Errorf("tagseg: restore %s: %w", path, err)
	}
	if err = syncDir(dir); err != nil {
		return n, fmt.Errorf("tagseg: restore %s: sync directory: %w", path, err)
	}
	return n, nil
}
