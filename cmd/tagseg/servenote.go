package main

// The serve note: while tagseg serve holds an index, it writes a small JSON
// file beside it (PATH.serve.json) saying where it listens, so that the
// other commands, locked out of the file, can say where to go instead.

import (
	"encoding/json"
	"os"
	"syscall"
)

// serveNote is the content of PATH.serve.json.
type serveNote struct {
	URL string `json:"url"`
	PID int    `json:"pid"`
}

func serveNotePath(db string) string { return db + ".serve.json" }

// writeServeNote writes the note for db; remove deletes it.
func writeServeNote(db, url string) (remove func(), err error) {
	b, _ := json.Marshal(serveNote{URL: url, PID: os.Getpid()})
	path := serveNotePath(db)
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return func() {}, err
	}
	return func() { os.Remove(path) }, nil
}

// readServeNote reads the note of a server that still runs.
func readServeNote(db string) (serveNote, bool) {
	var n serveNote
	b, err := os.ReadFile(serveNotePath(db))
	if err != nil || json.Unmarshal(b, &n) != nil || n.URL == "" {
		return n, false
	}
	if n.PID > 0 && syscall.Kill(n.PID, 0) != nil && n.PID != os.Getpid() {
		return n, false // the server is gone; the note is stale
	}
	return n, true
}
