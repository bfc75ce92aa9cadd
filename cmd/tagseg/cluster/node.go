// Package cluster replicates a tagseg index on Raft (hashicorp/raft), the
// way rqlite replicates SQLite: every write of the HTTP API becomes an
// entry of a Raft log, and every node applies the log to its own index
// file. It is the Raft side of tagseg serve -raft-addr:
//
//   - the state machine (fsm.go): an entry is applied in one Update that
//     also commits the entry's index (tagseg.Tx.SetApplied), so a restart
//     neither loses nor re-applies one; a snapshot is the index's Backup,
//     and restoring one puts the copy in place (tagseg.Restore) and swaps
//     the open index, letting requests in flight finish on the old one;
//   - the node (this file): the Raft log and stable store (raft-boltdb) and
//     snapshots in one directory, a TCP transport (mutual TLS off
//     loopback), bootstrap of a cluster of one, joining through any
//     member's HTTP address, leadership transfer on shutdown, and the
//     read-index method for linearizable reads;
//   - the HTTP side (http.go): GET /v1/cluster, the join and remove
//     endpoints, X-Tagseg-Index on every /v1 answer, X-Tagseg-Min-Index,
//     ?consistency=linearizable, and followers forwarding writes to the
//     leader.
//
// The commands themselves are the server's: the node applies them with
// the ApplyFunc it is given.
package cluster

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"github.com/tagseg/tagseg"
)

// Config configures a node.
type Config struct {
	ID       string // this node's ID, fixed for its life (-node-id)
	RaftAddr string // host:port of the Raft transport, listened on and told to the others
	HTTPAddr string // host:port of this node's HTTP API, told to the others (forwarding)
	Dir      string // Raft's log, stable store and snapshots; created when missing
	Index    string // the index file
	// IndexOptions open the index (nil: defaults, durable).
	IndexOptions *tagseg.Options
	// Apply applies a command of the API.
	Apply ApplyFunc
	// TLS, when set, is the mutual TLS of the Raft transport (LoadTLS).
	// Without it a RaftAddr off loopback is refused unless Insecure.
	TLS      *tls.Config
	Insecure bool
	// Join is a member's HTTP URL, asked to add this node when it has no
	// Raft state; ignored when it has (a restart). Without it, a node with
	// no state bootstraps a cluster of one.
	Join string
	// APIKey is the HTTP API's key: joining sends it, and the cluster
	// endpoints require it. Empty: none.
	APIKey string
	// Logger receives Raft's log and the node's own lines; nil: stderr.
	Logger hclog.Logger
	// Fatal is called when the node cannot go on (an entry that cannot be
	// applied, a restore that cannot be opened): the node must stop. nil:
	// log and exit(1).
	Fatal func(error)
	// SnapshotThreshold is the number of log entries between snapshots
	// (each a whole copy of the index: raise it for big indexes); 0:
	// 16,384. TrailingLogs is how many entries a snapshot leaves in the
	// log, for followers that lag to catch up from (0: 20,480).
	SnapshotThreshold, TrailingLogs uint64
	// Tune, when set, adjusts Raft's configuration last (tests: shorter
	// timeouts).
	Tune func(*raft.Config)
	// ApplyTimeout bounds the wait to enqueue an entry; 0: 10 s.
	ApplyTimeout time.Duration
	// MinIndexWait is how long a read with X-Tagseg-Min-Index waits for
	// the node to apply it; 0: 5 s.
	MinIndexWait time.Duration
	// Client sends joins and forwarded requests; nil: a client with a 5
	// minute timeout.
	Client *http.Client
}

// Errors a node returns; the HTTP side answers them 503 with Retry-After.
var (
	// ErrNotLeader: the request needs the leader and this node is not it.
	ErrNotLeader = errors.New("cluster: not the leader")
	// ErrUnavailable: no leader (an election), or leadership was lost
	// while the request ran; retry.
	ErrUnavailable = errors.New("cluster: no leader; retry")
)

// Node is one member of a cluster: a Raft node and the index it applies
// the log to.
type Node struct {
	cfg   Config
	raft  *raft.Raft
	fsm   *fsm
	store *raftboltdb.BoltStore
	trans raft.Transport
	log   hclog.Logger

	stop     chan struct{} // closed by Shutdown
	wg       sync.WaitGroup
	shutOnce sync.Once
	shutErr  error
}

// Start opens the index and starts the Raft node: it bootstraps a
// cluster of one when there is no Raft state and no Join, joins through
// Join when there is no state (retrying until a member accepts or says
// why not, or ctx ends), and otherwise rejoins with its own state.
func Start(ctx context.Context, cfg Config) (*Node, error) {
	if cfg.ID == "" || cfg.RaftAddr == "" || cfg.Index == "" || cfg.Apply == nil {
		return nil, errors.New("cluster: a node needs an ID, a Raft address, an index and an ApplyFunc")
	}
	if cfg.TLS == nil && !cfg.Insecure && !IsLoopback(cfg.RaftAddr) {
		return nil, fmt.Errorf("cluster: -raft-addr %s is not a loopback address and %w: give -raft-tls-cert, -raft-tls-key and -raft-tls-ca (mutual TLS), or -insecure", cfg.RaftAddr, errPlainRaft)
	}
	if cfg.Dir == "" {
		cfg.Dir = cfg.Index + ".raft"
	}
	if cfg.SnapshotThreshold == 0 {
		cfg.SnapshotThreshold = 16384
	}
	if cfg.TrailingLogs == 0 {
		cfg.TrailingLogs = 20480
	}
	if cfg.ApplyTimeout == 0 {
		cfg.ApplyTimeout = 10 * time.Second
	}
	if cfg.MinIndexWait == 0 {
		cfg.MinIndexWait = 5 * time.Second
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 5 * time.Minute}
	}
	logger := cfg.Logger
	if logger == nil {
		logger = hclog.New(&hclog.LoggerOptions{Name: "raft", Level: hclog.Info, Output: os.Stderr})
	}
	if cfg.Fatal == nil {
		cfg.Fatal = func(err error) {
			logger.Error("cannot go on", "error", err)
			os.Exit(1)
		}
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	n := &Node{cfg: cfg, log: logger, stop: make(chan struct{})}
	ok := false
	defer func() {
		if !ok {
			if n.raft != nil {
				n.raft.Shutdown().Error()
			}
			n.closeParts()
		}
	}()
	var err error
	n.store, err = raftboltdb.New(raftboltdb.Options{Path: filepath.Join(cfg.Dir, "raft.db")})
	if err != nil {
		return nil, fmt.Errorf("cluster: Raft store: %w", err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.Dir, 1, logger)
	if err != nil {
		return nil, fmt.Errorf("cluster: snapshot store: %w", err)
	}
	n.fsm, err = newFSM(cfg.Index, cfg.IndexOptions, cfg.Apply, n.store, cfg.Fatal)
	if err != nil {
		return nil, err
	}
	if cfg.TLS != nil {
		layer, err := newTLSLayer(cfg.RaftAddr, cfg.TLS)
		if err != nil {
			return nil, fmt.Errorf("cluster: Raft transport: %w", err)
		}
		n.trans = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{Stream: layer, MaxPool: 3, Timeout: 10 * time.Second, Logger: logger})
	} else {
		t, err := raft.NewTCPTransportWithLogger(cfg.RaftAddr, nil, 3, 10*time.Second, logger)
		if err != nil {
			return nil, fmt.Errorf("cluster: Raft transport: %w", err)
		}
		n.trans = t
	}
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.ID)
	rc.Logger = logger
	rc.SnapshotThreshold = cfg.SnapshotThreshold
	rc.TrailingLogs = cfg.TrailingLogs
	// The index file is durable and knows what it holds: a restart does
	// not restore the latest snapshot (a whole copy) but replays the log
	// after it, skipping what the file has.
	rc.NoSnapshotRestoreOnStart = true
	// Bigger batches: one fsync of the log and one of the index for up to
	// 512 entries, when a follower catches up or many writes queue.
	rc.MaxAppendEntries = 512
	rc.BatchApplyCh = true
	if cfg.Tune != nil {
		cfg.Tune(rc)
	}
	has, err := raft.HasExistingState(n.store, n.store, snaps)
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	n.raft, err = raft.NewRaft(rc, n.fsm, n.store, n.store, snaps, n.trans)
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	switch {
	case has:
		logger.Info("restarting with its Raft state", "dir", cfg.Dir)
	case cfg.Join == "":
		f := n.raft.BootstrapCluster(raft.Configuration{Servers: []raft.Server{{Suffrage: raft.Voter, ID: rc.LocalID, Address: n.trans.LocalAddr()}}})
		if err := f.Error(); err != nil {
			return nil, fmt.Errorf("cluster: bootstrap: %w", err)
		}
		logger.Info("bootstrapped a cluster of one", "id", cfg.ID)
		if err := n.seed(ctx); err != nil {
			return nil, err
		}
	default:
		if err := n.join(ctx); err != nil {
			return nil, err
		}
	}
	n.wg.Go(n.keepMeta)
	ok = true
	return n, nil
}

// seed makes the first snapshot of a cluster bootstrapped on an index
// that already holds customers: those customers are in no log entry, so a
// node that joins must start from a snapshot, not from entry 1. It waits
// for the node to lead (a cluster of one elects itself), commits an entry,
// snapshots, and truncates the whole log.
func (n *Node) seed(ctx context.Context) error {
	ix := n.fsm.ixs.index()
	count, err := ix.Count(tagseg.All())
	if err != nil {
		return err
	}
	a, err := ix.Applied()
	if err != nil || count == 0 || a != 0 {
		return err
	}
	if err := n.waitLeader(ctx); err != nil {
		return err
	}
	if err := n.raft.Apply([]byte{kindNop}, n.cfg.ApplyTimeout).Error(); err != nil {
		return fmt.Errorf("cluster: seed: %w", err)
	}
	rc := n.raft.ReloadableConfig()
	trailing := rc.TrailingLogs
	rc.TrailingLogs = 0
	if err := n.raft.ReloadConfig(rc); err != nil {
		return fmt.Errorf("cluster: seed: %w", err)
	}
	defer func() {
		rc.TrailingLogs = trailing
		n.raft.ReloadConfig(rc)
	}()
	if err := n.raft.Snapshot().Error(); err != nil {
		return fmt.Errorf("cluster: seed snapshot: %w", err)
	}
	n.log.Info("seeded the log with a snapshot of the existing index", "customers", count)
	return nil
}

// waitLeader waits until this node leads.
func (n *Node) waitLeader(ctx context.Context) error {
	for n.raft.State() != raft.Leader {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// joinRequest is the body of POST /v1/cluster/join.
type joinRequest struct {
	ID       string `json:"id"`
	RaftAddr string `json:"raft_addr"`
	HTTPAddr string `json:"http_addr"`
}

// join asks the member at cfg.Join to add this node as a voter, until it
// does, or answers why not (a 4xx: wrong key, bad request), or ctx ends.
func (n *Node) join(ctx context.Context) error {
	body, _ := json.Marshal(joinRequest{ID: n.cfg.ID, RaftAddr: string(n.trans.LocalAddr()), HTTPAddr: n.cfg.HTTPAddr})
	url := joinURL(n.cfg.Join)
	for try := 1; ; try++ {
		status, msg, err := n.post(ctx, url, body)
		switch {
		case err == nil && status == http.StatusOK:
			n.log.Info("joined the cluster", "through", n.cfg.Join)
			return nil
		case err == nil && status >= 400 && status < 500 && status != http.StatusTooManyRequests && status != http.StatusRequestTimeout:
			return fmt.Errorf("cluster: join through %s refused: %d %s", n.cfg.Join, status, msg)
		case err == nil:
			err = fmt.Errorf("%d %s", status, msg)
		}
		n.log.Warn("join: will retry", "through", n.cfg.Join, "try", try, "error", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster: join through %s: %w (last: %v)", n.cfg.Join, ctx.Err(), err)
		case <-time.After(min(time.Duration(try)*250*time.Millisecond, 2*time.Second)):
		}
	}
}

func joinURL(base string) string {
	for len(base) > 0 && base[len(base)-1] == '/' {
		base = base[:len(base)-1]
	}
	return base + "/v1/cluster/join"
}

// post sends a JSON body with the API key; it returns the status and the
// answer's text.
func (n *Node) post(ctx context.Context, url string, body []byte) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	if n.cfg.APIKey != "" {
		req.SetBasicAuth(n.cfg.APIKey, "")
	}
	resp, err := n.cfg.Client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, string(bytes.TrimSpace(b)), nil
}

// keepMeta keeps this node's HTTP address in the replicated list of
// members: as leader it commits it, as follower it asks the leader (a
// join, which for a member is only that), until the list has it.
func (n *Node) keepMeta() {
	for {
		if n.fsm.httpAddr(n.cfg.ID) != n.cfg.HTTPAddr {
			if err := n.updateMeta(); err != nil {
				n.log.Debug("member address not yet replicated", "error", err)
			}
		}
		select {
		case <-n.stop:
			return
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func (n *Node) updateMeta() error {
	if n.raft.State() == raft.Leader {
		return n.setMeta(nodeMeta{ID: n.cfg.ID, HTTPAddr: n.cfg.HTTPAddr})
	}
	_, id := n.raft.LeaderWithID()
	lh := n.fsm.httpAddr(string(id))
	if lh == "" {
		return ErrUnavailable
	}
	body, _ := json.Marshal(joinRequest{ID: n.cfg.ID, RaftAddr: string(n.trans.LocalAddr()), HTTPAddr: n.cfg.HTTPAddr})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	status, msg, err := n.post(ctx, "http://"+lh+"/v1/cluster/join", body)
	if err == nil && status != http.StatusOK {
		err = fmt.Errorf("%d %s", status, msg)
	}
	return err
}

func (n *Node) setMeta(m nodeMeta) error {
	b, _ := json.Marshal(m)
	return n.raft.Apply(append([]byte{kindMeta}, b...), n.cfg.ApplyTimeout).Error()
}

// AddMember adds (or updates) a voter: on the leader only.
func (n *Node) AddMember(id, raftAddr, httpAddr string) error {
	if id == "" || raftAddr == "" {
		return fmt.Errorf("cluster: join: %w", errBadJoin)
	}
	if n.raft.State() != raft.Leader {
		return ErrNotLeader
	}
	cf := n.raft.GetConfiguration()
	if err := cf.Error(); err != nil {
		return unavailable(err)
	}
	member := false
	for _, s := range cf.Configuration().Servers {
		switch {
		case s.ID == raft.ServerID(id) && s.Address == raft.ServerAddress(raftAddr) && s.Suffrage == raft.Voter:
			member = true
		case s.ID == raft.ServerID(id) || s.Address == raft.ServerAddress(raftAddr):
			// A node known under another address or ID: replace it.
			if err := n.raft.RemoveServer(s.ID, 0, n.cfg.ApplyTimeout).Error(); err != nil {
				return unavailable(err)
			}
		}
	}
	if !member {
		if err := n.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(raftAddr), 0, n.cfg.ApplyTimeout).Error(); err != nil {
			return unavailable(err)
		}
		n.log.Info("added a voter", "id", id, "raft_addr", raftAddr, "http_addr", httpAddr)
	}
	if httpAddr != "" && n.fsm.httpAddr(id) != httpAddr {
		if err := n.setMeta(nodeMeta{ID: id, HTTPAddr: httpAddr}); err != nil {
			return unavailable(err)
		}
	}
	return nil
}

var (
	errBadJoin       = errors.New("a join needs \"id\" and \"raft_addr\"")
	errUnknownMember = errors.New("no such member")
)

// RemoveMember removes a member: on the leader only.
func (n *Node) RemoveMember(id string) error {
	if n.raft.State() != raft.Leader {
		return ErrNotLeader
	}
	cf := n.raft.GetConfiguration()
	if err := cf.Error(); err != nil {
		return unavailable(err)
	}
	found := false
	for _, s := range cf.Configuration().Servers {
		found = found || s.ID == raft.ServerID(id)
	}
	if !found {
		return fmt.Errorf("cluster: remove %s: %w", id, errUnknownMember)
	}
	if err := n.setMeta(nodeMeta{ID: id, Delete: true}); err != nil {
		return unavailable(err)
	}
	if err := n.raft.RemoveServer(raft.ServerID(id), 0, n.cfg.ApplyTimeout).Error(); err != nil {
		return unavailable(err)
	}
	n.log.Info("removed a member", "id", id)
	return nil
}

// unavailable maps Raft's errors of a lost or missing leadership to
// ErrUnavailable.
func unavailable(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipLost),
		errors.Is(err, raft.ErrLeadershipTransferInProgress), errors.Is(err, raft.ErrEnqueueTimeout),
		errors.Is(err, raft.ErrRaftShutdown), errors.Is(err, raft.ErrAbortedByRestore):
		return fmt.Errorf("%w (%v)", ErrUnavailable, err)
	}
	return err
}

// Apply commits a command of the API to the log and waits until this
// node (the leader) applied it: the result is the ApplyFunc's, with the
// entry's index. On a follower it gives ErrNotLeader; when leadership is
// lost meanwhile, ErrUnavailable (the command may or may not be applied:
// the client retries, as after any 503).
func (n *Node) Apply(ctx context.Context, cmd []byte) (*Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if n.raft.State() != raft.Leader {
		return nil, ErrNotLeader
	}
	f := n.raft.Apply(append([]byte{kindCommand}, cmd...), n.cfg.ApplyTimeout)
	if err := f.Error(); err != nil {
		return nil, unavailable(err)
	}
	res, _ := f.Response().(*Result)
	if res == nil {
		return nil, fmt.Errorf("cluster: entry %d: %w", f.Index(), ErrUnavailable)
	}
	if box, ok := ctx.Value(indexKey{}).(*indexBox); ok {
		box.set(res.Index)
	}
	return res, nil
}

// ReadIndex makes the next read of this node linearizable, by the Raft
// dissertation's read-index method (as rqlite does): the leader notes its
// commit index, confirms with a heartbeat round that a quorum still
// follows it, and waits until it has applied that index. A leader that has
// not yet committed an entry of its own term does not know the latest
// commit index: it commits an empty entry first.
func (n *Node) ReadIndex(ctx context.Context) error {
	term := n.raft.CurrentTerm()
	if n.raft.State() != raft.Leader {
		return ErrNotLeader
	}
	if n.fsm.term.Load() != term {
		if err := n.raft.Apply([]byte{kindNop}, n.cfg.ApplyTimeout).Error(); err != nil {
			return unavailable(err)
		}
	}
	ri := n.raft.CommitIndex()
	if err := n.raft.VerifyLeader().Error(); err != nil {
		return unavailable(err)
	}
	if n.raft.CurrentTerm() != term {
		return fmt.Errorf("%w (the term changed)", ErrUnavailable)
	}
	ctx, cancel := context.WithTimeout(ctx, n.cfg.MinIndexWait)
	defer cancel()
	return n.WaitApplied(ctx, ri)
}

// WaitApplied waits until the node has applied the entry at index, or ctx
// ends (then ErrUnavailable).
func (n *Node) WaitApplied(ctx context.Context, index uint64) error {
	for {
		ch := n.fsm.waitCh()
		if n.fsm.applied.Load() >= index {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("%w: index %d not applied yet (at %d)", ErrUnavailable, index, n.fsm.applied.Load())
		case <-n.stop:
			return ErrUnavailable
		}
	}
}

// Applied returns the index of the last log entry this node applied.
func (n *Node) Applied() uint64 { return n.fsm.applied.Load() }

// Index returns the index the node applies the log to, and a release
// function to call when done with it: a snapshot restored meanwhile swaps
// in a new index, and closes the old one once every holder released it.
func (n *Node) Index() (*tagseg.Index, func()) {
	g := n.fsm.ixs.acquire()
	return g.ix, g.release
}

// IsLeader reports whether this node is the leader.
func (n *Node) IsLeader() bool { return n.raft.State() == raft.Leader }

// Leader returns the leader's ID and HTTP address, or "" when there is
// none (an election) or its address is not known yet.
func (n *Node) Leader() (id, httpAddr string) {
	_, lid := n.raft.LeaderWithID()
	return string(lid), n.fsm.httpAddr(string(lid))
}

// Member is one member of the cluster as GET /v1/cluster shows it.
type Member struct {
	ID       string `json:"id"`
	HTTPAddr string `json:"http_addr"`
	RaftAddr string `json:"raft_addr"`
	Voter    bool   `json:"voter"`
}

// Status is the cluster as this node sees it (GET /v1/cluster).
type Status struct {
	NodeID       string   `json:"node_id"`
	LeaderID     string   `json:"leader_id"`
	AppliedIndex uint64   `json:"applied_index"`
	Nodes        []Member `json:"nodes"`
}

// Status returns the cluster as this node sees it.
func (n *Node) Status() (Status, error) {
	lid, _ := n.Leader()
	st := Status{NodeID: n.cfg.ID, LeaderID: lid, AppliedIndex: n.Applied(), Nodes: []Member{}}
	cf := n.raft.GetConfiguration()
	if err := cf.Error(); err != nil {
		return st, unavailable(err)
	}
	for _, s := range cf.Configuration().Servers {
		st.Nodes = append(st.Nodes, Member{ID: string(s.ID), HTTPAddr: n.fsm.httpAddr(string(s.ID)), RaftAddr: string(s.Address), Voter: s.Suffrage == raft.Voter})
	}
	return st, nil
}

// Shutdown stops the node: a leader first hands leadership to another
// voter (so that the cluster does not wait for an election timeout), then
// Raft stops and the index closes once its holders released it.
func (n *Node) Shutdown() error {
	n.shutOnce.Do(func() {
		close(n.stop)
		if n.raft.State() == raft.Leader && n.voters() > 1 {
			if err := n.raft.LeadershipTransfer().Error(); err != nil {
				n.log.Warn("leadership transfer", "error", err)
			} else {
				n.log.Info("handed leadership over")
			}
		}
		n.wg.Wait()
		if err := n.raft.Shutdown().Error(); err != nil {
			n.shutErr = err
		}
		n.closeParts()
	})
	return n.shutErr
}

// closeParts closes the transport, the Raft store and the index.
func (n *Node) closeParts() {
	if c, ok := n.trans.(io.Closer); ok && c != nil {
		c.Close()
	}
	if n.store != nil {
		if err := n.store.Close(); err != nil && n.shutErr == nil {
			n.shutErr = err
		}
	}
	if n.fsm != nil {
		if err := n.fsm.ixs.close(); err != nil && n.shutErr == nil {
			n.shutErr = err
		}
	}
}

func (n *Node) voters() int {
	cf := n.raft.GetConfiguration()
	if cf.Error() != nil {
		return 0
	}
	v := 0
	for _, s := range cf.Configuration().Servers {
		if s.Suffrage == raft.Voter {
			v++
		}
	}
	return v
}
