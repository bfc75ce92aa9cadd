package tagseg

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	bolt "go.etcd.io/bbolt"
)

// snapReads is everything a View reads, to compare two points of one View.
type snapReads struct {
	Count, Paying  uint64
	MRR            int64
	Members        []string
	ByEmail        []string
	Stats          []TagStat
	Series         []Point
	CustomerTags   []string
	AllTagsCount   uint64
	CustomerByName uint64
}

func readAll(t *testing.T, tx *Tx, uuid string) snapReads {
	t.Helper()
	var r snapReads
	seg, err := tx.Segment(Tag("vip"))
	if err != nil {
		t.Fatal(err)
	}
	r.Count, r.Paying, r.MRR = seg.Count(), seg.Paying(), seg.MRR()
	for c := range seg.Customers() {
		r.Members = append(r.Members, c.UUID+":"+fmt.Sprint(c.Tags))
	}
	cs, err := tx.CustomersByEmail("shared@x.com")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		r.ByEmail = append(r.ByEmail, c.UUID)
	}
	if r.Stats, err = tx.TagStats(All(), TagStatsOptions{}); err != nil {
		t.Fatal(err)
	}
	if r.Series, err = tx.Series(Tag("vip"), day(2024, 1, 1), day(2024, 6, 1), Month); err != nil {
		t.Fatal(err)
	}
	c, err := tx.Customer(uuid)
	if err != nil {
		t.Fatal(err)
	}
	r.CustomerTags = c.Tags
	if r.AllTagsCount, err = tx.Count(AnyTag("vip", "new")); err != nil {
		t.Fatal(err)
	}
	if r.CustomerByName, err = tx.Count(Where("name", Eq, "Ann")); err != nil {
		t.Fatal(err)
	}
	return r
}

// A View sees one snapshot from start to end while a writer commits
// changes to every kind of data it reads.
func TestViewSeesOneSnapshot(t *testing.T) {
	ix := openTest(t)
	var uuids []string
	for i := range 50 {
		c := mustCreate(t, ix, Customer{Name: "Ann", Email: "shared@x.com", Tags: []string{"vip"}, ExternalID: fmt.Sprint(i)})
		uuids = append(uuids, c.UUID)
		if err := ix.SetMRR(c.UUID, day(2024, 2, 1), int64(100*(i+1))); err != nil {
			t.Fatal(err)
		}
	}
	err := ix.View(func(tx *Tx) error {
		before := readAll(t, tx, uuids[0])
		// The writer changes what the View reads, and is not held up by it.
		done := make(chan error, 1)
		go func() {
			done <- ix.Update(func(w *Tx) error {
				if _, err := w.AddTags(uuids[0], "new"); err != nil {
					return err
				}
				if _, err := w.RemoveTags(uuids[1], "vip"); err != nil {
					return err
				}
				if err := w.SetMRR(uuids[2], day(2024, 3, 1), 999_999); err != nil {
					return err
				}
				if err := w.DeleteCustomer(uuids[3]); err != nil {
					return err
				}
				_, err := w.CreateCustomer(Customer{Name: "Ann", Email: "SHARED@x.com", Tags: []string{"vip"}})
				return err
			})
		}()
		select {
		case err := <-done:
			if err != nil {
				return err
			}
		case <-time.After(30 * time.Second):
			return errors.New("the writer waited for a View")
		}
		after := readAll(t, tx, uuids[0])
		if d := cmp.Diff(before, after); d != "" {
			t.Errorf("reads inside one View changed after a commit (-before +after):\n%s", d)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Outside, the change is visible.
	err = ix.View(func(tx *Tx) error {
		r := readAll(t, tx, uuids[0])
		// vip: 50, one untagged, one deleted, one created; by email: 50,
		// one deleted, one created.
		if r.Count != 49 || !slices.Contains(r.CustomerTags, "new") || len(r.ByEmail) != 50 || r.AllTagsCount != 49 {
			t.Errorf("after the commit: count %d, tags %v, by email %d, any(vip,new) %d; want 49, [vip new], 50, 49",
				r.Count, r.CustomerTags, len(r.ByEmail), r.AllTagsCount)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Writes in a View give ErrReadOnly and change nothing.
func TestViewWritesAreReadOnly(t *testing.T) {
	ix := openTest(t)
	c := mustCreate(t, ix, Customer{Email: "a@x.com"})
	err := ix.View(func(tx *Tx) error {
		for name, err := range map[string]error{
			"CreateCustomer": func() error { _, err := tx.CreateCustomer(Customer{}); return err }(),
			"DeleteCustomer": tx.DeleteCustomer(c.UUID),
			"AddTags":        func() error { _, err := tx.AddTags(c.UUID, "x"); return err }(),
			"RemoveTags":     func() error { _, err := tx.RemoveTags(c.UUID, "x"); return err }(),
			"AddTagsByEmail": func() error { _, err := tx.AddTagsByEmail("a@x.com", "x"); return err }(),
			"SetMRR":         tx.SetMRR(c.UUID, day(2024, 1, 1), 5),
			"AddTagsToSegment": func() error {
				_, err := tx.AddTagsToSegment(All(), "x")
				return err
			}(),
			"RemoveTagsFromSegment": func() error {
				_, err := tx.RemoveTagsFromSegment(All(), "x")
				return err
			}(),
		} {
			if !errors.Is(err, ErrReadOnly) {
				t.Errorf("%s in View: %v, want ErrReadOnly", name, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := ix.Customer(c.UUID); len(got.Tags) != 0 || got.MRR != 0 {
		t.Errorf("after writes in a View: %+v", got)
	}
	if n, _ := ix.Count(All()); n != 1 {
		t.Errorf("count %d, want 1", n)
	}
}

// In Update, the Tx reads see the batch's own writes.
func TestUpdateReadsOwnWrites(t *testing.T) {
	ix := openTest(t)
	a := mustCreate(t, ix, Customer{Tags: []string{"x"}})
	err := ix.Update(func(tx *Tx) error {
		b, err := tx.CreateCustomer(Customer{Tags: []string{"x", "y"}, Country: "US"})
		if err != nil {
			return err
		}
		if err := tx.SetMRR(b.UUID, day(2024, 1, 10), 500); err != nil {
			return err
		}
		if err := tx.SetMRR(a.UUID, day(2024, 2, 10), 300); err != nil {
			return err
		}
		seg, err := tx.Segment(Tag("x"))
		if err != nil {
			return err
		}
		if seg.Count() != 2 || seg.MRR() != 800 || seg.Paying() != 2 {
			t.Errorf("segment in the batch: count %d MRR %d paying %d, want 2 800 2", seg.Count(), seg.MRR(), seg.Paying())
		}
		var got []string
		for c := range seg.Customers() {
			got = append(got, c.UUID)
		}
		if want := []string{a.UUID, b.UUID}; !slices.Equal(got, want) {
			t.Errorf("members in the batch: %v, want %v", got, want)
		}
		if n, err := tx.Count(And(Tag("y"), Where("country", Eq, "US"), Where("mrr", Gte, 400))); err != nil || n != 1 {
			t.Errorf("count in the batch: %d, %v; want 1", n, err)
		}
		stats, err := tx.TagStats(All(), TagStatsOptions{})
		if err != nil {
			return err
		}
		want := []TagStat{{"x", 2, 800}, {"y", 1, 500}}
		if d := cmp.Diff(want, stats); d != "" {
			t.Errorf("TagStats in the batch (-want +got):\n%s", d)
		}
		pts, err := tx.Series(Tag("x"), day(2024, 1, 1), day(2024, 2, 1), Month)
		if err != nil {
			return err
		}
		if len(pts) != 2 || pts[0].MRR != 500 || pts[1].MRR != 800 || pts[1].Expansion != 0 || pts[1].NewBusiness != 300 {
			t.Errorf("series in the batch: %+v", pts)
		}
		return errors.New("roll back")
	})
	if err == nil || err.Error() != "roll back" {
		t.Fatalf("Update: %v", err)
	}
	if n, _ := ix.Count(All()); n != 1 {
		t.Errorf("after the rollback: %d customers, want 1", n)
	}
	if s := mustSegment(t, ix, All()); s.MRR() != 0 {
		t.Errorf("after the rollback: MRR %d, want 0", s.MRR())
	}
}

// A reader never waits for the writer: reads complete while a write
// transaction is open and stalled, and while another View is.
func TestReadersDoNotWait(t *testing.T) {
	ix := openTest(t)
	c := mustCreate(t, ix, Customer{Name: "Ann", Email: "a@x.com", Tags: []string{"vip"}})
	inWrite, release := make(chan struct{}), make(chan struct{})
	wdone := make(chan error, 1)
	go func() {
		wdone <- ix.Update(func(tx *Tx) error {
			if _, err := tx.AddTags(c.UUID, "pending"); err != nil {
				return err
			}
			close(inWrite)
			<-release
			return nil
		})
	}()
	<-inWrite
	inView, releaseView := make(chan struct{}), make(chan struct{})
	vdone := make(chan error, 1)
	go func() {
		vdone <- ix.View(func(tx *Tx) error {
			close(inView)
			<-releaseView
			return nil
		})
	}()
	<-inView
	reads := make(chan error, 1)
	go func() {
		reads <- func() error {
			if n, err := ix.Count(Tag("pending")); err != nil || n != 0 {
				return fmt.Errorf("count of an uncommitted tag: %d, %v", n, err)
			}
			if _, err := ix.Segment(Where("name", Eq, "Ann")); err != nil {
				return err
			}
			if got, err := ix.Customer(c.UUID); err != nil || len(got.Tags) != 1 {
				return fmt.Errorf("customer: %+v, %v", got, err)
			}
			if cs, err := ix.CustomersByEmail("A@x.com"); err != nil || len(cs) != 1 {
				return fmt.Errorf("by email: %v, %v", cs, err)
			}
			if _, err := ix.TagStats(All(), TagStatsOptions{}); err != nil {
				return err
			}
			if _, err := ix.Series(All(), day(2024, 1, 1), day(2024, 3, 1), Month); err != nil {
				return err
			}
			return ix.View(func(tx *Tx) error { _, err := tx.Count(All()); return err })
		}()
	}()
	select {
	case err := <-reads:
		if err != nil {
			t.Error(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("reads waited for the open write transaction or View")
	}
	close(release)
	if err := <-wdone; err != nil {
		t.Fatal(err)
	}
	// The writer committed while the View is still open.
	if n, err := ix.Count(Tag("pending")); err != nil || n != 1 {
		t.Errorf("after commit: %d, %v; want 1", n, err)
	}
	close(releaseView)
	if err := <-vdone; err != nil {
		t.Fatal(err)
	}
}

// A batch that changes nothing commits nothing.
func TestNoChangeCommitsNothing(t *testing.T) {
	ix := openTest(t)
	c := mustCreate(t, ix, Customer{Tags: []string{"a"}})
	txid := func() int {
		var id int
		ix.db.View(func(btx *bolt.Tx) error { id = btx.ID(); return nil })
		return id
	}
	before := txid()
	if _, err := ix.AddTags(c.UUID, "a", " a "); err != nil {
		t.Fatal(err)
	}
	if _, err := ix.RemoveTags(c.UUID, "zzz"); err != nil {
		t.Fatal(err)
	}
	if err := ix.Update(func(*Tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if n, err := ix.AddTagsToSegment(Tag("a"), "a"); err != nil || n != 0 {
		t.Fatalf("AddTagsToSegment: %d, %v", n, err)
	}
	if after := txid(); after != before {
		t.Errorf("no-op writes committed: bbolt transaction %d → %d", before, after)
	}
	if _, err := ix.AddTags(c.UUID, "b"); err != nil {
		t.Fatal(err)
	}
	if after := txid(); after != before+1 {
		t.Errorf("a real write: bbolt transaction %d → %d, want +1", before, after)
	}
}

// A failed commit: reads go on, each on a state the file had or has, and
// reopening gives the file's truth. One whose meta page reached the file
// (then the sync failed) is served to readers, and the index refuses
// writes (ErrCorrupt, naming the cause) until reopened, since whether the
// commit survives a crash is unknown. One that wrote no meta page changed
// nothing (ErrIO): writes go on, and the next customer gets the next ID.
func TestFailedCommitRefusesWrites(t *testing.T) {
	for _, tc := range []struct {
		name    string
		written bool // the batch reached the file
	}{
		{"after the meta page", true},
		{"before the meta page", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "f.db")
			ix, err := Open(path, nil)
			if err != nil {
				t.Fatal(err)
			}
			c := mustCreate(t, ix, Customer{Tags: []string{"a"}})
			if err := ix.Err(); err != nil {
				t.Fatalf("Err of a sound index: %v", err)
			}
			cause := errors.New("injected: fdatasync: input/output error")
			commitHook = failCommit(1, tc.written, cause)
			_, err = ix.AddTags(c.UUID, "b")
			commitHook = nil
			want := map[bool]error{true: ErrCorrupt, false: ErrIO}[tc.written]
			if !errors.Is(err, want) || !errors.Is(err, cause) {
				t.Fatalf("AddTags with a failing commit: %v, want %v wrapping the cause", err, want)
			}
			// Err says whether the index still takes writes, naming the cause.
			if err := ix.Err(); tc.written != (errors.Is(err, ErrCorrupt) && strings.Contains(fmt.Sprint(err), "input/output error")) || !tc.written && err != nil {
				t.Errorf("Err after a failed commit: %v; written %v", err, tc.written)
			}
			// Reads go on, each on a state the file had or has.
			got, err := ix.Customer(c.UUID)
			if err != nil {
				t.Fatalf("Customer after a failed commit: %v", err)
			}
			n, err := ix.Count(Tag("b"))
			if err != nil {
				t.Fatal(err)
			}
			if tc.written != (n == 1) || tc.written != slices.Contains(got.Tags, "b") {
				t.Errorf("reads after the failed commit: count(b) = %d, tags %v; written %v", n, got.Tags, tc.written)
			}
			if tc.written {
				// Writes are refused, naming the cause.
				_, err = ix.CreateCustomer(Customer{})
				if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "input/output error") {
					t.Errorf("CreateCustomer after a failed commit: %v, want ErrCorrupt naming the cause", err)
				}
				if err := ix.SetMRR(c.UUID, day(2024, 1, 1), 1); !errors.Is(err, ErrCorrupt) {
					t.Errorf("SetMRR after a failed commit: %v, want ErrCorrupt", err)
				}
			} else {
				// Writes go on.
				d := mustCreate(t, ix, Customer{})
				if d.ID != c.ID+1 {
					t.Errorf("new customer after the failed commit: ID %d, want %d", d.ID, c.ID+1)
				}
				if err := ix.SetMRR(c.UUID, day(2024, 1, 1), 1); err != nil {
					t.Errorf("SetMRR after the failed commit: %v", err)
				}
			}
			if err := ix.Close(); err != nil {
				t.Fatal(err)
			}
			if err := ix.Err(); !errors.Is(err, ErrClosed) {
				t.Errorf("Err after Close: %v, want ErrClosed", err)
			}
			ix = openTestAt(t, path, nil)
			if err := ix.Err(); err != nil {
				t.Errorf("Err after the reopen: %v", err)
			}
			got, err = ix.Customer(c.UUID)
			if err != nil {
				t.Fatal(err)
			}
			if want := map[bool][]string{true: {"a", "b"}, false: {"a"}}[tc.written]; !slices.Equal(got.Tags, want) {
				t.Errorf("after reopen: tags %v, want %v", got.Tags, want)
			}
			// And the next customer gets the next ID, not one on disk.
			last := c.ID
			if !tc.written {
				last++
			}
			if d := mustCreate(t, ix, Customer{}); d.ID != last+1 {
				t.Errorf("new customer after reopen: ID %d, want %d", d.ID, last+1)
			}
		})
	}
}

// TestSegmentSumsOnce checks that a segment's sums, made on the first call
// that needs them, are the same from many goroutines at once (and, under
// -race, made once), and that they describe the state the segment was
// evaluated in, not a later one.
func TestSegmentSumsOnce(t *testing.T) {
	r := newRand(testSeed(t))
	ix := openTest(t)
	var want int64
	var paying uint64
	err := ix.Update(func(tx *Tx) error {
		for i := range 300 {
			c, err := tx.CreateCustomer(Customer{ExternalID: fmt.Sprint(i), Tags: []string{"t"}})
			if err != nil {
				return err
			}
			if v := int64(r.IntN(3)) * 100; v > 0 {
				want += v
				paying++
				if err := tx.SetMRR(c.UUID, day(2024, 1, 1), v); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	seg, err := ix.Segment(Tag("t"))
	if err != nil {
		t.Fatal(err)
	}
	// A later write changes the index, not the segment.
	for c := range seg.Customers() {
		if err := ix.SetMRR(c.UUID, day(2024, 2, 1), 123456); err != nil {
			t.Fatal(err)
		}
		break
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if got := seg.MRR(); got != want {
				t.Errorf("MRR %d, want %d", got, want)
			}
			if got := seg.Paying(); got != paying {
				t.Errorf("Paying %d, want %d", got, paying)
			}
			if got := seg.ARR(); got != 12*want {
				t.Errorf("ARR %d, want %d", got, 12*want)
			}
		})
	}
	wg.Wait()
}
