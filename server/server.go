package server

// The handler: its options, its routes, and what every request goes through.

import (
	"fmt"
	"io/fs"
	"log"
	"log/slog"
	"net/http"
	"net/url"
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
	// Now is the clock for MRR changes without a date and for the day a
	// bulk change's relative dates resolve on (Command.Day); nil means
	// time.Now.
	Now func() time.Time
	// Log receives internal errors; nil discards them.
	Log *log.Logger
	// MaxInFlight caps the requests served at once; one more is answered
	// 503 with Retry-After at once, rather than queued. Zero means
	// DefaultMaxInFlight; negative, no cap. GET /v1/ping is never refused.
	MaxInFlight int
	// MaxWaiting caps the requests waiting for a saved segment's changes
	// (GET /v1/segments/saved/{name}/changes?wait=S), which hold no slot
	// of MaxInFlight while they wait; one more is answered 503 with
	// Retry-After at once. Zero means DefaultMaxWaiting; negative, no cap.
	MaxWaiting int
	// MaxTags caps the tags of one request body; more are a 400. Zero
	// means DefaultMaxTags; negative, no cap.
	MaxTags int
	// MaxCustomers caps the customers one bulk change (POST or DELETE
	// /v1/segments/tags) may change, confirmed or not; more are a 400.
	// Zero means DefaultMaxCustomers; negative, no cap.
	MaxCustomers int
	// MaxHeavy caps the heavy reads served at once, tag rankings (GET
	// /v1/segments/tags) and series (GET /v1/segments/series), so that
	// they never take every core from the cheap reads beside them; more
	// wait their turn, up to MaxHeavyQueue of them, and past that are
	// answered 503 with Retry-After at once. Zero means DefaultMaxHeavy()
	// (half of GOMAXPROCS, at least 1); negative, no fence.
	MaxHeavy int
	// MaxHeavyQueue is how many heavy reads may wait for the fence; zero
	// means half of MaxInFlight (32 without an in-flight cap).
	MaxHeavyQueue int
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
	// Executor runs every write of the API (see Command); nil means
	// Batched(ix): the commands of concurrent requests committed together,
	// each durable when its request is answered (Local(ix) commits each
	// alone). A replicated host plugs its log in here.
	Executor Executor
	// TrustedOrigins may send state-changing requests from another
	// origin (http.CrossOriginProtection.AddTrustedOrigin: scheme://host
	// and an optional port); a malformed one panics: check it first.
	// Their hosts are also admitted as Host without an API key.
	TrustedOrigins []string
	// AllowAnyHost, without an APIKey, answers requests for any Host.
	// Otherwise a server without a key answers only for loopback names
	// and addresses (localhost, 127.0.0.0/8, [::1]) and the hosts of
	// TrustedOrigins, and refuses others with 403: a web page of another
	// site whose name resolves to 127.0.0.1 (DNS rebinding) must not read
	// or write the index through the visitor's browser. tagseg serve sets
	// it for -insecure on a non-loopback address.
	AllowAnyHost bool
}

// server is the handler New returns.
type server struct {
	ix       *tagseg.Index
	opt      Options
	mux      *http.ServeMux
	logf     func(format string, args ...any)
	inFlight chan struct{} // a slot per request being served; nil: no cap
	waiting  chan struct{} // a slot per request waiting for changes; nil: no cap
	// guarded is serve behind the cross-origin protection.
	guarded http.Handler
	metrics *metrics
	exec    Executor    // opt.Executor, or Batched(ix)
	fence   *heavyFence // nil: no fence
	// trustedHosts are the hostnames of opt.TrustedOrigins.
	trustedHosts []string
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
	if n := orDefault(opt.MaxWaiting, DefaultMaxWaiting); n > 0 {
		s.waiting = make(chan struct{}, n)
	}
	if opt.Log != nil {
		s.logf = opt.Log.Printf
	}
	for _, o := range opt.TrustedOrigins {
		if u, err := url.Parse(o); err == nil {
			s.trustedHosts = append(s.trustedHosts, hostname(u.Host))
		}
	}
	s.exec = opt.Executor
	if s.exec == nil {
		s.exec = Batched(ix)
	}
	s.metrics = newMetrics(ix, opt.Metrics)
	queue := opt.MaxHeavyQueue
	if queue <= 0 {
		queue = 32
		if s.inFlight != nil {
			queue = max(1, cap(s.inFlight)/2)
		}
	}
	s.fence = newHeavyFence(opt.MaxHeavy, queue)
	s.fence.register(s.metrics.reg)
	s.maxTags = orDefault(opt.MaxTags, DefaultMaxTags)
	s.maxCustomers = orDefault(opt.MaxCustomers, DefaultMaxCustomers)
	s.confirmAbove = orDefault(opt.ConfirmAbove, DefaultConfirmAbove)
	for _, rt := range s.routes() {
		s.mux.Handle(rt.pattern, rt.h)
	}
	if opt.Web == nil {
		opt.Web = webFS
	}
	handlePage(s.mux, opt.Web)
	s.guarded = crossOriginProtection(opt.TrustedOrigins).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := w.(*responseRecorder) // as ServeHTTP passes it
		s.serve(rec, r, rec.route)
	}))
	return s
}

// routeMetrics is the route of the Prometheus metrics.
const routeMetrics = "GET /metrics"

// route is a pattern of the mux and its handler.
type route struct {
	pattern string
	h       http.Handler
}

// routes are the API's routes (the page's are added by handlePage).
// Every route that is not a GET writes, through s.execute.
func (s *server) routes() []route {
	f := func(pattern string, h http.HandlerFunc) route { return route{pattern, h} }
	return []route{
		f("GET /v1/ping", s.ping),
		f(routeHealthz, s.healthz),
		{routeMetrics, s.metrics.handler()},
		f("POST /v1/customers", s.createCustomer),
		f("GET /v1/customers", s.listCustomers),
		f("GET /v1/customers/search", s.searchCustomers),
		f("GET /v1/customers/{uuid}", s.retrieveCustomer),
		f("PATCH /v1/customers/{uuid}", s.updateCustomer),
		f("DELETE /v1/customers/{uuid}", s.deleteCustomer),
		f("GET /v1/customers/{uuid}/attributes", s.retrieveAttributes),
		f("POST /v1/customers/{uuid}/attributes/tags", s.addTags),
		f("DELETE /v1/customers/{uuid}/attributes/tags", s.removeTags),
		f("POST /v1/customers/attributes/tags", s.addTagsByEmail),
		f("POST /v1/customers/{uuid}/attributes/custom", s.addCustom),
		f("PUT /v1/customers/{uuid}/attributes/custom", s.updateCustom),
		f("DELETE /v1/customers/{uuid}/attributes/custom", s.removeCustom),
		f("POST /v1/customers/attributes/custom", s.addCustomByEmail),
		f("POST /v1/customers/{uuid}/mrr", s.setMRR),
		f("GET /v1/customers/{uuid}/mrr", s.mrrHistory),
		f("GET /v1/tags", s.listTags),
		f("GET /v1/backup", s.backup),
		f("GET /v1/info", s.info),
		f("PATCH /v1/tags/{tag}", s.renameTag),
		f("DELETE /v1/tags", s.deleteTags),
		f("PUT /v1/tags/{tag}/members", s.setTagMembers),
		f("POST /v1/import/customers", s.importCustomers),
		f("POST /v1/import/events", s.importEvents),
		f("GET /v1/metrics/{metric}", s.metricsAPI),

		f("GET /v1/segments/fields", s.queryFields),
		f("GET /v1/segments/metrics", s.segmentMetrics),
		f("GET /v1/segments/series", s.segmentSeries),
		f("GET /v1/segments/tags", s.segmentTagStats),
		f("POST /v1/segments/tags", s.segmentAddTags),
		f("DELETE /v1/segments/tags", s.segmentRemoveTags),
		f("GET /v1/segments/customers", s.segmentCustomers),
		f("GET /v1/segments/export", s.segmentExport),
		f("GET /v1/segments/saved", s.listSaved),
		f("GET /v1/segments/saved/{name}", s.getSaved),
		f("PUT /v1/segments/saved/{name}", s.putSaved),
		f("DELETE /v1/segments/saved/{name}", s.deleteSaved),
		f(changesRoute, s.segmentChanges),
	}
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

// ServeHTTP serves a request (unless a server without a key is asked
// for another host, or a browser sends a write from another origin: see
// hostAllowed and crossOriginProtection), then counts it in the metrics
// and logs it.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &responseRecorder{ResponseWriter: w}
	_, rec.route = s.mux.Handler(r)
	if s.hostAllowed(r.Host) {
		s.guarded.ServeHTTP(rec, r)
	} else {
		writeError(rec, http.StatusForbidden, fmt.Sprintf("Host %q is refused: a server without an API key answers only for localhost, 127.0.0.1 or [::1] (and the hosts of its trusted origins); use one of those, or give the server an API key", r.Host), "")
	}
	s.observe(r, rec.route, rec, time.Since(start))
}

// routeHealthz is the health check of load balancers, which carry no key.
const routeHealthz = "GET /healthz"

// healthz answers GET /healthz without the key, for load balancers and
// orchestrators: 200 {"status": "ok"} while the index serves (a closed
// or failed index is a 503 before the handler), never refused for the
// cap on requests in flight. It says nothing about the index but that.
func (s *server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSONStatus(w, http.StatusOK, map[string]string{"status": "ok"})
}

// ping answers GET /v1/ping, ChartMogul's check of a client's key: 401
// without it; it is never refused for the cap on requests in flight.
func (s *server) ping(w http.ResponseWriter, r *http.Request) {
	writeJSONStatus(w, http.StatusOK, map[string]string{"data": "pong!"})
}

// execute runs a write of the request through the executor.
func (s *server) execute(r *http.Request, cmd Command) (Result, error) {
	return s.exec.Execute(r.Context(), cmd)
}

// nonNil is tags, or [] when it is nil: a list is never null in an answer.
func nonNil(tags []string) []string {
	if tags == nil {
		return []string{}
	}
	return tags
}
