package server

// Answers that are not a 2xx: ChartMogul's three error dialects, and the
// mapping from the library's sentinel errors to statuses.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/tagseg/tagseg"
	"github.com/tagseg/tagseg/server/api"
)

// ---- responses ----

func writeJSONStatus(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

// writeError writes {"code": status, "message": msg, "param": param or null}.
func writeError(w http.ResponseWriter, status int, msg, param string) {
	writeJSONStatus(w, status, api.Error{Code: status, Message: msg, Param: api.Nullable(param)})
}

func writeMissing(w http.ResponseWriter, param string) {
	writeError(w, http.StatusBadRequest, fmt.Sprintf("Parameter %q is missing", param), param)
}

// writeNotFound writes ChartMogul's {"error": "Customer not found"}.
func writeNotFound(w http.ResponseWriter, what string) {
	writeJSONStatus(w, http.StatusNotFound, map[string]string{"error": what + " not found"})
}

func noEmail(w http.ResponseWriter, email string) {
	writeError(w, http.StatusNotFound, fmt.Sprintf("Can't find any customers with email: %q", email), "email")
}

// writeInvalid writes the validation dialect: 422 {"errors": {field: msg}}.
func writeInvalid(w http.ResponseWriter, field, msg string) {
	writeJSONStatus(w, http.StatusUnprocessableEntity, map[string]map[string]string{"errors": {field: msg}})
}

// writeInternal answers an error the client cannot fix, and logs it: 503
// when the index is unavailable (closed, or its file damaged or a commit
// to it failed, which needs a reopen), 503 with Retry-After when a write
// could not be written but changed nothing (ErrIO: a full disk; the index
// goes on, and a retry succeeds once there is room), else 500.
func (s *server) writeInternal(w http.ResponseWriter, r *http.Request, err error) {
	s.logf("%s %s: %v", r.Method, r.URL.Path, err)
	switch {
	case errors.Is(err, ErrUnavailable):
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "Writes are not possible right now (the replicated index is electing its leader); retry", "")
	case errors.Is(err, tagseg.ErrClosed), errors.Is(err, tagseg.ErrCorrupt):
		writeUnavailable(w, err)
	case errors.Is(err, tagseg.ErrIO):
		w.Header().Set("Retry-After", "10")
		writeError(w, http.StatusServiceUnavailable, "The index file could not be written (is the disk full?); nothing was changed: retry later", "")
	default:
		writeError(w, http.StatusInternalServerError, "Internal server error", "")
	}
}

// ErrUnavailable is the error of an Executor that cannot run writes for
// now but soon will (a replicated executor during an election, or whose
// leadership was lost while a command waited): the API answers it 503
// with Retry-After, which clients retry.
var ErrUnavailable = errors.New("server: writes unavailable for now; retry")

// writeUnavailable answers 503 for an index that is closed or whose
// commit failed (Index.Err).
func writeUnavailable(w http.ResponseWriter, err error) {
	if errors.Is(err, tagseg.ErrClosed) {
		writeError(w, http.StatusServiceUnavailable, "The index is closed", "")
		return
	}
	writeError(w, http.StatusServiceUnavailable, "The index is unavailable: its file is damaged or a write to it failed", "")
}

// errAnswered is returned from inside a View or Update whose function has
// already answered the request (an error response).
var errAnswered = errors.New("answered")

// done answers err unless it is nil or errAnswered, and reports whether
// it is nil: the handler then writes its answer.
func (s *server) done(w http.ResponseWriter, r *http.Request, err error, field string) bool {
	if err != nil && !errors.Is(err, errAnswered) {
		s.writeLibError(w, r, err, field)
	}
	return err == nil
}

// writeLibError answers an error of the index for an operation on customers.
func (s *server) writeLibError(w http.ResponseWriter, r *http.Request, err error, field string) {
	var fe *api.FieldError
	switch {
	case errors.As(err, &fe):
		writeInvalid(w, fe.Field, fe.Msg)
	case errors.Is(err, tagseg.ErrNotFound):
		writeNotFound(w, "Customer")
	case errors.Is(err, tagseg.ErrInvalidTag):
		writeInvalid(w, "tags", cleanErr(err))
	case errors.Is(err, tagseg.ErrDuplicate):
		writeInvalid(w, "external_id", "The external ID for this customer already exists in our system.")
	case errors.Is(err, tagseg.ErrInvalidField), errors.Is(err, tagseg.ErrInvalid):
		writeInvalid(w, field, cleanErr(err))
	case errors.Is(err, tagseg.ErrReadOnly):
		writeError(w, http.StatusForbidden, "The index is read-only", "")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		// The client went away (or the server is shutting down): the
		// read was given up, and nobody reads this answer.
		writeError(w, http.StatusServiceUnavailable, "The request was cancelled", "")
	default:
		s.writeInternal(w, r, err)
	}
}

// writeQueryError answers 400 "Invalid query: ..." for err; a
// *tagseg.SyntaxError (a query that does not parse, or names an unknown
// field) adds its offset, expected and found.
func writeQueryError(w http.ResponseWriter, err error) {
	body := api.Error{Code: http.StatusBadRequest, Message: "Invalid query: " + cleanErr(err), Param: api.Nullable("query")}
	var se *tagseg.SyntaxError
	if errors.As(err, &se) {
		writeJSONStatus(w, http.StatusBadRequest, api.QueryError{Error: body, Offset: se.Offset, Expected: se.Expected, Found: se.Found})
		return
	}
	writeJSONStatus(w, http.StatusBadRequest, body)
}

// badQuery answers err when the query is at fault (ErrInvalidField: an
// unknown field, a value of the wrong type) and returns errAnswered; any
// other err is returned as it is.
func badQuery(w http.ResponseWriter, err error) error {
	if errors.Is(err, tagseg.ErrInvalidField) {
		writeQueryError(w, err)
		return errAnswered
	}
	return err
}
