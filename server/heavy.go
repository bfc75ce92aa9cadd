package server

// The fence around heavy reads. A tag ranking or a series over a big
// segment takes tens to hundreds of milliseconds of a core; a few of them
// at once would take every core, and the cheap reads beside them (a
// customer, a page, segment metrics) would wait behind them. So they run
// under a semaphore of their own, smaller than GOMAXPROCS: at most
// Options.MaxHeavy at once, the others waiting their turn (a bounded
// number of them: past that, 503 with Retry-After at once, rather than
// holding the server's in-flight slots that cheap reads need). A ranking
// or series the index keeps across commits costs what a cheap read does:
// one answered quickly the last time goes round the fence.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tagseg/tagseg"
)

// heavyFence is the semaphore of the heavy reads; a nil one lets all
// through.
type heavyFence struct {
	slots   chan struct{} // a token per heavy read running
	waiting atomic.Int64  // heavy reads waiting for a slot
	queue   int64         // how many may wait

	mu    sync.Mutex
	quick map[string]bool // requests answered within quickRead last time
}

// errFenceFull is the answer of a heavy read when the queue is full.
var errFenceFull = errors.New("too many heavy reads waiting")

// newHeavyFence returns the fence of n heavy reads at once (0: half of
// GOMAXPROCS, at least 1; negative: no fence) with up to queue waiting.
func newHeavyFence(n, queue int) *heavyFence {
	switch {
	case n < 0:
		return nil
	case n == 0:
		n = DefaultMaxHeavy()
	}
	return &heavyFence{slots: make(chan struct{}, n), queue: int64(max(queue, 1))}
}

// DefaultMaxHeavy is the fence's size when Options.MaxHeavy is 0: half of
// GOMAXPROCS, at least 1, so that heavy reads leave at least half the
// cores to the others.
func DefaultMaxHeavy() int { return max(1, runtime.GOMAXPROCS(0)/2) }

// enter waits for a slot (or ctx) and returns its release; errFenceFull
// when the queue is full, ctx's error when it ends first.
func (f *heavyFence) enter(ctx context.Context) (release func(), err error) {
	if f == nil {
		return func() {}, nil
	}
	select {
	case f.slots <- struct{}{}: // a free slot: no wait
		return func() { <-f.slots }, nil
	default:
	}
	if f.waiting.Add(1) > f.queue {
		f.waiting.Add(-1)
		return nil, errFenceFull
	}
	defer f.waiting.Add(-1)
	select {
	case f.slots <- struct{}{}:
		return func() { <-f.slots }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// heavy takes a slot of the fence for a heavy read, answering 503 itself
// when it cannot (the queue is full, or the client went away waiting);
// the caller runs the read and calls release.
func (s *server) heavy(w http.ResponseWriter, r *http.Request) (release func(), ok bool) {
	release, err := s.fence.enter(r.Context())
	switch {
	case errors.Is(err, errFenceFull):
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("Too many tag rankings and series waiting (%d running, %d waiting); retry later", cap(s.fence.slots), s.fence.queue), "")
		return nil, false
	case err != nil:
		s.writeLibError(w, r, err, "")
		return nil, false
	}
	return release, true
}

// heavyView is segmentView for a heavy read, in a slot of the fence: the
// slot is given back before the answer is written (a slow client must not
// hold it). A request whose last answer was quick (the index kept it
// across commits: a dashboard's poll) goes round the fence; if it turns
// slow it is fenced again from the next time.
func (s *server) heavyView(w http.ResponseWriter, r *http.Request, fn func(tx *tagseg.Tx, q string, e tagseg.Expr) error) bool {
	key := r.URL.Path + "?" + r.URL.RawQuery
	if s.fence == nil || !s.fence.wasQuick(key) {
		release, ok := s.heavy(w, r)
		if !ok {
			return false
		}
		defer release()
	}
	start := time.Now()
	ok := s.segmentView(w, r, fn)
	if s.fence != nil && ok {
		s.fence.note(key, time.Since(start))
	}
	return ok
}

// quickRead is how long a heavy read may take and still go round the
// fence the next time it is asked.
const quickRead = 2 * time.Millisecond

// maxQuick bounds the requests remembered as quick (forgotten all at once
// past it: they are fenced until answered quickly again).
const maxQuick = 4096

// wasQuick reports whether the request key was answered within quickRead
// the last time.
func (f *heavyFence) wasQuick(key string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.quick[key]
}

// note records how long the request key took.
func (f *heavyFence) note(key string, d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if d > quickRead {
		delete(f.quick, key)
		return
	}
	if f.quick == nil || len(f.quick) >= maxQuick {
		f.quick = map[string]bool{}
	}
	f.quick[key] = true
}

// register adds the fence's gauges to reg.
func (f *heavyFence) register(reg *prometheus.Registry) {
	if f == nil {
		return
	}
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "tagseg_heavy_reads_running",
			Help: "Tag rankings and series being computed (at most tagseg_heavy_reads_max).",
		}, func() float64 { return float64(len(f.slots)) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "tagseg_heavy_reads_waiting",
			Help: "Tag rankings and series waiting for the heavy-read fence.",
		}, func() float64 { return float64(f.waiting.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "tagseg_heavy_reads_max",
			Help: "Tag rankings and series computed at once at most (Options.MaxHeavy).",
		}, func() float64 { return float64(cap(f.slots)) }),
	)
}
