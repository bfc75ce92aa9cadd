package tagseg

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/google/go-cmp/cmp"
)

// pinnedRoaring is the roaring version the copy-on-write of snapshots was
// checked against (see go.mod).
const pinnedRoaring = "v2.30.0"

// Copy-on-write rests on roaring's internals (state.go: freeze marks every
// container shared through Clone's side effect; patch relies on Or and
// AndNot copying a shared container before they change it). A roaring
// other than the one it was checked against, in go.mod or in any module
// of the workspace (whose highest requirement the build would use), fails
// here, so that an upgrade is a decision: run
// TestPublishedBitmapsNeverChange and the race tests with it, read freeze
// and patch again, then move the pin.
func TestRoaringVersionPinned(t *testing.T) {
	const mod = "github.com/RoaringBitmap/roaring/v2 "
	found := false
	for _, f := range []string{"go.mod", "cmd/tagseg/go.mod", "examples/go.mod", "bench/go.mod"} {
		b, err := os.ReadFile(f)
		if errors.Is(err, os.ErrNotExist) && f != "go.mod" {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.Lines(string(b)) {
			line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "require"))
			if !strings.HasPrefix(line, mod) {
				continue
			}
			v, _, _ := strings.Cut(strings.TrimPrefix(line, mod), " ")
			if f == "go.mod" {
				found = true
			}
			if v != pinnedRoaring {
				t.Errorf("%s requires roaring %s; copy-on-write was checked against %s (see go.mod)", f, v, pinnedRoaring)
			}
		}
	}
	if !found {
		t.Error("go.mod does not require roaring")
	}
}

// serialized is every bitmap of a snapshot in the portable format, by name.
func serialized(t *testing.T, st *state) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	put := func(name string, b *roaring.Bitmap) {
		v, err := b.ToBytes()
		if err != nil {
			t.Fatal(err)
		}
		out[name] = v
	}
	put("live", st.live)
	put("paying", st.paying)
	for i, p := range st.planes {
		put(fmt.Sprint("plane ", i), p)
	}
	for tag, b := range st.tags.all() {
		put("tag "+tag, b)
	}
	for f, m := range st.eq {
		for v, b := range m.all() {
			put("field "+f+"="+v, b)
		}
	}
	return out
}

// Every bitmap a snapshot publishes serializes the same before and after
// many random writes (and reads) on the snapshots after it: no write
// changes a container an earlier snapshot shares.
func TestPublishedBitmapsNeverChange(t *testing.T) {
	r := newRand(testSeed(t))
	ix := openTest(t)
	type kept struct {
		st    *state
		bytes map[string][]byte
	}
	var snaps []kept
	var uuids []string // Load's customers are not among them
	for step := range 600 {
		us := uuids
		switch op := r.IntN(100); {
		case op < 25 || len(us) == 0:
			c := randCustomer(r, len(uuids))
			c.ExternalID = ""
			if r.IntN(4) == 0 { // many holders: chunked tags, bitmap containers
				err := ix.Update(func(tx *Tx) error {
					for range 200 {
						c2 := c
						c2.Tags = append([]string{"big"}, c.Tags...)
						got, err := tx.CreateCustomer(c2)
						if err != nil {
							return err
						}
						uuids = append(uuids, got.UUID)
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				break
			}
			uuids = append(uuids, mustCreate(t, ix, c).UUID)
		case op < 40:
			if _, err := ix.AddTags(pick(r, us), randTags(r, 1+r.IntN(3))...); err != nil && !isNotFound(err) {
				t.Fatal(err)
			}
		case op < 50:
			if _, err := ix.RemoveTags(pick(r, us), randTags(r, 2)...); err != nil && !isNotFound(err) {
				t.Fatal(err)
			}
		case op < 60:
			if err := ix.SetMRR(pick(r, us), randTime(r), int64(r.IntN(1<<20))); err != nil && !isNotFound(err) {
				t.Fatal(err)
			}
		case op < 65:
			if err := ix.DeleteCustomer(pick(r, us)); err != nil && !isNotFound(err) {
				t.Fatal(err)
			}
		case op < 75:
			if _, err := ix.AddTagsToSegment(randExpr(r, 2), randTags(r, 1)...); err != nil {
				t.Fatal(err)
			}
		case op < 82:
			if _, err := ix.RemoveTagsFromSegment(randExpr(r, 2), randTags(r, 1)...); err != nil {
				t.Fatal(err)
			}
		case op < 87:
			seg, err := ix.Segment(randExpr(r, 2))
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := ix.SetTagMembers(pick(r, randTags(r, 1)), seg.IDs()); err != nil {
				t.Fatal(err)
			}
		case op < 92:
			var cs []Customer
			for range 1 + r.IntN(300) {
				c := randCustomer(r, len(uuids))
				c.ExternalID = ""
				cs = append(cs, c)
			}
			if _, err := ix.Load(loadSeq(cs, nil)); err != nil {
				t.Fatal(err)
			}

		default: // reads on an earlier snapshot: evaluation, sums, stats
			if len(snaps) > 0 {
				k := snaps[r.IntN(len(snaps))]
				e := randExpr(r, 3)
				for needsRecords(e) { // memory alone: no bbolt transaction of that commit
					e = randExpr(r, 3)
				}
				ev := &evaluator{ix: ix, st: k.st}
				v, err := ev.eval(e)
				if err != nil {
					t.Fatal(err)
				}
				newSegment(ix, k.st, v.own(), nil).MRR()
			}
			if _, err := ix.TagStats(randExpr(r, 2), TagStatsOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		if step%10 == 0 {
			st := ix.cur.Load()
			snaps = append(snaps, kept{st, serialized(t, st)})
		}
	}
	for i, k := range snaps {
		if d := cmp.Diff(k.bytes, serialized(t, k.st)); d != "" {
			t.Fatalf("snapshot %d of %d (transaction %d) changed after it was published (-then +now):\n%s", i, len(snaps), k.st.txid, d)
		}
	}
}

func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
