package server

// The query language's fields for the page's completion
// (GET /v1/segments/fields): the library's table, tagseg.Fields, so that
// the page keeps no list of its own.

import (
	"net/http"

	"github.com/tagseg/tagseg"
	"github.com/tagseg/tagseg/server/api"
)

func (s *server) queryFields(w http.ResponseWriter, r *http.Request) {
	out := api.Fields{Fields: []api.Field{}}
	for _, f := range tagseg.Fields() {
		out.Fields = append(out.Fields, api.Field{Name: f.Name, Type: f.Type, Doc: f.Doc})
	}
	writeJSONStatus(w, http.StatusOK, out)
}
