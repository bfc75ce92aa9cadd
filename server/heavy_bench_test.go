package server

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tagseg/tagseg"
)

// BenchmarkHeavyFence shows what the heavy-read fence is for: clients
// that each ask a tag ranking of the benchmark segment (about a tenth of
// the customers; each time a different expression of it, so that no
// answer is kept across requests) again and again, as many as GOMAXPROCS + 2, beside one
// client of cheap reads (a customer by UUID, then the benchmark segment's
// metrics), with the fence (MaxHeavy: DefaultMaxHeavy, half the cores)
// and without (MaxHeavy -1). Reported: the cheap reads' p50 and p99, and
// the heavy reads answered a second. Over real HTTP on 127.0.0.1
// (httptest.Server), on $TAGSEG_BENCH_DB or a built data set.
func BenchmarkHeavyFence(b *testing.B) {
	ix, g := benchIndex(b)
	n := g.Config().Customers
	seg, err := ix.Segment(tagseg.All())
	if err != nil {
		b.Fatal(err)
	}
	var uuids []string
	for c := range seg.Customers() {
		uuids = append(uuids, c.UUID)
		if len(uuids) == 64 {
			break
		}
	}
	heavyClients := runtime.GOMAXPROCS(0) + 2
	for _, fence := range []int{0, -1} {
		name := "on"
		if fence < 0 {
			name = "off"
		}
		b.Run(fmt.Sprintf("n=%d/heavy-clients=%d/fence=%s/sys=tagseg-http", n, heavyClients, name), func(b *testing.B) {
			srv := httptest.NewServer(New(ix, Options{MaxHeavy: fence, MaxInFlight: -1}))
			defer srv.Close()
			client := srv.Client()
			get := func(target string) {
				resp, err := client.Get(srv.URL + target)
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Errorf("GET %s: %s", target, resp.Status)
				}
			}
			ranking := "/v1/segments/tags?limit=100&query=" + url.QueryEscape(benchSegment)
			metrics := "/v1/segments/metrics?query=" + url.QueryEscape(benchSegment)
			get(ranking) // the forward index, built once
			stop := make(chan struct{})
			var heavy atomic.Int64
			var wg sync.WaitGroup
			var fresh atomic.Int64
			for range heavyClients {
				wg.Go(func() {
					for {
						select {
						case <-stop:
							return
						default:
						}
						// Each a segment of its own (minus a tag nobody
						// holds): never an answer the index kept.
						get(ranking + url.QueryEscape(fmt.Sprintf(" AND NOT tag:nobody-%d", fresh.Add(1))))
						heavy.Add(1)
					}
				})
			}
			time.Sleep(200 * time.Millisecond) // the heavy load under way
			h0, t0 := heavy.Load(), time.Now()
			var ss []time.Duration
			i := 0
			for b.Loop() {
				target := "/v1/customers/" + uuids[i%len(uuids)]
				if i%2 == 1 {
					target = metrics
				}
				i++
				start := time.Now()
				get(target)
				ss = append(ss, time.Since(start))
			}
			heavyRate := float64(heavy.Load()-h0) / time.Since(t0).Seconds()
			close(stop)
			wg.Wait()
			slices.Sort(ss)
			b.ReportMetric(float64(ss[len(ss)/2].Nanoseconds()), "cheap-p50-ns")
			b.ReportMetric(float64(ss[min(len(ss)-1, len(ss)*99/100)].Nanoseconds()), "cheap-p99-ns")
			b.ReportMetric(heavyRate, "heavy/s")
		})
	}
}
