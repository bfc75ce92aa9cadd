package server

import (
	"testing"

	"github.com/tagseg/tagseg"
)

func TestAPITagCap(t *testing.T) {
	srv, _ := newAPI(t, Options{MaxTags: 2})
	a := &apiSession{t: t, srv: srv}
	tooMany := `{"code":400,"message":"Parameter \"tags\" holds 3 tags; a request may carry at most 2","param":"tags"}`
	a.run(
		call{method: "POST", path: "/v1/customers/cus_b/attributes/tags", status: 400, body: `{"tags":["a","b","c"]}`, want: tooMany},
		call{method: "DELETE", path: "/v1/customers/cus_b/attributes/tags", status: 400, body: `{"tags":["a","b","c"]}`, want: tooMany},
		call{method: "POST", path: "/v1/customers/attributes/tags", status: 400, body: `{"email":"bob@example.com","tags":["a","b","c"]}`, want: tooMany},
		call{method: "POST", path: "/v1/segments/tags", status: 400, body: `{"query":"*","tags":["a","b","c"]}`, want: tooMany},
		call{method: "POST", path: "/v1/customers/cus_b/attributes/tags", status: 200, body: `{"tags":["a","b"]}`,
			want: `{"tags":["plan-basic","a","b"]}`},
	)
}

func TestAPIBulkLimits(t *testing.T) {
	srv, ix := newAPI(t, Options{MaxCustomers: 2, ConfirmAbove: 1})
	a := &apiSession{t: t, srv: srv}
	a.run(
		// Three customers: above the cap, confirmed or not.
		call{method: "POST", path: "/v1/segments/tags", status: 400, body: `{"query":"*","tags":["x"],"confirm":3}`,
			want: `{"code":400,"message":"This would change the tags of 3 customers; a request may change at most 2","param":"query"}`},
		// Two: above the threshold, so confirm with at least two.
		call{method: "POST", path: "/v1/segments/tags", status: 400, body: `{"query":"tag:plan-pro OR tag:plan-basic","tags":["x"]}`,
			want: `{"code":400,"message":"This would change the tags of 2 customers, more than 1; to proceed, repeat the request with \"confirm\": 2","param":"confirm"}`},
		call{method: "POST", path: "/v1/segments/tags", status: 400, body: `{"query":"tag:plan-pro OR tag:plan-basic","tags":["x"],"confirm":1}`,
			want: `{"code":400,"message":"Parameter \"confirm\" is 1, but this would change the tags of 2 customers; to proceed, repeat the request with \"confirm\": 2","param":"confirm"}`},
		call{method: "POST", path: "/v1/segments/tags?confirm=many", status: 400, body: `{"query":"*","tags":["x"]}`,
			want: `{"code":400,"message":"Parameter \"confirm\" must be a number of customers","param":"confirm"}`},
	)
	// Nothing changed so far.
	if n, _ := ix.Count(tagseg.Tag("x")); n != 0 {
		t.Fatalf("%d customers tagged x after refusals", n)
	}
	a.run(
		call{method: "POST", path: "/v1/segments/tags?confirm=2", status: 200, body: `{"query":"tag:plan-pro OR tag:plan-basic","tags":["x"]}`,
			want: `{"query":"tag:plan-pro OR tag:plan-basic","changed":2}`},
		// What would change counts, not the segment: all three hold x
		// but one, so no confirm is needed to tag everyone.
		call{method: "POST", path: "/v1/segments/tags", status: 200, body: `{"query":"*","tags":["x"]}`,
			want: `{"query":"*","changed":1}`},
		call{method: "DELETE", path: "/v1/segments/tags", status: 400, body: `{"query":"tag:plan-pro OR tag:plan-basic","tags":["x"]}`},
		call{method: "DELETE", path: "/v1/segments/tags", status: 200, body: `{"query":"tag:plan-pro OR tag:plan-basic","tags":["x"],"confirm":2}`,
			want: `{"query":"tag:plan-pro OR tag:plan-basic","changed":2}`},
	)
	if n, _ := ix.Count(tagseg.Tag("x")); n != 1 {
		t.Fatalf("%d customers tagged x, want 1", n)
	}
}
