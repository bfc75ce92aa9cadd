package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	fs2 "io/fs"
	"log"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/tagseg/tagseg"
	"github.com/tagseg/tagseg/cmd/tagseg/cluster"
	"github.com/tagseg/tagseg/server"
)

const serveUsage = `-db PATH [-create] [-addr 127.0.0.1:8080] [-api-key KEY] [-insecure] [-max-body 1048576] [-max-heavy N] [-log text|json|off] [-trusted-origin URL]... [-node-id ID -raft-addr HOST:PORT [-raft-dir DIR] [-join URL] [-advertise-addr HOST:PORT] [-raft-tls-cert FILE -raft-tls-key FILE -raft-tls-ca FILE]]

Serves ChartMogul's customer and tag endpoints, and tagseg's segment
endpoints, over the index (see README.md), Prometheus metrics at
/metrics, and a browser page at / (its files under /ui/, which need no
key: the page asks for it). With -api-key (or $TAGSEG_API_KEY) every API
request must carry it as the user name of HTTP Basic auth, as
ChartMogul's API keys are sent; without one, an -addr that is not a
loopback address is refused unless -insecure is given; and a server
without a key answers only requests for localhost, 127.0.0.1 or [::1]
(the Host header; also the hosts of -trusted-origin), refusing others
(403) so that a web page whose name resolves to this machine cannot use
it. POST, PUT and DELETE requests that a browser sends from another
origin are refused (403) unless it is a -trusted-origin (repeat it for
several). A line per request goes to stderr (-log). SIGINT or SIGTERM
stop the server gracefully: requests in flight are finished, then the
index is closed.

With -node-id and -raft-addr the index is replicated on Raft: a node with
no Raft state (-raft-dir) bootstraps a cluster of one, or with -join URL
asks a member to add it; restarted, it rejoins with its own state. Writes
sent to any node go through the leader; GET /v1/cluster shows the
cluster; every answer carries X-Tagseg-Index, and a read with
X-Tagseg-Min-Index: N waits for entry N (see README.md, "Running a
cluster"). A -raft-addr off loopback needs -raft-tls-cert, -raft-tls-key
and -raft-tls-ca (mutual TLS), or -insecure.`

// signalContext returns the context that stops tagseg serve; tests replace it.
var signalContext = func() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

func runServe(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", serveUsage, stderr)
	db := dbFlag(fs)
	addr := fs.String("addr", "127.0.0.1:8080", "listen `address`")
	apiKey := fs.String("api-key", os.Getenv("TAGSEG_API_KEY"), "require this API `key` (default $TAGSEG_API_KEY; empty: no auth)")
	maxBody := fs.Int64("max-body", server.DefaultMaxBody, "largest request body in `bytes` (larger: 413)")
	maxInFlight := fs.Int("max-in-flight", server.DefaultMaxInFlight, "requests served at once; more are answered 503 with Retry-After (`n` < 0: no cap)")
	maxHeavy := fs.Int("max-heavy", 0, "tag rankings and series computed at once, so that they never take every core (0: half of GOMAXPROCS, at least 1; `n` < 0: no cap); more wait their turn")
	maxTags := fs.Int("max-tags", server.DefaultMaxTags, "tags one request may carry; more: 400 (`n` < 0: no cap)")
	maxCustomers := fs.Int("max-customers", server.DefaultMaxCustomers, "customers one bulk tagging request (/v1/segments/tags) may change; more: 400 (`n` < 0: no cap)")
	confirmAbove := fs.Int("confirm-above", server.DefaultConfirmAbove, "customers a bulk tagging request may change without \"confirm\" (`n` < 0: never asked)")
	insecure := fs.Bool("insecure", false, "serve a non-loopback -addr without -api-key (anyone who reaches it may read and write), and send Raft traffic off loopback without -raft-tls-*")
	logFormat := fs.String("log", "text", "access log on stderr: text, json or off (`format`)")
	cacheMB := fs.Int64("cache-mb", 512, "memory for the answers kept across commits (segment metrics, series, tag rankings: about 10 MB a segment at 10M customers) in `MiB`; 0: the library's default (128), < 0: keep none")
	warm := fs.Bool("warm", true, "before listening, build what the first tag stats and email search would (seconds at 10M customers), so that they do not stall the first requests")
	var trusted []string
	fs.Func("trusted-origin", "let a browser page served at this `URL` (scheme://host[:port]) send state-changing requests; repeatable (others from another origin: 403)", func(v string) error {
		if err := http.NewCrossOriginProtection().AddTrustedOrigin(v); err != nil {
			return err
		}
		trusted = append(trusted, v)
		return nil
	})
	create := fs.Bool("create", false, "create the index file when it does not exist (default: refuse, as the other commands do)")
	rf := addRaftFlags(fs)
	if err := parseFlagsOnly(fs, args, db, ""); err != nil {
		return err
	}
	if err := rf.check(); err != nil {
		return err
	}
	if _, err := os.Stat(*db); errors.Is(err, fs2.ErrNotExist) && !*create {
		return fmt.Errorf("%s: no such index (give -create to start an empty one, or tagseg import to load one)", *db)
	}
	if *cacheMB > math.MaxInt64>>20 {
		return usagef("-cache-mb %d: want at most %d", *cacheMB, int64(math.MaxInt64>>20))
	}
	if *maxBody < 1 {
		return usagef("-max-body %d: want at least 1", *maxBody)
	}
	access, err := accessLogger(*logFormat, stderr)
	if err != nil {
		return err
	}
	if *apiKey == "" && !*insecure && !isLoopback(*addr) {
		return usagef("-addr %s is not a loopback address and there is no -api-key: give a key (or $TAGSEG_API_KEY), or -insecure to serve anyone who can reach it", *addr)
	}
	ctx, stop := signalContext()
	defer stop()

	logger := log.New(stderr, "tagseg serve: ", log.LstdFlags)
	opts := server.Options{
		APIKey: *apiKey, MaxBody: *maxBody, MaxInFlight: *maxInFlight, Log: logger, Access: access,
		MaxTags: *maxTags, MaxHeavy: *maxHeavy, MaxCustomers: *maxCustomers, ConfirmAbove: *confirmAbove,
		TrustedOrigins: trusted,
		// Without a key, only loopback Host names are answered (DNS
		// rebinding), unless -insecure opened another address.
		AllowAnyHost: *insecure && !isLoopback(*addr),
	}
	ixOpts := &tagseg.Options{CacheBytes: *cacheMB << 20}
	var ix *tagseg.Index
	var node *cluster.Node
	var handler http.Handler
	var ln net.Listener
	if rf.set() {
		// The API listens first: the other nodes are told its address.
		if ln, err = net.Listen("tcp", *addr); err != nil {
			return err
		}
		defer ln.Close()
		node, err = rf.startNode(ctx, *db, ixOpts, ln.Addr().String(), *apiKey, *insecure, stderr)
		if err != nil {
			return openError(*db, err)
		}
		defer node.Shutdown()
		handler = raftHandler(node, opts)
		if *warm {
			nix, release := node.Index()
			err := warmUp(nix, stderr)
			release()
			if err != nil {
				return err
			}
		}
	} else {
		if ix, err = tagseg.Open(*db, ixOpts); err != nil {
			return openError(*db, err)
		}
		defer ix.Close()
		handler = server.New(ix, opts)
		if *warm {
			if err := warmUp(ix, stderr); err != nil {
				return err
			}
		}
		if ln, err = net.Listen("tcp", *addr); err != nil {
			return err
		}
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		WriteTimeout:      5 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          logger,
	}
	fmt.Fprintf(stderr, "tagseg serve: %s on http://%s\n", *db, ln.Addr())
	if removeNote, err := writeServeNote(*db, noteURL(ln.Addr())); err != nil {
		fmt.Fprintf(stderr, "tagseg serve: cannot write %s (other commands will not find this server): %v\n", serveNotePath(*db), err)
	} else {
		defer removeNote()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	fmt.Fprintln(stderr, "tagseg serve: shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	if node != nil {
		// A leader hands leadership over first; the index closes last.
		if err := node.Shutdown(); err != nil {
			return err
		}
	} else if err := ix.Close(); err != nil {
		return err
	}
	fmt.Fprintln(stderr, "tagseg serve: stopped")
	return nil
}

// isLoopback reports whether addr (host:port) listens on a loopback
// address only: localhost, 127.0.0.0/8, ::1, or a name resolving to
// those alone. An empty host (every interface) is not.
var isLoopback = cluster.IsLoopback

// warmUp builds, before the server listens, what the index builds on
// first use: the forward index of the first TagStats, the email table of
// the first search by email, and the sorted tag names and their counts of
// tag completion. At 10M customers they take seconds, which would
// otherwise stall the first such requests and the ones queued behind them.
func warmUp(ix *tagseg.Index, stderr io.Writer) error {
	start := time.Now()
	if _, err := ix.TagStats(tagseg.All(), tagseg.TagStatsOptions{Limit: 1}); err != nil {
		return fmt.Errorf("warming up: %w", err)
	}
	if _, err := ix.CustomersByEmail("warm-up@example.com"); err != nil && !errors.Is(err, tagseg.ErrNotFound) {
		return fmt.Errorf("warming up: %w", err)
	}
	for range ix.Tags() {
	}
	fmt.Fprintf(stderr, "tagseg serve: warmed up in %v (tag stats, email search, tag completion)\n", time.Since(start).Round(time.Millisecond))
	return nil
}

// accessLogger returns the access logger of serve's -log flag, writing to
// w: "text" or "json" (slog's handlers), or nil for "off".
func accessLogger(format string, w io.Writer) (*slog.Logger, error) {
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, nil)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, nil)), nil
	case "off":
		return nil, nil
	}
	return nil, usagef("-log %q: want text, json or off", format)
}
