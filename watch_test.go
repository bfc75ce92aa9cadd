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
	"time"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/google/go-cmp/cmp"
	bolt "go.etcd.io/bbolt"
)

// The watch model test: random writes of every kind on an index with
// several saved segments. After every write, each saved segment is
// evaluated again in full (Index.Segment: the oracle, which knows nothing
// of touched sets or change records); the difference from its members
// before the write is the change the feed must have gained from it. The
// feed is read after every write from the segment's cursor, in pages of
// random size, and must hold exactly that change (a Load may split its
// entries into one change per batch). At the end every feed is read again
// from its start: the concatenation of all changes, deleted customers
// still named.
//
// The index's clock (Options.Clock) moves on by hours or days between
// writes, and some queries hold relative dates (lead_created_at >
// now-30d): a commit on a new day must record, besides its own writes,
// the customers that drifted in or out since the day last recorded; a
// write that commits nothing records nothing (the oracle is then not
// asked, its members stay those of the last commit's day).

// wChange is a change as the test compares it.
type wChange struct {
	Entered, Left []string
}

// watchQueries are the queries saved segments get: tags, prefixes, NOT,
// MRR, equality fields, record-only fields (name, email), custom values.
var watchQueries = []string{
	"tag:f-0",
	"tag:f-1 AND NOT tag:p-0",
	"tags:any(f-2, f-3) OR country:DE",
	"tags:none(f-0, f-1)",
	"mrr >= 5000",
	"NOT tag:f-0",
	"*",
	"name:N1 OR name:N2",
	"email:e3@x.test",
	"custom.plan:pro AND mrr > 0",
	"tag:p-1 AND country:US",
	"arr < 30000 AND tags:all(f-0, p-0)",
	"company:Acme OR tag:p-2",
	"lead_created_at > now-30d",
	"lead_created_at >= now-2w AND NOT tag:f-1",
	"free_trial_started_at <= now-1m OR tag:p-0",
	"lead_created_at < now+1w AND free_trial_started_at > now-6w",
}

// watchTest holds the index, the oracle's view and the readers' cursors.
type watchTest struct {
	t        *testing.T
	r        *rand.Rand
	path     string
	opts     *Options
	ix       *Index
	uuids    []string          // every customer ever created
	live     map[string]bool   // UUID → live
	byID     map[uint32]string // dense ID → UUID
	segs     map[string]string // saved name → query
	members  map[string]map[string]bool
	cursor   map[string]string    // reader's cursor per segment
	feed     map[string][]wChange // everything read per segment since saved
	ops      int
	what     string    // the last step, for failures
	now      time.Time // the index's clock (Options.Clock)
	reopened bool      // the last step reopened the index
}

func (w *watchTest) tag() string {
	if w.r.IntN(2) == 0 {
		return fmt.Sprintf("f-%d", w.r.IntN(4))
	}
	return fmt.Sprintf("p-%d", w.r.IntN(3))
}

func (w *watchTest) newCustomer() Customer {
	n := len(w.uuids)
	c := Customer{
		UUID:    fmt.Sprintf("cus_w%04d", n),
		Name:    fmt.Sprintf("N%d", w.r.IntN(20)),
		Email:   fmt.Sprintf("e%d@x.test", w.r.IntN(6)),
		Company: []string{"Acme", "Initech", ""}[w.r.IntN(3)],
		Country: []string{"US", "DE", "FR"}[w.r.IntN(3)],
	}
	for range w.r.IntN(3) {
		c.Tags = append(c.Tags, w.tag())
	}
	if w.r.IntN(2) == 0 {
		c.Custom = map[string]any{"plan": []string{"pro", "free"}[w.r.IntN(2)]}
	}
	// Dates about the clock's day, for the relative dates of the queries.
	if w.r.IntN(4) > 0 {
		c.LeadCreatedAt = w.now.Add(time.Duration(w.r.IntN(90*24)-60*24) * time.Hour)
	}
	if w.r.IntN(2) == 0 {
		c.FreeTrialStartedAt = w.now.Add(time.Duration(w.r.IntN(90*24)-60*24) * time.Hour)
	}
	w.uuids = append(w.uuids, c.UUID)
	return c
}

func (w *watchTest) someLive() (string, bool) {
	var ls []string
	for _, u := range w.uuids {
		if w.live[u] {
			ls = append(ls, u)
		}
	}
	if len(ls) == 0 {
		return "", false
	}
	return ls[w.r.IntN(len(ls))], true
}

func (w *watchTest) mrrAt() time.Time {
	return day(2025, 1, 1).Add(time.Duration(w.r.IntN(400)) * time.Hour)
}

// refresh learns the IDs and liveness of every customer from the index.
func (w *watchTest) refresh() {
	for _, u := range w.uuids {
		c, err := w.ix.Customer(u)
		if err == nil {
			w.live[u] = true
			w.byID[c.ID] = u
		} else if errors.Is(err, ErrNotFound) {
			w.live[u] = false
		} else {
			w.t.Fatal(err)
		}
	}
}

// evaluate is the oracle: the members of every saved segment, by UUID.
func (w *watchTest) evaluate() map[string]map[string]bool {
	out := map[string]map[string]bool{}
	for name, q := range w.segs {
		e, err := Parse(q)
		if err != nil {
			w.t.Fatal(err)
		}
		seg := mustSegment(w.t, w.ix, e)
		m := map[string]bool{}
		for it := seg.IDs().Iterator(); it.HasNext(); {
			m[w.byID[it.Next()]] = true
		}
		out[name] = m
	}
	return out
}

// memberDiff is the change from before to after, UUIDs in the order of
// order (creation, that is dense-ID order), and whether there is one.
func memberDiff(order []string, before, after map[string]bool) (wChange, bool) {
	var c wChange
	for _, u := range order {
		switch {
		case after[u] && !before[u]:
			c.Entered = append(c.Entered, u)
		case before[u] && !after[u]:
			c.Left = append(c.Left, u)
		}
	}
	return c, c.Entered != nil || c.Left != nil
}

// read reads segment name's feed from its cursor to the end, in pages of
// random size.
func (w *watchTest) read(name string) []wChange {
	var out []wChange
	for {
		p, err := w.ix.Changes(name, ChangesOptions{After: w.cursor[name], Limit: 1 + w.r.IntN(3), Names: w.r.IntN(2) == 0})
		if err != nil {
			w.t.Fatalf("op %d: Changes(%s, after %q): %v", w.ops, name, w.cursor[name], err)
		}
		for i, c := range p.Changes {
			if i > 0 && c.At.Before(p.Changes[i-1].At) {
				w.t.Errorf("op %d: %s: change %d at %v before the one before it", w.ops, name, i, c.At)
			}
			for _, u := range append(slices.Clone(c.Entered), c.Left...) {
				if _, ok := p.Names[u]; p.Names != nil && !ok {
					w.t.Errorf("op %d: %s: no name for %s", w.ops, name, u)
				}
			}
			out = append(out, wChange{nilIfEmpty(c.Entered), nilIfEmpty(c.Left)})
		}
		if len(p.Changes) > 0 && p.Cursor != p.Changes[len(p.Changes)-1].Cursor {
			w.t.Errorf("op %d: %s: page cursor %q, last change's %q", w.ops, name, p.Cursor, p.Changes[len(p.Changes)-1].Cursor)
		}
		if len(p.Changes) == 0 && w.cursor[name] != "" && p.Cursor != w.cursor[name] {
			w.t.Errorf("op %d: %s: nothing new, but the cursor moved from %q to %q", w.ops, name, w.cursor[name], p.Cursor)
		}
		w.cursor[name] = p.Cursor
		if !p.HasMore {
			return out
		}
	}
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

// reopen closes the index and opens it again: cursors carry over.
func (w *watchTest) reopen() {
	if err := w.ix.Close(); err != nil {
		w.t.Fatal(err)
	}
	ix, err := Open(w.path, w.opts)
	if err != nil {
		w.t.Fatal(err)
	}
	w.ix = ix
	w.reopened = true
}

// step makes one random write and returns whether it was a Load (whose
// entries may come in several changes) and how many batches it had.
func (w *watchTest) step() (load bool, batches int) {
	ix, r := w.ix, w.r
	u, ok := w.someLive()
	if !ok {
		mustCreate(w.t, ix, w.newCustomer())
		return
	}
	k := r.IntN(100)
	w.what = fmt.Sprintf("kind %d on %s", k, u)
	switch {
	case k < 12:
		ix.CreateCustomer(w.newCustomer())
	case k < 27:
		ix.AddTags(u, w.tag(), w.tag())
	case k < 37:
		ix.RemoveTags(u, w.tag())
	case k < 47:
		ix.SetMRR(u, w.mrrAt(), int64(r.IntN(4))*3000)
	case k < 53:
		ix.DeleteCustomer(u)
	case k < 58:
		c, _ := ix.Customer(u)
		c.Name = fmt.Sprintf("N%d", r.IntN(20))
		c.Country = []string{"US", "DE", "FR"}[r.IntN(3)]
		c.Email = fmt.Sprintf("e%d@x.test", r.IntN(6))
		if r.IntN(2) == 0 {
			c.Custom = map[string]any{"plan": "pro"}
		}
		ix.UpdateCustomer(c)
	case k < 62:
		e, _ := Parse(watchQueries[r.IntN(len(watchQueries))])
		if r.IntN(2) == 0 {
			ix.AddTagsToSegment(e, w.tag())
		} else {
			ix.RemoveTagsFromSegment(e, w.tag())
		}
	case k < 65:
		ids := roaring.New()
		for id, uu := range w.byID {
			if w.live[uu] && r.IntN(3) == 0 {
				ids.Add(id)
			}
		}
		ix.SetTagMembers(w.tag(), ids)
	case k < 72: // a batch of several writes, sometimes rolled back
		ix.Update(func(tx *Tx) error {
			for range 1 + r.IntN(5) {
				u, _ := w.someLive()
				switch r.IntN(5) {
				case 0:
					tx.AddTags(u, w.tag())
				case 1:
					tx.RemoveTags(u, w.tag())
				case 2:
					tx.SetMRR(u, w.mrrAt(), int64(r.IntN(4))*3000)
				case 3:
					if _, err := tx.CreateCustomer(w.newCustomer()); err != nil {
						return err
					}
					w.what += " create"
				case 4:
					if r.IntN(3) == 0 {
						tx.DeleteCustomer(u)
					}
				}
			}
			if r.IntN(8) == 0 {
				name := fmt.Sprintf("s%d", r.IntN(5))
				q := watchQueries[r.IntN(len(watchQueries))]
				if err := tx.SaveSegment(name, q); err != nil {
					return err
				}
				w.what += " save " + name + "=" + q
				w.segs[name] = q // undone below if rolled back
			}
			if r.IntN(6) == 0 {
				return errors.New("rolled back")
			}
			return nil
		})
	case k < 77 && watchLoadHooked:
		var cs []Customer
		var evs [][]MRRChange
		for range 1 + r.IntN(10) {
			cs = append(cs, w.newCustomer())
			var ev []MRRChange
			if r.IntN(2) == 0 {
				ev = append(ev, MRRChange{w.mrrAt(), int64(r.IntN(4)) * 3000})
			}
			evs = append(evs, ev)
		}
		first := ix.cur.Load().nextID
		if _, err := ix.Load(loadSeq(cs, evs)); err != nil {
			w.t.Fatal(err)
		}
		last := first + uint32(len(cs)) - 1
		return true, int(last/loadBatch - first/loadBatch + 1)
	case k < 85: // save: a new segment, or another query under a name
		name := fmt.Sprintf("s%d", r.IntN(5))
		q := watchQueries[r.IntN(len(watchQueries))]
		if err := ix.SaveSegment(name, q); err != nil {
			w.t.Fatal(err)
		}
		w.segs[name] = q
	case k < 88:
		if len(w.segs) > 0 {
			names := slices.Sorted(maps.Keys(w.segs))
			name := names[r.IntN(len(names))]
			if err := ix.DeleteSegment(name); err != nil {
				w.t.Fatal(err)
			}
		}
	case k < 90:
		w.reopen()
	default:
		ix.AddTags(u, w.tag())
	}
	return false, 0
}

const watchLoadHooked = true

func TestWatchModel(t *testing.T) {
	seed := testSeed(t)
	defer func(b uint32) { loadBatch = b }(loadBatch)
	loadBatch = 4
	dir := t.TempDir()
	w := &watchTest{
		t: t, r: newRand(seed), path: filepath.Join(dir, "w.db"),
		live: map[string]bool{}, byID: map[uint32]string{}, segs: map[string]string{},
		members: map[string]map[string]bool{}, cursor: map[string]string{}, feed: map[string][]wChange{},
		now: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC),
	}
	w.opts = &Options{NoSync: true, KeepChanges: -1, Clock: func() time.Time { return w.now }}
	var err error
	if w.ix, err = Open(w.path, w.opts); err != nil {
		t.Fatal(err)
	}
	defer func() { w.ix.Close() }()
	for range 10 {
		mustCreate(t, w.ix, w.newCustomer())
	}
	w.refresh()
	commitDay := w.ix.today()
	n := 600
	if testing.Short() || raceEnabled {
		n = 200
	}
	for w.ops = 0; w.ops < n; w.ops++ {
		if w.r.IntN(4) == 0 { // hours, a day, or a few
			w.now = w.now.Add(time.Duration(w.r.IntN(4*24)) * time.Hour)
		}
		newDay := w.ix.today() != commitDay // the last commit's
		segsBefore := maps.Clone(w.segs)
		txid := w.ix.cur.Load().txid
		w.reopened = false
		load, batches := w.step()
		// The segments as the file has them (a rolled-back Update's save
		// did not happen).
		w.segs = maps.Collect(w.ix.SavedSegments())
		w.refresh()
		after := w.members
		// Unless a write committed (Open's own commits, which finish a
		// Load's work, are none), nothing is recorded.
		if w.ix.cur.Load().txid != txid && !w.reopened {
			after = w.evaluate()
			commitDay = w.ix.today()
		}
		for name := range segsBefore {
			if _, ok := w.segs[name]; !ok {
				if _, err := w.ix.Changes(name, ChangesOptions{After: w.cursor[name]}); !errors.Is(err, ErrNotFound) {
					t.Fatalf("op %d: Changes(%s) of the deleted segment: %v, want ErrNotFound", w.ops, name, err)
				}
				delete(w.members, name)
				delete(w.cursor, name)
				delete(w.feed, name)
			}
		}
		for _, name := range slices.Sorted(maps.Keys(w.segs)) {
			want, _ := memberDiff(w.uuids, w.members[name], after[name])
			got := w.read(name)
			w.feed[name] = append(w.feed[name], got...)
			if load {
				// The customers that drift on a new day are in the
				// first batch's change, before the batch's own.
				var all wChange
				for _, c := range got {
					if len(c.Left) > 0 && !newDay {
						t.Fatalf("op %d (Load): %s: a change with customers that left: %v", w.ops, name, c)
					}
					all.Entered = append(all.Entered, c.Entered...)
					all.Left = append(all.Left, c.Left...)
				}
				if len(got) > batches {
					t.Errorf("op %d (Load of %d batches): %s: %d changes", w.ops, batches, name, len(got))
				}
				got = nil
				if all.Entered != nil || all.Left != nil {
					got = []wChange{all}
				}
			}
			var wantList []wChange
			if want.Entered != nil || want.Left != nil {
				wantList = []wChange{want}
			}
			if d := cmp.Diff(wantList, got); d != "" {
				t.Fatalf("op %d (%s): segment %s (%s): changes (-want +got):\n%s", w.ops, w.what, name, w.segs[name], d)
			}
		}
		w.members = after
	}
	// Read every feed again from its start: the same changes, and deleted
	// customers still named.
	for name := range w.segs {
		w.cursor[name] = ""
		if d := cmp.Diff(w.feed[name], w.read(name)); d != "" {
			t.Errorf("%s: the whole feed differs from what was read along the way (-along +whole):\n%s", name, d)
		}
	}
	if err := w.ix.Check(); err != nil {
		t.Error(err)
	}
}

// feedOf reads the whole feed of a segment from after.
func feedOf(t *testing.T, ix *Index, name, after string) ([]wChange, string) {
	t.Helper()
	var out []wChange
	for {
		p, err := ix.Changes(name, ChangesOptions{After: after})
		if err != nil {
			t.Fatalf("Changes(%s, after %q): %v", name, after, err)
		}
		for _, c := range p.Changes {
			out = append(out, wChange{nilIfEmpty(c.Entered), nilIfEmpty(c.Left)})
		}
		after = p.Cursor
		if !p.HasMore {
			return out, after
		}
	}
}

func TestWatchCursors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.db")
	ix := openTestAt(t, path, &Options{NoSync: true})
	a := mustCreate(t, ix, Customer{UUID: "cus_a", Name: "A", Tags: []string{"x"}})
	mustCreate(t, ix, Customer{UUID: "cus_b", Name: "B"})
	if _, err := ix.Changes("xs", ChangesOptions{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("Changes of an unknown segment: %v, want ErrNotFound", err)
	}
	if err := ix.SaveSegment("xs", "tag:x"); err != nil {
		t.Fatal(err)
	}
	if err := ix.SaveSegment("ys", "tag:y"); err != nil {
		t.Fatal(err)
	}
	// The first change is the members when saved; an empty segment has none.
	got, cur := feedOf(t, ix, "xs", "")
	if d := cmp.Diff([]wChange{{Entered: []string{"cus_a"}}}, got); d != "" {
		t.Errorf("first change (-want +got):\n%s", d)
	}
	got, ycur := feedOf(t, ix, "ys", "")
	if len(got) != 0 || ycur == "" {
		t.Errorf("empty segment: %v, cursor %q; want no change and a cursor", got, ycur)
	}
	// Nothing new: the cursor given comes back.
	p, err := ix.Changes("xs", ChangesOptions{After: cur})
	if err != nil || len(p.Changes) != 0 || p.Cursor != cur || p.HasMore {
		t.Errorf("nothing new: %+v, %v; want no change and the same cursor", p, err)
	}
	// A cursor survives a restart.
	ix.Close()
	ix = openTestAt(t, path, &Options{NoSync: true})
	ix.AddTags("cus_b", "x", "y")
	got, _ = feedOf(t, ix, "xs", cur)
	if d := cmp.Diff([]wChange{{Entered: []string{"cus_b"}}}, got); d != "" {
		t.Errorf("after the restart (-want +got):\n%s", d)
	}
	got, _ = feedOf(t, ix, "ys", ycur)
	if d := cmp.Diff([]wChange{{Entered: []string{"cus_b"}}}, got); d != "" {
		t.Errorf("after the restart, the empty segment's cursor (-want +got):\n%s", d)
	}
	// Bad cursors: ErrInvalid.
	for _, bad := range []string{"x", "!!!", cur[:len(cur)-1], cur + "A", ycur} {
		if _, err := ix.Changes("xs", ChangesOptions{After: bad}); !errors.Is(err, ErrInvalid) {
			t.Errorf("Changes(xs, after %q): %v, want ErrInvalid", bad, err)
		}
	}
	// Another file's cursor.
	other := openTest(t)
	other.SaveSegment("xs", "tag:x")
	op, _ := other.Changes("xs", ChangesOptions{})
	if _, err := ix.Changes("xs", ChangesOptions{After: op.Cursor}); !errors.Is(err, ErrInvalid) {
		t.Errorf("a cursor of another file: %v, want ErrInvalid", err)
	}
	// Deleted and saved again: the old cursor is expired.
	if err := ix.DeleteSegment("xs"); err != nil {
		t.Fatal(err)
	}
	if _, err := ix.Changes("xs", ChangesOptions{After: cur}); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleted segment: %v, want ErrNotFound", err)
	}
	if err := ix.SaveSegment("xs", "tag:x"); err != nil {
		t.Fatal(err)
	}
	if _, err := ix.Changes("xs", ChangesOptions{After: cur}); !errors.Is(err, ErrExpired) {
		t.Errorf("a cursor of the deleted segment: %v, want ErrExpired", err)
	}
	got, _ = feedOf(t, ix, "xs", "")
	if d := cmp.Diff([]wChange{{Entered: []string{"cus_a", "cus_b"}}}, got); d != "" {
		t.Errorf("saved again (-want +got):\n%s", d)
	}
	// Another query under the name: the difference, as one change.
	if err := ix.SaveSegment("xs", "NOT tag:y"); err != nil {
		t.Fatal(err)
	}
	got, _ = feedOf(t, ix, "xs", "")
	if d := cmp.Diff([]wChange{{Entered: []string{"cus_a", "cus_b"}}, {Left: []string{"cus_b"}}}, got); d != "" {
		t.Errorf("redefined (-want +got):\n%s", d)
	}
	// The newest, and customers cut short with their counts.
	p, err = ix.Changes("xs", ChangesOptions{Last: 1})
	if err != nil || len(p.Changes) != 1 || !slices.Equal(p.Changes[0].Left, []string{"cus_b"}) || p.HasMore {
		t.Errorf("Last 1: %+v, %v", p, err)
	}
	if q, err := ix.Changes("xs", ChangesOptions{Last: 5, After: p.Cursor}); err != nil || len(q.Changes) != 0 || q.Cursor != p.Cursor {
		t.Errorf("Last 5 after the newest: %+v, %v", q, err)
	}
	p, err = ix.Changes("xs", ChangesOptions{MaxCustomers: 1, Limit: 1})
	if err != nil || len(p.Changes) != 1 || !slices.Equal(p.Changes[0].Entered, []string{"cus_a"}) || p.Changes[0].EnteredCount != 2 || p.Changes[0].LeftCount != 0 || !p.HasMore {
		t.Errorf("MaxCustomers 1: %+v, %v", p, err)
	}
	_ = a
}

func TestWatchRetention(t *testing.T) {
	defer func(f func() time.Time) { watchNow = f }(watchNow)
	now := day(2025, 1, 1)
	watchNow = func() time.Time { return now }
	ix := openTestAt(t, filepath.Join(t.TempDir(), "r.db"), &Options{NoSync: true, KeepChanges: 3, KeepChangesFor: 24 * time.Hour})
	var us []string
	for i := range 6 {
		us = append(us, mustCreate(t, ix, Customer{UUID: fmt.Sprintf("cus_%d", i)}).UUID)
	}
	ix.SaveSegment("x", "tag:x")
	ix.SaveSegment("other", "tag:o")
	var curs []string
	for _, u := range us[:5] {
		now = now.Add(time.Minute)
		ix.AddTags(u, "x")
		p, err := ix.Changes("x", ChangesOptions{Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		curs = append(curs, p.Cursor)
	}
	// By count: the last three kept.
	got, _ := feedOf(t, ix, "x", "")
	if d := cmp.Diff([]wChange{{Entered: us[2:3]}, {Entered: us[3:4]}, {Entered: us[4:5]}}, got); d != "" {
		t.Errorf("kept (-want +got):\n%s", d)
	}
	if _, err := ix.Changes("x", ChangesOptions{After: curs[0]}); !errors.Is(err, ErrExpired) {
		t.Errorf("cursor of a change before the last dropped: %v, want ErrExpired", err)
	}
	if got, _ := feedOf(t, ix, "x", curs[1]); len(got) != 3 {
		t.Errorf("cursor of the last change dropped: %d changes, want the 3 kept", len(got))
	}
	// A deleted member: named while a change names it.
	ix.DeleteCustomer(us[4])
	got, _ = feedOf(t, ix, "x", curs[4])
	if d := cmp.Diff([]wChange{{Left: us[4:5]}}, got); d != "" {
		t.Errorf("deleted (-want +got):\n%s", d)
	}
	// By age: a commit a day later, on another segment, drops them all.
	now = now.Add(25 * time.Hour)
	ix.AddTags(us[5], "o")
	got, cur := feedOf(t, ix, "x", "")
	if len(got) != 0 {
		t.Errorf("a day later: %v, want nothing", got)
	}
	if _, err := ix.Changes("x", ChangesOptions{After: curs[4]}); !errors.Is(err, ErrExpired) {
		t.Errorf("cursor of a change dropped by age: %v, want ErrExpired", err)
	}
	// The deletion entry went with the last change naming it.
	n := 0
	ix.view(func(_ *state, btx *bolt.Tx) error {
		return btx.Bucket(bktWatch).ForEach(func(k, _ []byte) error {
			if k[0] == wkGone || k[0] == wkGoneBy {
				n++
			}
			return nil
		})
	})
	if n != 0 {
		t.Errorf("%d deletion entries left, want 0", n)
	}
	ix.AddTags(us[0], "x") // already has it: no change
	ix.RemoveTags(us[0], "x")
	got, _ = feedOf(t, ix, "x", cur)
	if d := cmp.Diff([]wChange{{Left: us[0:1]}}, got); d != "" {
		t.Errorf("after the age cut (-want +got):\n%s", d)
	}
}

func TestWatchWait(t *testing.T) {
	ix := openTest(t)
	mustCreate(t, ix, Customer{UUID: "cus_a"})
	ix.SaveSegment("x", "tag:x")
	p, err := ix.Changes("x", ChangesOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Nothing comes: the wait ends empty, with the same cursor.
	q, err := ix.Changes("x", ChangesOptions{After: p.Cursor, Wait: time.Millisecond})
	if err != nil || len(q.Changes) != 0 || q.Cursor != p.Cursor {
		t.Errorf("wait with nothing new: %+v, %v", q, err)
	}
	// A write to another segment does not end it; one to this does.
	ix.SaveSegment("y", "tag:y")
	type res struct {
		p   *ChangePage
		err error
	}
	done := make(chan res)
	go func() {
		p, err := ix.Changes("x", ChangesOptions{After: p.Cursor, Wait: time.Minute})
		done <- res{p, err}
	}()
	ix.AddTags("cus_a", "y")
	ix.AddTags("cus_a", "x")
	r := <-done
	if r.err != nil || len(r.p.Changes) != 1 || !slices.Equal(r.p.Changes[0].Entered, []string{"cus_a"}) {
		t.Errorf("waiting reader got %+v, %v; want cus_a's entry", r.p, r.err)
	}
	// A cancelled context ends the wait.
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		p, err := ix.ChangesContext(ctx, "x", ChangesOptions{After: r.p.Cursor, Wait: time.Minute})
		done <- res{p, err}
	}()
	cancel()
	if r := <-done; !errors.Is(r.err, context.Canceled) {
		t.Errorf("cancelled wait: %v, want context.Canceled", r.err)
	}
	// Deleting the segment ends the wait: ErrNotFound.
	go func() {
		p, err := ix.Changes("x", ChangesOptions{After: r.p.Cursor, Wait: time.Minute})
		done <- res{p, err}
	}()
	ix.DeleteSegment("x")
	if r := <-done; !errors.Is(r.err, ErrNotFound) {
		t.Errorf("wait on a deleted segment: %v, want ErrNotFound", r.err)
	}
	// Close ends it: ErrClosed.
	p, _ = ix.Changes("y", ChangesOptions{})
	go func() {
		p, err := ix.Changes("y", ChangesOptions{After: p.Cursor, Wait: time.Minute})
		done <- res{p, err}
	}()
	ix.Close()
	if r := <-done; !errors.Is(r.err, ErrClosed) {
		t.Errorf("wait on a closed index: %v, want ErrClosed", r.err)
	}
}

func TestWatchLegacy(t *testing.T) {
	// A file whose segment was saved before changes were recorded.
	path := filepath.Join(t.TempDir(), "l.db")
	ix := openTestAt(t, path, &Options{NoSync: true})
	mustCreate(t, ix, Customer{UUID: "cus_a", Tags: []string{"x"}})
	ix.SaveSegment("x", "tag:x")
	ix.Close()
	editFile(t, path, func(btx *bolt.Tx) error { return btx.DeleteBucket(bktWatch) })
	ro, err := Open(path, &Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if p, err := ro.Changes("x", ChangesOptions{}); err != nil || len(p.Changes) != 0 {
		t.Errorf("read-only, not yet watched: %+v, %v", p, err)
	}
	ro.Close()
	ix = openTestAt(t, path, &Options{NoSync: true})
	got, cur := feedOf(t, ix, "x", "")
	if len(got) != 0 || cur == "" {
		t.Errorf("watched from the open on: %v, cursor %q; want nothing and a cursor", got, cur)
	}
	ix.RemoveTags("cus_a", "x")
	got, _ = feedOf(t, ix, "x", cur)
	if d := cmp.Diff([]wChange{{Left: []string{"cus_a"}}}, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}

func TestReadChanges(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rc.db")
	ix := openTestAt(t, path, &Options{NoSync: true})
	mustCreate(t, ix, Customer{UUID: "cus_a", Tags: []string{"x"}})
	ix.SaveSegment("x", "tag:x")
	want, _ := ix.Changes("x", ChangesOptions{})
	ix.Close()
	got, err := ReadChanges(path, "x", ChangesOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("ReadChanges differs from Changes (-Changes +ReadChanges):\n%s", d)
	}
	if _, err := ReadChanges(path, "nope", ChangesOptions{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown segment: %v", err)
	}
	if _, err := ReadChanges(filepath.Join(t.TempDir(), "missing.db"), "x", ChangesOptions{}); err == nil {
		t.Error("a missing file: no error")
	}
	// Held open for writing (here by this process: flock locks are per
	// open file): ErrLocked.
	openTestAt(t, path, &Options{NoSync: true})
	if _, err := ReadChanges(path, "x", ChangesOptions{}); !errors.Is(err, ErrLocked) {
		t.Errorf("a file held for writing: %v, want ErrLocked", err)
	}
}

// TestRecordHead: recordHead reads what encodeRecord wrote first.
func TestRecordHead(t *testing.T) {
	for _, c := range []Customer{
		{UUID: "cus_a", Name: "Acme"},
		{UUID: "cus_" + strings.Repeat("x", 300), DataSourceUUID: "ds", ExternalID: "e-1", Name: "Ünïcode ☃", Email: "a@b.c",
			Tags: []string{"t1", "t2"}, Custom: map[string]any{"k": int64(3)}, LeadCreatedAt: day(2024, 1, 1)},
		{},
	} {
		uuid, name, err := recordHead(seal(encodeRecord(&record{id: 7, c: c})))
		if err != nil || uuid != c.UUID || name != c.Name {
			t.Errorf("recordHead of %+v: %q %q %v", c, uuid, name, err)
		}
	}
	if _, _, err := recordHead(seal([]byte{recordVersion + 1})); err == nil {
		t.Error("an unknown record version: no error")
	}
}

// TestChangeCodec: a change's sets round-trip in both forms; damage is an
// error, never a panic.
func TestChangeCodec(t *testing.T) {
	r := newRand(testSeed(t))
	for range 200 {
		var sets [2]*roaring.Bitmap
		for i := range sets {
			sets[i] = roaring.New()
			n := []int{0, 1, 2, listMax, listMax + 1, 1000}[r.IntN(6)]
			for range n {
				sets[i].Add(r.Uint32())
			}
		}
		v, err := encodeChange(sets[0], sets[1])
		if err != nil {
			t.Fatal(err)
		}
		e, l, err := decodeChange(v)
		if err != nil || !e.Equals(sets[0]) || !l.Equals(sets[1]) {
			t.Fatalf("round trip of %v, %v: %v, %v, %v", sets[0], sets[1], e, l, err)
		}
		// Every truncation, and a byte changed (resealed: the checksum
		// would catch it first), give an error or a valid set.
		b, _ := openVal(v)
		for i := range b {
			decodeChange(seal(b[:i]))
			c := slices.Clone(b)
			c[i] ^= byte(1 + r.IntN(255))
			decodeChange(seal(c))
		}
	}
}

// TestWatchDays: a saved segment with a relative date records the
// customers that drift in or out as the days pass, at the first commit of
// each new day (stamped with that commit's time), once a day; a day with
// no commit records nothing; the day survives a restart; a segment
// without a relative date records nothing of it; a log from before days
// were recorded starts from its first commit's day.
func TestWatchDays(t *testing.T) {
	defer func(f func() time.Time) { watchNow = f }(watchNow)
	now := time.Date(2025, 6, 15, 9, 0, 0, 0, time.UTC)
	watchNow = func() time.Time { return now }
	path := filepath.Join(t.TempDir(), "d.db")
	opts := &Options{NoSync: true, Clock: func() time.Time { return now }}
	ix := openTestAt(t, path, opts)
	// cus_0 was created on June 14 (lead), cus_1 on June 12, cus_2 on June 10.
	for i := range 3 {
		mustCreate(t, ix, Customer{UUID: fmt.Sprintf("cus_%d", i), LeadCreatedAt: time.Date(2025, 6, 14-2*i, 12, 0, 0, 0, time.UTC)})
	}
	mustCreate(t, ix, Customer{UUID: "cus_other"})
	for name, q := range map[string]string{"recent": "lead_created_at >= now-3d", "fixed": "lead_created_at >= 2025-06-12"} {
		if err := ix.SaveSegment(name, q); err != nil {
			t.Fatal(err)
		}
	}
	type at struct {
		C  wChange
		At int64 // Unix ns
	}
	feeds := map[string]string{}
	read := func(name string) []at {
		t.Helper()
		p, err := ix.Changes(name, ChangesOptions{After: feeds[name]})
		if err != nil {
			t.Fatal(err)
		}
		feeds[name] = p.Cursor
		var out []at
		for _, c := range p.Changes {
			out = append(out, at{wChange{nilIfEmpty(c.Entered), nilIfEmpty(c.Left)}, c.At.UnixNano()})
		}
		return out
	}
	saved := now
	if d := cmp.Diff([]at{{wChange{Entered: []string{"cus_0", "cus_1"}}, saved.UnixNano()}}, read("recent")); d != "" {
		t.Errorf("saved (-want +got):\n%s", d)
	}
	read("fixed")
	// Two days pass with no commit: nothing recorded.
	now = now.Add(50 * time.Hour) // June 17, 11:00
	if got := read("recent"); len(got) != 0 {
		t.Errorf("no commit: %v", got)
	}
	// The next commit, which changes no member, records the drift: since
	// June 14, cus_1 (June 12) left.
	ix.AddTags("cus_other", "x")
	if d := cmp.Diff([]at{{wChange{Left: []string{"cus_1"}}, now.UnixNano()}}, read("recent")); d != "" {
		t.Errorf("first commit of June 17 (-want +got):\n%s", d)
	}
	if got := read("fixed"); len(got) != 0 {
		t.Errorf("a segment without a relative date: %v", got)
	}
	// The same day again, across a restart: nothing more; a commit that
	// changes a member: its own change only.
	ix.Close()
	ix = openTestAt(t, path, opts)
	now = now.Add(12 * time.Hour) // June 17, 23:00
	ix.UpdateCustomer(Customer{UUID: "cus_other", LeadCreatedAt: time.Date(2025, 6, 16, 0, 0, 0, 0, time.UTC)})
	if d := cmp.Diff([]at{{wChange{Entered: []string{"cus_other"}}, now.UnixNano()}}, read("recent")); d != "" {
		t.Errorf("a member changed on the same day (-want +got):\n%s", d)
	}
	// A day whose first commit changes members as well: both in one
	// change. June 18: cus_0 (June 14) leaves by the day, cus_2 enters by
	// the commit (its date changed to June 18).
	now = now.Add(2 * time.Hour)
	ix.UpdateCustomer(Customer{UUID: "cus_2", LeadCreatedAt: time.Date(2025, 6, 18, 0, 0, 0, 0, time.UTC)})
	if d := cmp.Diff([]at{{wChange{Entered: []string{"cus_2"}, Left: []string{"cus_0"}}, now.UnixNano()}}, read("recent")); d != "" {
		t.Errorf("first commit of June 18 (-want +got):\n%s", d)
	}
	if err := ix.Check(); err != nil {
		t.Error(err)
	}
	// A log from before days were recorded (its info without one): its
	// first commit takes that commit's day, recording no drift it cannot
	// know; the next day's first commit records the drift.
	ix.Close()
	editFile(t, path, func(btx *bolt.Tx) error {
		sb := btx.Bucket(bktWatch).Bucket(segBucketKey("recent"))
		info, err := decodeSegInfo(sb.Get(keyInfo))
		if err != nil || !info.dated {
			t.Fatalf("info %+v, %v: want a day", info, err)
		}
		info.dated, info.day = false, 0
		return sb.Put(keyInfo, info.encode())
	})
	ix = openTestAt(t, path, opts)
	now = time.Date(2025, 6, 20, 9, 0, 0, 0, time.UTC) // cus_other (June 16) is out since June 20
	ix.AddTags("cus_0", "x")
	if got := read("recent"); len(got) != 0 {
		t.Errorf("first commit without a day known: %v", got)
	}
	now = now.AddDate(0, 0, 1) // June 21: cus_2 (June 18) is still in
	now = now.AddDate(0, 0, 1) // June 22: and out
	ix.AddTags("cus_0", "y")
	if d := cmp.Diff([]at{{wChange{Left: []string{"cus_2"}}, now.UnixNano()}}, read("recent")); d != "" {
		t.Errorf("after a day without one (-want +got):\n%s", d)
	}
	if err := ix.Check(); err != nil {
		t.Error(err)
	}
}
