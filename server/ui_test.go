package server

// Tests of the server-side pieces of the browser page: query errors with
// their offset, tag completion, a customer's MRR history, bulk-change dry
// runs, the page's routes and cross-origin protection.

import (
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/tagseg/tagseg"
)

func TestAPIQuerySyntaxErrors(t *testing.T) {
	srv, _ := newAPI(t, Options{})
	a := &apiSession{t: t, srv: srv}
	a.run(
		// Parse errors, wherever a query is read: offset, expected, found.
		call{method: "GET", path: "/v1/segments/metrics?query=tag%3Aa+AND+(", status: 400,
			want: `{"code":400,"message":"Invalid query: syntax error at offset 11: expected expression, found end of query","param":"query","offset":11,"expected":"expression","found":""}`},
		call{method: "GET", path: "/v1/segments/customers?query=mrr%3Aabc", status: 400,
			want: `{"code":400,"message":"Invalid query: syntax error at offset 4: expected integer, found \"abc\"","param":"query","offset":4,"expected":"integer","found":"abc"}`},
		call{method: "GET", path: "/v1/segments/tags?query=tag%3Aa+)", status: 400,
			want: `{"code":400,"message":"Invalid query: syntax error at offset 6: expected AND, OR or end of query, found \")\"","param":"query","offset":6,"expected":"AND, OR or end of query","found":")"}`},
		// An unknown field is a syntax error too.
		call{method: "GET", path: "/v1/segments/series?query=colour%3Ared&start-date=2024-01-01&end-date=2024-02-01", status: 400,
			want: `{"code":400,"message":"Invalid query: syntax error at offset 0: expected field, found unknown field \"colour\"","param":"query","offset":0,"expected":"field","found":"colour"}`},
		call{method: "POST", path: "/v1/segments/tags", status: 400, body: `{"query":"tag:a AND colour:red","tags":["x"]}`,
			want: `{"code":400,"message":"Invalid query: syntax error at offset 10: expected field, found unknown field \"colour\"","param":"query","offset":10,"expected":"field","found":"colour"}`},
		call{method: "DELETE", path: "/v1/segments/tags", status: 400, body: `{"query":"tag:","tags":["x"]}`,
			want: `{"code":400,"message":"Invalid query: syntax error at offset 4: expected value, found end of query","param":"query","offset":4,"expected":"value","found":""}`},
		call{method: "PUT", path: "/v1/segments/saved/bad", status: 400, body: `{"query":"NOT (tag:a"}`,
			want: `{"code":400,"message":"Invalid query: syntax error at offset 10: expected AND, OR or \")\", found end of query","param":"query","offset":10,"expected":"AND, OR or \")\"","found":""}`},
		// Other 400s keep ChartMogul's body as it was.
		call{method: "GET", path: "/v1/segments/metrics?segment=a&query=*", status: 400,
			want: `{"code":400,"message":"Give \"query\" or \"segment\", not both","param":"segment"}`},
		call{method: "POST", path: "/v1/segments/tags", status: 400, body: `{"tags":["x"]}`,
			want: `{"code":400,"message":"Parameter \"query\" is missing","param":"query"}`},
	)
}

// A query that parses but does not evaluate (no query of the language
// does so now) is answered without an offset.
func TestWriteQueryErrorWithoutOffset(t *testing.T) {
	w := httptest.NewRecorder()
	writeQueryError(w, fmt.Errorf("tagseg: custom.seats: %w", tagseg.ErrInvalidField))
	want := `{"code":400,"message":"Invalid query: custom.seats: invalid field","param":"query"}`
	if got := strings.TrimSpace(w.Body.String()); w.Code != 400 || got != want {
		t.Errorf("%d %s\nwant 400 %s", w.Code, got, want)
	}
}

func TestAPITagCompletion(t *testing.T) {
	srv, ix := newAPI(t, Options{})
	// Counts: plan-pro 3, plan-basic 2, plan-x 2, churn-risk-high 1, plan 1.
	for uuid, tags := range map[string][]string{
		"cus_a": {"plan"},
		"cus_b": {"plan-pro", "plan-x"},
		"cus_c": {"plan-pro", "plan-basic", "plan-x"},
	} {
		if _, err := ix.AddTags(uuid, tags...); err != nil {
			t.Fatal(err)
		}
	}
	a := &apiSession{t: t, srv: srv}
	a.run(
		call{method: "GET", path: "/v1/tags", status: 200,
			want: `{"entries":[{"tag":"plan-pro","customers":3},{"tag":"plan-basic","customers":2},{"tag":"plan-x","customers":2},` +
				`{"tag":"churn-risk-high","customers":1},{"tag":"plan","customers":1}],"has_more":false}`},
		call{method: "GET", path: "/v1/tags?prefix=plan-", status: 200,
			want: `{"entries":[{"tag":"plan-pro","customers":3},{"tag":"plan-basic","customers":2},{"tag":"plan-x","customers":2}],"has_more":false}`},
		// Ties by name; has_more when the limit cut matches.
		call{method: "GET", path: "/v1/tags?prefix=plan&limit=3", status: 200,
			want: `{"entries":[{"tag":"plan-pro","customers":3},{"tag":"plan-basic","customers":2},{"tag":"plan-x","customers":2}],"has_more":true}`},
		call{method: "GET", path: "/v1/tags?prefix=plan&limit=4", status: 200,
			want: `{"entries":[{"tag":"plan-pro","customers":3},{"tag":"plan-basic","customers":2},{"tag":"plan-x","customers":2},{"tag":"plan","customers":1}],"has_more":false}`},
		call{method: "GET", path: "/v1/tags?prefix=plan-b&limit=1", status: 200,
			want: `{"entries":[{"tag":"plan-basic","customers":2}],"has_more":false}`},
		call{method: "GET", path: "/v1/tags?prefix=Plan", status: 200, want: `{"entries":[],"has_more":false}`},
		call{method: "GET", path: "/v1/tags?prefix=zzz", status: 200, want: `{"entries":[],"has_more":false}`},
		call{method: "GET", path: "/v1/tags?limit=0", status: 400,
			want: `{"code":400,"message":"Parameter \"limit\" must be an integer from 1 to 1000","param":"limit"}`},
		call{method: "GET", path: "/v1/tags?limit=1001", status: 400,
			want: `{"code":400,"message":"Parameter \"limit\" must be an integer from 1 to 1000","param":"limit"}`},
		call{method: "GET", path: "/v1/tags?limit=ten", status: 400,
			want: `{"code":400,"message":"Parameter \"limit\" must be an integer from 1 to 1000","param":"limit"}`},
	)
}

// TestAPITagCompletionTopK checks the pass that keeps the best limit
// tags against a full sort, over more tags than several limits.
func TestAPITagCompletionTopK(t *testing.T) {
	srv, ix := newAPI(t, Options{})
	// t-00 .. t-49: t-i is held by i%3+1 customers.
	uuids := []string{"cus_a", "cus_b", "cus_c"}
	for i := range 50 {
		tag := fmt.Sprintf("t-%02d", i)
		for _, u := range uuids[:i%3+1] {
			if _, err := ix.AddTags(u, tag); err != nil {
				t.Fatal(err)
			}
		}
	}
	a := &apiSession{t: t, srv: srv}
	for _, limit := range []int{1, 2, 7, 16, 17, 50, 51} {
		var want []string
		for _, count := range []int{3, 2, 1} {
			for i := range 50 {
				if i%3+1 == count {
					want = append(want, fmt.Sprintf(`{"tag":"t-%02d","customers":%d}`, i, count))
				}
			}
		}
		more := limit < len(want)
		want = want[:min(limit, len(want))]
		a.do(call{method: "GET", path: fmt.Sprintf("/v1/tags?prefix=t-&limit=%d", limit), status: 200,
			want: fmt.Sprintf(`{"entries":[%s],"has_more":%v}`, strings.Join(want, ","), more)})
	}
}

func TestAPIMRRHistory(t *testing.T) {
	srv, ix := newAPI(t, Options{})
	// A change at a time of day, and one replacing an earlier one.
	at := time.Date(2024, 3, 5, 13, 30, 15, 500_000_000, time.FixedZone("CET", 3600))
	for _, ev := range []struct {
		at    time.Time
		cents int64
	}{{at, 3000}, {date("2024-02-01"), 2600}} {
		if err := ix.SetMRR("cus_b", ev.at, ev.cents); err != nil {
			t.Fatal(err)
		}
	}
	a := &apiSession{t: t, srv: srv}
	a.run(
		call{method: "GET", path: "/v1/customers/cus_a/mrr", status: 200,
			want: `{"entries":[{"date":"2024-01-10T00:00:00Z","mrr":10000}]}`},
		call{method: "GET", path: "/v1/customers/cus_b/mrr", status: 200,
			want: `{"entries":[{"date":"2024-02-01T00:00:00Z","mrr":2600},{"date":"2024-03-05T12:30:15.5Z","mrr":3000},{"date":"2024-04-15T00:00:00Z","mrr":0}]}`},
		call{method: "GET", path: "/v1/customers/cus_c/mrr", status: 200, want: `{"entries":[]}`},
		call{method: "GET", path: "/v1/customers/cus_nope/mrr", status: 404, want: notFound},
		// What POST records, GET reads back.
		call{method: "POST", path: "/v1/customers/cus_c/mrr", status: 200, body: `{"mrr":4900,"date":"2024-05-01"}`},
		call{method: "GET", path: "/v1/customers/cus_c/mrr", status: 200,
			want: `{"entries":[{"date":"2024-05-01T00:00:00Z","mrr":4900}]}`},
	)
}

// tagsOfAll reads every customer's tags, to see that nothing changed.
func tagsOfAll(t *testing.T, ix *tagseg.Index) string {
	t.Helper()
	var b strings.Builder
	for _, uuid := range []string{"cus_a", "cus_b", "cus_c"} {
		c, err := ix.Customer(uuid)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s:%s;", uuid, strings.Join(c.Tags, ","))
	}
	return b.String()
}

func TestAPIBulkDryRun(t *testing.T) {
	srv, ix := newAPI(t, Options{MaxCustomers: 2, ConfirmAbove: 1})
	a := &apiSession{t: t, srv: srv}
	before := tagsOfAll(t, ix)
	a.run(
		// Above the cap and the threshold, unconfirmed: a dry run answers.
		call{method: "POST", path: "/v1/segments/tags", status: 200, body: `{"query":"*","tags":["x"],"dry_run":true}`,
			want: `{"query":"*","would_change":3,"dry_run":true,"confirm_above":1,"max_customers":2}`},
		call{method: "POST", path: "/v1/segments/tags?dry_run=true", status: 200, body: `{"query":"tag:plan-pro","tags":["plan-pro","y"]}`,
			want: `{"query":"tag:plan-pro","would_change":1,"dry_run":true,"confirm_above":1,"max_customers":2}`},
		call{method: "POST", path: "/v1/segments/tags?dry_run=1", status: 200, body: `{"query":"tag:plan-pro","tags":[" plan-pro "]}`,
			want: `{"query":"tag:plan-pro","would_change":0,"dry_run":true,"confirm_above":1,"max_customers":2}`},
		call{method: "DELETE", path: "/v1/segments/tags", status: 200, body: `{"query":"*","tags":["plan-pro","plan-basic"],"dry_run":true}`,
			want: `{"query":"*","would_change":2,"dry_run":true,"confirm_above":1,"max_customers":2}`},
		// The body's dry_run wins over the parameter's: this one is real.
		call{method: "POST", path: "/v1/segments/tags?dry_run=true", status: 400, body: `{"query":"*","tags":["x"],"dry_run":false}`,
			want: `{"code":400,"message":"This would change the tags of 3 customers; a request may change at most 2","param":"query"}`},
		// Refused as the change would be.
		call{method: "POST", path: "/v1/segments/tags?dry_run=maybe", status: 400, body: `{"query":"*","tags":["x"]}`,
			want: `{"code":400,"message":"Parameter \"dry_run\" must be true or false","param":"dry_run"}`},
		call{method: "POST", path: "/v1/segments/tags", status: 400, body: `{"query":"*","tags":["x"],"dry_run":"yes"}`,
			want: `{"code":400,"message":"Invalid JSON: dry_run must be a boolean, not string","param":null}`},
		call{method: "POST", path: "/v1/segments/tags", status: 422, body: `{"query":"*","tags":["ok","  "],"dry_run":true}`,
			want: `{"errors":{"tags":"tag \"  \" is only white space: invalid tag"}}`},
		call{method: "POST", path: "/v1/segments/tags", status: 400, body: `{"tags":["x"],"dry_run":true}`,
			want: `{"code":400,"message":"Parameter \"query\" is missing","param":"query"}`},
		call{method: "POST", path: "/v1/segments/tags", status: 400, body: `{"query":"tag:","tags":["x"],"dry_run":true}`,
			want: `{"code":400,"message":"Invalid query: syntax error at offset 4: expected value, found end of query","param":"query","offset":4,"expected":"value","found":""}`},
		call{method: "DELETE", path: "/v1/segments/tags", status: 404, body: `{"segment":"nope","tags":["x"],"dry_run":true}`,
			want: `{"error":"Segment not found"}`},
	)
	if after := tagsOfAll(t, ix); after != before {
		t.Errorf("dry runs changed tags:\n%s\nwas\n%s", after, before)
	}
	// No caps: 0.
	srv2, _ := newAPI(t, Options{MaxCustomers: -1, ConfirmAbove: -1})
	(&apiSession{t: t, srv: srv2}).do(call{method: "POST", path: "/v1/segments/tags", status: 200, body: `{"query":"*","tags":["x"],"dry_run":true}`,
		want: `{"query":"*","would_change":3,"dry_run":true,"confirm_above":0,"max_customers":0}`})
}

// TestAPIBulkDryRunCounts checks that a dry run's would_change is what
// the change then reports as changed, for a sequence of changes.
func TestAPIBulkDryRunCounts(t *testing.T) {
	srv, ix := newAPI(t, Options{})
	a := &apiSession{t: t, srv: srv}
	if err := ix.SaveSegment("pro", "tag:plan-pro"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		method, segment string // segment: "query":... or "segment":...
		tags            string
	}{
		{"POST", `"query":"*"`, `["x"]`},
		{"POST", `"query":"*"`, `["x"]`},
		{"POST", `"query":"country:US OR country:DE"`, `["x","y","y"]`},
		{"DELETE", `"segment":"pro"`, `["y","churn-risk-high"]`},
		{"DELETE", `"query":"*"`, `["x"," y "]`},
		{"POST", `"query":"NOT *"`, `["x"]`},
		{"POST", `"query":"mrr > 0 OR tag:plan-basic"`, `["plan-basic"]`},
		{"DELETE", `"query":"tag:never-held"`, `["plan-pro"]`},
	} {
		before := tagsOfAll(t, ix)
		var dry struct {
			WouldChange int  `json:"would_change"`
			DryRun      bool `json:"dry_run"`
		}
		body := `{` + c.segment + `,"tags":` + c.tags
		got := a.do(call{method: c.method, path: "/v1/segments/tags", status: 200, body: body + `,"dry_run":true}`})
		if err := json.Unmarshal([]byte(got), &dry); err != nil || !dry.DryRun {
			t.Fatalf("%s %s: %s %v", c.method, body, got, err)
		}
		if after := tagsOfAll(t, ix); after != before {
			t.Fatalf("%s %s: the dry run changed tags:\n%s\nwas\n%s", c.method, body, after, before)
		}
		var real map[string]any
		got = a.do(call{method: c.method, path: "/v1/segments/tags", status: 200, body: body + `}`})
		if err := json.Unmarshal([]byte(got), &real); err != nil {
			t.Fatal(err)
		}
		if len(real) != 2 || real["changed"] != float64(dry.WouldChange) || real["query"] == nil {
			t.Errorf("%s %s: the dry run said %d, the change %s", c.method, body, dry.WouldChange, got)
		}
	}
}

// get sends a request and returns the response with its body read.
func get(t *testing.T, h http.Handler, method, path string, header map[string]string) (*http.Response, string) {
	t.Helper()
	req := newRequest(method, path, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	resp := w.Result()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestUIRoutes(t *testing.T) {
	_, ix := newAPI(t, Options{})
	web := fstest.MapFS{
		"index.html":     {Data: []byte("<!doctype html>\n<html><title>page</title></html>\n")},
		"app.js":         {Data: []byte("console.log(1)\n")},
		"app.css":        {Data: []byte("body{}\n")},
		"logo.svg":       {Data: []byte("<svg/>")},
		"icons/logo.png": {Data: []byte("\x89PNG\r\n\x1a\n")},
	}
	h := New(ix, Options{APIKey: "key_123", Web: web})
	for _, c := range []struct {
		method, path string
		status       int
		contentType  string
		body         string
	}{
		{"GET", "/", 200, "text/html; charset=utf-8", string(web["index.html"].Data)},
		{"HEAD", "/", 200, "text/html; charset=utf-8", ""},
		{"GET", "/ui/app.js", 200, "text/javascript; charset=utf-8", "console.log(1)\n"},
		{"GET", "/ui/app.css", 200, "text/css; charset=utf-8", "body{}\n"},
		{"GET", "/ui/logo.svg", 200, "image/svg+xml", "<svg/>"},
		{"GET", "/ui/icons/logo.png", 200, "image/png", "\x89PNG\r\n\x1a\n"},
		// No listings, no unknown files, no escape.
		{"GET", "/ui/nope.js", 404, "application/json; charset=utf-8", `{"code":404,"message":"No such file: /ui/nope.js","param":null}` + "\n"},
		{"GET", "/ui/", 404, "application/json; charset=utf-8", `{"code":404,"message":"No such file: /ui/","param":null}` + "\n"},
		{"GET", "/ui/icons", 404, "application/json; charset=utf-8", ""},
		{"GET", "/ui/icons/", 404, "application/json; charset=utf-8", ""},
		{"GET", "/ui/..%2fserver.go", 404, "application/json; charset=utf-8", ""},
		{"GET", "/ui/index.html", 301, "", ""},
		// Only GET and HEAD; the rest of the API is as it was.
		{"POST", "/", 401, "application/json; charset=utf-8", ""},
		{"GET", "/index.html", 401, "application/json; charset=utf-8", ""},
	} {
		resp, body := get(t, h, c.method, c.path, nil)
		if resp.StatusCode != c.status {
			t.Errorf("%s %s: %d, want %d: %s", c.method, c.path, resp.StatusCode, c.status, body)
			continue
		}
		if ct := resp.Header.Get("Content-Type"); c.contentType != "" && ct != c.contentType {
			t.Errorf("%s %s: Content-Type %q, want %q", c.method, c.path, ct, c.contentType)
		}
		if c.body != "" && body != c.body {
			t.Errorf("%s %s: body %q, want %q", c.method, c.path, body, c.body)
		}
		if cc := resp.Header.Get("Cache-Control"); c.status == 200 && cc != "no-cache" {
			t.Errorf("%s %s: Cache-Control %q", c.method, c.path, cc)
		}
	}
	if resp, _ := get(t, h, "GET", "/ui/index.html", nil); resp.Header.Get("Location") != "../" {
		t.Errorf("/ui/index.html redirects to %q", resp.Header.Get("Location"))
	}
}

// TestUIEmbedded serves the embedded web/: index.html at /, and every
// other file of it under /ui/ as it is.
func TestUIEmbedded(t *testing.T) {
	_, ix := newAPI(t, Options{})
	h := New(ix, Options{APIKey: "key_123"})
	resp, body := get(t, h, "GET", "/", nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" || !strings.Contains(body, "<html") {
		t.Errorf("GET /: %d %q %.100q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	err := fs.WalkDir(webFS, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || name == "index.html" {
			return err
		}
		want, err := fs.ReadFile(webFS, name)
		if err != nil {
			return err
		}
		resp, body := get(t, h, "GET", "/ui/"+name, nil)
		if resp.StatusCode != 200 || body != string(want) {
			t.Errorf("GET /ui/%s: %d, %d bytes, want %d", name, resp.StatusCode, len(body), len(want))
		}
		if ct, ok := contentTypes[path.Ext(name)]; ok && resp.Header.Get("Content-Type") != ct {
			t.Errorf("GET /ui/%s: Content-Type %q, want %q", name, resp.Header.Get("Content-Type"), ct)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp, _ := get(t, h, "GET", "/ui/no-such-file.js", nil); resp.StatusCode != 404 {
		t.Errorf("GET /ui/no-such-file.js: %d", resp.StatusCode)
	}
}

// The page needs no key, the API still does; the page's 401s do not ask
// the browser for Basic auth; the page is outside the in-flight cap.
func TestUIAuthAndCap(t *testing.T) {
	_, ix := newAPI(t, Options{})
	h := New(ix, Options{APIKey: "key_123", MaxInFlight: 1})
	auth := map[string]string{"Authorization": "Basic a2V5XzEyMzo="}
	unauthorized := `{"code":401,"message":"No valid API key provided","param":null}` + "\n"
	for _, c := range []struct {
		method, path string
		header       map[string]string
		status       int
		challenge    string // WWW-Authenticate
	}{
		{"GET", "/", nil, 200, ""},
		{"GET", "/v1/ping", nil, 401, `Basic realm="tagseg"`},
		{"GET", "/v1/segments/metrics", nil, 401, `Basic realm="tagseg"`},
		{"GET", "/v1/tags", map[string]string{pageHeader: "1"}, 401, ""},
		{"POST", "/v1/segments/tags", map[string]string{pageHeader: "1"}, 401, ""},
		{"GET", "/v1/ping", map[string]string{pageHeader: "1", "Authorization": "Basic a2V5XzQ1Njo="}, 401, ""}, // key_456
		{"GET", "/v1/ping", map[string]string{pageHeader: "0"}, 401, `Basic realm="tagseg"`},
		{"GET", "/metrics", nil, 401, `Basic realm="tagseg"`},
		{"GET", "/v1/ping", auth, 200, ""},
		{"GET", "/v1/tags", map[string]string{pageHeader: "1", "Authorization": "Basic a2V5XzEyMzo="}, 200, ""},
	} {
		resp, body := get(t, h, c.method, c.path, c.header)
		if resp.StatusCode != c.status || resp.Header.Get("WWW-Authenticate") != c.challenge {
			t.Errorf("%s %s %v: %d WWW-Authenticate %q, want %d %q", c.method, c.path, c.header, resp.StatusCode,
				resp.Header.Get("WWW-Authenticate"), c.status, c.challenge)
		}
		if c.status == 401 && body != unauthorized {
			t.Errorf("%s %s: %s", c.method, c.path, body)
		}
	}

	// Every slot taken: the API is refused, the page is not.
	s := h.(*server)
	s.inFlight <- struct{}{}
	defer func() { <-s.inFlight }()
	if resp, _ := get(t, h, "GET", "/v1/customers/cus_a", auth); resp.StatusCode != 503 {
		t.Errorf("API with no slot free: %d", resp.StatusCode)
	}
	for _, p := range []string{"/", "/ui/no-such-file.js"} {
		if resp, _ := get(t, h, "GET", p, nil); resp.StatusCode == 503 {
			t.Errorf("GET %s with no slot free: 503", p)
		}
	}
}

func TestAPICrossOrigin(t *testing.T) {
	_, ix := newAPI(t, Options{})
	h := New(ix, Options{APIKey: "key_123", TrustedOrigins: []string{"https://page.example", "http://localhost:9000"}})
	const key = "Basic a2V5XzEyMzo="
	refusedSite := `{"code":403,"message":"Cross-origin request refused: cross-origin request detected from Sec-Fetch-Site header","param":null}` + "\n"
	refusedOrigin := `{"code":403,"message":"Cross-origin request refused: cross-origin request detected, and/or browser is out of date: Sec-Fetch-Site is missing, and Origin does not match Host","param":null}` + "\n"
	tag := `{"query":"tag:plan-basic","tags":["x"]}`
	for _, c := range []struct {
		method, path, body string
		header             map[string]string // Host is example.com
		status             int
		want               string
	}{
		// Browsers' cross-site writes are refused, before the key is read.
		{"POST", "/v1/segments/tags", tag, map[string]string{"Sec-Fetch-Site": "cross-site"}, 403, refusedSite},
		{"POST", "/v1/segments/tags", tag, map[string]string{"Sec-Fetch-Site": "same-site", "Authorization": key}, 403, refusedSite},
		{"DELETE", "/v1/segments/tags", tag, map[string]string{"Sec-Fetch-Site": "cross-site", "Authorization": key}, 403, refusedSite},
		{"PUT", "/v1/segments/saved/x", `{"query":"*"}`, map[string]string{"Sec-Fetch-Site": "cross-site", "Authorization": key}, 403, refusedSite},
		{"POST", "/v1/customers/cus_a/attributes/tags", `{"tags":["x"]}`, map[string]string{"Origin": "http://evil.example", "Authorization": key}, 403, refusedOrigin},
		{"PATCH", "/v1/customers/cus_a", `{}`, map[string]string{"Origin": "http://evil.example", "Authorization": key}, 403, refusedOrigin},
		{"DELETE", "/v1/customers/cus_a", "", map[string]string{"Origin": "http://example.com:8080", "Authorization": key}, 403, refusedOrigin},
		// Reads never are.
		{"GET", "/v1/segments/metrics", "", map[string]string{"Sec-Fetch-Site": "cross-site", "Authorization": key}, 200, ""},
		{"GET", "/v1/tags", "", map[string]string{"Origin": "http://evil.example", "Authorization": key}, 200, ""},
		{"GET", "/", "", map[string]string{"Sec-Fetch-Site": "cross-site"}, 200, ""},
		// The same origin, a trusted one, and non-browser clients pass.
		{"PUT", "/v1/segments/saved/same", `{"query":"*"}`, map[string]string{"Sec-Fetch-Site": "same-origin", "Authorization": key}, 200, ""},
		{"PUT", "/v1/segments/saved/typed", `{"query":"*"}`, map[string]string{"Sec-Fetch-Site": "none", "Authorization": key}, 200, ""},
		{"PUT", "/v1/segments/saved/host", `{"query":"*"}`, map[string]string{"Origin": "http://example.com", "Authorization": key}, 200, ""},
		{"PUT", "/v1/segments/saved/trusted", `{"query":"*"}`, map[string]string{"Origin": "https://page.example", "Sec-Fetch-Site": "cross-site", "Authorization": key}, 200, ""},
		{"PUT", "/v1/segments/saved/local", `{"query":"*"}`, map[string]string{"Origin": "http://localhost:9000", "Sec-Fetch-Site": "same-site", "Authorization": key}, 200, ""},
		{"PUT", "/v1/segments/saved/curl", `{"query":"*"}`, map[string]string{"Authorization": key}, 200, ""},
		{"PUT", "/v1/segments/saved/nokey", `{"query":"*"}`, map[string]string{"Sec-Fetch-Site": "same-origin"}, 401, ""},
	} {
		req := httptest.NewRequest(c.method, c.path, strings.NewReader(c.body)) // Host example.com: the server has a key
		for k, v := range c.header {
			req.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != c.status || (c.want != "" && w.Body.String() != c.want) {
			t.Errorf("%s %s %v: %d %s\nwant %d %s", c.method, c.path, c.header, w.Code, w.Body, c.status, c.want)
		}
		if w.Code == 403 && w.Header().Get("Content-Type") != "application/json; charset=utf-8" {
			t.Errorf("%s %s: 403 as %q", c.method, c.path, w.Header().Get("Content-Type"))
		}
	}
	// The refusals changed nothing, and count in the metrics.
	if n, _ := ix.Count(tagseg.Tag("x")); n != 0 {
		t.Errorf("%d customers tagged x", n)
	}
	if _, err := ix.Customer("cus_a"); err != nil {
		t.Error(err)
	}
	if _, err := savedQuery(ix, "x"); err == nil {
		t.Error("a refused PUT saved a segment")
	}
	_, metrics := get(t, h, "GET", "/metrics", map[string]string{"Authorization": key})
	if want := `tagseg_http_requests_total{code="403",route="POST /v1/segments/tags"} 2`; !strings.Contains(metrics, want) {
		t.Errorf("/metrics lacks %s", want)
	}
}

// savedQuery is the query saved under name.
func savedQuery(ix *tagseg.Index, name string) (q string, err error) {
	err = ix.View(func(tx *tagseg.Tx) error {
		q, err = tx.SavedSegment(name)
		return err
	})
	return q, err
}
