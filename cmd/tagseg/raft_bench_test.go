package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

// Benchmarks of tagseg serve on Raft, processes on loopback (see
// bench/RESULTS.md, "Replication"): durable write throughput and latency
// on 3 nodes vs 1 and vs serve without Raft, failover time, catch-up of a
// node that missed 10,000 writes, and (with TAGSEG_RAFT_BENCH_DB=an index
// file) the install of that index as a snapshot on a node that joins.

// startPlain starts tagseg serve without Raft on node p.
func (c *raftProcs) startPlain(p *raftProc) {
	c.t.Helper()
	p.cmd = exec.Command(c.bin, "serve", "-db", p.db, "-create", "-addr", p.addr, "-log", "off", "-warm=false")
	p.cmd.Env = append(os.Environ(), "TAGSEG_API_KEY="+raftTestKey)
	p.log, _ = os.Create(filepath.Join(c.dir, p.id+".log"))
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	p.exited = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { p.exitErr = cmd.Wait(); close(done) }(p.cmd, p.exited)
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, _, _, err := raftDo(context.Background(), c.url(p), "GET", "/v1/ping", nil, nil)
		if err == nil && code == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("plain serve not up: %s", c.logOf(p))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// benchCluster starts n nodes (0: serve without Raft) and returns them
// with the node to write to and customers to tag.
func benchCluster(b *testing.B, n int) (*raftProcs, *raftProc, []string) {
	c := newRaftProcs(b, max(n, 1))
	if n == 0 {
		c.startPlain(c.nodes[0])
		uuids, _ := c.createCustomers(c.nodes[0], 100)
		return c, c.nodes[0], uuids
	}
	uuids := c.startAll(100, -1)
	return c, c.leader(), uuids
}

// writeLoad sends total durable AddTags from workers goroutines to p and
// returns the latencies of the writes.
func writeLoad(b *testing.B, c *raftProcs, p *raftProc, uuids []string, total, workers int, tag string) []time.Duration {
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	per := (total + workers - 1) / workers
	for w := range workers {
		wg.Go(func() {
			for i := range per {
				u := uuids[(w*per+i)%len(uuids)]
				start := time.Now()
				code, body, _, err := raftDo(context.Background(), c.url(p), "POST", "/v1/customers/"+u+"/attributes/tags", map[string][]string{"tags": {fmt.Sprintf("%s-%d-%d", tag, w, i)}}, nil)
				d := time.Since(start)
				if err != nil || code != http.StatusOK {
					b.Errorf("write: %d %s %v", code, body, err)
					return
				}
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return lat
}

func pct(lat []time.Duration, p float64) float64 {
	s := slices.Clone(lat)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return float64(s[min(len(s)-1, int(float64(len(s))*p))].Microseconds()) / 1000
}

// BenchmarkRaftWrite: durable AddTags through the leader, 8 clients at
// once; writes/s and latency p50/p99 (ms). nodes=0 is serve without Raft.
func BenchmarkRaftWrite(b *testing.B) {
	for _, n := range []int{0, 1, 3} {
		b.Run(fmt.Sprint("nodes=", n), func(b *testing.B) {
			c, p, uuids := benchCluster(b, n)
			defer c.killAll()
			writeLoad(b, c, p, uuids, 200, 8, "warm")
			b.ResetTimer()
			start := time.Now()
			lat := writeLoad(b, c, p, uuids, max(b.N, 8), 8, "w")
			el := time.Since(start)
			b.ReportMetric(float64(len(lat))/el.Seconds(), "writes/s")
			b.ReportMetric(pct(lat, 0.5), "p50-ms")
			b.ReportMetric(pct(lat, 0.99), "p99-ms")
		})
	}
}

// BenchmarkRaftFailover: writers to every node; the leader is SIGKILLed;
// the time until the next acknowledged write (each iteration kills the
// leader of the moment and restarts it afterwards).
func BenchmarkRaftFailover(b *testing.B) {
	c, _, uuids := benchCluster(b, 3)
	defer c.killAll()
	var worst, sum time.Duration
	for i := 0; i < b.N; i++ {
		lead := c.leader()
		var others []*raftProc
		for _, p := range c.nodes {
			if p != lead {
				others = append(others, p)
			}
		}
		c.kill(lead)
		killed := time.Now()
		var got time.Duration
		for try := 0; got == 0; try++ {
			p := others[try%2]
			code, _, _, err := raftDo(context.Background(), c.url(p), "POST", "/v1/customers/"+uuids[0]+"/attributes/tags", map[string][]string{"tags": {fmt.Sprint("failover-", i, "-", try)}}, nil)
			if err == nil && code == http.StatusOK {
				got = time.Since(killed)
			} else {
				time.Sleep(10 * time.Millisecond)
			}
			if time.Since(killed) > time.Minute {
				b.Fatal("no write acknowledged a minute after the leader was killed")
			}
		}
		sum += got
		worst = max(worst, got)
		c.start(lead)
		c.waitUp(3, 0, c.nodes...)
	}
	b.ReportMetric(float64(sum.Milliseconds())/float64(b.N), "ms/failover")
	b.ReportMetric(float64(worst.Milliseconds()), "worst-ms")
}

// BenchmarkRaftCatchUp: a follower is stopped (SIGTERM) while 10,000
// writes go through the leader, then restarted: the time until it has
// applied them all (from the log: TrailingLogs keeps 20,480 entries), and
// of that the replay, from when its applied index first moves (before it,
// the leader's retries to the node that was down back off, up to ~10 s).
func BenchmarkRaftCatchUp(b *testing.B) {
	c, lead, uuids := benchCluster(b, 3)
	defer c.killAll()
	var sum, replay time.Duration
	for i := 0; i < b.N; i++ {
		var f *raftProc
		for _, p := range c.nodes {
			if p != lead {
				f = p
			}
		}
		c.stop(f)
		writeLoad(b, c, lead, uuids, 10000, 16, fmt.Sprint("catch-", i))
		st, _ := c.status(lead)
		start := time.Now()
		c.start(f)
		// Its applied index: when it first moves, and when it is there.
		var first uint64
		var moved time.Time
		for {
			fs, ok := c.status(f)
			if ok && first == 0 {
				first = max(fs.AppliedIndex, 1)
			}
			if ok && moved.IsZero() && fs.AppliedIndex > first {
				moved = time.Now()
			}
			if ok && fs.AppliedIndex >= st.AppliedIndex {
				break
			}
			if time.Since(start) > 5*time.Minute {
				b.Fatal("no catch-up in 5 minutes")
			}
			time.Sleep(10 * time.Millisecond)
		}
		sum += time.Since(start)
		replay += time.Since(moved)
		c.waitUp(3, st.AppliedIndex, f)
	}
	b.ReportMetric(float64(sum.Milliseconds())/float64(b.N), "ms/catch-up")
	b.ReportMetric(float64(replay.Milliseconds())/float64(b.N), "ms/replay")
}

// BenchmarkRaftSnapshotInstall: a copy of $TAGSEG_RAFT_BENCH_DB boots a
// cluster of one (which snapshots it: its customers are in no log entry);
// a node with an empty index joins and installs the snapshot: the time
// from its start until it has applied the leader's index.
func BenchmarkRaftSnapshotInstall(b *testing.B) {
	src := os.Getenv("TAGSEG_RAFT_BENCH_DB")
	if src == "" {
		b.Skip("TAGSEG_RAFT_BENCH_DB is not set")
	}
	for i := 0; i < b.N; i++ {
		c := newRaftProcs(b, 2)
		c.upWait = 30 * time.Minute
		if out, err := exec.Command("cp", "--reflink=auto", src, c.nodes[0].db).CombinedOutput(); err != nil {
			b.Fatalf("copy: %v %s", err, out)
		}
		start := time.Now()
		c.start(c.nodes[0])
		c.waitUp(1, 0, c.nodes[0])
		b.Logf("leader up and seeded in %v", time.Since(start))
		st, _ := c.status(c.nodes[0])
		start = time.Now()
		c.start(c.nodes[1])
		c.waitUp(2, st.AppliedIndex, c.nodes[1])
		d := time.Since(start)
		fi, _ := os.Stat(c.nodes[1].db)
		b.ReportMetric(d.Seconds(), "s/install")
		b.ReportMetric(float64(fi.Size())/1e6, "MB")
		c.killAll()
		os.RemoveAll(c.dir)
	}
}
