package server

// Reading requests: JSON bodies within the size cap, tag lists within the
// tag cap, and the query parameters several endpoints share.

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/tagseg/tagseg/server/api"
)

// decode reads a JSON object body into v, answering 413, 400 itself; it
// reports whether v was filled.
func (s *server) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	return s.decodeMax(w, r, v, s.opt.MaxBody)
}

// decodeMax is decode with a body of up to limit bytes.
func (s *server) decodeMax(w http.ResponseWriter, r *http.Request, v any, limit int64) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("Request body is larger than %d bytes", mbe.Limit), "")
		return false
	case err != nil:
		writeError(w, http.StatusBadRequest, "Cannot read the request body", "")
		return false
	case len(strings.TrimSpace(string(body))) == 0:
		writeError(w, http.StatusBadRequest, "Request body is empty; want a JSON object", "")
		return false
	}
	if err := api.DecodeJSON(body, v); err != nil {
		msg := err.Error()
		writeError(w, http.StatusBadRequest, strings.ToUpper(msg[:1])+msg[1:], "")
		return false
	}
	return true
}

// tagsBody is {"tags": [...]}, and {"email", "tags"} by email.
type tagsBody struct {
	Email *string  `json:"email"`
	Tags  []string `json:"tags"`
	// For the segment endpoints.
	Query   *string `json:"query"`
	Segment *string `json:"segment"`
	// Confirm is how many customers a bulk change may change, above
	// the server's ConfirmAbove (also the query parameter "confirm").
	Confirm *int64 `json:"confirm"`
	// DryRun asks a bulk change how many customers it would change,
	// changing nothing (also the query parameter "dry_run").
	DryRun *bool `json:"dry_run"`
}

// readTags reads a tags body; a missing, null or empty list is a 400.
func (s *server) readTags(w http.ResponseWriter, r *http.Request) (tagsBody, bool) {
	var body tagsBody
	if !s.decode(w, r, &body) {
		return body, false
	}
	if body.Tags == nil {
		writeMissing(w, "tags")
		return body, false
	}
	if len(body.Tags) == 0 {
		writeError(w, http.StatusBadRequest, `Parameter "tags" must not be empty`, "tags")
		return body, false
	}
	if s.maxTags > 0 && len(body.Tags) > s.maxTags {
		writeError(w, http.StatusBadRequest, fmt.Sprintf(`Parameter "tags" holds %d tags; a request may carry at most %d`, len(body.Tags), s.maxTags), "tags")
		return body, false
	}
	return body, true
}

func queryParams(r *http.Request) (*string, *string) {
	q := r.URL.Query()
	var query, segment *string
	if q.Has("query") {
		v := q.Get("query")
		query = &v
	}
	if q.Has("segment") {
		v := q.Get("segment")
		segment = &v
	}
	return query, segment
}

// deref is *s, or "" when s is nil.
func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// cleanErr drops the package prefix of the library's errors.
func cleanErr(err error) string {
	return strings.TrimPrefix(err.Error(), "tagseg: ")
}
