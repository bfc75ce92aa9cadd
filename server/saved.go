package server

// Saved segments: list, get, save (PUT) and delete.

import (
	"errors"
	"net/http"
	"strings"

	"github.com/tagseg/tagseg"
	"github.com/tagseg/tagseg/server/api"
)

func (s *server) listSaved(w http.ResponseWriter, r *http.Request) {
	entries := []api.SavedSegment{}
	for name, q := range s.ix.SavedSegments() {
		entries = append(entries, api.SavedSegment{Name: name, Query: q})
	}
	writeJSONStatus(w, http.StatusOK, map[string]any{"entries": entries})
}

func (s *server) getSaved(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	var q string
	err := s.ix.View(func(tx *tagseg.Tx) (err error) {
		q, err = tx.SavedSegment(name)
		return err
	})
	if errors.Is(err, tagseg.ErrNotFound) {
		writeNotFound(w, "Segment")
		return
	}
	if err != nil {
		s.writeInternal(w, r, err)
		return
	}
	writeJSONStatus(w, http.StatusOK, api.SavedSegment{Name: name, Query: q})
}

func (s *server) putSaved(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Query *string `json:"query"`
	}
	if !s.decode(w, r, &body) {
		return
	}
	if strings.TrimSpace(deref(body.Query)) == "" {
		writeMissing(w, "query")
		return
	}
	var q string
	err := s.ix.View(func(tx *tagseg.Tx) error {
		query, e, err := segmentQuery(w, tx, body.Query, nil)
		if err != nil {
			return err
		}
		q = query
		_, err = tx.CountContext(r.Context(), e) // the query must evaluate
		return badQuery(w, err)
	})
	if !s.done(w, r, err, "query") {
		return
	}
	name := r.PathValue("name")
	if _, err := s.execute(r, Command{Op: OpSaveSegment, Name: name, Query: q}); err != nil {
		if errors.Is(err, tagseg.ErrInvalid) {
			writeInvalid(w, "name", cleanErr(err))
			return
		}
		s.writeLibError(w, r, err, "query")
		return
	}
	writeJSONStatus(w, http.StatusOK, api.SavedSegment{Name: name, Query: q})
}

func (s *server) deleteSaved(w http.ResponseWriter, r *http.Request) {
	if _, err := s.execute(r, Command{Op: OpDeleteSegment, Name: r.PathValue("name")}); err != nil {
		if errors.Is(err, tagseg.ErrNotFound) {
			writeNotFound(w, "Segment")
			return
		}
		s.writeLibError(w, r, err, "name")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
