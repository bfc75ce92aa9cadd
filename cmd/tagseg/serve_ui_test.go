package main

// Tests of the server-side pieces of the browser page: query errors with
// their offset, tag completion, a customer's MRR history, bulk-change dry
// runs, the page's routes and cross-origin protection.

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tagseg/tagseg"
)

func TestAPIQuerySyntaxErrors(t *testing.T) {
	srv, _ := newAPI(t, serverOptions{})
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
	srv, ix := newAPI(t, serverOptions{})
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
	srv, ix := newAPI(t, serverOptions{})
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
	srv, ix := newAPI(t, serverOptions{})
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
