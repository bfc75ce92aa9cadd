package main

// tagseg info and tagseg check.

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/tagseg/tagseg/server/api"
)

func init() {
	commands["info"] = command{runInfo, "what an index holds: customers, tags, assignments, file size, format, last commit"}
	commands["check"] = command{runCheck, "check an index's consistency (Index.Check)"}
}

const infoUsage = `-db PATH [-format table|csv|json]

Says what the index holds: customers, customers ever created (dense IDs
used), tags, tag assignments, saved segments, the file's size, its format
version, and its last commit (bbolt transaction ID and the file's
modification time). Through tagseg serve when it holds the index.`

func runInfo(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("info", infoUsage, stderr)
	db := dbFlag(fs)
	ff := addFormatFlags(fs)
	server := serverFlag(fs)
	pos, err := parseServedArgs(fs, args, db, server)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	format, err := ff.get(fs)
	if err != nil {
		return err
	}
	var out api.Info
	if rm := remoteFor(*db, server, stderr); rm != nil {
		if err := rm.do("GET", "/v1/info", nil, nil, &out); err != nil {
			return err
		}
	} else {
		ix, err := openRead(*db)
		if err != nil {
			return err
		}
		defer ix.Close()
		if out, err = api.InfoOf(ix); err != nil {
			return err
		}
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
