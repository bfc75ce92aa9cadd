package main

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/tagseg/tagseg"
)

// crashOp is one write a writer of TestServeCrashUnderLoad sends.
type crashOp struct {
	kind  string // "uuid" (tag by UUID), "email" (tag by email), "mrr"
	uuid  string // the customer written (its email is crashEmail(uuid))
	tag   string
	at    time.Time
	cents int64
}

// crashState is what the test knows of one customer: its tags in order and
// its MRR history.
type crashState struct {
	Tags    []string
	History []tagseg.MRRChange
}

func (s *crashState) apply(op crashOp) {
	switch op.kind {
	case "uuid", "email":
		s.Tags = append(s.Tags, op.tag)
	case "mrr":
		s.History = append(s.History, tagseg.MRRChange{At: op.at, Cents: op.cents})
	}
}

func crashEmail(uuid string) string { return uuid + "@crash.test" }

// TestServeCrashUnderLoad runs tagseg serve as a process on a small index,
// with writers (tags by UUID and by email, MRR changes) and readers on the
// API, SIGKILLs it mid-load and reopens the file: every write answered 2xx
// is there, nothing else is but at most the one write each writer had in
// flight, and the file passes Check. $TAGSEG_CRASH_SEED replays a run (the
// seed sets the customers' order of writes and when the kill comes);
// $TAGSEG_CRASH_SCALE=K (1 to 10) makes it bigger: K times the writers,
// customers and writes before the kill (CI runs K=1, about a second).
func TestServeCrashUnderLoad(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("TAGSEG_CRASH_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("TAGSEG_CRASH_SEED: %v", err)
		}
		seed = v
	}
	scale := 1
	if s := os.Getenv("TAGSEG_CRASH_SCALE"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 || v > 10 {
			t.Fatalf("TAGSEG_CRASH_SCALE=%q: want 1 to 10", s)
		}
		scale = v
	}
	t.Logf("seed %d (TAGSEG_CRASH_SEED=%d replays it), scale %d", seed, seed, scale)
	rng := rand.New(rand.NewPCG(seed, 14))

	var (
		writers     = 4 * scale // with the readers, under serve's 64 requests in flight
		readers     = 2 * scale
		perWriter   = 6 * scale   // customers each writer owns
		maxOps      = 400 * scale // writes a writer sends at most
		killAfter   = int64(60 * scale * scale)
		maxReads    = 2000 * scale
		loadTimeout = 20 * time.Second * time.Duration(scale)
	)
	bin := tagsegBinary(t)
	db := filepath.Join(t.TempDir(), "crash.db")

	// The index: writers*perWriter customers, each tagged "seed", and a
	// few more that nobody writes.
	want := map[string]*crashState{}
	ix, err := tagseg.Open(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = ix.Load(func(yield func(tagseg.Customer, []tagseg.MRRChange) bool) {
		for i := range writers*perWriter + 10 {
			u := fmt.Sprintf("cus_%03d", i)
			want[u] = &crashState{Tags: []string{"seed"}}
			c := tagseg.Customer{UUID: u, DataSourceUUID: "ds", ExternalID: u, Email: crashEmail(u), Country: "US", Tags: []string{"seed"}}
			if !yield(c, nil) {
				return
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(bin, "serve", "-db", db, "-addr", "127.0.0.1:0")
	var errb syncBuffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	defer func() {
		if !killed {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	var base string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if n, ok := readServeNote(db); ok {
			base = n.URL
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tagseg serve did not start: %s", errb.String())
		}
	}
	if !strings.HasPrefix(base, "http://127.0.0.1:") {
		t.Fatalf("serve listens on %s, want loopback", base)
	}

	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: writers + readers}}
	defer client.CloseIdleConnections()
	// send does one request; status 0 is a transport error (the server
	// is gone, or going).
	send := func(method, path, body string) (int, string) {
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req, err := http.NewRequest(method, base+path, rd)
		if err != nil {
			return 0, err.Error()
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return 0, err.Error()
		}
		return resp.StatusCode, string(b)
	}

	// Each writer owns its customers, so that its writes to them are in
	// order and at most one of them is in flight when the kill comes.
	type writerLog struct {
		acked    []crashOp
		inFlight *crashOp // sent, no answer: may or may not have landed
	}
	logs := make([]writerLog, writers)
	plans := make([][]crashOp, writers)
	for w := range writers {
		for i := range maxOps {
			u := fmt.Sprintf("cus_%03d", w*perWriter+rng.IntN(perWriter))
			op := crashOp{uuid: u}
			switch rng.IntN(3) {
			case 0:
				op.kind, op.tag = "uuid", fmt.Sprintf("w%d-u%d", w, i)
			case 1:
				op.kind, op.tag = "email", fmt.Sprintf("w%d-e%d", w, i)
			default:
				op.kind, op.at, op.cents = "mrr", time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i), int64(100*(i+1))
			}
			plans[w] = append(plans[w], op)
		}
	}
	var acked, reads atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			lg := &logs[w]
			for _, op := range plans[w] {
				if stop.Load() {
					return
				}
				var status int
				var body string
				lg.inFlight = &op
				switch op.kind {
				case "uuid":
					status, body = send("POST", "/v1/customers/"+op.uuid+"/attributes/tags", fmt.Sprintf(`{"tags":[%q]}`, op.tag))
				case "email":
					// In another case: the API matches emails in any case.
					status, body = send("POST", "/v1/customers/attributes/tags", fmt.Sprintf(`{"email":%q,"tags":[%q]}`, strings.ToUpper(crashEmail(op.uuid)), op.tag))
				case "mrr":
					status, body = send("POST", "/v1/customers/"+op.uuid+"/mrr", fmt.Sprintf(`{"mrr":%d,"date":%q}`, op.cents, op.at.Format(time.DateOnly)))
				}
				switch {
				case status == 0:
					return // the server is gone: op stays in flight
				case status/100 != 2:
					lg.inFlight = nil
					t.Errorf("writer %d: %s %s: %d %s", w, op.kind, op.uuid, status, body)
					return
				}
				lg.inFlight = nil
				lg.acked = append(lg.acked, op)
				acked.Add(1)
			}
		})
	}
	for r := range readers {
		wg.Go(func() {
			paths := []string{
				"/v1/customers/{c}",
				"/v1/customers?per_page=10",
				"/v1/segments/metrics?query=tag%3Aseed+AND+mrr+%3E%3D+100",
				"/v1/segments/tags?limit=10",
				"/v1/segments/series?start-date=2024-01-01&end-date=2024-12-31&interval=month",
				"/v1/customers/search?email={c}%40crash.test",
			}
			for i := range maxReads {
				if stop.Load() {
					return
				}
				p := paths[(i+r)%len(paths)]
				p = strings.ReplaceAll(p, "{c}", fmt.Sprintf("cus_%03d", i%(writers*perWriter)))
				status, body := send("GET", p, "")
				if status == 0 {
					return
				}
				if status != http.StatusOK {
					t.Errorf("reader %d: GET %s: %d %s", r, p, status, body)
					return
				}
				reads.Add(1)
			}
		})
	}

	// The kill: once enough writes were acknowledged, after a random
	// delay, mid-load.
	deadline := time.Now().Add(loadTimeout)
	for acked.Load() < killAfter && time.Now().Before(deadline) && !t.Failed() {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(time.Duration(rng.IntN(30)) * time.Millisecond)
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killed = true
	cmd.Wait()
	stop.Store(true)
	wg.Wait()
	t.Logf("killed after %d acknowledged writes and %d reads", acked.Load(), reads.Load())
	if acked.Load() == 0 {
		t.Fatalf("no write was acknowledged before the kill: %s", errb.String())
	}

	// Reopen the file as the crash left it.
	ix, err = tagseg.Open(db, nil)
	if err != nil {
		t.Fatalf("reopen after SIGKILL: %v", err)
	}
	defer ix.Close()
	if err := ix.Check(); err != nil {
		t.Fatalf("Check after SIGKILL: %v", err)
	}
	got := map[string]*crashState{}
	for u := range want {
		c, err := ix.Customer(u)
		if err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		h, err := ix.MRRHistory(u)
		if err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		got[u] = &crashState{Tags: c.Tags, History: h}
	}
	for w := range logs {
		for _, op := range logs[w].acked {
			want[op.uuid].apply(op)
		}
		// The write in flight at the kill may have landed: it is then the
		// last thing on its customer.
		if op := logs[w].inFlight; op != nil {
			s := *want[op.uuid]
			s.Tags = slices.Clone(s.Tags)
			s.History = slices.Clone(s.History)
			s.apply(*op)
			if cmp.Equal(&s, got[op.uuid], cmpopts.EquateEmpty()) {
				t.Logf("writer %d: the write in flight at the kill landed (%s %s)", w, op.kind, op.uuid)
				want[op.uuid] = &s
			}
		}
	}
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("after SIGKILL, the file differs from the acknowledged writes (-want +got):\n%s", diff)
	}
}
