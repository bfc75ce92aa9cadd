package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tagseg/tagseg"
)

// changesAnswer decodes an answer of the changes endpoint, keeping which
// keys it had.
func changesAnswer(t *testing.T, body string) changesPage {
	t.Helper()
	var keys map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &keys); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	for _, k := range []string{"changes", "cursor", "has_more"} {
		if _, ok := keys[k]; !ok {
			t.Errorf("no %q in %s", k, body)
		}
	}
	if string(keys["changes"]) == "null" {
		t.Errorf("changes is null: %s", body)
	}
	var p changesPage
	json.Unmarshal([]byte(body), &p)
	for _, c := range p.Changes {
		if _, err := time.Parse(time.RFC3339, c.At); err != nil {
			t.Errorf("at %q: %v", c.At, err)
		}
		if c.Entered == nil || c.Left == nil {
			t.Errorf("a change without entered or left: %s", body)
		}
		c.At = ""
	}
	return p
}

func changesPath(name string, q url.Values) string {
	p := "/v1/segments/saved/" + url.PathEscape(name) + "/changes"
	if len(q) > 0 {
		p += "?" + q.Encode()
	}
	return p
}

func TestAPIChanges(t *testing.T) {
	srv, ix := newAPI(t, Options{})
	a := &apiSession{t: t, srv: srv}
	a.do(call{method: "PUT", path: "/v1/segments/saved/pro", body: `{"query": "tag:plan-pro"}`, status: 200})
	// No after: from the oldest kept; the first change is the members.
	p := changesAnswer(t, a.do(call{method: "GET", path: changesPath("pro", nil), status: 200}))
	if len(p.Changes) != 1 || !cmp.Equal(p.Changes[0].Entered, []string{"cus_a"}) || len(p.Changes[0].Left) != 0 || p.HasMore || p.Cursor != p.Changes[0].Cursor {
		t.Fatalf("first answer: %+v", p)
	}
	first := p.Cursor
	// Nothing new: no change, the cursor given back.
	p = changesAnswer(t, a.do(call{method: "GET", path: changesPath("pro", url.Values{"after": {first}}), status: 200}))
	if len(p.Changes) != 0 || p.Cursor != first || p.HasMore {
		t.Errorf("nothing new: %+v", p)
	}
	// Two writes through the API, read one at a time.
	a.do(call{method: "POST", path: "/v1/customers/cus_b/attributes/tags", body: `{"tags": ["plan-pro"]}`, status: 200})
	a.do(call{method: "DELETE", path: "/v1/customers/cus_a", status: 204})
	p = changesAnswer(t, a.do(call{method: "GET", path: changesPath("pro", url.Values{"after": {first}, "limit": {"1"}}), status: 200}))
	if len(p.Changes) != 1 || !cmp.Equal(p.Changes[0].Entered, []string{"cus_b"}) || !p.HasMore {
		t.Errorf("limit 1: %+v", p)
	}
	p = changesAnswer(t, a.do(call{method: "GET", path: changesPath("pro", url.Values{"after": {p.Cursor}, "names": {"true"}}), status: 200}))
	if len(p.Changes) != 1 || !cmp.Equal(p.Changes[0].Left, []string{"cus_a"}) || p.HasMore || p.Names["cus_a"] != "Alice" {
		t.Errorf("the deletion: %+v", p)
	}
	// For the page: the newest, lists cut short with their counts, names.
	body := a.do(call{method: "GET", path: changesPath("pro", url.Values{"last": {"1"}, "max_customers": {"1"}, "names": {"true"}}), status: 200})
	if p := changesAnswer(t, body); len(p.Changes) != 1 || p.Changes[0].LeftCount == nil || *p.Changes[0].LeftCount != 1 || p.Names["cus_a"] != "Alice" {
		t.Errorf("last 1: %s", body)
	}
	if body := a.do(call{method: "GET", path: changesPath("pro", nil), status: 200}); strings.Contains(body, "_count") || strings.Contains(body, "names") {
		t.Errorf("counts or names not asked for: %s", body)
	}
	// Errors.
	a.run(
		call{method: "GET", path: changesPath("nope", nil), status: 404, want: `{"error":"Segment not found"}`},
		call{method: "GET", path: changesPath("pro", url.Values{"after": {"garbage"}}), status: 400},
		call{method: "GET", path: changesPath("pro", url.Values{"limit": {"0"}}), status: 400},
		call{method: "GET", path: changesPath("pro", url.Values{"limit": {"x"}}), status: 400},
		call{method: "GET", path: changesPath("pro", url.Values{"wait": {"61"}}), status: 400},
		call{method: "GET", path: changesPath("pro", url.Values{"wait": {"-1"}}), status: 400},
		call{method: "GET", path: changesPath("pro", url.Values{"names": {"maybe"}}), status: 400},
		call{method: "GET", path: changesPath("pro", url.Values{"last": {"0"}}), status: 400},
		call{method: "GET", path: changesPath("pro", url.Values{"max_customers": {"-2"}}), status: 400},
		// A limit past the most is the most.
		call{method: "GET", path: changesPath("pro", url.Values{"limit": {"5000"}}), status: 200},
	)
	// A cursor of a segment since deleted and saved again: 410.
	a.do(call{method: "DELETE", path: "/v1/segments/saved/pro", status: 204})
	a.do(call{method: "GET", path: changesPath("pro", url.Values{"after": {first}}), status: 404})
	a.do(call{method: "PUT", path: "/v1/segments/saved/pro", body: `{"query": "tag:plan-pro"}`, status: 200})
	a.do(call{method: "GET", path: changesPath("pro", url.Values{"after": {first}}), status: 410})
	_ = ix
}

func TestAPIChangesWait(t *testing.T) {
	srv, ix := newAPI(t, Options{MaxInFlight: 1, MaxWaiting: 1})
	if err := ix.SaveSegment("pro", "tag:plan-pro"); err != nil {
		t.Fatal(err)
	}
	a := &apiSession{t: t, srv: srv}
	cur := changesAnswer(t, a.do(call{method: "GET", path: changesPath("pro", nil), status: 200})).Cursor
	s := srv.Config.Handler.(*server)
	type answer struct {
		status int
		page   changesPage
	}
	wait := func(q url.Values) chan answer {
		done := make(chan answer, 1)
		go func() {
			resp, err := srv.Client().Get(srv.URL + changesPath("pro", q))
			if err != nil {
				t.Error(err)
				done <- answer{}
				return
			}
			defer resp.Body.Close()
			var p changesPage
			json.NewDecoder(resp.Body).Decode(&p)
			done <- answer{resp.StatusCode, p}
		}()
		return done
	}
	waiting := func(n int) {
		for len(s.waiting) != n {
			time.Sleep(time.Millisecond)
		}
	}
	done := wait(url.Values{"after": {cur}, "wait": {"60"}})
	waiting(1)
	// It holds no slot of the cap on requests in flight (1): other
	// requests are served while it waits; a second waiter is refused.
	a.run(
		call{method: "GET", path: "/v1/segments/saved", status: 200},
		call{method: "GET", path: changesPath("pro", url.Values{"after": {cur}}), status: 200},
		call{method: "GET", path: changesPath("pro", url.Values{"after": {cur}, "wait": {"1"}}), status: 503},
	)
	// A commit that changes another segment does not end it; one that
	// changes this one does.
	ix.AddTags("cus_b", "other")
	if _, err := ix.AddTags("cus_b", "plan-pro"); err != nil {
		t.Fatal(err)
	}
	got := <-done
	if got.status != 200 || len(got.page.Changes) != 1 || !cmp.Equal(got.page.Changes[0].Entered, []string{"cus_b"}) {
		t.Errorf("waiting request: %+v", got)
	}
	// Time up: nothing, the cursor given.
	got = <-wait(url.Values{"after": {got.page.Cursor}, "wait": {"0.01"}})
	if got.status != 200 || len(got.page.Changes) != 0 || got.page.Cursor == "" {
		t.Errorf("wait with nothing new: %+v", got)
	}
	// A server shutting down ends the wait at once, with what there is.
	done = wait(url.Values{"after": {got.page.Cursor}, "wait": {"60"}})
	waiting(1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Config.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v (the wait held it up)", err)
	}
	if got := <-done; got.status != http.StatusOK || len(got.page.Changes) != 0 {
		t.Errorf("wait at shutdown: %+v", got)
	}
	_ = tagseg.ErrExpired
}
