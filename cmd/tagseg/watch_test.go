package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tagseg/tagseg"
)

// watchLines decodes watch's output.
func watchLines(t *testing.T, out string) []changeJSON {
	t.Helper()
	var cs []changeJSON
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" {
			continue
		}
		var c changeJSON
		if err := json.Unmarshal([]byte(l), &c); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		if _, err := time.Parse(time.RFC3339, c.At); err != nil || c.Cursor == "" || c.Entered == nil || c.Left == nil {
			t.Errorf("line %q: bad change", l)
		}
		c.At, c.Cursor = "", ""
		cs = append(cs, c)
	}
	return cs
}

func TestWatchCommand(t *testing.T) {
	s := importFixture(t)
	s.run(0, "segments", "-db", "$DB", "save", "risk", "tag:churn-risk-high")
	s.run(0, "tag", "-db", "$DB", "-uuid", "cus_0002", "churn-risk-high")
	s.run(0, "untag", "-db", "$DB", "-uuid", "cus_0001", "churn-risk-high")
	code, out, stderr := cli(t, "watch", "-db", s.db, "-segment", "risk", "-follow=false")
	if code != 0 {
		t.Fatalf("watch: %d %s", code, stderr)
	}
	want := []changeJSON{
		{Entered: []string{"cus_0001"}, Left: []string{}},
		{Entered: []string{"cus_0002"}, Left: []string{}},
		{Entered: []string{}, Left: []string{"cus_0001"}},
	}
	if d := cmp.Diff(want, watchLines(t, out)); d != "" {
		t.Errorf("watch (-want +got):\n%s", d)
	}
	// -after: from a change's cursor on.
	var first changeJSON
	json.Unmarshal([]byte(strings.SplitN(out, "\n", 2)[0]), &first)
	_, out, _ = cli(t, "watch", "-db", s.db, "-segment", "risk", "-follow=false", "-after", first.Cursor)
	if d := cmp.Diff(want[1:], watchLines(t, out)); d != "" {
		t.Errorf("watch -after (-want +got):\n%s", d)
	}
	for _, c := range []struct {
		code int
		msg  string
		args []string
	}{
		{1, "no saved segment", []string{"-segment", "nope"}},
		{1, "malformed cursor", []string{"-segment", "risk", "-after", "xyz"}},
		{2, "missing -segment", nil},
	} {
		code, _, stderr := cli(t, append([]string{"watch", "-db", s.db, "-follow=false"}, c.args...)...)
		if code != c.code || !strings.Contains(stderr, c.msg) {
			t.Errorf("watch %q: exit %d, %q; want %d and %q", c.args, code, stderr, c.code, c.msg)
		}
	}
}

// waitFor waits until out has n lines.
func waitFor(t *testing.T, out func() string, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); strings.Count(out(), "\n") < n; {
		if time.Now().After(deadline) {
			t.Fatalf("want %d lines, have: %q", n, out())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestWatchFollowsServer(t *testing.T) {
	s := importFixture(t)
	s.run(0, "segments", "-db", "$DB", "save", "risk", "tag:churn-risk-high")
	srv := serveInProcess(t, "-db", s.db, "-addr", "127.0.0.1:0")
	var out syncBuffer
	// -server: the note names this process, which remoteFor leaves alone.
	stop := followInto(t, &out, "-db", s.db, "-segment", "risk", "-server", srv.base)
	waitFor(t, out.String, 1) // the first change, through the server
	resp, err := http.Post(srv.base+"/v1/customers/cus_0002/attributes/tags", "application/json", strings.NewReader(`{"tags": ["churn-risk-high"]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	waitFor(t, out.String, 2) // printed as it commits
	stop()
	want := []changeJSON{{Entered: []string{"cus_0001"}, Left: []string{}}, {Entered: []string{"cus_0002"}, Left: []string{}}}
	if d := cmp.Diff(want, watchLines(t, out.String())); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}

func TestWatchFollowsFile(t *testing.T) {
	s := importFixture(t)
	s.run(0, "segments", "-db", "$DB", "save", "risk", "tag:churn-risk-high")
	var out syncBuffer
	stop := followInto(t, &out, "-db", s.db, "-segment", "risk", "-every", "10ms")
	waitFor(t, out.String, 1)
	// Another writer opens the file between the polls.
	for {
		ix, err := tagseg.Open(s.db, &tagseg.Options{Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		_, err = ix.AddTags("cus_0002", "churn-risk-high")
		ix.Close()
		if err == nil {
			break
		}
	}
	waitFor(t, out.String, 2)
	stop()
}

// followInto is follow writing into out.
func followInto(t *testing.T, out *syncBuffer, args ...string) func() {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	old := watchContext
	watchContext = func() (context.Context, context.CancelFunc) { return ctx, cancel }
	var errb bytes.Buffer
	done := make(chan int, 1)
	go func() { done <- run(append([]string{"watch"}, args...), out, &errb) }()
	return func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("watch exited %d: %s", code, errb.String())
			}
		case <-time.After(10 * time.Second):
			t.Fatal("watch did not stop")
		}
		watchContext = old
	}
}
