package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	fs2 "io/fs"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/tagseg/tagseg"
)

const serveUsage = `-db PATH [-create] [-addr 127.0.0.1:8080] [-api-key KEY] [-max-body 1048576]

Serves ChartMogul's customer and tag endpoints, and tagseg's segment
endpoints, over the index (see README.md). With -api-key (or
$TAGSEG_API_KEY) every request must carry it as the user name of HTTP Basic
auth, as ChartMogul's API keys are sent. SIGINT or SIGTERM stop the server
gracefully: requests in flight are finished, then the index is closed.`

// signalContext returns the context that stops tagseg serve; tests replace it.
var signalContext = func() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

func runServe(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", serveUsage, stderr)
	db := dbFlag(fs)
	addr := fs.String("addr", "127.0.0.1:8080", "listen `address`")
	apiKey := fs.String("api-key", os.Getenv("TAGSEG_API_KEY"), "require this API `key` (default $TAGSEG_API_KEY; empty: no auth)")
	maxBody := fs.Int64("max-body", defaultMaxBody, "largest request body in `bytes` (larger: 413)")
	maxInFlight := fs.Int("max-in-flight", defaultMaxInFlight, "requests served at once; more are answered 503 with Retry-After (`n` < 0: no cap)")
	create := fs.Bool("create", false, "create the index file when it does not exist (default: refuse, as the other commands do)")
	if err := parseFlagsOnly(fs, args, db, ""); err != nil {
		return err
	}
	if _, err := os.Stat(*db); errors.Is(err, fs2.ErrNotExist) && !*create {
		return fmt.Errorf("%s: no such index (give -create to start an empty one, or tagseg import to load one)", *db)
	}
	if *maxBody < 1 {
		return usagef("-max-body %d: want at least 1", *maxBody)
	}
	ctx, stop := signalContext()
	defer stop()

	ix, err := tagseg.Open(*db, nil)
	if err != nil {
		return openError(*db, err)
	}
	defer ix.Close()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	logger := log.New(stderr, "tagseg serve: ", log.LstdFlags)
	srv := &http.Server{
		Handler:           newServer(ix, serverOptions{APIKey: *apiKey, MaxBody: *maxBody, MaxInFlight: *maxInFlight, Log: logger}),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		WriteTimeout:      5 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          logger,
	}
	fmt.Fprintf(stderr, "tagseg serve: %s on http://%s\n", *db, ln.Addr())
	if removeNote, err := writeServeNote(*db, "http://"+ln.Addr().String()); err != nil {
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
	if err := ix.Close(); err != nil {
		return err
	}
	fmt.Fprintln(stderr, "tagseg serve: stopped")
	return nil
}
