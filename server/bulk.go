package server

// Bulk tag changes of a segment (POST and DELETE /v1/segments/tags), with
// their caps, confirmation and dry run.

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/tagseg/tagseg"
	"github.com/tagseg/tagseg/server/api"
)

func (s *server) segmentAddTags(w http.ResponseWriter, r *http.Request) {
	s.segmentTags(w, r, true)
}

func (s *server) segmentRemoveTags(w http.ResponseWriter, r *http.Request) {
	s.segmentTags(w, r, false)
}

// wouldChange is the expression of the customers of e whose tag sets
// adding (or removing) tags changes: those missing one of them (or
// holding one).
func wouldChange(e tagseg.Expr, add bool, tags []string) tagseg.Expr {
	var alts []tagseg.Expr
	for _, t := range tags {
		if add {
			alts = append(alts, tagseg.Not(tagseg.Tag(t)))
		} else {
			alts = append(alts, tagseg.Tag(t))
		}
	}
	return tagseg.And(e, tagseg.Or(alts...))
}

// utcDay is t's day, midnight UTC: a bulk change's Command.Day.
func utcDay(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// readConfirm reads the confirm of a bulk change: the body's, else the
// query parameter's. It answers 400 itself.
func readConfirm(w http.ResponseWriter, r *http.Request, body *int64) (*int64, bool) {
	if body != nil || !r.URL.Query().Has("confirm") {
		return body, true
	}
	n, err := strconv.ParseInt(r.URL.Query().Get("confirm"), 10, 64)
	if err != nil || n < 0 {
		writeError(w, http.StatusBadRequest, `Parameter "confirm" must be a number of customers`, "confirm")
		return nil, false
	}
	return &n, true
}

// readDryRun reads the dry_run of a bulk change: the body's, else the
// query parameter's. It answers 400 itself.
func readDryRun(w http.ResponseWriter, r *http.Request, body *bool) (dry, ok bool) {
	if body != nil {
		return *body, true
	}
	if !r.URL.Query().Has("dry_run") {
		return false, true
	}
	dry, err := strconv.ParseBool(r.URL.Query().Get("dry_run"))
	if err != nil {
		writeError(w, http.StatusBadRequest, `Parameter "dry_run" must be true or false`, "dry_run")
		return false, false
	}
	return dry, true
}

// segmentTags changes the tags of a segment in one transaction, which
// reads the saved segment's query, counts the customers the change would
// change (checkBulk), and evaluates the segment once more to change them.
func (s *server) segmentTags(w http.ResponseWriter, r *http.Request, add bool) {
	body, ok := s.readTags(w, r)
	if !ok {
		return
	}
	if deref(body.Query) == "" && deref(body.Segment) == "" {
		// A bulk change needs an explicit segment ("*" for everyone).
		writeMissing(w, "query")
		return
	}
	confirm, ok := readConfirm(w, r, body.Confirm)
	if !ok {
		return
	}
	dry, ok := readDryRun(w, r, body.DryRun)
	if !ok {
		return
	}
	if dry {
		s.segmentTagsDryRun(w, r, add, body)
		return
	}
	// The segment evaluated once before the change, outside the writer's
	// lock and with the request's context: the first comparison of a text
	// field (name, company, email) after Open builds its index, seconds at
	// millions of customers, which the change then finds built.
	err := s.ix.View(func(tx *tagseg.Tx) error {
		_, e, err := segmentQuery(w, tx, body.Query, body.Segment)
		if err != nil {
			return err
		}
		_, err = tx.CountContext(r.Context(), e)
		return badQuery(w, err)
	})
	if !s.done(w, r, err, "query") {
		return
	}
	op := OpRemoveTagsFromSegment
	if add {
		op = OpAddTagsToSegment
	}
	res, err := s.execute(r, Command{
		Op: op, Query: deref(body.Query), Segment: deref(body.Segment), Tags: body.Tags, Day: utcDay(s.opt.Now()),
		MaxCustomers: s.maxCustomers, ConfirmAbove: s.confirmAbove, Confirm: confirm,
	})
	var refused *BulkRefusedError
	if errors.As(err, &refused) {
		writeError(w, http.StatusBadRequest, refused.Msg, refused.Param)
		return
	}
	if !s.done(w, r, segmentError(w, err), "tags") {
		return
	}
	q, n := res.Query, res.Changed
	writeJSONStatus(w, http.StatusOK, struct {
		Query   string `json:"query"`
		Changed int    `json:"changed"`
	}{q, n})
}

// bulkSegment reads the segment of a bulk change in tx (segmentQuery),
// its relative dates fixed to day as the change fixes them, and, when
// count is set, counts the customers whose tags the change would change
// (else would is 0). It answers a bad query itself.
func bulkSegment(w http.ResponseWriter, tx *tagseg.Tx, body tagsBody, add, count bool, day time.Time) (q string, e tagseg.Expr, would uint64, err error) {
	q, e, err = segmentQuery(w, tx, body.Query, body.Segment)
	if err != nil || !count {
		return q, e, 0, err
	}
	e = e.ResolveDates(day)
	would, err = tx.Count(wouldChange(e, add, body.Tags))
	return q, e, would, badQuery(w, err)
}

// segmentTagsDryRun answers how many customers a bulk change would change,
// in one read view, with the caps that would apply to it; it needs no
// confirm and changes nothing.
func (s *server) segmentTagsDryRun(w http.ResponseWriter, r *http.Request, add bool, body tagsBody) {
	for _, t := range body.Tags { // as the change would refuse them
		if _, err := api.CheckTag(t); err != nil {
			writeInvalid(w, "tags", err.Error())
			return
		}
	}
	var q string
	var would uint64
	err := s.ix.View(func(tx *tagseg.Tx) (err error) {
		q, _, would, err = bulkSegment(w, tx, body, add, true, s.opt.Now())
		return err
	})
	if !s.done(w, r, err, "tags") {
		return
	}
	writeJSONStatus(w, http.StatusOK, struct {
		Query        string `json:"query"`
		WouldChange  uint64 `json:"would_change"`
		DryRun       bool   `json:"dry_run"`
		ConfirmAbove int    `json:"confirm_above"`
		MaxCustomers int    `json:"max_customers"`
	}{q, would, true, s.confirmAbove, s.maxCustomers})
}
