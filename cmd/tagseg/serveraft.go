package main

// tagseg serve -raft-addr: the API replicated on Raft (package cluster).

import (
	"context"
	"encoding/json"

	"flag"
	"fmt"
	"io"
	"net"
	"net/http"

	"github.com/hashicorp/go-hclog"
	"github.com/tagseg/tagseg"
	"github.com/tagseg/tagseg/cmd/tagseg/cluster"
	"github.com/tagseg/tagseg/server"
)

// raftFlags are serve's flags of a cluster node.
type raftFlags struct {
	nodeID, raftAddr, raftDir, join *string
	advertise                       *string
	tlsCert, tlsKey, tlsCA          *string
	snapshotEntries, trailing       *uint64
}

func addRaftFlags(fs *flag.FlagSet) raftFlags {
	return raftFlags{
		nodeID:          fs.String("node-id", "", "this node's `ID` in the cluster, fixed for its life (with -raft-addr)"),
		raftAddr:        fs.String("raft-addr", "", "replicate on Raft: listen for the other nodes at this host:port, and tell them this `address` (off loopback: -raft-tls-* or -insecure)"),
		raftDir:         fs.String("raft-dir", "", "Raft's log, stable store and snapshots (`dir`; default: the index's path + .raft)"),
		advertise:       fs.String("advertise-addr", "", "the `host:port` at which the other nodes reach this node's API (default: -addr; needed when -addr listens on every interface)"),
		join:            fs.String("join", "", "join the cluster through a member's HTTP `URL` (http://host:port) when this node has no Raft state yet; ignored on a restart"),
		tlsCert:         fs.String("raft-tls-cert", "", "this node's certificate (PEM `file`) for mutual TLS between nodes"),
		tlsKey:          fs.String("raft-tls-key", "", "its private key (PEM `file`)"),
		tlsCA:           fs.String("raft-tls-ca", "", "the CA (PEM `file`) that signs every node's certificate"),
		snapshotEntries: fs.Uint64("raft-snapshot-entries", 16384, "log `entries` between snapshots (each is a copy of the whole index)"),
		trailing:        fs.Uint64("raft-trailing-logs", 20480, "log `entries` a snapshot leaves, for a node that lags to catch up from"),
	}
}

// set reports whether serve runs as a cluster node.
func (f raftFlags) set() bool { return *f.raftAddr != "" }

// check refuses inconsistent cluster flags.
func (f raftFlags) check() error {
	if !f.set() {
		for name, v := range map[string]string{"-node-id": *f.nodeID, "-join": *f.join, "-raft-dir": *f.raftDir, "-raft-tls-cert": *f.tlsCert, "-advertise-addr": *f.advertise} {
			if v != "" {
				return usagef("%s needs -raft-addr", name)
			}
		}
		return nil
	}
	if *f.nodeID == "" {
		return usagef("-raft-addr needs -node-id")
	}
	n := 0
	for _, v := range []string{*f.tlsCert, *f.tlsKey, *f.tlsCA} {
		if v != "" {
			n++
		}
	}
	if n != 0 && n != 3 {
		return usagef("-raft-tls-cert, -raft-tls-key and -raft-tls-ca go together")
	}
	return nil
}

// startNode starts the cluster node of serve; httpAddr is where its API
// listens.
func (f raftFlags) startNode(ctx context.Context, db string, ixOpts *tagseg.Options, httpAddr, apiKey string, insecure bool, stderr io.Writer) (*cluster.Node, error) {
	if *f.advertise != "" {
		httpAddr = *f.advertise
	} else if host, _, err := net.SplitHostPort(httpAddr); err != nil || net.ParseIP(host).IsUnspecified() {
		return nil, usagef("-addr listens on every interface (%s): give -advertise-addr HOST:PORT, where the other nodes reach this node's API", httpAddr)
	}
	cfg := cluster.Config{
		ID: *f.nodeID, RaftAddr: *f.raftAddr, HTTPAddr: httpAddr, Dir: *f.raftDir, Index: db, IndexOptions: ixOpts,
		Apply: applyCommand, Insecure: insecure, Join: *f.join, APIKey: apiKey,
		SnapshotThreshold: *f.snapshotEntries, TrailingLogs: *f.trailing,
		Logger: hclog.New(&hclog.LoggerOptions{Name: "tagseg serve: raft", Level: hclog.Info, Output: stderr}),
	}
	if *f.tlsCert != "" {
		tc, err := cluster.LoadTLS(*f.tlsCert, *f.tlsKey, *f.tlsCA)
		if err != nil {
			return nil, err
		}
		cfg.TLS = tc
	}
	return cluster.Start(ctx, cfg)
}

// applyCommand applies a log entry: a server.Command in JSON.
func applyCommand(tx *tagseg.Tx, b []byte) (any, error) {
	var c server.Command
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("a log entry that is not a command: %v: %w", err, tagseg.ErrInvalid)
	}
	return c.Apply(tx)
}

// raftExecutor runs the API's writes through the Raft log: the leader
// appends the command and answers once it applied it.
func raftExecutor(n *cluster.Node) server.Executor {
	return server.ExecutorFunc(func(ctx context.Context, cmd server.Command) (server.Result, error) {
		b, err := json.Marshal(cmd)
		if err != nil {
			return server.Result{}, err
		}
		res, err := n.Apply(ctx, b)
		if err != nil {
			return server.Result{}, fmt.Errorf("%w: %w", server.ErrUnavailable, err)
		}
		v, _ := res.Value.(server.Result)
		return v, res.Err
	})
}

// raftHandler is the API of a cluster node.
func raftHandler(n *cluster.Node, opts server.Options) http.Handler {
	return n.Handler(func(ix *tagseg.Index) http.Handler {
		o := opts
		o.Executor = raftExecutor(n)
		return server.New(ix, o)
	})
}
