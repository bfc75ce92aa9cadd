package server

// GET /v1/info: what the index holds, as tagseg info says it; the
// command's info goes through it when tagseg serve holds the index.

import (
	"net/http"

	"github.com/tagseg/tagseg/server/api"
)

func (s *server) info(w http.ResponseWriter, r *http.Request) {
	in, err := api.InfoOf(s.ix)
	if err != nil {
		s.writeLibError(w, r, err, "")
		return
	}
	writeJSONStatus(w, http.StatusOK, in)
}
