package tagseg

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/google/go-cmp/cmp"
	bolt "go.etcd.io/bbolt"
)

// randExprAll is randExpr with the record-only fields too (name, company,
// external_id, email ranges) and fields of many values (zip, custom.n).
func randExprAll(r *rand.Rand, depth int) Expr {
	if depth > 0 && r.IntN(3) == 0 {
		xs := make([]Expr, 1+r.IntN(3))
		for i := range xs {
			xs[i] = randExprAll(r, depth-1)
		}
		switch r.IntN(3) {
		case 0:
			return And(xs...)
		case 1:
			return Or(xs...)
		}
		return Not(xs[0])
	}
	op := Op(r.IntN(6))
	switch r.IntN(12) {
	case 0:
		return Where("name", op, pick(r, namePool))
	case 1:
		return Where("company", op, pick(r, []string{"Acme", "Bolt", "", "Zed"}))
	case 2:
		return Where("external_id", op, fmt.Sprint(r.IntN(30)))
	case 3:
		return Where("email", op, pick(r, emailPool))
	case 4:
		return Where("zip", op, fmt.Sprintf("%05d", r.IntN(300)))
	case 5:
		return Where("custom.n", op, int64(r.IntN(300)))
	}
	return randExpr(r, depth)
}

var namePool = []string{"Ann", "Bo", "Cy", "", "Dee"}

// randCustomerAll is randCustomer with names, companies, zips and a custom
// attribute of many values.
func randCustomerAll(r *rand.Rand, n int) Customer {
	c := randCustomer(r, n)
	c.Name = pick(r, namePool)
	c.Company = pick(r, []string{"Acme", "Bolt", "", "Zed"})
	c.Zip = fmt.Sprintf("%05d", r.IntN(300))
	if r.IntN(3) > 0 {
		if c.Custom == nil {
			c.Custom = map[string]any{}
		}
		c.Custom["n"] = int64(r.IntN(300))
	}
	return c
}

// randIDs returns a random set of IDs below n+5 (some past the end, some
// of deleted customers): often tiny, sometimes large.
func randIDs(r *rand.Rand, n uint32) *roaring.Bitmap {
	u := roaring.New()
	switch r.IntN(6) {
	case 0:
	case 1:
		u.AddRange(0, uint64(n)+5)
	case 2, 3:
		for range 1 + r.IntN(3) {
			u.Add(uint32(r.IntN(int(n) + 5)))
		}
	default:
		for range r.IntN(int(n) + 5) {
			u.Add(uint32(r.IntN(int(n) + 5)))
		}
	}
	return u
}

// fullOn is the whole evaluation of e on st, intersected with u.
func fullOn(ix *Index, st *state, btx *bolt.Tx, e Expr, u *roaring.Bitmap) (*roaring.Bitmap, error) {
	ev := &evaluator{ix: ix, st: st, btx: btx}
	v, err := ev.eval(e)
	if err != nil {
		return nil, err
	}
	return roaring.And(v.bm, u), nil
}

// TestEvalOn checks restricted evaluation against the whole evaluation
// intersected with the set, for random expressions, sets and data.
func TestEvalOn(t *testing.T) {
	seed := testSeed(t)
	r := newRand(seed)
	ix := openTest(t)
	var uuids []string
	for i := range 400 {
		c := randCustomerAll(r, len(uuids))
		c.ExternalID = fmt.Sprint(i)
		if r.IntN(3) == 0 {
			c.ExternalID = ""
		}
		c = mustCreate(t, ix, c)
		uuids = append(uuids, c.UUID)
	}
	err := ix.Update(func(tx *Tx) error {
		for _, u := range uuids {
			switch r.IntN(5) {
			case 0:
				if err := tx.DeleteCustomer(u); err != nil {
					return err
				}
			case 1, 2:
				if err := tx.SetMRR(u, randTime(r), int64(r.IntN(4))*2500); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	rounds := 1500
	if testing.Short() || raceEnabled {
		rounds = 600
	}
	err = ix.view(func(st *state, btx *bolt.Tx) error {
		for i := range rounds {
			e := randExprAll(r, 3)
			u := randIDs(r, st.nextID)
			want, werr := fullOn(ix, st, btx, e, u)
			got, gerr := evalOn(ix, st, btx, e, u)
			if (werr != nil) != (gerr != nil) {
				t.Fatalf("round %d: %s on %v: errors differ: whole %v, restricted %v", i, e, u, werr, gerr)
			}
			if werr != nil {
				continue
			}
			if !got.Equals(want) {
				t.Fatalf("round %d: %s on %v:\nwhole ∩ U %v\nrestricted %v", i, e, u, want.ToArray(), got.ToArray())
			}
			ev := &evaluator{ix: ix, st: st, btx: btx}
			ev.eval(e)
			if unk, err := unknownTags(ix, st, e); err != nil || !slices.Equal(unk, ev.unknown) {
				t.Fatalf("round %d: %s: unknownTags = %v, %v; the evaluation found %v", i, e, unk, err, ev.unknown)
			}
			if !needsRecords(e) { // no file needed
				got, err := evalOn(ix, st, nil, e, u)
				if err != nil || !got.Equals(want) {
					t.Fatalf("round %d: %s without a transaction: %v, %v; want %v", i, e, got.ToArray(), err, want.ToArray())
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// recorder is a follower for tests: it keeps each commit, and evaluates
// exprs on the touched IDs in prepare, as a follower that writes records
// of a segment's changes would.
type recorder struct {
	ix       *Index
	exprs    []Expr
	prepared []map[int]*roaring.Bitmap // per commit in progress: expr → members among touched
	commits  []recorded
	err      error
}

type recorded struct {
	old, new *state
	touched  *roaring.Bitmap
	load     bool
	members  map[int]*roaring.Bitmap // expr → members among touched, found in prepare
}

func (rc *recorder) prepare(c *commitInfo) error {
	m := map[int]*roaring.Bitmap{}
	for i, e := range rc.exprs {
		got, err := evalOn(c.ix, c.After(), c.btx, e, c.IDs())
		if err != nil {
			rc.err = err
			return nil
		}
		m[i] = got
	}
	rc.prepared = append(rc.prepared, m)
	return nil
}

func (rc *recorder) published(c *commitInfo) {
	rec := recorded{old: c.Before(), new: c.After(), touched: c.IDs(), load: c.load, members: map[int]*roaring.Bitmap{}}
	for _, m := range rc.prepared { // Load: one per batch
		for i, b := range m {
			if rec.members[i] == nil {
				rec.members[i] = roaring.New()
			}
			rec.members[i].Or(b)
		}
	}
	rc.prepared = nil
	rc.commits = append(rc.commits, rec)
}

// snapshotCustomers reads every customer of uuids as the index has it now:
// ID → what a query can see of it (nothing for a deleted one).
func snapshotCustomers(t *testing.T, ix *Index, uuids []string) map[uint32]string {
	t.Helper()
	out := map[uint32]string{}
	for _, u := range uuids {
		c, err := ix.Customer(u)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		h, err := ix.MRRHistory(u)
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(c.Tags) // their order is no query's business
		out[c.ID] = fmt.Sprintf("%+v %v", c, h)
	}
	return out
}

// TestTouched runs random write batches (and Loads) and checks, for each
// commit, that every customer that reads differently after it is in the
// touched set; that the touched set holds only customers the batch
// named; and that members found in prepare on the touched IDs equal the
// whole evaluation of the published state on them.
func TestTouched(t *testing.T) {
	defer func(b uint32) { loadBatch = b }(loadBatch)
	loadBatch = 8
	seed := testSeed(t)
	r := newRand(seed)
	ix := openTest(t)
	rc := &recorder{ix: ix}
	for range 12 {
		rc.exprs = append(rc.exprs, randExprAll(r, 2))
	}
	ix.followers = append(ix.followers, rc)
	var uuids []string
	steps := 150
	if testing.Short() || raceEnabled {
		steps = 60
	}
	for step := range steps {
		before := snapshotCustomers(t, ix, uuids)
		n0 := len(rc.commits)
		what, named := randWrite(t, r, ix, &uuids, step)
		if rc.err != nil {
			t.Fatalf("step %d: evalOn in prepare: %v", step, rc.err)
		}
		after := snapshotCustomers(t, ix, uuids)
		if len(rc.commits) == n0 {
			if d := cmp.Diff(before, after); d != "" {
				t.Fatalf("step %d (%s): no commit, yet customers changed:\n%s", step, what, d)
			}
			continue
		}
		if len(rc.commits) != n0+1 {
			t.Fatalf("step %d (%s): %d commits published, want 1", step, what, len(rc.commits)-n0)
		}
		c := rc.commits[n0]
		if c.new != ix.cur.Load() {
			t.Fatalf("step %d: the published state is not the current one", step)
		}
		for id := range idsOf(before, after) {
			if before[id] != after[id] && !c.touched.Contains(id) {
				t.Fatalf("step %d (%s): customer %d changed but is not in touched %v:\nbefore %s\nafter  %s", step, what, id, c.touched.ToArray(), before[id], after[id])
			}
		}
		if extra := roaring.AndNot(c.touched, named); !extra.IsEmpty() {
			t.Fatalf("step %d (%s): touched %v holds IDs the batch did not name: %v", step, what, c.touched.ToArray(), extra.ToArray())
		}
		err := ix.view(func(st *state, btx *bolt.Tx) error {
			for i, e := range rc.exprs {
				want, err := fullOn(ix, st, btx, e, c.touched)
				if err != nil {
					return err
				}
				if got := c.members[i]; !got.Equals(want) {
					t.Fatalf("step %d (%s): %s among touched %v: prepare found %v, the published state has %v", step, what, e, c.touched.ToArray(), got.ToArray(), want.ToArray())
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func idsOf(a, b map[uint32]string) map[uint32]bool {
	out := map[uint32]bool{}
	for id := range a {
		out[id] = true
	}
	for id := range b {
		out[id] = true
	}
	return out
}

// randWrite makes one random write — a Load, a saved segment saved or
// deleted, or an Update batch of a few operations of every kind — and
// returns what it was and the IDs it may change. uuids holds the UUIDs
// created so far.
func randWrite(t *testing.T, r *rand.Rand, ix *Index, uuids *[]string, step int) (what string, named *roaring.Bitmap) {
	t.Helper()
	named = roaring.New()
	switch r.IntN(16) {
	case 0, 1:
		k := r.IntN(20)
		cs := make([]Customer, k)
		evs := make([][]MRRChange, k)
		for i := range cs {
			cs[i] = randCustomerAll(r, len(*uuids)+i)
			cs[i].UUID = fmt.Sprintf("cus_load_%d_%d", step, i)
			if r.IntN(2) == 0 {
				evs[i] = []MRRChange{{randTime(r), int64(r.IntN(3)) * 1000}}
			}
		}
		n, err := ix.Load(loadSeq(cs, evs))
		if err != nil && !errors.Is(err, ErrDuplicate) {
			t.Fatalf("step %d: load: %v", step, err)
		}
		for _, c := range cs[:n] {
			*uuids = append(*uuids, c.UUID)
		}
		next := uint64(ix.cur.Load().nextID)
		named.AddRange(next-uint64(n), next)
		return "load", named
	case 2:
		name := pick(r, []string{"s1", "s2"})
		if r.IntN(2) == 0 {
			if err := ix.SaveSegment(name, randExprAll(r, 1).String()); err != nil {
				t.Fatalf("step %d: save segment: %v", step, err)
			}
			return "save segment", named
		}
		if err := ix.DeleteSegment(name); err != nil && !errors.Is(err, ErrNotFound) {
			t.Fatalf("step %d: delete segment: %v", step, err)
		}
		return "delete segment", named
	}
	var created []string
	err := ix.Update(func(tx *Tx) error {
		some := func() string {
			if len(*uuids) == 0 {
				return "cus_none"
			}
			u := pick(r, *uuids)
			if c, err := tx.Customer(u); err == nil {
				named.Add(c.ID)
			}
			return u
		}
		for range 1 + r.IntN(4) {
			var err error
			switch r.IntN(11) {
			case 0, 1:
				var c Customer
				if c, err = tx.CreateCustomer(randCustomerAll(r, len(*uuids))); err == nil {
					created = append(created, c.UUID)
					named.Add(c.ID)
				}
			case 2:
				_, err = tx.AddTags(some(), randTags(r, 1+r.IntN(2))...)
			case 3:
				_, err = tx.RemoveTags(some(), randTags(r, 1+r.IntN(2))...)
			case 4:
				err = tx.SetMRR(some(), randTime(r), int64(r.IntN(4))*2500)
			case 5:
				err = tx.DeleteCustomer(some())
			case 6, 7:
				u := some()
				var c Customer
				if c, err = tx.Customer(u); err == nil {
					nc := randCustomerAll(r, len(*uuids))
					if r.IntN(2) == 0 { // only record-only fields
						nc = c
						nc.Name = pick(r, namePool)
						nc.Company = pick(r, []string{"Acme", "Bolt", "", "Zed"})
					}
					nc.UUID = u
					_, err = tx.UpdateCustomer(nc)
				}
			case 8, 9: // a bulk change of a segment
				e := randExpr(r, 1)
				var seg *Segment
				if seg, err = tx.Segment(e); err == nil {
					named.Or(seg.IDs())
					if r.IntN(2) == 0 {
						_, err = tx.AddTagsToSegment(e, randTags(r, 1)...)
					} else {
						_, err = tx.RemoveTagsFromSegment(e, randTags(r, 1)...)
					}
				}
			case 10:
				tag := pick(r, tagPool)
				live, _ := tx.bitmap(bmKey{bkLive, ""})
				ids := roaring.New()
				for it := live.Iterator(); it.HasNext(); {
					if id := it.Next(); r.IntN(3) == 0 {
						ids.Add(id)
					}
				}
				if old, _ := tx.bitmap(bmKey{bkTag, tag}); old != nil {
					named.Or(roaring.Xor(old, ids))
				} else {
					named.Or(ids)
				}
				_, _, err = tx.SetTagMembers(tag, ids)
			}
			if err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrDuplicate) {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("step %d: update: %v", step, err)
	}
	*uuids = append(*uuids, created...)
	return "update", named
}
