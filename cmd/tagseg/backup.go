package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

const backupUsage = `-db PATH OUT

Writes a consistent copy of the index to OUT, as of one commit (Index.Backup).
The copy is written to a temporary file beside OUT, synced and renamed, so OUT
is either the old file or the whole new copy; "-" writes to standard output,
for pipelines such as "tagseg backup -db live.db - | gzip > live.db.gz".
To restore, use the copy as the index file. The index is opened read-only, so
another process may not hold it for writing (stop "tagseg serve" first).`

func runBackup(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("backup", backupUsage, stderr)
	db := dbFlag(fs)
	pos, err := parseDBArgs(fs, args, db)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want one OUT file (or - for standard output)")
	}
	out := pos[0]
	if abs(out) == abs(*db) {
		return usagef("OUT is the index itself")
	}
	ix, err := openRead(*db)
	if err != nil {
		return err
	}
	defer ix.Close()
	if out == "-" {
		_, err := ix.Backup(stdout)
		return err
	}
	var n int64
	err = writeFileAtomic(out, 0o600, func(w io.Writer) error {
		n, err = ix.Backup(w)
		return err
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "wrote %s: %d bytes\n", out, n)
	return nil
}

func abs(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// syncDir fsyncs a directory, so that a rename in it survives a crash.
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
