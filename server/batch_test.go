package server

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tagseg/tagseg"
	"github.com/tagseg/tagseg/server/api"
)

// TestBatched sends commands from many goroutines at once through Batched,
// each goroutine on a customer of its own, a fifth of them failing (an
// empty tag, an unknown customer), and checks every result against a model
// of that customer's tags, the index at the end against the model, and
// that commands were committed in groups (a failing one among them: the
// others committed without it).
func TestBatched(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	ix, err := tagseg.Open(filepath.Join(t.TempDir(), "b.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	const workers, perWorker = 8, 60
	ex := Batched(ix).(*batcher)
	uuids := make([]string, workers)
	for w := range uuids {
		uuids[w] = fmt.Sprintf("cus_w%d", w)
		if _, err := ex.Execute(context.Background(), Command{Op: OpCreateCustomer, Customer: &api.NewCustomer{UUID: uuids[w], Name: uuids[w]}}); err != nil {
			t.Fatal(err)
		}
	}
	tags := []string{"a", "b", "c", "d", "e"}
	model := make([]map[string]bool, workers)
	var wg sync.WaitGroup
	for w := range workers {
		model[w] = map[string]bool{}
		r := rand.New(rand.NewPCG(seed, uint64(w)))
		wg.Go(func() {
			for i := range perWorker {
				tag := tags[r.IntN(len(tags))]
				cmd := Command{Op: OpAddTags, UUID: uuids[w], Tags: []string{tag}}
				var want error
				switch k := r.IntN(10); {
				case k < 1:
					cmd.Tags = []string{""}
					want = tagseg.ErrInvalidTag
				case k < 2:
					cmd.UUID = "cus_nobody"
					want = tagseg.ErrNotFound
				case k < 5:
					cmd.Op = OpRemoveTags
				}
				_, err := ex.Execute(context.Background(), cmd)
				if want != nil {
					if !errors.Is(err, want) {
						t.Errorf("worker %d, command %d (%+v): %v, want %v", w, i, cmd, err, want)
					}
					continue
				}
				if err != nil {
					t.Errorf("worker %d, command %d (%+v): %v", w, i, cmd, err)
					continue
				}
				model[w][tag] = cmd.Op == OpAddTags
			}
		})
	}
	wg.Wait()
	for w, u := range uuids {
		c, err := ix.Customer(u)
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for tag, on := range model[w] {
			if on {
				want = append(want, tag)
			}
		}
		slices.Sort(want)
		got := slices.Sorted(slices.Values(c.Tags))
		if d := cmp.Diff(want, got, cmp.Comparer(func(a, b []string) bool { return slices.Equal(a, b) })); d != "" {
			t.Errorf("%s: tags (-model +index):\n%s", u, d)
		}
	}
	t.Logf("%d commands in %d groups of more than one", workers*perWorker, ex.groups)
	if ex.groups == 0 {
		t.Error("no two commands were committed together")
	}
}

// TestBatchedPanic checks that a leader whose commit panics completes the
// commands it was committing with an error, passes its panic on, and
// leaves no commit running: the writes after it are not stuck.
func TestBatchedPanic(t *testing.T) {
	b := &batcher{running: true}
	waiting := &pending{done: make(chan struct{}), lead: make(chan struct{})}
	next := &pending{done: make(chan struct{}), lead: make(chan struct{})}
	b.queue = []*pending{next}
	var got any
	func() {
		defer func() { got = recover() }()
		defer b.handOff([]*pending{waiting})
		panic("boom")
	}()
	if got != "boom" {
		t.Fatalf("the leader's panic: %v, want boom", got)
	}
	select {
	case <-waiting.done:
		if waiting.err == nil {
			t.Fatal("a command of the panicked commit got no error")
		}
	default:
		t.Fatal("a command of the panicked commit was left waiting")
	}
	select {
	case <-next.lead:
	default:
		t.Fatal("the command queued meanwhile was not made the leader")
	}
	b.queue = nil
	b.handOff(nil)
	if b.running {
		t.Fatal("a commit is still marked running with nothing queued")
	}
}
