package cluster

// The HTTP side of a node, a handler in front of the API's:
//
//   - GET /v1/cluster: the cluster as this node sees it;
//     POST /v1/cluster/join {"id", "raft_addr", "http_addr"}: add a voter
//     (what -join sends); DELETE /v1/cluster/nodes/{id}: remove a member.
//     They need the API key, as every path does.
//   - Every /v1 answer carries X-Tagseg-Index: the index of the last entry
//     the node had applied when the request came in (a read sees at least
//     that), or, for a write, the index of its entry.
//   - A read with X-Tagseg-Min-Index: N waits until the node has applied N
//     (MinIndexWait at most, then 503 with Retry-After).
//   - A read with ?consistency=linearizable is answered by the leader after
//     ReadIndex; a follower forwards it.
//   - A write (any method but GET and HEAD) on a follower is forwarded to
//     the leader, whose answer is returned as is; with no leader, or when
//     the leader cannot be reached, it is a 503 with Retry-After.

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tagseg/tagseg"
)

// Headers of the HTTP side.
const (
	HeaderIndex     = "X-Tagseg-Index"
	HeaderMinIndex  = "X-Tagseg-Min-Index"
	headerForwarded = "X-Tagseg-Forwarded-By"
)

// indexKey is the context key of a request's indexBox.
type indexKey struct{}

// indexBox receives the index of the entry a write was applied at.
type indexBox struct{ v atomic.Uint64 }

func (b *indexBox) set(i uint64) {
	if i > b.v.Load() {
		b.v.Store(i)
	}
}

// Handler returns the API behind the node's HTTP side (see the top of
// http.go). api makes the API's handler over an index: once for the index
// the node opened, and again after a snapshot is restored, for the new
// index (a request holds the index it started with until it ends). The
// API's writes must go through Node.Apply with the request's context, so
// that a write answers the index of its entry.
func (n *Node) Handler(api func(ix *tagseg.Index) http.Handler) http.Handler {
	return &handler{n: n, api: api, proxy: &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(pr.In.Context().Value(targetKey{}).(*url.URL))
			pr.Out.Header.Set(headerForwarded, n.cfg.ID)
			pr.Out.Header.Del(HeaderMinIndex) // the leader has applied anything known
		},
		Transport: forwardTransport(n.cfg.Client.Transport),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			n.log.Warn("forwarding to the leader failed", "error", err)
			unavailableAnswer(w, "The leader cannot be reached; retry")
		},
	}}
}

type targetKey struct{}

// forwardTransport is the transport of forwarded requests: t when the
// Config's client has one, else keep-alive connections to the leader
// (many requests forward at once), a dial timeout, and a bound on the wait
// for the leader's answer, so that a request forwarded to a leader that
// hangs (a paused process) fails with a 503 rather than waiting forever.
func forwardTransport(t http.RoundTripper) http.RoundTripper {
	if t != nil {
		return t
	}
	return &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: time.Minute,
	}
}

type handler struct {
	n     *Node
	api   func(ix *tagseg.Index) http.Handler
	proxy *httputil.ReverseProxy
}

// serve serves a request with the API over the current index, which it
// holds meanwhile.
func (h *handler) serve(w http.ResponseWriter, r *http.Request) {
	g := h.n.fsm.ixs.acquire()
	defer g.release()
	g.once.Do(func() { g.api = h.api(g.ix) })
	g.api.ServeHTTP(w, r)
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.URL.Path, "/v1/") {
		h.serve(w, r)
		return
	}
	n := h.n
	switch {
	case r.URL.Path == "/v1/cluster" || strings.HasPrefix(r.URL.Path, "/v1/cluster/"):
		if !h.authorized(w, r) {
			return
		}
		h.cluster(w, r)
		return
	case r.Method != http.MethodGet && r.Method != http.MethodHead:
		if !n.IsLeader() {
			h.forward(w, r)
			return
		}
	case r.URL.Query().Get("consistency") == "linearizable":
		if !n.IsLeader() {
			h.forward(w, r)
			return
		}
		if !h.authorized(w, r) {
			return
		}
		if err := n.ReadIndex(r.Context()); err != nil {
			h.fail(w, r, err)
			return
		}
	case r.Header.Get(HeaderMinIndex) != "":
		min, err := strconv.ParseUint(r.Header.Get(HeaderMinIndex), 10, 64)
		if err != nil {
			w.Header().Set(HeaderIndex, strconv.FormatUint(n.Applied(), 10))
			writeError(w, http.StatusBadRequest, fmt.Sprintf("%s: want a log index, got %q", HeaderMinIndex, r.Header.Get(HeaderMinIndex)), HeaderMinIndex)
			return
		}
		if n.Applied() < min {
			if !h.authorized(w, r) {
				return
			}
			ctx, cancel := context.WithTimeout(r.Context(), n.cfg.MinIndexWait)
			err := n.WaitApplied(ctx, min)
			cancel()
			if err != nil {
				h.fail(w, r, err)
				return
			}
		}
	}
	box := &indexBox{}
	box.set(n.Applied())
	h.serve(&indexWriter{ResponseWriter: w, box: box}, r.WithContext(context.WithValue(r.Context(), indexKey{}, box)))
}

// authorized checks the API key as the API does (HTTP Basic, the key as
// user name) and answers 401 when it is wrong.
func (h *handler) authorized(w http.ResponseWriter, r *http.Request) bool {
	key := h.n.cfg.APIKey
	if key == "" {
		return true
	}
	user, _, ok := r.BasicAuth()
	if ok && subtle.ConstantTimeCompare([]byte(user), []byte(key)) == 1 {
		return true
	}
	w.Header().Set(HeaderIndex, strconv.FormatUint(h.n.Applied(), 10))
	w.Header().Set("WWW-Authenticate", `Basic realm="tagseg"`)
	writeError(w, http.StatusUnauthorized, "No valid API key provided", "")
	return false
}

// forward sends the request to the leader and returns its answer.
func (h *handler) forward(w http.ResponseWriter, r *http.Request) {
	if by := r.Header.Get(headerForwarded); by != "" {
		// The node that sent it took this one for the leader: an election
		// is under way, or just ended; do not bounce it further.
		h.fail(w, r, ErrUnavailable)
		return
	}
	_, addr := h.n.Leader()
	if addr == "" {
		h.fail(w, r, ErrUnavailable)
		return
	}
	target := &url.URL{Scheme: "http", Host: addr}
	h.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), targetKey{}, target)))
}

// fail answers a node's error: 503 with Retry-After for the errors of an
// election or a lagging node, else 500.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	w.Header().Set(HeaderIndex, strconv.FormatUint(h.n.Applied(), 10))
	switch {
	case errors.Is(err, ErrUnavailable), errors.Is(err, ErrNotLeader), errors.Is(err, context.DeadlineExceeded):
		unavailableAnswer(w, fmt.Sprintf("Not available on this node now (%v); retry", err))
	case errors.Is(err, errUnknownMember):
		writeError(w, http.StatusNotFound, err.Error(), "id")
	case errors.Is(err, errBadJoin):
		writeError(w, http.StatusBadRequest, err.Error(), "")
	case errors.Is(err, context.Canceled):
		writeError(w, http.StatusServiceUnavailable, "The request was canceled", "")
	default:
		h.n.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "error", err)
		writeError(w, http.StatusInternalServerError, err.Error(), "")
	}
}

func unavailableAnswer(w http.ResponseWriter, msg string) {
	w.Header().Set("Retry-After", "1")
	writeError(w, http.StatusServiceUnavailable, msg, "")
}

// cluster serves the /v1/cluster paths.
func (h *handler) cluster(w http.ResponseWriter, r *http.Request) {
	n := h.n
	w.Header().Set(HeaderIndex, strconv.FormatUint(n.Applied(), 10))
	path := r.URL.Path
	switch {
	case path == "/v1/cluster" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		st, err := n.Status()
		if err != nil {
			h.fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, st)
	case path == "/v1/cluster/join" && r.Method == http.MethodPost:
		if !n.IsLeader() {
			h.forward(w, r)
			return
		}
		var req joinRequest
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&req); err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("Bad join request: %v", err), "")
			return
		}
		if err := n.AddMember(req.ID, req.RaftAddr, req.HTTPAddr); err != nil {
			h.fail(w, r, err)
			return
		}
		st, _ := n.Status()
		writeJSON(w, http.StatusOK, st)
	case strings.HasPrefix(path, "/v1/cluster/nodes/") && r.Method == http.MethodDelete:
		if !n.IsLeader() {
			h.forward(w, r)
			return
		}
		id := strings.TrimPrefix(path, "/v1/cluster/nodes/")
		if err := n.RemoveMember(id); err != nil {
			h.fail(w, r, err)
			return
		}
		st, _ := n.Status()
		writeJSON(w, http.StatusOK, st)
	case path == "/v1/cluster" || path == "/v1/cluster/join" || strings.HasPrefix(path, "/v1/cluster/nodes/"):
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("Method %s is not allowed for %s", r.Method, path), "")
	default:
		writeError(w, http.StatusNotFound, fmt.Sprintf("No such endpoint: %s %s", r.Method, path), "")
	}
}

// indexWriter sets X-Tagseg-Index as the answer's header is written.
type indexWriter struct {
	http.ResponseWriter
	box   *indexBox
	wrote bool
}

func (w *indexWriter) WriteHeader(status int) {
	if !w.wrote {
		w.wrote = true
		w.Header().Set(HeaderIndex, strconv.FormatUint(w.box.v.Load(), 10))
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *indexWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

func (w *indexWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *indexWriter) Flush() {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// writeError writes the API's error body: {"code", "message", "param"}.
func writeError(w http.ResponseWriter, status int, msg, param string) {
	var p *string
	if param != "" {
		p = &param
	}
	writeJSON(w, status, struct {
		Code    int     `json:"code"`
		Message string  `json:"message"`
		Param   *string `json:"param"`
	}{status, msg, p})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}
