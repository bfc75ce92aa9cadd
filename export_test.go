package tagseg

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/google/go-cmp/cmp"
)

// idModel is the independent model of the export tests: which tags each
// dense ID holds, in order, and which IDs are live.
type idModel struct {
	tags map[uint32][]string // live IDs only
	next uint32
}

func (m *idModel) holders(tag string) map[uint32]bool {
	out := map[uint32]bool{}
	for id, ts := range m.tags {
		if slices.Contains(ts, tag) {
			out[id] = true
		}
	}
	return out
}

func setOf(bm *roaring.Bitmap) map[uint32]bool {
	out := map[uint32]bool{}
	for it := bm.Iterator(); it.HasNext(); {
		out[it.Next()] = true
	}
	return out
}

func bitmapOf(set map[uint32]bool) *roaring.Bitmap {
	return roaring.BitmapOf(slices.Sorted(maps.Keys(set))...)
}

// buildIDIndex loads n customers whose tags make every container kind:
// "dense" (a random third of the IDs: bitmap containers), "sparse" (one in
// 200: arrays), "run" (a long range: runs) and "mixed" (all three), then
// deletes a few. It returns the index and its model.
func buildIDIndex(t *testing.T, r *rand.Rand, n int) (*Index, *idModel) {
	t.Helper()
	ix := openTest(t)
	m := &idModel{tags: map[uint32][]string{}, next: uint32(n)}
	runLo, runHi := r.IntN(n/4), n/4+r.IntN(n/2)
	cs := make([]Customer, n)
	for i := range cs {
		var tags []string
		if r.IntN(3) == 0 {
			tags = append(tags, "dense")
		}
		if r.IntN(200) == 0 {
			tags = append(tags, "sparse")
		}
		if i >= runLo && i < runHi {
			tags = append(tags, "run")
		}
		if i < 70000 && r.IntN(3) == 0 || i >= 70000 && i < 80000 || i >= 140000 && r.IntN(500) == 0 {
			tags = append(tags, "mixed")
		}
		cs[i] = Customer{UUID: fmt.Sprintf("cus_%07d", i), ExternalID: fmt.Sprint("x", i), Tags: tags}
		m.tags[uint32(i)] = slices.Clone(tags)
	}
	if got, err := ix.Load(loadSeq(cs, nil)); err != nil || got != n {
		t.Fatalf("Load: %d, %v", got, err)
	}
	for range 20 {
		id := uint32(r.IntN(n))
		if _, ok := m.tags[id]; !ok {
			continue
		}
		if err := ix.DeleteCustomer(fmt.Sprintf("cus_%07d", id)); err != nil {
			t.Fatal(err)
		}
		delete(m.tags, id)
	}
	return ix, m
}

// Segment.WriteTo writes the segment's members in the portable format:
// ReadIDs, and roaring's own reader, give back the model's set, with each
// container kind present where the set calls for it.
func TestSegmentWriteToRoundTrip(t *testing.T) {
	r := newRand(testSeed(t))
	ix, m := buildIDIndex(t, r, 150000)
	for _, q := range []string{"tag:dense", "tag:sparse", "tag:run", "tag:mixed", "tag:run AND NOT tag:dense", "tag:nobody", "*"} {
		e, err := Parse(q)
		if err != nil {
			t.Fatal(err)
		}
		want := m.eval(q)
		seg := mustSegment(t, ix, e)
		var buf bytes.Buffer
		n, err := seg.WriteTo(&buf)
		if err != nil || n != int64(buf.Len()) {
			t.Fatalf("%s: WriteTo = %d, %v (wrote %d bytes)", q, n, err, buf.Len())
		}
		raw := buf.Bytes()
		got, err := ReadIDs(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("%s: ReadIDs: %v", q, err)
		}
		if !got.Equals(bitmapOf(want)) { // cmp.Diff of large maps is slow: only to show a difference
			t.Errorf("%s: ReadIDs(WriteTo) differs from the model (-want +got):\n%s", q, cmp.Diff(want, setOf(got)))
		}
		theirs := roaring.New()
		if _, err := theirs.ReadFrom(bytes.NewReader(raw)); err != nil || !theirs.Equals(got) {
			t.Errorf("%s: roaring's ReadFrom: %v, equal %v", q, err, theirs.Equals(got))
		}
		// The bytes are a function of the set: a fresh, run-optimized
		// bitmap of the model's IDs serializes to them.
		ref := bitmapOf(want)
		ref.RunOptimize()
		refBytes, _ := ref.ToBytes()
		if !bytes.Equal(refBytes, raw) {
			t.Errorf("%s: WriteTo wrote %d bytes, a fresh bitmap of the set %d", q, len(raw), len(refBytes))
		}
		st := got.Stats()
		switch q {
		case "tag:mixed":
			if st.ArrayContainers == 0 || st.BitmapContainers == 0 || st.RunContainers == 0 {
				t.Errorf("%s: containers %+v, want every kind", q, st)
			}
		case "tag:dense":
			if st.BitmapContainers == 0 {
				t.Errorf("%s: containers %+v, want bitmap containers", q, st)
			}
		}
	}
}

// eval is the model's answer to the few queries the export tests ask.
func (m *idModel) eval(q string) map[uint32]bool {
	out := map[uint32]bool{}
	for id, ts := range m.tags {
		has := func(t string) bool { return slices.Contains(ts, t) }
		var in bool
		switch q {
		case "*":
			in = true
		case "tag:run AND NOT tag:dense":
			in = has("run") && !has("dense")
		default:
			in = has(strings.TrimPrefix(q, "tag:"))
		}
		if in {
			out[id] = true
		}
	}
	return out
}

// SetTagMembers makes a set of IDs exactly a tag's holders: random sets,
// compared after each call with the model (holders, counts, and each
// customer's tags in order), also after a reopen.
func TestSetTagMembers(t *testing.T) {
	r := newRand(testSeed(t))
	ix, m := buildIDIndex(t, r, 3000)
	live := slices.Sorted(maps.Keys(m.tags))
	for step := range 40 {
		tag := pick(r, []string{"dense", "sparse", "run", "new", " new "})
		want := map[uint32]bool{}
		switch r.IntN(4) {
		case 0: // empty: nobody keeps it
		case 1: // a range
			lo := r.IntN(len(live))
			for _, id := range live[lo:min(len(live), lo+r.IntN(1000))] {
				want[id] = true
			}
		default:
			for _, id := range live {
				if r.IntN(4) == 0 {
					want[id] = true
				}
			}
		}
		name := strings.TrimSpace(tag)
		before := m.holders(name)
		wantAdded, wantRemoved := 0, 0
		for id := range want {
			if !before[id] {
				wantAdded++
				m.tags[id] = append(m.tags[id], name)
			}
		}
		for id := range before {
			if !want[id] {
				wantRemoved++
				m.tags[id] = slices.DeleteFunc(m.tags[id], func(s string) bool { return s == name })
			}
		}
		var ids *roaring.Bitmap
		if len(want) > 0 || r.IntN(2) == 0 {
			ids = bitmapOf(want)
		}
		added, removed, err := ix.SetTagMembers(tag, ids)
		if err != nil || added != wantAdded || removed != wantRemoved {
			t.Fatalf("step %d: SetTagMembers(%q, %d IDs) = %d, %d, %v; want %d, %d", step, tag, len(want), added, removed, err, wantAdded, wantRemoved)
		}
		got := setOf(mustSegment(t, ix, Tag(name)).IDs())
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("step %d: holders of %q (-want +got):\n%s", step, name, diff)
		}
		if step%10 == 9 {
			checkIDTags(t, ix, m)
		}
	}
	path := ix.Path()
	ix.Close()
	ix = openTestAt(t, path, nil)
	checkIDTags(t, ix, m)
}

// checkIDTags compares every live customer's tags with the model.
func checkIDTags(t *testing.T, ix *Index, m *idModel) {
	t.Helper()
	got := map[uint32][]string{}
	for c := range mustSegment(t, ix, All()).Customers() {
		got[c.ID] = c.Tags
	}
	want := map[uint32][]string{}
	for id, ts := range m.tags {
		want[id] = append([]string{}, ts...)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("customers' tags (-want +got):\n%s", diff)
	}
}

// A call SetTagMembers refuses changes nothing, and says why: IDs of
// deleted customers and past the end are counted and the first few
// named; a bad tag is ErrInvalidTag; in View, ErrReadOnly.
func TestSetTagMembersErrors(t *testing.T) {
	ix := openTest(t)
	for i := range 10 {
		mustCreate(t, ix, Customer{UUID: fmt.Sprint("c", i), Tags: []string{"keep"}})
	}
	for _, u := range []string{"c3", "c4"} {
		if err := ix.DeleteCustomer(u); err != nil {
			t.Fatal(err)
		}
	}
	before := setOf(mustSegment(t, ix, Tag("keep")).IDs())
	past := roaring.BitmapOf(0, 1, 3, 4, 9)
	past.AddRange(10, 20)
	past.Add(math.MaxUint32)
	for _, c := range []struct {
		tag  string
		ids  *roaring.Bitmap
		is   error
		says []string
	}{
		{"keep", roaring.BitmapOf(0, 3), ErrNotFound, []string{"1 ID names no customer", "1 of deleted customers (3)"}},
		{"keep", past, ErrNotFound, []string{"13 IDs name no customer", "2 of deleted customers (3, 4)", "11 past the end, where the last ID is 9 (10, 11, 12, 13, 14, …)"}},
		{"", roaring.BitmapOf(0), ErrInvalidTag, []string{`tag ""`}},
		{strings.Repeat("x", 256), roaring.BitmapOf(0), ErrInvalidTag, nil},
	} {
		added, removed, err := ix.SetTagMembers(c.tag, c.ids)
		if !errors.Is(err, c.is) || added != 0 || removed != 0 {
			t.Errorf("SetTagMembers(%.10q, %v) = %d, %d, %v; want %v", c.tag, c.ids, added, removed, err, c.is)
			continue
		}
		for _, s := range c.says {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("SetTagMembers(%.10q, %v): %q does not say %q", c.tag, c.ids, err, s)
			}
		}
	}
	if diff := cmp.Diff(before, setOf(mustSegment(t, ix, Tag("keep")).IDs())); diff != "" {
		t.Errorf("a refused call changed the tag (-before +after):\n%s", diff)
	}
	err := ix.View(func(tx *Tx) error {
		_, _, err := tx.SetTagMembers("keep", roaring.New())
		return err
	})
	if !errors.Is(err, ErrReadOnly) {
		t.Errorf("SetTagMembers in View: %v", err)
	}
	// In an Update, it sees the batch: a customer created in it may be named.
	err = ix.Update(func(tx *Tx) error {
		c, err := tx.CreateCustomer(Customer{})
		if err != nil {
			return err
		}
		_, _, err = tx.SetTagMembers("fresh", roaring.BitmapOf(c.ID))
		return err
	})
	if n, _ := ix.Count(Tag("fresh")); err != nil || n != 1 {
		t.Errorf("SetTagMembers of a customer created in the batch: %v, %d holders", err, n)
	}
	ix.Close()
	if _, _, err := ix.SetTagMembers("keep", nil); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
}

// ReadIDs refuses what is not one portable bitmap with ErrInvalid and a
// reason: empty input, another format, every truncation of a valid
// bitmap, bytes after one, and damage inside one.
func TestReadIDsBadInput(t *testing.T) {
	bm := roaring.BitmapOf(1, 2, 3, 100000)
	bm.AddRange(200000, 260000)
	for i := uint32(300000); i < 370000; i += 3 {
		bm.Add(i)
	}
	bm.RunOptimize()
	good, err := bm.ToBytes()
	if err != nil {
		t.Fatal(err)
	}
	if got, err := ReadIDs(bytes.NewReader(good)); err != nil || !got.Equals(bm) {
		t.Fatalf("ReadIDs(good) = %v", err)
	}
	cases := map[string][]byte{
		"empty":       nil,
		"text":        []byte("cus_1\ncus_2\n"),
		"short":       good[:3],
		"trailing":    append(slices.Clone(good), 0),
		"bad cookie":  append([]byte{0x3a, 0x30, 1, 0}, good[4:]...),
		"huge header": {0x3a, 0x30, 0, 0, 0xff, 0xff, 0xff, 0xff},
	}
	for cut := 4; cut < len(good); cut += 1 + cut/8 {
		cases[fmt.Sprint("truncated to ", cut)] = good[:cut]
	}
	damaged := slices.Clone(good)
	damaged[len(damaged)-1] ^= 0xff // the last container's last run
	cases["damaged"] = damaged
	for name, b := range cases {
		got, err := ReadIDs(bytes.NewReader(b))
		if !errors.Is(err, ErrInvalid) {
			if name == "damaged" && err == nil && !got.Equals(bm) {
				continue // a flipped value can be another valid bitmap
			}
			t.Errorf("%s: ReadIDs = %v, %v; want ErrInvalid", name, got, err)
		}
	}
}

// FuzzReadIDs: ReadIDs never panics; what it accepts is one valid bitmap
// that fills the input, which writes back to a bitmap it reads the same.
func FuzzReadIDs(f *testing.F) {
	runs := roaring.New()
	runs.AddRange(10, 5000)
	dense := roaring.New()
	for i := uint32(0); i < 65536; i += 2 {
		dense.Add(i)
	}
	for _, bm := range []*roaring.Bitmap{roaring.New(), roaring.BitmapOf(1, 70000, math.MaxUint32), runs, dense} {
		b, err := bm.ToBytes()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
		bm.RunOptimize()
		if b, err = bm.ToBytes(); err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("not a bitmap"))
	f.Add([]byte{0x3b, 0x30, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		bm, err := ReadIDs(bytes.NewReader(b))
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("ReadIDs(%x): %v, not ErrInvalid", b, err)
			}
			return
		}
		if err := bm.Validate(); err != nil {
			t.Fatalf("ReadIDs(%x) accepted an invalid bitmap: %v", b, err)
		}
		var out bytes.Buffer
		if _, err := bm.WriteTo(&out); err != nil {
			t.Fatal(err)
		}
		again, err := ReadIDs(&out)
		if err != nil || !again.Equals(bm) {
			t.Fatalf("ReadIDs(%x) = %v; written again and read: %v, %v", b, bm, again, err)
		}
	})
}
