package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// linInput is one operation of the linearizability test on a customer:
// add a tag, remove one, or read the tags.
type linInput struct {
	Cust int
	Op   string // add, remove, read
	Tag  string
}

// linOutput is what it answered: the customer's tags (after the write),
// or unknown (no answer, or a 503: it may or may not have happened).
type linOutput struct {
	Tags    []string
	Unknown bool
}

// linModel is the sequential specification: per customer, its tags in
// the order added.
var linModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		by := map[int][]porcupine.Operation{}
		for _, op := range history {
			c := op.Input.(linInput).Cust
			by[c] = append(by[c], op)
		}
		var out [][]porcupine.Operation
		for _, ops := range by {
			out = append(out, ops)
		}
		return out
	},
	Init: func() any { return []string{} },
	Step: func(state, input, output any) (bool, any) {
		tags, in, out := state.([]string), input.(linInput), output.(linOutput)
		next := tags
		switch in.Op {
		case "add":
			if !slices.Contains(tags, in.Tag) {
				next = append(slices.Clone(tags), in.Tag)
			}
		case "remove":
			next = slices.DeleteFunc(slices.Clone(tags), func(t string) bool { return t == in.Tag })
		}
		if out.Unknown {
			return true, next
		}
		return slices.Equal(out.Tags, next), next
	},
	Equal: func(a, b any) bool { return slices.Equal(a.([]string), b.([]string)) },
	DescribeOperation: func(input, output any) string {
		in, out := input.(linInput), output.(linOutput)
		if out.Unknown {
			return fmt.Sprintf("%s(%d, %s) -> ?", in.Op, in.Cust, in.Tag)
		}
		return fmt.Sprintf("%s(%d, %s) -> %v", in.Op, in.Cust, in.Tag, out.Tags)
	},
}

// Concurrent clients add, remove and read (?consistency=linearizable) the
// tags of a few customers through every node, while the leader is
// SIGKILLed and restarted, and then paused (SIGSTOP) and resumed; the
// history must be linearizable (porcupine). A write that got no answer or
// a 503 may or may not have happened: it is given no return (it may take
// effect at any time after its call).
func TestRaftLinearizable(t *testing.T) {
	c := newRaftProcs(t, 3)
	uuids := c.startAll(10, 0)

	start := time.Now()
	var mu sync.Mutex
	var history []porcupine.Operation
	record := func(client int, in linInput, call time.Time, out linOutput, ret time.Time) {
		op := porcupine.Operation{ClientId: client, Input: in, Call: call.Sub(start).Nanoseconds(), Output: out, Return: ret.Sub(start).Nanoseconds()}
		if out.Unknown {
			op.Return = math.MaxInt64
		}
		mu.Lock()
		history = append(history, op)
		mu.Unlock()
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for client := range 5 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(client), 11))
			var mine []linInput // adds of this client, acknowledged
			for i := 0; ctx.Err() == nil; i++ {
				p := c.nodes[r.IntN(len(c.nodes))]
				in := linInput{Cust: r.IntN(len(uuids))}
				var method, path string
				var body any
				switch k := r.IntN(10); {
				case k < 4:
					in.Op, in.Tag = "add", fmt.Sprintf("c%d-%d", client, i)
					method, path, body = "POST", "/v1/customers/"+uuids[in.Cust]+"/attributes/tags", map[string][]string{"tags": {in.Tag}}
				case k < 5 && len(mine) > 0:
					j := r.IntN(len(mine))
					in = linInput{Cust: mine[j].Cust, Op: "remove", Tag: mine[j].Tag}
					mine = slices.Delete(mine, j, j+1)
					method, path, body = "DELETE", "/v1/customers/"+uuids[in.Cust]+"/attributes/tags", map[string][]string{"tags": {in.Tag}}
				default:
					in.Op = "read"
					method, path = "GET", "/v1/customers/"+uuids[in.Cust]+"/attributes?consistency=linearizable"
				}
				call := time.Now()
				code, b, _, err := raftDo(ctx, c.url(p), method, path, body, nil)
				ret := time.Now()
				var out linOutput
				var parsed struct {
					Tags []string `json:"tags"`
				}
				switch {
				case err == nil && code == http.StatusOK && json.Unmarshal(b, &parsed) == nil:
					out.Tags = parsed.Tags
					if out.Tags == nil {
						out.Tags = []string{}
					}
				case in.Op == "read":
					time.Sleep(50 * time.Millisecond)
					continue // a read that failed tells nothing
				case errors.Is(err, syscall.ECONNREFUSED):
					continue // never sent: the node is down
				case err != nil || code == http.StatusServiceUnavailable:
					// It may have been applied; back off a little (an
					// election, a paused node) before the next.
					out.Unknown = true
					time.Sleep(100 * time.Millisecond)
				default:
					t.Errorf("%s %s on %s: %d %s", method, path, p.id, code, b)
					return
				}
				if in.Op == "add" && !out.Unknown {
					mine = append(mine, in)
				}
				record(client, in, call, out, ret)
			}
		})
	}
	pause := func(d time.Duration) {
		select {
		case <-time.After(d):
		case <-ctx.Done():
		}
	}
	pause(time.Second)
	lead := c.leader()
	c.kill(lead)
	t.Logf("SIGKILL the leader %s", lead.id)
	pause(2 * time.Second)
	c.start(lead)
	c.waitUp(3, 0, lead)
	pause(time.Second)
	lead = c.leader()
	c.signal(lead, syscall.SIGSTOP)
	t.Logf("SIGSTOP the leader %s", lead.id)
	pause(3 * time.Second)
	c.signal(lead, syscall.SIGCONT)
	t.Logf("SIGCONT %s", lead.id)
	pause(2 * time.Second)
	cancel()
	wg.Wait()

	// What became of the writes of unknown outcome: the final tags tell
	// (an unknown add's tag is never removed; an unknown remove's tag was
	// added by an acknowledged write). One that did not happen is dropped;
	// one that did must have taken effect before the first read that saw
	// it (an add), or before the end.
	c.waitSame()
	final := make([][]string, len(uuids))
	for i, u := range uuids {
		code, b, _, err := raftDo(context.Background(), c.url(c.leader()), "GET", "/v1/customers/"+u+"/attributes?consistency=linearizable", nil, nil)
		var parsed struct {
			Tags []string `json:"tags"`
		}
		if err != nil || code != http.StatusOK || json.Unmarshal(b, &parsed) != nil {
			t.Fatalf("final read of %s: %d %s %v", u, code, b, err)
		}
		final[i] = parsed.Tags
	}
	end := time.Since(start).Nanoseconds()
	kept := history[:0]
	for _, op := range history {
		in := op.Input.(linInput)
		if !op.Output.(linOutput).Unknown {
			kept = append(kept, op)
			continue
		}
		has := slices.Contains(final[in.Cust], in.Tag)
		if (in.Op == "add") != has {
			continue // it did not happen
		}
		op.Return = end
		if in.Op == "add" {
			for _, r := range history {
				ri := r.Input.(linInput)
				if ri.Op == "read" && ri.Cust == in.Cust && r.Call > op.Call && r.Return < op.Return && slices.Contains(r.Output.(linOutput).Tags, in.Tag) {
					op.Return = r.Return
				}
			}
		}
		kept = append(kept, op)
	}
	history = kept

	reads, writes, unknown := 0, 0, 0
	for _, op := range history {
		switch {
		case op.Input.(linInput).Op == "read":
			reads++
		case op.Output.(linOutput).Unknown:
			unknown++
		default:
			writes++
		}
	}
	t.Logf("%d operations: %d linearizable reads, %d acknowledged writes, %d writes of unknown outcome that happened", len(history), reads, writes, unknown)
	if reads < 20 || writes < 20 {
		t.Fatalf("too few operations to check: %d reads, %d writes", reads, writes)
	}
	res, info := porcupine.CheckOperationsVerbose(linModel, history, time.Minute)
	if res != porcupine.Ok {
		vis := filepath.Join(os.TempDir(), "tagseg-linearizability.html")
		if f, err := os.Create(vis); err == nil {
			porcupine.Visualize(linModel, info, f)
			f.Close()
		}
		t.Fatalf("the history is not linearizable (%s); visualization in %s", res, vis)
	}
	for _, p := range c.nodes {
		c.stop(p)
	}
}
