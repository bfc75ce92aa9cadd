package tagseg

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// strField is a customer's value of a sorted field as queries compare it.
func strField(c Customer, field string) string {
	switch field {
	case "name":
		return c.Name
	case "company":
		return c.Company
	case "email":
		return strings.ToLower(c.Email)
	case "external_id":
		return c.ExternalID
	}
	panic(field)
}

var strQueryPool = []string{"", "Acme", "acme", "Acme Inc", "B", "Globex", "a@x.com", "A@X.COM", "e1", "zz", "é"}

func randStrCustomer(r *rand.Rand, i int) Customer {
	c := Customer{
		Name:       pick(r, []string{"Acme", "Acme Inc", "Bo", "", "Globex", "é"}),
		Company:    pick(r, []string{"Acme", "acme", "Globex", "", "Initech"}),
		Email:      pick(r, []string{"a@x.com", "A@x.com", "b@y.org", "", "zz@q.io"}),
		ExternalID: pick(r, []string{"e1", "e2", "x", ""}),
		Country:    pick(r, countryPool),
	}
	if c.ExternalID != "" {
		c.ExternalID += fmt.Sprint("-", i)
	}
	return c
}

// TestStringFieldsModel runs random writes — creates, updates, deletes,
// one by one and in batches, and Load — and compares every operator on
// name, company, email and external_id with a model of plain maps: on the
// index's snapshots, inside a batch (its own writes) and through a bulk
// change inside a batch. The index is built once and then follows the
// commits; Load drops it.
func TestStringFieldsModel(t *testing.T) {
	seed := testSeed(t)
	r := newRand(seed)
	ix := openTest(t)
	m := map[string]Customer{} // by UUID
	byID := map[uint32]string{}
	n := 0
	members := func(seg *Segment) []string {
		out := []string{}
		for id := range seg.IDs().Iterate {
			out = append(out, byID[id])
		}
		slices.Sort(out)
		return out
	}
	randQuery := func() Expr {
		return Where(pick(r, []string{"name", "company", "email", "external_id"}), Op(r.IntN(6)), pick(r, strQueryPool))
	}
	check := func(segment func(Expr) (*Segment, error), mm map[string]Customer, where string) {
		t.Helper()
		for range 16 {
			e := randQuery()
			want := []string{}
			for u, c := range mm {
				if cmpOp(strField(c, e.n.field), e.n.op, strField(Customer{Name: e.n.value.(string), Company: e.n.value.(string), Email: e.n.value.(string), ExternalID: e.n.value.(string)}, e.n.field)) {
					want = append(want, u)
				}
			}
			slices.Sort(want)
			seg, err := segment(e)
			if err != nil {
				t.Fatalf("seed %d: %s: %s: %v", seed, where, e, err)
			}
			if d := cmp.Diff(want, members(seg)); d != "" {
				t.Fatalf("seed %d: %s: %s (-model +index):\n%s", seed, where, e, d)
			}
		}
	}
	create := func(tx *Tx, mm map[string]Customer) error {
		c, err := tx.CreateCustomer(randStrCustomer(r, n))
		n++
		if err != nil {
			return err
		}
		c.Tags = nil
		mm[c.UUID] = c
		byID[c.ID] = c.UUID
		return nil
	}
	update := func(tx *Tx, mm map[string]Customer) error {
		if len(mm) == 0 {
			return nil
		}
		c := randStrCustomer(r, n)
		n++
		c.UUID = pick(r, slices.Sorted(maps.Keys(mm)))
		got, err := tx.UpdateCustomer(c)
		got.Tags, got.MRR = nil, 0
		mm[c.UUID] = got
		return err
	}
	del := func(tx *Tx, mm map[string]Customer) error {
		if len(mm) == 0 {
			return nil
		}
		u := pick(r, slices.Sorted(maps.Keys(mm)))
		delete(mm, u)
		return tx.DeleteCustomer(u)
	}
	ops := []func(tx *Tx, mm map[string]Customer) error{create, create, update, del}
	for step := range 150 {
		where := fmt.Sprintf("step %d", step)
		switch k := r.IntN(20); {
		case k < 12: // one write
			if err := ix.Update(func(tx *Tx) error { return pick(r, ops)(tx, m) }); err != nil {
				t.Fatal(err)
			}
		case k < 19: // a batch, its own reads checked inside
			mm := maps.Clone(m)
			err := ix.Update(func(tx *Tx) error {
				for range 1 + r.IntN(8) {
					if err := pick(r, ops)(tx, mm); err != nil {
						return err
					}
				}
				check(tx.Segment, mm, where+", inside the batch")
				// A bulk change evaluates on the batch's view too.
				e := randQuery()
				want, err := tx.Segment(e)
				if err != nil {
					return err
				}
				changed, err := tx.AddTagsToSegment(e, "bulk")
				if err != nil {
					return err
				}
				if changed != int(want.Count()) {
					return fmt.Errorf("bulk change of %s changed %d, the segment has %d", e, changed, want.Count())
				}
				_, err = tx.RemoveTagsFromSegment(All(), "bulk")
				return err
			})
			if err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			m = mm
		default: // Load: drops the index
			var cs []Customer
			for range 5 {
				c := randStrCustomer(r, n)
				c.UUID = fmt.Sprint("cus_load_", n)
				n++
				cs = append(cs, c)
			}
			if _, err := ix.Load(func(yield func(Customer, []MRRChange) bool) {
				for _, c := range cs {
					if !yield(c, nil) {
						return
					}
				}
			}); err != nil {
				t.Fatal(err)
			}
			for _, c := range cs {
				got, err := ix.Customer(c.UUID)
				if err != nil {
					t.Fatal(err)
				}
				got.Tags = nil
				m[c.UUID] = got
				byID[got.ID] = c.UUID
			}
		}
		check(ix.Segment, m, where)
	}
	builds := 0
	for _, c := range ix.sorted.count {
		builds += c
	}
	t.Logf("seed %d: %d customers, %d index builds", seed, len(m), builds)
}

// TestSortedIndexFollowsCommits commits while a build runs: the build
// takes up the commits, so later reads find the index without building
// it again, and answer with the commits.
func TestSortedIndexFollowsCommits(t *testing.T) {
	ix := openTest(t)
	for i := range 50 {
		mustCreate(t, ix, Customer{Name: fmt.Sprint("n", i%7), Company: "Acme"})
	}
	f := fieldByName["name"]
	buildHook = func() {
		for range 3 {
			mustCreate(t, ix, Customer{Name: "during", Company: "Acme"})
		}
	}
	defer func() { buildHook = nil }()
	// The read that builds is on the snapshot before the commits.
	if n, err := ix.Count(Where("name", Eq, "during")); err != nil || n != 0 {
		t.Fatalf("name:during counts %d, %v; want 0", n, err)
	}
	buildHook = nil
	if n, err := ix.Count(Where("name", Eq, "during")); err != nil || n != 3 {
		t.Fatalf("name:during counts %d, %v; want 3", n, err)
	}
	if ix.sorted.count[f.slot] != 1 {
		t.Fatalf("%d builds", ix.sorted.count[f.slot])
	}
	for i := range 20 {
		mustCreate(t, ix, Customer{Name: "after"})
		if n, err := ix.Count(Where("name", Gte, "after")); err != nil || n != uint64(54+i) {
			t.Fatalf("name >= after counts %d, %v; want %d", n, err, 54+i)
		}
	}
	if ix.sorted.count[f.slot] != 1 {
		t.Fatalf("%d builds under steady writes, want 1", ix.sorted.count[f.slot])
	}
}

// TestSortedIndexContext gives up a build whose context ends, and a later
// read builds it.
func TestSortedIndexContext(t *testing.T) {
	ix := openTest(t)
	for i := range 20 {
		mustCreate(t, ix, Customer{Company: fmt.Sprint("c", i)})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := ix.CountContext(ctx, Where("company", Gt, "c1")); !errors.Is(err, context.Canceled) {
		t.Fatalf("CountContext with a cancelled context: %v", err)
	}
	if n, err := ix.Count(Where("company", Gt, "c1")); err != nil || n != 18 {
		t.Fatalf("company > c1 counts %d, %v; want 18", n, err)
	}
}

// TestSortedIndexStaleSnapshot reads in a View that began before a commit
// and before the index was built: the index is built on the latest
// snapshot, and the View's read answers from the records, as of its own.
func TestSortedIndexStaleSnapshot(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stale.db")
	ix := openTestAt(t, path, &Options{NoSync: true})
	mustCreate(t, ix, Customer{Name: "old"})
	err := ix.View(func(tx *Tx) error {
		done := make(chan error)
		go func() { _, err := ix.CreateCustomer(Customer{Name: "new"}); done <- err }()
		if err := <-done; err != nil {
			return err
		}
		if n, err := ix.Count(Where("name", Gte, "a")); err != nil || n != 2 { // builds on the latest
			return fmt.Errorf("latest: %d, %v", n, err)
		}
		n, err := tx.Count(Where("name", Gte, "a"))
		if err != nil || n != 1 {
			return fmt.Errorf("the View's snapshot: %d, %v; want 1", n, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestBulkChangeBeforeWriter checks that Index.AddTagsToSegment evaluates
// its segment before it takes the writer (a write in between does not
// wait), on the latest snapshot: a member deleted meanwhile is skipped,
// a customer that entered meanwhile is not changed.
func TestBulkChangeBeforeWriter(t *testing.T) {
	ix := openTest(t)
	var us []string
	for i := range 5 {
		us = append(us, mustCreate(t, ix, Customer{Company: fmt.Sprint("Acme ", i)}).UUID)
	}
	segmentTagsHook = func() {
		if err := ix.DeleteCustomer(us[0]); err != nil {
			t.Error(err)
		}
		mustCreate(t, ix, Customer{Company: "Acme late"})
	}
	defer func() { segmentTagsHook = nil }()
	changed, err := ix.AddTagsToSegment(Where("company", Prefix, "Acme"), "acme")
	if err != nil || changed != 4 {
		t.Fatalf("AddTagsToSegment: %d, %v; want 4", changed, err)
	}
	segmentTagsHook = nil
	if n, _ := ix.Count(Tag("acme")); n != 4 {
		t.Fatalf("%d tagged, want 4", n)
	}
	if n, _ := ix.Count(And(Where("company", Eq, "Acme late"), Tag("acme"))); n != 0 {
		t.Fatal("the customer created after the evaluation was tagged")
	}
	if changed, err := ix.RemoveTagsFromSegment(Where("company", Gte, "Acme 3"), "acme"); err != nil || changed != 2 {
		t.Fatalf("RemoveTagsFromSegment: %d, %v; want 2", changed, err)
	}
	if _, err := ix.AddTagsToSegment(All(), "ok", ""); !errors.Is(err, ErrInvalidTag) {
		t.Fatalf("invalid tag: %v", err)
	}
}

// TestRecordString: the sorted fields' values read out of stored records
// without decoding them, for records of both versions and with a journal
// position (a customer written after a bulk tag change): the values a full
// decode gives. Then end to end: name and email queries of a file whose
// records carry journal positions, with the string index built at Open.
func TestRecordString(t *testing.T) {
	c := Customer{UUID: "cus_" + strings.Repeat("u", 200), DataSourceUUID: "ds", ExternalID: "ext-1", Name: "Ünïcode ☃",
		Email: "A@B.example", Company: "Acme", Country: "DE", Tags: []string{"t"}}
	for _, seq := range []uint64{0, 1, 300, 1 << 40} {
		v := encodeRecord(&record{id: 7, seq: seq, c: c})
		vs := map[string][]byte{"version 2": v}
		if seq == 0 { // version 1: no journal position
			vs["version 1"] = append([]byte{1}, v[2:]...)
		}
		for what, v := range vs {
			r, err := decodeRecord(7, v)
			if err != nil {
				t.Fatalf("seq %d, %s: %v", seq, what, err)
			}
			for _, name := range []string{"name", "email", "company", "external_id"} {
				f := lookupField(name)
				got, err := recordString(seal(v), f)
				want := *f.str(&r.c)
				if f.lower {
					want = strings.ToLower(want)
				}
				if err != nil || got != want {
					t.Errorf("seq %d, %s: %s: %q, %v; want %q", seq, what, name, got, err, want)
				}
			}
		}
	}

	path := filepath.Join(t.TempDir(), "j.db")
	ix := openTestAt(t, path, &Options{NoSync: true})
	for i := range 6 {
		mustCreate(t, ix, Customer{UUID: fmt.Sprintf("cus_%d", i), Name: fmt.Sprintf("N%d", i), Email: fmt.Sprintf("e%d@x.test", i)})
	}
	for i := range 3 { // journal entries, then records written after them
		if _, err := ix.AddTagsToSegment(All(), fmt.Sprintf("bulk-%d", i)); err != nil {
			t.Fatal(err)
		}
		if _, err := ix.AddTags(fmt.Sprintf("cus_%d", i), "own"); err != nil {
			t.Fatal(err)
		}
	}
	ix.Close()
	ix = openTestAt(t, path, &Options{NoSync: true})
	for i := range 6 {
		for _, q := range []string{fmt.Sprintf("name:N%d", i), fmt.Sprintf("email:e%d@x.test", i)} {
			e, err := Parse(q)
			if err != nil {
				t.Fatal(err)
			}
			seg := mustSegment(t, ix, e)
			if seg.Count() != 1 {
				t.Errorf("%s: %d customers, want 1", q, seg.Count())
			}
		}
	}
}
