package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
)

// TestAPICancelledReads: tag stats and a series whose request context is
// done give the read up and answer 503, and answer 200 otherwise.
func TestAPICancelledReads(t *testing.T) {
	ix, _ := pagingIndex(t, filepath.Join(t.TempDir(), "p.db"), 30)
	defer ix.Close()
	h := New(ix, Options{})
	const cancelled = `{"code":503,"message":"The request was cancelled","param":null}`
	for _, target := range []string{
		"/v1/segments/tags?query=%2A",
		"/v1/segments/series?query=%2A&start-date=2024-01-01&end-date=2024-03-01",
	} {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, newRequest("GET", target, nil).WithContext(ctx))
		if body := rec.Body.String(); rec.Code != http.StatusServiceUnavailable || body != cancelled+"\n" && body != cancelled {
			t.Errorf("GET %s, cancelled: %d %s; want 503 %s", target, rec.Code, body, cancelled)
		}
		rec = httptest.NewRecorder()
		h.ServeHTTP(rec, newRequest("GET", target, nil))
		if rec.Code != http.StatusOK {
			t.Errorf("GET %s: %d %s", target, rec.Code, rec.Body)
		}
	}
}
