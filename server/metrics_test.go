package server

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/tagseg/tagseg"
)

func TestAPIMetrics(t *testing.T) {
	srv, _ := newAPI(t, Options{APIKey: "key_123"})
	a := &apiSession{t: t, srv: srv}
	auth := map[string]string{"Authorization": "Basic a2V5XzEyMzo="}
	a.run(
		call{method: "GET", path: "/v1/customers/cus_a", status: 200, header: auth},
		call{method: "GET", path: "/v1/customers/nobody", status: 404, header: auth},
		call{method: "GET", path: "/v1/nowhere", status: 404, header: auth},
		call{method: "GET", path: "/v1/customers/cus_a", status: 401},
		// The same segment twice: the second is a kept answer.
		call{method: "GET", path: "/v1/segments/metrics?query=tag%3Aplan-pro", status: 200, header: auth},
		call{method: "GET", path: "/v1/segments/metrics?query=tag%3Aplan-pro", status: 200, header: auth},
	)
	get := func(header map[string]string) (int, string) {
		req, _ := http.NewRequest("GET", srv.URL+"/metrics", nil)
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get(nil); code != 401 {
		t.Errorf("GET /metrics without the key: %d", code)
	}
	code, body := get(auth)
	if code != 200 {
		t.Fatalf("GET /metrics: %d %s", code, body)
	}
	for _, want := range []string{
		`tagseg_http_requests_total{code="200",route="GET /v1/customers/{uuid}"} 1`,
		`tagseg_http_requests_total{code="404",route="GET /v1/customers/{uuid}"} 1`,
		`tagseg_http_requests_total{code="401",route="GET /v1/customers/{uuid}"} 1`,
		`tagseg_http_requests_total{code="404",route="unmatched"} 1`,
		`tagseg_http_request_duration_seconds_count{route="GET /v1/customers/{uuid}"} 3`,
		`tagseg_http_request_duration_seconds_bucket{route="GET /v1/customers/{uuid}",le="10"} 3`,
		"tagseg_index_up 1",
		"tagseg_customers 3",
		"tagseg_tags 3",
		"tagseg_index_file_bytes ",
		"tagseg_index_last_commit_timestamp_seconds ",
		"tagseg_index_txid ",
		"go_goroutines ",
		"tagseg_answers_entries 1",
		"tagseg_answers_max_bytes " + strconv.FormatFloat(float64(tagseg.DefaultCacheBytes), 'g', -1, 64),
		"tagseg_answers_bytes ",
		"tagseg_heavy_reads_running 0",
		"tagseg_heavy_reads_waiting 0",
	} {
		if !strings.Contains(body, want+"\n") && !strings.Contains(body, "\n"+want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	// Hits and misses are counters of the index's, which the fixture's own
	// reads may have moved too: at least the second request hit.
	for _, name := range []string{"tagseg_answers_hits_total", "tagseg_answers_misses_total"} {
		m := regexp.MustCompile(`(?m)^` + name + ` (\d+)$`).FindStringSubmatch(body)
		if m == nil || m[1] == "0" {
			t.Errorf("/metrics: %s = %v, want at least 1", name, m)
		}
	}
}

func TestAPIAccessLog(t *testing.T) {
	var log syncBuffer
	srv, _ := newAPI(t, Options{APIKey: "key_123", Access: slog.New(slog.NewJSONHandler(&log, nil))})
	a := &apiSession{t: t, srv: srv}
	a.run(
		call{method: "GET", path: "/v1/segments/metrics?query=tag%3Aplan-pro", status: 200,
			header: map[string]string{"Authorization": "Basic a2V5XzEyMzo="}},
		call{method: "GET", path: "/v1/customers/cus_a", status: 401,
			header: map[string]string{"Authorization": "Basic a2V5XzQ1Njo="}}, // key_456
	)
	out := log.String()
	for _, secret := range []string{"key_123", "a2V5XzEyMzo", "key_456", "a2V5XzQ1Njo", "plan-pro"} {
		if strings.Contains(out, secret) {
			t.Errorf("access log holds %q:\n%s", secret, out)
		}
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines:\n%s", len(lines), out)
	}
	for i, want := range []struct {
		path   string
		status float64
	}{{"/v1/segments/metrics", 200}, {"/v1/customers/cus_a", 401}} {
		var rec map[string]any
		if err := json.Unmarshal([]byte(lines[i]), &rec); err != nil {
			t.Fatal(err)
		}
		if rec["msg"] != "request" || rec["method"] != "GET" || rec["path"] != want.path || rec["status"] != want.status {
			t.Errorf("line %d: %v", i, rec)
		}
		if b, _ := rec["bytes"].(float64); b <= 0 {
			t.Errorf("line %d: bytes %v", i, rec["bytes"])
		}
		if _, ok := rec["duration"].(float64); !ok {
			t.Errorf("line %d: duration %v", i, rec["duration"])
		}
	}
}
