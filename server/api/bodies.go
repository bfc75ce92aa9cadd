package api

// The bodies of tagseg's own endpoints (segments, tag completion, MRR
// history) and ChartMogul's error body.

import (
	"math"
	"os"
	"time"

	"github.com/tagseg/tagseg"
)

// Error is ChartMogul's error body {"code", "message", "param"}, for bad
// requests, missing parameters, auth, refusals and an unavailable index.
type Error struct {
	Code    int     `json:"code"`    // the HTTP status
	Message string  `json:"message"` // what went wrong, and what to do
	Param   *string `json:"param"`   // the parameter at fault, or null
}

// Metrics is the body of GET /v1/segments/metrics: a segment's figures
// now (money in cents).
type Metrics struct {
	Query       string   `json:"query"` // the query evaluated ("*": everyone)
	Customers   uint64   `json:"customers"`
	Paying      uint64   `json:"paying"` // members with MRR > 0
	MRR         int64    `json:"mrr"`
	ARR         int64    `json:"arr"`
	ARPA        int64    `json:"arpa"`
	UnknownTags []string `json:"unknown_tags"` // tags (and tag prefixes, "x*") of the query nobody holds
	// UnknownFields are the custom attributes of the query nobody holds
	// (custom.KEY); omitted when there are none.
	UnknownFields []string `json:"unknown_fields,omitempty"`
}

// Fields is the body of GET /v1/segments/fields: the query language's
// fields (tagseg.Fields), for completion.
type Fields struct {
	Fields []Field `json:"fields"`
}

// Field is one field of the query language: Name as queries write it
// ("custom.KEY" stands for every custom attribute), Type "string",
// "cents", "time" or "custom", and a one-line description.
type Field struct {
	Name string `json:"name"`
	Type string `json:"type"`
	Doc  string `json:"doc"`
}

// SeriesEntry is one interval of a series, named as ChartMogul's metrics
// API names its fields; Date is the interval's last day. Paying is the
// members paying at its end (ChartMogul's metrics call them "customers";
// in tagseg's own bodies "customers" is always the members).
type SeriesEntry struct {
	Date                 string  `json:"date"`
	Start                string  `json:"start-date"`
	MRR                  int64   `json:"mrr"`
	Paying               uint64  `json:"paying"`
	ARPA                 int64   `json:"arpa"`
	ARR                  int64   `json:"arr"`
	NewBusiness          int64   `json:"mrr-new-business"`
	Expansion            int64   `json:"mrr-expansion"`
	Contraction          int64   `json:"mrr-contraction"`
	Churn                int64   `json:"mrr-churn"`
	Reactivation         int64   `json:"mrr-reactivation"`
	NewCustomers         uint64  `json:"new-customers"`         // 0 → x, never paid before
	ReactivatedCustomers uint64  `json:"reactivated-customers"` // 0 → x after a churn
	ChurnedCustomers     uint64  `json:"churned-customers"`     // x → 0
	CustomerChurnRate    float64 `json:"customer-churn-rate"`   // percent, 2 decimals
	MRRChurnRate         float64 `json:"mrr-churn-rate"`        // net, percent, 2 decimals
	LTV                  int64   `json:"ltv"`                   // ARPA / customer churn rate, cents
}

// SeriesEntryOf is the entry of a point of tagseg.Series.
func SeriesEntryOf(p tagseg.Point) SeriesEntry {
	return SeriesEntry{
		Date:                 LastDay(p),
		Start:                p.Start.Format(time.DateOnly),
		MRR:                  p.MRR,
		Paying:               p.Customers,
		ARPA:                 p.ARPA,
		ARR:                  p.ARR,
		NewBusiness:          p.NewBusiness,
		Expansion:            p.Expansion,
		Contraction:          p.Contraction,
		Churn:                p.Churn,
		Reactivation:         p.Reactivation,
		NewCustomers:         p.NewCustomers,
		ReactivatedCustomers: p.ReactivatedCustomers,
		ChurnedCustomers:     p.ChurnedCustomers,
		CustomerChurnRate:    Round2(p.CustomerChurnRate),
		MRRChurnRate:         Round2(p.MRRChurnRate),
		LTV:                  p.LTV,
	}
}

// LastDay is the date of a point as ChartMogul dates metrics: the last
// day of its interval, YYYY-MM-DD.
func LastDay(p tagseg.Point) string { return p.End.AddDate(0, 0, -1).Format(time.DateOnly) }

// Round2 rounds a percentage to 2 decimals, as ChartMogul writes them.
func Round2(x float64) float64 { return math.Round(x*100) / 100 }

// Series is the body of GET /v1/segments/series (and `tagseg series
// -json`): the segment's members now (Customers; membership is today's)
// and its figures per interval.
type Series struct {
	Query     string `json:"query"`
	Interval  string `json:"interval"` // day, week, month, quarter or year
	Customers uint64 `json:"customers"`
	// The range of the series as asked, or (GET /v1/segments/series
	// without dates) the data's: its first and last MRR event.
	StartDate string        `json:"start-date,omitempty"`
	EndDate   string        `json:"end-date,omitempty"`
	Entries   []SeriesEntry `json:"entries"`
}

// TagStat is one tag of a ranking: how many members of the segment hold
// it and their MRR.
type TagStat struct {
	Tag       string `json:"tag"`
	Customers uint64 `json:"customers"`
	MRR       int64  `json:"mrr"`
}

// TagStats is the body of GET /v1/segments/tags (and `tagseg tags
// -json`): the segment's figures and its tags, ranked.
type TagStats struct {
	Query     string    `json:"query"`
	Customers uint64    `json:"customers"`
	MRR       int64     `json:"mrr"`
	Entries   []TagStat `json:"entries"`
}

// SavedSegment is a saved segment: GET and PUT /v1/segments/saved/{name},
// and the entries of GET /v1/segments/saved.
type SavedSegment struct {
	Name  string `json:"name"`
	Query string `json:"query"`
}

// TagCount is one entry of tag completion, GET /v1/tags.
type TagCount struct {
	Tag       string `json:"tag"`
	Customers uint64 `json:"customers"`
}

// MRREntry is one MRR change of GET /v1/customers/{uuid}/mrr.
type MRREntry struct {
	Date string `json:"date"` // RFC 3339, UTC
	MRR  int64  `json:"mrr"`  // cents, from Date on
}

// QueryError is the 400 of a query that does not parse or names an
// unknown field: Error, and where in the query the parser stopped (a byte
// offset), what it expected there and what it found ("" at the end).
type QueryError struct {
	Error
	Offset   int    `json:"offset"`
	Expected string `json:"expected"`
	Found    string `json:"found"`
}

// TagRenamed is the answer of a tag renamed (PATCH /v1/tags/{tag}): Tag
// became Name on Customers customers; Held held Name before, Both of them
// held Tag too.
type TagRenamed struct {
	Tag       string `json:"tag"`
	Name      string `json:"name"`
	Customers uint64 `json:"customers"`
	Held      uint64 `json:"held"`
	Both      uint64 `json:"both"`
}

// TagDeleted is one tag of DELETE /v1/tags and how many customers lost it.
type TagDeleted struct {
	Tag     string `json:"tag"`
	Removed int    `json:"removed"`
}

// TagsDeleted is the answer of DELETE /v1/tags.
type TagsDeleted struct {
	Entries []TagDeleted `json:"entries"`
}

// TagMembers is the answer of PUT /v1/tags/{tag}/members: the tag's
// holders now, and how many gained and lost it.
type TagMembers struct {
	Tag     string `json:"tag"`
	Holders uint64 `json:"holders"`
	Added   int    `json:"added"`
	Removed int    `json:"removed"`
}

// Info is what an index holds (GET /v1/info, tagseg info): customers,
// dense IDs used (deleted customers keep theirs), tags, tag assignments,
// saved segments, the file's size, its format version, and its last
// commit (bbolt transaction ID, and the file's modification time).
type Info struct {
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

// InfoOf is what ix holds, as of its latest commit (the file's size and
// time as os.Stat finds them).
func InfoOf(ix *tagseg.Index) (Info, error) {
	in, err := ix.Info()
	if err != nil {
		return Info{}, err
	}
	out := Info{Path: in.Path, Customers: in.Customers, IDsUsed: in.NextID, FormatVersion: in.FormatVersion, LastTxID: in.TxID}
	for _, n := range ix.Tags() {
		out.Tags++
		out.Assignments += n
	}
	for range ix.SavedSegments() {
		out.Segments++
	}
	if fi, err := os.Stat(in.Path); err == nil {
		out.FileBytes = fi.Size()
		out.LastCommit = fi.ModTime().UTC().Format(time.RFC3339)
	}
	return out, nil
}
