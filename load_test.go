package tagseg

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	bolt "go.etcd.io/bbolt"
)

// randEvents is a random MRR history as Load takes it: any order, some at
// one instant.
func randEvents(r *rand.Rand) []MRRChange {
	var out []MRRChange
	for range r.IntN(5) {
		at := day(2023, time.Month(1+r.IntN(24)), 1+r.IntN(28))
		if len(out) > 0 && r.IntN(4) == 0 {
			at = out[r.IntN(len(out))].At // the same instant again
		}
		out = append(out, MRRChange{at, int64(r.IntN(4)) * 1000})
	}
	return out
}

// sameIndex compares everything a user can read of two indexes.
func sameIndex(t *testing.T, r *rand.Rand, got, want *Index, uuids []string) {
	t.Helper()
	for _, u := range uuids {
		g, gerr := got.Customer(u)
		w, werr := want.Customer(u)
		if (gerr == nil) != (werr == nil) {
			t.Fatalf("Customer(%s): %v vs %v", u, gerr, werr)
		}
		if d := cmp.Diff(w, g); d != "" {
			t.Fatalf("Customer(%s) (-want +got):\n%s", u, d)
		}
		if w.ExternalID != "" {
			ge, gerr := got.CustomerByExternalID(w.DataSourceUUID, w.ExternalID)
			if gerr != nil || ge.UUID != u {
				t.Fatalf("CustomerByExternalID(%q, %q): %s, %v; want %s", w.DataSourceUUID, w.ExternalID, ge.UUID, gerr, u)
			}
		}
		gh, _ := got.MRRHistory(u)
		wh, _ := want.MRRHistory(u)
		if d := cmp.Diff(wh, gh); d != "" {
			t.Fatalf("MRRHistory(%s) (-want +got):\n%s", u, d)
		}
	}
	exprs := []Expr{All(), Where("mrr", Gt, 0), Where("country", Eq, "US"), Where("email", Eq, emailPool[0])}
	for range 30 {
		exprs = append(exprs, randExpr(r, 3))
	}
	for _, e := range exprs {
		gs, err := got.Segment(e)
		if err != nil {
			t.Fatalf("Segment(%v): %v", e, err)
		}
		ws, err := want.Segment(e)
		if err != nil {
			t.Fatal(err)
		}
		if gs.Count() != ws.Count() || gs.MRR() != ws.MRR() || gs.Paying() != ws.Paying() || !gs.IDs().Equals(ws.IDs()) {
			t.Fatalf("Segment(%v): count %d MRR %d paying %d, want %d %d %d", e, gs.Count(), gs.MRR(), gs.Paying(), ws.Count(), ws.MRR(), ws.Paying())
		}
		gt, _ := got.TagStats(e, TagStatsOptions{})
		wt, _ := want.TagStats(e, TagStatsOptions{})
		if d := cmp.Diff(wt, gt); d != "" {
			t.Fatalf("TagStats(%v) (-want +got):\n%s", e, d)
		}
		gp, _ := got.Series(e, day(2023, 1, 1), day(2024, 12, 31), Month)
		wp, _ := want.Series(e, day(2023, 1, 1), day(2024, 12, 31), Month)
		if d := cmp.Diff(wp, gp); d != "" {
			t.Fatalf("Series(%v) (-want +got):\n%s", e, d)
		}
	}
	gtags, wtags := map[string]uint64{}, map[string]uint64{}
	for tag, n := range got.Tags() {
		gtags[tag] = n
	}
	for tag, n := range want.Tags() {
		wtags[tag] = n
	}
	if d := cmp.Diff(wtags, gtags); d != "" {
		t.Fatalf("Tags() (-want +got):\n%s", d)
	}
}

// Load gives the index that CreateCustomer and SetMRR give, call by call,
// before and after reopening, whatever the batch size and wherever the
// index's next ID stood.
func TestLoadMatchesCreate(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	for _, batch := range []uint32{1 << 16, 64, 1} {
		t.Run(fmt.Sprint("batch=", batch), func(t *testing.T) {
			defer func(b uint32) { loadBatch = b }(loadBatch)
			loadBatch = batch
			r := rand.New(rand.NewPCG(seed, uint64(batch)))
			dir := t.TempDir()
			got := openTestAt(t, filepath.Join(dir, "load.db"), &Options{NoSync: true})
			want := openTestAt(t, filepath.Join(dir, "calls.db"), &Options{NoSync: true})
			var uuids []string
			// Some customers first, some deleted: Load starts mid-chunk.
			for i := range r.IntN(300) {
				c := randCustomer(r, 1000)
				c.UUID = fmt.Sprintf("cus_pre_%d", i)
				c.ExternalID = fmt.Sprint("pre-", i)
				for _, ix := range []*Index{got, want} {
					mustCreate(t, ix, c)
				}
				if r.IntN(5) == 0 {
					for _, ix := range []*Index{got, want} {
						if err := ix.DeleteCustomer(c.UUID); err != nil {
							t.Fatal(err)
						}
					}
				}
				uuids = append(uuids, c.UUID)
			}
			n := 500 + r.IntN(700)
			if batch == 1 {
				n = 150
			}
			var cs []Customer
			var evs [][]MRRChange
			for i := range n {
				c := randCustomer(r, 1000)
				c.UUID = fmt.Sprintf("cus_load_%d", i)
				if c.ExternalID != "" {
					c.ExternalID = fmt.Sprint("load-", i)
				}
				c.Tags = append(c.Tags, " padded ") // trimmed as by CreateCustomer
				cs = append(cs, c)
				evs = append(evs, randEvents(r))
				uuids = append(uuids, c.UUID)
			}
			loaded, err := got.Load(loadSeq(cs, evs))
			if err != nil || loaded != n {
				t.Fatalf("Load: %d, %v; want %d", loaded, err, n)
			}
			for i, c := range cs {
				mustCreate(t, want, c)
				for _, e := range evs[i] {
					if err := want.SetMRR(c.UUID, e.At, e.Cents); err != nil {
						t.Fatal(err)
					}
				}
			}
			sameIndex(t, r, got, want, uuids)
			// Writes after a load, then reopen.
			for range 20 {
				u := pick(r, uuids[len(uuids)-n:])
				for _, ix := range []*Index{got, want} {
					if _, err := ix.AddTags(u, "after"); err != nil {
						t.Fatal(err)
					}
					if err := ix.SetMRR(u, day(2024, 6, 1), 777); err != nil {
						t.Fatal(err)
					}
				}
			}
			if err := got.Check(); err != nil {
				t.Fatal(err)
			}
			sameIndex(t, r, got, want, uuids)
			got.Close()
			got = openTestAt(t, filepath.Join(dir, "load.db"), nil)
			sameIndex(t, r, got, want, uuids)
		})
	}
}

// A bad customer stops Load: the batches before its batch stay, its batch
// is rolled back whole, the count says how far it got, and a second Load
// of the rest resumes.
func TestLoadStopsAtABadCustomer(t *testing.T) {
	defer func(b uint32) { loadBatch = b }(loadBatch)
	loadBatch = 16
	for _, bad := range []struct {
		name string
		make func(cs []Customer, evs [][]MRRChange, i int) // breaks customer i
		want error
	}{
		{"duplicate external ID in the load", func(cs []Customer, _ [][]MRRChange, i int) { cs[i].ExternalID = cs[3].ExternalID }, ErrDuplicate},
		{"duplicate external ID in its batch", func(cs []Customer, _ [][]MRRChange, i int) { cs[i].ExternalID = cs[i-1].ExternalID }, ErrDuplicate},
		{"existing UUID", func(cs []Customer, _ [][]MRRChange, i int) { cs[i].UUID = "cus_existing" }, ErrDuplicate},
		{"invalid tag", func(cs []Customer, _ [][]MRRChange, i int) { cs[i].Tags = []string{"ok", ""} }, ErrInvalidTag},
		{"negative MRR", func(_ []Customer, evs [][]MRRChange, i int) { evs[i] = []MRRChange{{day(2024, 1, 1), -1}} }, ErrInvalid},
	} {
		t.Run(bad.name, func(t *testing.T) {
			ix := openTest(t)
			mustCreate(t, ix, Customer{UUID: "cus_existing"}) // ID 0: batches end at 16, 32, …
			var cs []Customer
			var evs [][]MRRChange
			for i := range 100 {
				cs = append(cs, Customer{UUID: fmt.Sprint("cus_", i), DataSourceUUID: "ds", ExternalID: fmt.Sprint("x", i), Tags: []string{"t", fmt.Sprint("t", i%3)}})
				evs = append(evs, []MRRChange{{day(2024, 1, 1), int64(100 * i)}})
			}
			const at = 40 // in the third batch: IDs 32–47
			bad.make(cs, evs, at)
			n, err := ix.Load(loadSeq(cs, evs))
			if !errors.Is(err, bad.want) {
				t.Fatalf("Load: %v, want %v", err, bad.want)
			}
			var le *LoadError
			if !errors.As(err, &le) || le.Index != at {
				t.Fatalf("Load: %v, want a *LoadError at index %d", err, at)
			}
			if n != 31 {
				t.Fatalf("Load created %d, want 31 (two batches: IDs 1–31)", n)
			}
			if c, _ := ix.Count(All()); c != 32 {
				t.Errorf("%d customers after the failed load, want 32", c)
			}
			for i, c := range cs {
				_, err := ix.Customer(c.UUID)
				if i < n && err != nil || i >= n && c.UUID != "cus_existing" && !errors.Is(err, ErrNotFound) {
					t.Fatalf("customer %d after the failed load: %v", i, err)
				}
			}
			if s := mustSegment(t, ix, Tag("t")); s.Count() != 31 || s.MRR() != 100*int64(30*31/2) {
				t.Errorf("tag t: %d members MRR %d", s.Count(), s.MRR())
			}
			if err := ix.Check(); err != nil {
				t.Fatal(err)
			}
			// Resume with the rest, the bad one left out.
			rest, restEv := slices.Delete(slices.Clone(cs[n:]), at-n, at-n+1), slices.Delete(slices.Clone(evs[n:]), at-n, at-n+1)
			m, err := ix.Load(loadSeq(rest, restEv))
			if err != nil || m != len(rest) {
				t.Fatalf("resumed Load: %d, %v; want %d", m, err, len(rest))
			}
			if c, _ := ix.Count(Tag("t")); c != 99 {
				t.Errorf("tag t after resuming: %d, want 99", c)
			}
		})
	}
}

// Load refuses in a read-only or closed index, and creates nothing from
// an empty sequence.
func TestLoadEdges(t *testing.T) {
	ix := openTest(t)
	if n, err := ix.Load(loadSeq(nil, nil)); n != 0 || err != nil {
		t.Errorf("empty Load: %d, %v", n, err)
	}
	c := mustCreate(t, ix, Customer{})
	if c.ID != 0 {
		t.Errorf("first customer after an empty load: ID %d", c.ID)
	}
	path := ix.Path()
	ix.Close()
	if _, err := ix.Load(loadSeq([]Customer{{}}, nil)); !errors.Is(err, ErrClosed) {
		t.Errorf("Load after Close: %v", err)
	}
	ro, err := Open(path, &Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if _, err := ro.Load(loadSeq([]Customer{{}}, nil)); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Load read-only: %v", err)
	}
}

// Readers never wait for a Load, and see the index as before it until it
// returns: customers of committed batches are not found yet, counts are
// the old ones, and nothing fails.
func TestReadsDuringLoad(t *testing.T) {
	defer func(b uint32) { loadBatch = b }(loadBatch)
	loadBatch = 16
	ix := openTest(t)
	old := mustCreate(t, ix, Customer{Email: "same@x.com", ExternalID: "old", Tags: []string{"t"}})
	var cs []Customer
	for i := range 3000 {
		cs = append(cs, Customer{UUID: fmt.Sprint("cus_new_", i), Email: "same@x.com", ExternalID: fmt.Sprint("new", i), Tags: []string{"t"}})
	}
	stop := make(chan struct{})
	errs := make(chan error, 1)
	var reads atomic.Int64
	go func() {
		defer close(errs)
		for {
			select {
			case <-stop:
				return
			default:
			}
			err := ix.View(func(tx *Tx) error {
				n, err := tx.Count(Tag("t"))
				if err != nil {
					return err
				}
				byEmail, err := tx.CustomersByEmail("SAME@x.com")
				if err != nil {
					return err
				}
				if int(n) != len(byEmail) {
					return fmt.Errorf("one View: %d tagged, %d by email", n, len(byEmail))
				}
				for _, u := range []string{"cus_new_0", "cus_new_1500", "cus_new_2999"} {
					_, err := tx.Customer(u)
					_, err2 := tx.MRRHistory(u)
					if (err == nil) != (n == 3001) || (err2 == nil) != (n == 3001) {
						return fmt.Errorf("count %d but Customer(%s): %v, MRRHistory: %v", n, u, err, err2)
					}
				}
				if _, err := tx.CustomerByExternalID("", "new7"); (err == nil) != (n == 3001) {
					return fmt.Errorf("count %d but CustomerByExternalID: %v", n, err)
				}
				if _, err := tx.Customer(old.UUID); err != nil {
					return err
				}
				return nil
			})
			if err != nil {
				errs <- err
				return
			}
			reads.Add(1)
		}
	}()
	n, err := ix.Load(loadSeq(cs, nil))
	close(stop)
	if err != nil || n != 3000 {
		t.Fatalf("Load: %d, %v", n, err)
	}
	if err := <-errs; err != nil {
		t.Fatalf("a read during Load: %v", err)
	}
	t.Logf("%d Views during the load", reads.Load())
	if c, _ := ix.Count(Tag("t")); c != 3001 {
		t.Errorf("after Load: %d, want 3001", c)
	}
}

// External IDs a Load staged but did not merge (a crash between its last
// batch and the merge) are found by a read-only Open and merged by a
// writable one.
func TestLoadStagedExternalIDsSurviveACrash(t *testing.T) {
	path := filepath.Join(t.TempDir(), "staged.db")
	ix, err := Open(path, &Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	var cs []Customer
	for i := range 500 {
		cs = append(cs, Customer{DataSourceUUID: "ds", ExternalID: fmt.Sprint("e", i)})
	}
	if n, err := ix.Load(loadSeq(cs, nil)); err != nil || n != 500 {
		t.Fatalf("Load: %d, %v", n, err)
	}
	for _, c := range []string{"e0", "e250", "e499"} {
		if _, err := ix.CustomerByExternalID("ds", c); err != nil {
			t.Fatalf("after Load: %v", err)
		}
	}
	ix.Close()
	// Put the file back as it was before the merge: no ext entries, and
	// extfrom saying from which customer on they are missing.
	editFile(t, path, func(btx *bolt.Tx) error {
		if err := btx.DeleteBucket(bktExt); err != nil {
			return err
		}
		if _, err := btx.CreateBucket(bktExt); err != nil {
			return err
		}
		return btx.Bucket(bktMeta).Put(keyExtFrom, idVal(0))
	})
	ro, err := Open(path, &Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if c, err := ro.CustomerByExternalID("ds", "e250"); err != nil || c.ExternalID != "e250" {
		t.Errorf("read-only, staged: %+v, %v", c, err)
	}
	if err := ro.Check(); err != nil {
		t.Errorf("Check of a file with staged entries: %v", err)
	}
	ro.Close()
	ix = openTestAt(t, path, nil)
	if _, err := ix.CreateCustomer(Customer{DataSourceUUID: "ds", ExternalID: "e7"}); !errors.Is(err, ErrDuplicate) {
		t.Errorf("creating a staged external ID again: %v, want ErrDuplicate", err)
	}
	err = ix.View(func(tx *Tx) error {
		if _, ok := extFrom(tx.btx); ok {
			t.Error("a writable Open left external IDs unmerged")
		}
		if n := tx.btx.Bucket(bktExt).Stats().KeyN; n != 500 {
			t.Errorf("%d ext entries after the merge, want 500", n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A Load of customers without external IDs leaves no extfrom behind (every
// Open after would scan the loaded records); nor does a writable Open of a
// file where a Load died before clearing it.
func TestLoadClearsExtFrom(t *testing.T) {
	path := filepath.Join(t.TempDir(), "extfrom.db")
	ix := openTestAt(t, path, &Options{NoSync: true})
	if n, err := ix.Load(loadSeq([]Customer{{Tags: []string{"a"}}, {}}, nil)); err != nil || n != 2 {
		t.Fatal(n, err)
	}
	hasMarker := func(ix *Index) (has bool) {
		ix.View(func(tx *Tx) error { _, has = extFrom(tx.btx); return nil })
		return has
	}
	if hasMarker(ix) {
		t.Error("extfrom left after a Load without external IDs")
	}
	ix.Close()
	editFile(t, path, func(btx *bolt.Tx) error { return btx.Bucket(bktMeta).Put(keyExtFrom, idVal(0)) })
	ix = openTestAt(t, path, nil)
	if hasMarker(ix) {
		t.Error("a writable Open left extfrom")
	}
}
