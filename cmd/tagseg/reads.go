package main

// The read commands query, tags and series, with the flags they share:
// the segment as -query Q or as arguments, or -segment NAME; -limit N
// (0: no limit) and -format table|csv|json (-json and -csv as
// shorthands). Customer lists are streamed: query -format csv '*' writes
// every customer in constant memory.

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"iter"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/tagseg/tagseg"
	"github.com/tagseg/tagseg/server/api"
)

// formatFlags are -format and its shorthands -json and -csv.
type formatFlags struct {
	format        *string
	asJSON, asCSV *bool
	jsonl         bool // -format jsonl is one of the formats
}

func addFormatFlags(fs *flag.FlagSet) formatFlags {
	return formatFlags{
		format: fs.String("format", "table", "output `format`: table, csv or json (money in cents in csv and json)"),
		asJSON: fs.Bool("json", false, "shorthand for -format json"),
		asCSV:  fs.Bool("csv", false, "shorthand for -format csv"),
	}
}

// get returns the format asked for.
func (f formatFlags) get(fs *flag.FlagSet) (string, error) {
	out := *f.format
	switch {
	case out == "table", out == "csv", out == "json":
	case out == "jsonl" && f.jsonl:
	case f.jsonl:
		return "", usagef("-format %q: want table, csv, json or jsonl", out)
	default:
		return "", usagef("-format %q: want table, csv or json", out)
	}
	explicit := flagSet(fs, "format")
	for _, sh := range []struct {
		on   bool
		name string
	}{{*f.asJSON, "json"}, {*f.asCSV, "csv"}} {
		if !sh.on {
			continue
		}
		if explicit && out != sh.name || out != "table" && out != sh.name {
			return "", usagef("-%s and -format %s disagree", sh.name, out)
		}
		out, explicit = sh.name, true
	}
	return out, nil
}

// readArgs are the flags every read command has.
type readArgs struct {
	db      *string
	query   *string
	segment *string
	limit   *int
	format  formatFlags
	server  *serverFlags
}

func addReadFlags(fs *flag.FlagSet, limit int, limitDoc string) readArgs {
	return readArgs{
		db:      dbFlag(fs),
		query:   fs.String("query", "", "the segment's `query` (or give it as arguments; default: every customer)"),
		segment: fs.String("segment", "", "use the saved segment `name` instead of a query"),
		limit:   fs.Int("limit", limit, limitDoc+" (0: no limit)"),
		format:  addFormatFlags(fs),
		server:  serverFlag(fs),
	}
}

// parse parses the flags and returns the query text (the -query flag or
// the arguments) and the output format.
func (ra readArgs) parse(fs *flag.FlagSet, args []string) (query, format string, err error) {
	pos, err := parseArgs(fs, args)
	if err != nil {
		return "", "", err
	}
	if ra.server.url == "" {
		if err := needDB(*ra.db); err != nil {
			return "", "", err
		}
	}
	query = strings.TrimSpace(strings.Join(pos, " "))
	if query != "" && *ra.query != "" {
		return "", "", usagef("give the query as -query or as arguments, not both")
	}
	if query == "" {
		query = *ra.query
	}
	if *ra.limit < 0 {
		return "", "", usagef("-limit %d: want 0 (no limit) or more", *ra.limit)
	}
	format, err = ra.format.get(fs)
	return query, format, err
}

// caseNoteTerm finds equality terms on string fields, whose values are
// compared exactly.
var caseNoteTerm = regexp.MustCompile(`\b(country|state|city|zip|data_source|name|company|external_id|custom\.[\p{L}\p{N}_.@+/-]+)\s*(:|=)\s*("(?:[^"\\]|\\.)*"|[\p{L}\p{N}_.@+/-]+)`)

// caseNote explains an empty segment whose string equalities would match
// in another letter case: "country:us" when the index holds "US".
func caseNote(ix *tagseg.Index, query string) string {
	for _, m := range caseNoteTerm.FindAllStringSubmatchIndex(query, 4) {
		field, value := query[m[2]:m[3]], query[m[6]:m[7]]
		quoted := strings.HasPrefix(value, `"`)
		raw := value
		if quoted {
			if u, err := strconv.Unquote(value); err == nil {
				raw = u
			}
		}
		for _, v := range []string{strings.ToUpper(raw), strings.ToLower(raw), titleCase(raw)} {
			if v == raw {
				continue
			}
			nv := v
			if quoted {
				nv = strconv.Quote(v)
			}
			q2 := query[:m[6]] + nv + query[m[7]:]
			e, err := tagseg.Parse(q2)
			if err != nil {
				continue
			}
			if n, err := ix.Count(e); err == nil && n > 0 {
				op := query[m[4]:m[5]]
				if op != ":" {
					op = " " + op + " "
				}
				return fmt.Sprintf("note: %s%s%s matches nobody, but %s%s%s would match %s (strings compare exactly)", field, op, value, field, op, nv, plural(int(n), "customer", "customers"))
			}
		}
	}
	return ""
}

// titleCase capitalizes each word: "new york" → "New York".
func titleCase(s string) string {
	words := strings.Split(strings.ToLower(s), " ")
	for i, w := range words {
		if w != "" {
			words[i] = strings.ToUpper(w[:1]) + w[1:]
		}
	}
	return strings.Join(words, " ")
}

// evalSegment resolves and evaluates the segment of a read command; an
// empty one whose string equalities would match in another case gets a
// note on stderr.
func evalSegment(ix *tagseg.Index, query, segment string, stderr io.Writer) (string, tagseg.Expr, *tagseg.Segment, error) {
	q, e, err := resolve(ix, query, segment)
	if err != nil {
		return "", e, nil, err
	}
	seg, err := ix.Segment(e)
	if err != nil {
		return "", e, nil, queryError(q, err)
	}
	if seg.Count() == 0 {
		if note := caseNote(ix, q); note != "" {
			fmt.Fprintln(stderr, note)
		}
	}
	return q, e, seg, nil
}

// ---- query ----

const queryUsage = `-db PATH [-segment NAME] [-limit 10] [-format table|csv|json|jsonl] [QUERY...]

Counts the customers of a segment and sums their MRR; lists the first -limit
of them (by dense ID; -limit 0 lists every one). QUERY may be several
arguments (joined with spaces) or -query Q; none means every customer. See
'tagseg help query' for the language.

-format csv and -format jsonl write the customers only, in the shape
import reads (as tagseg export does: tags, custom attributes with their
types, MRR with the time it was set), so that the file imports again;
-format json writes the figures and the customers as ChartMogul customer
objects. All are streamed: -limit 0 over millions of customers runs in
constant memory.`

func runQuery(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("query", queryUsage, stderr)
	ra := addReadFlags(fs, 10, "list at most `n` customers")
	ra.format.jsonl = true
	fs.Lookup("format").Usage = "output `format`: table, json, or csv or jsonl (the customers only, in the shape import reads; money in cents)"
	query, format, err := ra.parse(fs, args)
	if err != nil {
		return err
	}
	if rm := remoteFor(*ra.db, ra.server, stderr); rm != nil {
		if format == "csv" || format == "jsonl" {
			w := bufio.NewWriterSize(stdout, 64<<10)
			info, err := rm.export(exportRequest{query: query, segment: *ra.segment, format: format, limit: *ra.limit}, func(_ string, r io.Reader) error {
				_, err := io.Copy(w, r)
				return err
			})
			if err != nil {
				return err
			}
			unknownNotes(stderr, info.unknownTags)
			return w.Flush()
		}
		m, err := rm.metrics(query, *ra.segment)
		if err != nil {
			return err
		}
		return writeQuery(stdout, format, m, rm.customers(query, *ra.segment, *ra.limit), *ra.limit)
	}
	ix, err := openRead(*ra.db)
	if err != nil {
		return err
	}
	defer ix.Close()
	if format == "csv" || format == "jsonl" {
		return exportSegment(ix, stdout, stderr, query, *ra.segment, format, *ra.limit)
	}
	q, _, seg, err := evalSegment(ix, query, *ra.segment, stderr)
	if err != nil {
		return err
	}
	unknown := seg.UnknownTags()
	if unknown == nil {
		unknown = []string{}
	}
	m := api.Metrics{Query: q, Customers: seg.Count(), Paying: seg.Paying(), MRR: seg.MRR(), ARR: seg.ARR(), ARPA: seg.ARPA(), UnknownTags: unknown, UnknownFields: seg.UnknownFields()}
	return writeQuery(stdout, format, m, seg.ReadCustomers(0), *ra.limit)
}

// exportSegment writes the first limit customers of a segment (all when
// 0) in import's shape, CSV or JSON Lines, from one read transaction;
// tags nobody holds, or an empty segment whose string equalities would
// match in another case, get a note on stderr.
func exportSegment(ix *tagseg.Index, stdout, stderr io.Writer, query, segment, format string, limit int) error {
	q, e, err := resolve(ix, query, segment)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(stdout, 64<<10)
	err = ix.View(func(tx *tagseg.Tx) error {
		seg, err := tx.Segment(e)
		if err != nil {
			return queryError(q, err)
		}
		segmentNotes(ix, stderr, q, seg)
		each := api.SegmentMembers(seg, limit)
		if format == "csv" {
			return api.WriteCSV(w, tx, each)
		}
		return api.WriteJSONL(w, tx, each)
	})
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	return err
}

// segmentNotes says on stderr which tags of the query nobody holds, and
// for an empty segment whether its string equalities would match in
// another case.
func segmentNotes(ix *tagseg.Index, stderr io.Writer, q string, seg *tagseg.Segment) {
	unknownNotes(stderr, seg.UnknownTags())
	for _, f := range seg.UnknownFields() {
		fmt.Fprintf(stderr, "note: no customer has the attribute %s\n", f)
	}
	if seg.Count() == 0 {
		if note := caseNote(ix, q); note != "" {
			fmt.Fprintln(stderr, note)
		}
	}
}

// unknownNotes says on stderr which tags of a query nobody holds.
func unknownNotes(stderr io.Writer, tags []string) {
	for _, t := range tags {
		fmt.Fprintf(stderr, "note: no customer holds the tag %q\n", t)
	}
}

// writeQuery writes query's table or JSON: the figures m and the first
// limit customers of seq (all when 0), streamed.
func writeQuery(stdout io.Writer, format string, m api.Metrics, seq iter.Seq2[tagseg.Customer, error], limit int) error {
	w := bufio.NewWriterSize(stdout, 64<<10)
	var err error
	switch format {
	case "json":
		err = queryJSON(w, m, seq, limit)
	default:
		err = queryTable(w, m, seq, limit)
	}
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	return err
}

// firstN yields the segment's first limit customers (all when limit is 0).
func firstN(seq iter.Seq2[tagseg.Customer, error], limit int, fn func(c tagseg.Customer) error) (int, error) {
	n := 0
	for c, err := range seq {
		if err != nil {
			return n, err
		}
		if limit > 0 && n == limit {
			break
		}
		if err := fn(c); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func queryJSON(w io.Writer, m api.Metrics, seq iter.Seq2[tagseg.Customer, error], limit int) error {
	head, err := json.Marshal(m)
	if err != nil {
		return err
	}
	// The figures, then the entries one by one: {"query": ..., "entries": [...]}.
	fmt.Fprintf(w, "%s,\"entries\":[", head[:len(head)-1])
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	sep := "\n"
	_, err = firstN(seq, limit, func(c tagseg.Customer) error {
		if _, err := io.WriteString(w, sep); err != nil {
			return err
		}
		sep = ","
		return enc.Encode(api.CustomerOf(c))
	})
	if err != nil {
		return err
	}
	_, err = io.WriteString(w, "]}\n")
	return err
}

func queryTable(w io.Writer, m api.Metrics, seq iter.Seq2[tagseg.Customer, error], limit int) error {
	kv := &table{header: []string{"query", m.Query}, right: []bool{false, false}}
	kv.add("customers", count(m.Customers))
	kv.add("paying", count(m.Paying))
	kv.add("MRR", money(m.MRR))
	kv.add("ARR", money(m.ARR))
	kv.add("ARPA", money(m.ARPA))
	if u := m.UnknownTags; len(u) > 0 {
		kv.add("unknown tags", strings.Join(u, ", "))
	}
	if u := m.UnknownFields; len(u) > 0 {
		kv.add("unknown fields", strings.Join(u, ", ")+" (no customer has them)")
	}
	kv.write(w)
	newTable := func() *table {
		return &table{
			header: []string{"UUID", "EXTERNAL ID", "NAME", "EMAIL", "MRR", "TAGS"},
			right:  []bool{false, false, false, false, true, false},
		}
	}
	t := newTable()
	header := true
	// Rows are aligned in blocks of 1,000, so that -limit 0 streams.
	flushBlock := func() {
		if len(t.rows) == 0 {
			return
		}
		if header {
			fmt.Fprintln(w)
			t.write(w)
		} else {
			t.writeRows(w)
		}
		header = false
		t = newTable()
	}
	n, err := firstN(seq, limit, func(c tagseg.Customer) error {
		t.add(c.UUID, c.ExternalID, c.Name, c.Email, money(c.MRR), strings.Join(c.Tags, ", "))
		if len(t.rows) == 1000 {
			flushBlock()
		}
		return nil
	})
	flushBlock()
	if err != nil {
		return err
	}
	if n > 0 && uint64(n) < m.Customers {
		fmt.Fprintf(w, "(first %s of %s; -limit 0 lists all)\n", count(n), count(m.Customers))
	}
	return nil
}

// ---- tags ----

const tagsUsage = `-db PATH [-query Q | -segment NAME | QUERY...] [-prefix P] [-limit 50] [-by mrr|count] [-format table|csv|json]

Lists the tags the customers of a segment hold, with how many hold each
and their MRR, largest first (-limit 0: every tag).`

func runTags(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("tags", tagsUsage, stderr)
	ra := addReadFlags(fs, 50, "at most `n` tags")
	prefix := fs.String("prefix", "", "only tags starting with `prefix`")
	by := fs.String("by", "mrr", "sort by `mrr` or count")
	query, format, err := ra.parse(fs, args)
	if err != nil {
		return err
	}
	if *by != "mrr" && *by != "count" {
		return usagef("-by %q: want mrr or count", *by)
	}
	if rm := remoteFor(*ra.db, ra.server, stderr); rm != nil {
		res, err := rm.tagStats(query, *ra.segment, *prefix, *ra.limit, *by)
		if err != nil {
			return err
		}
		return writeTags(stdout, format, res)
	}
	ix, err := openRead(*ra.db)
	if err != nil {
		return err
	}
	defer ix.Close()
	q, e, seg, err := evalSegment(ix, query, *ra.segment, stderr)
	if err != nil {
		return err
	}
	stats, err := ix.TagStats(e, tagseg.TagStatsOptions{Prefix: *prefix, Limit: *ra.limit, ByCount: *by == "count"})
	if err != nil {
		return err
	}
	res := api.TagStats{Query: q, Customers: seg.Count(), MRR: seg.MRR(), Entries: []api.TagStat{}}
	for _, s := range stats {
		res.Entries = append(res.Entries, api.TagStat(s))
	}
	return writeTags(stdout, format, res)
}

func writeTags(stdout io.Writer, format string, res api.TagStats) error {
	switch format {
	case "json":
		return writeJSON(stdout, res)
	case "csv":
		w := csv.NewWriter(stdout)
		w.Write([]string{"tag", "customers", "mrr"})
		for _, s := range res.Entries {
			w.Write([]string{s.Tag, strconv.FormatUint(s.Customers, 10), i64(s.MRR)})
		}
		w.Flush()
		return w.Error()
	}
	fmt.Fprintf(stdout, "%s: %s customers, MRR %s\n", res.Query, count(res.Customers), money(res.MRR))
	if len(res.Entries) == 0 {
		fmt.Fprintln(stdout, "no tags")
		return nil
	}
	fmt.Fprintln(stdout)
	t := &table{
		header: []string{"TAG", "CUSTOMERS", "SHARE", "MRR", "MRR SHARE"},
		right:  []bool{false, true, true, true, true},
	}
	for _, s := range res.Entries {
		t.add(s.Tag, count(s.Customers), percent(s.Customers, res.Customers), money(s.MRR), percent(uint64(s.MRR), uint64(max(res.MRR, 0))))
	}
	t.write(stdout)
	return nil
}

// ---- series ----

func runSeries(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("series", seriesUsage, stderr)
	ra := addReadFlags(fs, 0, "at most `n` intervals, the last ones")
	fromFlag := fs.String("from", "", "first `date` (RFC 3339 date or time)")
	toFlag := fs.String("to", "", "last `date`, included")
	every := fs.String("every", "month", "`interval`: day, week, month, quarter or year")
	query, format, err := ra.parse(fs, args)
	if err != nil {
		return err
	}
	if *fromFlag == "" || *toFlag == "" {
		return usagef("-from and -to are required")
	}
	from, err := api.ParseTime(*fromFlag)
	if err != nil {
		return usagef("-from: %v", err)
	}
	to, err := api.ParseTime(*toFlag)
	if err != nil {
		return usagef("-to: %v", err)
	}
	if from.After(to) {
		return usagef("-from %s is after -to %s", *fromFlag, *toFlag)
	}
	iv, err := tagseg.ParseInterval(*every)
	if err != nil {
		return usagef("-every %q: want day, week, month, quarter or year", *every)
	}
	if rm := remoteFor(*ra.db, ra.server, stderr); rm != nil {
		sj, err := rm.series(query, *ra.segment, from, to, iv)
		if err != nil {
			return err
		}
		return writeSeries(stdout, format, sj, *ra.limit)
	}
	ix, err := openRead(*ra.db)
	if err != nil {
		return err
	}
	defer ix.Close()
	q, e, err := resolve(ix, query, *ra.segment)
	if err != nil {
		return err
	}
	sj := api.Series{Query: q, Interval: iv.String(), StartDate: from.Format(time.DateOnly), EndDate: to.Format(time.DateOnly)}
	err = ix.View(func(tx *tagseg.Tx) error {
		if sj.Customers, err = tx.Count(e); err != nil {
			return err
		}
		points, err := tx.Series(e, from, to, iv)
		for _, p := range points {
			sj.Entries = append(sj.Entries, api.SeriesEntryOf(p))
		}
		return err
	})
	if err != nil {
		return queryError(q, err)
	}
	return writeSeries(stdout, format, sj, *ra.limit)
}

// writeSeries writes a series, its last limit points when limit > 0.
func writeSeries(stdout io.Writer, format string, sj api.Series, limit int) error {
	if limit > 0 && len(sj.Entries) > limit {
		sj.Entries = sj.Entries[len(sj.Entries)-limit:]
	}
	switch format {
	case "json":
		return writeJSON(stdout, sj)
	case "csv":
		w := csv.NewWriter(stdout)
		w.Write([]string{"date", "start", "mrr", "paying", "arpa", "arr", "new_business", "expansion", "contraction", "churn", "reactivation"})
		for _, e := range sj.Entries {
			w.Write([]string{e.Date, e.Start, i64(e.MRR), strconv.FormatUint(e.Paying, 10), i64(e.ARPA), i64(e.ARR),
				i64(e.NewBusiness), i64(e.Expansion), i64(e.Contraction), i64(e.Churn), i64(e.Reactivation)})
		}
		w.Flush()
		return w.Error()
	}
	fmt.Fprintf(stdout, "%s, every %s\n\n", sj.Query, sj.Interval)
	t := &table{
		header: []string{"DATE", "MRR", "PAYING", "ARPA", "ARR", "NEW BUSINESS", "EXPANSION", "CONTRACTION", "CHURN", "REACTIVATION"},
		right:  []bool{false, true, true, true, true, true, true, true, true, true},
	}
	for _, e := range sj.Entries {
		t.add(e.Date, money(e.MRR), count(e.Paying), money(e.ARPA), money(e.ARR),
			money(e.NewBusiness), money(e.Expansion), money(e.Contraction), money(e.Churn), money(e.Reactivation))
	}
	t.write(stdout)
	return nil
}
