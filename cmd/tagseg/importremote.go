package main

// tagseg import through a running server: each batch goes to the server
// in requests of up to remoteChunk rows (POST /v1/import/customers or
// /v1/import/events), each one command, one durable transaction, applied
// row by row with the rules of a local import (package api). The server
// answers what became of each row; a row whose write the index refused
// after it began rolls its request back, and the request goes again
// without it.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/url"
	"strconv"

	srv "github.com/tagseg/tagseg/server"
	"github.com/tagseg/tagseg/server/api"
)

// remoteChunk is the most rows one import request carries.
const remoteChunk = 2000

// importRequest sends one import request and decodes the results; a row
// the server refused to write (a 422 naming it) comes back as rowErr.
func (im *importer) importRequest(path string, body any, n int) (res []srv.RowResult, rowErr *rowIndexError, err error) {
	q := url.Values{}
	if im.o.dryRun {
		q.Set("dry_run", "true")
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	resp, err := im.remote.send(ctx, "POST", path, q, bytes.NewReader(b), "application/json")
	var re *remoteError
	if errors.As(err, &re) && re.code == 422 {
		var e struct {
			Message string `json:"message"`
			Row     *int   `json:"row"`
		}
		if json.Unmarshal(re.body, &e) == nil && e.Row != nil && *e.Row >= 0 && *e.Row < n {
			return nil, &rowIndexError{*e.Row, e.Message}, nil
		}
	}
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	var out struct {
		Rows []srv.RowResult `json:"rows"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, nil, fmt.Errorf("server %s: %s: %v", im.remote.base, path, err)
	}
	if len(out.Rows) != n {
		return nil, nil, fmt.Errorf("server %s: %s: %d results for %d rows", im.remote.base, path, len(out.Rows), n)
	}
	return out.Rows, nil, nil
}

// rowIndexError is a row (index in its request) the server refused to write.
type rowIndexError struct {
	row int
	msg string
}

// writeBatchRemote writes a batch of customer rows through the server.
func (im *importer) writeBatchRemote(fst *fileStats, rows []*row) error {
	for chunk := range chunks(rows) {
		for len(chunk) > 0 {
			payload := make([]api.NewCustomer, len(chunk))
			for i, r := range chunk {
				n, err := api.NewCustomerOf(r.c)
				if err != nil {
					return err // checked when read
				}
				if !r.tagsGiven {
					n.Attributes.Tags = nil
				}
				if r.hasMRR {
					n.MRR = json.RawMessage(strconv.FormatInt(r.mrr, 10))
				}
				n.MRRAt = api.Nullable(api.TimeText(r.mrrAt))
				payload[i] = n
			}
			// MRRAt is -mrr-at, or the moment the import started: the
			// same for every request.
			o := srv.ImportOptions{ImportOptions: im.importOptions(), DuplicateLast: im.o.dupLast}
			var named bytes.Buffer
			im.namedIDs.RunOptimize()
			if _, err := im.namedIDs.WriteTo(&named); err != nil {
				return err
			}
			o.Named = named.Bytes()
			res, rowErr, err := im.importRequest("/v1/import/customers", map[string]any{"rows": payload, "options": o}, len(chunk))
			if err != nil {
				return err
			}
			if rowErr != nil {
				r := chunk[rowErr.row]
				r.err = errors.New(rowErr.msg)
				chunk = append(chunk[:rowErr.row:rowErr.row], chunk[rowErr.row+1:]...)
				continue
			}
			for i, rr := range res {
				r := chunk[i]
				switch rr.Outcome {
				case srv.RowCreated:
					fst.created++
				case srv.RowUpdated:
					fst.updated++
				case srv.RowUnchanged:
					fst.unchanged++
				default:
					switch {
					case rr.DuplicateID != nil:
						r.err = duplicateRow(im.lineOf(*rr.DuplicateID), "")
					case rr.DuplicateRow > 0 && rr.DuplicateRow <= len(chunk):
						r.err = duplicateRow(chunk[rr.DuplicateRow-1].line, res[rr.DuplicateRow-1].UUID)
					default:
						r.err = errors.New(rr.Error)
					}
					continue
				}
				if im.lineOf(rr.ID) == 0 {
					im.setLine(rr.ID, r.line)
					im.namedIDs.Add(rr.ID)
				}
			}
			break
		}
	}
	im.refuseBad(fst, rows)
	return nil
}

// writeEventsRemote writes a batch of MRR events through the server.
func (im *importer) writeEventsRemote(fst *fileStats, rows []*row) error {
	for chunk := range chunks(rows) {
		events := make([]srv.ImportEvent, len(chunk))
		for i, r := range chunk {
			events[i] = srv.ImportEvent{UUID: r.c.UUID, DataSourceUUID: r.c.DataSourceUUID, ExternalID: r.c.ExternalID, At: r.mrrAt, Cents: r.mrr}
		}
		res, rowErr, err := im.importRequest("/v1/import/events", map[string]any{"events": events}, len(chunk))
		if err == nil && rowErr != nil {
			err = fmt.Errorf("server %s: row %d: %s", im.remote.base, rowErr.row, rowErr.msg)
		}
		if err != nil {
			return err
		}
		for i, rr := range res {
			switch rr.Outcome {
			case srv.RowRecorded:
				fst.created++
			case srv.RowUnchanged:
				fst.unchanged++
			default:
				chunk[i].err = errors.New(rr.Error)
			}
		}
	}
	im.refuseBad(fst, rows)
	return nil
}

// chunks yields the rows of a batch that parsed and passed the checks, in
// requests of up to remoteChunk.
func chunks(rows []*row) iter.Seq[[]*row] {
	return func(yield func([]*row) bool) {
		var good []*row
		for _, r := range rows {
			if r.err == nil {
				good = append(good, r)
			}
		}
		for len(good) > 0 {
			n := min(len(good), remoteChunk)
			if !yield(good[:n:n]) {
				return
			}
			good = good[n:]
		}
	}
}

// refuseBad reports the refused rows of a batch, in file order.
func (im *importer) refuseBad(fst *fileStats, rows []*row) {
	for _, r := range rows {
		if r.err != nil {
			im.refuse(fst, r.line, r.err)
		}
	}
}
