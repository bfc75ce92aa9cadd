package main

// tagseg info and tagseg check.

import (
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"
)

func init() {
	commands["info"] = command{runInfo, "what an index holds: customers, tags, assignments, file size, format, last commit"}
	commands["check"] = command{runCheck, "check an index's consistency (Index.Check)"}
}

const infoUsage = `-db PATH [-format table|csv|json]

Says what the index holds: customers, customers ever created (dense IDs
used), tags, tag assignments, saved segments, the file's size, its format
version, and its last commit (bbolt transaction ID and the file's
modification time).`

type infoJSON struct {
	Path          string `json:"path"`
	Customers     uint64 `json:"customers"`
	IDsUsed       uint32 `json:"ids_used"`
	Tags          int    `json:"tags"`
	Assignments   uint64 `json:"assignments"`
	Segments      int    `json:"saved_segments"`
	FileBytes     int64  `json:"file_bytes"`
	FormatVersion int    `json:"format_version"`
	LastTxID      int    `json:"last_commit_txid"`
	LastCommit    string `json:"last_commit_time"`
}

func runInfo(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("info", infoUsage, stderr)
	db := dbFlag(fs)
	ff := addFormatFlags(fs)
	if err := parseFlagsOnly(fs, args, db, ""); err != nil {
		return err
	}
	format, err := ff.get(fs)
	if err != nil {
		return err
	}
	ix, err := openRead(*db)
	if err != nil {
		return err
	}
	defer ix.Close()
	in, err := ix.Info()
	if err != nil {
		return err
	}
	out := infoJSON{Path: in.Path, Customers: in.Customers, IDsUsed: in.NextID, FormatVersion: in.FormatVersion, LastTxID: in.TxID}
	for _, n := range ix.Tags() {
		out.Tags++
		out.Assignments += n
	}
	for range ix.SavedSegments() {
		out.Segments++
	}
	if fi, err := os.Stat(*db); err == nil {
		out.FileBytes = fi.Size()
		out.LastCommit = fi.ModTime().UTC().Format(time.RFC3339)
	}
	switch format {
	case "json":
		return writeJSON(stdout, out)
	case "csv":
		w := csv.NewWriter(stdout)
		w.Write([]string{"path", "customers", "ids_used", "tags", "assignments", "saved_segments", "file_bytes", "format_version", "last_commit_txid", "last_commit_time"})
		w.Write([]string{out.Path, strconv.FormatUint(out.Customers, 10), strconv.FormatUint(uint64(out.IDsUsed), 10), strconv.Itoa(out.Tags),
			strconv.FormatUint(out.Assignments, 10), strconv.Itoa(out.Segments), strconv.FormatInt(out.FileBytes, 10),
			strconv.Itoa(out.FormatVersion), strconv.Itoa(out.LastTxID), out.LastCommit})
		w.Flush()
		return w.Error()
	}
	t := &table{header: []string{"index", out.Path}, right: []bool{false, false}}
	t.add("customers", count(out.Customers))
	t.add("IDs used", count(uint64(out.IDsUsed))+" (deleted customers keep theirs)")
	t.add("tags", count(out.Tags))
	t.add("assignments", count(out.Assignments))
	t.add("saved segments", count(out.Segments))
	t.add("file size", fmt.Sprintf("%s bytes", count(out.FileBytes)))
	t.add("format version", strconv.Itoa(out.FormatVersion))
	t.add("last commit", fmt.Sprintf("transaction %d, %s", out.LastTxID, out.LastCommit))
	t.write(stdout)
	return nil
}

const checkUsage = `-db PATH

Runs Index.Check: reads every customer record and compares it with the
bitmaps, columns and histories held in memory. Prints "ok" or what is wrong
(exit 1). The index is opened read-only.`

func runCheck(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("check", checkUsage, stderr)
	db := dbFlag(fs)
	if err := parseFlagsOnly(fs, args, db, ""); err != nil {
		return err
	}
	start := time.Now()
	ix, err := openRead(*db)
	if err != nil {
		return err
	}
	defer ix.Close()
	if err := ix.Check(); err != nil {
		return err
	}
	in, _ := ix.Info()
	fmt.Fprintf(stdout, "ok: %s customers checked in %v\n", count(in.Customers), time.Since(start).Round(time.Millisecond))
	return nil
}
