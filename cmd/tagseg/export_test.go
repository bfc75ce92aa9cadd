package main

import (
	"bytes"
	"encoding/csv"
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/tagseg/tagseg"
)

var seedFlag = flag.Uint64("seed", 0, "seed for randomized tests (0: from the clock)")

func testRand(t *testing.T) *rand.Rand {
	s := *seedFlag
	if s == 0 {
		s = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -seed=%d)", s, s)
	return rand.New(rand.NewPCG(s, s^0x9e3779b97f4a7c15))
}

// exportFixture is an index of random customers and the plain-Go model of
// it: customers by UUID as created (tags, attributes, MRR history), and the
// dense IDs of the live ones.
type exportFixture struct {
	db    string
	custs map[string]tagseg.Customer // live customers, with ID and MRR
	hist  map[string][]tagseg.MRRChange
	next  uint32
}

var fixtureTags = []string{"plan-pro", "churn-risk-high", "feature: dark mode", `a "quoted", comma tag`, "ünïcode", "[bracket"}

func newExportFixture(t *testing.T, r *rand.Rand, n int) *exportFixture {
	t.Helper()
	f := &exportFixture{db: tempDB(t), custs: map[string]tagseg.Customer{}, hist: map[string][]tagseg.MRRChange{}}
	ix, err := tagseg.Open(f.db, &tagseg.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	var cs []tagseg.Customer
	var hs [][]tagseg.MRRChange
	for i := range n {
		c := tagseg.Customer{
			UUID:           fmt.Sprintf("cus_%05d", i),
			DataSourceUUID: []string{"ds_a", "ds_b"}[r.IntN(2)],
			ExternalID:     fmt.Sprint("ext-", i),
			Name:           []string{"Ann", "Bo, Jr.", `Cy "the" Guy`, " padded "}[r.IntN(4)],
			Email:          fmt.Sprintf("user%d@example.com", r.IntN(n)),
			Company:        "Acme\nLtd",
			Country:        []string{"US", "GB", ""}[r.IntN(3)],
			City:           "Zürich",
		}
		if r.IntN(2) == 0 {
			c.LeadCreatedAt = time.Date(2020+r.IntN(5), time.Month(1+r.IntN(12)), 1+r.IntN(28), r.IntN(24), 0, 0, r.IntN(1e9), time.UTC)
		}
		for _, tg := range fixtureTags {
			if r.IntN(3) == 0 {
				c.Tags = append(c.Tags, tg)
			}
		}
		if r.IntN(2) == 0 {
			c.Custom = map[string]any{
				"plan":  []string{"pro", "free", " spaced "}[r.IntN(3)],
				"seats": int64(r.IntN(1000) - 10),
				"score": float64(r.IntN(100)) / 8,
				"vip":   r.IntN(2) == 0,
				"renew": time.Date(2026, time.Month(1+r.IntN(12)), 1, 0, 0, 0, 0, time.UTC),
			}
		}
		var h []tagseg.MRRChange
		at := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
		for range r.IntN(4) {
			at = at.Add(time.Duration(1+r.IntN(90)) * 24 * time.Hour)
			h = append(h, tagseg.MRRChange{At: at, Cents: int64(r.IntN(3) * r.IntN(50000))})
		}
		cs = append(cs, c)
		hs = append(hs, h)
	}
	if _, err := ix.Load(func(yield func(tagseg.Customer, []tagseg.MRRChange) bool) {
		for i := range cs {
			if !yield(cs[i], hs[i]) {
				return
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	for i, c := range cs {
		c.ID = uint32(i)
		if h := hs[i]; len(h) > 0 {
			c.MRR = h[len(h)-1].Cents
		}
		if c.Tags == nil {
			c.Tags = []string{}
		}
		f.custs[c.UUID] = c
		f.hist[c.UUID] = hs[i]
	}
	f.next = uint32(n)
	for range n / 10 {
		u := fmt.Sprintf("cus_%05d", r.IntN(n))
		if _, ok := f.custs[u]; !ok {
			continue
		}
		if err := ix.DeleteCustomer(u); err != nil {
			t.Fatal(err)
		}
		delete(f.custs, u)
	}
	return f
}

// holding returns the model's live customers holding tag ("" = all).
func (f *exportFixture) holding(tag string) map[string]tagseg.Customer {
	out := map[string]tagseg.Customer{}
	for u, c := range f.custs {
		if tag == "" || slices.Contains(c.Tags, tag) {
			out[u] = c
		}
	}
	return out
}

// export -format csv|jsonl, and query -format csv|jsonl -limit 0, write
// a segment that "tagseg import" loads into a fresh index as the same
// customers (go-cmp): attributes, tags in order, typed custom values of
// every type, current MRR (as one change at its time); export -events
// adds the whole MRR histories.
func TestExportImportRoundTrip(t *testing.T) {
	r := testRand(t)
	f := newExportFixture(t, r, 300)
	for _, format := range []string{"csv", "jsonl"} {
		for i, tag := range []string{"", fixtureTags[r.IntN(len(fixtureTags))]} {
			query := "*"
			if tag != "" {
				query = "tag:" + strconv.Quote(tag)
			}
			out := filepath.Join(t.TempDir(), "out."+format)
			events := out + ".events.csv"
			if code, _, stderr := cli(t, "export", "-db", f.db, "-query", query, "-format", format, "-out", out, "-events", events); code != 0 {
				t.Fatalf("export %s %s: exit %d: %s", format, query, code, stderr)
			}
			if i == 0 {
				// query writes the same file.
				code, stdout, stderr := cli(t, "query", "-db", f.db, "-format", format, "-limit", "0", query)
				if b, _ := os.ReadFile(out); code != 0 || stdout != string(b) {
					t.Errorf("query -format %s -limit 0 %s: exit %d: %s\nit differs from export's (-export +query):\n%s", format, query, code, stderr, cmp.Diff(string(b), stdout))
				}
			}
			fresh := filepath.Join(t.TempDir(), "fresh.db")
			if code, stdout, stderr := cli(t, "import", "-db", fresh, out); code != 0 {
				t.Fatalf("import of the %s export of %s: exit %d: %s%s", format, query, code, stdout, stderr)
			}
			want := f.holding(tag)
			got, hist := readAll(t, fresh)
			opts := []cmp.Option{cmpopts.IgnoreFields(tagseg.Customer{}, "ID"), cmpopts.EquateEmpty()}
			if diff := cmp.Diff(want, got, opts...); diff != "" {
				t.Errorf("%s export of %s, imported (-want +got):\n%s", format, query, diff)
			}
			wantHist := map[string][]tagseg.MRRChange{}
			for u, c := range want {
				wantHist[u] = []tagseg.MRRChange{}
				if h := f.hist[u]; c.MRR > 0 {
					wantHist[u] = h[len(h)-1:]
				}
			}
			if diff := cmp.Diff(wantHist, hist); diff != "" {
				t.Errorf("%s export of %s, imported MRR histories (-want +got):\n%s", format, query, diff)
			}
			// With -events, the whole histories.
			if code, stdout, stderr := cli(t, "import", "-db", fresh, "-events", events); code != 0 {
				t.Fatalf("import -events of the export of %s: exit %d: %s%s", query, code, stdout, stderr)
			}
			for u := range want {
				wantHist[u] = append([]tagseg.MRRChange{}, f.hist[u]...)
			}
			if _, hist := readAll(t, fresh); !cmp.Equal(wantHist, hist, cmpopts.EquateEmpty()) {
				t.Errorf("%s export of %s with -events, imported MRR histories (-want +got):\n%s", format, query, cmp.Diff(wantHist, hist, cmpopts.EquateEmpty()))
			}
		}
	}
}

// readAll returns every customer of an index, by UUID, and their MRR
// histories.
func readAll(t *testing.T, db string) (map[string]tagseg.Customer, map[string][]tagseg.MRRChange) {
	t.Helper()
	ix, err := tagseg.Open(db, &tagseg.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	seg, err := ix.Segment(tagseg.All())
	if err != nil {
		t.Fatal(err)
	}
	custs, hist := map[string]tagseg.Customer{}, map[string][]tagseg.MRRChange{}
	for c := range seg.Customers() {
		custs[c.UUID] = c
		if hist[c.UUID], err = ix.MRRHistory(c.UUID); err != nil {
			t.Fatal(err)
		}
	}
	return custs, hist
}

// export -format roaring writes the segment's dense IDs, which roaring's
// own reader reads as the model's set, and the mapping file of each ID's
// UUID and external ID.
func TestExportRoaring(t *testing.T) {
	r := testRand(t)
	f := newExportFixture(t, r, 500)
	tag := fixtureTags[r.IntN(len(fixtureTags))]
	dir := t.TempDir()
	out := filepath.Join(dir, "seg.roaring")
	if code, _, stderr := cli(t, "export", "-db", f.db, "-query", "tag:"+strconv.Quote(tag), "-format", "roaring", "-out", out); code != 0 {
		t.Fatalf("export: exit %d: %s", code, stderr)
	}
	want := f.holding(tag)
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	bm := roaring.New()
	if _, err := bm.ReadFrom(bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	wantIDs := map[uint32]bool{}
	wantMap := [][]string{{"id", "uuid", "data_source_uuid", "external_id"}}
	for _, u := range slices.Sorted(maps.Keys(want)) { // UUIDs sort as IDs here
		c := want[u]
		wantIDs[c.ID] = true
		wantMap = append(wantMap, []string{fmt.Sprint(c.ID), c.UUID, c.DataSourceUUID, c.ExternalID})
	}
	gotIDs := map[uint32]bool{}
	for _, id := range bm.ToArray() {
		gotIDs[id] = true
	}
	if diff := cmp.Diff(wantIDs, gotIDs); diff != "" {
		t.Errorf("bitmap (-want +got):\n%s", diff)
	}
	mf, err := os.Open(out + ".ids.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer mf.Close()
	gotMap, err := csv.NewReader(mf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantMap, gotMap); diff != "" {
		t.Errorf("mapping file (-want +got):\n%s", diff)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("export left %d files, want the bitmap and the mapping", len(entries))
	}
	// Standard output: the bitmap alone, the same bytes.
	var stdout bytes.Buffer
	if code := run([]string{"export", "-db", f.db, "-query", "tag:" + strconv.Quote(tag), "-format", "roaring"}, &stdout, &bytes.Buffer{}); code != 0 || !bytes.Equal(stdout.Bytes(), b) {
		t.Errorf("export to stdout: exit %d, %d bytes, want the file's %d", code, stdout.Len(), len(b))
	}
}

// tag-import sets a tag on exactly a file's customers (roaring or external
// IDs; -add keeps the other holders), and a bad file or ID changes nothing
// and says what is wrong.
func TestTagImport(t *testing.T) {
	r := testRand(t)
	f := newExportFixture(t, r, 400)
	live := slices.Sorted(maps.Keys(f.custs))
	pickSet := func() map[string]bool {
		s := map[string]bool{}
		for _, u := range live {
			if r.IntN(3) == 0 {
				s[u] = true
			}
		}
		return s
	}
	dir := t.TempDir()
	writeBitmap := func(name string, ids ...uint32) string {
		bm := roaring.BitmapOf(ids...)
		bm.RunOptimize()
		b, err := bm.ToBytes()
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	idsOf := func(s map[string]bool) []uint32 {
		var ids []uint32
		for u := range s {
			ids = append(ids, f.custs[u].ID)
		}
		return ids
	}
	holdersIn := func(db, tag string) map[string]bool {
		got, _ := readAll(t, db)
		out := map[string]bool{}
		for u, c := range got {
			if slices.Contains(c.Tags, tag) {
				out[u] = true
			}
		}
		return out
	}
	holders := func(tag string) map[string]bool { return holdersIn(f.db, tag) }
	// Exactly a bitmap's customers, twice (the second changes the first).
	var want map[string]bool
	for i := range 2 {
		want = pickSet()
		path := writeBitmap(fmt.Sprint("set", i), idsOf(want)...)
		if code, stdout, stderr := cli(t, "tag-import", "-db", f.db, "-tag", "imported", path); code != 0 || !strings.Contains(stdout, fmt.Sprintf("imported: %d holders", len(want))) {
			t.Fatalf("tag-import: exit %d: %s%s", code, stdout, stderr)
		}
		if diff := cmp.Diff(want, holders("imported"), cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("holders after tag-import %d (-want +got):\n%s", i, diff)
		}
	}
	// -add, from external IDs of one data source.
	more := pickSet()
	var lines []string
	for u := range more {
		if f.custs[u].DataSourceUUID == "ds_b" {
			lines = append(lines, f.custs[u].ExternalID)
			want[u] = true
		}
	}
	extPath := filepath.Join(dir, "ext.txt")
	os.WriteFile(extPath, []byte(strings.Join(lines, "\r\n")+"\n\n"), 0o600)
	if code, stdout, stderr := cli(t, "tag-import", "-db", f.db, "-tag", "imported", "-add", "-data-source", "ds_b", extPath); code != 0 {
		t.Fatalf("tag-import -add: exit %d: %s%s", code, stdout, stderr)
	}
	if diff := cmp.Diff(want, holders("imported"), cmpopts.EquateEmpty()); diff != "" {
		t.Fatalf("holders after tag-import -add (-want +got):\n%s", diff)
	}

	// The mapping file export writes beside a bitmap names the customers
	// by UUID: it sets the tag on another index the customers were
	// imported into, whose dense IDs differ (no deleted customers there).
	bitmap := filepath.Join(dir, "segment.roaring")
	if code, _, stderr := cli(t, "export", "-db", f.db, "-query", "tag:imported", "-format", "roaring", "-out", bitmap); code != 0 {
		t.Fatalf("export: exit %d: %s", code, stderr)
	}
	all := filepath.Join(dir, "all.jsonl")
	if code, _, stderr := cli(t, "export", "-db", f.db, "-format", "jsonl", "-out", all); code != 0 {
		t.Fatalf("export: exit %d: %s", code, stderr)
	}
	other := filepath.Join(dir, "other.db")
	if code, stdout, stderr := cli(t, "import", "-db", other, all); code != 0 {
		t.Fatalf("import: exit %d: %s%s", code, stdout, stderr)
	}
	if code, stdout, stderr := cli(t, "tag-import", "-db", other, "-tag", "from-mapping", bitmap+".ids.csv"); code != 0 || !strings.Contains(stdout, fmt.Sprintf("from-mapping: %s holders", count(len(want)))) {
		t.Fatalf("tag-import of the mapping file: exit %d: %s%s", code, stdout, stderr)
	}
	if diff := cmp.Diff(want, holdersIn(other, "from-mapping"), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("holders after tag-import of the mapping file (-want +got):\n%s", diff)
	}
	unknownMap := writeFile(t, filepath.Join(dir, "unknown.ids.csv"), "id,uuid,data_source_uuid,external_id\n0,"+live[0]+",ds_a,ext-0\n7,cus_nobody,ds_a,x\n")
	if code, _, stderr := cli(t, "tag-import", "-db", other, "-tag", "from-mapping", unknownMap); code != 1 || !strings.Contains(stderr, `1 UUID names no customer (line 3: "cus_nobody")`) {
		t.Errorf("tag-import of a mapping naming nobody: exit %d: %s", code, stderr)
	}

	// What is refused changes nothing.
	var deleted uint32
	for id := range f.next {
		if _, ok := f.custs[fmt.Sprintf("cus_%05d", id)]; !ok {
			deleted = id
			break
		}
	}
	good := writeBitmap("good", idsOf(pickSet())...)
	goodBytes, _ := os.ReadFile(good)
	truncated := filepath.Join(dir, "truncated")
	os.WriteFile(truncated, goodBytes[:len(goodBytes)-3], 0o600)
	garbage := filepath.Join(dir, "garbage")
	os.WriteFile(garbage, []byte{0x00, 0xff, 0x13, 0x37, 0x00}, 0o600)
	notBitmap := filepath.Join(dir, "notbitmap")
	os.WriteFile(notBitmap, []byte("hello"), 0o600)
	unknownExt := filepath.Join(dir, "unknown.txt")
	os.WriteFile(unknownExt, []byte(lines[0]+"\nno-such-1\nno-such-2\n"), 0o600)
	for _, c := range []struct {
		args []string
		code int
		says string
	}{
		{[]string{"-tag", "imported", "-format", "roaring", notBitmap}, 1, "not a portable Roaring bitmap (it starts with 68 65 6c 6c, not the cookie"},
		{[]string{"-tag", "imported", garbage}, 1, "neither a portable Roaring bitmap (it starts with 00 ff 13 37) nor text of external IDs: invalid argument"},
		{[]string{"-tag", "imported", truncated}, 1, "damaged or truncated portable Roaring bitmap"},
		{[]string{"-tag", "imported", writeBitmap("past", 1, f.next, f.next+5)}, 1, fmt.Sprintf("2 past the end, where the last ID is %d (%d, %d)", f.next-1, f.next, f.next+5)},
		{[]string{"-tag", "imported", writeBitmap("deleted", deleted)}, 1, fmt.Sprintf("1 ID names no customer: 1 of deleted customers (%d)", deleted)},
		{[]string{"-tag", "imported", "-data-source", "ds_b", unknownExt}, 1, `2 external IDs of data source "ds_b" name no customer (line 2: "no-such-1", line 3: "no-such-2")`},
		{[]string{"-tag", "  ", good}, 1, `invalid tag`},
		{[]string{good}, 2, "missing -tag NAME"},
		{[]string{"-tag", "x", "-format", "roaring", "-data-source", "ds_a", good}, 2, "-data-source is for external IDs"},
		{[]string{"-tag", "x", "-data-source", "ds_a", good}, 2, "-data-source is for external IDs"},
		{[]string{"-tag", "x", "-format", "csv", good}, 2, `unknown -format "csv"`},
		{[]string{"-tag", "x", filepath.Join(dir, "missing")}, 1, "no such file"},
	} {
		code, stdout, stderr := cli(t, append([]string{"tag-import", "-db", f.db}, c.args...)...)
		if code != c.code || !strings.Contains(stderr, c.says) {
			t.Errorf("tag-import %q: exit %d, %s%s; want exit %d saying %q", c.args, code, stdout, stderr, c.code, c.says)
		}
	}
	if diff := cmp.Diff(want, holders("imported"), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("a refused tag-import changed the tag (-want +got):\n%s", diff)
	}
	if n := len(holders("x")); n != 0 {
		t.Errorf("a refused tag-import made %d holders of x", n)
	}
}

// export refuses bad calls with a usage error and an unknown field with
// the query's error; roaring does not go to a terminal (tested by the
// flag check alone here).
func TestExportUsage(t *testing.T) {
	r := testRand(t)
	f := newExportFixture(t, r, 20)
	for _, c := range []struct {
		args []string
		code int
		says string
	}{
		{[]string{}, 2, "missing -format"},
		{[]string{"-format", "xml"}, 2, `unknown -format "xml"`},
		{[]string{"-format", "csv", "-ids", "x.csv"}, 2, "-ids is for -format roaring"},
		{[]string{"-format", "csv", "tag:a"}, 2, `unexpected argument "tag:a" (the query goes in -query)`},
		{[]string{"-format", "csv", "-query", "contry:US"}, 1, "contry"},
		{[]string{"-format", "csv", "-segment", "nope"}, 1, `no saved segment "nope"`},
		{[]string{"-format", "csv", "-out", f.db}, 2, "is the index itself"},
		{[]string{"-format", "csv", "-query", "tag:plan-pro OR tag:typo", "-out", filepath.Join(t.TempDir(), "x.csv")}, 0, `note: no customer holds the tag "typo"`},
	} {
		code, stdout, stderr := cli(t, append([]string{"export", "-db", f.db}, c.args...)...)
		if code != c.code || !strings.Contains(stderr, c.says) {
			t.Errorf("export %q: exit %d, %s%s; want exit %d saying %q", c.args, code, stdout, stderr, c.code, c.says)
		}
	}
}
