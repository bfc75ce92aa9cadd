package main

// tagseg import: customers, tags and MRR from CSV or JSON Lines.
//
// Rows are read in a stream. The customers of a file, with their MRR, are
// the input of Index.Load, which commits them in durable batches of up to
// 65,536 (one transaction a batch; a file's last batch ends with the file).
// A bad row (one that does not parse, or that the index refuses: a
// duplicate, an invalid tag, a bad custom attribute) is reported with its
// file and line. With -on-error skip the rest is imported: Load rolls back
// the batch holding a row it refuses and stops, so the import calls it
// again with the rows of that batch but the bad one, then the rest of the
// file (the rows not yet committed are kept in memory, at most 65,536
// customers). With -on-error abort the batch holding the bad row is rolled
// back and the import stops. Earlier batches stay: the summary names the
// lines that landed, file by file.

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/tagseg/tagseg"
	"github.com/tagseg/tagseg/server/api"
)

const importUsage = `-db PATH [-on-duplicate refuse|last] [-dry-run] [flags] FILE...

Imports customers in ChartMogul's customer shape, or with -events their MRR
histories. FILE "-" is standard input (give -format). The format is taken
from each file's extension (.csv; .jsonl, .ndjson or .json for JSON Lines)
unless -format is given. The index is created when it does not exist.

A row names its customer by uuid, or by (data_source_uuid, external_id).
A customer that exists is updated: the attributes the row gives replace
the stored ones (empty cells leave them), custom attributes are merged key
by key, tags are added (-replace-tags: the row's tags become the customer's
tags), and mrr is recorded (see below). One that does not exist is
created. So importing a file twice leaves the index as importing it once.
A row with neither key is refused unless -allow-unkeyed (it is then created
on every run). A file names each customer once: a row naming a customer
that an earlier row of the same file named (by uuid or by external ID) is
refused, and the message gives both lines; -on-duplicate last applies it
over the earlier instead, as importing it again would.

CSV: a header row names the columns: uuid, data_source_uuid, external_id,
name, email, company, country, state, city, zip, lead_created_at,
free_trial_started_at, tags (or attributes.tags), mrr, mrr_at, and
custom.KEY or custom.KEY:TYPE (or attributes.custom.KEY...) with TYPE one of
String (the default), Integer, Decimal, Timestamp, Boolean. A tags cell is a
list separated by -tag-sep, or a JSON array of strings when it starts with
"[". Empty cells are absent values. Read-only columns of a ChartMogul export
(id, status, arr, ...) are ignored; any other column is an error. A quoted
field that never closes stops the file at its line.

JSON Lines: one customer object a line, as ChartMogul's API writes or takes
it: attributes.tags, attributes.custom as an object or as an array of
{"type", "key", "value"}; unknown fields are ignored; blank lines skipped.

mrr is the customer's MRR in whole cents from the row's mrr_at on, else
from -mrr-at, as SetMRR records it; an event already in the history is not
recorded again. Without mrr_at and -mrr-at it is recorded at the moment the
import started, unless the MRR in effect then is already mrr (so that a
re-run adds no events). Emails must be one address (RFC 5322, as net/mail
reads it).

Rows are written in batches of -batch rows: new customers with Index.Load,
updates in one Update transaction a batch. A row that does not parse or
that the index refuses is reported as FILE:LINE: reason (refused); the
others are written. The summary says how many rows landed. The exit status
is 1 when a row was refused, unless -skip-bad. Ctrl-C or SIGTERM stop the
import after the batch being written; the last lines say how far each file
is written and how to resume with -from-line. -dry-run checks every row
against the index and writes nothing.

When tagseg serve holds the index (its serve note is beside it), or with
-server URL, the rows go through the server, in transactions of up to
2,000 rows each, with the same rules.

` + eventsHelp

// flagSet reports whether flag name was given.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// formatOf tells the format from a file's extension.
func formatOf(name string) string {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".csv":
		return "csv"
	case ".jsonl", ".ndjson", ".json":
		return "jsonl"
	}
	return ""
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// row is one input row: a customer to create or update, or the reason it
// is bad.
type row struct {
	line      int
	c         tagseg.Customer
	tagsGiven bool  // the row has a tags value (maybe empty): -replace-tags sets the tags to it
	hasMRR    bool  // the row has an mrr value (maybe 0)
	mrr       int64 // cents
	mrrAt     time.Time
	err       error
}

// stopError is a read error after which a file cannot be read on (a CSV
// quote that never closes swallows the rest of the file): the import of
// the file stops at line.
type stopError struct {
	line int
	err  error
}

func (e *stopError) Error() string { return fmt.Sprintf("line %d: %v", e.line, e.err) }

// source is one input file.
type source struct {
	name   string // as shown in reports
	size   int64  // bytes, -1 if unknown
	read   int64  // bytes read so far
	closer io.Closer
	next   func() (row, error) // io.EOF at the end; other errors are fatal
}

func (s *source) close() {
	if s.closer != nil {
		s.closer.Close()
		s.closer = nil
	}
}

type countingReader struct {
	r io.Reader
	n *int64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	*c.n += int64(n)
	return n, err
}

// openInput opens an input file ("-": standard input) as a source,
// counting the bytes read; next is for the caller to set.
func openInput(name string) (*source, io.Reader, error) {
	s := &source{name: name, size: -1}
	if name == "-" {
		s.name = "stdin"
		return s, countingReader{os.Stdin, &s.read}, nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, nil, err
	}
	s.closer = f
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
		s.size = fi.Size()
	}
	return s, countingReader{f, &s.read}, nil
}

func openSource(name, format, tagSep string) (*source, error) {
	s, r, err := openInput(name)
	if err != nil {
		return nil, err
	}
	switch format {
	case "csv":
		s.next, err = csvRows(r, tagSep)
		if err != nil {
			err = fmt.Errorf("%s: %w", s.name, err)
		}
	case "jsonl":
		s.next = jsonRows(r)
	}
	return s, err
}

// ---- CSV ----

type colKind int

const (
	colIgnore colKind = iota
	colUUID
	colDataSource
	colExternalID
	colName
	colEmail
	colCompany
	colCountry
	colState
	colCity
	colZip
	colLeadCreatedAt
	colFreeTrialStartedAt
	colTags
	colCustom
	colMRR
	colMRRAt
)

var csvColumns = map[string]colKind{
	"uuid":                  colUUID,
	"data_source_uuid":      colDataSource,
	"external_id":           colExternalID,
	"name":                  colName,
	"email":                 colEmail,
	"company":               colCompany,
	"country":               colCountry,
	"state":                 colState,
	"city":                  colCity,
	"zip":                   colZip,
	"lead_created_at":       colLeadCreatedAt,
	"free_trial_started_at": colFreeTrialStartedAt,
	"tags":                  colTags,
	"attributes.tags":       colTags,
	"mrr":                   colMRR,
	"mrr_at":                colMRRAt,
	// Read-only fields of a ChartMogul customer export.
	"id": colIgnore, "status": colIgnore, "customer-since": colIgnore, "arr": colIgnore,
	"data_source_uuids": colIgnore, "external_ids": colIgnore, "billing-system-url": colIgnore,
	"chartmogul-url": colIgnore, "billing-system-type": colIgnore, "currency": colIgnore,
	"currency-sign": colIgnore, "owner": colIgnore, "website_url": colIgnore,
}

type csvCol struct {
	kind colKind
	name string // column name as in the header
	key  string // custom attribute key
	typ  string // custom attribute type
}

// csvHeader reads the column specs from a header row.
func csvHeader(header []string) ([]csvCol, error) {
	cols := make([]csvCol, len(header))
	seen := map[string]bool{}
	for i, h := range header {
		if i == 0 {
			h = strings.TrimPrefix(h, "\ufeff")
		}
		h = strings.TrimSpace(h)
		lower := strings.ToLower(h)
		col := csvCol{name: h}
		switch {
		case strings.HasPrefix(lower, "custom.") || strings.HasPrefix(lower, "attributes.custom."):
			key := h[strings.Index(lower, "custom.")+len("custom."):]
			if k, t, ok := strings.Cut(key, ":"); ok {
				key = k
				switch strings.ToLower(t) {
				case "string", "integer", "decimal", "timestamp", "boolean":
				default:
					return nil, fmt.Errorf("line 1: column %q: unknown type %q (want String, Integer, Decimal, Timestamp or Boolean)", h, t)
				}
				col.typ = t
			}
			if key == "" {
				return nil, fmt.Errorf("line 1: column %q: no custom attribute key", h)
			}
			col.kind, col.key = colCustom, key
			lower = "custom." + key
		default:
			k, ok := csvColumns[lower]
			if !ok {
				if h == "" {
					return nil, fmt.Errorf("line 1: column %d has no name", i+1)
				}
				hint := ""
				if s := suggest(h, slices.Collect(maps.Keys(csvColumns))); s != "" {
					hint = fmt.Sprintf("did you mean %q? ", s)
				}
				return nil, fmt.Errorf("line 1: unknown column %q (%swant uuid, data_source_uuid, external_id, name, email, company, country, state, city, zip, lead_created_at, free_trial_started_at, tags, mrr, mrr_at or custom.KEY[:TYPE])", h, hint)
			}
			col.kind = k
			if k == colTags {
				lower = "tags"
			}
		}
		if col.kind != colIgnore {
			if seen[lower] {
				return nil, fmt.Errorf("line 1: column %q given twice", h)
			}
			seen[lower] = true
		}
		cols[i] = col
	}
	return cols, nil
}

func csvRows(r io.Reader, tagSep string) (func() (row, error), error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err == io.EOF {
		// An empty file has no rows, as an empty JSON Lines file.
		return func() (row, error) { return row{}, io.EOF }, nil
	}
	if err != nil {
		return nil, err
	}
	cols, err := csvHeader(header)
	if err != nil {
		return nil, err
	}
	return readRecords(cr, len(cols), func(line int, rec []string) row { return csvRow(line, rec, cols, tagSep) }), nil
}

// readRecords reads the records after a header of width fields, each made
// a row by build; a malformed record is a bad row (csvBadRow), io.EOF the
// end.
func readRecords(cr *csv.Reader, width int, build func(line int, rec []string) row) func() (row, error) {
	return func() (row, error) {
		rec, err := cr.Read()
		if err == io.EOF {
			return row{}, io.EOF
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return csvBadRow(pe, fmt.Sprintf("%d fields, want %d as in the header", len(rec), width))
		}
		if err != nil {
			return row{}, err
		}
		line, _ := cr.FieldPos(0)
		return build(line, rec), nil
	}
}

func csvRow(line int, rec []string, cols []csvCol, tagSep string) row {
	r := row{line: line}
	c := &r.c
	fail := func(col csvCol, err error) row {
		return row{line: line, err: fmt.Errorf("%s: %v", col.name, err)}
	}
	for i, col := range cols {
		v := rec[i]
		var err error
		switch col.kind {
		case colUUID:
			c.UUID = strings.TrimSpace(v)
		case colDataSource:
			c.DataSourceUUID = v
		case colExternalID:
			c.ExternalID = v
		case colName:
			c.Name = v
		case colEmail:
			c.Email = v
			var fe *api.FieldError
			if errors.As(api.CheckEmail(v), &fe) {
				err = errors.New(fe.Msg) // the column is named below
			}
		case colCompany:
			c.Company = v
		case colCountry:
			c.Country = v
		case colState:
			c.State = v
		case colCity:
			c.City = v
		case colZip:
			c.Zip = v
		case colLeadCreatedAt:
			c.LeadCreatedAt, err = api.ParseTime(v)
		case colFreeTrialStartedAt:
			c.FreeTrialStartedAt, err = api.ParseTime(v)
		case colTags:
			c.Tags, err = splitTags(v, tagSep)
			r.tagsGiven = true
		case colCustom:
			if strings.TrimSpace(v) == "" {
				continue
			}
			typ := col.typ
			if typ == "" {
				typ = "String"
			}
			var val any
			if val, err = api.CustomValue(typ, v); err == nil {
				if c.Custom == nil {
					c.Custom = map[string]any{}
				}
				c.Custom[col.key] = val
			}
		case colMRR:
			if strings.TrimSpace(v) != "" {
				r.mrr, err = api.ParseCents(v)
				r.hasMRR = true
			}
		case colMRRAt:
			r.mrrAt, err = api.ParseTime(v)
		}
		if err != nil {
			return fail(col, err)
		}
	}
	return r
}

// csvBadRow turns a CSV parse error into a bad row, or, for a quoted
// field that does not close where it should, a stopError: the reader took
// the lines after it into the field, so nothing after its line can be
// trusted. fieldCount is the message for a row of the wrong width.
func csvBadRow(pe *csv.ParseError, fieldCount string) (row, error) {
	line := pe.StartLine
	if line == 0 {
		line = pe.Line
	}
	switch {
	case errors.Is(pe.Err, csv.ErrFieldCount):
		return row{line: line, err: errors.New(fieldCount)}, nil
	case errors.Is(pe.Err, csv.ErrQuote):
		return row{}, &stopError{line, fmt.Errorf("malformed CSV: a quoted field starting on this line does not close (%v); this and the lines after it were not imported", pe.Err)}
	}
	return row{line: line, err: fmt.Errorf("malformed CSV: %v", pe.Err)}, nil
}

// splitTags reads a CSV tags cell: a JSON array of strings when it starts
// with "[", else a list separated by sep. Empty items of a list are skipped
// (a trailing separator is harmless); each tag is trimmed by the index.
func splitTags(v, sep string) ([]string, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil, nil
	}
	if strings.HasPrefix(v, "[") {
		var tags []string
		if err := json.Unmarshal([]byte(v), &tags); err != nil {
			return nil, fmt.Errorf("not a JSON array of strings: %v", err)
		}
		return tags, nil
	}
	var tags []string
	for t := range strings.SplitSeq(v, sep) {
		if strings.TrimSpace(t) != "" {
			tags = append(tags, t)
		}
	}
	return tags, nil
}

// ---- JSON Lines ----

func jsonRows(r io.Reader) func() (row, error) { return jsonLines(r, jsonRow) }

// jsonLines reads JSON Lines: each non-blank line, trimmed, with its line
// number, goes to parse; the reader returns io.EOF at the end.
func jsonLines(r io.Reader, parse func(line int, b []byte) row) func() (row, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	line := 0
	return func() (row, error) {
		for {
			b, err := br.ReadBytes('\n')
			if len(b) == 0 && err != nil {
				return row{}, err // io.EOF at the end
			}
			if err != nil && err != io.EOF {
				return row{}, err
			}
			line++
			b = bytes.TrimSpace(b)
			if len(b) == 0 {
				continue
			}
			return parse(line, b), nil
		}
	}
}

func jsonRow(line int, b []byte) row {
	r := row{line: line}
	var n api.NewCustomer
	if err := api.DecodeJSON(b, &n); err != nil {
		r.err = err
		if b[0] != '{' && b[0] != '[' {
			r.err = fmt.Errorf("%w (the line is not a JSON object: is the file CSV? give -format csv)", err)
		}
		return r
	}
	ir, err := api.ImportRowOf(&n)
	r.c, r.tagsGiven, r.hasMRR, r.mrr, r.mrrAt, r.err = ir.Customer, ir.TagsGiven, ir.HasMRR, ir.MRR, ir.MRRAt, err
	return r
}

// cleanErr drops the package prefix of the library's errors.
func cleanErr(err error) string {
	return strings.TrimPrefix(err.Error(), "tagseg: ")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return count(n) + " " + many
}
