package server

// tagseg's segment reads: a segment's metrics, series, tag ranking and
// customers, each answered from one snapshot.

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tagseg/tagseg"
	"github.com/tagseg/tagseg/server/api"
)

// segmentQuery picks the segment of a request as the transaction sees it:
// the query parameter "query" (a query) or "segment" (a saved segment's
// name, read in tx), or the same fields of a JSON body; neither means
// every customer. It answers 400 and 404 itself (errAnswered).
func segmentQuery(w http.ResponseWriter, tx *tagseg.Tx, query, segment *string) (string, tagseg.Expr, error) {
	if !oneSegment(w, query, segment) {
		return "", tagseg.Expr{}, errAnswered
	}
	q, e, err := resolveSegment(tx, deref(query), deref(segment))
	return q, e, segmentError(w, err)
}

// oneSegment answers 400 and reports false when a request gives both a
// query and a saved segment.
func oneSegment(w http.ResponseWriter, query, segment *string) bool {
	if deref(query) != "" && deref(segment) != "" {
		writeError(w, http.StatusBadRequest, `Give "query" or "segment", not both`, "segment")
		return false
	}
	return true
}

// resolveSegment returns the query of a segment as tx sees it, and its
// expression: the saved segment's (ErrUnknownSegment when there is none)
// when segment is set, else query ("*" when blank). A query that does not
// parse is its *tagseg.SyntaxError.
func resolveSegment(tx *tagseg.Tx, query, segment string) (string, tagseg.Expr, error) {
	q := query
	if segment != "" {
		saved, err := tx.SavedSegment(segment)
		if errors.Is(err, tagseg.ErrNotFound) {
			return "", tagseg.Expr{}, fmt.Errorf("segment %q: %w", segment, ErrUnknownSegment)
		}
		if err != nil {
			return "", tagseg.Expr{}, err
		}
		q = saved
	}
	if strings.TrimSpace(q) == "" {
		q = "*"
	}
	e, err := tagseg.Parse(q)
	return q, e, err
}

// segmentError answers an error of resolveSegment that the request is at
// fault for (404 for an unknown saved segment, 400 for a query that does
// not parse or names an unknown field) and returns errAnswered; any other
// err is returned as it is.
func segmentError(w http.ResponseWriter, err error) error {
	var se *tagseg.SyntaxError
	switch {
	case errors.Is(err, ErrUnknownSegment):
		writeNotFound(w, "Segment")
		return errAnswered
	case errors.As(err, &se):
		writeQueryError(w, err)
		return errAnswered
	}
	return badQuery(w, err)
}

// segmentView runs fn in one read view (Index.View) with the segment of
// the request's query parameters, so that the saved segment's query, the
// evaluation and whatever fn reads come from one snapshot. fn computes
// the answer, which the handler writes after the view (a slow client
// must not hold a read transaction); segmentView reports whether fn
// succeeded, else the request has been answered.
func (s *server) segmentView(w http.ResponseWriter, r *http.Request, fn func(tx *tagseg.Tx, q string, e tagseg.Expr) error) bool {
	query, segment := queryParams(r)
	err := s.ix.View(func(tx *tagseg.Tx) error {
		q, e, err := segmentQuery(w, tx, query, segment)
		if err != nil {
			return err
		}
		return badQuery(w, fn(tx, q, e))
	})
	return s.done(w, r, err, "query")
}

func (s *server) segmentMetrics(w http.ResponseWriter, r *http.Request) {
	var res api.Metrics
	if !s.segmentView(w, r, func(tx *tagseg.Tx, q string, e tagseg.Expr) error {
		seg, err := tx.SegmentContext(r.Context(), e)
		if err != nil {
			return err
		}
		unknown := seg.UnknownTags()
		if unknown == nil {
			unknown = []string{}
		}
		res = api.Metrics{
			Query: q, Customers: seg.Count(), Paying: seg.Paying(),
			MRR: seg.MRR(), ARR: seg.ARR(), ARPA: seg.ARPA(), UnknownTags: unknown,
			UnknownFields: seg.UnknownFields(),
		}
		return nil
	}) {
		return
	}
	writeJSONStatus(w, http.StatusOK, res)
}

// readRange reads the parameters start-date and end-date (required) and
// interval (default month) of a series; it answers 400 itself.
func readRange(w http.ResponseWriter, r *http.Request) (from, to time.Time, iv tagseg.Interval, ok bool) {
	qs := r.URL.Query()
	var dates [2]time.Time
	for i, name := range []string{"start-date", "end-date"} {
		v := qs.Get(name)
		if v == "" {
			writeMissing(w, name)
			return from, to, iv, false
		}
		t, err := api.ParseTime(v)
		if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("Parameter %q: %v", name, err), name)
			return from, to, iv, false
		}
		dates[i] = t
	}
	if dates[0].After(dates[1]) {
		writeError(w, http.StatusBadRequest, `Parameter "start-date" is after "end-date"`, "start-date")
		return from, to, iv, false
	}
	iv = tagseg.Month
	if v := qs.Get("interval"); v != "" {
		var err error
		if iv, err = tagseg.ParseInterval(v); err != nil {
			writeError(w, http.StatusBadRequest, `Parameter "interval" must be day, week, month, quarter or year`, "interval")
			return from, to, iv, false
		}
	}
	return dates[0], dates[1], iv, true
}

// series is tx.SeriesContext for a request: too many points is its 400.
func series(w http.ResponseWriter, r *http.Request, tx *tagseg.Tx, e tagseg.Expr, from, to time.Time, iv tagseg.Interval) ([]tagseg.Point, error) {
	points, err := tx.SeriesContext(r.Context(), e, from, to, iv)
	if errors.Is(err, tagseg.ErrInvalid) { // the only cause left: too many points
		writeError(w, http.StatusBadRequest, "The range holds more than 100000 intervals; choose a longer interval or a shorter range", "interval")
		return nil, errAnswered
	}
	return points, err
}

// segmentSeries answers GET /v1/segments/series. Without start-date and
// end-date, the range is the data's: from the first MRR event of any
// customer to the last (this month when there is none).
func (s *server) segmentSeries(w http.ResponseWriter, r *http.Request) {
	qs := r.URL.Query()
	dataRange := !qs.Has("start-date") && !qs.Has("end-date")
	if dataRange {
		qs.Set("start-date", "2000-01-01") // replaced below, in the view
		qs.Set("end-date", "2000-01-01")
		r = r.Clone(r.Context())
		r.URL.RawQuery = qs.Encode()
	}
	from, to, iv, ok := readRange(w, r)
	if !ok {
		return
	}
	var res api.Series
	if !s.heavyView(w, r, func(tx *tagseg.Tx, query string, e tagseg.Expr) error {
		if dataRange {
			first, last, ok, err := tx.MRRSpan()
			if err != nil {
				return err
			}
			if !ok {
				first, last = s.opt.Now().UTC(), s.opt.Now().UTC()
			}
			from, to = first, last
		}
		n, err := tx.Count(e)
		if err != nil {
			return err
		}
		points, err := series(w, r, tx, e, from, to, iv)
		if err != nil {
			return err
		}
		res = api.Series{Query: query, Interval: iv.String(), Customers: n, Entries: make([]api.SeriesEntry, len(points)),
			StartDate: from.Format(time.DateOnly), EndDate: to.Format(time.DateOnly)}
		for i, p := range points {
			res.Entries[i] = api.SeriesEntryOf(p)
		}
		return nil
	}) {
		return
	}
	writeJSONStatus(w, http.StatusOK, res)
}

func (s *server) segmentTagStats(w http.ResponseWriter, r *http.Request) {
	qs := r.URL.Query()
	opt := tagseg.TagStatsOptions{Prefix: qs.Get("prefix"), Limit: 100}
	if v := qs.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, `Parameter "limit" must be an integer, 0 or more (0: all)`, "limit")
			return
		}
		opt.Limit = n
	}
	switch qs.Get("sort") {
	case "", "mrr":
	case "count":
		opt.ByCount = true
	default:
		writeError(w, http.StatusBadRequest, `Parameter "sort" must be mrr or count`, "sort")
		return
	}
	var res api.TagStats
	if !s.heavyView(w, r, func(tx *tagseg.Tx, q string, e tagseg.Expr) error { // header and entries of one snapshot
		seg, err := tx.SegmentContext(r.Context(), e)
		if err != nil {
			return err
		}
		stats, err := tx.TagStatsContext(r.Context(), e, opt)
		if err != nil {
			return err
		}
		res = api.TagStats{Query: q, Customers: seg.Count(), MRR: seg.MRR(), Entries: []api.TagStat{}}
		for _, st := range stats {
			res.Entries = append(res.Entries, api.TagStat(st))
		}
		return nil
	}) {
		return
	}
	writeJSONStatus(w, http.StatusOK, res)
}

func (s *server) segmentCustomers(w http.ResponseWriter, r *http.Request) {
	sorted, desc, ok := readSort(w, r)
	if !ok {
		return
	}
	var p page
	var pos *tagseg.MRRPosition
	if sorted {
		p, pos, ok = readSortedPage(w, r)
	} else {
		p, ok = readPage(w, r)
	}
	if !ok {
		return
	}
	var cp customerPage
	if !s.segmentView(w, r, func(tx *tagseg.Tx, _ string, e tagseg.Expr) (err error) {
		if sorted {
			cp, err = sortedPage(r.Context(), tx, p, e, desc, pos)
		} else {
			cp, err = segmentPage(r.Context(), tx, p, e)
		}
		return err
	}) {
		return
	}
	writePage(w, p, cp)
}
