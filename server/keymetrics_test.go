package server

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestAPIKeyMetrics: ChartMogul's metrics endpoints on the test index
// (cus_a pays 100.00 from January 10th; cus_b 25.00 from February 1st
// until it churns on April 15th), in ChartMogul's shapes, with the
// parameters that pick customers and their refusals.
func TestAPIKeyMetrics(t *testing.T) {
	srv, _ := newAPI(t, Options{})
	a := &apiSession{t: t, srv: srv}
	const r = "?start-date=2024-01-01&end-date=2024-05-31"
	a.run(
		call{method: "GET", path: "/v1/metrics/all" + r + "&interval=month", status: 200},
		call{method: "GET", path: "/v1/metrics/mrr" + r, status: 200},
		call{method: "GET", path: "/v1/metrics/customer-churn-rate" + r, status: 200,
			want: `{"entries":[{"date":"2024-01-31","customer-churn-rate":0,"percentage-change":0},{"date":"2024-02-29","customer-churn-rate":0,"percentage-change":0},` +
				`{"date":"2024-03-31","customer-churn-rate":0,"percentage-change":0},{"date":"2024-04-30","customer-churn-rate":50,"percentage-change":0},` +
				`{"date":"2024-05-31","customer-churn-rate":0,"percentage-change":-100}],"summary":{"current":0,"previous":50,"percentage-change":-100}}`},
		call{method: "GET", path: "/v1/metrics/mrr-churn-rate?start-date=2024-04-01&end-date=2024-04-30", status: 200,
			want: `{"entries":[{"date":"2024-04-30","mrr-churn-rate":20,"percentage-change":0}],"summary":{"current":20,"previous":0,"percentage-change":0}}`},
		call{method: "GET", path: "/v1/metrics/ltv?start-date=2024-04-01&end-date=2024-04-30", status: 200,
			want: `{"entries":[{"date":"2024-04-30","ltv":20000,"percentage-change":0}],"summary":{"current":20000,"previous":0,"percentage-change":0}}`},
		call{method: "GET", path: "/v1/metrics/customer-count" + r + "&interval=quarter", status: 200,
			want: `{"entries":[{"date":"2024-03-31","customers":2,"percentage-change":0},{"date":"2024-06-30","customers":1,"percentage-change":-50}],` +
				`"summary":{"current":1,"previous":2,"percentage-change":-50}}`},
		call{method: "GET", path: "/v1/metrics/arpa?start-date=2024-02-10&end-date=2024-02-20&interval=week", status: 200},
		call{method: "GET", path: "/v1/metrics/arr?start-date=2024-02-01&end-date=2024-02-01&interval=day", status: 200,
			want: `{"entries":[{"date":"2024-02-01","arr":150000,"percentage-change":25}],"summary":{"current":150000,"previous":120000,"percentage-change":25}}`},
		call{method: "GET", path: "/v1/metrics/asp" + r + "&interval=year", status: 200,
			want: `{"entries":[{"date":"2024-12-31","asp":6250,"percentage-change":0}],"summary":{"current":6250,"previous":0,"percentage-change":0}}`},
		// Who: tagseg's query and saved segments, geo, CFL filters.
		call{method: "GET", path: "/v1/metrics/customer-count" + r + "&geo=de,FR", status: 200},
		call{method: "GET", path: "/v1/metrics/customer-count" + r + "&query=tag%3Aplan-pro", status: 200},
		call{method: "GET", path: "/v1/metrics/mrr?start-date=2024-02-01&end-date=2024-02-29&filters=" +
			url.QueryEscape("country~ANY~'DE','FR'~AND~mrr~BETWEEN~0,5000~AND~tags~NONE~'internal'"), status: 200,
			want: `{"entries":[{"date":"2024-02-29","mrr":2500,"percentage-change":0,"mrr-new-business":2500,"mrr-expansion":0,"mrr-contraction":0,"mrr-churn":0,"mrr-reactivation":0}],` +
				`"summary":{"current":2500,"previous":0,"percentage-change":0}}`},
		call{method: "GET", path: "/v1/metrics/mrr" + r + "&filters=" + url.QueryEscape("plan~EQ~'Gold'"), status: 400,
			want: `{"code":400,"message":"Parameter \"filters\": unknown filter \"plan\"; tagseg filters by tags, email, name, company, country, state, city, zip, data_source, external_id, mrr, arr, lead_created_at, free_trial_started_at and custom.KEY","param":"filters"}`},
		call{method: "GET", path: "/v1/metrics/mrr" + r + "&filters=" + url.QueryEscape("country~LIKE~'D'"), status: 400},
		call{method: "GET", path: "/v1/metrics/mrr" + r + "&filters=" + url.QueryEscape("country~EQ~'DE'~OR~mrr~GT~1"), status: 400},
		call{method: "GET", path: "/v1/metrics/mrr" + r + "&filters=" + url.QueryEscape("custom.seats~GT~'many'~AND~lead_created_at~GT~'soon'"), status: 400},
		call{method: "GET", path: "/v1/metrics/mrr" + r + "&plans=Gold", status: 400},
		call{method: "GET", path: "/v1/metrics/mrr" + r + "&segment=nothere", status: 404, want: `{"error":"Segment not found"}`},
		call{method: "GET", path: "/v1/metrics/mrr?end-date=2024-05-31", status: 400,
			want: `{"code":400,"message":"Parameter \"start-date\" is missing","param":"start-date"}`},
		call{method: "GET", path: "/v1/metrics/mrr" + r + "&interval=fortnight", status: 400},
		call{method: "GET", path: "/v1/metrics/churn" + r, status: 404},
	)
	golden(t, "api/key-metrics.txt", a.b.String())
}

// TestTranslateCFL: CFL filters in the query language.
func TestTranslateCFL(t *testing.T) {
	for in, want := range map[string]string{
		"":                                  "",
		"country~EQ~'US'":                   `country:"US"`,
		"country~NOT_EQ~US":                 "country != US",
		"mrr~GTE~10000~and~arr~LT~5":        "mrr >= 10000 AND arr < 5",
		"tags~ANY~'a b','c'":                `tags:any("a b", "c")`,
		"tags~ALL~x,y":                      "tags:all(x, y)",
		"tags~NONE~'x'":                     `tags:none("x")`,
		"tags~EQ~vip~AND~tags~NOT_EQ~churn": "tag:vip AND NOT tag:churn",
		"country~ANY~'US','DE'":             `(country:"US" OR country:"DE")`,
		"country~NONE~US":                   "NOT country:US",
		"custom.seats~BETWEEN~1,10":         "(custom.seats >= 1 AND custom.seats <= 10)",
		`name~EQ~'O\'Brien "Jr"'`:           `name:"O'Brien \"Jr\""`,
		"name~EQ~a~b":                       "",
		"company~EQ~AND":                    `company:"AND"`,
		"lead_created_at~GT~2024-01-01":     "lead_created_at > 2024-01-01",
		"mrr~GT~'150'~AND~arr~LT~9":         "mrr > 150 AND arr < 9",
	} {
		got, err := translateCFL(in)
		if want == "" && in != "" {
			if err == nil {
				t.Errorf("%q: %q, want an error", in, got)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("%q: %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"tags", "country~EQ~'US", "country~EQ~'US'~AND~", "x~EQ~1", "tags~GT~1", "mrr~BETWEEN~1", "mrr~EQ~1,2", "custom.~EQ~1", "mrr~EQ~"} {
		if got, err := translateCFL(bad); err == nil {
			t.Errorf("%q: %q, want an error", bad, got)
		}
	}
}

// chartmogulGo does on the wire what the official Go client
// (github.com/chartmogul/chartmogul-go/v4, whose module the proxy here
// does not serve) does for its list calls, the MetricsRetrieve* ones among
// them: GET base + path with the query string of its params struct
// (json-encoded, then url.Values: keys sorted), Basic auth with the key as
// the user, its content type and user agent; a 2xx must carry a JSON body
// that decodes into the result (gorequest's EndStruct), anything else is
// an error.
type chartmogulGo struct {
	base, key string
}

func (c chartmogulGo) list(path string, params, out any) error {
	raw, err := json.Marshal(params)
	if err != nil {
		return err
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return err
	}
	q := url.Values{}
	for k, v := range m {
		q.Set(k, fmt.Sprint(v))
	}
	u := c.base + "/v1/" + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		return err
	}
	req.SetBasicAuth(c.key, "")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "chartmogul-go/v4")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("API error: %d: %s", resp.StatusCode, body)
	}
	return json.Unmarshal(body, out)
}

// The client's types, as its metrics.go declares them on the wire: the
// filter's query keys and the results' JSON keys and Go types (uint32
// customers, float64 elsewhere).
type (
	cmMetricsFilter struct {
		StartDate string `json:"start-date,omitempty"`
		EndDate   string `json:"end-date,omitempty"`
		Interval  string `json:"interval,omitempty"`
		Geo       string `json:"geo,omitempty"`
		Plans     string `json:"plans,omitempty"`
	}
	cmAllMetrics struct {
		Date                              string  `json:"date"`
		CustomerChurnRate                 float64 `json:"customer-churn-rate"`
		MrrChurnRate                      float64 `json:"mrr-churn-rate"`
		Ltv                               float64 `json:"ltv"`
		Customers                         uint32  `json:"customers"`
		Asp                               float64 `json:"asp"`
		Arpa                              float64 `json:"arpa"`
		Arr                               float64 `json:"arr"`
		Mrr                               float64 `json:"mrr"`
		CustomerChurnRatePercentageChange float64 `json:"customer-churn-rate-percentage-change"`
		MrrChurnRatePercentageChange      float64 `json:"mrr-churn-rate-percentage-change"`
		LtvPercentageChange               float64 `json:"ltv-percentage-change"`
		CustomersPercentageChange         float64 `json:"customers-percentage-change"`
		AspPercentageChange               float64 `json:"asp-percentage-change"`
		ArpaPercentageChange              float64 `json:"arpa-percentage-change"`
		ArrPercentageChange               float64 `json:"arr-percentage-change"`
		MrrPercentageChange               float64 `json:"mrr-percentage-change"`
	}
	cmMetricsResult struct {
		Entries []*cmAllMetrics `json:"entries,omitempty"`
	}
	cmSummary struct {
		Current          float64 `json:"current"`
		Previous         float64 `json:"previous"`
		PercentageChange float64 `json:"percentage-change"`
	}
	cmMRRMetrics struct {
		Date            string  `json:"date"`
		MRR             float64 `json:"mrr"`
		MRRNewBusiness  float64 `json:"mrr-new-business"`
		MRRExpansion    float64 `json:"mrr-expansion"`
		MRRContraction  float64 `json:"mrr-contraction"`
		MRRChurn        float64 `json:"mrr-churn"`
		MRRReactivation float64 `json:"mrr-reactivation"`
	}
	cmMRRResult struct {
		Entries []*cmMRRMetrics `json:"entries,omitempty"`
		Summary *cmSummary      `json:"summary"`
	}
	// One value and its change: the shape of ARR, ARPA, ASP, customer
	// churn rate, MRR churn rate and LTV, each under its own key.
	cmCustomerCountMetrics struct {
		Date             string  `json:"date"`
		Customers        uint32  `json:"customers"`
		PercentageChange float64 `json:"percentage-change"`
	}
	cmCustomerCountResult struct {
		Entries []*cmCustomerCountMetrics `json:"entries,omitempty"`
		Summary *cmSummary                `json:"summary"`
	}
)

// TestChartMogulGoClientMetrics: every MetricsRetrieve* call of the
// official Go client, as it puts it on the wire and decodes the answer,
// against a server with a key.
func TestChartMogulGoClientMetrics(t *testing.T) {
	srv, _ := newAPI(t, Options{APIKey: "token"})
	cm := chartmogulGo{base: srv.URL, key: "token"}
	filter := cmMetricsFilter{StartDate: "2024-01-01", EndDate: "2024-05-31", Interval: "month"}

	var all cmMetricsResult
	if err := cm.list("metrics/all", filter, &all); err != nil {
		t.Fatal(err)
	}
	wantAll := []*cmAllMetrics{
		{Date: "2024-01-31", Customers: 1, Asp: 10000, Arpa: 10000, Arr: 120000, Mrr: 10000},
		{Date: "2024-02-29", Customers: 2, Asp: 2500, Arpa: 6250, Arr: 150000, Mrr: 12500,
			CustomersPercentageChange: 100, AspPercentageChange: -75, ArpaPercentageChange: -37.5, ArrPercentageChange: 25, MrrPercentageChange: 25},
		{Date: "2024-03-31", Customers: 2, Arpa: 6250, Arr: 150000, Mrr: 12500, AspPercentageChange: -100},
		{Date: "2024-04-30", CustomerChurnRate: 50, MrrChurnRate: 20, Ltv: 20000, Customers: 1, Arpa: 10000, Arr: 120000, Mrr: 10000,
			CustomersPercentageChange: -50, ArpaPercentageChange: 60, ArrPercentageChange: -20, MrrPercentageChange: -20},
		{Date: "2024-05-31", Customers: 1, Arpa: 10000, Arr: 120000, Mrr: 10000,
			CustomerChurnRatePercentageChange: -100, MrrChurnRatePercentageChange: -100, LtvPercentageChange: -100},
	}
	if diff := cmp.Diff(wantAll, all.Entries); diff != "" {
		t.Errorf("MetricsRetrieveAll (-want +got):\n%s", diff)
	}

	var mrr cmMRRResult
	if err := cm.list("metrics/mrr", filter, &mrr); err != nil {
		t.Fatal(err)
	}
	if len(mrr.Entries) != 5 || *mrr.Entries[3] != (cmMRRMetrics{Date: "2024-04-30", MRR: 10000, MRRChurn: -2500}) ||
		*mrr.Summary != (cmSummary{Current: 10000, Previous: 10000}) {
		t.Errorf("MetricsRetrieveMRR: %+v, summary %+v", mrr.Entries, mrr.Summary)
	}

	var cc cmCustomerCountResult
	if err := cm.list("metrics/customer-count", cmMetricsFilter{StartDate: "2024-01-01", EndDate: "2024-05-31", Geo: "US,DE"}, &cc); err != nil {
		t.Fatal(err)
	}
	counts := []uint32{}
	for _, e := range cc.Entries {
		counts = append(counts, e.Customers)
	}
	if !slices.Equal(counts, []uint32{1, 2, 2, 1, 1}) || *cc.Summary != (cmSummary{Current: 1, Previous: 1}) {
		t.Errorf("MetricsRetrieveCustomerCount: %v, summary %+v", counts, cc.Summary)
	}

	// The one-value metrics, each under its key, with its change.
	for path, want := range map[string][]float64{
		"arr":                 {120000, 150000, 150000, 120000, 120000},
		"arpa":                {10000, 6250, 6250, 10000, 10000},
		"asp":                 {10000, 2500, 0, 0, 0},
		"customer-churn-rate": {0, 0, 0, 50, 0},
		"mrr-churn-rate":      {0, 0, 0, 20, 0},
		"ltv":                 {0, 0, 0, 20000, 0},
	} {
		var res struct {
			Entries []map[string]any `json:"entries"`
			Summary *cmSummary       `json:"summary"`
		}
		if err := cm.list("metrics/"+path, filter, &res); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		var got []float64
		for _, e := range res.Entries {
			v, _ := e[path].(float64)
			got = append(got, v)
			if _, ok := e["percentage-change"].(float64); !ok {
				t.Errorf("%s: entry %v without a percentage-change", path, e)
			}
		}
		if !slices.Equal(got, want) || res.Summary == nil || res.Summary.Current != want[4] || res.Summary.Previous != want[3] {
			t.Errorf("metrics/%s: %v, summary %+v; want %v", path, got, res.Summary, want)
		}
	}

	// Without the key: the client's error, not a decoded empty answer.
	if err := (chartmogulGo{base: srv.URL}).list("metrics/all", filter, &all); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("without the key: %v", err)
	}
}

// TestAPISeriesDataRange: without dates, /v1/segments/series covers the
// data, from the first MRR event to the last, and says so.
func TestAPISeriesDataRange(t *testing.T) {
	srv, _ := newAPI(t, Options{})
	a := &apiSession{t: t, srv: srv}
	body := a.do(call{method: "GET", path: "/v1/segments/series?query=*", status: 200})
	var s struct {
		Start   string `json:"start-date"`
		End     string `json:"end-date"`
		Entries []struct {
			Date string `json:"date"`
		} `json:"entries"`
	}
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		t.Fatal(err)
	}
	if s.Start != "2024-01-10" || s.End != "2024-04-15" || len(s.Entries) != 4 || s.Entries[3].Date != "2024-04-30" {
		t.Errorf("got %s", body)
	}
	a.do(call{method: "GET", path: "/v1/segments/series?start-date=2024-01-01", status: 400,
		want: `{"code":400,"message":"Parameter \"end-date\" is missing","param":"end-date"}`})
}
