package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/tagseg/tagseg"
)

// testCmd is the command of the test API: create a customer, tag or
// untag one.
type testCmd struct {
	Op   string `json:"op"` // create, tag, untag
	UUID string `json:"uuid"`
	Tag  string `json:"tag,omitempty"`
}

func testApply(tx *tagseg.Tx, b []byte) (any, error) {
	var c testCmd
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, err
	}
	switch c.Op {
	case "create":
		out, err := tx.CreateCustomer(tagseg.Customer{UUID: c.UUID})
		return out.UUID, err
	case "tag":
		return tx.AddTags(c.UUID, c.Tag)
	case "untag":
		return tx.RemoveTags(c.UUID, c.Tag)
	}
	return nil, fmt.Errorf("unknown op %q", c.Op)
}

// testAPI is a small API over a node: POST /v1/test (a testCmd) through
// Node.Apply, GET /v1/test/{uuid} (the customer's tags) from the index.
func testAPI(n *Node) http.Handler {
	return n.Handler(func(ix *tagseg.Index) http.Handler { return testMux(n, ix) })
}

func testMux(n *Node, ix *tagseg.Index) http.Handler {
	m := http.NewServeMux()
	m.HandleFunc("POST /v1/test", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		res, err := n.Apply(r.Context(), b)
		switch {
		case err != nil:
			unavailableAnswer(w, err.Error())
		case res.Err != nil:
			status := http.StatusUnprocessableEntity
			if errors.Is(res.Err, tagseg.ErrNotFound) {
				status = http.StatusNotFound
			}
			writeError(w, status, res.Err.Error(), "")
		default:
			writeJSON(w, http.StatusOK, res.Value)
		}
	})
	m.HandleFunc("GET /v1/test/{uuid}", func(w http.ResponseWriter, r *http.Request) {
		c, err := ix.Customer(r.PathValue("uuid"))
		if err != nil {
			writeError(w, http.StatusNotFound, err.Error(), "")
			return
		}
		writeJSON(w, http.StatusOK, c.Tags)
	})
	return m
}

// testNode is a node and its HTTP server in this process.
type testNode struct {
	id, dir, raftAddr, httpAddr string
	n                           *Node
	srv                         *http.Server
}

type testCluster struct {
	t     *testing.T
	dir   string
	nodes map[string]*testNode
	key   string
	tune  func(*Config)
}

// testIP is this test process's loopback address: its own, so that a
// port it frees and binds again (a node restarted on its ports) is not
// taken meanwhile by another test process listening on 127.0.0.1.
var testIP = func() string {
	r := rand.New(rand.NewPCG(uint64(os.Getpid()), uint64(time.Now().UnixNano())))
	return fmt.Sprintf("127.%d.%d.%d", 1+r.IntN(250), r.IntN(256), 1+r.IntN(254))
}()

// testClient sends the tests' requests: a node that hangs fails the test
// instead of hanging it.
var testClient = &http.Client{Timeout: time.Minute}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", testIP+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func fastRaft(c *raft.Config) {
	c.HeartbeatTimeout = 300 * time.Millisecond
	c.ElectionTimeout = 300 * time.Millisecond
	c.LeaderLeaseTimeout = 150 * time.Millisecond
	c.CommitTimeout = 5 * time.Millisecond
}

// start starts (or restarts) node id, joining through join when given.
func (c *testCluster) start(id, join string) *testNode {
	t := c.t
	t.Helper()
	tn := c.nodes[id]
	if tn == nil {
		tn = &testNode{id: id, dir: filepath.Join(c.dir, id), raftAddr: freeAddr(t), httpAddr: freeAddr(t)}
		os.MkdirAll(tn.dir, 0o755)
		c.nodes[id] = tn
	}
	ln, err := net.Listen("tcp", tn.httpAddr)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		ID: id, RaftAddr: tn.raftAddr, HTTPAddr: tn.httpAddr, Index: filepath.Join(tn.dir, "index.db"),
		IndexOptions: &tagseg.Options{NoSync: true}, Apply: testApply, Join: join, APIKey: c.key,
		Logger: hclog.New(&hclog.LoggerOptions{Name: id, Level: hclog.Error, Output: testWriter{t}}),
		Fatal:  func(err error) { t.Errorf("node %s: fatal: %v", id, err) },
		Tune:   fastRaft,
	}
	if c.tune != nil {
		c.tune(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tn.n, err = Start(ctx, cfg)
	if err != nil {
		ln.Close()
		t.Fatalf("start %s: %v", id, err)
	}
	tn.srv = &http.Server{Handler: testAPI(tn.n)}
	go tn.srv.Serve(ln)
	return tn
}

func (c *testCluster) stop(id string) {
	tn := c.nodes[id]
	tn.srv.Close()
	if err := tn.n.Shutdown(); err != nil {
		c.t.Errorf("shutdown %s: %v", id, err)
	}
	tn.n = nil
}

func (c *testCluster) stopAll() {
	for id, tn := range c.nodes {
		if tn.n != nil {
			c.stop(id)
		}
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

// do sends a request to a node; it returns the status, the body and
// X-Tagseg-Index.
func (c *testCluster) do(id, method, path string, body any, hdr ...string) (int, string, uint64) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = strings.NewReader(string(b))
	}
	req, _ := http.NewRequest(method, "http://"+c.nodes[id].httpAddr+path, rd)
	if c.key != "" {
		req.SetBasicAuth(c.key, "")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := testClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s on %s: %v", method, path, id, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	idx, _ := strconv.ParseUint(resp.Header.Get(HeaderIndex), 10, 64)
	if resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") == "" {
		c.t.Errorf("%s %s on %s: 503 without Retry-After", method, path, id)
	}
	return resp.StatusCode, strings.TrimSpace(string(b)), idx
}

// write sends a command to a node, retrying 503s (an election) for up to
// 20 s; it returns the status, body and index.
func (c *testCluster) write(id string, cmd testCmd) (int, string, uint64) {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, body, idx := c.do(id, "POST", "/v1/test", cmd)
		if st != http.StatusServiceUnavailable || time.Now().After(deadline) {
			return st, body, idx
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *testCluster) leader() string {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for id, tn := range c.nodes {
			if tn.n != nil && tn.n.IsLeader() {
				return id
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Fatal("no leader")
	return ""
}

// tags reads a customer's tags on a node, after index min.
func (c *testCluster) tags(id, uuid string, min uint64) []string {
	c.t.Helper()
	st, body, idx := c.do(id, "GET", "/v1/test/"+uuid, nil, HeaderMinIndex, strconv.FormatUint(min, 10))
	if st != http.StatusOK {
		c.t.Fatalf("GET %s on %s after %d: %d %s", uuid, id, min, st, body)
	}
	if idx < min {
		c.t.Errorf("GET on %s with min index %d answered index %d", id, min, idx)
	}
	var tags []string
	json.Unmarshal([]byte(body), &tags)
	return tags
}

// A cluster of three in one process: bootstrap and joins, writes on any
// node (followers forward), read-your-writes with X-Tagseg-Min-Index,
// linearizable reads, GET /v1/cluster, the key, a leader stopping (and
// handing over), a node restarted with its state, a node catching up
// from a snapshot, removing a member; at the end every node's index is
// the same and passes Check.
func TestThreeNodes(t *testing.T) {
	c := &testCluster{t: t, dir: t.TempDir(), nodes: map[string]*testNode{}, key: "k3y"}
	c.tune = func(cfg *Config) {
		cfg.SnapshotThreshold = 64
		cfg.TrailingLogs = 16
		cfg.Tune = func(rc *raft.Config) {
			fastRaft(rc)
			rc.SnapshotInterval = 200 * time.Millisecond
		}
	}
	defer c.stopAll()
	c.start("n1", "")
	join := "http://" + c.nodes["n1"].httpAddr
	c.start("n2", join)
	c.start("n3", join)

	// Joining needs the key.
	bad := &testCluster{t: t, dir: t.TempDir(), nodes: map[string]*testNode{}}
	bad.nodes["n1"] = c.nodes["n1"]
	if st, body, _ := bad.do("n1", "POST", "/v1/cluster/join", joinRequest{ID: "x", RaftAddr: "127.0.0.1:1"}); st != http.StatusUnauthorized {
		t.Fatalf("join without the key: %d %s", st, body)
	}
	if st, _, _ := bad.do("n1", "GET", "/v1/cluster", nil); st != http.StatusUnauthorized {
		t.Fatalf("GET /v1/cluster without the key: %d", st)
	}

	// Writes on every node; each read on every other node after the
	// write's index sees it.
	model := map[string][]string{}
	var last uint64
	for i := range 30 {
		on := fmt.Sprint("n", 1+i%3)
		u := fmt.Sprint("cus_", i%5)
		var cmd testCmd
		switch {
		case model[u] == nil:
			cmd = testCmd{Op: "create", UUID: u}
			model[u] = []string{}
		case i%4 == 3 && len(model[u]) > 0:
			cmd = testCmd{Op: "untag", UUID: u, Tag: model[u][0]}
			model[u] = model[u][1:]
		default:
			tag := fmt.Sprint("t", i)
			cmd = testCmd{Op: "tag", UUID: u, Tag: tag}
			model[u] = append(model[u], tag)
		}
		st, body, idx := c.write(on, cmd)
		if st != http.StatusOK || idx <= last {
			t.Fatalf("write %d on %s: %d %s, index %d after %d", i, on, st, body, idx, last)
		}
		last = idx
		for _, r := range []string{"n1", "n2", "n3"} {
			if got := c.tags(r, u, idx); !slices.Equal(got, model[u]) {
				t.Fatalf("after write %d (index %d), %s has %s: %v, want %v", i, idx, r, u, got, model[u])
			}
		}
	}
	// A command's error is every node's: 404, nothing applied, the index
	// goes on.
	if st, body, idx := c.write("n2", testCmd{Op: "tag", UUID: "cus_nobody", Tag: "x"}); st != http.StatusNotFound || idx <= last {
		t.Fatalf("tag of an unknown customer: %d %s, index %d", st, body, idx)
	}

	// GET /v1/cluster.
	st, body, _ := c.do("n2", "GET", "/v1/cluster", nil)
	var cs Status
	if err := json.Unmarshal([]byte(body), &cs); st != http.StatusOK || err != nil {
		t.Fatalf("GET /v1/cluster: %d %s", st, body)
	}
	lead := c.leader()
	if cs.NodeID != "n2" || cs.LeaderID != lead || cs.AppliedIndex < last || len(cs.Nodes) != 3 {
		t.Fatalf("GET /v1/cluster on n2: %+v (leader %s)", cs, lead)
	}
	for _, m := range cs.Nodes {
		tn := c.nodes[m.ID]
		if tn == nil || m.HTTPAddr != tn.httpAddr || m.RaftAddr != tn.raftAddr || !m.Voter {
			t.Fatalf("member %+v", m)
		}
	}
	var raw map[string]any
	json.Unmarshal([]byte(body), &raw)
	if diff := cmp.Diff([]string{"applied_index", "leader_id", "node_id", "nodes"}, slices.Sorted(mapKeys(raw))); diff != "" {
		t.Errorf("GET /v1/cluster keys (-want +got):\n%s", diff)
	}

	// A linearizable read on a follower is the leader's.
	follower := "n1"
	if lead == "n1" {
		follower = "n2"
	}
	st, body, _ = c.do(follower, "GET", "/v1/test/cus_0?consistency=linearizable", nil)
	if st != http.StatusOK || body != mustJSON(model["cus_0"]) {
		t.Fatalf("linearizable read on %s: %d %s, want %v", follower, st, body, model["cus_0"])
	}
	st, body, _ = c.do(lead, "GET", "/v1/test/cus_0?consistency=linearizable", nil)
	if st != http.StatusOK || body != mustJSON(model["cus_0"]) {
		t.Fatalf("linearizable read on the leader: %d %s", st, body)
	}
	// A min index far ahead: 503 with Retry-After after the wait.
	c.nodes[follower].n.cfg.MinIndexWait = 100 * time.Millisecond
	if st, _, _ := c.do(follower, "GET", "/v1/test/cus_0", nil, HeaderMinIndex, "1000000"); st != http.StatusServiceUnavailable {
		t.Fatalf("read with a min index ahead: %d", st)
	}
	if st, _, _ := c.do(follower, "GET", "/v1/test/cus_0", nil, HeaderMinIndex, "x"); st != http.StatusBadRequest {
		t.Fatalf("read with a bad min index: %d", st)
	}

	// The leader stops (handing leadership over); writes go on.
	c.stop(lead)
	var alive []string
	for _, id := range []string{"n1", "n2", "n3"} {
		if id != lead {
			alive = append(alive, id)
		}
	}
	st, body, idx := c.write(alive[0], testCmd{Op: "tag", UUID: "cus_1", Tag: "after-stop"})
	if st != http.StatusOK {
		t.Fatalf("write after the leader stopped: %d %s", st, body)
	}
	model["cus_1"] = append(model["cus_1"], "after-stop")
	if got := c.tags(alive[1], "cus_1", idx); !slices.Equal(got, model["cus_1"]) {
		t.Fatalf("%s after the leader stopped: %v", alive[1], got)
	}
	// Enough writes that the log is compacted past where the stopped node
	// left it: it comes back from a snapshot.
	for i := range 150 {
		tag := fmt.Sprint("bulk", i)
		if st, body, i2 := c.write(alive[i%2], testCmd{Op: "tag", UUID: "cus_2", Tag: tag}); st != http.StatusOK {
			t.Fatalf("bulk write %d: %d %s", i, st, body)
		} else {
			idx = i2
		}
		model["cus_2"] = append(model["cus_2"], tag)
	}
	waitSnapshot(t, filepath.Join(c.nodes[c.leader()].dir, "index.db.raft"))
	c.start(lead, join) // restarted with its state: -join ignored
	if got := c.tags(lead, "cus_2", idx); !slices.Equal(got, model["cus_2"]) {
		t.Fatalf("restarted %s: cus_2 %v, want %v", lead, got, model["cus_2"])
	}
	if r := c.nodes[lead].n.fsm.restores.Load(); r != 1 {
		t.Fatalf("restarted %s restored %d snapshots, want 1", lead, r)
	}

	// Remove a member (on a follower: forwarded).
	lead = c.leader()
	var gone string
	for _, id := range []string{"n1", "n2", "n3"} {
		if id != lead {
			gone = id
		}
	}
	if st, body, _ := c.do(gone, "DELETE", "/v1/cluster/nodes/"+gone, nil); st != http.StatusOK {
		t.Fatalf("DELETE /v1/cluster/nodes/%s: %d %s", gone, st, body)
	}
	if st, _, _ := c.do(lead, "DELETE", "/v1/cluster/nodes/nobody", nil); st != http.StatusNotFound {
		t.Fatalf("DELETE of an unknown member: %d", st)
	}
	_, body, _ = c.do(lead, "GET", "/v1/cluster", nil)
	json.Unmarshal([]byte(body), &cs)
	if len(cs.Nodes) != 2 {
		t.Fatalf("after removing %s: %+v", gone, cs)
	}
	st, _, idx = c.write(lead, testCmd{Op: "tag", UUID: "cus_3", Tag: "two-left"})
	if st != http.StatusOK {
		t.Fatal("write with two members")
	}
	model["cus_3"] = append(model["cus_3"], "two-left")
	c.stop(gone)

	// Every remaining node holds the model, and every file passes Check.
	for id, tn := range c.nodes {
		if tn.n == nil {
			continue
		}
		for u, want := range model {
			if got := c.tags(id, u, idx); !slices.Equal(got, want) {
				t.Errorf("%s: %s has %v, want %v", id, u, got, want)
			}
		}
	}
	c.stopAll()
	for id, tn := range c.nodes {
		ix, err := tagseg.Open(filepath.Join(tn.dir, "index.db"), &tagseg.Options{ReadOnly: true})
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		if err := ix.Check(); err != nil {
			t.Errorf("%s: %v", id, err)
		}
		ix.Close()
	}
}

func mapKeys(m map[string]any) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// waitSnapshot waits until dir holds a snapshot.
func waitSnapshot(t *testing.T, dir string) {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if ents, _ := os.ReadDir(filepath.Join(dir, "snapshots")); len(ents) > 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no snapshot in %s", dir)
}
