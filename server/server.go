package server

// The handler: its options, its routes, and what every request goes through.

import (
	"io/fs"
	"log"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tagseg/tagseg"
)

// Options configure the handler; the zero value serves without a key,
// with the default caps, on the index's own write path.
type Options struct {
	// APIKey, when set, is required as the user name of HTTP Basic auth
	// (ChartMogul's scheme: -u KEY:); when empty there is no auth.
	APIKey string
	// MaxBody is the largest request body accepted; larger ones get 413.
	// Zero means 1 MiB.
	MaxBody int64
	// Now is the clock for MRR changes without a date; nil means time.Now.
	Now func() time.Time
	// Log receives internal errors; nil discards them.
	Log *log.Logger
	// MaxInFlight caps the requests served at once; one more is answered
	// 503 with Retry-After at once, rather than queued. Zero means
	// DefaultMaxInFlight; negative, no cap. GET /v1/ping is never refused.
	MaxInFlight int
	// MaxTags caps the tags of one request body; more are a 400. Zero
	// means DefaultMaxTags; negative, no cap.
	MaxTags int
	// MaxCustomers caps the customers one bulk change (POST or DELETE
	// /v1/segments/tags) may change, confirmed or not; more are a 400.
	// Zero means DefaultMaxCustomers; negative, no cap.
	MaxCustomers int
	// ConfirmAbove is how many customers a bulk change may change without
	// an explicit "confirm" of at least that many; more without it are a
	// 400 that says how many. Zero means DefaultConfirmAbove; negative,
	// never asked.
	ConfirmAbove int
	// Access receives a line per request: method, path (never the query
	// string or a header, so never the key), status, bytes, duration and
	// remote address; nil: none.
	Access *slog.Logger
	// Metrics is the registry /metrics serves, where the handler
	// registers its request counters and the index's gauges; nil means a
	// registry of the handler's own, with Go's and the process's
	// collectors. A host that serves its own registry passes it here.
	Metrics *prometheus.Registry
	// Web holds the browser page's files (index.html and what it loads);
	// nil means the page built into the package.
	Web fs.FS
	// TrustedOrigins may send state-changing requests from another
	// origin (http.CrossOriginProtection.AddTrustedOrigin: scheme://host
	// and an optional port); a malformed one panics: check it first.
	TrustedOrigins []string
}

// server is the handler New returns.
type server struct {
	ix       *tagseg.Index
	opt      Options
	mux      *http.ServeMux
	logf     func(format string, args ...any)
	inFlight chan struct{} // a slot per request being served; nil: no cap
	// guarded is serve behind the cross-origin protection.
	guarded http.Handler
	metrics *metrics
	// The caps in effect (opt's, defaults applied); 0: none.
	maxTags, maxCustomers, confirmAbove int
}

// The caps a zero Options field means.
const (
	// DefaultMaxBody is the largest request body, in bytes.
	DefaultMaxBody = 1 << 20
	// DefaultMaxInFlight is how many requests are served at once.
	DefaultMaxInFlight = 64
	// DefaultMaxTags is how many tags a request may carry.
	DefaultMaxTags = 100
	// DefaultMaxCustomers is how many customers a bulk change may change,
	// and more than DefaultConfirmAbove only with "confirm".
	DefaultMaxCustomers = 1_000_000
	// DefaultConfirmAbove is how many customers a bulk change may change
	// without "confirm".
	DefaultConfirmAbove = 1_000
)

// maxPerPage is the largest page of customers, as in ChartMogul's API.
const maxPerPage = 200

// New returns the API's handler over ix: every route of the package
// documentation, the page at / and /ui/, and /metrics. It does not close
// ix; the host closes it after the server in front of the handler has
// shut down. A malformed Options.TrustedOrigins entry panics: check it
// with http.CrossOriginProtection.AddTrustedOrigin first.
func New(ix *tagseg.Index, opt Options) http.Handler {
	if opt.MaxBody <= 0 {
		opt.MaxBody = DefaultMaxBody
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	s := &server{ix: ix, opt: opt, mux: http.NewServeMux(), logf: func(string, ...any) {}}
	switch {
	case opt.MaxInFlight == 0:
		s.inFlight = make(chan struct{}, DefaultMaxInFlight)
	case opt.MaxInFlight > 0:
		s.inFlight = make(chan struct{}, opt.MaxInFlight)
	}
	if opt.Log != nil {
		s.logf = opt.Log.Printf
	}
	s.maxTags = orDefault(opt.MaxTags, DefaultMaxTags)
	s.maxCustomers = orDefault(opt.MaxCustomers, DefaultMaxCustomers)
	s.confirmAbove = orDefault(opt.ConfirmAbove, DefaultConfirmAbove)
	s.metrics = newMetrics(ix, opt.Metrics)
	m := s.mux
	m.HandleFunc("GET /v1/ping", s.ping)
	m.Handle("GET /metrics", s.metrics.handler())
	m.HandleFunc("POST /v1/customers", s.createCustomer)
	m.HandleFunc("GET /v1/customers", s.listCustomers)
	m.HandleFunc("GET /v1/customers/search", s.searchCustomers)
	m.HandleFunc("GET /v1/customers/{uuid}", s.retrieveCustomer)
	m.HandleFunc("DELETE /v1/customers/{uuid}", s.deleteCustomer)
	m.HandleFunc("GET /v1/customers/{uuid}/attributes", s.retrieveAttributes)
	m.HandleFunc("POST /v1/customers/{uuid}/attributes/tags", s.addTags)
	m.HandleFunc("DELETE /v1/customers/{uuid}/attributes/tags", s.removeTags)
	m.HandleFunc("POST /v1/customers/attributes/tags", s.addTagsByEmail)
	m.HandleFunc("POST /v1/customers/{uuid}/mrr", s.setMRR)
	m.HandleFunc("GET /v1/customers/{uuid}/mrr", s.mrrHistory)
	m.HandleFunc("GET /v1/tags", s.listTags)

	m.HandleFunc("GET /v1/segments/metrics", s.segmentMetrics)
	m.HandleFunc("GET /v1/segments/series", s.segmentSeries)
	m.HandleFunc("GET /v1/segments/tags", s.segmentTagStats)
	m.HandleFunc("POST /v1/segments/tags", s.segmentAddTags)
	m.HandleFunc("DELETE /v1/segments/tags", s.segmentRemoveTags)
	m.HandleFunc("GET /v1/segments/customers", s.segmentCustomers)
	m.HandleFunc("GET /v1/segments/saved", s.listSaved)
	m.HandleFunc("GET /v1/segments/saved/{name}", s.getSaved)
	m.HandleFunc("PUT /v1/segments/saved/{name}", s.putSaved)
	m.HandleFunc("DELETE /v1/segments/saved/{name}", s.deleteSaved)
	if opt.Web == nil {
		opt.Web = webFS
	}
	handlePage(m, opt.Web)
	s.guarded = crossOriginProtection(opt.TrustedOrigins).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := w.(*responseRecorder) // as ServeHTTP passes it
		s.serve(rec, r, rec.route)
	}))
	return s
}

// orDefault is a cap as the options give it: def for 0, none (0) for a
// negative n.
func orDefault(n, def int) int {
	switch {
	case n == 0:
		return def
	case n < 0:
		return 0
	}
	return n
}

// ServeHTTP serves a request (unless it comes from another origin: see
// crossOriginProtection), then counts it in the metrics and logs it.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &responseRecorder{ResponseWriter: w}
	_, rec.route = s.mux.Handler(r)
	s.guarded.ServeHTTP(rec, r)
	s.observe(r, rec.route, rec, time.Since(start))
}

// ping answers GET /v1/ping, the health check; it is never refused for
// the cap on requests in flight.
func (s *server) ping(w http.ResponseWriter, r *http.Request) {
	writeJSONStatus(w, http.StatusOK, map[string]string{"data": "pong!"})
}
