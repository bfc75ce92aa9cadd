package main

// Process-level tests of tagseg serve on Raft: three serve processes on
// loopback, killed (SIGKILL), paused (SIGSTOP) and restarted while
// clients write and read through the HTTP API.

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/tagseg/tagseg"
)

const raftTestKey = "raft-test-key"

// raftClient sends the tests' requests (raftDo bounds each to 5 s).
var raftClient = &http.Client{}

// raftProc is one tagseg serve -raft-addr process.
type raftProc struct {
	id, db, addr, raftAddr string
	cmd                    *exec.Cmd
	log                    *os.File
	exited                 chan struct{}
	exitErr                error
}

type raftProcs struct {
	t     testing.TB
	dir   string
	bin   string
	nodes []*raftProc
	extra []string // more flags for every node
	// upWait bounds waitUp; 0: a minute.
	upWait time.Duration
}

// raftTestIP is this test process's loopback address: its own, so that
// a port a node frees and binds again (restarted with the same command
// line) is not taken meanwhile by another test process on 127.0.0.1.
var raftTestIP = func() string {
	r := rand.New(rand.NewPCG(uint64(os.Getpid()), uint64(time.Now().UnixNano())))
	return fmt.Sprintf("127.%d.%d.%d", 1+r.IntN(250), r.IntN(256), 1+r.IntN(254))
}()

func loopbackAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", raftTestIP+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func newRaftProcs(t testing.TB, n int, extra ...string) *raftProcs {
	c := &raftProcs{t: t, dir: t.TempDir(), bin: tagsegBinary(t), extra: extra}
	for i := range n {
		id := fmt.Sprint("n", i+1)
		c.nodes = append(c.nodes, &raftProc{id: id, db: filepath.Join(c.dir, id+".db"), addr: loopbackAddr(t), raftAddr: loopbackAddr(t)})
	}
	t.Cleanup(c.killAll)
	return c
}

func (c *raftProcs) url(p *raftProc) string { return "http://" + p.addr }

// start starts node p (again: the same command line), joining the first
// node unless it is the first.
func (c *raftProcs) start(p *raftProc) {
	c.t.Helper()
	args := []string{"serve", "-db", p.db, "-create", "-addr", p.addr, "-node-id", p.id, "-raft-addr", p.raftAddr, "-log", "off", "-warm=false"}
	if p != c.nodes[0] {
		args = append(args, "-join", c.url(c.nodes[0]))
	}
	args = append(args, c.extra...)
	p.cmd = exec.Command(c.bin, args...)
	p.cmd.Env = append(os.Environ(), "TAGSEG_API_KEY="+raftTestKey)
	var err error
	p.log, err = os.OpenFile(filepath.Join(c.dir, p.id+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		c.t.Fatal(err)
	}
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	p.exited = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) {
		p.exitErr = cmd.Wait()
		close(done)
	}(p.cmd, p.exited)
}

// status is GET /v1/cluster of a node, or false when it does not answer.
func (c *raftProcs) status(p *raftProc) (clusterStatus, bool) {
	var st clusterStatus
	code, body, _, err := raftDo(context.Background(), c.url(p), "GET", "/v1/cluster", nil, nil)
	if err != nil || code != http.StatusOK {
		return st, false
	}
	return st, json.Unmarshal(body, &st) == nil
}

type clusterStatus struct {
	NodeID       string   `json:"node_id"`
	LeaderID     string   `json:"leader_id"`
	AppliedIndex uint64   `json:"applied_index"`
	Nodes        []member `json:"nodes"`
}

type member struct {
	ID       string `json:"id"`
	HTTPAddr string `json:"http_addr"`
	RaftAddr string `json:"raft_addr"`
	Voter    bool   `json:"voter"`
}

// waitUp waits until every node in ps answers, sees a leader and n
// members, and has applied at least min.
func (c *raftProcs) waitUp(n int, min uint64, ps ...*raftProc) {
	c.t.Helper()
	deadline := time.Now().Add(cmp.Or(c.upWait, time.Minute))
	for _, p := range ps {
		for {
			st, ok := c.status(p)
			if ok && st.LeaderID != "" && len(st.Nodes) == n && st.AppliedIndex >= min && !slices.ContainsFunc(st.Nodes, func(m member) bool { return m.HTTPAddr == "" }) {
				break
			}
			if time.Now().After(deadline) {
				c.t.Fatalf("%s not up (status %+v, answered %v); its log:\n%s", p.id, st, ok, c.logOf(p))
			}
			select {
			case <-p.exited:
				c.t.Fatalf("%s exited: %v; its log:\n%s", p.id, p.exitErr, c.logOf(p))
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
}

// waitSame waits until every node has applied as far as the one furthest
// ahead (writes that were in flight when the clients stopped included).
func (c *raftProcs) waitSame() {
	c.t.Helper()
	var top uint64
	for _, p := range c.nodes {
		if st, ok := c.status(p); ok {
			top = max(top, st.AppliedIndex)
		}
	}
	c.waitUp(len(c.nodes), top, c.nodes...)
}

func (c *raftProcs) logOf(p *raftProc) string {
	b, _ := os.ReadFile(filepath.Join(c.dir, p.id+".log"))
	if len(b) > 8000 {
		b = b[len(b)-8000:]
	}
	return string(b)
}

// leader returns the node the others agree leads.
func (c *raftProcs) leader() *raftProc {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, p := range c.nodes {
			if st, ok := c.status(p); ok && st.LeaderID == p.id {
				return p
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.t.Fatal("no leader")
	return nil
}

func (c *raftProcs) signal(p *raftProc, sig syscall.Signal) {
	if p.cmd != nil && p.cmd.Process != nil {
		p.cmd.Process.Signal(sig)
	}
}

// kill SIGKILLs a node and waits for it to be gone.
func (c *raftProcs) kill(p *raftProc) {
	c.signal(p, syscall.SIGCONT)
	c.signal(p, syscall.SIGKILL)
	<-p.exited
	p.log.Close()
}

// stop SIGTERMs a node and waits for it to exit cleanly.
func (c *raftProcs) stop(p *raftProc) {
	c.t.Helper()
	c.signal(p, syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(60 * time.Second):
		c.t.Fatalf("%s: no exit 60 s after SIGTERM", p.id)
	}
	p.log.Close()
	if p.exitErr != nil {
		c.t.Errorf("%s exited with %v after SIGTERM; its log:\n%s", p.id, p.exitErr, c.logOf(p))
	}
}

func (c *raftProcs) killAll() {
	for _, p := range c.nodes {
		if p.exited != nil {
			select {
			case <-p.exited:
			default:
				c.kill(p)
			}
		}
	}
}

// raftDo sends an API request with the key; it returns the status, the
// body and X-Tagseg-Index.
func raftDo(ctx context.Context, base, method, path string, body any, hdr map[string]string) (int, []byte, uint64, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		return 0, nil, 0, err
	}
	req.SetBasicAuth(raftTestKey, "")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := raftClient.Do(req)
	if err != nil {
		return 0, nil, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	idx, _ := strconv.ParseUint(resp.Header.Get("X-Tagseg-Index"), 10, 64)
	return resp.StatusCode, b, idx, err
}

// createCustomers creates n customers through node p; it returns their
// UUIDs and the index of the last create.
func (c *raftProcs) createCustomers(p *raftProc, n int) ([]string, uint64) {
	c.t.Helper()
	var uuids []string
	var last uint64
	for i := range n {
		code, body, idx, err := raftDo(context.Background(), c.url(p), "POST", "/v1/customers", map[string]string{"data_source_uuid": "ds_raft", "external_id": fmt.Sprint("ext-", i)}, nil)
		for try := 0; err == nil && code == http.StatusServiceUnavailable && try < 100; try++ {
			time.Sleep(100 * time.Millisecond)
			code, body, idx, err = raftDo(context.Background(), c.url(p), "POST", "/v1/customers", map[string]string{"data_source_uuid": "ds_raft", "external_id": fmt.Sprint("ext-", i)}, nil)
		}
		if err != nil || code != http.StatusCreated {
			c.t.Fatalf("create customer %d: %d %s %v", i, code, body, err)
		}
		var cust struct {
			UUID string `json:"uuid"`
		}
		json.Unmarshal(body, &cust)
		uuids = append(uuids, cust.UUID)
		last = idx
	}
	return uuids, last
}

// startAll starts every node, each once the one before is up, creates
// customers through node via (-1: the leader) and waits until every node
// applied them; it returns their UUIDs.
func (c *raftProcs) startAll(customers, via int) []string {
	c.t.Helper()
	for i, p := range c.nodes {
		c.start(p)
		c.waitUp(i+1, 0, p)
	}
	p := c.leader()
	if via >= 0 {
		p = c.nodes[via]
	}
	uuids, last := c.createCustomers(p, customers)
	c.waitUp(len(c.nodes), last, c.nodes...)
	return uuids
}

// fileTags opens a node's index file after the node stopped: Check, and
// every customer's tags.
func fileTags(t testing.TB, path string) map[string][]string {
	t.Helper()
	ix, err := tagseg.Open(path, &tagseg.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer ix.Close()
	if err := ix.Check(); err != nil {
		t.Errorf("Check %s: %v", path, err)
	}
	seg, err := ix.Segment(tagseg.All())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for cust := range seg.Customers() {
		out[cust.UUID] = cust.Tags
	}
	return out
}

// Writers add tags through every node while the leader is SIGKILLed and
// later restarted; then every write that was acknowledged (200) is on
// every node's file, the three files hold the same customers and tags,
// and each passes Check.
func TestRaftKillLeader(t *testing.T) {
	c := newRaftProcs(t, 3)
	uuids := c.startAll(12, 1)

	type ack struct{ uuid, tag string }
	var mu sync.Mutex
	var acked []ack
	var maxIndex uint64
	var down sync.Map // node id → true while it is down
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 7))
			for i := 0; ctx.Err() == nil; i++ {
				u, tag := uuids[r.IntN(len(uuids))], fmt.Sprintf("w%d-%d", g, i)
				// Retry on 503 and on a node that is down, on any node:
				// adding a tag again is a no-op.
				for try := 0; try < 200 && ctx.Err() == nil; try++ {
					p := c.nodes[r.IntN(len(c.nodes))]
					if _, isDown := down.Load(p.id); isDown {
						continue
					}
					code, _, idx, err := raftDo(ctx, c.url(p), "POST", "/v1/customers/"+u+"/attributes/tags", map[string][]string{"tags": {tag}}, nil)
					if err == nil && code == http.StatusOK {
						mu.Lock()
						acked = append(acked, ack{u, tag})
						maxIndex = max(maxIndex, idx)
						mu.Unlock()
						break
					}
					if err == nil && code != http.StatusServiceUnavailable {
						t.Errorf("add tag on %s: %d", p.id, code)
						return
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
		})
	}
	time.Sleep(time.Second)
	lead := c.leader()
	down.Store(lead.id, true)
	c.kill(lead)
	t.Logf("killed the leader %s", lead.id)
	time.Sleep(2 * time.Second)
	c.start(lead) // same command line: rejoins with its own state
	down.Delete(lead.id)
	time.Sleep(time.Second)
	cancel()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(acked) < 20 {
		t.Fatalf("only %d writes acknowledged", len(acked))
	}
	c.waitUp(3, maxIndex, c.nodes...)
	c.waitSame()

	// Every /v1 answer carries X-Tagseg-Index, errors too.
	for _, p := range c.nodes {
		for _, req := range []struct {
			method, path string
			key          bool
			want         int
		}{
			{"GET", "/v1/customers/" + uuids[0] + "/attributes", true, http.StatusOK},
			{"GET", "/v1/customers/cus_nobody", true, http.StatusNotFound},
			{"GET", "/v1/cluster", false, http.StatusUnauthorized},
			{"GET", "/v1/customers/" + uuids[0] + "/attributes", false, http.StatusUnauthorized},
			{"POST", "/v1/customers/cus_nobody/attributes/tags", true, http.StatusNotFound},
		} {
			hreq, _ := http.NewRequest(req.method, c.url(p)+req.path, strings.NewReader(`{"tags": ["x"]}`))
			if req.key {
				hreq.SetBasicAuth(raftTestKey, "")
			}
			resp, err := http.DefaultClient.Do(hreq)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			idx, err := strconv.ParseUint(resp.Header.Get("X-Tagseg-Index"), 10, 64)
			if resp.StatusCode != req.want || err != nil || idx < maxIndex {
				t.Errorf("%s %s on %s (key %v): %d, X-Tagseg-Index %q; want %d and at least %d", req.method, req.path, p.id, req.key, resp.StatusCode, resp.Header.Get("X-Tagseg-Index"), req.want, maxIndex)
			}
		}
	}

	// SIGTERM: the leader hands leadership over, then every node exits 0.
	lead = c.leader()
	c.stop(lead)
	if !strings.Contains(c.logOf(lead), "handed leadership over") {
		t.Errorf("the leader %s stopped without handing leadership over; its log:\n%s", lead.id, c.logOf(lead))
	}
	for _, p := range c.nodes {
		if p != lead {
			c.stop(p)
		}
	}
	want := map[string][]string{}
	files := map[string]map[string][]string{}
	for _, p := range c.nodes {
		files[p.id] = fileTags(t, p.db)
	}
	for _, a := range acked {
		want[a.uuid] = append(want[a.uuid], a.tag)
	}
	for id, f := range files {
		for u, tags := range want {
			for _, tag := range tags {
				if !slices.Contains(f[u], tag) {
					t.Errorf("%s: acknowledged tag %s of %s is missing", id, tag, u)
				}
			}
		}
		if diff := gocmp.Diff(files["n1"], f); diff != "" {
			t.Errorf("%s differs from n1 (-n1 +%s):\n%s", id, id, diff)
		}
	}
	t.Logf("%d acknowledged writes, on all three files; last index %d", len(acked), maxIndex)
}

// serve's cluster flags: what goes together, and no plain Raft traffic
// off loopback.
func TestServeRaftFlags(t *testing.T) {
	db := filepath.Join(t.TempDir(), "x.db")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-node-id", "n1"}, "-node-id needs -raft-addr"},
		{[]string{"-join", "http://127.0.0.1:1"}, "-join needs -raft-addr"},
		{[]string{"-raft-addr", "127.0.0.1:0"}, "-raft-addr needs -node-id"},
		{[]string{"-raft-addr", "127.0.0.1:0", "-node-id", "n1", "-raft-tls-cert", "c.pem"}, "go together"},
		{[]string{"-raft-addr", "192.0.2.1:9000", "-node-id", "n1", "-api-key", "k"}, "-raft-addr 192.0.2.1:9000 is not a loopback address"},
		{[]string{"-advertise-addr", "127.0.0.1:1"}, "-advertise-addr needs -raft-addr"},
		{[]string{"-addr", "0.0.0.0:0", "-api-key", "k", "-raft-addr", "127.0.0.1:0", "-node-id", "n1"}, "give -advertise-addr HOST:PORT"},
	} {
		var stdout, stderr strings.Builder
		code := run(append([]string{"serve", "-db", db, "-create", "-addr", "127.0.0.1:0"}, tc.args...), &stdout, &stderr)
		if code == 0 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("serve %v: exit %d, stderr %q; want %q", tc.args, code, stderr.String(), tc.want)
		}
	}
}

// Every write of the API, sent to followers, goes through the log: after
// creates, updates, tags (by UUID, by email, by segment), custom
// attributes, MRR changes (with and without a date), saved segments and a
// delete, the three files are equal customer by customer (every field,
// MRR histories) and in their saved segments, and pass Check.
func TestRaftEveryWrite(t *testing.T) {
	c := newRaftProcs(t, 3)
	c.startAll(0, -1)
	lead := c.leader()
	var followers []*raftProc
	for _, p := range c.nodes {
		if p != lead {
			followers = append(followers, p)
		}
	}
	var uuids []string
	send := func(i int, method, path string, body any) []byte {
		t.Helper()
		p := followers[i%len(followers)]
		code, b, _, err := raftDo(context.Background(), c.url(p), method, path, body, nil)
		for try := 0; err == nil && code == http.StatusServiceUnavailable && try < 50; try++ {
			time.Sleep(100 * time.Millisecond)
			code, b, _, err = raftDo(context.Background(), c.url(p), method, path, body, nil)
		}
		if err != nil || code >= 300 {
			t.Fatalf("%s %s on %s: %d %s %v", method, path, p.id, code, b, err)
		}
		return b
	}
	for i := range 4 {
		b := send(i, "POST", "/v1/customers", map[string]any{"data_source_uuid": "ds_1", "external_id": fmt.Sprint("e", i),
			"name": fmt.Sprint("Customer ", i), "email": fmt.Sprintf("c%d@example.com", i%2), "country": "NL"})
		var cust struct {
			UUID string `json:"uuid"`
		}
		json.Unmarshal(b, &cust)
		uuids = append(uuids, cust.UUID)
	}
	u := func(i int) string { return "/v1/customers/" + uuids[i] }
	steps := []struct {
		method, path string
		body         any
	}{
		{"PATCH", u(0), map[string]any{"name": "Renamed", "company": "Acme"}},
		{"POST", u(0) + "/attributes/tags", map[string]any{"tags": []string{"a", "b"}}},
		{"POST", u(1) + "/attributes/tags", map[string]any{"tags": []string{"a"}}},
		{"DELETE", u(0) + "/attributes/tags", map[string]any{"tags": []string{"b"}}},
		{"POST", "/v1/customers/attributes/tags", map[string]any{"email": "c1@example.com", "tags": []string{"by-email"}}},
		{"POST", u(2) + "/attributes/custom", map[string]any{"custom": []map[string]any{{"type": "String", "key": "plan", "value": "pro"}, {"type": "Integer", "key": "seats", "value": 5}}}},
		{"PUT", u(2) + "/attributes/custom", map[string]any{"custom": map[string]any{"plan": "gold"}}},
		{"DELETE", u(2) + "/attributes/custom", map[string]any{"custom": []string{"seats"}}},
		{"POST", "/v1/customers/attributes/custom", map[string]any{"email": "c0@example.com", "custom": []map[string]any{{"type": "Boolean", "key": "vip", "value": true}}}},
		{"POST", u(1) + "/mrr", map[string]any{"mrr": 1500, "date": "2025-01-01"}},
		{"POST", u(1) + "/mrr", map[string]any{"mrr": 2500}}, // now, fixed by the handler
		{"POST", "/v1/segments/tags", map[string]any{"query": "tag:a", "tags": []string{"bulk"}}},
		{"DELETE", "/v1/segments/tags", map[string]any{"query": "tag:by-email", "tags": []string{"a"}}},
		{"PUT", "/v1/segments/saved/pros", map[string]any{"query": "tag:bulk"}},
		{"PUT", "/v1/segments/saved/gone", map[string]any{"query": "tag:a"}},
		{"DELETE", "/v1/segments/saved/gone", nil},
		{"DELETE", u(3), nil},
	}
	for i, s := range steps {
		send(i, s.method, s.path, s.body)
	}
	c.waitSame()
	for _, p := range c.nodes {
		c.stop(p)
	}
	type dump struct {
		Customers []tagseg.Customer
		History   map[string][]tagseg.MRRChange
		Saved     map[string]string
	}
	dumps := map[string]dump{}
	for _, p := range c.nodes {
		ix, err := tagseg.Open(p.db, &tagseg.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := ix.Check(); err != nil {
			t.Errorf("%s: %v", p.id, err)
		}
		d := dump{History: map[string][]tagseg.MRRChange{}, Saved: map[string]string{}}
		seg, _ := ix.Segment(tagseg.All())
		for cust := range seg.Customers() {
			d.Customers = append(d.Customers, cust)
			d.History[cust.UUID], _ = ix.MRRHistory(cust.UUID)
		}
		for name, q := range ix.SavedSegments() {
			d.Saved[name] = q
		}
		ix.Close()
		dumps[p.id] = d
	}
	want := dumps["n1"]
	if len(want.Customers) != 3 || len(want.Saved) != 1 || len(want.History[uuids[1]]) != 2 {
		t.Fatalf("n1 after the writes: %+v", want)
	}
	for id, d := range dumps {
		if diff := gocmp.Diff(want, d); diff != "" {
			t.Errorf("%s differs from n1 (-n1 +%s):\n%s", id, id, diff)
		}
	}
}

// A join the cluster refuses (a wrong key: 401) ends serve with the
// member's answer, rather than retrying forever.
func TestServeJoinRefused(t *testing.T) {
	member := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"code":401,"message":"No valid API key provided","param":null}`)
	}))
	defer member.Close()
	dir := t.TempDir()
	var stdout, stderr strings.Builder
	code := run([]string{"serve", "-db", filepath.Join(dir, "n2.db"), "-create", "-addr", "127.0.0.1:0", "-log", "off",
		"-node-id", "n2", "-raft-addr", "127.0.0.1:0", "-join", member.URL, "-api-key", "wrong"}, &stdout, &stderr)
	if code == 0 || !strings.Contains(stderr.String(), "refused: 401") || !strings.Contains(stderr.String(), "No valid API key provided") {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr.String())
	}
}
