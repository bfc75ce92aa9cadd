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
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
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

// readServeNote reads the note of a server that still runs (its process
// does). A note that another user owns, or that others may write, is
// ignored.
func readServeNote(db string) (serveNote, bool) {
	n, ok := readNote(db)
	if !ok || !pidAlive(n.PID) {
		return n, false // the server is gone; the note is stale
	}
	return n, true
}

// readNote reads the note beside db, if there is one the current user
// may trust, whether its server runs or not.
func readNote(db string) (serveNote, bool) {
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
	return n, true
}

// pidAlive reports whether process pid exists (it may be another user's:
// EPERM); pid 0 or less names none.
func pidAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	if pid == os.Getpid() {
		return true
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// answers reports whether something accepts connections at the note's URL.
func answers(u string) bool {
	p, err := url.Parse(u)
	if err != nil || p.Host == "" {
		return false
	}
	host := p.Host
	if p.Port() == "" {
		host = net.JoinHostPort(p.Hostname(), "80")
	}
	c, err := net.DialTimeout("tcp", host, 2*time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// lockFree reports whether no process holds the index file locked (bbolt
// takes flock: exclusive to write, shared to read). It takes and drops
// the lock at once; a missing file is free.
func lockFree(db string) bool {
	f, err := os.Open(db)
	if err != nil {
		return errors.Is(err, fs.ErrNotExist)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return false
	}
	syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return true
}

// serverNote returns the note of the server to go through for db: one
// whose process runs and that accepts connections. A note whose server
// is gone (its process is not running, or nothing answers at its URL)
// while nobody holds the file is stale — left by a server that was killed
// (kill -9, a crash, a reboot) — and is removed, with a line on stderr
// that says so; the command then opens the file itself.
func serverNote(db string, stderr io.Writer) (serveNote, bool) {
	n, ok := readNote(db)
	if !ok || n.PID == os.Getpid() {
		return n, false
	}
	var gone string
	switch {
	case !pidAlive(n.PID):
		gone = fmt.Sprintf("its process %d is not running", n.PID)
	case loopbackURL(n.URL) && !answers(n.URL):
		// (A note naming another machine is not probed: the command
		// does not connect there unasked; see remote.go.)
		gone = fmt.Sprintf("nothing answers at %s", n.URL)
	default:
		return n, true
	}
	if !lockFree(db) {
		// The file is held (a server shutting down, or another command
		// at work): the note may still be right. The open says so.
		return n, false
	}
	if err := os.Remove(serveNotePath(db)); err == nil {
		fmt.Fprintf(stderr, "tagseg: removed the stale %s: the tagseg serve it names (%s) is gone: %s, and nobody holds %s\n", serveNotePath(db), n.URL, gone, db)
	}
	return n, false
}
