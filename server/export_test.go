package server

import (
	"bytes"
	"encoding/csv"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/tagseg/tagseg"
)

func fetchURL(t *testing.T, u string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// TestExport: GET /v1/segments/export in each format, one part or
// several of one snapshot, against what the index holds.
func TestExport(t *testing.T) {
	srv, ix := newAPI(t, Options{})
	resp, b := fetchURL(t, srv.URL+"/v1/segments/export?format=csv&query="+url.QueryEscape("tag:plan-pro OR tag:nobody"))
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/csv; charset=utf-8" {
		t.Fatalf("csv: %s %s\n%s", resp.Status, resp.Header.Get("Content-Type"), b)
	}
	about, _ := url.ParseQuery(resp.Header.Get(ExportHeader))
	if diff := cmp.Diff(url.Values{"query": {"tag:plan-pro OR tag:nobody"}, "customers": {"1"}, "unknown_tag": {"nobody"}}, about); diff != "" {
		t.Errorf("%s (-want +got):\n%s", ExportHeader, diff)
	}
	recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil || len(recs) != 2 {
		t.Fatalf("csv: %v\n%s", err, b)
	}
	wantHeader := "uuid,data_source_uuid,external_id,name,email,company,country,state,city,zip,lead_created_at,free_trial_started_at,tags,mrr,mrr_at,custom.channel:String,custom.renewal:Timestamp,custom.seats:Integer"
	if got := strings.Join(recs[0], ","); got != wantHeader {
		t.Errorf("header %s\nwant   %s", got, wantHeader)
	}
	if got, want := strings.Join(recs[1], ","), `cus_a,ds_1,a,Alice,alice@example.com,Acme,US,US-NY,New York,10001,2023-11-02T00:00:00Z,,["plan-pro","churn-risk-high"],10000,2024-01-10T00:00:00Z,ads,2025-01-31T00:00:00Z,5`; got != want {
		t.Errorf("row %s\nwant %s", got, want)
	}

	// jsonl with a limit: the first customer only.
	resp, b = fetchURL(t, srv.URL+"/v1/segments/export?format=jsonl&limit=1")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-ndjson" || bytes.Count(b, []byte("\n")) != 1 || !bytes.HasPrefix(b, []byte(`{"uuid":"cus_a"`)) {
		t.Errorf("jsonl limit 1: %s %s\n%s", resp.Status, resp.Header.Get("Content-Type"), b)
	}

	// roaring with its mapping and the MRR histories, in three parts.
	resp, b = fetchURL(t, srv.URL+"/v1/segments/export?format=roaring&also=ids,events&query=country:DE+OR+country:US")
	mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if resp.StatusCode != 200 || err != nil || mt != "multipart/mixed" {
		t.Fatalf("multipart: %s %s %v\n%s", resp.Status, resp.Header.Get("Content-Type"), err, b)
	}
	parts := map[string][]byte{}
	var names []string
	mr := multipart.NewReader(bytes.NewReader(b), params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		_, disp, _ := mime.ParseMediaType(p.Header.Get("Content-Disposition"))
		names = append(names, disp["name"])
		parts[disp["name"]], _ = io.ReadAll(p)
	}
	if !slices.Equal(names, []string{"roaring", "ids", "events"}) {
		t.Fatalf("parts %v", names)
	}
	ids, err := tagseg.ReadIDs(bytes.NewReader(parts["roaring"]))
	if err != nil || !slices.Equal(ids.ToArray(), []uint32{0, 1}) {
		t.Errorf("bitmap: %v %v", ids, err)
	}
	if got, want := string(parts["ids"]), "id,uuid,data_source_uuid,external_id\n0,cus_a,ds_1,a\n1,cus_b,ds_1,b\n"; got != want {
		t.Errorf("ids:\n%s\nwant\n%s", got, want)
	}
	if got, want := string(parts["events"]), "uuid,date,mrr\ncus_a,2024-01-10T00:00:00Z,10000\ncus_b,2024-02-01T00:00:00Z,2500\ncus_b,2024-04-15T00:00:00Z,0\n"; got != want {
		t.Errorf("events:\n%s\nwant\n%s", got, want)
	}

	// A custom attribute CSV cannot carry: a 400 that points to jsonl.
	if _, err := ix.CreateCustomer(tagseg.Customer{UUID: "cus_d", Custom: map[string]any{"seats": "five"}}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		q    string
		code int
		msg  string
	}{
		{"format=csv", 400, "use JSON Lines"},
		{"", 400, `"format"`},
		{"format=xml", 400, "xml"},
		{"format=csv&also=csv", 400, "twice"},
		{"format=roaring&limit=2", 400, "limit"},
		{"format=csv&limit=-1", 400, "limit"},
		{"format=csv&segment=nope", 404, "Segment"},
		{"format=csv&query=countyr:US", 400, "Invalid query"},
	} {
		resp, b := fetchURL(t, srv.URL+"/v1/segments/export?"+c.q)
		if resp.StatusCode != c.code || !strings.Contains(string(b), c.msg) {
			t.Errorf("%s: %s %s, want %d saying %q", c.q, resp.Status, b, c.code, c.msg)
		}
	}
}

// TestBackupEndpoint: GET /v1/backup streams a file that opens as the
// same index.
func TestBackupEndpoint(t *testing.T) {
	srv, ix := newAPI(t, Options{})
	resp, b := fetchURL(t, srv.URL+"/v1/backup")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/octet-stream" {
		t.Fatalf("%s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	path := filepath.Join(t.TempDir(), "copy.db")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	cp, err := tagseg.Open(path, &tagseg.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Close()
	if err := cp.Check(); err != nil {
		t.Fatal(err)
	}
	for _, uuid := range []string{"cus_a", "cus_b", "cus_c"} {
		want, _ := ix.Customer(uuid)
		got, err := cp.Customer(uuid)
		if err != nil || !cmp.Equal(want, got) {
			t.Errorf("%s in the copy: %v\n%s", uuid, err, cmp.Diff(want, got))
		}
	}
}
