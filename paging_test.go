package tagseg

import (
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	bolt "go.etcd.io/bbolt"
)

// pagingModel is a plain Go model of what paging and the direct lookups
// see: customers by dense ID.
type pagingModel map[uint32]*pCust

type pCust struct {
	UUID, DS, Ext, Email string
	Tags                 []string
	MRR                  int64
}

func (m pagingModel) members(pred func(c *pCust) bool) []uint32 {
	var out []uint32
	for id, c := range m {
		if pred(c) {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// page is the projection of a customer compared with the model.
type pageRow struct {
	ID                   uint32
	UUID, DS, Ext, Email string
	Tags                 []string
	MRR                  int64
}

func rowOf(c Customer) pageRow {
	return pageRow{c.ID, c.UUID, c.DataSourceUUID, c.ExternalID, c.Email, c.Tags, c.MRR}
}

func (m pagingModel) rows(ids []uint32) []pageRow {
	out := []pageRow{}
	for _, id := range ids {
		c := m[id]
		out = append(out, pageRow{id, c.UUID, c.DS, c.Ext, c.Email, c.Tags, c.MRR})
	}
	return out
}

var pagingSegs = []struct {
	e    Expr
	pred func(c *pCust) bool
}{
	{All(), func(*pCust) bool { return true }},
	{Tag("a"), func(c *pCust) bool { return slices.Contains(c.Tags, "a") }},
	{Or(Tag("b"), Tag("c")), func(c *pCust) bool { return slices.Contains(c.Tags, "b") || slices.Contains(c.Tags, "c") }},
	{And(Tag("a"), Not(Tag("b"))), func(c *pCust) bool { return slices.Contains(c.Tags, "a") && !slices.Contains(c.Tags, "b") }},
	{Tag("nobody"), func(*pCust) bool { return false }},
}

// buildPaging fills a new index with random customers (some deleted, some
// with MRR) and returns it with its model.
func buildPaging(t *testing.T, seed uint64) (*Index, pagingModel) {
	t.Helper()
	r := newRand(seed)
	ix := openTest(t)
	m := pagingModel{}
	n := 200 + r.IntN(900)
	taken := map[string]bool{}
	err := ix.Update(func(tx *Tx) error {
		for range n {
			c := Customer{
				DataSourceUUID: pick(r, []string{"ds_1", "ds_2", "ds_3", ""}),
				ExternalID:     fmt.Sprint(r.IntN(n / 2)),
				Email:          pick(r, []string{"a@x.com", "A@X.com", "b@y.org", "", fmt.Sprintf("u%d@z.net", r.IntN(n))}),
			}
			for _, tg := range []string{"a", "b", "c"} {
				if r.IntN(3) == 0 {
					c.Tags = append(c.Tags, tg)
				}
			}
			if k := c.DataSourceUUID + "\x00" + c.ExternalID; taken[k] || r.IntN(10) == 0 {
				c.ExternalID = ""
			} else {
				taken[k] = true
			}
			got, err := tx.CreateCustomer(c)
			if err != nil {
				return err
			}
			m[got.ID] = &pCust{UUID: got.UUID, DS: c.DataSourceUUID, Ext: c.ExternalID, Email: c.Email, Tags: got.Tags}
			if r.IntN(2) == 0 {
				cents := int64(r.IntN(5000))
				if err := tx.SetMRR(got.UUID, day(2024, 1, 1), cents); err != nil {
					return err
				}
				m[got.ID].MRR = cents
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range slices.Sorted(maps.Keys(m)) {
		if r.IntN(8) == 0 {
			if err := ix.DeleteCustomer(m[id].UUID); err != nil {
				t.Fatal(err)
			}
			delete(m, id)
		}
	}
	return ix, m
}

// readPage takes up to n customers of seg from the dense ID from.
func readPage(t *testing.T, seg *Segment, from uint32, n int) []pageRow {
	t.Helper()
	out := []pageRow{}
	if n == 0 {
		return out
	}
	for c, err := range seg.ReadCustomers(from) {
		if err != nil {
			t.Fatalf("ReadCustomers(%d): %v", from, err)
		}
		out = append(out, rowOf(c))
		if len(out) == n {
			break
		}
	}
	return out
}

// TestPagingModel pages through segments with random page sizes, and
// from random cursors, and compares every page with the model: exactly
// the members from the cursor on, in dense-ID order.
func TestPagingModel(t *testing.T) {
	seed := testSeed(t)
	r := newRand(seed)
	ix, m := buildPaging(t, seed)
	for _, s := range pagingSegs {
		seg := mustSegment(t, ix, s.e)
		want := m.rows(m.members(s.pred))
		// Walk every page, cursor = last ID + 1.
		var got []pageRow
		var from uint32
		for pages := 0; ; pages++ {
			size := 1 + r.IntN(300)
			p := readPage(t, seg, from, size)
			got = append(got, p...)
			if len(p) < size {
				break
			}
			from = p[len(p)-1].ID + 1
			if pages > len(want)+1 {
				t.Fatalf("%s: paging does not end", s.e)
			}
		}
		if d := cmp.Diff(want, append([]pageRow{}, got...)); d != "" {
			t.Fatalf("%s: pages (-model +index):\n%s", s.e, d)
		}
		// Random cursors, anywhere and past the end.
		for range 20 {
			from := uint32(r.IntN(len(m) + len(m)/4 + 20))
			size := r.IntN(250)
			i, _ := slices.BinarySearchFunc(want, from, func(w pageRow, id uint32) int { return int(w.ID) - int(id) })
			exp := want[i:min(len(want), i+size)]
			if d := cmp.Diff(append([]pageRow{}, exp...), readPage(t, seg, from, size)); d != "" {
				t.Fatalf("%s: page of %d from %d (-model +index):\n%s", s.e, size, from, d)
			}
			var old []pageRow // CustomersFrom yields the same
			for c := range seg.CustomersFrom(from) {
				if len(old) == size {
					break
				}
				old = append(old, rowOf(c))
			}
			if d := cmp.Diff(append([]pageRow{}, exp...), append([]pageRow{}, old...)); d != "" {
				t.Fatalf("%s: CustomersFrom(%d) (-model +index):\n%s", s.e, from, d)
			}
		}
	}

	// Members deleted after the segment was evaluated are skipped; a
	// member's MRR and tags are read as they are now.
	seg := mustSegment(t, ix, All())
	ids := slices.Sorted(maps.Keys(m))
	for _, id := range ids {
		switch r.IntN(6) {
		case 0:
			if err := ix.DeleteCustomer(m[id].UUID); err != nil {
				t.Fatal(err)
			}
			delete(m, id)
		case 1:
			if err := ix.SetMRR(m[id].UUID, day(2024, 2, 1), 777); err != nil {
				t.Fatal(err)
			}
			m[id].MRR = 777
		}
	}
	if d := cmp.Diff(m.rows(m.members(func(*pCust) bool { return true })), readPage(t, seg, 0, len(ids)+1)); d != "" {
		t.Fatalf("after deletes (-model +index):\n%s", d)
	}
}

// TestPagingInTx: a segment made in a transaction pages on that
// transaction's view while it is open (an Update sees its own writes).
func TestPagingInTx(t *testing.T) {
	ix := openTest(t)
	for i := range 300 {
		mustCreate(t, ix, Customer{ExternalID: fmt.Sprint(i), Tags: []string{"t"}})
	}
	err := ix.Update(func(tx *Tx) error {
		c, err := tx.CreateCustomer(Customer{ExternalID: "new", Tags: []string{"t"}})
		if err != nil {
			return err
		}
		if err := tx.SetMRR(c.UUID, day(2024, 1, 1), 4200); err != nil {
			return err
		}
		seg, err := tx.Segment(Tag("t"))
		if err != nil {
			return err
		}
		var last Customer
		n := 0
		for c, err := range seg.ReadCustomers(250) {
			if err != nil {
				return err
			}
			last = c
			n++
		}
		if n != 51 || last.ExternalID != "new" || last.MRR != 4200 {
			return fmt.Errorf("pages from 250 in the batch: %d customers, last %+v", n, last)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// A segment of a rolled-back batch, read after it: the batch's
	// customers are not there.
	var kept *Segment
	errBoom := errors.New("boom")
	err = ix.Update(func(tx *Tx) error {
		if _, err := tx.CreateCustomer(Customer{ExternalID: "gone", Tags: []string{"t"}}); err != nil {
			return err
		}
		var err error
		if kept, err = tx.Segment(Tag("t")); err != nil {
			return err
		}
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Fatal(err)
	}
	var got []string
	for c, err := range kept.ReadCustomers(299) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, c.ExternalID)
	}
	if d := cmp.Diff([]string{"299", "new"}, got); d != "" {
		t.Errorf("after a rolled-back batch (-want +got):\n%s", d)
	}
}

// TestReadCustomersErrors: a read error mid-page reaches the caller of
// ReadCustomers (after the members before it); CustomersFrom ends there.
func TestReadCustomersErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.db")
	ix, err := Open(path, &Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	err = ix.Update(func(tx *Tx) error {
		for i := range 600 {
			if _, err := tx.CreateCustomer(Customer{UUID: fmt.Sprintf("cus_%03d", i)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("closed", func(t *testing.T) {
		ix, err := Open(path+".closed", &Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := ix.Update(func(tx *Tx) error {
			for range 600 {
				if _, err := tx.CreateCustomer(Customer{}); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		seg := mustSegment(t, ix, All())
		n := 0
		var got error
		for _, err := range seg.ReadCustomers(0) {
			if err != nil {
				got = err
				continue
			}
			if n++; n == 10 {
				ix.Close() // the next batch (from 32) fails
			}
		}
		if n != firstBatch || !errors.Is(got, ErrClosed) {
			t.Fatalf("closed after 10: %d customers, then %v; want %d, then ErrClosed", n, got, firstBatch)
		}
		for c := range seg.CustomersFrom(0) {
			t.Fatalf("CustomersFrom after Close yields %s", c.UUID)
		}
	})

	// Damage the record of customer 300.
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	editFile(t, path, func(btx *bolt.Tx) error {
		return btx.Bucket(bktCust).Put(u32key(nil, 300), []byte("not a record"))
	})
	ix, err = Open(path, &Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	seg := mustSegment(t, ix, All())
	for _, from := range []uint32{0, 100, 256, 300} {
		var ids []uint32
		var got error
		for c, err := range seg.ReadCustomers(from) {
			if err != nil {
				if got != nil {
					t.Fatalf("from %d: a second error %v", from, err)
				}
				got = err
				continue
			}
			ids = append(ids, c.ID)
		}
		if len(ids) != int(300-from) || len(ids) > 0 && (ids[0] != from || ids[len(ids)-1] != 299) {
			t.Errorf("from %d: customers %v..., want %d..299", from, ids[:min(3, len(ids))], from)
		}
		if !errors.Is(got, ErrCorrupt) || !strings.Contains(got.Error(), "customer 300") || !strings.Contains(got.Error(), path) {
			t.Errorf("from %d: error %v; want ErrCorrupt naming customer 300 and the path", from, got)
		}
		n := 0
		for range seg.CustomersFrom(from) {
			n++
		}
		if n != int(300-from) {
			t.Errorf("CustomersFrom(%d): %d customers, want %d (up to the damage)", from, n, 300-from)
		}
	}
	// A page that ends before the damage reads fine, though its second
	// batch (282..345) reaches it.
	if p := readPage(t, seg, 250, 40); len(p) != 40 {
		t.Errorf("page before the damage: %d customers", len(p))
	}
	// Past it, fine again.
	if p := readPage(t, seg, 301, 1000); len(p) != 299 {
		t.Errorf("page after the damage: %d customers", len(p))
	}
}

// TestLookupFilters: Where on external_id and email, = and !=, answered by
// the direct lookups, select what reading every record does (the model),
// in plain reads, nested, in a View, in an Update's own Segment (which
// reads the records) and in a tagging Update that created customers.
func TestLookupFilters(t *testing.T) {
	seed := testSeed(t)
	r := newRand(seed)
	ix, m := buildPaging(t, seed)
	check := func(where string, e Expr, pred func(c *pCust) bool) {
		t.Helper()
		seg := mustSegment(t, ix, e)
		var got []uint32
		for id := range seg.IDs().Iterate {
			got = append(got, id)
		}
		if d := cmp.Diff(m.members(pred), got); d != "" {
			t.Fatalf("%s: %s (-model +index):\n%s", where, e, d)
		}
		if n, err := ix.Count(e); err != nil || n != uint64(len(got)) {
			t.Fatalf("%s: Count(%s) = %d, %v; want %d", where, e, n, err, len(got))
		}
	}
	exts := []string{"", "0", "1", "missing"}
	emails := []string{"", "a@x.com", "A@x.COM", "b@y.org", "nobody@x"}
	for _, c := range m {
		exts = append(exts, c.Ext)
		emails = append(emails, strings.ToUpper(c.Email))
		if len(exts) > 40 {
			break
		}
	}
	for step := range 60 {
		ext, email := pick(r, exts), pick(r, emails)
		ds := pick(r, []string{"ds_1", "ds_2", "ds_3", "", "ds_none"})
		for _, op := range []Op{Eq, NotEq} {
			is := func(a, b string) bool { return (a == b) == (op == Eq) }
			where := fmt.Sprintf("step %d", step)
			check(where, Where("external_id", op, ext), func(c *pCust) bool { return is(c.Ext, ext) })
			check(where, Where("email", op, email), func(c *pCust) bool { return is(strings.ToLower(c.Email), strings.ToLower(email)) })
			check(where, And(Where("data_source", Eq, ds), Where("external_id", op, ext)),
				func(c *pCust) bool { return c.DS == ds && is(c.Ext, ext) })
			check(where, Or(Tag("a"), Not(Where("external_id", op, ext))),
				func(c *pCust) bool { return slices.Contains(c.Tags, "a") || !is(c.Ext, ext) })
		}
	}

	// In a batch: a customer created in it, in a new data source, is found
	// by the tagging Update (lookups through the batch) and by the
	// batch's own Segment (records read).
	err := ix.Update(func(tx *Tx) error {
		c, err := tx.CreateCustomer(Customer{DataSourceUUID: "ds_new", ExternalID: "0", Email: "New@X.com"})
		if err != nil {
			return err
		}
		m[c.ID] = &pCust{UUID: c.UUID, DS: "ds_new", Ext: "0", Email: "New@X.com"}
		seg, err := tx.Segment(Where("external_id", Eq, "0"))
		if err != nil {
			return err
		}
		if !seg.IDs().Contains(c.ID) {
			return fmt.Errorf("the batch's Segment misses its own customer with external ID 0")
		}
		if !seg.Contains(c.UUID) {
			return fmt.Errorf("Contains in the batch misses its own customer")
		}
		changed, err := tx.AddTagsToSegment(Where("external_id", Eq, "0"), "ext0")
		if err != nil {
			return err
		}
		want := m.members(func(c *pCust) bool { return c.Ext == "0" })
		if changed != len(want) {
			return fmt.Errorf("tagged %d customers with external ID 0, want %d", changed, len(want))
		}
		for _, id := range want {
			m[id].Tags = append(m[id].Tags, "ext0")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	check("after the batch", Tag("ext0"), func(c *pCust) bool { return c.Ext == "0" })
	check("after the batch", Where("email", Eq, "new@x.com"), func(c *pCust) bool { return c.Email == "New@X.com" })
	err = ix.View(func(tx *Tx) error {
		seg, err := tx.Segment(Where("external_id", NotEq, "0"))
		if err != nil {
			return err
		}
		if want := len(m.members(func(c *pCust) bool { return c.Ext != "0" })); seg.Count() != uint64(want) {
			return fmt.Errorf("external_id != 0 in a View: %d, want %d", seg.Count(), want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
