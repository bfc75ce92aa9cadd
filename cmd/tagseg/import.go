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
	"iter"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/tagseg/tagseg"
)

const importUsage = `-db PATH [-format csv|jsonl] [-on-error skip|abort] [-mrr-at TIME] [-tag-sep ,] FILE...

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
an MRR change to mrr at the row's mrr_at, else -mrr-at, else the moment the
import started (as SetMRR would). uuid keeps a customer's UUID (else one is
made).

Customers are created with Index.Load, in durable batches of up to 65,536
(one transaction each; a file's last batch ends with the file, and a row the
index refuses with -on-error skip may end one early). A bad row is
reported as FILE:LINE: reason. With -on-error skip the other rows are
imported; with -on-error abort the import stops, and the batch holding the
bad row is rolled back. Earlier batches stay: the summary names the lines
that landed. -batch is ignored (it set the rows per transaction).`

func runImport(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("import", importUsage, stderr)
	db := dbFlag(fs)
	format := fs.String("format", "", "input `format`: csv or jsonl (default: from each file's extension)")
	batch := fs.Int("batch", 0, "ignored, kept for old scripts (it set the `rows` per transaction; transactions are now Load's batches of up to 65,536 customers)")
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
	if flagSet(fs, "batch") && *batch < 1 {
		return usagef("-batch %d: want at least 1", *batch) // as when it counted
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

	im := &importer{ix: ix, abort: *onError == "abort", mrrAt: mrrAt, stdout: stdout, stderr: stderr}
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
	lastLine        int         // the line of the last row read
	landed          []lineRange // lines of the rows that landed
	prevLanded      bool        // whether the file's previous row landed
	aborted         bool        // the import stopped in this file
	rolledBack      lineRange   // the rows read but not written when aborted
	why             string      // why they were not written
}

type importer struct {
	ix     *tagseg.Index
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

// loadArgs is what Index.Load takes for a row: the customer, and its MRR
// (rows with mrr > 0 only) at mrr_at, else -mrr-at.
func (im *importer) loadArgs(r *row) (tagseg.Customer, []tagseg.MRRChange) {
	if r.mrr <= 0 {
		return r.c, nil
	}
	at := r.mrrAt
	if at.IsZero() {
		at = im.mrrAt
	}
	return r.c, []tagseg.MRRChange{{At: at, Cents: r.mrr}}
}

// loadBatchMax is the most customers Index.Load commits in one
// transaction. Load commits a batch as soon as it has its last customer,
// before it takes the next: once it has taken the customer at index k of
// its input, those at k-loadBatchMax+1 and before have landed.
const loadBatchMax = 1 << 16

// prefixMin: when Load refuses an invalid row, the good rows before it
// since its last commit were rolled back with it and are given to Load
// again. With at least prefixMin of them they are loaded on their own
// first (a transaction that ends early), so that a file with many bad rows
// does not make Load take the same rows over and over.
const prefixMin = 1024

// stopper is a customer Load must refuse (an empty tag is an invalid tag,
// a negative MRR an invalid argument). Ending Load's input commits the
// batch in progress; yielding stopper stops Load and rolls that batch back.
var (
	stopper    = tagseg.Customer{Tags: []string{""}}
	stopperMRR = []tagseg.MRRChange{{At: time.Unix(0, 0).UTC(), Cents: -1}}
)

// pendRow is a row of the file being imported whose fate is not settled
// yet: one to create that Load has not committed, or a bad row, reported
// once the rows before it are settled (so that reports come in file order).
type pendRow struct {
	row
	idx     int  // its index in the input of the current Load call; -1 if not given to it
	checked bool // not in the index when dupSweep looked it up
}

// badRow is a row the index refused.
type badRow struct {
	p   *pendRow
	err error
}

// fileLoad imports one file: its rows to create are the input of
// Index.Load, called again after each row it refuses (-on-error skip) with
// the rows since its last commit (at most loadBatchMax) and the rest.
type fileLoad struct {
	im  *importer
	s   *source
	fst *fileStats

	q    []*pendRow // rows read and not settled, in file order, from q[head]
	head int

	eof     bool
	readErr error    // a read error stopped the input
	stopRow *pendRow // -on-error abort: the row that does not parse and stopped the input
	stopIdx int      // the index of stopper in the current call's input, or -1
	maxIdx  int      // the highest index settled as landed in the current call, or -1
}

// seq is the input of one Load call: the unsettled rows to create, then,
// with readMore, the rest of the file.
func (fl *fileLoad) seq(readMore bool) iter.Seq2[tagseg.Customer, []tagseg.MRRChange] {
	im := fl.im
	return func(yield func(tagseg.Customer, []tagseg.MRRChange) bool) {
		k := 0 // customers yielded
		give := func(p *pendRow) bool {
			p.idx = k
			if !yield(im.loadArgs(&p.row)) {
				return false
			}
			k++
			fl.settle(k - loadBatchMax)
			return true
		}
		for _, p := range fl.q[fl.head:] { // settle may reallocate fl.q, not this
			if p.err == nil && !give(p) {
				return
			}
		}
		for readMore && !fl.eof {
			var r row
			err := fl.readErr // a read error stops every call (Load may have stopped before stopper)
			if err == nil {
				r, err = fl.s.next()
			}
			if err == io.EOF {
				fl.eof = true
				return
			}
			if err != nil {
				fl.readErr = err
				fl.stopIdx = k
				yield(stopper, stopperMRR)
				return
			}
			fl.fst.rows++
			fl.fst.lastLine = r.line
			im.rows++
			if im.bar != nil && im.rows%1000 == 0 {
				im.progress(fl.s)
			}
			p := &pendRow{row: r, idx: -1}
			if r.err != nil && im.abort {
				fl.stopRow, fl.stopIdx = p, k
				yield(stopper, stopperMRR)
				return
			}
			fl.q = append(fl.q, p)
			if r.err != nil {
				fl.settle(k - loadBatchMax) // reported now if nothing is pending before it
				continue
			}
			if !give(p) {
				return
			}
		}
	}
}

// settle accounts, in file order, for the rows at the front of the queue
// whose fate is known: bad rows are reported as skipped, and rows given to
// the current Load call at index through or before landed.
func (fl *fileLoad) settle(through int) {
	fst := fl.fst
	for fl.head < len(fl.q) {
		p := fl.q[fl.head]
		switch {
		case p.err != nil:
			fl.im.warn("%s:%d: %v (skipped)\n", fst.name, p.line, cleanErr(p.err))
			fst.skip++
			fst.prevLanded = false
		case p.idx >= 0 && p.idx <= through:
			fl.maxIdx = max(fl.maxIdx, p.idx)
			fst.imp++
			if fst.prevLanded {
				fst.landed[len(fst.landed)-1].last = p.line
			} else {
				fst.landed = append(fst.landed, lineRange{p.line, p.line})
			}
			fst.prevLanded = true
		default:
			return
		}
		fl.q[fl.head] = nil
		fl.head++
		if fl.head >= 4096 && fl.head*2 >= len(fl.q) {
			fl.q = append([]*pendRow(nil), fl.q[fl.head:]...)
			fl.head = 0
		}
	}
}

func (im *importer) importSource(s *source) error {
	fst := &fileStats{name: s.name}
	im.files = append(im.files, fst)
	defer func() {
		im.read += s.read
		s.close()
	}()
	fl := &fileLoad{im: im, s: s, fst: fst}
	readMore := true
	for {
		for _, p := range fl.q[fl.head:] {
			p.idx = -1
		}
		fl.stopIdx, fl.maxIdx = -1, -1
		n, err := im.ix.Load(fl.seq(readMore))
		if fl.maxIdx >= n {
			// Load took a batch back after this counted it as landed.
			return fl.fail("its batch rolled back", fmt.Errorf("%s: Load created %d customers, fewer than it had taken in committed batches; the summary may be wrong: %v", s.name, n, err))
		}
		fl.settle(n - 1)
		if err == nil {
			if fl.stopIdx >= 0 {
				return fl.fail("never written", fmt.Errorf("%s: the index took a customer it must refuse (an empty tag)", s.name))
			}
			if fl.eof {
				break
			}
			readMore = true // the rows before a refused one are in
			continue
		}
		var le *tagseg.LoadError
		if !errors.As(err, &le) || le.Index < n {
			return fl.fail("its batch rolled back", fmt.Errorf("%s: batch of %s rolled back: %w", s.name, linesText([]lineRange{fl.unsettled()}), err))
		}
		if le.Index == fl.stopIdx {
			if fl.readErr != nil {
				line := max(fst.lastLine, 1)
				return fl.fail("never written", fmt.Errorf("%s: read error after line %d: %w", s.name, line, fl.readErr))
			}
			return fl.abortAt(fl.stopRow, fl.stopRow.err)
		}
		p := fl.given(le.Index)
		if p == nil {
			return fl.fail("its batch rolled back", fmt.Errorf("%s: %w (no such row given)", s.name, err))
		}
		bad := []badRow{{p, le.Err}}
		if errors.Is(le.Err, tagseg.ErrDuplicate) {
			// Found as the batch commits: name the first duplicate in
			// file order, and every other one of the batch at once.
			dups, err := fl.dupSweep()
			if err != nil {
				return fl.fail("its batch rolled back", fmt.Errorf("%s: looking for duplicates: %w", s.name, err))
			}
			if len(dups) > 0 {
				bad = dups
			}
		}
		if im.abort {
			return fl.abortAt(bad[0].p, bad[0].err)
		}
		for _, b := range bad {
			b.p.err = b.err
		}
		readMore = errors.Is(le.Err, tagseg.ErrDuplicate) || le.Index-n < prefixMin
		fl.settle(-1)
	}
	fl.settle(-1)
	im.progress(s)
	return nil
}

// given returns the row given to the current Load call at index i.
func (fl *fileLoad) given(i int) *pendRow {
	for _, p := range fl.q[fl.head:] {
		if p.idx == i {
			return p
		}
	}
	return nil
}

// unsettled returns the lines of the rows to create not settled, and of the
// row that stopped the input.
func (fl *fileLoad) unsettled() lineRange {
	var r lineRange
	add := func(p *pendRow) {
		if r.first == 0 {
			r.first = p.line
		}
		r.last = p.line
	}
	for _, p := range fl.q[fl.head:] {
		if p.err == nil {
			add(p)
		}
	}
	if fl.stopRow != nil {
		add(fl.stopRow)
	}
	return r
}

// fail stops the import in this file: the rows to create not settled are
// not imported (why says why); bad rows among them are reported.
func (fl *fileLoad) fail(why string, err error) error {
	fst := fl.fst
	fst.aborted, fst.why, fst.rolledBack = true, why, fl.unsettled()
	for _, p := range fl.q[fl.head:] {
		if p.err != nil {
			fl.im.warn("%s:%d: %v (skipped)\n", fst.name, p.line, cleanErr(p.err))
			fst.skip++
		}
	}
	fl.q, fl.head = nil, 0
	return err
}

// abortAt stops the import at bad row p (-on-error abort): the batch
// holding it is rolled back.
func (fl *fileLoad) abortAt(p *pendRow, why error) error {
	fst := fl.fst
	fl.im.warn("%s:%d: %v (aborting)\n", fst.name, p.line, cleanErr(why))
	fl.fail("its batch rolled back", nil)
	return fmt.Errorf("aborted at %s line %d; its batch (%s) was rolled back", fst.name, p.line, linesText([]lineRange{fst.rolledBack}))
}

// dupSweep finds the rows to create that are duplicates, of a customer in
// the index or of an earlier row to create (the first one wins, as when
// rows are created one by one), and says so as CreateCustomer would. Load
// finds one duplicate a try, as it commits a batch; this finds them all
// at once, between Load calls, when reads see every commit. A row once
// found not in the index is not looked up again: the rows that landed
// since come before it in the file.
func (fl *fileLoad) dupSweep() ([]badRow, error) {
	type extKey struct{ ds, ext string }
	uuids := map[string]bool{}
	exts := map[extKey]bool{}
	var bad []badRow
	err := fl.im.ix.View(func(tx *tagseg.Tx) error {
		exists := func(err error) (bool, error) {
			if err == nil {
				return true, nil
			}
			if errors.Is(err, tagseg.ErrNotFound) {
				return false, nil
			}
			return false, err
		}
		for _, p := range fl.q[fl.head:] {
			if p.err != nil {
				continue
			}
			c := &p.c
			ek := extKey{c.DataSourceUUID, c.ExternalID}
			dupUUID := c.UUID != "" && uuids[c.UUID]
			dupExt := c.ExternalID != "" && exts[ek]
			if !p.checked {
				var err error
				if c.UUID != "" && !dupUUID {
					_, err = tx.Customer(c.UUID)
					if dupUUID, err = exists(err); err != nil {
						return err
					}
				}
				if c.ExternalID != "" && !dupUUID && !dupExt {
					_, err = tx.CustomerByExternalID(c.DataSourceUUID, c.ExternalID)
					if dupExt, err = exists(err); err != nil {
						return err
					}
				}
				p.checked = !dupUUID && !dupExt
			}
			switch {
			case dupUUID:
				bad = append(bad, badRow{p, fmt.Errorf("create customer %s: UUID exists: %w", c.UUID, tagseg.ErrDuplicate)})
			case dupExt:
				bad = append(bad, badRow{p, fmt.Errorf("create customer: external ID %q in data source %q exists: %w", c.ExternalID, c.DataSourceUUID, tagseg.ErrDuplicate)})
			default:
				if c.UUID != "" {
					uuids[c.UUID] = true
				}
				if c.ExternalID != "" {
					exts[ek] = true
				}
			}
		}
		return nil
	})
	return bad, err
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
