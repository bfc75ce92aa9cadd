package main

// The serve note: while tagseg serve holds an index, it writes a small JSON
// file beside it (PATH.serve.json) saying where it listens, so that the
// other commands, locked out of the file, can say where to go instead, or
// go through the server. The note is written 0600 (only its owner reads
// it), and trusted only when the current user owns it and nobody else may
// write it: another user must not be able to point the commands, and the
// API key they send, elsewhere. The key goes to loopback servers only
// anyway (remote.go).

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// serveNote is the content of PATH.serve.json.
type serveNote struct {
	URL string `json:"url"`
	PID int    `json:"pid"`
}

func serveNotePath(db string) string { return db + ".serve.json" }

// noteURL is the URL the note gives for a listener at addr: a listener on
// every interface (0.0.0.0, [::]) is reached at 127.0.0.1, so that the
// commands on this machine go through loopback.
func noteURL(addr net.Addr) string {
	if ta, ok := addr.(*net.TCPAddr); ok && ta.IP.IsUnspecified() {
		return "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(ta.Port))
	}
	return "http://" + addr.String()
}

// writeServeNote writes the note for db, mode 0600, replacing any other
// file there at once (a temporary file renamed over it); remove deletes it.
func writeServeNote(db, url string) (remove func(), err error) {
	b, _ := json.Marshal(serveNote{URL: url, PID: os.Getpid()})
	path := serveNotePath(db)
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*") // 0600
	if err != nil {
		return func() {}, err
	}
	_, err = f.Write(append(b, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return func() {}, err
	}
	return func() { os.Remove(path) }, nil
}

// readServeNote reads the note of a server that still runs. A note that
// another user owns, or that others may write, is ignored.
func readServeNote(db string) (serveNote, bool) {
	var n serveNote
	path := serveNotePath(db)
	fi, err := os.Lstat(path)
	if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o022 != 0 {
		return n, false
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Getuid() {
		return n, false
	}
	b, err := os.ReadFile(path)
	if err != nil || json.Unmarshal(b, &n) != nil || n.URL == "" {
		return n, false
	}
	if n.PID > 0 && syscall.Kill(n.PID, 0) != nil && n.PID != os.Getpid() {
		return n, false // the server is gone; the note is stale
	}
	return n, true
}
