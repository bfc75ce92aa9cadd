package server

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/tagseg/tagseg"
)

// TestHealthz: GET /healthz answers without the key (load balancers carry
// none) and beside a full in-flight cap, while /v1/ping keeps checking
// the key as ChartMogul's does; a closed index makes it a 503.
func TestHealthz(t *testing.T) {
	ix, err := tagseg.Open(filepath.Join(t.TempDir(), "h.db"), &tagseg.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	h := New(ix, Options{APIKey: "key_1", MaxInFlight: 1}).(*server)
	h.inFlight <- struct{}{} // the cap is full
	for _, c := range []struct {
		path, key string
		status    int
		body      string
	}{
		{"/healthz", "", 200, `{"status":"ok"}`},
		{"/v1/ping", "", 401, `{"code":401,"message":"No valid API key provided","param":null}`},
		{"/v1/ping", "key_1", 200, `{"data":"pong!"}`},
		{"/v1/customers", "key_1", 503, ""}, // the cap
	} {
		req := httptest.NewRequest("GET", c.path, nil)
		if c.key != "" {
			req.SetBasicAuth(c.key, "")
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != c.status || c.body != "" && rec.Body.String() != c.body+"\n" {
			t.Errorf("GET %s (key %q): %d %s, want %d %s", c.path, c.key, rec.Code, rec.Body, c.status, c.body)
		}
	}
	<-h.inFlight
	ix.Close()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("GET /healthz on a closed index: %d %s, want 503", rec.Code, rec.Body)
	}
}
