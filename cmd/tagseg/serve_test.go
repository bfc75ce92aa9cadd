package main

// Tests of the serve command: flags, start and stop, warm-up.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tagseg/tagseg"
	"github.com/tagseg/tagseg/server/api"
)

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// serving is tagseg serve run in-process, with signalContext replaced
// so that stop acts as SIGINT does.
type serving struct {
	base   string      // http://host:port
	stderr *syncBuffer // serve's standard error
	cancel context.CancelFunc
	done   chan int
	once   sync.Once
	code   int
}

// serveInProcess runs `tagseg serve ARGS...` and waits for its address;
// the test's end stops it.
func serveInProcess(t *testing.T, args ...string) *serving {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	old := signalContext
	signalContext = func() (context.Context, context.CancelFunc) { return ctx, cancel }
	s := &serving{stderr: &syncBuffer{}, cancel: cancel, done: make(chan int, 1)}
	go func() { s.done <- run(append([]string{"serve"}, args...), io.Discard, s.stderr) }()
	t.Cleanup(func() {
		s.stop(t)
		signalContext = old
	})
	addrRE := regexp.MustCompile(`on (http://\S+)`)
	for deadline := time.Now().Add(5 * time.Second); s.base == "" && time.Now().Before(deadline); {
		if m := addrRE.FindStringSubmatch(s.stderr.String()); m != nil {
			s.base = m[1]
		} else {
			time.Sleep(5 * time.Millisecond)
		}
	}
	if s.base == "" {
		t.Fatalf("serve did not start: %s", s.stderr.String())
	}
	return s
}

// stop cancels serve's context (as SIGINT does) and returns its exit
// code; it fails the test when serve does not stop within 10 s.
func (s *serving) stop(t *testing.T) int {
	t.Helper()
	s.once.Do(func() {
		s.cancel()
		select {
		case s.code = <-s.done:
		case <-time.After(10 * time.Second):
			s.code = -1
			t.Error("serve did not stop")
		}
	})
	return s.code
}

func TestServeCommand(t *testing.T) {
	s := importFixture(t)
	srv := serveInProcess(t, "-db", s.db, "-addr", "127.0.0.1:0")
	base := srv.base
	resp, err := http.Get(base + "/v1/customers/cus_0001")
	if err != nil {
		t.Fatal(err)
	}
	var c api.Customer
	err = json.NewDecoder(resp.Body).Decode(&c)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || c.UUID != "cus_0001" || c.MRR != 29900 {
		t.Errorf("GET customer: %d %+v %v", resp.StatusCode, c, err)
	}
	if code := srv.stop(t); code != 0 {
		t.Fatalf("serve exited %d: %s", code, srv.stderr.String())
	}
	if !strings.HasSuffix(srv.stderr.String(), "tagseg serve: shutting down\ntagseg serve: stopped\n") {
		t.Errorf("stderr: %s", srv.stderr.String())
	}
	// The index was closed: it opens again at once.
	ix, err := tagseg.Open(s.db, &tagseg.Options{Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ix.Close()
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8080": true, "127.1.2.3:0": true, "[::1]:80": true, "localhost:8080": true,
		":8080": false, "0.0.0.0:8080": false, "[::]:80": false, "192.168.1.10:80": false, "8080": false,
	} {
		if got := isLoopback(addr); got != want {
			t.Errorf("isLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
}

func TestServeRefusesOpenAddrWithoutKey(t *testing.T) {
	s := importFixture(t)
	var stdout, stderr strings.Builder
	if code := run([]string{"serve", "-db", s.db, "-addr", "0.0.0.0:0"}, &stdout, &stderr); code != 2 ||
		!strings.Contains(stderr.String(), "-addr 0.0.0.0:0 is not a loopback address and there is no -api-key") {
		t.Errorf("exit %d, stderr: %s", code, stderr.String())
	}
	stderr.Reset()
	if code := run([]string{"serve", "-db", s.db, "-log", "xml"}, &stdout, &stderr); code != 2 ||
		!strings.Contains(stderr.String(), `-log "xml": want text, json or off`) {
		t.Errorf("exit %d, stderr: %s", code, stderr.String())
	}

	// With -insecure (or a key) it serves.
	for _, extra := range [][]string{{"-insecure"}, {"-api-key", "k"}} {
		srv := serveInProcess(t, append([]string{"-db", s.db, "-addr", "0.0.0.0:0"}, extra...)...)
		if code := srv.stop(t); code != 0 {
			t.Errorf("%v: exit %d, stderr: %s", extra, code, srv.stderr.String())
		}
	}
}

func TestServeTrustedOriginFlag(t *testing.T) {
	for _, bad := range []string{"page.example", "https://page.example/ui/", "https://page.example?x=1"} {
		var stdout, stderr strings.Builder
		code := run([]string{"serve", "-db", "nowhere.db", "-trusted-origin", "https://ok.example", "-trusted-origin", bad}, &stdout, &stderr)
		if code != 2 || !strings.Contains(stderr.String(), fmt.Sprintf("invalid value %q for flag -trusted-origin: invalid origin", bad)) {
			t.Errorf("-trusted-origin %s: exit %d, stderr: %s", bad, code, stderr.String())
		}
	}
}

// TestWarmUp: serve's warm-up answers on an index (and says so), and
// reports a closed one rather than serving it.
func TestWarmUp(t *testing.T) {
	ix := openIndex(t, importFixture(t).db)
	var out strings.Builder
	if err := warmUp(ix, &out); err != nil || !strings.Contains(out.String(), "warmed up in") {
		t.Errorf("warmUp: %v, %q", err, out.String())
	}
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	if err := warmUp(ix, &out); !errors.Is(err, tagseg.ErrClosed) {
		t.Errorf("warmUp of a closed index: %v", err)
	}
}

// TestServeNoteSafety: serve writes its note 0600 (even over a looser file
// left there), with a loopback URL when it listens on every interface; the
// commands ignore a note that others may write or that another user owns.
func TestServeNoteSafety(t *testing.T) {
	s := importFixture(t)
	path := serveNotePath(s.db)
	if err := os.WriteFile(path, []byte("{}"), 0o666); err != nil { // a stale, loose note
		t.Fatal(err)
	}
	os.Chmod(path, 0o666) // whatever the umask
	srv := serveInProcess(t, "-db", s.db, "-addr", "0.0.0.0:0", "-insecure")
	// serve says where it listens, then writes the note.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, ok := readServeNote(s.db); ok || time.Now().After(deadline) {
			break
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("serve note %s: mode %o, want 600", path, perm)
	}
	note, ok := readServeNote(s.db)
	if !ok || !strings.HasPrefix(note.URL, "http://127.0.0.1:") || !loopbackURL(note.URL) {
		t.Errorf("serve note on 0.0.0.0: %+v %v, want a URL on 127.0.0.1", note, ok)
	}
	// (In-process, the command does not go through its own server, but
	// names it.)
	if code, out, errs := cli(t, "query", "-db", s.db, "tag:plan-pro"); code != 1 || !strings.Contains(errs, "a server for it runs at "+note.URL) {
		t.Errorf("query beside serve: exit %d\n%s%s", code, out, errs)
	}
	// A note others may write is not trusted: the command opens the file
	// itself (which serve holds: it says so).
	os.Chmod(path, 0o622)
	if _, ok := readServeNote(s.db); ok {
		t.Error("a note writable by others was trusted")
	}
	os.Chmod(path, 0o600)
	if os.Getuid() == 0 { // another owner
		os.Chown(path, 4242, 4242)
		if _, ok := readServeNote(s.db); ok {
			t.Error("a note owned by another user was trusted")
		}
		os.Chown(path, 0, 0)
	}
	srv.stop(t)
	if _, err := os.Stat(path); err == nil {
		t.Errorf("serve left %s behind", path)
	}
}

// TestKeyStaysOnLoopback: $TAGSEG_API_KEY goes to loopback servers only;
// to another one (named by -server or by a planted note) the command
// refuses before connecting, unless -send-key.
func TestKeyStaysOnLoopback(t *testing.T) {
	for u, want := range map[string]bool{
		"http://127.0.0.1:8080": true, "http://127.9.9.9": true, "http://localhost:1/": true, "http://LOCALHOST.:1": true,
		"http://[::1]:8080": true, "http://10.0.0.1:8080": false, "http://evil.example": false,
		"http://localhost.evil.example": false, "http://[::]:8080": false, "not a url\x7f": false,
	} {
		if got := loopbackURL(u); got != want {
			t.Errorf("loopbackURL(%q) = %v", u, got)
		}
	}
	t.Setenv("TAGSEG_API_KEY", "key_secret")
	s := importFixture(t)
	const far = "http://192.0.2.1:9" // TEST-NET-1: never reached
	for _, args := range [][]string{
		{"query", "-server", far, "tag:plan-pro"},
		{"tag", "-server", far, "-uuid", "cus_0001", "x"},
	} {
		code, _, errs := cli(t, args...)
		if code != 1 || !strings.Contains(errs, "server "+far+" is not on loopback: not sending $TAGSEG_API_KEY to it (give -send-key to send it)") {
			t.Errorf("%v: exit %d, %s", args, code, errs)
		}
	}
	// A planted note naming another host, with a live PID.
	b, _ := json.Marshal(serveNote{URL: far, PID: os.Getppid()})
	if err := os.WriteFile(serveNotePath(s.db), b, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := cli(t, "query", "-db", s.db, "tag:plan-pro"); code != 1 || !strings.Contains(errs, "not sending $TAGSEG_API_KEY") {
		t.Errorf("query with a planted note: exit %d, %s", code, errs)
	}
	os.Remove(serveNotePath(s.db))
	// With -send-key the key goes (here to a transport that records it).
	var got string
	rm := &remote{base: "http://tagseg.example", key: "key_secret", sendKey: true, client: &http.Client{
		Transport: roundTripper(func(r *http.Request) (*http.Response, error) {
			got, _, _ = r.BasicAuth()
			return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader(`{}`)), Request: r}, nil
		}),
	}}
	if err := rm.do("GET", "/v1/ping", nil, nil, nil); err != nil || got != "key_secret" {
		t.Errorf("-send-key: %v, key sent %q", err, got)
	}
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
