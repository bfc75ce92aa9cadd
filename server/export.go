package server

// GET /v1/segments/export: a segment's customers streamed in the shape
// "tagseg import" reads (CSV or JSON Lines), their MRR histories, or
// their dense IDs as a portable Roaring bitmap with its mapping file; in
// one part, or several parts of one snapshot (multipart/mixed). The
// command's export, and query -format csv|jsonl, go through it when
// tagseg serve holds the index.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tagseg/tagseg"
	"github.com/tagseg/tagseg/server/api"
)

// exportTypes are the parts an export may hold, with their content types.
var exportTypes = map[string]string{
	"csv":     "text/csv; charset=utf-8",
	"jsonl":   "application/x-ndjson",
	"roaring": "application/octet-stream",
	"ids":     "text/csv; charset=utf-8",
	"events":  "text/csv; charset=utf-8",
}

// ExportHeader is the header of an export's answer that says what it
// holds, as URL-encoded form values: query (the query evaluated),
// customers (how many the segment has) and unknown_tag (each tag of the
// query nobody holds).
const ExportHeader = "X-Tagseg-Export"

func (s *server) segmentExport(w http.ResponseWriter, r *http.Request) {
	qs := r.URL.Query()
	parts := []string{qs.Get("format")}
	if parts[0] == "" {
		writeMissing(w, "format")
		return
	}
	if v := qs.Get("also"); v != "" {
		parts = append(parts, strings.Split(v, ",")...)
	}
	for i, p := range parts {
		param := "format"
		if i > 0 {
			param = "also"
		}
		if _, ok := exportTypes[p]; !ok {
			writeError(w, http.StatusBadRequest, fmt.Sprintf(`Parameter %q: %q is not csv, jsonl, roaring, ids or events`, param, p), param)
			return
		}
		if slices.Index(parts, p) != i {
			writeError(w, http.StatusBadRequest, fmt.Sprintf(`Part %q is asked for twice`, p), param)
			return
		}
	}
	limit := 0
	if v := qs.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, `Parameter "limit" must be an integer, 0 or more (0: all)`, "limit")
			return
		}
		limit = n
	}
	if limit > 0 && slices.Contains(parts, "roaring") {
		writeError(w, http.StatusBadRequest, `Parameter "limit" does not go with a roaring bitmap, which holds the whole segment`, "limit")
		return
	}
	// The export may outlast the server's write timeout: it streams.
	http.NewResponseController(w).SetWriteDeadline(time.Time{})
	out := &startedWriter{w: w}
	bw := bufio.NewWriterSize(out, 64<<10)
	query, segment := queryParams(r)
	err := s.ix.View(func(tx *tagseg.Tx) error {
		q, e, err := segmentQuery(w, tx, query, segment)
		if err != nil {
			return err
		}
		seg, err := tx.SegmentContext(r.Context(), e)
		if err != nil {
			return badQuery(w, err)
		}
		about := url.Values{"query": {q}, "customers": {strconv.FormatUint(seg.Count(), 10)}}
		for _, t := range seg.UnknownTags() {
			about.Add("unknown_tag", t)
		}
		w.Header().Set(ExportHeader, about.Encode())
		each := api.SegmentMembers(seg, limit)
		write := func(w io.Writer, part string) error {
			switch part {
			case "csv":
				return api.WriteCSV(w, tx, each)
			case "jsonl":
				return api.WriteJSONL(w, tx, each)
			case "roaring":
				_, err := seg.WriteTo(w)
				return err
			case "ids":
				return api.WriteIDMap(w, each)
			}
			return api.WriteEvents(w, tx, each)
		}
		if len(parts) == 1 {
			w.Header().Set("Content-Type", exportTypes[parts[0]])
			if err := write(bw, parts[0]); err != nil {
				return err
			}
			return bw.Flush()
		}
		mw := multipart.NewWriter(bw)
		w.Header().Set("Content-Type", "multipart/mixed; boundary="+mw.Boundary())
		for _, p := range parts {
			h := textproto.MIMEHeader{}
			h.Set("Content-Type", exportTypes[p])
			h.Set("Content-Disposition", fmt.Sprintf("attachment; name=%q", p))
			pw, err := mw.CreatePart(h)
			if err != nil {
				return err
			}
			if err := write(pw, p); err != nil {
				return err
			}
		}
		if err := mw.Close(); err != nil {
			return err
		}
		return bw.Flush()
	})
	switch {
	case err == nil || errors.Is(err, errAnswered) && !out.started:
		s.done(w, r, err, "query")
	case !out.started:
		// Nothing sent yet (the first pass of a CSV export refused a
		// custom attribute): a 400 that says why.
		var fe *api.FieldError
		if errors.As(err, &fe) || !isIndexError(err) {
			writeError(w, http.StatusBadRequest, cleanErr(err), "format")
			return
		}
		s.done(w, r, err, "query")
	default:
		// Part of the body is out: break the connection, so that the
		// client sees a failed transfer, never a short file.
		s.logf("export: %v", err)
		panic(http.ErrAbortHandler)
	}
}

// isIndexError reports whether err comes from the index (not from what
// the export format can carry).
func isIndexError(err error) bool {
	for _, e := range []error{tagseg.ErrClosed, tagseg.ErrCorrupt, tagseg.ErrNotFound, tagseg.ErrInvalidField, tagseg.ErrInvalid} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// startedWriter is the response body; started says whether any byte of
// it has been written (the status and headers are then sent).
type startedWriter struct {
	w       io.Writer
	started bool
}

func (sw *startedWriter) Write(p []byte) (int, error) {
	if len(p) > 0 {
		sw.started = true
	}
	return sw.w.Write(p)
}
