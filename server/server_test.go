package server

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tagseg/tagseg"
)

func date(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

// newAPI serves the API over a new index holding three customers:
// cus_a (Alice, MRR 100.00), cus_b (Bob, paid 25.00 from February to
// April) and cus_c (Carol, whose email is Alice's in other case, no MRR).
func newAPI(t *testing.T, opt Options) (*httptest.Server, *tagseg.Index) {
	t.Helper()
	ix, err := tagseg.Open(filepath.Join(t.TempDir(), "api.db"), &tagseg.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	// One call a customer, not one batch: creating two customers whose
	// emails differ only in case in one batch trips a bug of the library's
	// email table (Check then fails, by map order).
	err = func() error {
		for _, c := range []tagseg.Customer{
			{UUID: "cus_a", DataSourceUUID: "ds_1", ExternalID: "a", Name: "Alice", Email: "alice@example.com",
				Company: "Acme", Country: "US", State: "US-NY", City: "New York", Zip: "10001",
				LeadCreatedAt: date("2023-11-02"), Tags: []string{"plan-pro", "churn-risk-high"},
				Custom: map[string]any{"seats": 5, "renewal": date("2025-01-31"), "channel": "ads"}},
			{UUID: "cus_b", DataSourceUUID: "ds_1", ExternalID: "b", Name: "Bob", Email: "bob@example.com",
				Country: "DE", Tags: []string{"plan-basic"}},
			{UUID: "cus_c", DataSourceUUID: "ds_2", ExternalID: "c", Name: "Carol", Email: "ALICE@example.com"},
		} {
			if _, err := ix.CreateCustomer(c); err != nil {
				return err
			}
		}
		for _, ev := range []struct {
			uuid  string
			at    string
			cents int64
		}{{"cus_a", "2024-01-10", 10000}, {"cus_b", "2024-02-01", 2500}, {"cus_b", "2024-04-15", 0}} {
			if err := ix.SetMRR(ev.uuid, date(ev.at), ev.cents); err != nil {
				return err
			}
		}
		return nil
	}()
	if err != nil {
		t.Fatal(err)
	}
	if opt.Now == nil {
		opt.Now = func() time.Time { return date("2024-06-01") }
	}
	srv := httptest.NewServer(New(ix, opt))
	t.Cleanup(func() {
		srv.Close()
		if err := ix.Check(); err != nil {
			t.Errorf("index check: %v", err)
		}
		ix.Close()
	})
	return srv, ix
}

// call is one request and what must come back. want, when set, is the
// exact body; every call also goes to the golden transcript.
type call struct {
	method, path, body string
	status             int
	want               string
	header             map[string]string
}

type apiSession struct {
	t   *testing.T
	srv *httptest.Server
	b   strings.Builder
}

func (a *apiSession) do(c call) string {
	a.t.Helper()
	var body io.Reader
	if c.body != "" {
		body = strings.NewReader(c.body)
	}
	req, err := http.NewRequest(c.method, a.srv.URL+c.path, body)
	if err != nil {
		a.t.Fatal(err)
	}
	if c.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
	resp, err := a.srv.Client().Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		a.t.Fatal(err)
	}
	gotBody := strings.TrimSuffix(string(got), "\n")
	if resp.StatusCode != c.status {
		a.t.Errorf("%s %s: status %d, want %d\n%s", c.method, c.path, resp.StatusCode, c.status, gotBody)
	}
	if c.want != "" && gotBody != c.want {
		a.t.Errorf("%s %s:\n got %s\nwant %s", c.method, c.path, gotBody, c.want)
	}
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusNoContent && ct != "application/json; charset=utf-8" {
		a.t.Errorf("%s %s: Content-Type %q", c.method, c.path, ct)
	}
	if resp.StatusCode == http.StatusNoContent && len(got) != 0 {
		a.t.Errorf("%s %s: 204 with a body %q", c.method, c.path, got)
	}
	// Transcript: request, status, indented body.
	fmt.Fprintf(&a.b, "> %s %s\n", c.method, c.path)
	if c.body != "" {
		b := c.body
		if len(b) > 200 {
			b = b[:200] + fmt.Sprintf("... (%d bytes)", len(c.body))
		}
		fmt.Fprintf(&a.b, "> %s\n", b)
	}
	fmt.Fprintf(&a.b, "< %d\n", resp.StatusCode)
	if len(got) > 0 {
		var buf bytes.Buffer
		if json.Indent(&buf, got, "", "  ") == nil {
			a.b.WriteString(strings.TrimSuffix(buf.String(), "\n") + "\n")
		} else {
			a.b.WriteString(gotBody + "\n")
		}
	}
	a.b.WriteString("\n")
	return gotBody
}

func (a *apiSession) run(calls ...call) {
	a.t.Helper()
	for _, c := range calls {
		a.do(c)
	}
}

const (
	notFound    = `{"error":"Customer not found"}`
	badJSONBody = `{"tags": ["a",`
)

func TestAPICustomers(t *testing.T) {
	srv, _ := newAPI(t, Options{})
	a := &apiSession{t: t, srv: srv}
	a.run(
		call{method: "GET", path: "/v1/ping", status: 200, want: `{"data":"pong!"}`},

		// Create.
		call{method: "POST", path: "/v1/customers", status: 201,
			body: `{"data_source_uuid":"ds_1","external_id":"d","name":"Dora","email":"dora@example.com","country":"FR","city":"Paris",` +
				`"lead_created_at":"2022-10-14 00:00:00","free_trial_started_at":"2022-10-20T08:00:00Z","owner":"x@y.z",` +
				`"attributes":{"tags":["trial","trial"," vip "],"custom":[{"type":"Integer","key":"seats","value":3},` +
				`{"type":"Boolean","key":"pilot","value":"t"},{"type":"Timestamp","key":"renewal","value":"2025-02-01"},` +
				`{"type":"Decimal","key":"score","value":"0.75"},{"type":"String","key":"channel","value":"Facebook","source":"crm"}]}}`},
		call{method: "POST", path: "/v1/customers", status: 400, body: `{"external_id":"e"}`,
			want: `{"code":400,"message":"Parameter \"data_source_uuid\" is missing","param":"data_source_uuid"}`},
		call{method: "POST", path: "/v1/customers", status: 400, body: `{"data_source_uuid":"ds_1","external_id":""}`,
			want: `{"code":400,"message":"Parameter \"external_id\" is missing","param":"external_id"}`},
		call{method: "POST", path: "/v1/customers", status: 422, body: `{"data_source_uuid":"ds_1","external_id":"a"}`,
			want: `{"errors":{"external_id":"The external ID for this customer already exists in our system."}}`},
		call{method: "POST", path: "/v1/customers", status: 422, body: `{"data_source_uuid":"ds_1","external_id":"e","attributes":{"tags":["ok","  "]}}`,
			want: `{"errors":{"tags":"create customer: tag \"  \" is only white space: invalid tag"}}`},
		call{method: "POST", path: "/v1/customers", status: 422, body: `{"data_source_uuid":"ds_1","external_id":"e","lead_created_at":"yesterday"}`,
			want: `{"errors":{"lead_created_at":"\"yesterday\" is not a date or time (want RFC 3339, like 2024-01-31 or 2024-01-31T12:00:00Z)"}}`},
		call{method: "POST", path: "/v1/customers", status: 422, body: `{"data_source_uuid":"ds_1","external_id":"e","attributes":{"custom":[{"type":"Integer","key":"seats","value":"many"}]}}`,
			want: `{"errors":{"custom":"attribute \"seats\": \"many\" is not an Integer"}}`},
		call{method: "POST", path: "/v1/customers", status: 422, body: `{"data_source_uuid":"ds_1","external_id":"e","attributes":{"custom":[{"type":"Money","key":"x","value":1}]}}`,
			want: `{"errors":{"custom":"attribute \"x\": unknown type \"Money\" (want String, Integer, Decimal, Timestamp or Boolean)"}}`},
		call{method: "POST", path: "/v1/customers", status: 400, body: `{"data_source_uuid":"ds_1",`,
			want: `{"code":400,"message":"Invalid JSON: unexpected end of input","param":null}`},
		call{method: "POST", path: "/v1/customers", status: 400, body: `{"data_source_uuid":1}`,
			want: `{"code":400,"message":"Invalid JSON: data_source_uuid must be a string, not number","param":null}`},
		call{method: "POST", path: "/v1/customers", status: 400, body: `[]`,
			want: `{"code":400,"message":"Invalid JSON: want an object, got array","param":null}`},
		call{method: "POST", path: "/v1/customers", status: 400, body: `{} {}`,
			want: `{"code":400,"message":"Invalid JSON: data after the object at byte 3","param":null}`},
		call{method: "POST", path: "/v1/customers", status: 400,
			want: `{"code":400,"message":"Request body is empty; want a JSON object","param":null}`},

		// Retrieve, attributes, delete.
		call{method: "GET", path: "/v1/customers/cus_a", status: 200},
		call{method: "GET", path: "/v1/customers/cus_nope", status: 404, want: notFound},
		call{method: "GET", path: "/v1/customers/cus_a/attributes", status: 200,
			want: `{"custom":{"channel":"ads","renewal":"2025-01-31T00:00:00.000Z","seats":5},"clearbit":{},"stripe":{},"tags":["plan-pro","churn-risk-high"]}`},
		call{method: "GET", path: "/v1/customers/cus_nope/attributes", status: 404, want: notFound},
		call{method: "DELETE", path: "/v1/customers/cus_b", status: 204},
		call{method: "GET", path: "/v1/customers/cus_b", status: 404, want: notFound},
		call{method: "DELETE", path: "/v1/customers/cus_b", status: 404, want: notFound},
		// Its external ID may be used again.
		call{method: "POST", path: "/v1/customers", status: 201, body: `{"data_source_uuid":"ds_1","external_id":"b","name":"Bob again"}`},

		// Routing errors, in JSON.
		call{method: "PUT", path: "/v1/customers/cus_a", status: 405,
			want: `{"code":405,"message":"Method PUT is not allowed for /v1/customers/cus_a","param":null}`},
		call{method: "GET", path: "/v1/invoices", status: 404,
			want: `{"code":404,"message":"No such endpoint: GET /v1/invoices","param":null}`},
	)
	golden(t, "api/customers.txt", redactUUIDs(a.b.String()))
}

// redactUUIDs replaces the random UUIDs the API assigns with cus_<N>.
func redactUUIDs(s string) string {
	re := regexp.MustCompile(`cus_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	seen := map[string]string{}
	return re.ReplaceAllStringFunc(s, func(u string) string {
		if r, ok := seen[u]; ok {
			return r
		}
		seen[u] = fmt.Sprintf("cus_<new%d>", len(seen)+1)
		return seen[u]
	})
}

func TestAPITags(t *testing.T) {
	srv, ix := newAPI(t, Options{})
	a := &apiSession{t: t, srv: srv}
	long := strings.Repeat("x", 256)
	a.run(
		call{method: "POST", path: "/v1/customers/cus_a/attributes/tags", status: 200, body: `{"tags":["important","Prio1","plan-pro"]}`,
			want: `{"tags":["plan-pro","churn-risk-high","important","Prio1"]}`},
		// Idempotent.
		call{method: "POST", path: "/v1/customers/cus_a/attributes/tags", status: 200, body: `{"tags":["important"]}`,
			want: `{"tags":["plan-pro","churn-risk-high","important","Prio1"]}`},
		call{method: "POST", path: "/v1/customers/cus_nope/attributes/tags", status: 404, body: `{"tags":["x"]}`, want: notFound},
		call{method: "POST", path: "/v1/customers/cus_a/attributes/tags", status: 400, body: `{"tags":[]}`,
			want: `{"code":400,"message":"Parameter \"tags\" must not be empty","param":"tags"}`},
		call{method: "POST", path: "/v1/customers/cus_a/attributes/tags", status: 400, body: `{}`,
			want: `{"code":400,"message":"Parameter \"tags\" is missing","param":"tags"}`},
		call{method: "POST", path: "/v1/customers/cus_a/attributes/tags", status: 400, body: `{"tags":null}`,
			want: `{"code":400,"message":"Parameter \"tags\" is missing","param":"tags"}`},
		call{method: "POST", path: "/v1/customers/cus_a/attributes/tags", status: 400, body: `{"tags":"vip"}`,
			want: `{"code":400,"message":"Invalid JSON: tags must be an array of strings, not string","param":null}`},
		call{method: "POST", path: "/v1/customers/cus_a/attributes/tags", status: 422, body: `{"tags":["fine",""]}`,
			want: `{"errors":{"tags":"add tags to cus_a: tag \"\" is empty: invalid tag"}}`},
		call{method: "POST", path: "/v1/customers/cus_a/attributes/tags", status: 422, body: `{"tags":["` + long + `"]}`,
			want: `{"errors":{"tags":"add tags to cus_a: tag \"` + long[:64] + `…\" is 256 bytes long, more than the limit of 255 bytes: invalid tag"}}`},
		call{method: "POST", path: "/v1/customers/cus_a/attributes/tags", status: 400, body: badJSONBody,
			want: `{"code":400,"message":"Invalid JSON: unexpected end of input","param":null}`},

		call{method: "DELETE", path: "/v1/customers/cus_a/attributes/tags", status: 200, body: `{"tags":["important","never-had"]}`,
			want: `{"tags":["plan-pro","churn-risk-high","Prio1"]}`},
		call{method: "DELETE", path: "/v1/customers/cus_nope/attributes/tags", status: 404, body: `{"tags":["x"]}`, want: notFound},
		call{method: "DELETE", path: "/v1/customers/cus_a/attributes/tags", status: 400, body: `{"tags":[]}`,
			want: `{"code":400,"message":"Parameter \"tags\" must not be empty","param":"tags"}`},
		call{method: "DELETE", path: "/v1/customers/cus_a/attributes/tags", status: 422, body: `{"tags":[" "]}`,
			want: `{"errors":{"tags":"remove tags from cus_a: tag \" \" is only white space: invalid tag"}}`},
		call{method: "DELETE", path: "/v1/customers/cus_a/attributes/tags", status: 400,
			want: `{"code":400,"message":"Request body is empty; want a JSON object","param":null}`},

		// By email: every customer with the email, in any case.
		call{method: "POST", path: "/v1/customers/attributes/tags", status: 200, body: `{"email":"Alice@Example.com","tags":["vip"]}`},
		call{method: "POST", path: "/v1/customers/attributes/tags", status: 404, body: `{"email":"nobody@example.com","tags":["vip"]}`,
			want: `{"code":404,"message":"Can't find any customers with email: \"nobody@example.com\"","param":"email"}`},
		call{method: "POST", path: "/v1/customers/attributes/tags", status: 400, body: `{"tags":["vip"]}`,
			want: `{"code":400,"message":"Parameter \"email\" is missing","param":"email"}`},
		call{method: "POST", path: "/v1/customers/attributes/tags", status: 400, body: `{"email":"alice@example.com","tags":[]}`,
			want: `{"code":400,"message":"Parameter \"tags\" must not be empty","param":"tags"}`},
		call{method: "POST", path: "/v1/customers/attributes/tags", status: 422, body: `{"email":"alice@example.com","tags":[""]}`},
	)
	golden(t, "api/tags.txt", a.b.String())
	c, err := ix.Customer("cus_c")
	if err != nil || strings.Join(c.Tags, ",") != "vip" {
		t.Errorf("cus_c: %v %v", c.Tags, err)
	}
}

func TestAPIOversizedBody(t *testing.T) {
	srv, _ := newAPI(t, Options{})
	a := &apiSession{t: t, srv: srv}
	big := `{"tags":["` + strings.Repeat("x", DefaultMaxBody) + `"]}`
	want := `{"code":413,"message":"Request body is larger than 1048576 bytes","param":null}`
	a.run(
		call{method: "POST", path: "/v1/customers/cus_a/attributes/tags", status: 413, body: big, want: want},
		call{method: "DELETE", path: "/v1/customers/cus_a/attributes/tags", status: 413, body: big, want: want},
		call{method: "POST", path: "/v1/customers", status: 413, body: big, want: want},
		call{method: "POST", path: "/v1/customers/attributes/tags", status: 413, body: big, want: want},
	)
	// The limit is configurable.
	srv2, _ := newAPI(t, Options{MaxBody: 10})
	a2 := &apiSession{t: t, srv: srv2}
	a2.run(call{method: "POST", path: "/v1/customers/cus_a/attributes/tags", status: 413, body: `{"tags":["abc"]}`,
		want: `{"code":413,"message":"Request body is larger than 10 bytes","param":null}`})
}

func TestAPIListAndSearch(t *testing.T) {
	srv, _ := newAPI(t, Options{})
	a := &apiSession{t: t, srv: srv}
	a.run(
		call{method: "GET", path: "/v1/customers?per_page=2", status: 200},
		call{method: "GET", path: "/v1/customers?per_page=2&cursor=JjI%3D", status: 200},
		call{method: "GET", path: "/v1/customers?data_source_uuid=ds_1&status=Active", status: 200},
		call{method: "GET", path: "/v1/customers?status=New_Lead&per_page=5", status: 200},
		call{method: "GET", path: "/v1/customers?external_id=unknown", status: 200,
			want: `{"entries":[],"current_page":1,"total_pages":1,"has_more":false,"per_page":200,"page":1,"cursor":null}`},
		call{method: "GET", path: "/v1/customers?system=Stripe", status: 200,
			want: `{"entries":[],"current_page":1,"total_pages":1,"has_more":false,"per_page":200,"page":1,"cursor":null}`},
		call{method: "GET", path: "/v1/customers?per_page=0", status: 400,
			want: `{"code":400,"message":"Parameter \"per_page\" must be an integer from 1 to 200","param":"per_page"}`},
		call{method: "GET", path: "/v1/customers?per_page=201", status: 400,
			want: `{"code":400,"message":"Parameter \"per_page\" must be an integer from 1 to 200","param":"per_page"}`},
		call{method: "GET", path: "/v1/customers?cursor=bogus", status: 400,
			want: `{"code":400,"message":"Parameter \"cursor\" is invalid","param":"cursor"}`},
		call{method: "GET", path: "/v1/customers?page=2", status: 400,
			want: `{"code":400,"message":"Parameter \"page\" is deprecated","param":"page"}`},

		call{method: "GET", path: "/v1/customers/search?email=ALICE%40example.com&per_page=1", status: 200},
		call{method: "GET", path: "/v1/customers/search?email=nobody%40example.com", status: 404,
			want: `{"code":404,"message":"Can't find any customers with email: \"nobody@example.com\"","param":"email"}`},
		call{method: "GET", path: "/v1/customers/search", status: 400,
			want: `{"code":400,"message":"Parameter \"email\" is missing","param":"email"}`},
	)
	golden(t, "api/list.txt", a.b.String())

	// Following cursors visits every customer once, in order.
	for _, base := range []string{"/v1/customers?per_page=1", "/v1/customers/search?email=alice%40example.com&per_page=1"} {
		var seen []string
		path := base
		for i := 0; i < 10; i++ {
			var page struct {
				Entries []struct{ UUID string }
				HasMore bool   `json:"has_more"`
				Cursor  string `json:"cursor"`
			}
			if err := json.Unmarshal([]byte(a.do(call{method: "GET", path: path, status: 200})), &page); err != nil {
				t.Fatal(err)
			}
			for _, e := range page.Entries {
				seen = append(seen, e.UUID)
			}
			if !page.HasMore {
				break
			}
			path = base + "&cursor=" + page.Cursor
		}
		want := "cus_a,cus_b,cus_c"
		if strings.Contains(base, "search") {
			want = "cus_a,cus_c"
		}
		if got := strings.Join(seen, ","); got != want {
			t.Errorf("%s: pages gave %s, want %s", base, got, want)
		}
	}
}

func TestAPIMRR(t *testing.T) {
	srv, _ := newAPI(t, Options{})
	a := &apiSession{t: t, srv: srv}
	a.run(
		call{method: "POST", path: "/v1/customers/cus_c/mrr", status: 200, body: `{"mrr":4900,"date":"2024-05-01"}`},
		call{method: "POST", path: "/v1/customers/cus_c/mrr", status: 200, body: `{"mrr":5900}`}, // at Now: 2024-06-01
		call{method: "POST", path: "/v1/customers/cus_c/mrr", status: 422, body: `{"mrr":-1}`,
			want: `{"errors":{"mrr":"-1 is negative"}}`},
		call{method: "POST", path: "/v1/customers/cus_c/mrr", status: 400, body: `{"mrr":10.5}`,
			want: `{"code":400,"message":"Parameter \"mrr\": 10.5 is not a whole number of cents: money is in cents (29900 is 299.00); did you mean 1050?","param":"mrr"}`},
		// 299.00 is not 299 cents: refused with the command's hint.
		call{method: "POST", path: "/v1/customers/cus_c/mrr", status: 400, body: `{"mrr":299.00}`,
			want: `{"code":400,"message":"Parameter \"mrr\": 299.00 is not a whole number of cents: money is in cents (29900 is 299.00); did you mean 29900?","param":"mrr"}`},
		call{method: "POST", path: "/v1/customers/cus_c/mrr", status: 400, body: `{"mrr":2.99e4}`,
			want: `{"code":400,"message":"Parameter \"mrr\": 2.99e4 is not a whole number of cents: money is in cents (29900 is 299.00)","param":"mrr"}`},
		call{method: "POST", path: "/v1/customers/cus_c/mrr", status: 422, body: `{"mrr":"100"}`,
			want: `{"errors":{"mrr":"\"100\" is not a number of cents"}}`},
		call{method: "POST", path: "/v1/customers/cus_c/mrr", status: 422, body: `{"mrr":100,"date":"soon"}`,
			want: `{"errors":{"date":"\"soon\" is not a date or time (want RFC 3339, like 2024-01-31 or 2024-01-31T12:00:00Z)"}}`},
		call{method: "POST", path: "/v1/customers/cus_c/mrr", status: 400, body: `{"date":"2024-01-01"}`,
			want: `{"code":400,"message":"Parameter \"mrr\" is missing","param":"mrr"}`},
		call{method: "POST", path: "/v1/customers/cus_nope/mrr", status: 404, body: `{"mrr":100}`, want: notFound},
		call{method: "GET", path: "/v1/segments/series?start-date=2024-04-01&end-date=2024-06-01&interval=month", status: 200},
	)
	golden(t, "api/mrr.txt", a.b.String())
}

func TestAPISegments(t *testing.T) {
	srv, _ := newAPI(t, Options{})
	a := &apiSession{t: t, srv: srv}
	a.run(
		call{method: "GET", path: "/v1/segments/metrics", status: 200,
			want: `{"query":"*","customers":3,"paying":1,"mrr":10000,"arr":120000,"arpa":10000,"unknown_tags":[]}`},
		call{method: "GET", path: "/v1/segments/metrics?segment=nope", status: 404, want: `{"error":"Segment not found"}`},
		call{method: "GET", path: "/v1/segments/metrics?segment=a&query=*", status: 400,
			want: `{"code":400,"message":"Give \"query\" or \"segment\", not both","param":"segment"}`},

		call{method: "GET", path: "/v1/segments/series?start-date=2024-01-01&end-date=2024-05-31", status: 200},
		call{method: "GET", path: "/v1/segments/series?start-date=2024-01-01&end-date=2024-03-31&interval=quarter&query=*", status: 200},
		call{method: "GET", path: "/v1/segments/series?end-date=2024-05-31", status: 400,
			want: `{"code":400,"message":"Parameter \"start-date\" is missing","param":"start-date"}`},
		call{method: "GET", path: "/v1/segments/series?start-date=2024-01-01&end-date=May", status: 400,
			want: `{"code":400,"message":"Parameter \"end-date\": \"May\" is not a date or time (want RFC 3339, like 2024-01-31 or 2024-01-31T12:00:00Z)","param":"end-date"}`},
		call{method: "GET", path: "/v1/segments/series?start-date=2024-02-01&end-date=2024-01-01", status: 400,
			want: `{"code":400,"message":"Parameter \"start-date\" is after \"end-date\"","param":"start-date"}`},
		call{method: "GET", path: "/v1/segments/series?start-date=2024-01-01&end-date=2024-02-01&interval=hour", status: 400,
			want: `{"code":400,"message":"Parameter \"interval\" must be day, week, month, quarter or year","param":"interval"}`},
		call{method: "GET", path: "/v1/segments/series?start-date=1700-01-01&end-date=2200-01-01&interval=day", status: 400},

		call{method: "GET", path: "/v1/segments/tags", status: 200},
		call{method: "GET", path: "/v1/segments/tags?sort=count&limit=1&prefix=plan-", status: 200,
			want: `{"query":"*","customers":3,"mrr":10000,"entries":[{"tag":"plan-pro","customers":1,"mrr":10000}]}`},
		call{method: "GET", path: "/v1/segments/tags?sort=size", status: 400,
			want: `{"code":400,"message":"Parameter \"sort\" must be mrr or count","param":"sort"}`},
		call{method: "GET", path: "/v1/segments/tags?limit=-1", status: 400,
			want: `{"code":400,"message":"Parameter \"limit\" must be an integer, 0 or more (0: all)","param":"limit"}`},

		// Bulk tagging: the segment must be named.
		call{method: "POST", path: "/v1/segments/tags", status: 200, body: `{"query":"*","tags":["q3-survey"]}`,
			want: `{"query":"*","changed":3}`},
		call{method: "POST", path: "/v1/segments/tags", status: 200, body: `{"query":"*","tags":["q3-survey"]}`,
			want: `{"query":"*","changed":0}`},
		call{method: "POST", path: "/v1/segments/tags", status: 400, body: `{"tags":["q3-survey"]}`,
			want: `{"code":400,"message":"Parameter \"query\" is missing","param":"query"}`},
		call{method: "POST", path: "/v1/segments/tags", status: 422, body: `{"query":"*","tags":[""]}`,
			want: `{"errors":{"tags":"add tags to segment: tag \"\" is empty: invalid tag"}}`},
		call{method: "DELETE", path: "/v1/segments/tags", status: 200, body: `{"query":"*","tags":["q3-survey","plan-basic"]}`,
			want: `{"query":"*","changed":3}`},
		call{method: "DELETE", path: "/v1/segments/tags", status: 400, body: `{"query":"*","tags":[]}`,
			want: `{"code":400,"message":"Parameter \"tags\" must not be empty","param":"tags"}`},

		call{method: "GET", path: "/v1/segments/customers?per_page=2", status: 200},

		// Saved segments.
		call{method: "GET", path: "/v1/segments/saved", status: 200, want: `{"entries":[]}`},
		call{method: "PUT", path: "/v1/segments/saved/everyone", status: 200, body: `{"query":"*"}`,
			want: `{"name":"everyone","query":"*"}`},
		call{method: "PUT", path: "/v1/segments/saved/none", status: 200, body: `{"query":"NOT *"}`},
		call{method: "PUT", path: "/v1/segments/saved/empty", status: 400, body: `{"query":"  "}`,
			want: `{"code":400,"message":"Parameter \"query\" is missing","param":"query"}`},
		call{method: "GET", path: "/v1/segments/saved", status: 200},
		call{method: "GET", path: "/v1/segments/saved/everyone", status: 200, want: `{"name":"everyone","query":"*"}`},
		call{method: "GET", path: "/v1/segments/metrics?segment=everyone", status: 200,
			want: `{"query":"*","customers":3,"paying":1,"mrr":10000,"arr":120000,"arpa":10000,"unknown_tags":[]}`},
		call{method: "DELETE", path: "/v1/segments/saved/everyone", status: 204},
		call{method: "DELETE", path: "/v1/segments/saved/everyone", status: 404, want: `{"error":"Segment not found"}`},
		call{method: "GET", path: "/v1/segments/saved/everyone", status: 404, want: `{"error":"Segment not found"}`},
	)
	golden(t, "api/segments.txt", a.b.String())
}

func TestAPISegmentQueries(t *testing.T) {
	srv, _ := newAPI(t, Options{})
	a := &apiSession{t: t, srv: srv}
	a.run(
		call{method: "GET", path: "/v1/segments/metrics?query=tag%3Aplan-pro+AND+NOT+tag%3Anobody", status: 200,
			want: `{"query":"tag:plan-pro AND NOT tag:nobody","customers":1,"paying":1,"mrr":10000,"arr":120000,"arpa":10000,"unknown_tags":["nobody"]}`},
		call{method: "GET", path: "/v1/segments/metrics?query=tag%3Aa+AND+(", status: 400},
		call{method: "GET", path: "/v1/segments/metrics?query=colour%3Ared", status: 400},
		call{method: "GET", path: "/v1/segments/metrics?query=custom.seats+%3E%3D+5+AND+country%3AUS", status: 200},
		call{method: "GET", path: "/v1/segments/tags?query=email%3Aalice%40example.com", status: 200},
		call{method: "GET", path: "/v1/segments/series?query=tag%3Aplan-basic&start-date=2024-01-01&end-date=2024-05-31", status: 200},
		call{method: "GET", path: "/v1/segments/customers?query=mrr+%3D+0", status: 200},
		call{method: "POST", path: "/v1/segments/tags", status: 200, body: `{"query":"tag:churn-risk-high","tags":["call-them"]}`,
			want: `{"query":"tag:churn-risk-high","changed":1}`},
		call{method: "DELETE", path: "/v1/segments/tags", status: 400, body: `{"query":"tag:","tags":["call-them"]}`},
		call{method: "PUT", path: "/v1/segments/saved/bad", status: 400, body: `{"query":"colour:red"}`},
		call{method: "PUT", path: "/v1/segments/saved/pro", status: 200, body: `{"query":"tag:plan-pro"}`},
		call{method: "GET", path: "/v1/segments/metrics?segment=pro", status: 200},
	)
	golden(t, "api/segment-queries.txt", a.b.String())
}

func TestAPIAuth(t *testing.T) {
	srv, _ := newAPI(t, Options{APIKey: "key_123"})
	a := &apiSession{t: t, srv: srv}
	unauthorized := `{"code":401,"message":"No valid API key provided","param":null}`
	a.run(
		call{method: "GET", path: "/v1/ping", status: 401, want: unauthorized},
		call{method: "GET", path: "/v1/ping", status: 401, want: unauthorized,
			header: map[string]string{"Authorization": "Basic a2V5XzQ1Njo="}}, // key_456:
		// As the official Go client sends it: Basic base64("key_123:"),
		// JSON content type, its user agent, a DELETE with a body.
		call{method: "GET", path: "/v1/ping", status: 200, want: `{"data":"pong!"}`,
			header: map[string]string{"Authorization": "Basic a2V5XzEyMzo=", "User-Agent": "chartmogul-go/v4"}},
		call{method: "DELETE", path: "/v1/customers/cus_a/attributes/tags", status: 200, body: `{"tags":["plan-pro"]}`,
			want:   `{"tags":["churn-risk-high"]}`,
			header: map[string]string{"Authorization": "Basic a2V5XzEyMzo=", "User-Agent": "chartmogul-go/v4"}},
	)
}

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

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/NAME, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs (-want +got; run with -update to accept):\n%s", path, diff)
	}
}

// TestAPIFieldMessages: the API refuses an email that is not one address
// and a field longer than the index takes, saying which field (422).
func TestAPIFieldMessages(t *testing.T) {
	_, ix := newAPI(t, Options{})
	h := New(ix, Options{})
	for body, want := range map[string]int{
		`{"data_source_uuid":"ds","external_id":"e1","email":"notanemail"}`:         422,
		`{"data_source_uuid":"ds","external_id":"e2","email":"Name <a@b.test>"}`:    422,
		`{"data_source_uuid":"ds","external_id":"e3","email":"adam@smith.example"}`: 201,
		`{"data_source_uuid":"ds","external_id":"e4","email":"a@b.test, c@d.test"}`: 422,
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, newRequest("POST", "/v1/customers", strings.NewReader(body)))
		if rec.Code != want || want == 422 && !strings.Contains(rec.Body.String(), `{"errors":{"email":`) {
			t.Errorf("POST %s: %d %s, want %d", body, rec.Code, rec.Body.String(), want)
		}
	}
	for body, want := range map[string]string{
		`{"data_source_uuid":"ds","external_id":"e5","name":"` + strings.Repeat("n", 4097) + `"}`: `{"errors":{"name":"4097 bytes, longer than the 4096 the index takes"}}`,
		// (Invalid UTF-8 cannot come through JSON: the decoder makes it U+FFFD.)
		`{"data_source_uuid":"ds","external_id":"e6","zip":"` + strings.Repeat("9", 5000) + `"}`: `{"errors":{"zip":"5000 bytes, longer than the 4096 the index takes"}}`,
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, newRequest("POST", "/v1/customers", strings.NewReader(body)))
		if rec.Code != 422 || !strings.HasPrefix(rec.Body.String(), want) {
			t.Errorf("POST %.60s...: %d %s, want 422 %s", body, rec.Code, rec.Body.String(), want)
		}
	}
}

// newRequest is httptest.NewRequest for localhost, a Host a server
// without a key answers (httptest's default, example.com, it refuses).
func newRequest(method, target string, body io.Reader) *http.Request {
	r := httptest.NewRequest(method, target, body)
	r.Host = "localhost"
	return r
}
