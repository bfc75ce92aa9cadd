package cluster

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/raft"
	"github.com/tagseg/tagseg"
)

func testFSM(t *testing.T, path string) *fsm {
	t.Helper()
	f, err := newFSM(path, &tagseg.Options{NoSync: true}, testApply, raft.NewInmemStore(), func(err error) { t.Errorf("fatal: %v", err) })
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func cmdLog(index uint64, c testCmd) *raft.Log {
	b, _ := json.Marshal(c)
	return &raft.Log{Index: index, Term: 1, Type: raft.LogCommand, Data: append([]byte{kindCommand}, b...)}
}

// fsmState is every customer's tags.
func fsmState(t *testing.T, f *fsm) map[string][]string {
	t.Helper()
	seg, err := f.ixs.index().Segment(tagseg.All())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for c := range seg.Customers() {
		out[c.UUID] = c.Tags
	}
	return out
}

// ApplyBatch gives the same results, file and applied index as applying
// the entries one by one, with commands that fail anywhere in a batch
// (seed logged); a reopened FSM given the same entries again skips them.
func TestApplyBatch(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 1))
	var logs []*raft.Log
	for i := uint64(1); i <= 300; i++ {
		u := fmt.Sprint("cus_", r.IntN(6))
		var l *raft.Log
		switch k := r.IntN(20); {
		case k < 4:
			l = cmdLog(i, testCmd{Op: "create", UUID: u}) // a duplicate fails
		case k < 12:
			l = cmdLog(i, testCmd{Op: "tag", UUID: u, Tag: fmt.Sprint("t", r.IntN(8))}) // unknown: fails
		case k < 17:
			l = cmdLog(i, testCmd{Op: "untag", UUID: u, Tag: fmt.Sprint("t", r.IntN(8))})
		case k < 18:
			l = &raft.Log{Index: i, Term: 1, Type: raft.LogCommand, Data: []byte{kindNop}}
		case k < 19:
			b, _ := json.Marshal(nodeMeta{ID: u, HTTPAddr: fmt.Sprint("h", i)})
			l = &raft.Log{Index: i, Term: 1, Type: raft.LogCommand, Data: append([]byte{kindMeta}, b...)}
		default:
			l = &raft.Log{Index: i, Term: 1, Type: raft.LogConfiguration, Data: raft.EncodeConfiguration(raft.Configuration{})}
		}
		logs = append(logs, l)
	}
	dir := t.TempDir()
	one, batch := testFSM(t, filepath.Join(dir, "one.db")), testFSM(t, filepath.Join(dir, "batch.db"))
	var want, got []any
	for _, l := range logs {
		if l.Type == raft.LogConfiguration {
			one.StoreConfiguration(l.Index, raft.Configuration{})
			want = append(want, nil)
			continue
		}
		want = append(want, one.Apply(l))
	}
	for i := 0; i < len(logs); {
		n := min(len(logs)-i, 1+r.IntN(64))
		got = append(got, batch.ApplyBatch(logs[i:i+n])...)
		i += n
	}
	errText := func(err error) string {
		if err == nil {
			return ""
		}
		return err.Error()
	}
	opt := cmp.Transformer("err", errText)
	if diff := cmp.Diff(want, got, opt); diff != "" {
		t.Fatalf("results (-one by one +batched):\n%s", diff)
	}
	if diff := cmp.Diff(fsmState(t, one), fsmState(t, batch)); diff != "" {
		t.Fatalf("files (-one by one +batched):\n%s", diff)
	}
	if one.applied.Load() != 300 || batch.applied.Load() != 300 {
		t.Fatalf("applied: %d one by one, %d batched", one.applied.Load(), batch.applied.Load())
	}
	a1, _ := one.ixs.index().Applied()
	a2, _ := batch.ixs.index().Applied()
	if a1 != a2 {
		t.Fatalf("applied in the files: %d one by one, %d batched", a1, a2)
	}
	failed := 0
	for _, v := range got {
		if res, ok := v.(*Result); ok && res.Err != nil {
			failed++
		}
	}
	t.Logf("%d of 300 commands failed", failed)

	// Reopened, the FSM skips what the file holds.
	before := fsmState(t, batch)
	batch.ixs.close()
	again := testFSM(t, filepath.Join(dir, "batch.db"))
	defer again.ixs.close()
	defer one.ixs.close()
	again.ApplyBatch(logs)
	if diff := cmp.Diff(before, fsmState(t, again)); diff != "" {
		t.Fatalf("entries applied twice after reopen (-before +after):\n%s", diff)
	}
	if err := again.ixs.index().Check(); err != nil {
		t.Fatal(err)
	}
}
