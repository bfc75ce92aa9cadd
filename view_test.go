package tagseg

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"weak"
)

// A Segment made in a View may be read on another goroutine, during the
// View and after it: each batch of its members on the View's snapshot
// while the View runs, on the latest one after. Reading the Tx's done flag
// from the other goroutine while the View ended it was a data race (go
// test -race), and a batch read just as the View ended used a bbolt
// transaction already rolled back (ErrCorrupt).
func TestSegmentOfViewOnAnotherGoroutine(t *testing.T) {
	ix := openTest(t)
	var want []string
	for i := range 300 {
		c := mustCreate(t, ix, Customer{Name: fmt.Sprint("c", i), Tags: []string{"a"}})
		want = append(want, c.UUID)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for range 4 {
		err := ix.View(func(tx *Tx) error {
			seg, err := tx.Segment(Tag("a"))
			if err != nil {
				return err
			}
			wg.Go(func() {
				for range 20 {
					var got []string
					for c, err := range seg.ReadCustomers(0) {
						if err != nil {
							errs <- err
							return
						}
						got = append(got, c.UUID)
					}
					if fmt.Sprint(got) != fmt.Sprint(want) {
						errs <- fmt.Errorf("members %d, want %d", len(got), len(want))
						return
					}
				}
			})
			return nil // ends the View while the goroutine reads
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// A Segment does not keep the transaction it was made in alive once that
// has ended (an Update's deltas, the snapshot, the bbolt transaction).
func TestSegmentDoesNotKeepItsTx(t *testing.T) {
	ix := openTest(t)
	c := mustCreate(t, ix, Customer{Tags: []string{"a"}})
	for _, update := range []bool{false, true} {
		var seg *Segment
		var wp weak.Pointer[Tx]
		fn := func(tx *Tx) error {
			wp = weak.Make(tx)
			var err error
			seg, err = tx.Segment(Tag("a"))
			return err
		}
		var err error
		if update {
			err = ix.Update(fn)
		} else {
			err = ix.View(fn)
		}
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			runtime.GC()
		}
		if wp.Value() != nil {
			t.Errorf("update %v: the Segment keeps its finished Tx alive", update)
		}
		if !seg.Contains(c.UUID) || seg.Count() != 1 {
			t.Errorf("update %v: the segment after its Tx: Contains false or count %d", update, seg.Count())
		}
		runtime.KeepAlive(seg)
	}
}

// A panic in the function given to View goes on to View's caller, as from
// Update; it is not taken for a damaged file (ErrCorrupt).
func TestViewPanicPropagates(t *testing.T) {
	ix := openTest(t)
	mustCreate(t, ix, Customer{Tags: []string{"a"}})
	for _, name := range []string{"View", "Update"} {
		got := func() (r any) {
			defer func() { r = recover() }()
			fn := func(tx *Tx) error {
				if _, err := tx.Count(Tag("a")); err != nil {
					return err
				}
				panic("the caller's bug")
			}
			var err error
			if name == "View" {
				err = ix.View(fn)
			} else {
				err = ix.Update(fn)
			}
			return err
		}()
		if got != "the caller's bug" {
			if err, ok := got.(error); ok && errors.Is(err, ErrCorrupt) {
				t.Errorf("%s: the caller's panic became %v", name, err)
			} else {
				t.Errorf("%s: recovered %v, want the caller's panic", name, got)
			}
		}
	}
	// The index goes on.
	if n, err := ix.Count(Tag("a")); err != nil || n != 1 {
		t.Errorf("Count after the panics: %d, %v", n, err)
	}
	if _, err := ix.CreateCustomer(Customer{}); err != nil {
		t.Errorf("CreateCustomer after the panics: %v", err)
	}
}
