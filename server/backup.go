package server

// GET /v1/backup: a consistent copy of the index file as of one commit
// (tagseg.Index.Backup), streamed while the server goes on serving; the
// command's backup goes through it when tagseg serve holds the index.

import (
	"net/http"
	"time"
)

func (s *server) backup(w http.ResponseWriter, r *http.Request) {
	// A copy of a big index outlasts the server's write timeout.
	http.NewResponseController(w).SetWriteDeadline(time.Time{})
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="tagseg-backup.db"`)
	out := &startedWriter{w: w}
	if _, err := s.ix.Backup(out); err != nil {
		if !out.started {
			s.writeLibError(w, r, err, "")
			return
		}
		// Part of the copy is out: break the connection, so that the
		// client sees a failed transfer, never a short file.
		s.logf("backup: %v", err)
		panic(http.ErrAbortHandler)
	}
}
