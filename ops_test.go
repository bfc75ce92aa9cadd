package tagseg

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Operations: Close with work in flight, use after Close, a second Open of
// a held file, read-only opens.

// TestCloseWaitsForWrite closes the index while a writer is inside Update:
// Close returns after the write, which is committed and durable, and every
// later call gives ErrClosed.
func TestCloseWaitsForWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "close.db")
	ix, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ix.CreateCustomer(Customer{Tags: []string{"before"}})
	if err != nil {
		t.Fatal(err)
	}
	inside, release := make(chan struct{}), make(chan struct{})
	var updErr error
	updDone := make(chan struct{})
	go func() {
		defer close(updDone)
		updErr = ix.Update(func(tx *Tx) error {
			close(inside)
			<-release
			_, err := tx.AddTags(c.UUID, "during-close")
			return err
		})
	}()
	<-inside
	closeDone := make(chan error, 1)
	go func() { closeDone <- ix.Close() }()
	select {
	case err := <-closeDone:
		t.Fatalf("Close returned (%v) while a write was in progress", err)
	case <-time.After(200 * time.Millisecond):
	}
	// Reads go on while Close waits for the writer.
	if s, err := ix.Segment(Tag("before")); err != nil || s.Count() != 1 {
		t.Fatalf("a read while Close waits: %v, %v", s, err)
	}
	close(release)
	<-updDone
	if updErr != nil {
		t.Fatalf("the write in progress at Close: %v", updErr)
	}
	select {
	case err := <-closeDone:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return after the write")
	}
	if _, err := ix.AddTags(c.UUID, "after"); !errors.Is(err, ErrClosed) {
		t.Errorf("AddTags after Close: %v, want ErrClosed", err)
	}
	if err := ix.Update(func(*Tx) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("Update after Close: %v, want ErrClosed", err)
	}
	if _, err := ix.Segment(All()); !errors.Is(err, ErrClosed) {
		t.Errorf("Segment after Close: %v, want ErrClosed", err)
	}
	if err := ix.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close: %v, want ErrClosed", err)
	}
	// The write is in the file.
	ix = openTestAt(t, path, nil)
	got, err := ix.Customer(c.UUID)
	if err != nil || len(got.Tags) != 2 || got.Tags[1] != "during-close" {
		t.Fatalf("after reopen: %v, %v", got.Tags, err)
	}
}

// TestCloseUnderLoad closes the index while readers and writers run: each
// call succeeds or gives ErrClosed, nothing panics or hangs, and what was
// acknowledged is in the file.
func TestCloseUnderLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "load.db")
	ix, err := Open(path, &Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	c, err := ix.CreateCustomer(Customer{Email: "a@b.c"})
	if err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var acked atomic.Int64
	var wg sync.WaitGroup
	bad := func(err error) bool { return err != nil && !errors.Is(err, ErrClosed) }
	for g := range 4 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				var err error
				switch (g + i) % 6 {
				case 0:
					_, err = ix.AddTags(c.UUID, "t")
					if err == nil {
						acked.Add(1)
					}
				case 1:
					_, err = ix.CreateCustomer(Customer{Tags: []string{"load"}})
					if err == nil {
						acked.Add(1)
					}
				case 2:
					_, err = ix.Segment(Tag("load"))
				case 3:
					_, err = ix.TagStats(All(), TagStatsOptions{})
				case 4:
					_, err = ix.CustomersByEmail("A@B.C")
				case 5:
					for range ix.Tags() {
					}
					s, serr := ix.Segment(All())
					if err = serr; err == nil {
						for range s.Customers() {
						}
					}
				}
				if bad(err) {
					t.Errorf("goroutine %d: %v", g, err)
					return
				}
				if errors.Is(err, ErrClosed) {
					return
				}
			}
		})
	}
	time.Sleep(100 * time.Millisecond)
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		stop.Store(true)
		t.Fatal("calls after Close did not return ErrClosed")
	}
	ix = openTestAt(t, path, nil)
	n := mustSegment(t, ix, Tag("load")).Count()
	t.Logf("%d writes acknowledged before Close; %d customers created", acked.Load(), n)
}

// TestCloseInsideIteration closes the index from the body of its
// iterators: they stop, without a deadlock.
func TestCloseInsideIteration(t *testing.T) {
	for _, which := range []string{"Customers", "Tags", "SavedSegments"} {
		t.Run(which, func(t *testing.T) {
			ix, err := Open(filepath.Join(t.TempDir(), "it.db"), &Options{NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			err = ix.Update(func(tx *Tx) error {
				for range 1000 {
					if _, err := tx.CreateCustomer(Customer{Tags: []string{"a", "b", "c"}}); err != nil {
						return err
					}
				}
				return nil
			})
			if err == nil {
				err = ix.SaveSegment("s1", "tag:a")
			}
			if err == nil {
				err = ix.SaveSegment("s2", "tag:b")
			}
			if err != nil {
				t.Fatal(err)
			}
			seen := 0
			closeOnce := func() {
				if seen++; seen == 1 {
					if err := ix.Close(); err != nil {
						t.Fatal(err)
					}
				}
			}
			switch which {
			case "Customers":
				s := mustSegment(t, ix, All())
				for range s.Customers() {
					closeOnce()
				}
				// The batch read before Close is yielded; nothing after.
				if seen > 256 {
					t.Errorf("%d customers yielded after Close", seen-1)
				}
			case "Tags":
				for range ix.Tags() {
					closeOnce()
				}
			case "SavedSegments":
				for range ix.SavedSegments() {
					closeOnce()
				}
			}
			if _, err := ix.Segment(All()); !errors.Is(err, ErrClosed) {
				t.Errorf("after Close: %v", err)
			}
		})
	}
}

// TestTxAfterUpdate uses a *Tx after its Update returned: ErrClosed.
func TestTxAfterUpdate(t *testing.T) {
	ix := openTest(t)
	c := mustCreate(t, ix, Customer{Email: "a@b.c"})
	errBoom := errors.New("boom")
	for _, fnErr := range []error{nil, errBoom} {
		var kept *Tx
		if err := ix.Update(func(tx *Tx) error { kept = tx; return fnErr }); !errors.Is(err, fnErr) {
			t.Fatalf("Update: %v", err)
		}
		for name, call := range map[string]func() error{
			"AddTags":        func() error { _, err := kept.AddTags(c.UUID, "x"); return err },
			"CreateCustomer": func() error { _, err := kept.CreateCustomer(Customer{}); return err },
			"SetMRR":         func() error { return kept.SetMRR(c.UUID, day(2024, 1, 1), 1) },
			"DeleteCustomer": func() error { return kept.DeleteCustomer(c.UUID) },
			"Customer":       func() error { _, err := kept.Customer(c.UUID); return err },
			"AddTagsToSegment": func() error {
				_, err := kept.AddTagsToSegment(All(), "x")
				return err
			},
		} {
			if err := call(); !errors.Is(err, ErrClosed) {
				t.Errorf("Tx.%s after Update (fn returned %v): %v, want ErrClosed", name, fnErr, err)
			}
		}
	}
	if got, err := ix.Customer(c.UUID); err != nil || len(got.Tags) != 0 {
		t.Fatalf("a finished Tx changed the customer: %v, %v", got, err)
	}
}

// TestOpenLocked opens a file held by an Index of the same process: Open
// gives ErrLocked after Options.Timeout (2 s by default) instead of
// hanging, and a negative Timeout waits until the holder closes.
func TestOpenLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "locked.db")
	ix, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		opts *Options
		max  time.Duration
	}{
		{&Options{Timeout: 100 * time.Millisecond}, 2 * time.Second},
		{nil, 5 * time.Second}, // the default, 2 s
		{&Options{ReadOnly: true, Timeout: 100 * time.Millisecond}, 2 * time.Second},
	} {
		start := time.Now()
		other, err := Open(path, tc.opts)
		if took := time.Since(start); !errors.Is(err, ErrLocked) || took > tc.max {
			t.Errorf("Open(%+v) of a held file: %v after %v, want ErrLocked within %v", tc.opts, err, took, tc.max)
		}
		if err == nil {
			other.Close()
		}
	}
	// A negative Timeout waits for the holder.
	opened := make(chan error, 1)
	go func() {
		other, err := Open(path, &Options{Timeout: -1})
		if err == nil {
			err = other.Close()
		}
		opened <- err
	}()
	select {
	case err := <-opened:
		t.Fatalf("Open with a negative Timeout returned (%v) while the file was held", err)
	case <-time.After(300 * time.Millisecond):
	}
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-opened:
		if err != nil {
			t.Fatalf("Open after the holder closed: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Open with a negative Timeout still waits after the holder closed")
	}
}

// TestReadOnly opens a file read-only with no writer: reads work, several
// read-only opens share it, a writer is locked out, and every write gives
// ErrReadOnly and changes nothing.
func TestReadOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ro.db")
	w, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := w.CreateCustomer(Customer{Email: "a@b.c", Tags: []string{"t"}})
	if err == nil {
		err = w.SetMRR(c.UUID, day(2024, 1, 1), 700)
	}
	if err == nil {
		err = w.SaveSegment("s", "tag:t")
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ro := openTestAt(t, path, &Options{ReadOnly: true})
	ro2 := openTestAt(t, path, &Options{ReadOnly: true, Timeout: 100 * time.Millisecond})
	if _, err := Open(path, &Options{Timeout: 100 * time.Millisecond}); !errors.Is(err, ErrLocked) {
		t.Errorf("a writer while read-only opens hold the file: %v, want ErrLocked", err)
	}
	for _, ix := range []*Index{ro, ro2} {
		if s := mustSegment(t, ix, Tag("t")); s.Count() != 1 || s.MRR() != 700 {
			t.Errorf("read-only Segment: %d, %d", s.Count(), s.MRR())
		}
		if cs, err := ix.CustomersByEmail("A@B.C"); err != nil || len(cs) != 1 {
			t.Errorf("read-only CustomersByEmail: %v, %v", cs, err)
		}
		if err := ix.Check(); err != nil {
			t.Errorf("read-only Check: %v", err)
		}
	}
	for name, call := range map[string]func() error{
		"Update":         func() error { return ro.Update(func(*Tx) error { return nil }) },
		"CreateCustomer": func() error { _, err := ro.CreateCustomer(Customer{}); return err },
		"DeleteCustomer": func() error { return ro.DeleteCustomer(c.UUID) },
		"AddTags":        func() error { _, err := ro.AddTags(c.UUID, "x"); return err },
		"AddTagsByEmail": func() error { _, err := ro.AddTagsByEmail("a@b.c", "x"); return err },
		"RemoveTags":     func() error { _, err := ro.RemoveTags(c.UUID, "t"); return err },
		"SetMRR":         func() error { return ro.SetMRR(c.UUID, day(2024, 2, 1), 1) },
		"AddTagsToSegment": func() error {
			_, err := ro.AddTagsToSegment(All(), "x")
			return err
		},
		"RemoveTagsFromSegment": func() error {
			_, err := ro.RemoveTagsFromSegment(All(), "t")
			return err
		},
		"SaveSegment":   func() error { return ro.SaveSegment("s2", "*") },
		"DeleteSegment": func() error { return ro.DeleteSegment("s") },
	} {
		if err := call(); !errors.Is(err, ErrReadOnly) {
			t.Errorf("%s on a read-only index: %v, want ErrReadOnly", name, err)
		}
	}
	ro.Close()
	ro2.Close()
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(before) != string(after) {
		t.Error("read-only opens changed the file")
	}
	// Read-only, a missing file is an error (an empty one: see
	// TestReadOnlyEmptyFile).
	if _, err := Open(filepath.Join(t.TempDir(), "missing.db"), &Options{ReadOnly: true}); err == nil {
		t.Error("read-only Open of a missing file succeeded")
	}
}
