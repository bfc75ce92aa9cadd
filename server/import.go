package server

// Imports through the server: POST /v1/import/customers takes a batch of
// customers in the JSON Lines shape of "tagseg import" (the new-customer
// body with mrr and mrr_at), POST /v1/import/events a batch of MRR
// changes; each batch is one command (import, import_events), applied row
// by row in one transaction with the rules of the command's import
// (package api: LookupRow, ImportState). The command's import sends its
// batches here when tagseg serve holds the index.

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/tagseg/tagseg"
	"github.com/tagseg/tagseg/server/api"
)

// MaxImportBody is the largest body of the import endpoints, whatever
// Options.MaxBody says.
const MaxImportBody = 64 << 20

// ImportOptions are an import batch's options, fixed by the client that
// reads the file (the default time of an MRR without mrr_at included).
type ImportOptions struct {
	api.ImportOptions
	// DuplicateLast applies a row that names a customer an earlier row
	// of its file named over the earlier; else the row is refused.
	DuplicateLast bool `json:"duplicate_last,omitempty"`
	// Named holds the dense IDs of the customers earlier batches of the
	// file named, a portable Roaring bitmap.
	Named []byte `json:"named,omitempty"`
	// UUIDs holds, for each row, the UUID of the customer the row creates
	// when it names none (fixed by the handler, tagseg.NewUUID, so that
	// every replica creates the same); "" for a row that names its UUID.
	UUIDs []string `json:"uuids,omitempty"`
}

// ImportEvent is one MRR change of an events import: the customer (by
// UUID, or data source and external ID), when, and the MRR from then on.
type ImportEvent struct {
	UUID           string    `json:"uuid,omitempty"`
	DataSourceUUID string    `json:"data_source_uuid,omitempty"`
	ExternalID     string    `json:"external_id,omitempty"`
	At             time.Time `json:"at"`
	Cents          int64     `json:"cents"`
}

// What became of a row of an import.
const (
	RowCreated   = "created"
	RowUpdated   = "updated"
	RowUnchanged = "unchanged"
	RowRecorded  = "recorded" // an event
	RowRefused   = "refused"
)

// RowResult is what became of one row of an import batch: its outcome,
// the customer's UUID and dense ID (not for a refused row), and for a
// refused one why; a row refused for naming a customer an earlier row of
// its file named says which: DuplicateID (named by an earlier batch: the
// client knows the line) or DuplicateRow (the earlier row of this batch,
// from 1).
type RowResult struct {
	Outcome      string  `json:"outcome"`
	UUID         string  `json:"uuid,omitempty"`
	ID           uint32  `json:"id"`
	Error        string  `json:"error,omitempty"`
	DuplicateID  *uint32 `json:"duplicate_id,omitempty"`
	DuplicateRow int     `json:"duplicate_row,omitempty"`
}

// ImportRowError is an import batch rolled back because the index refused
// a write of row Row (from 0) after it had begun to write it: the client
// sends the batch again without it.
type ImportRowError struct {
	Row int
	Err error
}

func (e *ImportRowError) Error() string { return fmt.Sprintf("row %d: %v", e.Row+1, e.Err) }

func (e *ImportRowError) Unwrap() error { return e.Err }

// refusedRow is the result of a row refused for err.
func refusedRow(err error) RowResult {
	return RowResult{Outcome: RowRefused, Error: cleanErr(err)}
}

// applyImport applies import and import_events.
func (c Command) applyImport(tx *tagseg.Tx) (Result, error) {
	if c.Op == OpImportEvents {
		out := make([]RowResult, len(c.Events))
		for i, ev := range c.Events {
			uuid, err := api.EventCustomer(tx, ev.UUID, ev.DataSourceUUID, ev.ExternalID)
			var h []tagseg.MRRChange
			if err == nil {
				h, err = tx.MRRHistory(uuid)
			}
			if err == nil {
				if api.HasEvent(h, ev.At, ev.Cents) {
					out[i] = RowResult{Outcome: RowUnchanged, UUID: uuid}
					continue
				}
				err = tx.SetMRR(uuid, ev.At, ev.Cents) // one call: refused, it changed nothing
			}
			switch {
			case errors.Is(err, tagseg.ErrNotFound), errors.Is(err, tagseg.ErrInvalid):
				out[i] = refusedRow(err)
				continue
			case err != nil:
				return Result{}, err
			}
			out[i] = RowResult{Outcome: RowRecorded, UUID: uuid}
		}
		return Result{Rows: out}, nil
	}
	var o ImportOptions
	if c.Import != nil {
		o = *c.Import
	}
	named := roaring.New()
	if len(o.Named) > 0 {
		var err error
		if named, err = tagseg.ReadIDs(bytes.NewReader(o.Named)); err != nil {
			return Result{}, err
		}
	}
	byID := map[uint32]int{} // the first row of the batch naming each customer
	out := make([]RowResult, len(c.Rows))
	for i := range c.Rows {
		row, err := api.ImportRowOf(&c.Rows[i])
		if err == nil {
			err = api.CheckImportRow(&row, o.ImportOptions)
		}
		var old *tagseg.Customer
		if err == nil {
			old, err = api.LookupRow(tx, &row.Customer)
		}
		if err != nil {
			if indexFault(err) {
				return Result{}, err
			}
			out[i] = refusedRow(err) // the row's fault: nothing written
			continue
		}
		var st api.ImportState
		if old != nil {
			if !o.DuplicateLast {
				if named.Contains(old.ID) {
					id := old.ID
					out[i] = RowResult{Outcome: RowRefused, Error: "names a customer an earlier row of the file named", DuplicateID: &id}
					continue
				}
				if j, ok := byID[old.ID]; ok {
					out[i] = RowResult{Outcome: RowRefused, Error: "names a customer an earlier row of the file named", DuplicateRow: j + 1}
					continue
				}
			}
			if st, err = api.StateOf(tx, old); err != nil {
				return Result{}, err
			}
		}
		st.Merge(&row, o.ImportOptions)
		if old == nil && st.C.UUID == "" && i < len(o.UUIDs) {
			st.C.UUID = o.UUIDs[i]
		}
		var res RowResult
		switch {
		case old == nil:
			created, err := st.Create(tx)
			if err != nil {
				return Result{}, &ImportRowError{Row: i, Err: err}
			}
			res = RowResult{Outcome: RowCreated, UUID: created.UUID, ID: created.ID}
		case st.Changed():
			if err := st.Update(tx); err != nil {
				return Result{}, &ImportRowError{Row: i, Err: err}
			}
			res = RowResult{Outcome: RowUpdated, UUID: old.UUID, ID: old.ID}
		default:
			res = RowResult{Outcome: RowUnchanged, UUID: old.UUID, ID: old.ID}
		}
		if _, ok := byID[res.ID]; !ok {
			byID[res.ID] = i
		}
		out[i] = res
	}
	return Result{Rows: out}, nil
}

// indexFault reports whether err is the index's (closed, damaged,
// read-only), not a row's.
func indexFault(err error) bool {
	return errors.Is(err, tagseg.ErrCorrupt) || errors.Is(err, tagseg.ErrClosed) || errors.Is(err, tagseg.ErrReadOnly)
}

// errImportDryRun rolls back the transaction of an import's dry run.
var errImportDryRun = errors.New("dry run")

// importBody is the body of the import endpoints.
type importBody struct {
	Rows    []api.NewCustomer `json:"rows"`
	Options *ImportOptions    `json:"options"`
	Events  []ImportEvent     `json:"events"`
}

func (s *server) importCustomers(w http.ResponseWriter, r *http.Request) {
	s.importBatch(w, r, OpImport)
}

func (s *server) importEvents(w http.ResponseWriter, r *http.Request) {
	s.importBatch(w, r, OpImportEvents)
}

// importBatch applies one batch of an import; with ?dry_run=true it does
// so in a transaction it rolls back (on this server's index, outside the
// executor: nothing is written). The answer holds a result a row,
// {"rows": [...]}; a row whose write the index refused after it began is
// a 422 naming it ("row", from 0), and nothing is written: send the batch
// again without it.
func (s *server) importBatch(w http.ResponseWriter, r *http.Request, op string) {
	dry := false
	if v := r.URL.Query().Get("dry_run"); v != "" {
		var err error
		if dry, err = strconv.ParseBool(v); err != nil {
			writeError(w, http.StatusBadRequest, `Parameter "dry_run" must be true or false`, "dry_run")
			return
		}
	}
	var body importBody
	if !s.decodeMax(w, r, &body, max(s.opt.MaxBody, MaxImportBody)) {
		return
	}
	cmd := Command{Op: op, Rows: body.Rows, Events: body.Events, Import: body.Options}
	if op == OpImport && cmd.Import == nil {
		cmd.Import = &ImportOptions{}
	}
	if op == OpImport {
		// Fixed here, not when applied: the default time of an MRR, and
		// the UUID of each customer a row without one creates.
		if cmd.Import.MRRAt.IsZero() {
			cmd.Import.MRRAt = s.opt.Now().UTC()
		}
		cmd.Import.UUIDs = make([]string, len(cmd.Rows))
		for i, row := range cmd.Rows {
			if row.UUID == "" {
				cmd.Import.UUIDs[i] = tagseg.NewUUID()
			}
		}
	}
	var res Result
	var err error
	if dry {
		err = s.ix.Update(func(tx *tagseg.Tx) error {
			if res, err = cmd.Apply(tx); err != nil {
				return err
			}
			return errImportDryRun
		})
		if errors.Is(err, errImportDryRun) {
			err = nil
		}
	} else {
		res, err = s.execute(r, cmd)
	}
	var rowErr *ImportRowError
	switch {
	case errors.As(err, &rowErr):
		writeJSONStatus(w, http.StatusUnprocessableEntity, struct {
			api.Error
			Row int `json:"row"`
		}{api.Error{Code: http.StatusUnprocessableEntity, Message: cleanErr(rowErr), Param: api.Nullable("rows")}, rowErr.Row})
		return
	case err != nil:
		s.writeLibError(w, r, err, "rows")
		return
	}
	if res.Rows == nil {
		res.Rows = []RowResult{}
	}
	writeJSONStatus(w, http.StatusOK, struct {
		Rows   []RowResult `json:"rows"`
		DryRun bool        `json:"dry_run,omitempty"`
	}{res.Rows, dry})
}
