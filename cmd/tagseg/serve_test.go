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
