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
	"unicode/utf8"

	"github.com/tagseg/tagseg"
)

// openRead opens an existing index read-only.
func openRead(path string) (*tagseg.Index, error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: no such index (tagseg import creates one)", path)
	}
	ix, err := tagseg.Open(path, &tagseg.Options{ReadOnly: true})
	return ix, openError(path, err)
}

// openWrite opens an existing index for writing.
func openWrite(path string) (*tagseg.Index, error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: no such index (tagseg import creates one)", path)
	}
	ix, err := tagseg.Open(path, nil)
	return ix, openError(path, err)
}

// openError explains why an index did not open: locked by a server (and
// where it runs), or not an index at all.
func openError(path string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, tagseg.ErrCorrupt) && !looksLikeBolt(path) {
		return fmt.Errorf("%s is not a tagseg index (not a bbolt file at all): %w", path, tagseg.ErrCorrupt)
	}
	return lockedHint(path, err)
}

// looksLikeBolt reports whether the file starts with a bbolt meta page.
func looksLikeBolt(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return true
	}
	defer f.Close()
	var b [32]byte
	if _, err := io.ReadFull(f, b[:]); err != nil {
		return false
	}
	// bbolt's magic 0xED0CDAED sits at byte 16 of page 0, little endian.
	return b[16] == 0xED && b[17] == 0xDA && b[18] == 0x0C && b[19] == 0xED
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
		msg := fmt.Sprintf("%s\n  %s\n  %s^", cleanErr(err), query, strings.Repeat(" ", utf8.RuneCountInString(query[:se.Offset])))
		if errors.Is(err, tagseg.ErrInvalidField) {
			msg += "\n" + fieldHint(se.Found)
		} else if h := centsHint(query, se); h != "" {
			msg += "\n" + h
		} else if h := quoteHint(query, se); h != "" {
			msg += "\n" + h
		}
		return errors.New(msg)
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

// writeRows writes the rows without the header, aligned among themselves.
func (t *table) writeRows(w io.Writer) {
	var b strings.Builder
	t2 := *t
	t2.write(&b)
	_, rest, _ := strings.Cut(b.String(), "\n")
	io.WriteString(w, rest)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// ---- query ----

// ---- tags ----

// ---- series ----

const seriesUsage = `-db PATH [-query Q | -segment NAME] -from DATE -to DATE [-every month] [-csv | -json]

The MRR of a segment's customers over time: for every interval (day, week,
month, quarter or year, UTC) that meets [-from, -to], the MRR, paying
customers, ARPA and ARR at its end and the MRR movements inside it. "date" is
an interval's last day, as in ChartMogul's metrics; money is in cents in CSV
and JSON.`

func i64(n int64) string { return strconv.FormatInt(n, 10) }

// ---- segments ----

const segmentsUsage = `-db PATH list [-format table|csv|json] | save NAME QUERY... | delete NAME

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
	ff := addFormatFlags(fs)
	server := serverFlag(fs)
	pos, err := parseServedArgs(fs, args, db, server)
	if err != nil {
		return err
	}
	format, err := ff.get(fs)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("want list, save NAME QUERY or delete NAME")
	}
	switch pos[0] {
	case "list", "save", "delete":
	default:
		return usagef("unknown action %q: want list, save or delete", pos[0])
	}
	switch {
	case pos[0] == "list" && len(pos) > 1:
		return usagef("list takes no arguments")
	case pos[0] == "save" && len(pos) < 3:
		return usagef("save NAME QUERY: missing %s", map[bool]string{true: "NAME and QUERY", false: "QUERY"}[len(pos) < 2])
	case pos[0] == "delete" && len(pos) != 2:
		return usagef("delete NAME: want one name")
	}
	if rm := remoteFor(*db, server, stderr); rm != nil {
		return rm.segments(stdout, pos, format)
	}
	switch pos[0] {
	case "list":
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
		return writeSegments(stdout, format, list)
	case "save":
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
		old, replaced := savedSegment(ix, name)
		if err := ix.SaveSegment(name, q); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "saved segment %s: %s (%s customers, MRR %s)\n", name, q, count(seg.Count()), money(seg.MRR()))
		if replaced {
			fmt.Fprintf(stdout, "  it replaces %s: %s\n", name, old)
		}
		return ix.Close()
	default: // delete
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
}

// writeSegments writes segments list's output.
func writeSegments(stdout io.Writer, format string, list []savedJSON) error {
	switch format {
	case "json":
		return writeJSON(stdout, map[string]any{"entries": list})
	case "csv":
		w := csv.NewWriter(stdout)
		w.Write([]string{"name", "query", "customers", "mrr", "error"})
		for _, s := range list {
			w.Write([]string{s.Name, s.Query, strconv.FormatUint(s.Customers, 10), i64(s.MRR), s.Error})
		}
		w.Flush()
		return w.Error()
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
}

func evalQuery(ix *tagseg.Index, q string) (*tagseg.Segment, error) {
	e, err := tagseg.Parse(q)
	if err != nil {
		return nil, err
	}
	return ix.Segment(e)
}
