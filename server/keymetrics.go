package server

// ChartMogul's metrics API: GET /v1/metrics/{all, mrr, arr, arpa, asp,
// customer-count, customer-churn-rate, mrr-churn-rate, ltv}, in its shapes:
// an entry per interval dated its last day, with the metric and its change
// from the interval before in percent, and a summary of the last interval
// against the one before it. Money is in cents; rates and changes are
// percentages with 2 decimals.
//
// The customers are picked by tagseg's "query" or "segment", "geo"
// (comma-separated country codes) and "filters" (CFL, see cfl.go),
// together. As in ChartMogul, "customers" here is the customers paying at
// the interval's end (tagseg's own endpoints call them "paying");
// customer churn rate, net MRR churn rate and LTV follow ChartMogul's
// definitions (see tagseg.Point).

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/tagseg/tagseg"
	"github.com/tagseg/tagseg/server/api"
)

// keyMetric is one metric of the metrics API.
type keyMetric struct {
	path  string // its endpoint, /v1/metrics/PATH
	key   string // its field in the entries
	value func(p tagseg.Point) float64
	cents bool // a whole number (money in cents, or a count), else a rate
}

// keyMetrics are the metrics, in the order of ChartMogul's /metrics/all.
var keyMetrics = []keyMetric{
	{"mrr", "mrr", func(p tagseg.Point) float64 { return float64(p.MRR) }, true},
	{"arr", "arr", func(p tagseg.Point) float64 { return float64(p.ARR) }, true},
	{"customer-churn-rate", "customer-churn-rate", func(p tagseg.Point) float64 { return p.CustomerChurnRate }, false},
	{"mrr-churn-rate", "mrr-churn-rate", func(p tagseg.Point) float64 { return p.MRRChurnRate }, false},
	{"ltv", "ltv", func(p tagseg.Point) float64 { return float64(p.LTV) }, true},
	{"customer-count", "customers", func(p tagseg.Point) float64 { return float64(p.Customers) }, true},
	{"asp", "asp", func(p tagseg.Point) float64 { return float64(asp(p)) }, true},
	{"arpa", "arpa", func(p tagseg.Point) float64 { return float64(p.ARPA) }, true},
}

// asp is ChartMogul's average sale price: the new business MRR of the
// interval per customer gained, in cents (0 when none).
func asp(p tagseg.Point) int64 {
	if p.NewCustomers == 0 {
		return 0
	}
	return p.NewBusiness / int64(p.NewCustomers)
}

// number is a metric's value as the API writes it.
func (m keyMetric) number(p tagseg.Point) any {
	v := m.value(p)
	if m.cents {
		return int64(v)
	}
	return api.Round2(v)
}

// pctChange is the change from a to b in percent, 2 decimals; 0 from 0.
func pctChange(a, b float64) float64 {
	if a == 0 {
		return 0
	}
	return api.Round2(100 * (b - a) / math.Abs(a))
}

// field and object write a JSON object with its keys in order.
type field struct {
	k string
	v any
}

type object []field

func (o object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(f.k)
		v, err := json.Marshal(f.v)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func (s *server) metricsAPI(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("metric")
	i := slices.IndexFunc(keyMetrics, func(m keyMetric) bool { return m.path == name })
	if i < 0 && name != "all" {
		paths := []string{"all"}
		for _, m := range keyMetrics {
			paths = append(paths, m.path)
		}
		writeError(w, http.StatusNotFound, fmt.Sprintf("Unknown metric %q; the metrics are %s", name, strings.Join(paths, ", ")), "")
		return
	}
	from, to, iv, ok := readRange(w, r)
	if !ok {
		return
	}
	extra, ok := metricsFilters(w, r)
	if !ok {
		return
	}
	var points []tagseg.Point
	if !s.heavyView(w, r, func(tx *tagseg.Tx, _ string, e tagseg.Expr) (err error) {
		// From the interval before the range: the first entry's change.
		points, err = series(w, r, tx, tagseg.And(append([]tagseg.Expr{e}, extra...)...), before(from, iv), to, iv)
		return err
	}) {
		return
	}
	if name == "all" {
		writeJSONStatus(w, http.StatusOK, allMetrics(points))
		return
	}
	writeJSONStatus(w, http.StatusOK, oneMetric(keyMetrics[i], points))
}

// before is an instant in the interval before the one holding t.
func before(t time.Time, iv tagseg.Interval) time.Time {
	first := time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC) // no month-end overflow
	switch iv {
	case tagseg.Day:
		return t.AddDate(0, 0, -1)
	case tagseg.Week:
		return t.AddDate(0, 0, -7)
	case tagseg.Month:
		return first.AddDate(0, -1, 0)
	case tagseg.Quarter:
		return first.AddDate(0, -3, 0)
	}
	return first.AddDate(-1, 0, 0)
}

// metricsFilters reads "geo", "filters" and "plans" into expressions
// that the segment's members must also match; it answers 400 itself.
func metricsFilters(w http.ResponseWriter, r *http.Request) ([]tagseg.Expr, bool) {
	qs := r.URL.Query()
	if qs.Get("plans") != "" {
		writeError(w, http.StatusBadRequest, `Parameter "plans": tagseg keeps no plans; pick customers with "query", "segment", "geo" or "filters"`, "plans")
		return nil, false
	}
	var out []tagseg.Expr
	if geo := qs.Get("geo"); geo != "" {
		var in []tagseg.Expr
		for _, c := range strings.Split(geo, ",") {
			if c = strings.ToUpper(strings.TrimSpace(c)); c != "" {
				in = append(in, tagseg.Where("country", tagseg.Eq, c))
			}
		}
		out = append(out, tagseg.Or(in...))
	}
	cfl := qs.Get("filters")
	q, err := translateCFL(cfl)
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("Parameter \"filters\": %v", err), "filters")
		return nil, false
	}
	if q != "" {
		e, err := tagseg.Parse(q)
		if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("Parameter \"filters\" reads as the query %s, which is invalid: %s", q, cleanErr(err)), "filters")
			return nil, false
		}
		out = append(out, e)
	}
	return out, true
}

// oneMetric is the body of a metric's endpoint; points[0] is the interval
// before the range.
func oneMetric(m keyMetric, points []tagseg.Point) any {
	entries := make([]object, 0, len(points)-1)
	for i, p := range points[1:] {
		o := object{{"date", api.LastDay(p)}, {m.key, m.number(p)}, {"percentage-change", pctChange(m.value(points[i]), m.value(p))}}
		if m.path == "mrr" {
			o = append(o, field{"mrr-new-business", p.NewBusiness}, field{"mrr-expansion", p.Expansion},
				field{"mrr-contraction", p.Contraction}, field{"mrr-churn", p.Churn}, field{"mrr-reactivation", p.Reactivation})
		}
		entries = append(entries, o)
	}
	cur, prev := points[len(points)-1], points[len(points)-2]
	return object{{"entries", entries}, {"summary", object{
		{"current", m.number(cur)}, {"previous", m.number(prev)}, {"percentage-change", pctChange(m.value(prev), m.value(cur))},
	}}}
}

// allMetrics is the body of /v1/metrics/all.
func allMetrics(points []tagseg.Point) any {
	entries := make([]object, 0, len(points)-1)
	for i, p := range points[1:] {
		o := object{{"date", api.LastDay(p)}}
		for _, m := range keyMetrics {
			o = append(o, field{m.key, m.number(p)}, field{m.key + "-percentage-change", pctChange(m.value(points[i]), m.value(p))})
		}
		entries = append(entries, o)
	}
	cur, prev := points[len(points)-1], points[len(points)-2]
	var summary object
	for _, m := range keyMetrics {
		summary = append(summary, field{"current-" + m.key, m.number(cur)}, field{"previous-" + m.key, m.number(prev)},
			field{m.key + "-percentage-change", pctChange(m.value(prev), m.value(cur))})
	}
	return object{{"entries", entries}, {"summary", summary}}
}
