package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

const backupUsage = `-db PATH OUT|-

Writes a consistent copy of the index to OUT, as of one commit (Index.Backup).
The copy is written to a temporary file beside OUT, synced and renamed, so OUT
is either the old file or the whole new copy; "-" writes to standard output,
for pipelines such as "tagseg backup -db live.db - | gzip > live.db.gz".
To restore, use the copy as the index file. When "tagseg serve" holds the
index (its serve note beside it says where), or with -server URL, the copy
is made by the server, online, and streamed here.`

func runBackup(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("backup", backupUsage, stderr)
	db := dbFlag(fs)
	server := serverFlag(fs)
	pos, err := parseServedArgs(fs, args, db, server)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want one OUT file (or - for standard output)")
	}
	out := pos[0]
	if *db != "" && abs(out) == abs(*db) {
		return usagef("OUT is the index itself")
	}
	if rm := remoteFor(*db, server, stderr); rm != nil {
		if out == "-" {
			_, err := rm.backup(stdout)
			return err
		}
		var n int64
		err := writeFileAtomic(out, 0o600, func(w io.Writer) (err error) {
			n, err = rm.backup(w)
			return err
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "wrote %s: %s bytes (through the server)\n", out, count(n))
		return nil
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
	fmt.Fprintf(stderr, "wrote %s: %s bytes\n", out, count(n))
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
