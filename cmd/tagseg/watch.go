package main

// tagseg watch: a saved segment's changes (who entered, who left, commit
// by commit) as JSON lines, following new ones until interrupted.
//
// Through the server that holds the index when there is one (-server, or
// the serve note): GET /v1/segments/saved/{name}/changes, each request
// waiting up to a minute for the next change, so a change is printed as
// it commits. Otherwise from the file (tagseg.ReadChanges, which loads
// nothing and holds the file only while it reads), polled every -every,
// so that other commands can still write to it in between.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/tagseg/tagseg"
)

const watchUsage = "-db PATH -segment NAME [-after CURSOR] [-follow=false] [-every 1s] [-server URL [-send-key]]"

// watchContext returns the context that stops tagseg watch; tests replace it.
var watchContext = func() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// changeJSON is one change as watch prints it: the API's shape.
type changeJSON struct {
	Cursor  string   `json:"cursor"`
	At      string   `json:"at"`
	Entered []string `json:"entered"`
	Left    []string `json:"left"`
}

// changesJSON is the API's answer.
type changesJSON struct {
	Changes []changeJSON `json:"changes"`
	Cursor  string       `json:"cursor"`
	HasMore bool         `json:"has_more"`
}

func runWatch(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("watch", watchUsage, stderr)
	db := dbFlag(fs)
	segment := fs.String("segment", "", "the saved segment to watch (required)")
	after := fs.String("after", "", "print the changes after this `cursor` (a change's \"cursor\"; default: from the oldest kept)")
	follow := fs.Bool("follow", true, "keep following new changes until interrupted; false: print those there are and stop")
	every := fs.Duration("every", time.Second, "without a server, how often to look at the file for new changes")
	server := serverFlag(fs)
	if err := parseFlagsOnly(fs, args, db, ""); err != nil {
		return err
	}
	if *segment == "" {
		return usagef("missing -segment NAME")
	}
	if *every <= 0 {
		return usagef("-every must be positive")
	}
	ctx, stop := watchContext()
	defer stop()
	w := &watcher{stdout: json.NewEncoder(stdout), cursor: *after}
	w.stdout.SetEscapeHTML(false)
	if rm := remoteFor(*db, server, stderr); rm != nil {
		return w.remote(ctx, rm, *segment, *follow, stderr)
	}
	if _, err := os.Stat(*db); err != nil {
		return fmt.Errorf("%s: no such index (tagseg import creates one)", *db)
	}
	return w.local(ctx, *db, *segment, *follow, *every, stderr)
}

// watcher prints changes and keeps the cursor of the last printed.
type watcher struct {
	stdout *json.Encoder
	cursor string
}

func (w *watcher) print(c changeJSON) error {
	if c.Entered == nil {
		c.Entered = []string{}
	}
	if c.Left == nil {
		c.Left = []string{}
	}
	if err := w.stdout.Encode(c); err != nil {
		return err
	}
	w.cursor = c.Cursor
	return nil
}

// local follows the file; when a server takes it, through the server.
func (w *watcher) local(ctx context.Context, db, segment string, follow bool, every time.Duration, stderr io.Writer) error {
	for {
		p, err := tagseg.ReadChanges(db, segment, tagseg.ChangesOptions{After: w.cursor, Limit: 1000})
		if errors.Is(err, tagseg.ErrLocked) && follow {
			if rm := remoteFor(db, &serverFlags{}, stderr); rm != nil {
				return w.remote(ctx, rm, segment, follow, stderr)
			}
			err = nil // a write under way: look again later
			p = &tagseg.ChangePage{Cursor: w.cursor}
		}
		if err != nil {
			return watchError(db, segment, err)
		}
		for _, c := range p.Changes {
			if err := w.print(changeJSON{c.Cursor, c.At.Format(time.RFC3339Nano), c.Entered, c.Left}); err != nil {
				return err
			}
		}
		w.cursor = p.Cursor
		if p.HasMore {
			continue
		}
		if !follow {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(every):
		}
	}
}

// remote follows through a server: each request waits up to a minute for
// the next change. A server that goes away (a restart) is tried again
// every few seconds; its refusals (an unknown segment, a cursor it does
// not take) end the command.
func (w *watcher) remote(ctx context.Context, rm *remote, segment string, follow bool, stderr io.Writer) error {
	wait := "0"
	if follow {
		wait = "55" // under the server's minute, and a client's read timeout
	}
	retry := time.Second
	for {
		q := url.Values{"limit": {"1000"}, "wait": {wait}}
		if w.cursor != "" {
			q.Set("after", w.cursor)
		}
		p, status, err := getChanges(ctx, rm, segment, q)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil && (status == 0 || status >= 500) && follow:
			fmt.Fprintf(stderr, "tagseg watch: %v; trying again in %v\n", err, retry)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(retry):
			}
			retry = min(2*retry, 30*time.Second)
			continue
		case err != nil:
			return err
		}
		retry = time.Second
		for _, c := range p.Changes {
			if err := w.print(c); err != nil {
				return err
			}
		}
		w.cursor = p.Cursor
		if !p.HasMore && !follow {
			return nil
		}
	}
}

// getChanges asks the server for changes; status is the answer's (0 when
// none came).
func getChanges(ctx context.Context, rm *remote, segment string, q url.Values) (p changesJSON, status int, err error) {
	resp, err := rm.send(ctx, "GET", "/v1/segments/saved/"+url.PathEscape(segment)+"/changes", q, nil, "")
	if err != nil {
		var re *remoteError
		if errors.As(err, &re) {
			status = re.code
		}
		return p, status, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
		return p, resp.StatusCode, fmt.Errorf("server %s: changes: %v", rm.base, err)
	}
	return p, resp.StatusCode, nil
}

// watchError words an error of ReadChanges for the command line.
func watchError(db, segment string, err error) error {
	switch {
	case errors.Is(err, tagseg.ErrNotFound):
		return fmt.Errorf("%s: no saved segment %s (tagseg segments list)", db, strconv.Quote(segment))
	case errors.Is(err, tagseg.ErrExpired):
		return fmt.Errorf("%v: run again without -after to start from the oldest change kept", err)
	}
	return openError(db, err)
}
