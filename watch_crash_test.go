package tagseg

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestWatchCrash: the writer of TestCrashSafety (TestCrashChild) runs on a
// file with saved segments and is killed with SIGKILL at random moments.
// After each kill the file is reopened and every segment's whole feed is
// read: it must be exactly the differences between the successive states
// of the committed writes (those acknowledged, and the one in flight if
// the file has it), computed on the test's plain model: no change missing,
// none twice, none from a write that did not commit. Between rounds the
// test saves one more segment, whose first change is its members then.

// watchCrashSegs are the saved segments and what they mean on the model.
var watchCrashSegs = []struct {
	name, query string
	in          func(c *crashCust) bool
}{
	{"crash", "tag:crash", func(c *crashCust) bool { return slices.Contains(c.tags, "crash") }},
	{"t1t2", "tag:t1 OR tag:t2", func(c *crashCust) bool { return slices.Contains(c.tags, "t1") || slices.Contains(c.tags, "t2") }},
	{"paying", "mrr >= 2500", func(c *crashCust) bool { return c.mrr >= 2500 }},
	{"crash-t3", "tag:crash AND NOT tag:t3", func(c *crashCust) bool {
		return slices.Contains(c.tags, "crash") && !slices.Contains(c.tags, "t3")
	}},
}

// watchCrashModel is the crash model with the creation order of customers
// and the feed each segment must have.
type watchCrashModel struct {
	m     crashModel
	order []string // UUIDs in creation (dense-ID) order
	segs  []int    // indexes into watchCrashSegs of the saved segments
	feeds map[string][]wChange
}

func (w *watchCrashModel) members(s int) map[string]bool {
	out := map[string]bool{}
	for u, c := range w.m {
		if watchCrashSegs[s].in(c) {
			out[u] = true
		}
	}
	return out
}

// apply applies a committed write and appends the changes it makes.
func (w *watchCrashModel) apply(op *crashOp) {
	before := make([]map[string]bool, len(w.segs))
	for i, s := range w.segs {
		before[i] = w.members(s)
	}
	w.m.apply(op)
	if op.Kind == "batch" {
		w.order = append(w.order, op.UUIDs...)
	}
	for i, s := range w.segs {
		if c, ok := memberDiff(w.order, before[i], w.members(s)); ok {
			name := watchCrashSegs[s].name
			w.feeds[name] = append(w.feeds[name], c)
		}
	}
}

func (w *watchCrashModel) clone() *watchCrashModel {
	n := &watchCrashModel{m: w.m.clone(), order: slices.Clone(w.order), segs: slices.Clone(w.segs), feeds: map[string][]wChange{}}
	for k, v := range w.feeds {
		n.feeds[k] = slices.Clone(v)
	}
	return n
}

// check compares every saved segment's whole feed with the model's, and
// the customers (which tell whether a write in flight that changes no
// segment committed).
func (w *watchCrashModel) check(ix *Index) string {
	if d := w.m.diff(ix); d != "" {
		return d
	}
	for _, s := range w.segs {
		name := watchCrashSegs[s].name
		var got []wChange
		after := ""
		for {
			p, err := ix.Changes(name, ChangesOptions{After: after, Limit: 1000})
			if err != nil {
				return err.Error()
			}
			for _, c := range p.Changes {
				got = append(got, wChange{nilIfEmpty(c.Entered), nilIfEmpty(c.Left)})
			}
			after = p.Cursor
			if !p.HasMore {
				break
			}
		}
		if d := cmp.Diff(w.feeds[name], got); d != "" {
			return fmt.Sprintf("segment %s: feed (-model +file):\n%s", name, d)
		}
	}
	return ""
}

func TestWatchCrash(t *testing.T) {
	if os.Getenv(crashEnv) != "" {
		t.Skip("in the child")
	}
	rounds := len(watchCrashSegs) * 4
	switch {
	case testing.Short():
		rounds = len(watchCrashSegs)
	case raceEnabled:
		rounds = len(watchCrashSegs) * 2
	}
	seed := testSeed(t)
	r := newRand(seed)
	path := filepath.Join(t.TempDir(), "watchcrash.db")
	w := &watchCrashModel{m: crashModel{}, feeds: map[string][]wChange{}}
	var acked, inflight, changes int
	for round := range rounds {
		// Between rounds: save the next segment (its first change: its
		// members now).
		if s := round % 4; round < 4 {
			ix, err := Open(path, &Options{NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			if err := ix.SaveSegment(watchCrashSegs[s].name, watchCrashSegs[s].query); err != nil {
				t.Fatal(err)
			}
			ix.Close()
			w.segs = append(w.segs, s)
			if c, ok := memberDiff(w.order, nil, w.members(s)); ok {
				w.feeds[watchCrashSegs[s].name] = []wChange{c}
			}
		}
		got, err := crashRound(t, path, round, r)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		for _, op := range got.acked {
			w.apply(op)
		}
		acked += len(got.acked)
		ix, err := Open(path, nil)
		if err != nil {
			t.Fatalf("round %d: reopen after kill: %v", round, err)
		}
		d := w.check(ix)
		if d != "" && got.inflight != nil {
			alt := w.clone()
			alt.apply(got.inflight)
			if d2 := alt.check(ix); d2 == "" {
				w, d = alt, ""
				inflight++
			} else {
				d = fmt.Sprintf("with %q in flight, neither without it:\n%s\nnor with it:\n%s", got.inflight.Kind, d, d2)
			}
		}
		if err := ix.Check(); err != nil && d == "" {
			d = err.Error()
		}
		ix.Close()
		if d != "" {
			t.Fatalf("round %d (%d acknowledged writes): %s", round, len(got.acked), d)
		}
	}
	for _, f := range w.feeds {
		changes += len(f)
	}
	t.Logf("%d rounds: %d acknowledged writes, %d found committed in flight; %d changes in %d feeds checked",
		rounds, acked, inflight, changes, len(w.feeds))
	if changes == 0 {
		t.Error("no change recorded")
	}
}
