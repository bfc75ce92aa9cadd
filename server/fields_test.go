package server

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/tagseg/tagseg"
	"github.com/tagseg/tagseg/server/api"
)

// TestQueryFields checks that GET /v1/segments/fields is the library's
// field table, and that the page completes from it rather than from a
// list of its own.
func TestQueryFields(t *testing.T) {
	_, ix := newAPI(t, Options{})
	h := New(ix, Options{})
	resp, body := get(t, h, "GET", "/v1/segments/fields", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	var got api.Fields
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	var want []api.Field
	for _, f := range tagseg.Fields() {
		want = append(want, api.Field{Name: f.Name, Type: f.Type, Doc: f.Doc})
	}
	if d := cmp.Diff(want, got.Fields); d != "" {
		t.Errorf("fields (-library +API):\n%s", d)
	}
	js, err := os.ReadFile(filepath.Join("web", "app.js"))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`"/v1/segments/fields"`).Match(js) {
		t.Error("app.js does not ask the server for the fields")
	}
	// A list of its own would name these, which the page has no other use
	// for as strings.
	for _, f := range []string{"lead_created_at", "free_trial_started_at", "data_source", "external_id", "custom."} {
		if regexp.MustCompile(`["']` + regexp.QuoteMeta(f) + `["']`).Match(js) {
			t.Errorf("app.js names the field %s itself", f)
		}
	}
}

// TestUnknownFieldsMetrics checks that the segment's metrics name the
// custom attributes nobody holds, as they name unknown tags.
func TestUnknownFieldsMetrics(t *testing.T) {
	_, ix := newAPI(t, Options{})
	h := New(ix, Options{})
	resp, body := get(t, h, "GET", "/v1/segments/metrics?query=custom.seat%3E1+OR+custom.seats%3E1+OR+tag:beta-*", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	var m api.Metrics
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(api.Metrics{Query: "custom.seat>1 OR custom.seats>1 OR tag:beta-*", Customers: 1, Paying: 1, MRR: 10000, ARR: 120000, ARPA: 10000,
		UnknownTags: []string{"beta-*"}, UnknownFields: []string{"custom.seat"}}, m); d != "" {
		t.Errorf("metrics (-want +got):\n%s", d)
	}
}
