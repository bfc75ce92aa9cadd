package server

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// httpDo serves one request with a JSON body on h.
func httpDo(h http.Handler, method, target, body string) (int, string) {
	rec := httptest.NewRecorder()
	req := newRequest(method, target, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	h.ServeHTTP(rec, req)
	return rec.Code, strings.TrimSuffix(rec.Body.String(), "\n")
}

// TestAPIOneSnapshot runs requests that read several things beside
// writers that change them, and checks what only one snapshot (or the
// request's own transaction) guarantees.
func TestAPIOneSnapshot(t *testing.T) {
	ix, cs := pagingIndex(t, filepath.Join(t.TempDir(), "p.db"), 300)
	defer ix.Close()
	h := New(ix, Options{})
	if err := ix.SaveSegment("x", "tag:x"); err != nil {
		t.Fatal(err)
	}
	var live []string
	for _, c := range cs {
		if !c.deleted {
			live = append(live, c.uuid)
		}
	}
	stop := make(chan struct{})
	var writers sync.WaitGroup
	writers.Go(func() { // tag x comes and goes
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			u := live[i*7%len(live)]
			if i%2 == 0 {
				ix.AddTags(u, "x")
			} else {
				ix.RemoveTags(live[(i*7+3)%len(live)], "x")
			}
		}
	})
	deadline := time.Now().Add(300 * time.Millisecond)
	for n := 0; n < 50 || time.Now().Before(deadline); n++ {
		// Tag stats of tag:x: every member holds x, so the header's count
		// is the entry's, when both come from one evaluation's snapshot.
		target := "/v1/segments/tags?query=tag%3Ax&limit=0"
		if n%2 == 1 {
			target = "/v1/segments/tags?segment=x&limit=0"
		}
		status, body := httpGet(t, h, target)
		var res struct {
			Customers uint64 `json:"customers"`
			Entries   []struct {
				Tag       string `json:"tag"`
				Customers uint64 `json:"customers"`
			} `json:"entries"`
		}
		if err := json.Unmarshal([]byte(body), &res); status != http.StatusOK || err != nil {
			t.Fatalf("GET %s: %d %s", target, status, body)
		}
		for _, e := range res.Entries {
			if e.Tag == "x" && e.Customers != res.Customers {
				t.Fatalf("GET %s: header says %d customers, the entry of x %d", target, res.Customers, e.Customers)
			}
		}
		// setMRR answers the customer as its own write left it, whatever
		// the other writer does meanwhile.
		u := live[n%len(live)]
		cents := 100 + n
		status, body = httpDo(h, "POST", "/v1/customers/"+u+"/mrr", fmt.Sprintf(`{"mrr": %d, "date": "2030-01-01"}`, cents))
		var c struct {
			MRR int `json:"mrr"`
		}
		if err := json.Unmarshal([]byte(body), &c); status != http.StatusOK || err != nil || c.MRR != cents {
			t.Fatalf("POST mrr %d: %d %s", cents, status, body)
		}
	}
	close(stop)
	writers.Wait()

	// A customer deleted while MRR is set: 200 with the MRR, or 404 when
	// the delete came first; never 404 after the write succeeded (the
	// answer is read in the write's own transaction).
	for i, u := range live[:40] {
		var wg sync.WaitGroup
		wg.Go(func() { ix.DeleteCustomer(u) })
		status, body := httpDo(h, "POST", "/v1/customers/"+u+"/mrr", `{"mrr": 500, "date": "2031-01-01"}`)
		wg.Wait()
		switch {
		case status == http.StatusOK && strings.Contains(body, `"mrr":500`):
		case status == http.StatusNotFound && body == notFound:
		default:
			t.Fatalf("%d: POST mrr beside a delete: %d %s", i, status, body)
		}
	}
}

// TestAPIUnavailable: a closed index answers 503 with ChartMogul's error
// body on every endpoint, reads and writes, ping included (never an
// empty list or a 404).
func TestAPIUnavailable(t *testing.T) {
	ix, cs := pagingIndex(t, filepath.Join(t.TempDir(), "p.db"), 30)
	h := New(ix, Options{})
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	const closed = `{"code":503,"message":"The index is closed","param":null}`
	for _, c := range everyEndpoint(cs[0].uuid) {
		status, body := httpDo(h, c.method, c.target, c.body)
		if status != http.StatusServiceUnavailable || body != closed {
			t.Errorf("%s %s on a closed index: %d %s; want 503 %s", c.method, c.target, status, body, closed)
		}
	}
}

// TestAPIInFlight: past MaxInFlight requests being served, one more is
// answered 503 with Retry-After at once; ping always answers; the slot
// frees when the request ends.
func TestAPIInFlight(t *testing.T) {
	ix, _ := pagingIndex(t, filepath.Join(t.TempDir(), "p.db"), 30)
	defer ix.Close()
	h := New(ix, Options{MaxInFlight: 1})
	body, send := io.Pipe()
	held := make(chan int)
	go func() { // holds the one slot while its body is read
		rec := httptest.NewRecorder()
		req := newRequest("POST", "/v1/customers", body)
		h.ServeHTTP(rec, req)
		held <- rec.Code
	}()
	send.Write([]byte(`{"data_source_uuid": "ds_0", `)) // the handler is reading: the slot is taken
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, newRequest("GET", "/v1/customers", nil))
	const busy = `{"code":503,"message":"Too many requests in flight (1); retry later","param":null}`
	if got := strings.TrimSuffix(rec.Body.String(), "\n"); rec.Code != http.StatusServiceUnavailable || got != busy || rec.Header().Get("Retry-After") != "1" {
		t.Errorf("a second request: %d %s (Retry-After %q); want 503 %s, Retry-After 1", rec.Code, got, rec.Header().Get("Retry-After"), busy)
	}
	if status, body := httpGet(t, h, "/v1/ping"); status != http.StatusOK {
		t.Errorf("ping while busy: %d %s", status, body)
	}
	send.Write([]byte(`"external_id": "new"}`))
	send.Close()
	if code := <-held; code != http.StatusCreated {
		t.Errorf("the request holding the slot: %d", code)
	}
	if status, body := httpGet(t, h, "/v1/customers?per_page=1"); status != http.StatusOK {
		t.Errorf("after the slot freed: %d %s", status, body)
	}
}
