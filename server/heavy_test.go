package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestHeavyFence: with the fence full (MaxHeavy 1, taken), a tag ranking
// or a series waits for it while cheap reads are answered at once; one
// more past the queue (MaxHeavyQueue 1) is refused at once, 503 with
// Retry-After; when the slot is given back the waiting one is answered;
// answered quickly, it goes round the fence the next time; a waiting one
// whose client goes away gives up. The gauges say so.
func TestHeavyFence(t *testing.T) {
	ix, cs := pagingIndex(t, filepath.Join(t.TempDir(), "p.db"), 60)
	defer ix.Close()
	s := New(ix, Options{MaxHeavy: 1, MaxHeavyQueue: 1}).(*server)
	release, err := s.fence.enter(context.Background()) // a heavy read running
	if err != nil {
		t.Fatal(err)
	}
	const ranking = "/v1/segments/tags?query=tag%3At"
	waited := make(chan int, 1)
	go func() {
		status, _ := httpGet(t, s, ranking)
		waited <- status
	}()
	waitFor(t, "a ranking waiting", func() bool { return s.fence.waiting.Load() == 1 })
	// Cheap reads are not held up.
	for _, target := range []string{"/v1/customers/" + cs[0].uuid, "/v1/segments/metrics?query=tag%3At", "/v1/customers?per_page=10", "/v1/tags"} {
		if status, body := httpGet(t, s, target); status != http.StatusOK {
			t.Errorf("GET %s beside a full fence: %d %s", target, status, body)
		}
	}
	// The queue is full: refused at once.
	for _, target := range []string{ranking, "/v1/segments/series?start-date=2024-01-01&end-date=2024-03-01"} {
		w := httptest.NewRecorder()
		s.ServeHTTP(w, newRequest("GET", target, nil))
		want := `{"code":503,"message":"Too many tag rankings and series waiting (1 running, 1 waiting); retry later","param":null}`
		if w.Code != http.StatusServiceUnavailable || strings.TrimSpace(w.Body.String()) != want || w.Header().Get("Retry-After") != "1" {
			t.Errorf("GET %s past the queue: %d %s (Retry-After %q)", target, w.Code, w.Body, w.Header().Get("Retry-After"))
		}
	}
	if _, body := httpGet(t, s, "/metrics"); !strings.Contains(body, "tagseg_heavy_reads_running 1\n") || !strings.Contains(body, "tagseg_heavy_reads_waiting 1\n") || !strings.Contains(body, "tagseg_heavy_reads_max 1\n") {
		t.Errorf("/metrics lacks the fence's gauges")
	}
	// The slot is given back: the waiting one is answered.
	release()
	select {
	case status := <-waited:
		if status != http.StatusOK {
			t.Errorf("the waiting ranking: %d", status)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the waiting ranking was never answered")
	}
	// The fence full again: that ranking, answered quickly last time (the
	// index keeps it), goes round the fence; another waits, and gives up
	// when its client goes away.
	release, err = s.fence.enter(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	// (How long it took depends on the machine: say it was quick.)
	s.fence.note("/v1/segments/tags?query=tag%3At", 0)
	if status, body := httpGet(t, s, ranking); status != http.StatusOK {
		t.Errorf("a quick ranking beside a full fence: %d %s", status, body)
	}
	s.fence.note("/v1/segments/tags?query=tag%3At", time.Second) // slow: fenced again
	if s.fence.wasQuick("/v1/segments/tags?query=tag%3At") {
		t.Error("a slow answer left the request quick")
	}
	ctx, cancel := context.WithCancel(context.Background())
	gaveUp := make(chan int, 1)
	go func() {
		w := httptest.NewRecorder()
		s.ServeHTTP(w, newRequest("GET", ranking+"&limit=3", nil).WithContext(ctx))
		gaveUp <- w.Code
	}()
	waitFor(t, "a ranking waiting", func() bool { return s.fence.waiting.Load() == 1 })
	cancel()
	if status := <-gaveUp; status != http.StatusServiceUnavailable {
		t.Errorf("a waiting ranking whose client went away: %d", status)
	}
	if n := s.fence.waiting.Load(); n != 0 {
		t.Errorf("%d still waiting", n)
	}
	// No fence: MaxHeavy < 0.
	if New(ix, Options{MaxHeavy: -1}).(*server).fence != nil {
		t.Error("MaxHeavy -1 made a fence")
	}
	if n := cap(New(ix, Options{}).(*server).fence.slots); n != DefaultMaxHeavy() {
		t.Errorf("default fence: %d slots, want %d", n, DefaultMaxHeavy())
	}
}

// waitFor polls cond until it holds (the test's deadline otherwise).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited 30 s for %s", what)
		}
	}
}
