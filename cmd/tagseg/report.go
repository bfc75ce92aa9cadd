package main

// The read commands (query, tags, series) and segments.

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tagseg/tagseg"
)

// openRead opens an existing index read-only.
func openRead(path string) (*tagseg.Index, error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: no such index (tagseg import creates one)", path)
	}
	return tagseg.Open(path, &tagseg.Options{ReadOnly: true})
}

// openWrite opens an existing index for writing.
func openWrite(path string) (*tagseg.Index, error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: no such index (tagseg import creates one)", path)
	}
	return tagseg.Open(path, nil)
}

// savedSegment returns the query saved under name.
func savedSegment(ix *tagseg.Index, name string) (string, bool) {
	for n, q := range ix.SavedSegments() {
		if n == name {
			return q, true
		}
	}
	return "", false
}

// segmentFlags are the flags that pick a segment: -query or -segment.
type segmentFlags struct {
	query, segment *string
}

func addSegmentFlags(fs interface {
	String(name, value, usage string) *string
}, withQuery bool) segmentFlags {
	var sf segmentFlags
	if withQuery {
		sf.query = fs.String("query", "", "the segment's `query` (default: every customer)")
	}
	sf.segment = fs.String("segment", "", "use the saved segment `name` instead of a query")
	return sf
}

// resolve returns the query text and its expression. query is the query
// given on the command line, "" when none.
func resolve(ix *tagseg.Index, query, segment string) (string, tagseg.Expr, error) {
	if segment != "" {
		if query != "" {
			return "", tagseg.Expr{}, usagef("give a query or -segment, not both")
		}
		q, ok := savedSegment(ix, segment)
		if !ok {
			return "", tagseg.Expr{}, fmt.Errorf("no saved segment %q", segment)
		}
		query = q
	}
	if strings.TrimSpace(query) == "" {
		query = "*"
	}
	e, err := tagseg.Parse(query)
	if err != nil {
		return "", tagseg.Expr{}, queryError(query, err)
	}
	return query, e, nil
}

// queryError describes a query that does not parse or evaluate; a syntax
// error shows the query with a caret under the place of the problem.
func queryError(query string, err error) error {
	var se *tagseg.SyntaxError
	if errors.As(err, &se) && se.Query == query && se.Offset >= 0 && se.Offset <= len(query) && !strings.ContainsAny(query, "\n\r\t") {
		return fmt.Errorf("%s\n  %s\n  %s^", cleanErr(err), query, strings.Repeat(" ", utf8.RuneCountInString(query[:se.Offset])))
	}
	return fmt.Errorf("query %q: %s", query, cleanErr(err))
}

// ---- formatting ----

// money formats cents as units with two decimals and thousands separators.
func money(cents int64) string {
	neg := cents < 0
	u := uint64(cents)
	if neg {
		u = -u
	}
	s := group(strconv.FormatUint(u/100, 10)) + fmt.Sprintf(".%02d", u%100)
	if neg {
		return "-" + s
	}
	return s
}

// count formats a count with thousands separators.
func count[T int | uint64 | int64](n T) string {
	if n < 0 {
		return "-" + group(strconv.FormatInt(-int64(n), 10))
	}
	return group(strconv.FormatUint(uint64(n), 10))
}

func group(digits string) string {
	if len(digits) <= 3 {
		return digits
	}
	var b strings.Builder
	pre := len(digits) % 3
	if pre > 0 {
		b.WriteString(digits[:pre])
	}
	for i := pre; i < len(digits); i += 3 {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(digits[i : i+3])
	}
	return b.String()
}

func percent(part, whole uint64) string {
	if whole == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(part)/float64(whole))
}

// table writes aligned columns; right marks the right-aligned ones.
type table struct {
	header []string
	right  []bool
	rows   [][]string
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) write(w io.Writer) {
	width := make([]int, len(t.header))
	for _, r := range append([][]string{t.header}, t.rows...) {
		for i, c := range r {
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	var b strings.Builder
	for _, r := range append([][]string{t.header}, t.rows...) {
		b.Reset()
		for i, c := range r {
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(c))
			if i > 0 {
				b.WriteString("  ")
			}
			switch {
			case t.right[i]:
				b.WriteString(pad + c)
			case i == len(r)-1:
				b.WriteString(c)
			default:
				b.WriteString(c + pad)
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// ---- query ----

const queryUsage = `-db PATH [-json] [-limit 10] [-segment NAME] [QUERY]

Counts the customers of a segment and sums their MRR; lists the first of them
(by dense ID). QUERY may be several arguments (they are joined with spaces);
none means every customer.`

// queryResult is `query -json`'s output.
type queryResult struct {
	Query       string       `json:"query"`
	Customers   uint64       `json:"customers"`
	Paying      uint64       `json:"paying"`
	MRR         int64        `json:"mrr"`
	ARR         int64        `json:"arr"`
	ARPA        int64        `json:"arpa"`
	UnknownTags []string     `json:"unknown_tags"`
	Entries     []cmCustomer `json:"entries"`
}

func runQuery(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("query", queryUsage, stderr)
	db := dbFlag(fs)
	asJSON := fs.Bool("json", false, "write JSON (customers as ChartMogul's customer objects)")
	limit := fs.Int("limit", 10, "list at most `n` customers")
	sf := addSegmentFlags(fs, false)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := needDB(*db); err != nil {
		return err
	}
	if *limit < 0 {
		return usagef("-limit %d: want 0 or more", *limit)
	}
	ix, err := openRead(*db)
	if err != nil {
		return err
	}
	defer ix.Close()
	q, e, err := resolve(ix, strings.TrimSpace(strings.Join(pos, " ")), *sf.segment)
	if err != nil {
		return err
	}
	seg, err := ix.Segment(e)
	if err != nil {
		return err
	}
	res := queryResult{
		Query: q, Customers: seg.Count(), Paying: seg.Paying(),
		MRR: seg.MRR(), ARR: seg.ARR(), ARPA: seg.ARPA(),
		UnknownTags: seg.UnknownTags(), Entries: []cmCustomer{},
	}
	if res.UnknownTags == nil {
		res.UnknownTags = []string{}
	}
	var first []tagseg.Customer
	if *limit > 0 {
		for c := range seg.Customers() {
			first = append(first, c)
			res.Entries = append(res.Entries, toCM(c))
			if len(first) == *limit {
				break
			}
		}
	}
	if *asJSON {
		return writeJSON(stdout, res)
	}
	kv := &table{header: []string{"query", q}, right: []bool{false, false}}
	kv.add("customers", count(res.Customers))
	kv.add("paying", count(res.Paying))
	kv.add("MRR", money(res.MRR))
	kv.add("ARR", money(res.ARR))
	kv.add("ARPA", money(res.ARPA))
	if len(res.UnknownTags) > 0 {
		kv.add("unknown tags", strings.Join(res.UnknownTags, ", "))
	}
	kv.write(stdout)
	if len(first) > 0 {
		fmt.Fprintln(stdout)
		t := &table{
			header: []string{"UUID", "EXTERNAL ID", "NAME", "EMAIL", "MRR", "TAGS"},
			right:  []bool{false, false, false, false, true, false},
		}
		for _, c := range first {
			t.add(c.UUID, c.ExternalID, c.Name, c.Email, money(c.MRR), strings.Join(c.Tags, ", "))
		}
		t.write(stdout)
		if uint64(len(first)) < res.Customers {
			fmt.Fprintf(stdout, "(first %s of %s)\n", count(len(first)), count(res.Customers))
		}
	}
	return nil
}

// ---- tags ----

const tagsUsage = `-db PATH [-query Q | -segment NAME] [-prefix P] [-limit 50] [-by mrr|count] [-json]

Lists the tags the customers of a segment hold, with how many hold each
and their MRR, largest first.`

type tagsResult struct {
	Query     string    `json:"query"`
	Customers uint64    `json:"customers"`
	MRR       int64     `json:"mrr"`
	Entries   []tagJSON `json:"entries"`
}

type tagJSON struct {
	Tag       string `json:"tag"`
	Customers uint64 `json:"customers"`
	MRR       int64  `json:"mrr"`
}

func runTags(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("tags", tagsUsage, stderr)
	db := dbFlag(fs)
	sf := addSegmentFlags(fs, true)
	prefix := fs.String("prefix", "", "only tags starting with `prefix`")
	limit := fs.Int("limit", 50, "at most `n` tags (0: all)")
	by := fs.String("by", "mrr", "sort by `mrr` or count")
	asJSON := fs.Bool("json", false, "write JSON")
	if err := parseFlagsOnly(fs, args, db, " (give the query with -query)"); err != nil {
		return err
	}
	if *limit < 0 {
		return usagef("-limit %d: want 0 or more", *limit)
	}
	if *by != "mrr" && *by != "count" {
		return usagef("-by %q: want mrr or count", *by)
	}
	ix, err := openRead(*db)
	if err != nil {
		return err
	}
	defer ix.Close()
	q, e, err := resolve(ix, *sf.query, *sf.segment)
	if err != nil {
		return err
	}
	seg, err := ix.Segment(e)
	if err != nil {
		return err
	}
	stats, err := ix.TagStats(e, tagseg.TagStatsOptions{Prefix: *prefix, Limit: *limit, ByCount: *by == "count"})
	if err != nil {
		return err
	}
	res := tagsResult{Query: q, Customers: seg.Count(), MRR: seg.MRR(), Entries: []tagJSON{}}
	for _, s := range stats {
		res.Entries = append(res.Entries, tagJSON(s))
	}
	if *asJSON {
		return writeJSON(stdout, res)
	}
	fmt.Fprintf(stdout, "%s: %s customers, MRR %s\n", q, count(res.Customers), money(res.MRR))
	if len(stats) == 0 {
		fmt.Fprintln(stdout, "no tags")
		return nil
	}
	fmt.Fprintln(stdout)
	t := &table{
		header: []string{"TAG", "CUSTOMERS", "SHARE", "MRR", "MRR SHARE"},
		right:  []bool{false, true, true, true, true},
	}
	for _, s := range stats {
		t.add(s.Tag, count(s.Customers), percent(s.Customers, res.Customers), money(s.MRR), percent(uint64(s.MRR), uint64(max(res.MRR, 0))))
	}
	t.write(stdout)
	return nil
}

// ---- series ----

const seriesUsage = `-db PATH [-query Q | -segment NAME] -from DATE -to DATE [-every month] [-csv | -json]

The MRR of a segment's customers over time: for every interval (day, week,
month, quarter or year, UTC) that meets [-from, -to], the MRR, paying
customers, ARPA and ARR at its end and the MRR movements inside it. "date" is
an interval's last day, as in ChartMogul's metrics; money is in cents in CSV
and JSON.`

// seriesEntry is one point as ChartMogul's metrics API names its fields.
type seriesEntry struct {
	Date         string `json:"date"`
	Start        string `json:"start-date"`
	MRR          int64  `json:"mrr"`
	Customers    uint64 `json:"customers"`
	ARPA         int64  `json:"arpa"`
	ARR          int64  `json:"arr"`
	NewBusiness  int64  `json:"mrr-new-business"`
	Expansion    int64  `json:"mrr-expansion"`
	Contraction  int64  `json:"mrr-contraction"`
	Churn        int64  `json:"mrr-churn"`
	Reactivation int64  `json:"mrr-reactivation"`
}

// seriesJSON is the JSON of a series, from `series -json` and the API.
type seriesJSON struct {
	Query    string        `json:"query"`
	Interval string        `json:"interval"`
	Entries  []seriesEntry `json:"entries"`
}

func toEntry(p tagseg.Point) seriesEntry {
	return seriesEntry{
		Date:         p.End.AddDate(0, 0, -1).Format(time.DateOnly),
		Start:        p.Start.Format(time.DateOnly),
		MRR:          p.MRR,
		Customers:    p.Customers,
		ARPA:         p.ARPA,
		ARR:          p.ARR,
		NewBusiness:  p.NewBusiness,
		Expansion:    p.Expansion,
		Contraction:  p.Contraction,
		Churn:        p.Churn,
		Reactivation: p.Reactivation,
	}
}

func runSeries(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("series", seriesUsage, stderr)
	db := dbFlag(fs)
	sf := addSegmentFlags(fs, true)
	fromFlag := fs.String("from", "", "first `date` (RFC 3339 date or time)")
	toFlag := fs.String("to", "", "last `date`, included")
	every := fs.String("every", "month", "`interval`: day, week, month, quarter or year")
	asCSV := fs.Bool("csv", false, "write CSV")
	asJSON := fs.Bool("json", false, "write JSON")
	if err := parseFlagsOnly(fs, args, db, " (give the query with -query)"); err != nil {
		return err
	}
	if *asCSV && *asJSON {
		return usagef("give -csv or -json, not both")
	}
	if *fromFlag == "" || *toFlag == "" {
		return usagef("-from and -to are required")
	}
	from, err := parseTime(*fromFlag)
	if err != nil {
		return usagef("-from: %v", err)
	}
	to, err := parseTime(*toFlag)
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
	ix, err := openRead(*db)
	if err != nil {
		return err
	}
	defer ix.Close()
	q, e, err := resolve(ix, *sf.query, *sf.segment)
	if err != nil {
		return err
	}
	points, err := ix.Series(e, from, to, iv)
	if err != nil {
		return err
	}
	entries := make([]seriesEntry, len(points))
	for i, p := range points {
		entries[i] = toEntry(p)
	}
	switch {
	case *asJSON:
		return writeJSON(stdout, seriesJSON{Query: q, Interval: iv.String(), Entries: entries})
	case *asCSV:
		w := csv.NewWriter(stdout)
		w.Write([]string{"date", "start", "mrr", "customers", "arpa", "arr", "new_business", "expansion", "contraction", "churn", "reactivation"})
		for _, e := range entries {
			w.Write([]string{e.Date, e.Start, i64(e.MRR), strconv.FormatUint(e.Customers, 10), i64(e.ARPA), i64(e.ARR),
				i64(e.NewBusiness), i64(e.Expansion), i64(e.Contraction), i64(e.Churn), i64(e.Reactivation)})
		}
		w.Flush()
		return w.Error()
	}
	fmt.Fprintf(stdout, "%s, every %s\n\n", q, iv)
	t := &table{
		header: []string{"DATE", "MRR", "CUSTOMERS", "ARPA", "ARR", "NEW BUSINESS", "EXPANSION", "CONTRACTION", "CHURN", "REACTIVATION"},
		right:  []bool{false, true, true, true, true, true, true, true, true, true},
	}
	for _, e := range entries {
		t.add(e.Date, money(e.MRR), count(e.Customers), money(e.ARPA), money(e.ARR),
			money(e.NewBusiness), money(e.Expansion), money(e.Contraction), money(e.Churn), money(e.Reactivation))
	}
	t.write(stdout)
	return nil
}

func i64(n int64) string { return strconv.FormatInt(n, 10) }

// ---- segments ----

const segmentsUsage = `-db PATH list [-json] | save NAME QUERY... | delete NAME

Saved segments are named queries kept in the index. list shows each with
its customers and MRR now.`

type savedJSON struct {
	Name      string `json:"name"`
	Query     string `json:"query"`
	Customers uint64 `json:"customers"`
	MRR       int64  `json:"mrr"`
	Error     string `json:"error,omitempty"`
}

func runSegments(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("segments", segmentsUsage, stderr)
	db := dbFlag(fs)
	asJSON := fs.Bool("json", false, "list: write JSON")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := needDB(*db); err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("want list, save NAME QUERY or delete NAME")
	}
	switch pos[0] {
	case "list":
		if len(pos) > 1 {
			return usagef("list takes no arguments")
		}
		ix, err := openRead(*db)
		if err != nil {
			return err
		}
		defer ix.Close()
		list := []savedJSON{}
		for name, q := range ix.SavedSegments() {
			s := savedJSON{Name: name, Query: q}
			seg, err := evalQuery(ix, q)
			if err != nil {
				s.Error = cleanErr(err)
			} else {
				s.Customers, s.MRR = seg.Count(), seg.MRR()
			}
			list = append(list, s)
		}
		if *asJSON {
			return writeJSON(stdout, map[string]any{"entries": list})
		}
		if len(list) == 0 {
			fmt.Fprintln(stdout, "no saved segments")
			return nil
		}
		t := &table{header: []string{"NAME", "CUSTOMERS", "MRR", "QUERY"}, right: []bool{false, true, true, false}}
		for _, s := range list {
			if s.Error != "" {
				t.add(s.Name, "-", "-", s.Query+"  (error: "+s.Error+")")
				continue
			}
			t.add(s.Name, count(s.Customers), money(s.MRR), s.Query)
		}
		t.write(stdout)
		return nil
	case "save":
		if len(pos) < 3 {
			return usagef("save NAME QUERY: missing %s", map[bool]string{true: "NAME and QUERY", false: "QUERY"}[len(pos) < 2])
		}
		name, q := pos[1], strings.TrimSpace(strings.Join(pos[2:], " "))
		ix, err := openWrite(*db)
		if err != nil {
			return err
		}
		defer ix.Close()
		seg, err := evalQuery(ix, q) // an unknown field is refused too
		if err != nil {
			return queryError(q, err)
		}
		if err := ix.SaveSegment(name, q); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "saved segment %s: %s (%s customers, MRR %s)\n", name, q, count(seg.Count()), money(seg.MRR()))
		return ix.Close()
	case "delete":
		if len(pos) != 2 {
			return usagef("delete NAME: want one name")
		}
		ix, err := openWrite(*db)
		if err != nil {
			return err
		}
		defer ix.Close()
		if err := ix.DeleteSegment(pos[1]); err != nil {
			if errors.Is(err, tagseg.ErrNotFound) {
				return fmt.Errorf("no saved segment %q", pos[1])
			}
			return err
		}
		fmt.Fprintf(stdout, "deleted segment %s\n", pos[1])
		return ix.Close()
	}
	return usagef("unknown action %q: want list, save or delete", pos[0])
}

func evalQuery(ix *tagseg.Index, q string) (*tagseg.Segment, error) {
	e, err := tagseg.Parse(q)
	if err != nil {
		return nil, err
	}
	return ix.Segment(e)
}
