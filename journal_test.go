package tagseg

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	bolt "go.etcd.io/bbolt"
)

// TestModelSmallJournal is TestModel with the tag journal bounded to a
// few entries, so that commits fold it into the records all the time.
func TestModelSmallJournal(t *testing.T) {
	defer func(n int, m uint64) { journalMaxEntries, journalMinIDs = n, m }(journalMaxEntries, journalMinIDs)
	journalMaxEntries, journalMinIDs = 3, 8
	TestModel(t)
}

// rawRecords returns every stored record's bytes by key.
func rawRecords(t *testing.T, ix *Index) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := ix.view(func(_ *state, btx *bolt.Tx) error {
		return btx.Bucket(bktCust).ForEach(func(k, v []byte) error {
			out[string(k)] = bytes.Clone(v)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Bulk tag writes change bitmaps and the journal, not records: a customer
// read applies the entries after its record, in order, with the order of
// Customer.Tags as if the records had been rewritten; a write of the
// customer folds them into its record; reopening reads the journal back.
func TestJournalBulkWritesNoRecords(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.db")
	ix := openTestAt(t, path, &Options{NoSync: true})
	var uuids []string
	for i := range 300 {
		c := mustCreate(t, ix, Customer{Tags: []string{"base", fmt.Sprint("m", i%3)}})
		uuids = append(uuids, c.UUID)
	}
	before := rawRecords(t, ix)
	steps := []struct {
		do   func() error
		want func(i int) []string
	}{
		{func() error { _, err := ix.AddTagsToSegment(Tag("m0"), "x", "y"); return err }, nil},
		{func() error { _, err := ix.RemoveTagsFromSegment(All(), "base"); return err }, nil},
		{func() error { _, err := ix.AddTagsToSegment(Tag("m1"), "base"); return err }, nil},
		{func() error {
			seg := mustSegment(t, ix, Tag("m2"))
			_, _, err := ix.SetTagMembers("x", seg.IDs())
			return err
		}, nil},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatal(err)
		}
	}
	if d := cmp.Diff(before, rawRecords(t, ix)); d != "" {
		t.Fatalf("bulk tag writes rewrote records:\n%s", d)
	}
	want := func(i int) []string {
		switch i % 3 {
		case 0:
			return []string{"m0", "y"} // x added then taken by SetTagMembers; base removed
		case 1:
			return []string{"m1", "base"} // base removed, then added again: at the end
		}
		return []string{"m2", "x"}
	}
	check := func(where string) {
		t.Helper()
		for i, u := range uuids {
			c, err := ix.Customer(u)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(c.Tags, want(i)) {
				t.Fatalf("%s: customer %d: tags %v, want %v", where, i, c.Tags, want(i))
			}
		}
		got := maps.Collect(ix.Tags())
		wantTags := map[string]uint64{"m0": 100, "m1": 100, "m2": 100, "y": 100, "base": 100, "x": 100}
		if d := cmp.Diff(wantTags, got); d != "" {
			t.Fatalf("%s: Tags (-want +got):\n%s", where, d)
		}
	}
	check("after the bulk writes")
	// A page of customers, in one read.
	seg := mustSegment(t, ix, All())
	i := 0
	for c, err := range seg.ReadCustomers(0) {
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(c.Tags, want(i)) {
			t.Fatalf("page: customer %d: tags %v, want %v", i, c.Tags, want(i))
		}
		i++
	}
	// A write of one customer folds the journal into its record.
	if _, err := ix.AddTags(uuids[1], "z"); err != nil {
		t.Fatal(err)
	}
	r := rawRecords(t, ix)
	got, err := openRecord(1, r[string(u32key(nil, 1))])
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.c.Tags, []string{"m1", "base", "z"}) || got.seq != 6 {
		t.Errorf("record after AddTags: tags %v seq %d, want [m1 base z] and 6", got.c.Tags, got.seq)
	}
	ix.Close()
	ix = openTestAt(t, path, &Options{NoSync: true})
	seg = mustSegment(t, ix, All())
	i = 0
	for c, err := range seg.ReadCustomers(0) {
		if err != nil {
			t.Fatal(err)
		}
		w := want(i)
		if i == 1 {
			w = []string{"m1", "base", "z"}
		}
		if !slices.Equal(c.Tags, w) {
			t.Fatalf("after reopen: customer %d: tags %v, want %v", i, c.Tags, w)
		}
		i++
	}
}

// A commit that leaves the journal past its bounds folds the oldest
// entries into the records they name and drops them.
func TestJournalFolds(t *testing.T) {
	defer func(n int, m uint64) { journalMaxEntries, journalMinIDs = n, m }(journalMaxEntries, journalMinIDs)
	journalMaxEntries, journalMinIDs = 2, 1<<20
	path := filepath.Join(t.TempDir(), "j.db")
	ix := openTestAt(t, path, &Options{NoSync: true})
	for range 50 {
		mustCreate(t, ix, Customer{Tags: []string{"a"}})
	}
	for i := range 5 {
		if _, err := ix.AddTagsToSegment(All(), fmt.Sprint("t", i)); err != nil {
			t.Fatal(err)
		}
	}
	st := ix.cur.Load()
	if len(st.journal) != 2 || st.jseq != 5 || st.journal[0].seq != 4 {
		t.Fatalf("journal after 5 bulk writes with room for 2: %d entries, jseq %d", len(st.journal), st.jseq)
	}
	var entries int
	ix.view(func(_ *state, btx *bolt.Tx) error {
		return btx.Bucket(bktJr).ForEach(func(k, _ []byte) error {
			if len(k) == 8 {
				entries++
			}
			return nil
		})
	})
	if entries != 2 {
		t.Errorf("%d journal entries stored, want 2", entries)
	}
	r := rawRecords(t, ix)
	rec, err := openRecord(0, r[string(u32key(nil, 0))])
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rec.c.Tags, []string{"a", "t0", "t1", "t2"}) || rec.seq != 3 {
		t.Errorf("record 0: tags %v seq %d, want [a t0 t1 t2] and 3", rec.c.Tags, rec.seq)
	}
	c, err := ix.Customer(rec.c.UUID)
	if err != nil || !slices.Equal(c.Tags, []string{"a", "t0", "t1", "t2", "t3", "t4"}) {
		t.Errorf("customer 0: %v, %v", c.Tags, err)
	}
}

// A file of format 2 (no journal, records of version 1) opens: read-only
// as it is, writable made format 3.
func TestOpenFormat2(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v2.db")
	ix := openTestAt(t, path, &Options{NoSync: true})
	var uuids []string
	for i := range 20 {
		uuids = append(uuids, mustCreate(t, ix, Customer{Tags: []string{"a", fmt.Sprint("b", i%2)}}).UUID)
	}
	ix.Close()
	editFile(t, path, func(btx *bolt.Tx) error {
		if err := btx.DeleteBucket(bktJr); err != nil {
			return err
		}
		meta := btx.Bucket(bktMeta)
		if err := meta.Delete(keyJSeq); err != nil {
			return err
		}
		if err := meta.Put(keyVersion, u32key(nil, 2)); err != nil {
			return err
		}
		cust := btx.Bucket(bktCust)
		recs := map[string][]byte{}
		cust.ForEach(func(k, v []byte) error { recs[string(k)] = bytes.Clone(v); return nil })
		for k, v := range recs {
			b, err := openVal(v)
			if err != nil || b[0] != recordVersion || b[1] != 0 {
				return fmt.Errorf("record %x: not of version 2 with seq 0", k)
			}
			if err := cust.Put([]byte(k), seal(append([]byte{1}, b[2:]...))); err != nil {
				return err
			}
		}
		return nil
	})
	version := func() uint32 {
		var v uint32
		db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		db.View(func(btx *bolt.Tx) error { v = binary.BigEndian.Uint32(btx.Bucket(bktMeta).Get(keyVersion)); return nil })
		db.Close()
		return v
	}
	ro, err := Open(path, &Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only Open of format 2: %v", err)
	}
	if c, err := ro.Customer(uuids[3]); err != nil || !slices.Equal(c.Tags, []string{"a", "b1"}) {
		t.Errorf("read-only, format 2: %v, %v", c.Tags, err)
	}
	ro.Close()
	if v := version(); v != 2 {
		t.Fatalf("a read-only Open changed the format to %d", v)
	}
	ix = openTestAt(t, path, &Options{NoSync: true})
	var v uint32
	ix.db.View(func(btx *bolt.Tx) error { v = binary.BigEndian.Uint32(btx.Bucket(bktMeta).Get(keyVersion)); return nil })
	if v != formatVersion {
		t.Errorf("format after a writable Open: %d, want %d", v, formatVersion)
	}
	if _, err := ix.AddTagsToSegment(Tag("b0"), "c"); err != nil {
		t.Fatal(err)
	}
	if c, err := ix.Customer(uuids[2]); err != nil || !slices.Equal(c.Tags, []string{"a", "b0", "c"}) {
		t.Errorf("after a bulk write on the upgraded file: %v, %v", c.Tags, err)
	}
}
