package tagseg

import (
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Regression tests for bugs the reliability tests found, each small and
// aimed at the one bug.

// Check ran bbolt's page check in a read transaction, which bbolt documents
// as unsafe alongside a writer, and reloaded the file in several read
// transactions that could see different commits: under concurrent writes it
// reported corruption that was not there.
func TestCheckAlongsideWriter(t *testing.T) {
	ix := openTest(t)
	c := mustCreate(t, ix, Customer{Email: "a@b.c"})
	var done atomic.Bool
	var wg sync.WaitGroup
	wg.Go(func() {
		defer done.Store(true)
		for i := range 300 {
			if _, err := ix.AddTags(c.UUID, fmt.Sprint("t", i)); err != nil {
				t.Error(err)
				return
			}
			if _, err := ix.CreateCustomer(Customer{Tags: []string{"x"}}); err != nil {
				t.Error(err)
				return
			}
		}
	})
	checks := 0
	for !done.Load() {
		if err := ix.Check(); err != nil {
			t.Fatalf("Check alongside a writer, after %d good ones: %v", checks, err)
		}
		checks++
	}
	wg.Wait()
	t.Logf("%d checks alongside 600 writes", checks)
}

// Check compared the in-memory email table with the one loaded from the
// file entry by entry, but which ID of a shared email hash the table keeps
// first depends on the order a batch applied them (map order): a batch
// creating customers who share a new email made Check report corruption.
func TestCheckEmailTableOrder(t *testing.T) {
	ix := openTest(t)
	for round := range 5 {
		email := fmt.Sprintf("shared%d@x.com", round)
		err := ix.Update(func(tx *Tx) error {
			for range 20 {
				if _, err := tx.CreateCustomer(Customer{Email: email}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := ix.Check(); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
	}
}

// Reads that use both the in-memory state and a bbolt read transaction
// (CustomersByEmail: records from the file, MRR from memory; name, company
// and external_id conditions: records from the file, live set and tags from
// memory) could begin their read transaction after a writer's commit and
// before the writer applied it in memory, and return a mix of the two
// states. Here every committed state has MRR = 100 × the number of tags of
// the customer, and a torn read breaks that.
func TestReadsDoNotMixCommits(t *testing.T) {
	writes := 300
	if testing.Short() || raceEnabled {
		writes = 120
	}
	// Durable writes: the fsync widens the window between commit and apply.
	ix := openTestAt(t, filepath.Join(t.TempDir(), "mix.db"), nil)
	c := mustCreate(t, ix, Customer{Email: "mix@x.com", Name: "Mix", Tags: []string{"n"}})
	if err := ix.SetMRR(c.UUID, day(2024, 1, 1), 100); err != nil {
		t.Fatal(err)
	}
	var done atomic.Bool
	var wg sync.WaitGroup
	var reads atomic.Int64
	for range 2 {
		wg.Go(func() {
			for !done.Load() {
				cs, err := ix.CustomersByEmail("mix@x.com")
				if err != nil || len(cs) != 1 {
					t.Errorf("CustomersByEmail: %v, %v", cs, err)
					return
				}
				if got := cs[0]; got.MRR != 100*int64(len(got.Tags)) {
					t.Errorf("torn read: %d tags and MRR %d", len(got.Tags), got.MRR)
					return
				}
				// The customer is replaced in every batch: exactly one is
				// named Mix and tagged "n" in every committed state.
				seg, err := ix.Segment(And(Where("name", Eq, "Mix"), Tag("n")))
				if err != nil || seg.Count() != 1 {
					t.Errorf("torn read: %d customers named Mix and tagged n, err %v", seg.Count(), err)
					return
				}
				reads.Add(1)
			}
		})
	}
	u := c.UUID
	var err error
	for i := 0; i < writes && err == nil; i++ {
		err = ix.Update(func(tx *Tx) error {
			old, err := tx.Customer(u)
			if err != nil {
				return err
			}
			if err := tx.DeleteCustomer(u); err != nil {
				return err
			}
			nc, err := tx.CreateCustomer(Customer{Email: "mix@x.com", Name: "Mix", Tags: append(old.Tags, fmt.Sprint("t", i))})
			if err != nil {
				return err
			}
			u = nc.UUID
			return tx.SetMRR(u, time.Unix(0, 0).Add(time.Duration(i)*time.Hour), 100*int64(len(old.Tags)+1))
		})
	}
	done.Store(true)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d writes, %d pairs of reads", writes, reads.Load())
}
