package server

// Operations: a line per request in the access log (log/slog), and
// Prometheus metrics at GET /metrics: requests and their latency per
// route, and the index's size, customers, tags and last commit.

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/tagseg/tagseg"
)

// responseRecorder passes a response through and keeps its status and
// size for the log and the metrics.
type responseRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
	route  string // the request's pattern on the mux, or ""
}

func (r *responseRecorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *responseRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (r *responseRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// observe counts a served request and logs it: method, path (never the
// query string or a header, so never the API key), status, bytes,
// duration. route is the request's pattern, or "" when none matched.
func (s *server) observe(r *http.Request, route string, rec *responseRecorder, d time.Duration) {
	status := rec.status
	if status == 0 {
		status = http.StatusOK // a handler that wrote nothing
	}
	if route == "" {
		route = "unmatched" // one series for every unknown path
	}
	s.metrics.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	s.metrics.duration.WithLabelValues(route).Observe(d.Seconds())
	if s.opt.Access != nil {
		s.opt.Access.LogAttrs(context.Background(), slog.LevelInfo, "request",
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", status),
			slog.Int64("bytes", rec.bytes),
			slog.Duration("duration", d),
			slog.String("remote", r.RemoteAddr),
		)
	}
}

// metrics are the server's Prometheus metrics, in a registry of its own.
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// newMetrics registers the handler's metrics in reg, or in a registry of
// its own (with Go's and the process's collectors) when reg is nil.
func newMetrics(ix *tagseg.Index, reg *prometheus.Registry) *metrics {
	m := &metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tagseg_http_requests_total",
			Help: "HTTP requests answered, by route (the pattern, or unmatched) and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tagseg_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route"}),
	}
	if m.reg == nil {
		m.reg = prometheus.NewRegistry()
		m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	m.reg.MustRegister(m.requests, m.duration, indexCollector{ix})
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// indexCollector reads the index's gauges at each scrape.
type indexCollector struct{ ix *tagseg.Index }

var (
	descUp         = prometheus.NewDesc("tagseg_index_up", "1 when the index is open and its commits succeed, else 0 (closed, or a commit failed and it needs a reopen: the API answers 503).", nil, nil)
	descFileBytes  = prometheus.NewDesc("tagseg_index_file_bytes", "Size of the index file.", nil, nil)
	descCustomers  = prometheus.NewDesc("tagseg_customers", "Customers in the index.", nil, nil)
	descTags       = prometheus.NewDesc("tagseg_tags", "Distinct tags in the index.", nil, nil)
	descLastCommit = prometheus.NewDesc("tagseg_index_last_commit_timestamp_seconds", "Modification time of the index file: its last commit.", nil, nil)
	descTxID       = prometheus.NewDesc("tagseg_index_txid", "Transaction ID of the index's last commit; it grows by one a durable write.", nil, nil)

	// The answers the index keeps across commits (Index.CacheStats).
	descAnswerHits    = prometheus.NewDesc("tagseg_answers_hits_total", "Segment reads (metrics, series, tag rankings) answered from a kept answer, brought forward to the commit or not.", nil, nil)
	descAnswerMisses  = prometheus.NewDesc("tagseg_answers_misses_total", "Segment reads that evaluated the segment afresh.", nil, nil)
	descAnswerEntries = prometheus.NewDesc("tagseg_answers_entries", "Segments whose answers the index keeps.", nil, nil)
	descAnswerBytes   = prometheus.NewDesc("tagseg_answers_bytes", "Memory the kept answers hold, estimated.", nil, nil)
	descAnswerMax     = prometheus.NewDesc("tagseg_answers_max_bytes", "Bound of the kept answers' memory (0: none kept).", nil, nil)
)

func (c indexCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descUp, descFileBytes, descCustomers, descTags, descLastCommit, descTxID,
		descAnswerHits, descAnswerMisses, descAnswerEntries, descAnswerBytes, descAnswerMax} {
		ch <- d
	}
}

func (c indexCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	info, err := c.ix.Info()
	if err != nil || c.ix.Err() != nil { // closed, or a commit failed
		gauge(descUp, 0)
		return
	}
	gauge(descUp, 1)
	gauge(descCustomers, float64(info.Customers))
	gauge(descTxID, float64(info.TxID))
	gauge(descTags, float64(info.Tags)) // counted by the index: no listing
	cs := c.ix.CacheStats()
	ch <- prometheus.MustNewConstMetric(descAnswerHits, prometheus.CounterValue, float64(cs.Hits))
	ch <- prometheus.MustNewConstMetric(descAnswerMisses, prometheus.CounterValue, float64(cs.Misses))
	gauge(descAnswerEntries, float64(cs.Entries))
	gauge(descAnswerBytes, float64(cs.Bytes))
	gauge(descAnswerMax, float64(cs.MaxBytes))
	if fi, err := os.Stat(info.Path); err == nil {
		gauge(descFileBytes, float64(fi.Size()))
		gauge(descLastCommit, float64(fi.ModTime().UnixNano())/1e9)
	}
}
