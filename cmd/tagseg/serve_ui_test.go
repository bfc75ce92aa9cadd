package main

// Tests of the server-side pieces of the browser page: query errors with
// their offset, tag completion, a customer's MRR history, bulk-change dry
// runs, the page's routes and cross-origin protection.

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

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
