package main

// tagseg import -events: MRR histories. Each row is one MRR change of an
// existing customer: its key (uuid, or data_source_uuid and external_id),
// the date of the change and the MRR from then on. The rows of a batch are
// written in one Update transaction (SetMRR each); an event already in the
// history (the same instant and value) is left alone, so importing a file
// again changes nothing.

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/tagseg/tagseg"
	"github.com/tagseg/tagseg/server/api"
)

const eventsHelp = `With -events the files are MRR histories, one change a row:

  CSV:   uuid,date,mrr                  or  data_source_uuid,external_id,date,mrr
  JSONL: {"uuid": "cus_1", "date": "2024-01-31", "mrr": 29900}

date (or mrr_at) is an RFC 3339 date or time; mrr is in cents, or in units
(12.34) with -units. The customer must exist. An event at the same instant
as one in the history replaces it; the same event again changes nothing.`

// openEventSource opens a file of MRR events.
func openEventSource(name, format string, units bool) (*source, error) {
	s, r, err := openInput(name)
	if err != nil {
		return nil, err
	}
	if format == "jsonl" {
		s.next = jsonEvents(r, units)
		return s, nil
	}
	next, err := csvEvents(r, units)
	if err != nil {
		return s, fmt.Errorf("%s: %w", s.name, err)
	}
	s.next = next
	return s, nil
}

func eventMRR(v string, units bool) (int64, error) {
	if !units {
		return api.ParseCents(v)
	}
	return api.ParseUnits(v)
}

func csvEvents(r io.Reader, units bool) (func() (row, error), error) {
	cr := csv.NewReader(r)
	header, err := cr.Read()
	if err == io.EOF {
		return func() (row, error) { return row{}, io.EOF }, nil
	}
	if err != nil {
		return nil, err
	}
	col := map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		switch h {
		case "mrr_at":
			h = "date"
		case "uuid", "data_source_uuid", "external_id", "date", "mrr":
		default:
			return nil, fmt.Errorf("line 1: unknown column %q (want uuid or data_source_uuid and external_id, date, mrr)", h)
		}
		col[h] = i
	}
	for _, need := range []string{"date", "mrr"} {
		if _, ok := col[need]; !ok {
			return nil, fmt.Errorf("line 1: no %s column (want uuid or data_source_uuid and external_id, date, mrr)", need)
		}
	}
	_, hasUUID := col["uuid"]
	_, hasExt := col["external_id"]
	if !hasUUID && !hasExt {
		return nil, errors.New("line 1: no customer key column: want uuid, or data_source_uuid and external_id")
	}
	get := func(rec []string, name string) string {
		if i, ok := col[name]; ok {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	return readRecords(cr, len(header), func(line int, rec []string) row {
		return eventRow(line, get(rec, "uuid"), get(rec, "data_source_uuid"), get(rec, "external_id"), get(rec, "date"), get(rec, "mrr"), units)
	}), nil
}

func eventRow(line int, uuid, ds, ext, date, mrr string, units bool) row {
	r := row{line: line, c: tagseg.Customer{UUID: uuid, DataSourceUUID: ds, ExternalID: ext}, hasMRR: true}
	var err error
	switch {
	case uuid == "" && ext == "":
		err = errors.New("no customer: give uuid, or data_source_uuid and external_id")
	case date == "":
		err = errors.New("date: missing")
	case mrr == "":
		err = errors.New("mrr: missing")
	}
	if err == nil {
		if r.mrrAt, err = api.ParseTime(date); err != nil {
			err = fmt.Errorf("date: %v", err)
		}
	}
	if err == nil && !units && strings.ContainsAny(mrr, ".eE") {
		err = fmt.Errorf("mrr: %s is not a whole number of cents (mrr is in cents; give -units for amounts like 12.34)", mrr)
	}
	if err == nil {
		if r.mrr, err = eventMRR(mrr, units); err != nil {
			if !units && strings.Contains(mrr, ".") {
				err = fmt.Errorf("mrr: %v (mrr is in cents; give -units for amounts like 12.34)", err)
			} else {
				err = fmt.Errorf("mrr: %v", err)
			}
		}
	}
	r.err = err
	return r
}

type jsonEvent struct {
	UUID           string          `json:"uuid"`
	DataSourceUUID string          `json:"data_source_uuid"`
	ExternalID     string          `json:"external_id"`
	Date           string          `json:"date"`
	MRRAt          string          `json:"mrr_at"`
	MRR            json.RawMessage `json:"mrr"`
}

func jsonEvents(r io.Reader, units bool) func() (row, error) {
	return jsonLines(r, func(line int, b []byte) row {
		var e jsonEvent
		if err := api.DecodeJSON(b, &e); err != nil {
			return row{line: line, err: err}
		}
		date := e.Date
		if date == "" {
			date = e.MRRAt
		}
		mrr := strings.Trim(string(bytes.TrimSpace(e.MRR)), `"`)
		if mrr == "null" {
			mrr = ""
		}
		return eventRow(line, e.UUID, e.DataSourceUUID, e.ExternalID, date, mrr, units)
	})
}

// importEvents records the MRR events of one file, a batch a transaction.
func (im *importer) importEvents(s *source, fst *fileStats) error {
	im.checkRow = nil
	if im.remote != nil {
		return im.importBatches(s, fst, im.writeEventsRemote)
	}
	return im.importBatches(s, fst, im.writeEvents)
}

func (im *importer) writeEvents(fst *fileStats, rows []*row) error {
	recorded := map[*row]bool{}
	apply := func(tx *tagseg.Tx) error {
		clear(recorded)
		for _, r := range rows {
			if r.err != nil {
				continue
			}
			uuid, err := api.EventCustomer(tx, r.c.UUID, r.c.DataSourceUUID, r.c.ExternalID)
			if err == nil {
				var h []tagseg.MRRChange
				if h, err = tx.MRRHistory(uuid); err == nil {
					if api.HasEvent(h, r.mrrAt, r.mrr) {
						continue
					}
					if im.o.dryRun {
						recorded[r] = true
						continue
					}
					err = tx.SetMRR(uuid, r.mrrAt, r.mrr)
				}
			}
			if err != nil {
				if errors.Is(err, tagseg.ErrNotFound) || errors.Is(err, tagseg.ErrInvalid) {
					return &rowError{err: err, p: &op{rows: []*row{r}}}
				}
				return err
			}
			recorded[r] = true
		}
		return nil
	}
	for {
		var err error
		switch {
		case im.ix == nil:
			for _, r := range rows {
				if r.err == nil {
					r.err = errors.New("no such customer (the index does not exist)")
				}
			}
		case im.o.dryRun:
			err = im.ix.View(apply)
		default:
			err = im.ix.Update(apply)
		}
		var re *rowError
		if errors.As(err, &re) {
			re.p.rows[0].err = re.err
			continue
		}
		if err != nil {
			return err
		}
		break
	}
	for _, r := range rows {
		switch {
		case r.err != nil:
			im.refuse(fst, r.line, r.err)
		case recorded[r]:
			fst.created++
		default:
			fst.unchanged++
		}
	}
	return nil
}
