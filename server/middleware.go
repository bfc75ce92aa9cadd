package server

// What every request goes through before its handler: the Host check of
// a server without a key, cross-origin protection, the API key, the
// index's health, the cap on requests in flight, and JSON answers for
// unknown paths and methods.

import (
	"crypto/subtle"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
)

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

// hostAllowed reports whether a server without an API key answers a
// request for host (the Host header): a loopback name or address
// (localhost, 127.0.0.0/8, ::1; any port) or the host of a trusted origin.
// Anything else is a page of another site whose name was made to resolve
// to this machine (DNS rebinding): it would read and write the index with
// the visitor's browser, as same-origin.
func (s *server) hostAllowed(host string) bool {
	if s.opt.APIKey != "" || s.opt.AllowAnyHost {
		return true
	}
	name := hostname(host)
	if name == "localhost" {
		return true
	}
	if ip, err := netip.ParseAddr(name); err == nil {
		return ip.IsLoopback()
	}
	return slices.Contains(s.trustedHosts, name)
}

// hostname is the name or address of a Host header or origin host, in
// lower case, without its port, brackets or final dot.
func hostname(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	return strings.ToLower(strings.TrimSuffix(host, "."))
}

// serve answers a request; route is its pattern on the mux, or "".
func (s *server) serve(w http.ResponseWriter, r *http.Request, route string) {
	page := isPageRoute(route) // static files: no key, no slot
	if s.opt.APIKey != "" && !page && route != routeHealthz {
		user, _, ok := r.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(user), []byte(s.opt.APIKey)) != 1 {
			if r.Header.Get(pageHeader) != "1" { // the page asks for the key itself
				w.Header().Set("WWW-Authenticate", `Basic realm="tagseg"`)
			}
			writeError(w, http.StatusUnauthorized, "No valid API key provided", "")
			return
		}
	}
	if !page && route != "" && route != routeMetrics {
		// A closed index, or one whose commit failed, serves nothing:
		// 503 everywhere (ping too, for health checks), never an answer
		// from what the index holds in memory. /metrics still answers,
		// with tagseg_index_up 0.
		if err := s.ix.Err(); err != nil {
			writeUnavailable(w, err)
			return
		}
	}
	// The changes endpoint takes its slot itself: none while it waits.
	if s.inFlight != nil && !page && route != "GET /v1/ping" && route != routeHealthz && route != routeMetrics && route != changesRoute {
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

func (r *statusRecorder) Header() http.Header { return r.header }

func (r *statusRecorder) Write(b []byte) (int, error) { return len(b), nil }

func (r *statusRecorder) WriteHeader(status int) { r.status = status }
