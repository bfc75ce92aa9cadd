package main

// tagseg export: a segment's members for other engines (a portable Roaring
// bitmap of dense IDs, with a mapping file) or for another index (CSV or
// JSON Lines in the shape import reads).

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
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
	if err := parseFlagsOnly(fs, args, db, " (the query goes in -query)"); err != nil {
		return err
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
		for _, t := range seg.UnknownTags() {
			fmt.Fprintf(stderr, "note: no customer holds the tag %q\n", t)
		}
		if n == 0 {
			if note := caseNote(ix, query); note != "" {
				fmt.Fprintln(stderr, note)
			}
		}
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
		if *eventsOut != "" {
			if err := writeFileAtomic(*eventsOut, 0o644, func(w io.Writer) error { return writeEvents(w, tx, seg) }); err != nil {
				return err
			}
		}
		switch *format {
		case "roaring":
			if err := write(*out, func(w io.Writer) error { _, err := seg.WriteTo(w); return err }); err != nil {
				return err
			}
			if *idsOut != "" {
				return write(*idsOut, func(w io.Writer) error { return writeIDMap(w, seg) })
			}
			return nil
		case "csv":
			return write(*out, func(w io.Writer) error { return writeCustomersCSV(w, tx, seg) })
		default:
			return write(*out, func(w io.Writer) error { return writeCustomersJSONL(w, tx, seg) })
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

// members calls fn with each of the segment's customers, in ID order, and
// fails if one could not be read. In one View no member can have been
// deleted, so fewer than Count is an error too.
func members(seg *tagseg.Segment, fn func(c tagseg.Customer) error) error {
	var n uint64
	for c, err := range seg.ReadCustomers(0) {
		if err != nil {
			return err
		}
		if err := fn(c); err != nil {
			return err
		}
		n++
	}
	if n != seg.Count() {
		return fmt.Errorf("read %d of the segment's %d customers: the index could not be read (run tagseg check)", n, seg.Count())
	}
	return nil
}

// writeIDMap writes the mapping file of a roaring export.
func writeIDMap(w io.Writer, seg *tagseg.Segment) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"id", "uuid", "data_source_uuid", "external_id"})
	err := members(seg, func(c tagseg.Customer) error {
		return cw.Write([]string{strconv.FormatUint(uint64(c.ID), 10), c.UUID, c.DataSourceUUID, c.ExternalID})
	})
	if err != nil {
		return err
	}
	cw.Flush()
	return cw.Error()
}

// writeEvents writes the members' MRR histories as import -events reads
// them: uuid, date, mrr (cents), one row an event, in ID and time order.
func writeEvents(w io.Writer, tx *tagseg.Tx, seg *tagseg.Segment) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"uuid", "date", "mrr"})
	err := members(seg, func(c tagseg.Customer) error {
		h, err := tx.MRRHistory(c.UUID)
		if err != nil {
			return err
		}
		for _, e := range h {
			if err := cw.Write([]string{c.UUID, timeText(e.At), strconv.FormatInt(e.Cents, 10)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	cw.Flush()
	return cw.Error()
}

// mrrAt is the time of the customer's latest MRR event, written as mrr_at
// so that import records the current MRR when it was set (zero: no MRR).
func mrrAt(tx *tagseg.Tx, c tagseg.Customer) (time.Time, error) {
	if c.MRR == 0 {
		return time.Time{}, nil
	}
	h, err := tx.MRRHistory(c.UUID)
	if err != nil || len(h) == 0 {
		return time.Time{}, err
	}
	return h[len(h)-1].At, nil
}

func timeText(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// customType is the ChartMogul type name import reads a custom value as.
func customType(v any) string {
	switch v.(type) {
	case int64:
		return "Integer"
	case float64:
		return "Decimal"
	case bool:
		return "Boolean"
	case time.Time:
		return "Timestamp"
	}
	return "String"
}

// customText writes a custom value as import reads it back, or says why
// it cannot.
func customText(c tagseg.Customer, k string, v any) (string, error) {
	switch x := v.(type) {
	case int64:
		return strconv.FormatInt(x, 10), nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return "", fmt.Errorf("customer %s: custom.%s is %v, which import does not read", c.UUID, k, x)
		}
		return strconv.FormatFloat(x, 'g', -1, 64), nil
	case bool:
		return strconv.FormatBool(x), nil
	case time.Time:
		return timeText(x), nil
	case string:
		return x, nil
	}
	return "", fmt.Errorf("customer %s: custom.%s has an unexpected type %T", c.UUID, k, v)
}

// csvBase is the header of a CSV export before its custom columns.
var csvBase = []string{"uuid", "data_source_uuid", "external_id", "name", "email", "company", "country", "state", "city", "zip", "lead_created_at", "free_trial_started_at", "tags", "mrr", "mrr_at"}

// writeCustomersCSV writes the members as CSV in import's shape. A first
// pass collects the custom columns (a key with values of two types, or an
// empty string value, which a CSV cell cannot carry, is an error that
// points to jsonl); the second writes the rows. Both stream.
func writeCustomersCSV(w io.Writer, tx *tagseg.Tx, seg *tagseg.Segment) error {
	types := map[string]string{}
	err := members(seg, func(c tagseg.Customer) error {
		for k, v := range c.Custom {
			t := customType(v)
			if old, ok := types[k]; ok && old != t {
				return fmt.Errorf("custom.%s holds both %s and %s values, which one CSV column cannot: use -format jsonl", k, old, t)
			}
			types[k] = t
			if s, ok := v.(string); ok && strings.TrimSpace(s) == "" {
				return fmt.Errorf("customer %s: custom.%s is %q, which import reads from CSV as no value: use -format jsonl", c.UUID, k, s)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	keys := slices.Sorted(maps.Keys(types))
	header := slices.Clone(csvBase)
	for _, k := range keys {
		header = append(header, "custom."+k+":"+types[k])
	}
	cw := csv.NewWriter(w)
	cw.Write(header)
	rec := make([]string, len(header))
	err = members(seg, func(c tagseg.Customer) error {
		at, err := mrrAt(tx, c)
		if err != nil {
			return err
		}
		tags := ""
		if len(c.Tags) > 0 {
			b, _ := json.Marshal(c.Tags)
			tags = string(b)
		}
		copy(rec, []string{c.UUID, c.DataSourceUUID, c.ExternalID, c.Name, c.Email, c.Company, c.Country, c.State, c.City, c.Zip,
			timeText(c.LeadCreatedAt), timeText(c.FreeTrialStartedAt), tags, strconv.FormatInt(c.MRR, 10), timeText(at)})
		for i, k := range keys {
			rec[len(csvBase)+i] = ""
			if v, ok := c.Custom[k]; ok {
				if rec[len(csvBase)+i], err = customText(c, k, v); err != nil {
					return err
				}
			}
		}
		return cw.Write(rec)
	})
	if err != nil {
		return err
	}
	cw.Flush()
	return cw.Error()
}

// exportCustom is a typed custom attribute as import reads it from
// attributes.custom.
type exportCustom struct {
	Type  string `json:"type"`
	Key   string `json:"key"`
	Value any    `json:"value"`
}

func writeCustomersJSONL(w io.Writer, tx *tagseg.Tx, seg *tagseg.Segment) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return members(seg, func(c tagseg.Customer) error {
		at, err := mrrAt(tx, c)
		if err != nil {
			return err
		}
		custom := []exportCustom{}
		for _, k := range slices.Sorted(maps.Keys(c.Custom)) {
			v := c.Custom[k]
			var jv any = v
			switch x := v.(type) {
			case float64:
				if _, err := customText(c, k, x); err != nil {
					return err
				}
			case time.Time:
				jv = timeText(x)
			}
			custom = append(custom, exportCustom{Type: customType(v), Key: k, Value: jv})
		}
		cj, err := json.Marshal(custom)
		if err != nil {
			return err
		}
		// The very type import decodes a line into, so that the shapes agree.
		row := api.NewCustomer{
			UUID: c.UUID, DataSourceUUID: &c.DataSourceUUID, ExternalID: &c.ExternalID,
			Name: c.Name, Email: c.Email, Company: c.Company,
			Country: c.Country, State: c.State, City: c.City, Zip: c.Zip,
			LeadCreatedAt: api.Nullable(timeText(c.LeadCreatedAt)), FreeTrialStartedAt: api.Nullable(timeText(c.FreeTrialStartedAt)),
			Attributes: &api.NewAttributes{Tags: api.TagsOf(c), Custom: cj},
			MRR:        json.RawMessage(strconv.FormatInt(c.MRR, 10)), MRRAt: api.Nullable(timeText(at)),
		}
		return enc.Encode(row)
	})
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
