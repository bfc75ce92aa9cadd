package main

// tagseg import: customers, tags and MRR from CSV or JSON Lines.
//
// Rows are read in a stream and written in batches, one transaction
// (Index.Update) a batch. A bad row (one that does not parse, or that the
// index refuses: a duplicate, an invalid tag, a bad custom attribute) is
// reported with its file and line; with -on-error skip the rest of its batch
// is imported, with -on-error abort the whole batch holding it is rolled
// back and the import stops. Earlier batches stay: the summary names the
// lines that landed, file by file.

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/tagseg/tagseg"
)

const importUsage = `-db PATH [-format csv|jsonl] [-batch 10000] [-on-error skip|abort] [-mrr-at TIME] [-tag-sep ,] FILE...

Imports customers in ChartMogul's customer shape. FILE "-" is standard input
(give -format). The format is taken from each file's extension (.csv; .jsonl,
.ndjson or .json for JSON Lines) unless -format is given.

CSV: a header row names the columns: uuid, data_source_uuid, external_id,
name, email, company, country, state, city, zip, lead_created_at,
free_trial_started_at, tags (or attributes.tags), mrr, mrr_at, and
custom.KEY or custom.KEY:TYPE (or attributes.custom.KEY...) with TYPE one of
String (the default), Integer, Decimal, Timestamp, Boolean. A tags cell is a
list separated by -tag-sep, or a JSON array of strings when it starts with
"[". Empty cells are absent values. Read-only columns of a ChartMogul export
(id, status, arr, ...) are ignored; any other column is an error.

JSON Lines: one customer object a line, as ChartMogul's API writes or takes
it: attributes.tags, attributes.custom as an object or as an array of
{"type", "key", "value"}; unknown fields are ignored; blank lines skipped.

mrr is the customer's current MRR in whole cents: a row with mrr > 0 records
SetMRR(uuid, at, mrr), where at is the row's mrr_at, else -mrr-at, else the
moment the import started. uuid keeps a customer's UUID (else one is made).`

func runImport(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("import", importUsage, stderr)
	db := dbFlag(fs)
	format := fs.String("format", "", "input `format`: csv or jsonl (default: from each file's extension)")
	batch := fs.Int("batch", 10000, "`rows` per transaction")
	onError := fs.String("on-error", "skip", "on a bad row: skip (report it, import the rest) or abort (roll back its batch and stop)")
	mrrAtFlag := fs.String("mrr-at", "", "`time` of the MRR of rows without mrr_at (default: when the import starts)")
	tagSep := fs.String("tag-sep", ",", "`separator` of the tags in a CSV tags cell")
	files, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := needDB(*db); err != nil {
		return err
	}
	if len(files) == 0 {
		return usagef("no input files")
	}
	if *format != "" && *format != "csv" && *format != "jsonl" {
		return usagef("-format %q: want csv or jsonl", *format)
	}
	if *batch < 1 {
		return usagef("-batch %d: want at least 1", *batch)
	}
	if *onError != "skip" && *onError != "abort" {
		return usagef("-on-error %q: want skip or abort", *onError)
	}
	if *tagSep == "" {
		return usagef("-tag-sep must not be empty")
	}
	start := time.Now()
	mrrAt := start.UTC()
	if *mrrAtFlag != "" {
		if mrrAt, err = parseTime(*mrrAtFlag); err != nil {
			return usagef("-mrr-at: %v", err)
		}
	}

	// Open every input and read the CSV headers first, so that a missing
	// file or a bad header stops the import before anything lands.
	var srcs []*source
	defer func() {
		for _, s := range srcs {
			s.close()
		}
	}()
	stdinUsed := false
	var total int64
	for _, name := range files {
		f := *format
		if f == "" {
			f = formatOf(name)
			if f == "" {
				return usagef("%s: cannot tell the format from the extension; give -format csv or -format jsonl", name)
			}
		}
		if name == "-" {
			if stdinUsed {
				return usagef("standard input (-) given twice")
			}
			stdinUsed = true
		}
		s, err := openSource(name, f, *tagSep)
		if s != nil {
			srcs = append(srcs, s)
		}
		if err != nil {
			return err
		}
		if total >= 0 && s.size >= 0 {
			total += s.size
		} else {
			total = -1
		}
	}

	ix, err := tagseg.Open(*db, nil)
	if err != nil {
		return err
	}
	defer ix.Close()

	im := &importer{ix: ix, batch: *batch, abort: *onError == "abort", mrrAt: mrrAt, stdout: stdout, stderr: stderr}
	if isTerminal(stderr) {
		im.bar = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(stderr),
			progressbar.OptionShowBytes(true),
			progressbar.OptionSetDescription("importing"),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
			progressbar.OptionSetWidth(30),
		)
		im.start = start
	}
	var runErr error
	for i, s := range srcs {
		if runErr = im.importSource(s); runErr != nil {
			for _, s := range srcs[i+1:] {
				im.pending = append(im.pending, s.name)
			}
			break
		}
	}
	if im.bar != nil {
		im.bar.Finish()
	}
	im.summary()
	elapsed := time.Since(start)
	fmt.Fprintf(stderr, "%d rows in %v (%.0f rows/s)\n", im.rows, elapsed.Round(time.Millisecond), float64(im.rows)/elapsed.Seconds())
	if runErr != nil {
		fmt.Fprintf(stderr, "tagseg import: %v\n", runErr)
		return errReported
	}
	return nil
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

// row is one input row: a customer to create, or the reason it is bad.
type row struct {
	line  int
	c     tagseg.Customer
	mrr   int64 // > 0: record SetMRR(uuid, mrrAt, mrr)
	mrrAt time.Time
	err   error
}

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

func openSource(name, format, tagSep string) (*source, error) {
	s := &source{name: name, size: -1}
	var r io.Reader
	if name == "-" {
		s.name = "stdin"
		r = os.Stdin
	} else {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		s.closer = f
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			s.size = fi.Size()
		}
		r = f
	}
	r = countingReader{r, &s.read}
	var err error
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
				return nil, fmt.Errorf("line 1: unknown column %q (want uuid, data_source_uuid, external_id, name, email, company, country, state, city, zip, lead_created_at, free_trial_started_at, tags, mrr, mrr_at or custom.KEY[:TYPE])", h)
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
		return nil, errors.New("empty file: no header row")
	}
	if err != nil {
		return nil, err
	}
	cols, err := csvHeader(header)
	if err != nil {
		return nil, err
	}
	return func() (row, error) {
		rec, err := cr.Read()
		if err == io.EOF {
			return row{}, io.EOF
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			line := pe.StartLine
			if line == 0 {
				line = pe.Line
			}
			if errors.Is(pe.Err, csv.ErrFieldCount) {
				return row{line: line, err: fmt.Errorf("%d fields, want %d as in the header", len(rec), len(cols))}, nil
			}
			return row{line: line, err: pe.Err}, nil
		}
		if err != nil {
			return row{}, err
		}
		line, _ := cr.FieldPos(0)
		return csvRow(line, rec, cols, tagSep), nil
	}, nil
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
			c.LeadCreatedAt, err = parseTime(v)
		case colFreeTrialStartedAt:
			c.FreeTrialStartedAt, err = parseTime(v)
		case colTags:
			c.Tags, err = splitTags(v, tagSep)
		case colCustom:
			if strings.TrimSpace(v) == "" {
				continue
			}
			typ := col.typ
			if typ == "" {
				typ = "String"
			}
			var val any
			if val, err = customValue(typ, v); err == nil {
				if c.Custom == nil {
					c.Custom = map[string]any{}
				}
				c.Custom[col.key] = val
			}
		case colMRR:
			if strings.TrimSpace(v) != "" {
				r.mrr, err = parseCents(v)
			}
		case colMRRAt:
			r.mrrAt, err = parseTime(v)
		}
		if err != nil {
			return fail(col, err)
		}
	}
	return r
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

func jsonRows(r io.Reader) func() (row, error) {
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
			return jsonRow(line, b), nil
		}
	}
}

func jsonRow(line int, b []byte) row {
	r := row{line: line}
	var n cmNewCustomer
	if err := decodeJSON(b, &n); err != nil {
		r.err = err
		return r
	}
	c, err := n.customer()
	if err != nil {
		r.err = err
		return r
	}
	r.c = c
	if raw := bytes.TrimSpace(n.MRR); len(raw) > 0 && string(raw) != "null" {
		s := string(raw)
		if raw[0] == '"' {
			json.Unmarshal(raw, &s)
		}
		if r.mrr, err = parseCents(s); err != nil {
			r.err = fieldErrorf("mrr", "%v", err)
			return r
		}
	}
	if r.mrrAt, err = parseTimeField("mrr_at", deref(n.MRRAt)); err != nil {
		r.err = err
	}
	return r
}

// decodeJSON decodes one JSON object into v, with errors that name the
// field and the byte offset rather than Go types.
func decodeJSON(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return jsonError(err)
	}
	if rest := bytes.TrimLeft(b[d.InputOffset():], " \t\r\n"); len(rest) > 0 {
		return fmt.Errorf("invalid JSON: data after the object at byte %d", len(b)-len(rest))
	}
	return nil
}

func jsonError(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Errorf("invalid JSON at byte %d: %s", se.Offset, strings.TrimPrefix(se.Error(), "json: "))
	case errors.As(err, &te):
		if te.Field == "" {
			return fmt.Errorf("invalid JSON: want %s, got %s", jsonKind(te.Type), te.Value)
		}
		return fmt.Errorf("invalid JSON: %s must be %s, not %s", te.Field, jsonKind(te.Type), te.Value)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("invalid JSON: unexpected end of input")
	}
	return fmt.Errorf("invalid JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
}

func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.String {
			return "an array of strings"
		}
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint32, reflect.Uint64, reflect.Float64:
		return "a number"
	}
	return t.String()
}

// ---- the import ----

// lineRange is a run of rows that landed, by line numbers.
type lineRange struct{ first, last int }

type fileStats struct {
	name            string
	rows, imp, skip int
	landed          []lineRange // lines of the rows that landed
	prevLanded      bool        // whether the file's previous row landed
	aborted         bool        // the import stopped in this file
	rolledBack      lineRange   // the rows read but not written when aborted
	why             string      // why they were not written
}

type importer struct {
	ix     *tagseg.Index
	batch  int
	abort  bool
	mrrAt  time.Time
	stdout io.Writer
	stderr io.Writer

	bar   *progressbar.ProgressBar
	start time.Time
	read  int64 // bytes of the files done

	files   []*fileStats
	pending []string // files not reached when the import stopped
	rows    int
}

func (im *importer) progress(s *source) {
	if im.bar == nil {
		return
	}
	im.bar.Set64(im.read + s.read)
	el := time.Since(im.start).Seconds()
	im.bar.Describe(fmt.Sprintf("%d rows, %.0f rows/s", im.rows, float64(im.rows)/max(el, 1e-3)))
}

// warn writes a diagnostic to stderr, above the progress bar.
func (im *importer) warn(format string, args ...any) {
	if im.bar != nil {
		im.bar.Clear()
	}
	fmt.Fprintf(im.stderr, format, args...)
}

// isRowError reports whether err is about the row itself (the index
// refused it and changed nothing), not about the index or the disk.
func isRowError(err error) bool {
	return errors.Is(err, tagseg.ErrDuplicate) || errors.Is(err, tagseg.ErrInvalidTag) ||
		errors.Is(err, tagseg.ErrInvalidField) || errors.Is(err, tagseg.ErrInvalid)
}

func (im *importer) importSource(s *source) error {
	fst := &fileStats{name: s.name}
	im.files = append(im.files, fst)
	defer func() {
		im.read += s.read
		s.close()
	}()
	var batch []row
	for {
		r, err := s.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if len(batch) > 0 {
				fst.rolledBack = lineRange{batch[0].line, batch[len(batch)-1].line}
			}
			fst.aborted, fst.why = true, "never written"
			return fmt.Errorf("%s: read error after line %d: %w", s.name, lastLine(batch, fst), err)
		}
		fst.rows++
		im.rows++
		batch = append(batch, r)
		if len(batch) == im.batch {
			if err := im.flush(fst, batch); err != nil {
				return err
			}
			batch = batch[:0]
			im.progress(s)
		} else if im.bar != nil && im.rows%1000 == 0 {
			im.progress(s)
		}
	}
	if len(batch) > 0 {
		if err := im.flush(fst, batch); err != nil {
			return err
		}
	}
	im.progress(s)
	return nil
}

func lastLine(batch []row, fst *fileStats) int {
	if len(batch) > 0 {
		return batch[len(batch)-1].line
	}
	if n := len(fst.landed); n > 0 {
		return fst.landed[n-1].last
	}
	return 1
}

// badRow is a row refused inside a batch.
type badRow struct {
	i   int
	err error
}

// abortError stops the import at a bad row in -on-error abort mode.
type abortError struct {
	line int
	err  error
}

func (e *abortError) Error() string { return e.err.Error() }

// flush writes one batch in one transaction.
func (im *importer) flush(fst *fileStats, batch []row) error {
	excluded := map[int]error{} // rows taken out after a failed try
	var bad []badRow
	for {
		bad = bad[:0]
		var retry *badRow
		err := im.ix.Update(func(tx *tagseg.Tx) error {
			for i, r := range batch {
				if err, ok := excluded[i]; ok {
					bad = append(bad, badRow{i, err})
					continue
				}
				if r.err != nil {
					if im.abort {
						return &abortError{r.line, r.err}
					}
					bad = append(bad, badRow{i, r.err})
					continue
				}
				c, err := tx.CreateCustomer(r.c)
				if err != nil {
					if !isRowError(err) {
						return err
					}
					if im.abort {
						return &abortError{r.line, err}
					}
					// A refused call changes nothing: go on with the batch.
					bad = append(bad, badRow{i, err})
					continue
				}
				if r.mrr > 0 {
					at := r.mrrAt
					if at.IsZero() {
						at = im.mrrAt
					}
					if err := tx.SetMRR(c.UUID, at, r.mrr); err != nil {
						if !isRowError(err) {
							return err
						}
						if im.abort {
							return &abortError{r.line, err}
						}
						// The customer is already created in this batch:
						// roll the batch back and redo it without the row.
						retry = &badRow{i, err}
						return err
					}
				}
			}
			return nil
		})
		if err != nil && retry != nil {
			excluded[retry.i] = retry.err
			continue
		}
		if err != nil {
			fst.aborted, fst.why = true, "its batch rolled back"
			fst.rolledBack = lineRange{batch[0].line, batch[len(batch)-1].line}
			var ae *abortError
			if errors.As(err, &ae) {
				im.warn("%s:%d: %v (aborting)\n", fst.name, ae.line, cleanErr(ae.err))
				return fmt.Errorf("aborted at %s line %d; its batch (%s) was rolled back", fst.name, ae.line, linesText([]lineRange{fst.rolledBack}))
			}
			return fmt.Errorf("%s: batch of %s rolled back: %w", fst.name, linesText([]lineRange{fst.rolledBack}), err)
		}
		break
	}
	// The batch landed: account for every row in order.
	bi := 0
	for i, r := range batch {
		if bi < len(bad) && bad[bi].i == i {
			im.warn("%s:%d: %v (skipped)\n", fst.name, r.line, cleanErr(bad[bi].err))
			fst.skip++
			fst.prevLanded = false
			bi++
			continue
		}
		fst.imp++
		if fst.prevLanded {
			fst.landed[len(fst.landed)-1].last = r.line
		} else {
			fst.landed = append(fst.landed, lineRange{r.line, r.line})
		}
		fst.prevLanded = true
	}
	return nil
}

// cleanErr drops the package prefix of the library's errors.
func cleanErr(err error) string {
	return strings.TrimPrefix(err.Error(), "tagseg: ")
}

func (r lineRange) String() string {
	if r.first == r.last {
		return strconv.Itoa(r.first)
	}
	return fmt.Sprintf("%d-%d", r.first, r.last)
}

// linesText writes line ranges: "line 7", "lines 2-6, 8".
func linesText(rs []lineRange) string {
	var b strings.Builder
	if len(rs) == 1 && rs[0].first == rs[0].last {
		b.WriteString("line ")
	} else {
		b.WriteString("lines ")
	}
	for i, r := range rs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(r.String())
	}
	return b.String()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}

// summary reports, file by file, which lines landed.
func (im *importer) summary() {
	var imp, skip, rb int
	for _, f := range im.files {
		fmt.Fprintf(im.stdout, "%s: %s read, %d imported", f.name, plural(f.rows, "row", "rows"), f.imp)
		if f.imp > 0 {
			fmt.Fprintf(im.stdout, " (%s)", linesText(f.landed))
		}
		if f.skip > 0 {
			fmt.Fprintf(im.stdout, ", %d skipped", f.skip)
		}
		if f.aborted && f.rolledBack.first > 0 {
			n := f.rows - f.imp - f.skip
			rb += n
			fmt.Fprintf(im.stdout, ", %d not imported (%s: %s)", n, linesText([]lineRange{f.rolledBack}), f.why)
		}
		fmt.Fprintln(im.stdout)
		imp += f.imp
		skip += f.skip
	}
	for _, name := range im.pending {
		fmt.Fprintf(im.stdout, "%s: not read\n", name)
	}
	fmt.Fprintf(im.stdout, "total: %s imported, %s skipped", plural(imp, "customer", "customers"), plural(skip, "row", "rows"))
	if rb > 0 {
		fmt.Fprintf(im.stdout, ", %s not imported", plural(rb, "row", "rows"))
	}
	if len(im.files) > 0 && im.files[len(im.files)-1].aborted {
		fmt.Fprintf(im.stdout, "; import stopped")
	}
	fmt.Fprintln(im.stdout)
}
