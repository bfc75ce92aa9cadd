package server

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tagseg/tagseg"
	"github.com/tagseg/tagseg/server/api"
)

// TestAPIUpdateCustomer: ChartMogul's "Update a customer" — the fields
// given change, the others stay, null clears, attributes.tags becomes the
// tag set, attributes.custom changes key by key in the attributes' types;
// bad values are 422 naming the field and change nothing.
func TestAPIUpdateCustomer(t *testing.T) {
	srv, ix := newAPI(t, Options{})
	a := &apiSession{t: t, srv: srv}
	a.run(
		// As the official Go client's UpdateCustomerV2 sends it.
		call{method: "PATCH", path: "/v1/customers/cus_a", status: 200, body: `{"name":"Chocolate customer 2"}`},
		call{method: "PATCH", path: "/v1/customers/cus_a", status: 200,
			body: `{"email":"alice@new.example","company":null,"country":"FR","address":{"country":"DE","city":"Paris"},` +
				`"lead_created_at":"2024-02-03 04:05:06","attributes":{"tags":["vip","plan-pro"],"custom":{"seats":{"value":"7","source":"crm"},"channel":null,"new_key":true}},` +
				`"owner":"owner@example.com","id":99,"status":"Cancelled","mrr":1}`},
		call{method: "PATCH", path: "/v1/customers/cus_a", status: 422, body: `{"email":"not an email"}`},
		call{method: "PATCH", path: "/v1/customers/cus_a", status: 422, body: `{"lead_created_at":"yesterday"}`},
		call{method: "PATCH", path: "/v1/customers/cus_a", status: 422, body: `{"attributes":{"custom":{"renewal":"soon"}}}`},
		call{method: "PATCH", path: "/v1/customers/cus_a", status: 422, body: `{"attributes":{"tags":["ok",""]}}`},
		call{method: "PATCH", path: "/v1/customers/cus_a", status: 422, body: `{"name":5}`},
		call{method: "PATCH", path: "/v1/customers/cus_a", status: 422, body: `{"external_id":"b"}`,
			want: `{"errors":{"external_id":"The external ID for this customer already exists in our system."}}`},
		call{method: "PATCH", path: "/v1/customers/cus_a", status: 400, body: `[1]`},
		call{method: "PATCH", path: "/v1/customers/cus_nobody", status: 404, body: `{"name":"x"}`, want: notFound},
		call{method: "GET", path: "/v1/customers/cus_a", status: 200},
	)
	golden(t, "api/update.txt", a.b.String())
	c, err := ix.Customer("cus_a")
	if err != nil {
		t.Fatal(err)
	}
	want := tagseg.Customer{
		UUID: "cus_a", ID: c.ID, DataSourceUUID: "ds_1", ExternalID: "a", Name: "Chocolate customer 2", Email: "alice@new.example",
		Country: "FR", State: "US-NY", City: "Paris", Zip: "10001",
		LeadCreatedAt: time.Date(2024, 2, 3, 4, 5, 6, 0, time.UTC),
		Tags:          []string{"plan-pro", "vip"},
		Custom:        map[string]any{"seats": int64(7), "renewal": date("2025-01-31"), "new_key": true},
		MRR:           10000,
	}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("cus_a after the updates (-want +got):\n%s", diff)
	}
}

// TestAPICustomAttributes: add by UUID and by email, update, remove, in
// ChartMogul's shapes; the answers are every custom attribute after.
func TestAPICustomAttributes(t *testing.T) {
	srv, ix := newAPI(t, Options{})
	a := &apiSession{t: t, srv: srv}
	a.run(
		call{method: "POST", path: "/v1/customers/cus_b/attributes/custom", status: 200,
			body: `{"custom":[{"type":"String","key":"StringKey","value":"String Value"},{"type":"Integer","key":"integer_key","value":1234},` +
				`{"type":"Timestamp","key":"timestamp_key","value":"2016-01-31 00:00:00"},{"type":"Boolean","key":"boolean_key","value":true,"source":"integration"}]}`,
			want: `{"custom":{"StringKey":"String Value","boolean_key":true,"integer_key":1234,"timestamp_key":"2016-01-31T00:00:00.000Z"}}`},
		call{method: "PUT", path: "/v1/customers/cus_b/attributes/custom", status: 200,
			body: `{"custom":{"integer_key":"99","timestamp_key":{"value":"2017-02-01","source":"integration2"}}}`,
			want: `{"custom":{"StringKey":"String Value","boolean_key":true,"integer_key":99,"timestamp_key":"2017-02-01T00:00:00.000Z"}}`},
		call{method: "PUT", path: "/v1/customers/cus_b/attributes/custom", status: 422, body: `{"custom":{"pro":true}}`},
		call{method: "PUT", path: "/v1/customers/cus_b/attributes/custom", status: 422, body: `{"custom":{"integer_key":"many"}}`},
		call{method: "DELETE", path: "/v1/customers/cus_b/attributes/custom", status: 200, body: `{"custom":["StringKey","nothere"]}`,
			want: `{"custom":{"boolean_key":true,"integer_key":99,"timestamp_key":"2017-02-01T00:00:00.000Z"}}`},
		call{method: "POST", path: "/v1/customers/attributes/custom", status: 200,
			body: `{"email":"Alice@Example.com","custom":[{"type":"Decimal","key":"score","value":"0.5"}]}`},
		call{method: "POST", path: "/v1/customers/attributes/custom", status: 404, body: `{"email":"no@example.com","custom":[{"type":"String","key":"k","value":"v"}]}`,
			want: `{"code":404,"message":"Can't find any customers with email: \"no@example.com\"","param":"email"}`},
		call{method: "POST", path: "/v1/customers/attributes/custom", status: 400, body: `{"custom":[{"type":"String","key":"k","value":"v"}]}`},
		call{method: "POST", path: "/v1/customers/cus_b/attributes/custom", status: 400, body: `{"custom":{"k":"v"}}`},
		call{method: "POST", path: "/v1/customers/cus_b/attributes/custom", status: 400, body: `{}`,
			want: `{"code":400,"message":"Parameter \"custom\" is missing","param":"custom"}`},
		call{method: "POST", path: "/v1/customers/cus_b/attributes/custom", status: 422, body: `{"custom":[{"type":"Integer","key":"n","value":"x"}]}`},
		call{method: "POST", path: "/v1/customers/cus_b/attributes/custom", status: 422, body: `{"custom":[{"type":"String","key":"bad key","value":"x"}]}`},
		call{method: "POST", path: "/v1/customers/cus_nobody/attributes/custom", status: 404, body: `{"custom":[{"type":"String","key":"k","value":"v"}]}`},
		call{method: "DELETE", path: "/v1/customers/cus_b/attributes/custom", status: 400, body: `{"custom":"StringKey"}`},
		call{method: "GET", path: "/v1/customers/cus_b/attributes", status: 200},
	)
	golden(t, "api/custom.txt", a.b.String())
	for uuid, want := range map[string]map[string]any{
		"cus_b": {"boolean_key": true, "integer_key": int64(99), "timestamp_key": date("2017-02-01")},
		"cus_a": {"seats": int64(5), "renewal": date("2025-01-31"), "channel": "ads", "score": 0.5},
		"cus_c": {"score": 0.5},
	} {
		c, err := ix.Customer(uuid)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, c.Custom); diff != "" {
			t.Errorf("%s custom (-want +got):\n%s", uuid, diff)
		}
	}
}

// TestPatchCommandEncoding: a patch survives its command's encoding,
// null-cleared fields and an emptied tag set included.
func TestPatchCommandEncoding(t *testing.T) {
	empty, tags := "", []string{}
	cmd := Command{Op: OpUpdateCustomer, UUID: "cus_a"}
	cmd.Patch = &api.CustomerPatch{Company: &empty, Tags: &tags, Custom: json.RawMessage(`{"a":null,"b":{"value":"1","source":"s"}}`)}
	raw, err := json.Marshal(cmd)
	if err != nil {
		t.Fatal(err)
	}
	var back Command
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(cmd, back); diff != "" {
		t.Errorf("%s: (-sent +decoded)\n%s", raw, diff)
	}
}
