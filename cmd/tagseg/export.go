package main

// tagseg export: a segment's members for other engines (a portable Roaring
// bitmap of dense IDs, with a mapping file) or for another index (CSV or
// JSON Lines in the shape import reads).

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/tagseg/tagseg"
	"github.com/tagseg/tagseg/server/api"
)

const exportUsage = `-db PATH [-query Q | -segment NAME] -format roaring|csv|jsonl [-out FILE] [-ids FILE] [-events FILE]

Writes the members of a segment (default: every customer), as of one commit.

  roaring  their dense IDs as one bitmap in the portable Roaring format
           (CRoaring, Java RoaringBitmap, pg_roaringbitmap; ClickHouse's
           groupBitmap state wraps it), and beside it a CSV mapping
           "id,uuid,data_source_uuid,external_id", one row a member in ID
           order: FILE.ids.csv by default, or -ids. Without -out the bitmap
           goes to standard output (not a terminal) and the mapping only
           where -ids says.
  csv      one row a member in the shape "tagseg import" reads: uuid,
           data_source_uuid, external_id, name, email, company, country,
           state, city, zip, lead_created_at, free_trial_started_at, tags
           (a JSON array), mrr, mrr_at, then custom.KEY:TYPE columns.
  jsonl    one customer object a line, as "tagseg import" reads them, with
           custom attributes as [{"type", "key", "value"}].

Files are written to a temporary file, synced and renamed. The current MRR
is carried as one change at the time of the customer's latest MRR event;
-events FILE also writes every member's whole MRR history as CSV
"uuid,date,mrr", which "tagseg import -events FILE" loads after the
customers.`

func runExport(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("export", exportUsage, stderr)
	db := dbFlag(fs)
	sf := addSegmentFlags(fs, true)
	format := fs.String("format", "", "`roaring`, csv or jsonl (required)")
	out := fs.String("out", "", "write to `FILE` instead of standard output")
	idsOut := fs.String("ids", "", "with -format roaring, the mapping `FILE` (default: the -out file + .ids.csv)")
	eventsOut := fs.String("events", "", "also write the members' MRR histories to `FILE` (CSV uuid,date,mrr), for import -events")
	server := serverFlag(fs)
	pos, err := parseServedArgs(fs, args, db, server)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q (the query goes in -query)", pos[0])
	}
	switch *format {
	case "roaring", "csv", "jsonl":
	case "":
		return usagef("missing -format (roaring, csv or jsonl)")
	default:
		return usagef("unknown -format %q (want roaring, csv or jsonl)", *format)
	}
	if *idsOut != "" && *format != "roaring" {
		return usagef("-ids is for -format roaring")
	}
	if *format == "roaring" && *out == "" && isTerminal(stdout) && !isDevNull(stdout) {
		return usagef("-format roaring writes binary: give -out FILE or redirect standard output")
	}
	if *format == "roaring" && *out != "" && *idsOut == "" {
		*idsOut = *out + ".ids.csv"
	}
	for _, f := range []string{*out, *idsOut, *eventsOut} {
		if f != "" && abs(f) == abs(*db) {
			return usagef("%s is the index itself", f)
		}
	}
	if rm := remoteFor(*db, server, stderr); rm != nil {
		return exportRemote(rm, stdout, stderr, *sf.query, *sf.segment, *format, *out, *idsOut, *eventsOut)
	}
	ix, err := openRead(*db)
	if err != nil {
		return err
	}
	defer ix.Close()
	query, e, err := resolve(ix, *sf.query, *sf.segment)
	if err != nil {
		return err
	}
	start := time.Now()
	var n uint64
	err = ix.View(func(tx *tagseg.Tx) error {
		seg, err := tx.Segment(e)
		if err != nil {
			return queryError(query, err)
		}
		n = seg.Count()
		segmentNotes(ix, stderr, query, seg)
		write := func(path string, fn func(w io.Writer) error) error {
			if path == "" {
				bw := bufio.NewWriterSize(stdout, 64<<10)
				if err := fn(bw); err != nil {
					return err
				}
				return bw.Flush()
			}
			return writeFileAtomic(path, 0o644, fn)
		}
		each := api.SegmentMembers(seg, 0)
		if *eventsOut != "" {
			if err := writeFileAtomic(*eventsOut, 0o644, func(w io.Writer) error { return api.WriteEvents(w, tx, each) }); err != nil {
				return err
			}
		}
		switch *format {
		case "roaring":
			if err := write(*out, func(w io.Writer) error { _, err := seg.WriteTo(w); return err }); err != nil {
				return err
			}
			if *idsOut != "" {
				return write(*idsOut, func(w io.Writer) error { return api.WriteIDMap(w, each) })
			}
			return nil
		case "csv":
			return write(*out, func(w io.Writer) error { return api.WriteCSV(w, tx, each) })
		default:
			return write(*out, func(w io.Writer) error { return api.WriteJSONL(w, tx, each) })
		}
	})
	if err != nil {
		return err
	}
	where := "standard output"
	if *out != "" {
		where = *out
	}
	for _, f := range []string{*idsOut, *eventsOut} {
		if f != "" {
			where += " and " + f
		}
	}
	fmt.Fprintf(stderr, "exported %s customers (%s) to %s in %s\n", count(n), query, where, time.Since(start).Round(time.Millisecond))
	return nil
}

// exportRemote is export through a server: every file of one snapshot,
// from one request.
func exportRemote(rm *remote, stdout, stderr io.Writer, query, segment, format, out, idsOut, eventsOut string) error {
	start := time.Now()
	if query != "" && segment != "" {
		return usagef("give a query or -segment, not both")
	}
	req := exportRequest{query: query, segment: segment, format: format}
	dest := map[string]string{format: out}
	if idsOut != "" {
		req.also = append(req.also, "ids")
		dest["ids"] = idsOut
	}
	if eventsOut != "" {
		req.also = append(req.also, "events")
		dest["events"] = eventsOut
	}
	info, err := rm.export(req, func(name string, r io.Reader) error {
		copyTo := func(w io.Writer) error { _, err := io.Copy(w, r); return err }
		if dest[name] == "" {
			bw := bufio.NewWriterSize(stdout, 64<<10)
			if err := copyTo(bw); err != nil {
				return err
			}
			return bw.Flush()
		}
		return writeFileAtomic(dest[name], 0o644, copyTo)
	})
	if err != nil {
		return err
	}
	unknownNotes(stderr, info.unknownTags)
	where := "standard output"
	if out != "" {
		where = out
	}
	for _, f := range []string{idsOut, eventsOut} {
		if f != "" {
			where += " and " + f
		}
	}
	fmt.Fprintf(stderr, "exported %s customers (%s) to %s in %s (through the server)\n", count(info.customers), info.query, where, time.Since(start).Round(time.Millisecond))
	return nil
}

// isDevNull reports whether w is /dev/null, a character device that is
// not a terminal.
func isDevNull(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err1 := f.Stat()
	null, err2 := os.Stat(os.DevNull)
	return err1 == nil && err2 == nil && os.SameFile(fi, null)
}

// writeFileAtomic writes a file of mode perm through fn: to a temporary
// file beside path, synced, renamed over path, and the directory synced,
// so that path is either as it was or the whole new file, also after a
// crash.
func writeFileAtomic(path string, perm os.FileMode, fn func(w io.Writer) error) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename, a no-op
	err = tmp.Chmod(perm)
	bw := bufio.NewWriterSize(tmp, 64<<10)
	if err == nil {
		err = fn(bw)
	}
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
