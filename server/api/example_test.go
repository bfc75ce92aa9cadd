package api_test

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/tagseg/tagseg"
	"github.com/tagseg/tagseg/server/api"
)

// A customer as ChartMogul's API writes it: "id" is the dense ID + 1,
// empty location fields are null, status follows the MRR.
func ExampleCustomerOf() {
	c := tagseg.Customer{ID: 41, UUID: "cus_1", DataSourceUUID: "ds_1", ExternalID: "e1", Name: "Acme",
		Country: "US", Tags: []string{"plan-pro"}, MRR: 29900}
	cm := api.CustomerOf(c)
	b, _ := json.Marshal(struct {
		ID      uint32   `json:"id"`
		Status  string   `json:"status"`
		Country *string  `json:"country"`
		State   *string  `json:"state"`
		ARR     int64    `json:"arr"`
		Tags    []string `json:"tags"`
	}{cm.ID, cm.Status, cm.Country, cm.State, cm.ARR, cm.Attributes.Tags})
	fmt.Println(string(b))
	// Output: {"id":42,"status":"Active","country":"US","state":null,"arr":358800,"tags":["plan-pro"]}
}

// A new-customer body, read as the server reads POST /v1/customers: a bad
// value is a *FieldError naming the field (the server's 422).
func ExampleNewCustomer_Customer() {
	for _, body := range []string{
		`{"data_source_uuid": "ds_1", "external_id": "e1", "lead_created_at": "2024-01-31",
		  "attributes": {"tags": ["vip"], "custom": [{"type": "Integer", "key": "seats", "value": 5}]}}`,
		`{"data_source_uuid": "ds_1", "external_id": "e2", "email": "not an email"}`,
	} {
		var n api.NewCustomer
		if err := api.DecodeJSON([]byte(body), &n); err != nil {
			fmt.Println(err)
			continue
		}
		c, err := n.Customer()
		if fe, ok := err.(*api.FieldError); ok {
			fmt.Printf("422 %s: %s\n", fe.Field, fe.Msg)
			continue
		}
		fmt.Println(c.ExternalID, c.LeadCreatedAt.Format(time.DateOnly), c.Tags, c.Custom["seats"])
	}
	// Output:
	// e1 2024-01-31 [vip] 5
	// 422 email: "not an email" is not an email address (want one address like name@example.com)
}

// Amounts are whole, non-negative cents; dates are RFC 3339 or
// ChartMogul's "2022-10-14 00:00:00", in UTC.
func ExampleParseCents() {
	for _, s := range []string{"29900", "299.00", "2.5e3", "-1"} {
		n, err := api.ParseCents(s)
		fmt.Println(n, err)
	}
	t, _ := api.ParseTime("2022-10-14 00:00:00")
	fmt.Println(t)
	// Output:
	// 29900 <nil>
	// 0 299.00 is not a whole number of cents: money is in cents (29900 is 299.00); did you mean 29900?
	// 0 2.5e3 is not a whole number of cents: money is in cents (29900 is 299.00)
	// 0 -1 is negative
	// 2022-10-14 00:00:00 +0000 UTC
}

// A PATCH body changes the fields it names (null clears one); its custom
// attributes keep the types the customer's attributes have.
func ExampleDecodePatch() {
	c := tagseg.Customer{Name: "Acme", Company: "Acme Inc", Custom: map[string]any{"seats": int64(5)}}
	p, err := api.DecodePatch([]byte(`{"name": "Acme Corp", "company": null, "attributes": {"custom": {"seats": "8", "channel": "ads"}}}`))
	if err != nil {
		panic(err)
	}
	if err := p.Apply(&c); err != nil {
		panic(err)
	}
	fmt.Printf("%q %q %#v %q\n", c.Name, c.Company, c.Custom["seats"], c.Custom["channel"])
	// Output:
	// "Acme Corp" "" 8 "ads"
}
