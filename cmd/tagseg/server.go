package main

// The HTTP API of tagseg serve: ChartMogul's customer and tag endpoints
// (same paths, JSON shapes, status codes and error bodies, for what the
// index keeps) and tagseg's own segment endpoints under /v1/segments.
// README.md in this directory documents every endpoint.

import (
	"cmp"
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"log"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tagseg/tagseg"
)

// serverOptions configure the API.
type serverOptions struct {
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
	// defaultMaxInFlight; negative, no cap. GET /v1/ping is never refused.
	MaxInFlight int
	// MaxTags caps the tags of one request body; more are a 400. Zero
	// means defaultMaxTags; negative, no cap.
	MaxTags int
	// MaxCustomers caps the customers one bulk change (POST or DELETE
	// /v1/segments/tags) may change, confirmed or not; more are a 400.
	// Zero means defaultMaxCustomers; negative, no cap.
	MaxCustomers int
	// ConfirmAbove is how many customers a bulk change may change without
	// an explicit "confirm" of at least that many; more without it are a
	// 400 that says how many. Zero means defaultConfirmAbove; negative,
	// never asked.
	ConfirmAbove int
	// Access receives a line per request (see access); nil: none.
	Access *slog.Logger
	// Web holds the browser page's files (see page.go); nil means the
	// embedded web/.
	Web fs.FS
	// TrustedOrigins may send state-changing requests from another
	// origin (http.CrossOriginProtection.AddTrustedOrigin: scheme://host
	// and an optional port); a malformed one panics: check it first.
	TrustedOrigins []string
}

type server struct {
	ix       *tagseg.Index
	opt      serverOptions
	mux      *http.ServeMux
	logf     func(format string, args ...any)
	inFlight chan struct{} // a slot per request being served; nil: no cap
	// guarded is serve behind the cross-origin protection.
	guarded http.Handler
	metrics *metrics
	// The caps in effect (opt's, defaults applied); 0: none.
	maxTags, maxCustomers, confirmAbove int
}

const (
	defaultMaxBody     = 1 << 20
	defaultMaxInFlight = 64
	// A request carries at most this many tags (-max-tags).
	defaultMaxTags = 100
	// A bulk tagging request changes at most this many customers
	// (-max-customers), and more than defaultConfirmAbove only with
	// "confirm" (-confirm-above).
	defaultMaxCustomers = 1_000_000
	defaultConfirmAbove = 1_000
	maxPerPage          = 200
)

// newServer returns the API's handler over ix.
func newServer(ix *tagseg.Index, opt serverOptions) http.Handler {
	if opt.MaxBody <= 0 {
		opt.MaxBody = defaultMaxBody
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	s := &server{ix: ix, opt: opt, mux: http.NewServeMux(), logf: func(string, ...any) {}}
	switch {
	case opt.MaxInFlight == 0:
		s.inFlight = make(chan struct{}, defaultMaxInFlight)
	case opt.MaxInFlight > 0:
		s.inFlight = make(chan struct{}, opt.MaxInFlight)
	}
	if opt.Log != nil {
		s.logf = opt.Log.Printf
	}
	s.maxTags = orDefault(opt.MaxTags, defaultMaxTags)
	s.maxCustomers = orDefault(opt.MaxCustomers, defaultMaxCustomers)
	s.confirmAbove = orDefault(opt.ConfirmAbove, defaultConfirmAbove)
	s.metrics = newMetrics(ix)
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

// crossOriginProtection refuses state-changing requests (POST, PUT,
// DELETE, PATCH) that a browser sends from another origin than origins,
// with a 403 in the API's JSON. Requests without Sec-Fetch-Site or
// Origin (curl, API clients) pass.
func crossOriginProtection(origins []string) *http.CrossOriginProtection {
	c := http.NewCrossOriginProtection()
	for _, o := range origins {
		if err := c.AddTrustedOrigin(o); err != nil {
			panic(fmt.Sprintf("trusted origin: %v", err))
		}
	}
	c.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		msg := "Cross-origin request refused"
		if err := c.Check(r); err != nil { // the deny handler is not told why
			msg += ": " + err.Error()
		}
		writeError(w, http.StatusForbidden, msg, "")
	}))
	return c
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

// serve answers a request; route is its pattern on the mux, or "".
func (s *server) serve(w http.ResponseWriter, r *http.Request, route string) {
	page := isPageRoute(route) // static files: no key, no slot
	if s.opt.APIKey != "" && !page {
		user, _, ok := r.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(user), []byte(s.opt.APIKey)) != 1 {
			if r.Header.Get(pageHeader) != "1" { // the page asks for the key itself
				w.Header().Set("WWW-Authenticate", `Basic realm="tagseg"`)
			}
			writeError(w, http.StatusUnauthorized, "No valid API key provided", "")
			return
		}
	}
	if s.inFlight != nil && !page && route != "GET /v1/ping" && route != "GET /metrics" {
		select {
		case s.inFlight <- struct{}{}:
			defer func() { <-s.inFlight }()
		default:
			w.Header().Set("Retry-After", "1")
			writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("Too many requests in flight (%d); retry later", cap(s.inFlight)), "")
			return
		}
	}
	if route == "" {
		// No route: let the mux decide between 404 and 405 (and set
		// Allow), but answer in JSON.
		rec := &statusRecorder{header: http.Header{}}
		s.mux.ServeHTTP(rec, r)
		if allow := rec.header.Get("Allow"); allow != "" {
			w.Header().Set("Allow", allow)
		}
		if rec.status == http.StatusMethodNotAllowed {
			writeError(w, rec.status, fmt.Sprintf("Method %s is not allowed for %s", r.Method, r.URL.Path), "")
			return
		}
		writeError(w, http.StatusNotFound, fmt.Sprintf("No such endpoint: %s %s", r.Method, r.URL.Path), "")
		return
	}
	s.mux.ServeHTTP(w, r)
}

// statusRecorder catches the status of the mux's own 404 and 405 answers.
type statusRecorder struct {
	header http.Header
	status int
}

func (r *statusRecorder) Header() http.Header         { return r.header }
func (r *statusRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (r *statusRecorder) WriteHeader(status int)      { r.status = status }

// ---- responses ----

func writeJSONStatus(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

// apiError is ChartMogul's {"code", "message", "param"} error body, used
// for bad requests, missing parameters, auth and search misses.
type apiError struct {
	Code    int     `json:"code"`
	Message string  `json:"message"`
	Param   *string `json:"param"`
}

// writeError writes {"code": status, "message": msg, "param": param or null}.
func writeError(w http.ResponseWriter, status int, msg, param string) {
	writeJSONStatus(w, status, apiError{Code: status, Message: msg, Param: nullable(param)})
}

func writeMissing(w http.ResponseWriter, param string) {
	writeError(w, http.StatusBadRequest, fmt.Sprintf("Parameter %q is missing", param), param)
}

// writeNotFound writes ChartMogul's {"error": "Customer not found"}.
func writeNotFound(w http.ResponseWriter, what string) {
	writeJSONStatus(w, http.StatusNotFound, map[string]string{"error": what + " not found"})
}

// writeInvalid writes the validation dialect: 422 {"errors": {field: msg}}.
func writeInvalid(w http.ResponseWriter, field, msg string) {
	writeJSONStatus(w, http.StatusUnprocessableEntity, map[string]map[string]string{"errors": {field: msg}})
}

// writeInternal answers an error the client cannot fix, and logs it: 503
// when the index is unavailable (closed, or its file damaged or a commit
// to it failed, which needs a reopen), else 500.
func (s *server) writeInternal(w http.ResponseWriter, r *http.Request, err error) {
	s.logf("%s %s: %v", r.Method, r.URL.Path, err)
	switch {
	case errors.Is(err, tagseg.ErrClosed):
		writeError(w, http.StatusServiceUnavailable, "The index is closed", "")
	case errors.Is(err, tagseg.ErrCorrupt):
		writeError(w, http.StatusServiceUnavailable, "The index is unavailable: its file is damaged or a write to it failed", "")
	default:
		writeError(w, http.StatusInternalServerError, "Internal server error", "")
	}
}

// errAnswered is returned from inside a View or Update whose function has
// already answered the request (an error response).
var errAnswered = errors.New("answered")

// done answers err unless it is nil or errAnswered, and reports whether
// it is nil: the handler then writes its answer.
func (s *server) done(w http.ResponseWriter, r *http.Request, err error, field string) bool {
	if err != nil && !errors.Is(err, errAnswered) {
		s.writeLibError(w, r, err, field)
	}
	return err == nil
}

// writeLibError answers an error of the index for an operation on customers.
func (s *server) writeLibError(w http.ResponseWriter, r *http.Request, err error, field string) {
	switch {
	case errors.Is(err, tagseg.ErrNotFound):
		writeNotFound(w, "Customer")
	case errors.Is(err, tagseg.ErrInvalidTag):
		writeInvalid(w, "tags", cleanErr(err))
	case errors.Is(err, tagseg.ErrDuplicate):
		writeInvalid(w, "external_id", "The external ID for this customer already exists in our system.")
	case errors.Is(err, tagseg.ErrInvalidField), errors.Is(err, tagseg.ErrInvalid):
		writeInvalid(w, field, cleanErr(err))
	case errors.Is(err, tagseg.ErrReadOnly):
		writeError(w, http.StatusForbidden, "The index is read-only", "")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		// The client went away (or the server is shutting down): the
		// read was given up, and nobody reads this answer.
		writeError(w, http.StatusServiceUnavailable, "The request was cancelled", "")
	default:
		s.writeInternal(w, r, err)
	}
}

// decode reads a JSON object body into v, answering 413, 400 itself; it
// reports whether v was filled.
func (s *server) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.opt.MaxBody))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("Request body is larger than %d bytes", mbe.Limit), "")
		return false
	case err != nil:
		writeError(w, http.StatusBadRequest, "Cannot read the request body", "")
		return false
	case len(strings.TrimSpace(string(body))) == 0:
		writeError(w, http.StatusBadRequest, "Request body is empty; want a JSON object", "")
		return false
	}
	if err := decodeJSON(body, v); err != nil {
		msg := err.Error()
		writeError(w, http.StatusBadRequest, strings.ToUpper(msg[:1])+msg[1:], "")
		return false
	}
	return true
}

// ---- customers ----

func (s *server) ping(w http.ResponseWriter, r *http.Request) {
	writeJSONStatus(w, http.StatusOK, map[string]string{"data": "pong!"})
}

func (s *server) createCustomer(w http.ResponseWriter, r *http.Request) {
	var body cmNewCustomer
	if !s.decode(w, r, &body) {
		return
	}
	if deref(body.DataSourceUUID) == "" {
		writeMissing(w, "data_source_uuid")
		return
	}
	if deref(body.ExternalID) == "" {
		writeMissing(w, "external_id")
		return
	}
	body.UUID = "" // assigned by the index
	c, err := body.customer()
	if err != nil {
		var fe *fieldError
		if errors.As(err, &fe) {
			writeInvalid(w, fe.field, fe.msg)
			return
		}
		s.writeInternal(w, r, err)
		return
	}
	created, err := s.ix.CreateCustomer(c)
	if err != nil {
		s.writeLibError(w, r, err, "customer")
		return
	}
	writeJSONStatus(w, http.StatusCreated, toCM(created))
}

func (s *server) retrieveCustomer(w http.ResponseWriter, r *http.Request) {
	c, err := s.ix.Customer(r.PathValue("uuid"))
	if err != nil {
		s.writeLibError(w, r, err, "uuid")
		return
	}
	writeJSONStatus(w, http.StatusOK, toCM(c))
}

func (s *server) deleteCustomer(w http.ResponseWriter, r *http.Request) {
	if err := s.ix.DeleteCustomer(r.PathValue("uuid")); err != nil {
		s.writeLibError(w, r, err, "uuid")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *server) retrieveAttributes(w http.ResponseWriter, r *http.Request) {
	c, err := s.ix.Customer(r.PathValue("uuid"))
	if err != nil {
		s.writeLibError(w, r, err, "uuid")
		return
	}
	writeJSONStatus(w, http.StatusOK, cmAttributes{
		Tags: tagsOf(c), Stripe: map[string]any{}, Clearbit: map[string]any{}, Custom: cmCustom(c.Custom),
	})
}

// tagsBody is {"tags": [...]}, and {"email", "tags"} by email.
type tagsBody struct {
	Email *string  `json:"email"`
	Tags  []string `json:"tags"`
	// For the segment endpoints.
	Query   *string `json:"query"`
	Segment *string `json:"segment"`
	// Confirm is how many customers a bulk change may change, above
	// the server's ConfirmAbove (also the query parameter "confirm").
	Confirm *int64 `json:"confirm"`
	// DryRun asks a bulk change how many customers it would change,
	// changing nothing (also the query parameter "dry_run").
	DryRun *bool `json:"dry_run"`
}

// readTags reads a tags body; a missing, null or empty list is a 400.
func (s *server) readTags(w http.ResponseWriter, r *http.Request) (tagsBody, bool) {
	var body tagsBody
	if !s.decode(w, r, &body) {
		return body, false
	}
	if body.Tags == nil {
		writeMissing(w, "tags")
		return body, false
	}
	if len(body.Tags) == 0 {
		writeError(w, http.StatusBadRequest, `Parameter "tags" must not be empty`, "tags")
		return body, false
	}
	if s.maxTags > 0 && len(body.Tags) > s.maxTags {
		writeError(w, http.StatusBadRequest, fmt.Sprintf(`Parameter "tags" holds %d tags; a request may carry at most %d`, len(body.Tags), s.maxTags), "tags")
		return body, false
	}
	return body, true
}

func (s *server) addTags(w http.ResponseWriter, r *http.Request) {
	body, ok := s.readTags(w, r)
	if !ok {
		return
	}
	tags, err := s.ix.AddTags(r.PathValue("uuid"), body.Tags...)
	if err != nil {
		s.writeLibError(w, r, err, "tags")
		return
	}
	writeJSONStatus(w, http.StatusOK, map[string][]string{"tags": tags})
}

func (s *server) removeTags(w http.ResponseWriter, r *http.Request) {
	body, ok := s.readTags(w, r)
	if !ok {
		return
	}
	tags, err := s.ix.RemoveTags(r.PathValue("uuid"), body.Tags...)
	if err != nil {
		s.writeLibError(w, r, err, "tags")
		return
	}
	writeJSONStatus(w, http.StatusOK, map[string][]string{"tags": tags})
}

func noEmail(w http.ResponseWriter, email string) {
	writeError(w, http.StatusNotFound, fmt.Sprintf("Can't find any customers with email: %q", email), "email")
}

func (s *server) addTagsByEmail(w http.ResponseWriter, r *http.Request) {
	body, ok := s.readTags(w, r)
	if !ok {
		return
	}
	email := deref(body.Email)
	if email == "" {
		writeMissing(w, "email")
		return
	}
	cs, err := s.ix.AddTagsByEmail(email, body.Tags...)
	if errors.Is(err, tagseg.ErrNotFound) {
		noEmail(w, email)
		return
	}
	if err != nil {
		s.writeLibError(w, r, err, "tags")
		return
	}
	entries := make([]cmShortCustomer, len(cs))
	for i, c := range cs {
		entries[i] = toCMShort(c)
	}
	writeJSONStatus(w, http.StatusOK, map[string]any{"entries": entries})
}

func (s *server) setMRR(w http.ResponseWriter, r *http.Request) {
	var body struct {
		MRR  any     `json:"mrr"`
		Date *string `json:"date"`
	}
	if !s.decode(w, r, &body) {
		return
	}
	if body.MRR == nil {
		writeMissing(w, "mrr")
		return
	}
	var cents int64
	switch v := body.MRR.(type) {
	case json.Number:
		var err error
		if cents, err = parseCents(v.String()); err != nil {
			writeInvalid(w, "mrr", err.Error())
			return
		}
	default:
		writeInvalid(w, "mrr", fmt.Sprintf("%s is not a number of cents", jsonText(v)))
		return
	}
	at := s.opt.Now().UTC()
	if d := deref(body.Date); d != "" {
		t, err := parseTime(d)
		if err != nil {
			writeInvalid(w, "date", err.Error())
			return
		}
		at = t
	}
	uuid := r.PathValue("uuid")
	var c tagseg.Customer
	err := s.ix.Update(func(tx *tagseg.Tx) error { // the customer as written, even if deleted just after
		if err := tx.SetMRR(uuid, at, cents); err != nil {
			return err
		}
		var err error
		c, err = tx.Customer(uuid)
		return err
	})
	if !s.done(w, r, err, "mrr") {
		return
	}
	writeJSONStatus(w, http.StatusOK, toCM(c))
}

// mrrEntryJSON is one MRR change of GET /v1/customers/{uuid}/mrr.
type mrrEntryJSON struct {
	Date string `json:"date"` // RFC 3339, UTC
	MRR  int64  `json:"mrr"`  // cents, from Date on
}

func (s *server) mrrHistory(w http.ResponseWriter, r *http.Request) {
	changes, err := s.ix.MRRHistory(r.PathValue("uuid"))
	if err != nil {
		s.writeLibError(w, r, err, "uuid")
		return
	}
	entries := make([]mrrEntryJSON, len(changes))
	for i, c := range changes {
		entries[i] = mrrEntryJSON{Date: c.At.UTC().Format(time.RFC3339Nano), MRR: c.Cents}
	}
	writeJSONStatus(w, http.StatusOK, map[string]any{"entries": entries})
}

// ---- tag completion ----

const (
	defaultTagLimit = 20
	maxTagLimit     = 1000
)

// tagCountJSON is one entry of GET /v1/tags.
type tagCountJSON struct {
	Tag       string `json:"tag"`
	Customers uint64 `json:"customers"`
}

// byCustomers orders tags by customers descending, then by name.
func byCustomers(a, b tagCountJSON) int {
	if c := cmp.Compare(b.Customers, a.Customers); c != 0 {
		return c
	}
	return strings.Compare(a.Tag, b.Tag)
}

// listTags answers the tags starting with "prefix", the most held first:
// one pass over Index.Tags (in name order, so it stops after the
// prefix's range) keeping the best "limit" of them.
func (s *server) listTags(w http.ResponseWriter, r *http.Request) {
	qs := r.URL.Query()
	limit := defaultTagLimit
	if v := qs.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxTagLimit {
			writeError(w, http.StatusBadRequest, fmt.Sprintf(`Parameter "limit" must be an integer from 1 to %d`, maxTagLimit), "limit")
			return
		}
		limit = n
	}
	prefix := qs.Get("prefix")
	var top []tagCountJSON
	matched := 0
	for tag, n := range s.ix.Tags() {
		if !strings.HasPrefix(tag, prefix) {
			if tag > prefix {
				break // past every tag with the prefix
			}
			continue
		}
		matched++
		top = append(top, tagCountJSON{tag, n})
		if len(top) == 2*limit { // keep the best limit: O(log limit) a tag
			slices.SortFunc(top, byCustomers)
			top = top[:limit]
		}
	}
	slices.SortFunc(top, byCustomers)
	if len(top) > limit {
		top = top[:limit]
	}
	if top == nil {
		top = []tagCountJSON{}
	}
	writeJSONStatus(w, http.StatusOK, struct {
		Entries []tagCountJSON `json:"entries"`
		HasMore bool           `json:"has_more"`
	}{top, matched > limit})
}

// ---- pagination ----

// page is a request for one page of a cursor-paginated list.
type page struct {
	perPage   int
	after     uint32 // "id" of the last customer of the previous page, or 0
	hasCursor bool
}

func encodeCursor(id uint32) string {
	return base64.StdEncoding.EncodeToString([]byte("&" + strconv.FormatUint(uint64(id), 10)))
}

func decodeCursor(s string) (uint32, bool) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) < 2 || b[0] != '&' {
		return 0, false
	}
	n, err := strconv.ParseUint(string(b[1:]), 10, 32)
	return uint32(n), err == nil
}

// readPage reads per_page and cursor; it answers 400 itself.
func readPage(w http.ResponseWriter, r *http.Request) (page, bool) {
	q := r.URL.Query()
	p := page{perPage: maxPerPage}
	if q.Has("page") {
		writeError(w, http.StatusBadRequest, `Parameter "page" is deprecated`, "page")
		return p, false
	}
	if v := q.Get("per_page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPerPage {
			writeError(w, http.StatusBadRequest, fmt.Sprintf(`Parameter "per_page" must be an integer from 1 to %d`, maxPerPage), "per_page")
			return p, false
		}
		p.perPage = n
	}
	if q.Has("cursor") {
		p.hasCursor = true
		if v := q.Get("cursor"); v != "" {
			id, ok := decodeCursor(v)
			if !ok {
				writeError(w, http.StatusBadRequest, `Parameter "cursor" is invalid`, "cursor")
				return p, false
			}
			p.after = id
		}
	}
	return p, true
}

// firstPage is the envelope of a page asked for without a cursor, with
// ChartMogul's deprecated page fields; nextPage the one with a cursor.
type firstPage struct {
	Entries     []cmCustomer `json:"entries"`
	CurrentPage int          `json:"current_page"`
	TotalPages  *int         `json:"total_pages"`
	HasMore     bool         `json:"has_more"`
	PerPage     int          `json:"per_page"`
	Page        int          `json:"page"`
	Cursor      *string      `json:"cursor"`
}

type nextPage struct {
	Entries []cmCustomer `json:"entries"`
	Cursor  *string      `json:"cursor"`
	HasMore bool         `json:"has_more"`
}

// customerPage is one page of a cursor-paginated list of customers.
type customerPage struct {
	entries []cmCustomer
	more    bool
	total   int64 // customers in the list, or -1 when total_pages is null
}

// readCustomerPage reads one page in dense-ID order: the first p.perPage
// customers that read yields from the dense ID after the cursor's (a
// cursor's "id" is the dense ID + 1, so that is p.after), and one more to
// tell has_more. It costs O(page) wherever the cursor is. A read error is
// returned (the request answers 5xx), never a short page.
func readCustomerPage(p page, read func(from uint32) iter.Seq2[tagseg.Customer, error], total int64) (customerPage, error) {
	cp := customerPage{entries: []cmCustomer{}, total: total}
	for c, err := range read(p.after) {
		if err != nil {
			return cp, err
		}
		if len(cp.entries) == p.perPage {
			cp.more = true
			break
		}
		cp.entries = append(cp.entries, toCM(c))
	}
	return cp, nil
}

// writePage writes a page: with the deprecated page fields when it was
// asked for without a cursor.
func writePage(w http.ResponseWriter, p page, cp customerPage) {
	var cursor *string
	if len(cp.entries) > 0 {
		cursor = nullable(encodeCursor(cp.entries[len(cp.entries)-1].ID))
	}
	if p.hasCursor {
		writeJSONStatus(w, http.StatusOK, nextPage{Entries: cp.entries, Cursor: cursor, HasMore: cp.more})
		return
	}
	fp := firstPage{Entries: cp.entries, CurrentPage: 1, HasMore: cp.more, PerPage: p.perPage, Page: 1, Cursor: cursor}
	if cp.total >= 0 {
		pages := max(1, int((cp.total+int64(p.perPage)-1)/int64(p.perPage)))
		fp.TotalPages = &pages
	}
	writeJSONStatus(w, http.StatusOK, fp)
}

// segmentPage reads one page of the members of e in one read view: the
// segment and its customers on one snapshot.
func segmentPage(tx *tagseg.Tx, p page, e tagseg.Expr) (customerPage, error) {
	seg, err := tx.Segment(e)
	if err != nil {
		return customerPage{}, err
	}
	return readCustomerPage(p, seg.ReadCustomers, int64(seg.Count()))
}

// customersFrom reads customers of a slice in dense-ID order from a
// dense ID on, for readCustomerPage.
func customersFrom(cs []tagseg.Customer) func(from uint32) iter.Seq2[tagseg.Customer, error] {
	return func(from uint32) iter.Seq2[tagseg.Customer, error] {
		return func(yield func(tagseg.Customer, error) bool) {
			i, _ := slices.BinarySearchFunc(cs, from, func(c tagseg.Customer, id uint32) int { return cmp.Compare(c.ID, id) })
			for _, c := range cs[i:] {
				if !yield(c, nil) {
					return
				}
			}
		}
	}
}

func (s *server) listCustomers(w http.ResponseWriter, r *http.Request) {
	p, ok := readPage(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	var filters []tagseg.Expr
	if v := q.Get("data_source_uuid"); v != "" {
		filters = append(filters, tagseg.Where("data_source", tagseg.Eq, v))
	}
	if v := q.Get("external_id"); v != "" {
		filters = append(filters, tagseg.Where("external_id", tagseg.Eq, v))
	}
	if v := q.Get("status"); v != "" {
		switch strings.ReplaceAll(v, "_", " ") {
		case "Active":
			filters = append(filters, tagseg.Where("mrr", tagseg.Gt, 0))
		case "New Lead":
			filters = append(filters, tagseg.Where("mrr", tagseg.Eq, 0))
		default: // statuses tagseg never reports
			filters = append(filters, tagseg.Or())
		}
	}
	if v := q.Get("system"); v != "" && v != billingSystemType {
		filters = append(filters, tagseg.Or())
	}
	var cp customerPage
	err := s.ix.View(func(tx *tagseg.Tx) (err error) {
		cp, err = segmentPage(tx, p, tagseg.And(filters...))
		return err
	})
	if err != nil {
		s.writeInternal(w, r, err)
		return
	}
	writePage(w, p, cp)
}

func (s *server) searchCustomers(w http.ResponseWriter, r *http.Request) {
	p, ok := readPage(w, r)
	if !ok {
		return
	}
	email := r.URL.Query().Get("email")
	if email == "" {
		writeMissing(w, "email")
		return
	}
	cs, err := s.ix.CustomersByEmail(email)
	if err != nil {
		s.writeLibError(w, r, err, "email")
		return
	}
	if len(cs) == 0 {
		noEmail(w, email)
		return
	}
	cp, _ := readCustomerPage(p, customersFrom(cs), -1) // from memory: no error
	writePage(w, p, cp)
}

// ---- segments ----

// segmentQuery picks the segment of a request as the transaction sees it:
// the query parameter "query" (a query) or "segment" (a saved segment's
// name, read in tx), or the same fields of a JSON body; neither means
// every customer. It answers 400 and 404 itself (errAnswered).
func segmentQuery(w http.ResponseWriter, tx *tagseg.Tx, query, segment *string) (string, tagseg.Expr, error) {
	q := deref(query)
	if name := deref(segment); name != "" {
		if q != "" {
			writeError(w, http.StatusBadRequest, `Give "query" or "segment", not both`, "segment")
			return "", tagseg.Expr{}, errAnswered
		}
		saved, err := tx.SavedSegment(name)
		if errors.Is(err, tagseg.ErrNotFound) {
			writeNotFound(w, "Segment")
			return "", tagseg.Expr{}, errAnswered
		}
		if err != nil {
			return "", tagseg.Expr{}, err
		}
		q = saved
	}
	if strings.TrimSpace(q) == "" {
		q = "*"
	}
	e, err := tagseg.Parse(q)
	if err != nil {
		writeQueryError(w, err)
		return "", tagseg.Expr{}, errAnswered
	}
	return q, e, nil
}

// badQuery answers err when the query is at fault (ErrInvalidField: an
// unknown field, a value of the wrong type) and returns errAnswered; any
// other err is returned as it is.
func badQuery(w http.ResponseWriter, err error) error {
	if errors.Is(err, tagseg.ErrInvalidField) {
		writeQueryError(w, err)
		return errAnswered
	}
	return err
}

// syntaxErrorBody is the 400 of a query that does not parse: ChartMogul's
// error body and where in the query the parser stopped, what it expected
// there and what it found ("" at the end of the query).
type syntaxErrorBody struct {
	apiError
	Offset   int    `json:"offset"`
	Expected string `json:"expected"`
	Found    string `json:"found"`
}

// writeQueryError answers 400 "Invalid query: ..." for err; a
// *tagseg.SyntaxError (a query that does not parse, or names an unknown
// field) adds its offset, expected and found.
func writeQueryError(w http.ResponseWriter, err error) {
	body := apiError{Code: http.StatusBadRequest, Message: "Invalid query: " + cleanErr(err), Param: nullable("query")}
	var se *tagseg.SyntaxError
	if errors.As(err, &se) {
		writeJSONStatus(w, http.StatusBadRequest, syntaxErrorBody{apiError: body, Offset: se.Offset, Expected: se.Expected, Found: se.Found})
		return
	}
	writeJSONStatus(w, http.StatusBadRequest, body)
}

// segmentView runs fn in one read view (Index.View) with the segment of
// the request's query parameters, so that the saved segment's query, the
// evaluation and whatever fn reads come from one snapshot. fn computes
// the answer, which the handler writes after the view (a slow client
// must not hold a read transaction); segmentView reports whether fn
// succeeded, else the request has been answered.
func (s *server) segmentView(w http.ResponseWriter, r *http.Request, fn func(tx *tagseg.Tx, q string, e tagseg.Expr) error) bool {
	query, segment := queryParams(r)
	err := s.ix.View(func(tx *tagseg.Tx) error {
		q, e, err := segmentQuery(w, tx, query, segment)
		if err != nil {
			return err
		}
		return badQuery(w, fn(tx, q, e))
	})
	return s.done(w, r, err, "query")
}

func queryParams(r *http.Request) (*string, *string) {
	q := r.URL.Query()
	var query, segment *string
	if q.Has("query") {
		v := q.Get("query")
		query = &v
	}
	if q.Has("segment") {
		v := q.Get("segment")
		segment = &v
	}
	return query, segment
}

// metricsJSON is the body of GET /v1/segments/metrics.
type metricsJSON struct {
	Query       string   `json:"query"`
	Customers   uint64   `json:"customers"`
	Paying      uint64   `json:"paying"`
	MRR         int64    `json:"mrr"`
	ARR         int64    `json:"arr"`
	ARPA        int64    `json:"arpa"`
	UnknownTags []string `json:"unknown_tags"`
}

func (s *server) segmentMetrics(w http.ResponseWriter, r *http.Request) {
	var res metricsJSON
	if !s.segmentView(w, r, func(tx *tagseg.Tx, q string, e tagseg.Expr) error {
		seg, err := tx.Segment(e)
		if err != nil {
			return err
		}
		unknown := seg.UnknownTags()
		if unknown == nil {
			unknown = []string{}
		}
		res = metricsJSON{
			Query: q, Customers: seg.Count(), Paying: seg.Paying(),
			MRR: seg.MRR(), ARR: seg.ARR(), ARPA: seg.ARPA(), UnknownTags: unknown,
		}
		return nil
	}) {
		return
	}
	writeJSONStatus(w, http.StatusOK, res)
}

func (s *server) segmentSeries(w http.ResponseWriter, r *http.Request) {
	qs := r.URL.Query()
	var dates [2]time.Time
	for i, name := range []string{"start-date", "end-date"} {
		v := qs.Get(name)
		if v == "" {
			writeMissing(w, name)
			return
		}
		t, err := parseTime(v)
		if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("Parameter %q: %v", name, err), name)
			return
		}
		dates[i] = t
	}
	if dates[0].After(dates[1]) {
		writeError(w, http.StatusBadRequest, `Parameter "start-date" is after "end-date"`, "start-date")
		return
	}
	iv := tagseg.Month
	if v := qs.Get("interval"); v != "" {
		var err error
		if iv, err = tagseg.ParseInterval(v); err != nil {
			writeError(w, http.StatusBadRequest, `Parameter "interval" must be day, week, month, quarter or year`, "interval")
			return
		}
	}
	var q string
	var points []tagseg.Point
	if !s.segmentView(w, r, func(tx *tagseg.Tx, query string, e tagseg.Expr) (err error) {
		q = query
		points, err = tx.SeriesContext(r.Context(), e, dates[0], dates[1], iv)
		if errors.Is(err, tagseg.ErrInvalid) { // the only cause left: too many points
			writeError(w, http.StatusBadRequest, "The range holds more than 100000 intervals; choose a longer interval or a shorter range", "interval")
			return errAnswered
		}
		return err
	}) {
		return
	}
	entries := make([]seriesEntry, len(points))
	for i, p := range points {
		entries[i] = toEntry(p)
	}
	writeJSONStatus(w, http.StatusOK, seriesJSON{Query: q, Interval: iv.String(), Entries: entries})
}

func (s *server) segmentTagStats(w http.ResponseWriter, r *http.Request) {
	qs := r.URL.Query()
	opt := tagseg.TagStatsOptions{Prefix: qs.Get("prefix"), Limit: 100}
	if v := qs.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, `Parameter "limit" must be an integer, 0 or more (0: all)`, "limit")
			return
		}
		opt.Limit = n
	}
	switch qs.Get("sort") {
	case "", "mrr":
	case "count":
		opt.ByCount = true
	default:
		writeError(w, http.StatusBadRequest, `Parameter "sort" must be mrr or count`, "sort")
		return
	}
	var res tagsResult
	if !s.segmentView(w, r, func(tx *tagseg.Tx, q string, e tagseg.Expr) error { // header and entries of one snapshot
		seg, err := tx.Segment(e)
		if err != nil {
			return err
		}
		stats, err := tx.TagStatsContext(r.Context(), e, opt)
		if err != nil {
			return err
		}
		res = tagsResult{Query: q, Customers: seg.Count(), MRR: seg.MRR(), Entries: []tagJSON{}}
		for _, st := range stats {
			res.Entries = append(res.Entries, tagJSON(st))
		}
		return nil
	}) {
		return
	}
	writeJSONStatus(w, http.StatusOK, res)
}

func (s *server) segmentAddTags(w http.ResponseWriter, r *http.Request) {
	s.segmentTags(w, r, true)
}

func (s *server) segmentRemoveTags(w http.ResponseWriter, r *http.Request) {
	s.segmentTags(w, r, false)
}

// wouldChange is the expression of the customers of e whose tag sets
// adding (or removing) tags changes: those missing one of them (or
// holding one).
func wouldChange(e tagseg.Expr, add bool, tags []string) tagseg.Expr {
	var alts []tagseg.Expr
	for _, t := range tags {
		if add {
			alts = append(alts, tagseg.Not(tagseg.Tag(t)))
		} else {
			alts = append(alts, tagseg.Tag(t))
		}
	}
	return tagseg.And(e, tagseg.Or(alts...))
}

// checkBulk answers 400 and returns errAnswered when changing n
// customers' tags is above the cap, or above the confirmation threshold
// without a confirm of at least n.
func (s *server) checkBulk(w http.ResponseWriter, n uint64, confirm *int64) error {
	switch {
	case s.maxCustomers > 0 && n > uint64(s.maxCustomers):
		writeError(w, http.StatusBadRequest, fmt.Sprintf("This would change the tags of %d customers; a request may change at most %d", n, s.maxCustomers), "query")
		return errAnswered
	case s.confirmAbove > 0 && n > uint64(s.confirmAbove) && (confirm == nil || *confirm < 0 || uint64(*confirm) < n):
		msg := fmt.Sprintf(`This would change the tags of %d customers, more than %d; to proceed, repeat the request with "confirm": %d`, n, s.confirmAbove, n)
		if confirm != nil {
			msg = fmt.Sprintf(`Parameter "confirm" is %d, but this would change the tags of %d customers; to proceed, repeat the request with "confirm": %d`, *confirm, n, n)
		}
		writeError(w, http.StatusBadRequest, msg, "confirm")
		return errAnswered
	}
	return nil
}

// readConfirm reads the confirm of a bulk change: the body's, else the
// query parameter's. It answers 400 itself.
func readConfirm(w http.ResponseWriter, r *http.Request, body *int64) (*int64, bool) {
	if body != nil || !r.URL.Query().Has("confirm") {
		return body, true
	}
	n, err := strconv.ParseInt(r.URL.Query().Get("confirm"), 10, 64)
	if err != nil || n < 0 {
		writeError(w, http.StatusBadRequest, `Parameter "confirm" must be a number of customers`, "confirm")
		return nil, false
	}
	return &n, true
}

// readDryRun reads the dry_run of a bulk change: the body's, else the
// query parameter's. It answers 400 itself.
func readDryRun(w http.ResponseWriter, r *http.Request, body *bool) (dry, ok bool) {
	if body != nil {
		return *body, true
	}
	if !r.URL.Query().Has("dry_run") {
		return false, true
	}
	dry, err := strconv.ParseBool(r.URL.Query().Get("dry_run"))
	if err != nil {
		writeError(w, http.StatusBadRequest, `Parameter "dry_run" must be true or false`, "dry_run")
		return false, false
	}
	return dry, true
}

// segmentTags changes the tags of a segment in one transaction, which
// reads the saved segment's query, counts the customers the change would
// change (checkBulk), and evaluates the segment once more to change them.
func (s *server) segmentTags(w http.ResponseWriter, r *http.Request, add bool) {
	body, ok := s.readTags(w, r)
	if !ok {
		return
	}
	if deref(body.Query) == "" && deref(body.Segment) == "" {
		// A bulk change needs an explicit segment ("*" for everyone).
		writeMissing(w, "query")
		return
	}
	confirm, ok := readConfirm(w, r, body.Confirm)
	if !ok {
		return
	}
	dry, ok := readDryRun(w, r, body.DryRun)
	if !ok {
		return
	}
	if dry {
		s.segmentTagsDryRun(w, r, add, body)
		return
	}
	change := (*tagseg.Tx).RemoveTagsFromSegment
	if add {
		change = (*tagseg.Tx).AddTagsToSegment
	}
	var q string
	var n int
	err := s.ix.Update(func(tx *tagseg.Tx) error {
		// Counted before changing anything (when a cap needs it): a
		// refused request costs an evaluation, not a rewrite rolled back.
		query, e, would, err := bulkSegment(w, tx, body, add, s.maxCustomers > 0 || s.confirmAbove > 0)
		if err != nil {
			return err
		}
		q = query
		if err := s.checkBulk(w, would, confirm); err != nil {
			return err
		}
		n, err = change(tx, e, body.Tags...)
		return badQuery(w, err)
	})
	if !s.done(w, r, err, "tags") {
		return
	}
	writeJSONStatus(w, http.StatusOK, struct {
		Query   string `json:"query"`
		Changed int    `json:"changed"`
	}{q, n})
}

// bulkSegment reads the segment of a bulk change in tx (segmentQuery)
// and, when count is set, counts the customers whose tags the change
// would change (else would is 0). It answers a bad query itself.
func bulkSegment(w http.ResponseWriter, tx *tagseg.Tx, body tagsBody, add, count bool) (q string, e tagseg.Expr, would uint64, err error) {
	q, e, err = segmentQuery(w, tx, body.Query, body.Segment)
	if err != nil || !count {
		return q, e, 0, err
	}
	would, err = tx.Count(wouldChange(e, add, body.Tags))
	return q, e, would, badQuery(w, err)
}

// segmentTagsDryRun answers how many customers a bulk change would change,
// in one read view, with the caps that would apply to it; it needs no
// confirm and changes nothing.
func (s *server) segmentTagsDryRun(w http.ResponseWriter, r *http.Request, add bool, body tagsBody) {
	for _, t := range body.Tags { // as the change would refuse them
		if _, err := checkTag(t); err != nil {
			writeInvalid(w, "tags", err.Error())
			return
		}
	}
	var q string
	var would uint64
	err := s.ix.View(func(tx *tagseg.Tx) (err error) {
		q, _, would, err = bulkSegment(w, tx, body, add, true)
		return err
	})
	if !s.done(w, r, err, "tags") {
		return
	}
	writeJSONStatus(w, http.StatusOK, struct {
		Query        string `json:"query"`
		WouldChange  uint64 `json:"would_change"`
		DryRun       bool   `json:"dry_run"`
		ConfirmAbove int    `json:"confirm_above"`
		MaxCustomers int    `json:"max_customers"`
	}{q, would, true, s.confirmAbove, s.maxCustomers})
}

func (s *server) segmentCustomers(w http.ResponseWriter, r *http.Request) {
	p, ok := readPage(w, r)
	if !ok {
		return
	}
	var cp customerPage
	if !s.segmentView(w, r, func(tx *tagseg.Tx, _ string, e tagseg.Expr) (err error) {
		cp, err = segmentPage(tx, p, e)
		return err
	}) {
		return
	}
	writePage(w, p, cp)
}

type savedSegmentJSON struct {
	Name  string `json:"name"`
	Query string `json:"query"`
}

func (s *server) listSaved(w http.ResponseWriter, r *http.Request) {
	entries := []savedSegmentJSON{}
	for name, q := range s.ix.SavedSegments() {
		entries = append(entries, savedSegmentJSON{name, q})
	}
	writeJSONStatus(w, http.StatusOK, map[string]any{"entries": entries})
}

func (s *server) getSaved(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	q, ok := savedSegment(s.ix, name)
	if !ok {
		writeNotFound(w, "Segment")
		return
	}
	writeJSONStatus(w, http.StatusOK, savedSegmentJSON{name, q})
}

func (s *server) putSaved(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Query *string `json:"query"`
	}
	if !s.decode(w, r, &body) {
		return
	}
	if strings.TrimSpace(deref(body.Query)) == "" {
		writeMissing(w, "query")
		return
	}
	var q string
	err := s.ix.View(func(tx *tagseg.Tx) error {
		query, e, err := segmentQuery(w, tx, body.Query, nil)
		if err != nil {
			return err
		}
		q = query
		_, err = tx.Count(e) // the query must evaluate
		return badQuery(w, err)
	})
	if !s.done(w, r, err, "query") {
		return
	}
	name := r.PathValue("name")
	if err := s.ix.SaveSegment(name, q); err != nil {
		if errors.Is(err, tagseg.ErrInvalid) {
			writeInvalid(w, "name", cleanErr(err))
			return
		}
		s.writeLibError(w, r, err, "query")
		return
	}
	writeJSONStatus(w, http.StatusOK, savedSegmentJSON{name, q})
}

func (s *server) deleteSaved(w http.ResponseWriter, r *http.Request) {
	if err := s.ix.DeleteSegment(r.PathValue("name")); err != nil {
		if errors.Is(err, tagseg.ErrNotFound) {
			writeNotFound(w, "Segment")
			return
		}
		s.writeLibError(w, r, err, "name")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
