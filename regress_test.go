package tagseg

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
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
