package tagseg

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	bolt "go.etcd.io/bbolt"
)

// TestBadInput checks that each kind of bad input gives its sentinel error,
// names what it is about, and changes nothing.
func TestBadInput(t *testing.T) {
	ix := openTest(t)
	c := mustCreate(t, ix, Customer{DataSourceUUID: "ds", ExternalID: "1", Email: "adam@x.com", Tags: []string{"a"}})
	long := strings.Repeat("x", 256)
	now := time.Now()
	for _, tc := range []struct {
		name    string
		call    func() error
		want    error
		mention string
	}{
		{"empty tag", func() error { _, err := ix.AddTags(c.UUID, "ok", ""); return err }, ErrInvalidTag, ""},
		{"blank tag", func() error { _, err := ix.AddTags(c.UUID, " \t "); return err }, ErrInvalidTag, ""},
		{"256-byte tag", func() error { _, err := ix.AddTags(c.UUID, long); return err }, ErrInvalidTag, ""},
		{"invalid UTF-8 tag", func() error { _, err := ix.AddTags(c.UUID, "ok", "bad\xff"); return err }, ErrInvalidTag, ""},
		{"invalid tag on create", func() error {
			_, err := ix.CreateCustomer(Customer{ExternalID: "new", Tags: []string{"ok", ""}})
			return err
		}, ErrInvalidTag, ""},
		{"invalid tag by email", func() error { _, err := ix.AddTagsByEmail("adam@x.com", "ok", ""); return err }, ErrInvalidTag, ""},
		{"invalid tag removed", func() error { _, err := ix.RemoveTags(c.UUID, ""); return err }, ErrInvalidTag, ""},
		{"invalid tag to segment", func() error { _, err := ix.AddTagsToSegment(All(), "ok", long); return err }, ErrInvalidTag, ""},
		{"unknown uuid: customer", func() error { _, err := ix.Customer("cus_nope"); return err }, ErrNotFound, "cus_nope"},
		{"unknown uuid: add tags", func() error { _, err := ix.AddTags("cus_nope", "ok"); return err }, ErrNotFound, "cus_nope"},
		{"unknown uuid: remove tags", func() error { _, err := ix.RemoveTags("cus_nope", "ok"); return err }, ErrNotFound, "cus_nope"},
		{"unknown uuid: set MRR", func() error { return ix.SetMRR("cus_nope", now, 1) }, ErrNotFound, "cus_nope"},
		{"unknown uuid: delete", func() error { return ix.DeleteCustomer("cus_nope") }, ErrNotFound, "cus_nope"},
		{"unknown email", func() error { _, err := ix.AddTagsByEmail("nobody@x.com", "ok"); return err }, ErrNotFound, "nobody@x.com"},
		{"duplicate external ID", func() error {
			_, err := ix.CreateCustomer(Customer{DataSourceUUID: "ds", ExternalID: "1"})
			return err
		}, ErrDuplicate, `"1"`},
		{"duplicate UUID", func() error { _, err := ix.CreateCustomer(Customer{UUID: c.UUID}); return err }, ErrDuplicate, c.UUID},
		{"negative MRR", func() error { return ix.SetMRR(c.UUID, now, -1) }, ErrInvalid, ""},
		{"bad custom type", func() error {
			_, err := ix.CreateCustomer(Customer{Custom: map[string]any{"x": []int{1}}})
			return err
		}, ErrInvalidField, "custom.x"},
		{"bad custom key", func() error {
			_, err := ix.CreateCustomer(Customer{Custom: map[string]any{"a b": 1}})
			return err
		}, ErrInvalidField, "a b"},
		{"unknown field, nested", func() error {
			_, err := ix.Segment(And(Tag("a"), Or(Not(Where("colour", Eq, "red")))))
			return err
		}, ErrInvalidField, "colour"},
		{"wrong value type", func() error { _, err := ix.Segment(Where("mrr", Gt, "lots")); return err }, ErrInvalidField, "mrr"},
		{"unknown field in tag stats", func() error {
			_, err := ix.TagStats(Where("nope", Eq, 1), TagStatsOptions{})
			return err
		}, ErrInvalidField, "nope"},
		{"unknown saved segment", func() error { return ix.DeleteSegment("nope") }, ErrNotFound, "nope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.mention) {
				t.Errorf("error %q does not mention %q", err, tc.mention)
			}
		})
	}
	// Nothing changed.
	got, err := ix.Customer(c.UUID)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(c, got); d != "" {
		t.Errorf("customer changed by failed calls (-before +after):\n%s", d)
	}
	if n := mustSegment(t, ix, All()).Count(); n != 1 {
		t.Errorf("%d customers, want 1", n)
	}
	if tags := tagCounts(ix); !cmp.Equal(tags, map[string]uint64{"a": 1}) {
		t.Errorf("tags %v", tags)
	}
	// No match by email is an empty slice, not an error.
	cs, err := ix.CustomersByEmail("nobody@x.com")
	if err != nil || cs == nil || len(cs) != 0 {
		t.Errorf("CustomersByEmail(no match) = %#v, %v", cs, err)
	}
}

func tagCounts(ix *Index) map[string]uint64 {
	m := map[string]uint64{}
	for t, n := range ix.Tags() {
		m[t] = n
	}
	return m
}

func TestClosed(t *testing.T) {
	ix, err := Open(filepath.Join(t.TempDir(), "c.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ix.CreateCustomer(Customer{Email: "a@b.c", Tags: []string{"t"}})
	if err != nil {
		t.Fatal(err)
	}
	seg, err := ix.Segment(All())
	if err != nil {
		t.Fatal(err)
	}
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	calls := map[string]func() error{
		"Close":          ix.Close,
		"Update":         func() error { return ix.Update(func(*Tx) error { return nil }) },
		"CreateCustomer": func() error { _, err := ix.CreateCustomer(Customer{}); return err },
		"DeleteCustomer": func() error { return ix.DeleteCustomer(c.UUID) },
		"AddTags":        func() error { _, err := ix.AddTags(c.UUID, "x"); return err },
		"AddTagsByEmail": func() error { _, err := ix.AddTagsByEmail("a@b.c", "x"); return err },
		"RemoveTags":     func() error { _, err := ix.RemoveTags(c.UUID, "t"); return err },
		"SetMRR":         func() error { return ix.SetMRR(c.UUID, time.Now(), 1) },
		"AddTagsToSegment": func() error {
			_, err := ix.AddTagsToSegment(All(), "x")
			return err
		},
		"RemoveTagsFromSegment": func() error {
			_, err := ix.RemoveTagsFromSegment(All(), "x")
			return err
		},
		"Customer":         func() error { _, err := ix.Customer(c.UUID); return err },
		"CustomersByEmail": func() error { _, err := ix.CustomersByEmail("a@b.c"); return err },
		"Segment":          func() error { _, err := ix.Segment(All()); return err },
		"Count":            func() error { _, err := ix.Count(And(Tag("t"), Tag("u"))); return err },
		"TagStats":         func() error { _, err := ix.TagStats(All(), TagStatsOptions{}); return err },
		"Series": func() error {
			_, err := ix.Series(All(), day(2024, 1, 1), day(2024, 2, 1), Month)
			return err
		},
		"SaveSegment":   func() error { return ix.SaveSegment("s", "*") },
		"DeleteSegment": func() error { return ix.DeleteSegment("s") },
		"Check":         ix.Check,
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
	for range ix.Tags() {
		t.Error("Tags yielded after Close")
	}
	for range ix.SavedSegments() {
		t.Error("SavedSegments yielded after Close")
	}
	for range seg.Customers() {
		t.Error("Segment.Customers yielded after Close")
	}
	if seg.Contains(c.UUID) {
		t.Error("Contains after Close")
	}
}

func TestOpenBadFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	garbage := write("garbage.db", []byte(strings.Repeat("not a database ", 1000)))

	// A bbolt file of another program.
	foreign := filepath.Join(dir, "foreign.db")
	db, err := bolt.Open(foreign, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("widgets")); return err })
	db.Close()

	// A newer format version.
	newer := filepath.Join(dir, "newer.db")
	ix, err := Open(newer, nil)
	if err != nil {
		t.Fatal(err)
	}
	ix.Close()
	db, err = bolt.Open(newer, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bktMeta).Put(keyVersion, u32key(nil, formatVersion+1)) })
	db.Close()

	for _, tc := range []struct {
		path string
		want error
	}{
		{garbage, ErrCorrupt},
		{foreign, ErrCorrupt},
		{newer, ErrVersion},
	} {
		ix, err := Open(tc.path, nil)
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.path) {
			t.Errorf("Open(%s) = %v, want %v naming the path", filepath.Base(tc.path), err, tc.want)
		}
		if ix != nil {
			ix.Close()
		}
	}
}

func TestReadOnlyAndLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ro.db")
	ix, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ix.CreateCustomer(Customer{Tags: []string{"t"}})
	if err != nil {
		t.Fatal(err)
	}
	// The file is held: a second writer gives up with ErrLocked.
	start := time.Now()
	if _, err := Open(path, &Options{Timeout: 100 * time.Millisecond}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("ErrLocked took %v", time.Since(start))
	}
	ix.Close()

	ro, err := Open(path, &Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if _, err := ro.AddTags(c.UUID, "x"); !errors.Is(err, ErrReadOnly) {
		t.Errorf("write on read-only: %v", err)
	}
	if n := mustSegment(t, ro, Tag("t")).Count(); n != 1 {
		t.Errorf("read-only count %d", n)
	}
	if _, err := Open(filepath.Join(t.TempDir(), "missing.db"), &Options{ReadOnly: true}); err == nil {
		t.Error("read-only Open of a missing file succeeded")
	}
}

func TestLookups(t *testing.T) {
	ix := openTest(t)
	var made []Customer
	for i := range 600 {
		made = append(made, mustCreate(t, ix, Customer{DataSourceUUID: "ds", ExternalID: fmt.Sprint(i), Tags: []string{"t"}}))
	}
	got, err := ix.CustomerByExternalID("ds", "42")
	if err != nil || got.UUID != made[42].UUID {
		t.Fatalf("CustomerByExternalID = %v, %v", got.UUID, err)
	}
	if _, err := ix.CustomerByExternalID("other", "42"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown external ID: %v", err)
	}
	err = ix.Update(func(tx *Tx) error {
		c, err := tx.CreateCustomer(Customer{DataSourceUUID: "ds", ExternalID: "new"})
		if err != nil {
			return err
		}
		seen, err := tx.CustomerByExternalID("ds", "new")
		if err != nil || seen.UUID != c.UUID {
			t.Errorf("tx.CustomerByExternalID = %v, %v", seen.UUID, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// History, out of order and replaced at one instant.
	u := made[7].UUID
	for _, e := range []struct {
		at    time.Time
		cents int64
	}{{day(2024, 3, 1), 300}, {day(2024, 1, 1), 100}, {day(2024, 3, 1), 350}} {
		if err := ix.SetMRR(u, e.at, e.cents); err != nil {
			t.Fatal(err)
		}
	}
	h, err := ix.MRRHistory(u)
	want := []MRRChange{{day(2024, 1, 1), 100}, {day(2024, 3, 1), 350}}
	if err != nil || !cmp.Equal(h, want) {
		t.Errorf("MRRHistory = %v, %v; want %v", h, err, want)
	}
	if _, err := ix.MRRHistory("cus_nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("MRRHistory(unknown): %v", err)
	}
	// Paging through a segment with CustomersFrom.
	seg := mustSegment(t, ix, Tag("t"))
	var paged []string
	next := uint32(0)
	for {
		n := 0
		for c := range seg.CustomersFrom(next) {
			paged = append(paged, c.UUID)
			next = c.ID + 1
			if n++; n == 250 {
				break
			}
		}
		if n < 250 {
			break
		}
	}
	if len(paged) != len(made) || paged[599] != made[599].UUID || paged[250] != made[250].UUID {
		t.Errorf("paged %d customers", len(paged))
	}
}
