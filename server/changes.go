package server

// A saved segment's changes: who entered and who left it, commit by
// commit (tagseg.Index.Changes).
//
//	GET /v1/segments/saved/{name}/changes?after=CURSOR&limit=N&wait=SECONDS
//
// answers {"changes": [{"cursor", "at", "entered", "left"}], "cursor",
// "has_more"}: the changes after the cursor (without one, from the oldest
// kept), oldest first, at most limit (1–1,000; default 100); "cursor" is
// what to pass next (the one given when nothing is new). With wait (0–60
// seconds, fractions allowed) and nothing new, the request is held until a
// commit changes the segment or the time is up. For the page (and other
// views of recent changes): last=N gives the N newest changes after the
// cursor instead of the oldest; max_customers=N cuts each change's lists
// to N customers and adds "entered_count" and "left_count"; names=true
// adds "names": {uuid: name} for the customers listed. 404 for an
// unknown segment, 400 for a malformed cursor or parameter, 410 for a
// cursor older than the changes kept.
//
// Waiting requests and the cap on requests in flight: a request holds a
// slot of Options.MaxInFlight only while it reads, never while it waits,
// so waiting readers cannot starve the other requests. Waiting requests
// have a cap of their own (Options.MaxWaiting): past it, a request with a
// wait is answered 503 with Retry-After at once. A server shutting down
// (http.Server.Shutdown) ends the waits at once, each answered with what
// there is.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/tagseg/tagseg"
)

// The route, exempt from the middleware's cap on requests in flight (see
// above and serve).
const changesRoute = "GET /v1/segments/saved/{name}/changes"

// Limits of the changes endpoint.
const (
	// DefaultMaxWaiting is how many requests may wait for changes at once.
	DefaultMaxWaiting = 1024
	maxChangesLimit   = 1000
	maxChangesWait    = 60 * time.Second
)

// change is one change as the API writes it.
type change struct {
	Cursor       string   `json:"cursor"`
	At           string   `json:"at"`
	Entered      []string `json:"entered"`
	Left         []string `json:"left"`
	EnteredCount *int     `json:"entered_count,omitempty"` // with max_customers
	LeftCount    *int     `json:"left_count,omitempty"`
}

// changesPage is the answer of the changes endpoint.
type changesPage struct {
	Changes []change          `json:"changes"`
	Cursor  string            `json:"cursor"`
	HasMore bool              `json:"has_more"`
	Names   map[string]string `json:"names,omitempty"`
}

func (s *server) segmentChanges(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	q := r.URL.Query()
	opt := tagseg.ChangesOptions{After: q.Get("after"), Limit: 100}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("Invalid limit %q: a number from 1 to %d", v, maxChangesLimit), "limit")
			return
		}
		opt.Limit = min(n, maxChangesLimit)
	}
	for _, p := range []struct {
		name string
		dst  *int
	}{{"last", &opt.Last}, {"max_customers", &opt.MaxCustomers}} {
		if v := q.Get(p.name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				writeError(w, http.StatusBadRequest, fmt.Sprintf("Invalid %s %q: a positive number", p.name, v), p.name)
				return
			}
			*p.dst = n
		}
	}
	opt.Last = min(opt.Last, maxChangesLimit)
	var wait time.Duration
	if v := q.Get("wait"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || !(f >= 0 && f <= maxChangesWait.Seconds()) {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("Invalid wait %q: seconds from 0 to %d", v, int(maxChangesWait.Seconds())), "wait")
			return
		}
		wait = time.Duration(f * float64(time.Second))
	}
	switch v := q.Get("names"); v {
	case "", "false", "0":
	case "true", "1":
		opt.Names = true
	default:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("Invalid names %q: true or false", v), "names")
		return
	}
	// Read at once; wait only when nothing is new.
	if !enter(w, s.inFlight, "requests in flight") {
		return
	}
	p, err := s.ix.Changes(name, opt)
	leave(s.inFlight)
	if err == nil && len(p.Changes) == 0 && wait > 0 {
		if !enter(w, s.waiting, "requests waiting for changes") {
			return
		}
		ctx, cancel := context.WithCancel(r.Context())
		stop := context.AfterFunc(shutdownContext(r), cancel)
		opt.After, opt.Wait = p.Cursor, wait
		// The wait holds no slot; the read after it does (ChangesContext
		// reads once more when woken, so the slot is taken around the
		// whole call, after the wait: see waitChanges).
		var werr error
		p, werr = s.waitChanges(ctx, name, opt, p)
		stop()
		cancel()
		leave(s.waiting)
		if werr != nil {
			err = werr
		}
	}
	if err != nil {
		s.changesError(w, r, err)
		return
	}
	out := changesPage{Changes: make([]change, len(p.Changes)), Cursor: p.Cursor, HasMore: p.HasMore, Names: p.Names}
	for i, c := range p.Changes {
		out.Changes[i] = change{Cursor: c.Cursor, At: c.At.Format(time.RFC3339Nano), Entered: c.Entered, Left: c.Left}
		if opt.MaxCustomers > 0 {
			out.Changes[i].EnteredCount, out.Changes[i].LeftCount = &c.EnteredCount, &c.LeftCount
		}
	}
	writeJSONStatus(w, http.StatusOK, out)
}

// waitChanges waits for the next change after opt.After and reads it,
// holding a slot only to read. It returns what to answer: the change(s),
// or, when the wait ended with nothing new (time up, shutdown), page.
func (s *server) waitChanges(ctx context.Context, name string, opt tagseg.ChangesOptions, page *tagseg.ChangePage) (*tagseg.ChangePage, error) {
	// Wait without reading anything (Limit 1: the cheapest read when
	// woken), then read the page under a slot.
	probe := opt
	probe.Limit, probe.Names = 1, false
	p, err := s.ix.ChangesContext(ctx, name, probe)
	switch {
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return page, nil // client gone, or the server shutting down
	case err != nil:
		return nil, err
	case len(p.Changes) == 0:
		return page, nil // time is up
	}
	take(s.inFlight)
	defer leave(s.inFlight)
	opt.Wait = 0
	return s.ix.Changes(name, opt)
}

// changesError answers an error of Changes.
func (s *server) changesError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, tagseg.ErrNotFound):
		writeNotFound(w, "Segment")
	case errors.Is(err, tagseg.ErrExpired):
		writeError(w, http.StatusGone, "Cursor expired: "+cleanErr(err)+"; start again without one", "after")
	case errors.Is(err, tagseg.ErrInvalid):
		writeError(w, http.StatusBadRequest, "Invalid cursor: "+cleanErr(err), "after")
	default:
		s.writeInternal(w, r, err)
	}
}

// enter takes a slot of sem (the cap on requests in flight, or on
// waiting requests), or answers 503 with Retry-After as the middleware
// does, naming what is full; leave gives it back. A nil sem has no cap.
func enter(w http.ResponseWriter, sem chan struct{}, what string) bool {
	if sem == nil {
		return true
	}
	select {
	case sem <- struct{}{}:
		return true
	default:
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("Too many %s (%d); retry later", what, cap(sem)), "")
		return false
	}
}

func leave(sem chan struct{}) {
	if sem != nil {
		<-sem
	}
}

// take takes a slot of sem, waiting for one: a waiting request that was
// woken reads even when the server is busy.
func take(sem chan struct{}) {
	if sem != nil {
		sem <- struct{}{}
	}
}

// shutdowns holds, per http.Server, a context cancelled when it shuts
// down (RegisterOnShutdown): waits end then instead of holding Shutdown
// up for a minute.
var shutdowns sync.Map // *http.Server → context.Context

// shutdownContext is the context of r's server, cancelled when it shuts
// down; one never cancelled when r came from elsewhere (a test's
// recorder).
func shutdownContext(r *http.Request) context.Context {
	srv, _ := r.Context().Value(http.ServerContextKey).(*http.Server)
	if srv == nil {
		return context.Background()
	}
	if ctx, ok := shutdowns.Load(srv); ok {
		return ctx.(context.Context)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if prev, loaded := shutdowns.LoadOrStore(srv, ctx); loaded {
		cancel()
		return prev.(context.Context)
	}
	srv.RegisterOnShutdown(cancel)
	return ctx
}
