package server

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/tagseg/tagseg"
)

// TestHostCheck: a server without an API key answers only requests for a
// loopback name or address (and the hosts of its trusted origins); any
// other Host is refused with 403 and ChartMogul's error body, before
// anything is read or written: a page of another site whose name
// resolves to 127.0.0.1 (DNS rebinding) gets nothing. With a key, or
// AllowAnyHost, every Host is served.
func TestHostCheck(t *testing.T) {
	_, ix := newAPI(t, Options{})
	keyless := New(ix, Options{TrustedOrigins: []string{"https://page.example:8443"}})
	for _, c := range []struct {
		host string
		ok   bool
	}{
		{"localhost", true}, {"localhost:8080", true}, {"LocalHost:80", true}, {"localhost.:8080", true},
		{"127.0.0.1", true}, {"127.0.0.1:8080", true}, {"127.1.2.3:9", true},
		{"[::1]", true}, {"[::1]:8080", true},
		{"page.example", true}, {"PAGE.example:8443", true}, // a trusted origin's host
		{"evil.example", false}, {"evil.example:8080", false}, {"localhost.evil.example", false},
		{"127.0.0.1.evil.example", false}, {"10.0.0.1:8080", false}, {"[::2]:80", false},
		{"0.0.0.0:8080", false}, {"", false}, {"example.com", false},
	} {
		for _, target := range []string{"/v1/customers/cus_a", "/v1/ping", "/", "/metrics"} {
			r := newRequest("GET", target, nil)
			r.Host = c.host
			status, body := serveReq(keyless, r)
			if c.ok && status != http.StatusOK {
				t.Errorf("Host %q, GET %s: %d %s, want 200", c.host, target, status, body)
			}
			want := `{"code":403,"message":"Host \"` + c.host + `\" is refused: a server without an API key answers only for localhost, 127.0.0.1 or [::1] (and the hosts of its trusted origins); use one of those, or give the server an API key","param":null}`
			if !c.ok && (status != http.StatusForbidden || body != want) {
				t.Errorf("Host %q, GET %s: %d %s\nwant 403 %s", c.host, target, status, body, want)
			}
		}
	}
	// A refused write writes nothing.
	r := newRequest("POST", "/v1/customers/cus_a/attributes/tags", strings.NewReader(`{"tags": ["rebound"]}`))
	r.Host = "evil.example"
	if status, _ := serveReq(keyless, r); status != http.StatusForbidden {
		t.Errorf("a write for another host: %d", status)
	}
	if c, err := ix.Customer("cus_a"); err != nil || strings.Contains(strings.Join(c.Tags, ","), "rebound") {
		t.Errorf("a write for another host changed the customer: %v %v", c.Tags, err)
	}
	// With a key (the key is what protects it), or AllowAnyHost, any Host.
	for _, h := range []http.Handler{New(ix, Options{APIKey: "key_123"}), New(ix, Options{AllowAnyHost: true})} {
		r := newRequest("GET", "/v1/customers/cus_a", nil)
		r.Host = "tagseg.internal.example:8080"
		r.SetBasicAuth("key_123", "")
		if status, body := serveReq(h, r); status != http.StatusOK {
			t.Errorf("Host %s: %d %s", r.Host, status, body)
		}
	}
}

// serveReq serves r on h and returns the status and the body.
func serveReq(h http.Handler, r *http.Request) (int, string) {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Code, strings.TrimSuffix(w.Body.String(), "\n")
}

// everyEndpoint is a request for each route (reads and writes) with what
// it needs to reach the index, for the tests of an unavailable index.
func everyEndpoint(uuid string) []struct{ method, target, body string } {
	return []struct{ method, target, body string }{
		{"GET", "/v1/ping", ""},
		{"GET", "/v1/customers", ""},
		{"GET", "/v1/customers?external_id=1", ""},
		{"GET", "/v1/customers/search?email=u1%40x.com", ""},
		{"GET", "/v1/customers/" + uuid, ""},
		{"GET", "/v1/customers/" + uuid + "/attributes", ""},
		{"GET", "/v1/customers/" + uuid + "/mrr", ""},
		{"GET", "/v1/tags", ""},
		{"GET", "/v1/tags?prefix=t", ""},
		{"POST", "/v1/customers", `{"data_source_uuid": "ds_0", "external_id": "new"}`},
		{"POST", "/v1/customers/" + uuid + "/attributes/tags", `{"tags": ["a"]}`},
		{"DELETE", "/v1/customers/" + uuid + "/attributes/tags", `{"tags": ["t"]}`},
		{"POST", "/v1/customers/attributes/tags", `{"email": "u1@x.com", "tags": ["a"]}`},
		{"POST", "/v1/customers/" + uuid + "/mrr", `{"mrr": 1}`},
		{"DELETE", "/v1/customers/" + uuid, ""},
		{"GET", "/v1/segments/metrics?query=tag%3At", ""},
		{"GET", "/v1/segments/metrics?segment=x", ""},
		{"GET", "/v1/segments/metrics?segment=nope", ""},
		{"GET", "/v1/segments/series?start-date=2024-01-01&end-date=2024-03-01", ""},
		{"GET", "/v1/segments/tags", ""},
		{"GET", "/v1/segments/customers?query=tag%3At", ""},
		{"POST", "/v1/segments/tags", `{"query": "*", "tags": ["a"]}`},
		{"POST", "/v1/segments/tags?dry_run=true", `{"query": "*", "tags": ["a"]}`},
		{"DELETE", "/v1/segments/tags", `{"segment": "x", "tags": ["t"]}`},
		{"GET", "/v1/segments/saved", ""},
		{"GET", "/v1/segments/saved/x", ""},
		{"GET", "/v1/segments/saved/nope", ""},
		{"PUT", "/v1/segments/saved/s", `{"query": "tag:t"}`},
		{"DELETE", "/v1/segments/saved/x", ""},
	}
}

// fillDisk makes the commits of ix that need new pages fail as on a full
// disk, until the returned function is called: the process may not write
// the file past a limit (RLIMIT_FSIZE; Go ignores SIGXFSZ, so the write
// gets EFBIG). bbolt grows a file 16 MiB past what it needs, so the limit
// is the file's size less 16 MiB, at or below its last page in use. It
// checks that a batch fails with ErrIO and leaves the index up
// (tagseg.Index.Err is nil).
func fillDisk(t *testing.T, ix *tagseg.Index) (free func()) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("RLIMIT_FSIZE fault injection: Linux only")
	}
	fi, err := os.Stat(ix.Path())
	if err != nil {
		t.Fatal(err)
	}
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	lim := old
	lim.Cur = uint64(max(fi.Size()-16<<20, 0))
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		t.Skipf("setrlimit: %v", err)
	}
	free = func() {
		if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
			t.Fatal(err)
		}
	}
	err = ix.Update(func(tx *tagseg.Tx) error {
		for range 100 {
			if _, err := tx.CreateCustomer(tagseg.Customer{Name: strings.Repeat("n", 4096), Tags: []string{"big"}}); err != nil {
				return err
			}
		}
		return nil
	})
	if !errors.Is(err, tagseg.ErrIO) {
		free()
		t.Fatalf("a commit past the file size limit: %v, want ErrIO", err)
	}
	if err := ix.Err(); err != nil {
		free()
		t.Fatalf("Err after a commit that wrote nothing: %v, want nil", err)
	}
	return free
}

// TestAPIFailedIndex: a closed index answers 503 on every endpoint with
// ChartMogul's error body (never an empty 200 from what the index still
// holds in memory, nor a 404), /metrics says tagseg_index_up 0, and the
// page's files are still served. (An index whose commit failed after its
// meta page reached the file answers the same, through Index.Err; no
// fault this test can cause from outside the library leaves one.)
//
// On a full disk the index stays up: a write that needs room answers 503
// with Retry-After and changes nothing, reads answer 200, and writes work
// again once there is room.
func TestAPIFailedIndex(t *testing.T) {
	ix, cs := pagingIndex(t, t.TempDir()+"/f.db", 30)
	defer ix.Close()
	if err := ix.SaveSegment("x", "tag:t"); err != nil {
		t.Fatal(err)
	}
	h := New(ix, Options{})
	up := func() string {
		status, body := httpGet(t, h, "/metrics")
		m := regexp.MustCompile(`(?m)^tagseg_index_up (\d)$`).FindStringSubmatch(body)
		if status != 200 || m == nil {
			t.Fatalf("/metrics: %d, no tagseg_index_up", status)
		}
		return m[1]
	}
	if v := up(); v != "1" {
		t.Fatalf("tagseg_index_up of a sound index: %s", v)
	}

	free := fillDisk(t, ix)
	big := `{"data_source_uuid": "ds_0", "external_id": "big", "name": "` + strings.Repeat("n", 3000) + `"}`
	var status int
	var body string
	for i := 0; i < 2000; i++ { // until the file's free pages are used up
		status, body = httpDo(h, "POST", "/v1/customers", strings.Replace(big, `"big"`, `"big`+strconv.Itoa(i)+`"`, 1))
		if status != http.StatusOK && status != http.StatusCreated {
			break
		}
	}
	const full = `{"code":503,"message":"The index file could not be written (is the disk full?); nothing was changed: retry later","param":null}`
	if status != http.StatusServiceUnavailable || body != full {
		free()
		t.Fatalf("a write on a full disk: %d %s; want 503 %s", status, body, full)
	}
	if status, _ := httpGet(t, h, "/v1/customers/"+cs[0].uuid); status != 200 {
		t.Errorf("a read on a full disk: %d, want 200", status)
	}
	if v := up(); v != "1" {
		t.Errorf("tagseg_index_up on a full disk: %s, want 1", v)
	}
	free()
	if status, body := httpDo(h, "POST", "/v1/customers", strings.Replace(big, `"big"`, `"after"`, 1)); status != http.StatusOK && status != http.StatusCreated {
		t.Errorf("a write once there is room: %d %s", status, body)
	}

	ix.Close()
	const closed = `{"code":503,"message":"The index is closed","param":null}`
	for _, c := range everyEndpoint(cs[0].uuid) {
		if status, body := httpDo(h, c.method, c.target, c.body); status != http.StatusServiceUnavailable || body != closed {
			t.Errorf("%s %s on a closed index: %d %s; want 503 %s", c.method, c.target, status, body, closed)
		}
	}
	if v := up(); v != "0" {
		t.Errorf("tagseg_index_up of a closed index: %s, want 0", v)
	}
	if status, _ := httpGet(t, h, "/"); status != 200 {
		t.Errorf("the page of a closed index: %d", status)
	}
}
