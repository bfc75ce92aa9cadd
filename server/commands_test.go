package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tagseg/tagseg"
)

// indexDump is everything a replica must agree on: every customer as
// stored (dense ID included) with its MRR history, the saved segments and
// the tag counts.
type indexDump struct {
	Customers map[string]tagseg.Customer
	History   map[string][]tagseg.MRRChange
	Saved     map[string]string
	Tags      map[string]uint64
}

func dumpIndex(t *testing.T, ix *tagseg.Index) indexDump {
	t.Helper()
	d := indexDump{map[string]tagseg.Customer{}, map[string][]tagseg.MRRChange{}, map[string]string{}, map[string]uint64{}}
	seg, err := ix.Segment(tagseg.All())
	if err != nil {
		t.Fatal(err)
	}
	for c, err := range seg.ReadCustomers(0) {
		if err != nil {
			t.Fatal(err)
		}
		d.Customers[c.UUID] = c
		h, err := ix.MRRHistory(c.UUID)
		if err != nil {
			t.Fatal(err)
		}
		d.History[c.UUID] = h
	}
	for n, q := range ix.SavedSegments() {
		d.Saved[n] = q
	}
	for tag, n := range ix.Tags() {
		d.Tags[tag] = n
	}
	return d
}

// TestCommandsReplicate serves random writes of every kind through an
// executor that does what a replicated log does: it encodes each command
// to JSON, decodes it, and applies the decoded command to the primary and
// to a replica. Both indexes must agree with each other, result for result
// and at the end in every customer, MRR history, saved segment and tag:
// a command holds everything its application needs (the new UUID, the
// time of an undated MRR change, the caps, the day of a bulk change's
// relative dates: the replica's clock is 15 days ahead of the primary's).
func TestCommandsReplicate(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, seed))
	dir := t.TempDir()
	open := func(name string, now time.Time) *tagseg.Index {
		ix, err := tagseg.Open(filepath.Join(dir, name), &tagseg.Options{NoSync: true, Clock: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := ix.Check(); err != nil {
				t.Errorf("%s: %v", name, err)
			}
			ix.Close()
		})
		return ix
	}
	primary := open("primary.db", time.Date(2024, 1, 5, 0, 0, 0, 0, time.UTC))
	replica := open("replica.db", time.Date(2024, 1, 20, 0, 0, 0, 0, time.UTC))
	ops := map[string]int{}
	var mu sync.Mutex
	exec := ExecutorFunc(func(ctx context.Context, cmd Command) (Result, error) {
		mu.Lock()
		defer mu.Unlock()
		ops[cmd.Op]++
		raw, err := json.Marshal(cmd)
		if err != nil {
			t.Fatalf("encode %+v: %v", cmd, err)
		}
		var logged Command
		if err := json.Unmarshal(raw, &logged); err != nil {
			t.Fatalf("decode %s: %v", raw, err)
		}
		if again, _ := json.Marshal(logged); string(again) != string(raw) {
			t.Fatalf("a command does not survive its encoding:\n%s\n%s", raw, again)
		}
		res, err := Local(primary).Execute(ctx, logged)
		res2, err2 := Local(replica).Execute(ctx, logged)
		if fmt.Sprint(err) != fmt.Sprint(err2) {
			t.Errorf("%s: primary %v, replica %v", raw, err, err2)
		}
		if diff := cmp.Diff(res, res2); diff != "" {
			t.Errorf("%s: the results differ (-primary +replica):\n%s", raw, diff)
		}
		return res, err
	})
	clock := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	h := New(primary, Options{Executor: exec, MaxCustomers: 40, ConfirmAbove: 10, Now: func() time.Time {
		clock = clock.Add(time.Duration(r.IntN(48)) * time.Hour)
		return clock
	}})

	var uuids []string
	tags := []string{"plan-pro", "plan-basic", "churn-risk", "vip", " padded ", "feature: sso"}
	someTags := func() []string {
		out := make([]string, 1+r.IntN(3))
		for i := range out {
			out[i] = tags[r.IntN(len(tags))]
		}
		if r.IntN(20) == 0 {
			out = append(out, "") // invalid: nothing changes
		}
		return out
	}
	email := func() string { return fmt.Sprintf("user%d@example.com", r.IntN(8)) }
	uuid := func() string {
		if len(uuids) == 0 || r.IntN(15) == 0 {
			return "cus_nobody"
		}
		return uuids[r.IntN(len(uuids))]
	}
	segmentBody := func() map[string]any {
		b := map[string]any{"tags": someTags()}
		switch r.IntN(4) {
		case 0:
			b["segment"] = fmt.Sprintf("s%d", r.IntN(3))
		case 1:
			b["query"] = "*"
		case 2: // as the server's clock moves on, fewer and fewer
			b["query"] = "lead_created_at >= now-250d"
		default:
			b["query"] = "tag:" + tags[r.IntN(len(tags))] + " OR mrr > 5000"
		}
		if r.IntN(2) == 0 {
			b["confirm"] = r.IntN(30)
		}
		return b
	}
	for i := range 400 {
		var method, path string
		var body any
		switch k := r.IntN(135); {
		case k < 25:
			method, path = "POST", "/v1/customers"
			c := map[string]any{
				"data_source_uuid": "ds_1", "external_id": fmt.Sprint(r.IntN(60)), "name": fmt.Sprintf("Customer %d", i),
				"email": email(), "country": []string{"US", "DE", ""}[r.IntN(3)], "lead_created_at": "2023-05-0" + fmt.Sprint(1+r.IntN(9)),
				"attributes": map[string]any{"tags": someTags(), "custom": []map[string]any{
					{"type": "Integer", "key": "seats", "value": r.IntN(100)},
					{"type": "Decimal", "key": "score", "value": r.Float64()},
					{"type": "Timestamp", "key": "renewal", "value": "2025-0" + fmt.Sprint(1+r.IntN(9)) + "-15T10:00:00Z"},
					{"type": "Boolean", "key": "trial", "value": r.IntN(2) == 0},
					{"type": "String", "key": "channel", "value": "ads"},
				}},
			}
			body = c
		case k < 30:
			method, path = "DELETE", "/v1/customers/"+uuid()
		case k < 45:
			method, path, body = "POST", "/v1/customers/"+uuid()+"/attributes/tags", map[string]any{"tags": someTags()}
		case k < 55:
			method, path, body = "DELETE", "/v1/customers/"+uuid()+"/attributes/tags", map[string]any{"tags": someTags()}
		case k < 62:
			method, path, body = "POST", "/v1/customers/attributes/tags", map[string]any{"email": strings.ToUpper(email()), "tags": someTags()}
		case k < 77:
			b := map[string]any{"mrr": r.IntN(4) * 2500}
			if r.IntN(2) == 0 {
				b["date"] = fmt.Sprintf("2024-%02d-01", 1+r.IntN(12))
			}
			method, path, body = "POST", "/v1/customers/"+uuid()+"/mrr", b
		case k < 85:
			method, path, body = []string{"POST", "DELETE"}[r.IntN(2)], "/v1/segments/tags", segmentBody()
		case k < 93:
			q := "tag:" + tags[r.IntN(len(tags))]
			if r.IntN(3) == 0 {
				q += " AND lead_created_at < now-245d"
			}
			method, path, body = "PUT", fmt.Sprintf("/v1/segments/saved/s%d", r.IntN(3)), map[string]any{"query": q}
		case k < 96:
			method, path = "DELETE", fmt.Sprintf("/v1/segments/saved/s%d", r.IntN(3))
		case k >= 120: // tags as a whole, imports
			switch r.IntN(5) {
			case 0:
				method, path, body = "PATCH", "/v1/tags/"+url.PathEscape(strings.TrimSpace(tags[r.IntN(len(tags))])), map[string]any{"name": tags[r.IntN(len(tags))], "merge": r.IntN(2) == 0}
			case 1:
				method, path, body = "DELETE", "/v1/tags", map[string]any{"tags": someTags()}
			case 2:
				ids := []int{}
				for range r.IntN(6) {
					ids = append(ids, r.IntN(len(uuids)+3))
				}
				method, path, body = "PUT", "/v1/tags/"+url.PathEscape(strings.TrimSpace(tags[r.IntN(len(tags))]))+"/members?add="+fmt.Sprint(r.IntN(2) == 0), map[string]any{"ids": ids}
			case 3:
				var rows []map[string]any
				for range 1 + r.IntN(4) {
					row := map[string]any{"data_source_uuid": "ds_1", "external_id": fmt.Sprint(r.IntN(60)), "name": fmt.Sprintf("Imported %d", i),
						"attributes": map[string]any{"tags": someTags(), "custom": []map[string]any{{"type": "Integer", "key": "seats", "value": r.IntN(9)}}}}
					if r.IntN(2) == 0 {
						row["mrr"] = r.IntN(3) * 1000
						if r.IntN(2) == 0 {
							row["mrr_at"] = fmt.Sprintf("2024-%02d-01", 1+r.IntN(12))
						}
					}
					rows = append(rows, row)
				}
				method, path, body = "POST", "/v1/import/customers", map[string]any{"rows": rows, "options": map[string]any{"duplicate_last": r.IntN(2) == 0, "replace_tags": r.IntN(2) == 0}}
			default:
				events := []map[string]any{{"uuid": uuid(), "at": fmt.Sprintf("2024-%02d-01T00:00:00Z", 1+r.IntN(12)), "cents": r.IntN(3) * 700}}
				method, path, body = "POST", "/v1/import/events", map[string]any{"events": events}
			}
		default: // an update or a custom-attribute change
			switch r.IntN(5) {
			case 0:
				b := map[string]any{"name": fmt.Sprintf("Renamed %d", i), "email": email(), "country": nil,
					"attributes": map[string]any{"custom": map[string]any{"seats": fmt.Sprint(r.IntN(9)), "channel": nil, "k": r.Float64()}}}
				if r.IntN(2) == 0 {
					b["attributes"].(map[string]any)["tags"] = someTags()
				}
				method, path, body = "PATCH", "/v1/customers/"+uuid(), b
			case 1:
				method, path, body = "POST", "/v1/customers/"+uuid()+"/attributes/custom", map[string]any{"custom": []map[string]any{
					{"type": "Timestamp", "key": "seen", "value": fmt.Sprintf("2024-%02d-02", 1+r.IntN(12))}}}
			case 2:
				method, path, body = "POST", "/v1/customers/attributes/custom", map[string]any{"email": email(), "custom": []map[string]any{
					{"type": "Integer", "key": "seats", "value": r.IntN(50)}}}
			case 3:
				method, path, body = "PUT", "/v1/customers/"+uuid()+"/attributes/custom", map[string]any{"custom": map[string]any{"renewal": "2026-01-01"}}
			default:
				method, path, body = "DELETE", "/v1/customers/"+uuid()+"/attributes/custom", map[string]any{"custom": []string{"trial", "seen"}}
			}
		}
		var raw string
		if body != nil {
			b, _ := json.Marshal(body)
			raw = string(b)
		}
		status, got := httpDo(h, method, path, raw)
		if status >= 500 {
			t.Fatalf("%s %s %s: %d %s", method, path, raw, status, got)
		}
		if method == "POST" && path == "/v1/customers" && status == http.StatusCreated {
			var c struct {
				UUID string `json:"uuid"`
			}
			json.Unmarshal([]byte(got), &c)
			uuids = append(uuids, c.UUID)
		}
	}
	if diff := cmp.Diff(dumpIndex(t, primary), dumpIndex(t, replica)); diff != "" {
		t.Errorf("primary and replica differ (-primary +replica):\n%s", diff)
	}
	for _, op := range []string{OpCreateCustomer, OpDeleteCustomer, OpAddTags, OpRemoveTags, OpAddTagsByEmail, OpSetMRR,
		OpAddTagsToSegment, OpRemoveTagsFromSegment, OpSaveSegment, OpDeleteSegment,
		OpUpdateCustomer, OpAddCustom, OpUpdateCustom, OpRemoveCustom,
		OpRenameTag, OpDeleteTags, OpSetTagMembers, OpImport, OpImportEvents} {
		if ops[op] == 0 {
			t.Errorf("no %s command was run", op)
		}
	}
	t.Logf("commands: %v; %d customers created", ops, len(uuids))
}

// TestEveryWriteThroughTheExecutor: with an executor that refuses every
// command, every route that is not a GET answers the refusal and the
// index is left as it was. The table of requests must cover every such
// route, so a new write route fails here until it is added (and goes
// through the executor).
func TestEveryWriteThroughTheExecutor(t *testing.T) {
	_, ix := newAPI(t, Options{})
	if err := ix.SaveSegment("s", "tag:plan-pro"); err != nil {
		t.Fatal(err)
	}
	before := dumpIndex(t, ix)
	var seen []string
	refuse := ExecutorFunc(func(_ context.Context, cmd Command) (Result, error) {
		seen = append(seen, cmd.Op)
		return Result{}, fmt.Errorf("test: %s: %w", cmd.Op, tagseg.ErrReadOnly)
	})
	h := New(ix, Options{Executor: refuse, ConfirmAbove: -1})
	writes := map[string]struct{ path, body string }{
		"POST /v1/customers":                            {"/v1/customers", `{"data_source_uuid": "ds_9", "external_id": "z"}`},
		"DELETE /v1/customers/{uuid}":                   {"/v1/customers/cus_a", ""},
		"POST /v1/customers/{uuid}/attributes/tags":     {"/v1/customers/cus_a/attributes/tags", `{"tags": ["x"]}`},
		"DELETE /v1/customers/{uuid}/attributes/tags":   {"/v1/customers/cus_a/attributes/tags", `{"tags": ["plan-pro"]}`},
		"POST /v1/customers/attributes/tags":            {"/v1/customers/attributes/tags", `{"email": "alice@example.com", "tags": ["x"]}`},
		"POST /v1/customers/{uuid}/mrr":                 {"/v1/customers/cus_a/mrr", `{"mrr": 1}`},
		"POST /v1/segments/tags":                        {"/v1/segments/tags", `{"query": "*", "tags": ["x"]}`},
		"DELETE /v1/segments/tags":                      {"/v1/segments/tags", `{"segment": "s", "tags": ["plan-pro"]}`},
		"PUT /v1/segments/saved/{name}":                 {"/v1/segments/saved/t", `{"query": "tag:x"}`},
		"DELETE /v1/segments/saved/{name}":              {"/v1/segments/saved/s", ""},
		"PATCH /v1/customers/{uuid}":                    {"/v1/customers/cus_a", `{"name": "x"}`},
		"POST /v1/customers/{uuid}/attributes/custom":   {"/v1/customers/cus_a/attributes/custom", `{"custom": [{"type": "String", "key": "k", "value": "v"}]}`},
		"PUT /v1/customers/{uuid}/attributes/custom":    {"/v1/customers/cus_a/attributes/custom", `{"custom": {"seats": 6}}`},
		"DELETE /v1/customers/{uuid}/attributes/custom": {"/v1/customers/cus_a/attributes/custom", `{"custom": ["seats"]}`},
		"POST /v1/customers/attributes/custom":          {"/v1/customers/attributes/custom", `{"email": "bob@example.com", "custom": [{"type": "String", "key": "k", "value": "v"}]}`},
		"PATCH /v1/tags/{tag}":                          {"/v1/tags/plan-pro", `{"name": "plan-max"}`},
		"DELETE /v1/tags":                               {"/v1/tags", `{"tags": ["plan-pro"]}`},
		"PUT /v1/tags/{tag}/members":                    {"/v1/tags/x/members", `{"ids": [0]}`},
		"POST /v1/import/customers":                     {"/v1/import/customers", `{"rows": [{"uuid": "cus_new"}]}`},
		"POST /v1/import/events":                        {"/v1/import/events", `{"events": [{"uuid": "cus_a", "at": "2024-01-01T00:00:00Z", "cents": 5}]}`},
	}
	const refused = `{"code":403,"message":"The index is read-only","param":null}`
	for _, rt := range New(ix, Options{}).(*server).routes() {
		method, _, _ := strings.Cut(rt.pattern, " ")
		if method == "GET" {
			continue
		}
		wr, ok := writes[rt.pattern]
		if !ok {
			t.Errorf("%s: a write route the test does not send (add it to the table)", rt.pattern)
			continue
		}
		n := len(seen)
		status, body := httpDo(h, method, wr.path, wr.body)
		if status != http.StatusForbidden || body != refused || len(seen) != n+1 {
			t.Errorf("%s %s: %d %s, %d commands; want 403 %s through one command", method, wr.path, status, body, len(seen)-n, refused)
		}
	}
	if diff := cmp.Diff(before, dumpIndex(t, ix)); diff != "" {
		t.Errorf("a write changed the index beside the executor (-before +after):\n%s", diff)
	}
}

// TestCommandApply: Apply refuses what is not a command, and a bulk
// change over its caps, before it writes anything.
func TestCommandApply(t *testing.T) {
	_, ix := newAPI(t, Options{})
	before := dumpIndex(t, ix)
	confirm := int64(1)
	for _, c := range []struct {
		cmd  Command
		want error
	}{
		{Command{Op: "rename_everything"}, tagseg.ErrInvalid},
		{Command{Op: OpCreateCustomer}, tagseg.ErrInvalid},
		{Command{Op: OpAddTagsToSegment, Query: "*", Tags: []string{"x"}, MaxCustomers: 2}, ErrBulkRefused},
		{Command{Op: OpAddTagsToSegment, Query: "*", Tags: []string{"x"}, ConfirmAbove: 1, Confirm: &confirm}, ErrBulkRefused},
		{Command{Op: OpRemoveTagsFromSegment, Segment: "nope", Tags: []string{"x"}}, ErrUnknownSegment},
		{Command{Op: OpDeleteSegment, Name: "nope"}, tagseg.ErrNotFound},
	} {
		_, err := Local(ix).Execute(context.Background(), c.cmd)
		if !errors.Is(err, c.want) {
			t.Errorf("%+v: %v, want %v", c.cmd, err, c.want)
		}
	}
	var br *BulkRefusedError
	_, err := Local(ix).Execute(context.Background(), Command{Op: OpAddTagsToSegment, Query: "*", Tags: []string{"x"}, MaxCustomers: 2})
	if !errors.As(err, &br) || br.Would != 3 || br.Param != "query" {
		t.Errorf("over the cap: %#v", err)
	}
	if diff := cmp.Diff(before, dumpIndex(t, ix)); diff != "" {
		t.Errorf("a refused command changed the index:\n%s", diff)
	}

}

// TestCommandDay: a bulk change whose query (its own, or a saved
// segment's) holds a relative date changes the same customers on two
// indexes whose clocks are days apart, as of its Day; without a Day, each
// index resolves it on its own day.
func TestCommandDay(t *testing.T) {
	dir := t.TempDir()
	open := func(name string, now time.Time) *tagseg.Index {
		ix, err := tagseg.Open(filepath.Join(dir, name), &tagseg.Options{NoSync: true, Clock: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ix.Close() })
		for i := range 30 { // leads at noon, June 1 to June 30
			c := tagseg.Customer{UUID: fmt.Sprintf("cus_%02d", i+1), LeadCreatedAt: time.Date(2025, 6, i+1, 12, 0, 0, 0, time.UTC)}
			if _, err := ix.CreateCustomer(c); err != nil {
				t.Fatal(err)
			}
		}
		if err := ix.SaveSegment("recent", "lead_created_at >= now-1w"); err != nil {
			t.Fatal(err)
		}
		return ix
	}
	june20, july10 := time.Date(2025, 6, 20, 23, 0, 0, 0, time.UTC), time.Date(2025, 7, 10, 1, 0, 0, 0, time.UTC)
	a, b := open("a.db", june20), open("b.db", july10)
	holders := func(ix *tagseg.Index, tag string) []string {
		seg, err := ix.Segment(tagseg.Tag(tag))
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for c, err := range seg.ReadCustomers(0) {
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, c.UUID)
		}
		return out
	}
	day := time.Date(2025, 6, 20, 0, 0, 0, 0, time.UTC)
	for _, cmd := range []Command{
		{Op: OpAddTagsToSegment, Query: "lead_created_at > now-10d AND lead_created_at < now", Tags: []string{"q"}, Day: day},
		{Op: OpAddTagsToSegment, Segment: "recent", Tags: []string{"s"}, Day: day},
		{Op: OpRemoveTagsFromSegment, Query: "lead_created_at < now-8d", Tags: []string{"q", "s"}, Day: day},
	} {
		raw, err := json.Marshal(cmd) // as a log carries it
		if err != nil {
			t.Fatal(err)
		}
		var logged Command
		if err := json.Unmarshal(raw, &logged); err != nil || !logged.Day.Equal(day) {
			t.Fatalf("%s: %v, day %v", raw, err, logged.Day)
		}
		ra, erra := Local(a).Execute(context.Background(), logged)
		rb, errb := Local(b).Execute(context.Background(), logged)
		if erra != nil || errb != nil {
			t.Fatal(erra, errb)
		}
		if diff := cmp.Diff(ra, rb); diff != "" {
			t.Errorf("%s: results differ (-a +b):\n%s", raw, diff)
		}
	}
	// On June 20: q went to June 10 to 19 (after June 10, 00:00; before
	// June 20, 00:00), s to June 13 on; June 10 and 11 (before June 12)
	// lost q.
	want := map[string][]string{"q": {"cus_12", "cus_13", "cus_14", "cus_15", "cus_16", "cus_17", "cus_18", "cus_19"}}
	for i := 13; i <= 30; i++ {
		want["s"] = append(want["s"], fmt.Sprintf("cus_%02d", i))
	}
	for _, tag := range []string{"q", "s"} {
		if diff := cmp.Diff(want[tag], holders(a, tag)); diff != "" {
			t.Errorf("a: %s (-want +got):\n%s", tag, diff)
		}
		if diff := cmp.Diff(want[tag], holders(b, tag)); diff != "" {
			t.Errorf("b: %s (-want +got):\n%s", tag, diff)
		}
	}
	// Without a Day (a command logged before there was one): each index's
	// own day.
	cmd := Command{Op: OpAddTagsToSegment, Segment: "recent", Tags: []string{"own"}}
	ra, erra := Local(a).Execute(context.Background(), cmd)
	rb, errb := Local(b).Execute(context.Background(), cmd)
	if erra != nil || errb != nil || ra.Changed != 18 || rb.Changed != 0 {
		t.Errorf("without a day: %d (%v) and %d (%v) changed, want 18 and 0", ra.Changed, erra, rb.Changed, errb)
	}
}

// TestBulkRelativeDate: POST /v1/segments/tags with a relative date
// resolves it on the server's day (Options.Now, not the index's clock),
// in the Command it executes, the dry run as the change.
func TestBulkRelativeDate(t *testing.T) {
	ix, err := tagseg.Open(filepath.Join(t.TempDir(), "b.db"), &tagseg.Options{NoSync: true,
		Clock: func() time.Time { return time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	for i := range 30 {
		c := tagseg.Customer{UUID: fmt.Sprintf("cus_%02d", i+1), LeadCreatedAt: time.Date(2025, 6, i+1, 12, 0, 0, 0, time.UTC)}
		if _, err := ix.CreateCustomer(c); err != nil {
			t.Fatal(err)
		}
	}
	var days []time.Time
	exec := ExecutorFunc(func(ctx context.Context, cmd Command) (Result, error) {
		days = append(days, cmd.Day)
		return Local(ix).Execute(ctx, cmd)
	})
	now := time.Date(2025, 6, 21, 3, 0, 0, 0, time.FixedZone("X", 5*3600)) // June 20 in UTC
	h := New(ix, Options{Executor: exec, ConfirmAbove: -1, Now: func() time.Time { return now }})
	body := `{"query": "lead_created_at >= now-1w", "tags": ["recent"]`
	status, got := httpDo(h, "POST", "/v1/segments/tags", body+`, "dry_run": true}`)
	if status != http.StatusOK || !strings.Contains(got, `"would_change":18`) {
		t.Errorf("dry run: %d %s; want would_change 18 (June 13 to 30)", status, got)
	}
	status, got = httpDo(h, "POST", "/v1/segments/tags", body+`}`)
	if want := `{"query":"lead_created_at >= now-1w","changed":18}`; status != http.StatusOK || strings.TrimSpace(got) != want {
		t.Errorf("the change: %d %s; want %s", status, got, want)
	}
	if want := []time.Time{time.Date(2025, 6, 20, 0, 0, 0, 0, time.UTC)}; !cmp.Equal(want, days) {
		t.Errorf("the command's day: %v, want %v", days, want)
	}
}
