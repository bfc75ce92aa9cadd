package tagseg

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The crash test runs a writer in a child process (this test binary again,
// with TAGSEG_CRASH_CHILD set, running TestCrashChild), kills it with
// SIGKILL at a random moment, reopens the file and checks it:
//
//   - every write the child acknowledged is there: the child announces each
//     write on a pipe ("B" + the write) before it starts it, and
//     acknowledges it ("A") after the durable call returned nil;
//   - the write in flight at the kill (announced, not acknowledged) is there
//     entirely or not at all: batches create customers tagged with the
//     batch's own tag and set their MRR, and tag one older customer, all in
//     one Update;
//   - nothing else is: the file must equal the model of the acknowledged
//     writes, or that model plus the write in flight, customer by customer
//     (tags in order, MRR, email, external ID), in Tags(), in a segment's
//     count and MRR, and Check must pass.
//
// The file carries over from round to round, so later rounds also recover
// files written by processes killed before. This proves durability against
// a process crash (what SIGKILL does); a machine crash, where the page
// cache is lost too, would need a fault-injecting disk and is not covered.

// crashOp is one write of the child, as announced on the pipe.
type crashOp struct {
	Kind  string   `json:"k"`           // batch, tag, untag, mrr, del
	Batch string   `json:"b,omitempty"` // batch: its tag
	UUIDs []string `json:"u"`           // batch: customers created; else the customer
	Cents []int64  `json:"c,omitempty"` // batch: MRR per customer created; mrr: the MRR
	At    int64    `json:"at,omitempty"`
	Tag   string   `json:"t,omitempty"`     // tag, untag; batch: the tag given to Touch
	Touch string   `json:"touch,omitempty"` // batch: an older customer it tags
}

// do performs the write on the index.
func (op *crashOp) do(ix *Index) error {
	at := time.Unix(0, op.At).UTC()
	switch op.Kind {
	case "batch":
		return ix.Update(func(tx *Tx) error {
			for i, u := range op.UUIDs {
				if _, err := tx.CreateCustomer(Customer{UUID: u, ExternalID: u, Email: op.Batch + "@crash.test", Tags: []string{op.Batch, "crash"}}); err != nil {
					return err
				}
				if err := tx.SetMRR(u, at, op.Cents[i]); err != nil {
					return err
				}
			}
			if op.Touch != "" {
				if _, err := tx.AddTags(op.Touch, op.Tag); err != nil {
					return err
				}
			}
			return nil
		})
	case "tag":
		_, err := ix.AddTags(op.UUIDs[0], op.Tag)
		return err
	case "untag":
		_, err := ix.RemoveTags(op.UUIDs[0], op.Tag)
		return err
	case "mrr":
		return ix.SetMRR(op.UUIDs[0], at, op.Cents[0])
	case "del":
		return ix.DeleteCustomer(op.UUIDs[0])
	}
	return fmt.Errorf("unknown op %q", op.Kind)
}

// crashCust is the model of one customer.
type crashCust struct {
	email, ext string
	tags       []string
	mrr        int64 // the latest event's: events only go forward in time here
}

type crashModel map[string]*crashCust

func (m crashModel) clone() crashModel {
	n := crashModel{}
	for u, c := range m {
		cc := *c
		cc.tags = slices.Clone(c.tags)
		n[u] = &cc
	}
	return n
}

// apply applies op to the model.
func (m crashModel) apply(op *crashOp) {
	addTag := func(u, t string) {
		if c := m[u]; c != nil && !slices.Contains(c.tags, t) {
			c.tags = append(c.tags, t)
		}
	}
	switch op.Kind {
	case "batch":
		for i, u := range op.UUIDs {
			m[u] = &crashCust{email: op.Batch + "@crash.test", ext: u, tags: []string{op.Batch, "crash"}, mrr: op.Cents[i]}
		}
		if op.Touch != "" {
			addTag(op.Touch, op.Tag)
		}
	case "tag":
		addTag(op.UUIDs[0], op.Tag)
	case "untag":
		if c := m[op.UUIDs[0]]; c != nil {
			c.tags = slices.DeleteFunc(c.tags, func(t string) bool { return t == op.Tag })
		}
	case "mrr":
		m[op.UUIDs[0]].mrr = op.Cents[0]
	case "del":
		delete(m, op.UUIDs[0])
	}
}

// diff describes how the index differs from the model, or "".
func (m crashModel) diff(ix *Index) string {
	seg, err := ix.Segment(All())
	if err != nil {
		return err.Error()
	}
	got := map[string]Customer{}
	for c := range seg.Customers() {
		got[c.UUID] = c
	}
	var out []string
	for _, u := range slices.Sorted(maps.Keys(m)) {
		w := m[u]
		c, ok := got[u]
		switch {
		case !ok:
			out = append(out, "missing "+u)
		case !slices.Equal(c.Tags, w.tags) || c.MRR != w.mrr || c.Email != w.email || c.ExternalID != w.ext:
			out = append(out, fmt.Sprintf("%s: tags %q MRR %d email %s ext %s; want tags %q MRR %d email %s ext %s",
				u, c.Tags, c.MRR, c.Email, c.ExternalID, w.tags, w.mrr, w.email, w.ext))
		}
	}
	for _, u := range slices.Sorted(maps.Keys(got)) {
		if m[u] == nil {
			out = append(out, "unexpected "+u)
		}
	}
	// The in-memory side, rebuilt on open: tag counts and a segment's sums.
	tags := map[string]uint64{}
	var n, mrr int64
	for _, c := range m {
		for _, t := range c.tags {
			tags[t]++
		}
		if slices.Contains(c.tags, "crash") {
			n, mrr = n+1, mrr+c.mrr
		}
	}
	if gt := maps.Collect(ix.Tags()); !maps.Equal(gt, tags) {
		out = append(out, fmt.Sprintf("Tags() = %v, want %v", gt, tags))
	}
	if s, err := ix.Segment(Tag("crash")); err != nil || int64(s.Count()) != n || s.MRR() != mrr {
		out = append(out, fmt.Sprintf("Segment(tag:crash) = %v customers, MRR %v, err %v; want %d, %d", s.Count(), s.MRR(), err, n, mrr))
	}
	if len(out) > 5 {
		out = append(out[:5], fmt.Sprintf("… and %d more", len(out)-5))
	}
	return strings.Join(out, "\n")
}

const crashEnv = "TAGSEG_CRASH_CHILD"

// TestCrashChild is the writer of TestCrashSafety, when run as its child.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashEnv)
	if path == "" {
		t.Skip("the child process of TestCrashSafety")
	}
	round, _ := strconv.Atoi(os.Getenv(crashEnv + "_ROUND"))
	seed, _ := strconv.ParseUint(os.Getenv(crashEnv+"_SEED"), 10, 64)
	pipe := os.NewFile(3, "crash-pipe")
	say := func(kind string, v any) {
		b, _ := json.Marshal(v)
		// One write per line: a pipe write this small is atomic.
		if _, err := pipe.Write(append([]byte(kind+" "), append(b, '\n')...)); err != nil {
			os.Exit(3)
		}
	}
	die := func(err error) {
		say("E", err.Error())
		os.Exit(2)
	}
	// Orphaned (the parent died): give up.
	time.AfterFunc(60*time.Second, func() { os.Exit(4) })
	// Durable writes: no NoSync.
	ix, err := Open(path, nil)
	if err != nil {
		die(err)
	}
	// The customers there are, from the file: what earlier rounds left.
	seg, err := ix.Segment(All())
	if err != nil {
		die(err)
	}
	var live []string
	for c := range seg.Customers() {
		live = append(live, c.UUID)
	}
	say("O", len(live))
	r := newRand(seed)
	at := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(round) * 24 * time.Hour)
	for n := 0; ; n++ {
		at = at.Add(time.Minute)
		op := &crashOp{At: at.UnixNano()}
		k := r.IntN(100)
		if len(live) < 5 {
			k = 0
		}
		switch {
		case k < 45:
			op.Kind, op.Batch = "batch", fmt.Sprintf("batch-%d-%d", round, n)
			for i := range 1 + r.IntN(40) {
				op.UUIDs = append(op.UUIDs, fmt.Sprintf("cus_%d_%d_%d", round, n, i))
				op.Cents = append(op.Cents, int64(r.IntN(100))*100)
			}
			if len(live) > 0 {
				op.Touch, op.Tag = pick(r, live), "touched-by-"+op.Batch
			}
		case k < 65:
			op.Kind, op.UUIDs, op.Tag = "tag", []string{pick(r, live)}, fmt.Sprint("t", r.IntN(20))
		case k < 75:
			op.Kind, op.UUIDs, op.Tag = "untag", []string{pick(r, live)}, pick(r, []string{"crash", "t1", "t2"})
		case k < 92:
			op.Kind, op.UUIDs, op.Cents = "mrr", []string{pick(r, live)}, []int64{int64(r.IntN(50)) * 100}
		default:
			op.Kind, op.UUIDs = "del", []string{pick(r, live)}
		}
		say("B", op)
		if err := op.do(ix); err != nil {
			die(err)
		}
		say("A", n)
		switch op.Kind {
		case "batch":
			live = append(live, op.UUIDs...)
		case "del":
			live = slices.DeleteFunc(live, func(u string) bool { return u == op.UUIDs[0] })
		}
	}
}

func TestCrashSafety(t *testing.T) {
	if os.Getenv(crashEnv) != "" {
		t.Skip("in the child")
	}
	rounds := 40
	switch {
	case testing.Short():
		rounds = 8
	case raceEnabled:
		rounds = 20
	}
	seed := testSeed(t)
	r := newRand(seed)
	path := filepath.Join(t.TempDir(), "crash.db")
	m := crashModel{}
	var acked, inflight, inflightApplied, batches, batchCusts, beforeOpen int
	for round := range rounds {
		got, err := crashRound(t, path, round, r)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if !got.opened {
			beforeOpen++
		}
		for _, op := range got.acked {
			m.apply(op)
			if op.Kind == "batch" {
				batches++
				batchCusts += len(op.UUIDs)
			}
		}
		acked += len(got.acked)

		ix, err := Open(path, nil)
		if err != nil {
			t.Fatalf("round %d: reopen after kill: %v", round, err)
		}
		if err := ix.Check(); err != nil {
			ix.Close()
			t.Fatalf("round %d: after kill: %v", round, err)
		}
		d := m.diff(ix)
		switch {
		case d == "":
			if got.inflight != nil {
				inflight++
			}
		case got.inflight != nil:
			alt := m.clone()
			alt.apply(got.inflight)
			d2 := alt.diff(ix)
			if d2 != "" {
				ix.Close()
				t.Fatalf("round %d: after kill with %q in flight, the file is neither without it:\n%s\nnor with it:\n%s", round, got.inflight.Kind, d, d2)
			}
			m = alt
			inflight++
			inflightApplied++
		default:
			ix.Close()
			t.Fatalf("round %d: after kill (%d acknowledged writes, none in flight), the file differs from them:\n%s", round, len(got.acked), d)
		}
		if err := ix.Close(); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d rounds killed at random: %d acknowledged writes checked (%d batches, %d customers in them), "+
		"%d writes in flight at the kill (%d of them found committed, the rest absent, none half-applied), "+
		"%d kills before the child had opened the file; %d customers at the end",
		rounds, acked, batches, batchCusts, inflight, inflightApplied, beforeOpen, len(m))
	if acked == 0 || batches == 0 {
		t.Error("the child acknowledged no writes")
	}
}

type crashResult struct {
	opened   bool
	acked    []*crashOp
	inflight *crashOp // announced, not acknowledged
}

// crashRound runs the child on path and kills it: a few rounds at a random
// moment from its start (perhaps while it opens the file), most shortly
// after a random number of acknowledged writes (so that the kill lands
// during a write).
func crashRound(t *testing.T, path string, round int, r *rand.Rand) (*crashResult, error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer pr.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+path,
		fmt.Sprint(crashEnv, "_ROUND=", round), fmt.Sprint(crashEnv, "_SEED=", r.Uint64()))
	cmd.ExtraFiles = []*os.File{pw}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		pw.Close()
		return nil, err
	}
	pw.Close()
	lines := make(chan string, 1024)
	go func() {
		defer close(lines)
		br := bufio.NewReader(pr)
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				return // a partial last line cannot happen, and would be ignored
			}
			lines <- strings.TrimSuffix(l, "\n")
		}
	}()
	res := &crashResult{}
	handle := func(l string) error {
		kind, body, _ := strings.Cut(l, " ")
		switch kind {
		case "O":
			res.opened = true
		case "B":
			op := &crashOp{}
			if err := json.Unmarshal([]byte(body), op); err != nil {
				return fmt.Errorf("bad line %q: %v", l, err)
			}
			res.inflight = op
		case "A":
			if res.inflight == nil {
				return fmt.Errorf("acknowledgement without a write: %q", l)
			}
			res.acked = append(res.acked, res.inflight)
			res.inflight = nil
		case "E":
			return fmt.Errorf("child failed: %s", body)
		}
		return nil
	}
	var killAt <-chan time.Time
	ackTarget := -1
	if round == 0 || r.IntN(5) == 0 {
		killAt = time.After(time.Duration(r.IntN(80)) * time.Millisecond)
	} else {
		ackTarget = r.IntN(40)
	}
	kill := func() {
		cmd.Process.Kill() // SIGKILL
	}
	var loopErr error
loop:
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				loopErr = errors.New("child exited before the kill")
				break loop
			}
			if err := handle(l); err != nil {
				kill()
				loopErr = err
				break loop
			}
			if ackTarget >= 0 && len(res.acked) == ackTarget && strings.HasPrefix(l, "A") || ackTarget == 0 && l[0] == 'O' {
				// Into the next write: its fsync takes a while.
				time.Sleep(time.Duration(r.IntN(10000)) * time.Microsecond)
				kill()
				break loop
			}
		case <-killAt:
			kill()
			break loop
		case <-time.After(30 * time.Second):
			kill()
			loopErr = errors.New("child hung")
			break loop
		}
	}
	werr := cmd.Wait()
	for l := range lines { // what it said before it died
		if err := handle(l); err != nil && loopErr == nil {
			loopErr = err
		}
	}
	if loopErr != nil {
		return nil, fmt.Errorf("%v (exit: %v)\n%s", loopErr, werr, stderr.String())
	}
	if werr == nil {
		return nil, fmt.Errorf("child exited normally:\n%s", stderr.String())
	}
	return res, nil
}
