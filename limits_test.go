package tagseg

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Limits: the largest inputs the design allows, or more. Each must give a
// clear error or the right answer, in bounded memory.

// heapInUse is the live heap after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// TestLimitManyTagsOneCustomer gives one customer 100,000 tags (the design
// sets no limit), then reads, changes and reopens it.
func TestLimitManyTagsOneCustomer(t *testing.T) {
	n := 100_000
	switch {
	case testing.Short():
		n = 20_000
	case raceEnabled:
		n = 40_000
	}
	path := filepath.Join(t.TempDir(), "tags.db")
	ix := openTestAt(t, path, &Options{NoSync: true})
	base := heapInUse()
	other := mustCreate(t, ix, Customer{Tags: []string{"t00001", "shared"}})
	c := mustCreate(t, ix, Customer{Tags: []string{"shared"}})
	if err := ix.SetMRR(c.UUID, day(2024, 1, 1), 500); err != nil {
		t.Fatal(err)
	}
	tags := make([]string, n)
	for i := range tags {
		tags[i] = fmt.Sprintf("t%05d", i)
	}
	start := time.Now()
	got, err := ix.AddTags(c.UUID, tags...)
	if err != nil {
		t.Fatal(err)
	}
	added := time.Since(start)
	if len(got) != n+1 || got[0] != "shared" || got[n] != tags[n-1] {
		t.Fatalf("AddTags: %d tags, want %d in order", len(got), n+1)
	}
	// One more tag rewrites the record and one chunk of one bitmap.
	start = time.Now()
	if _, err := ix.AddTags(c.UUID, "one-more"); err != nil {
		t.Fatal(err)
	}
	oneMore := time.Since(start)
	mem := heapInUse() - min(base, heapInUse())

	cu, err := ix.Customer(c.UUID)
	if err != nil || len(cu.Tags) != n+2 || cu.MRR != 500 {
		t.Fatalf("Customer: %d tags, MRR %d, %v", len(cu.Tags), cu.MRR, err)
	}
	counts := tagCounts(ix)
	if len(counts) != n+2 || counts["shared"] != 2 || counts["t00001"] != 2 || counts[tags[n-1]] != 1 {
		t.Fatalf("Tags(): %d tags, shared %d, t00001 %d", len(counts), counts["shared"], counts["t00001"])
	}
	for _, tc := range []struct {
		e    Expr
		want uint64
	}{
		{Tag(tags[n-1]), 1},
		{Tag("t00001"), 2},
		{AllTags(tags...), 1},
		{AnyTag(tags[n/2:]...), 1},
		{And(Tag("shared"), Not(Tag(tags[n/3]))), 1},
	} {
		if s := mustSegment(t, ix, tc.e); s.Count() != tc.want {
			t.Errorf("Segment(%.60s…): %d, want %d", tc.e.String(), s.Count(), tc.want)
		}
	}
	stats, err := ix.TagStats(Tag("shared"), TagStatsOptions{Limit: 3})
	if err != nil || len(stats) != 3 || stats[0].Customers != 2 || stats[1].MRR != 500 {
		t.Fatalf("TagStats: %v, %v", stats, err)
	}
	if stats, err := ix.TagStats(All(), TagStatsOptions{Prefix: "t0000"}); err != nil || len(stats) != min(n, 10) {
		t.Fatalf("TagStats with a prefix: %d tags, %v", len(stats), err)
	}
	// Half of them removed.
	left, err := ix.RemoveTags(c.UUID, tags[:n/2]...)
	if err != nil || len(left) != n-n/2+2 || left[1] != tags[n/2] {
		t.Fatalf("RemoveTags: %d left, %v", len(left), err)
	}
	if err := ix.DeleteCustomer(other.UUID); err != nil {
		t.Fatal(err)
	}
	if err := ix.Check(); err != nil {
		t.Fatal(err)
	}
	ix.Close()
	start = time.Now()
	ix = openTestAt(t, path, &Options{NoSync: true})
	reopen := time.Since(start)
	if counts := tagCounts(ix); len(counts) != n-n/2+2 {
		t.Fatalf("after reopen: %d tags", len(counts))
	}
	t.Logf("%d tags on one customer: AddTags %v, one more %v, reopen %v; heap +%d MB (%d bytes a tag)",
		n, added, oneMore, reopen, mem>>20, mem/uint64(n))
	if mem > 512<<20 {
		t.Errorf("heap grew by %d MB for %d tags", mem>>20, n)
	}
}

// TestLimitTagOnEveryCustomer creates 200,000 customers in one Update, all
// with one tag, and works on that tag as a whole.
func TestLimitTagOnEveryCustomer(t *testing.T) {
	n := 200_000
	switch {
	case testing.Short():
		n = 30_000
	case raceEnabled:
		n = 60_000
	}
	path := filepath.Join(t.TempDir(), "every.db")
	ix := openTestAt(t, path, &Options{NoSync: true})
	base := heapInUse()
	start := time.Now()
	var sum int64
	err := ix.Update(func(tx *Tx) error {
		for i := range n {
			c, err := tx.CreateCustomer(Customer{UUID: fmt.Sprint("cus_", i), Tags: []string{"everyone", fmt.Sprint("g", i%10)}})
			if err != nil {
				return err
			}
			if i%2 == 0 {
				cents := int64(i % 1000)
				sum += cents
				if err := tx.SetMRR(c.UUID, day(2024, 1, 1+i%28), cents); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	created := time.Since(start)
	mem := heapInUse() - min(base, heapInUse())
	s := mustSegment(t, ix, Tag("everyone"))
	if s.Count() != uint64(n) || s.MRR() != sum || s.ARR() != 12*sum {
		t.Fatalf("Segment(tag:everyone) = %d customers, MRR %d; want %d, %d", s.Count(), s.MRR(), n, sum)
	}
	stats, err := ix.TagStats(All(), TagStatsOptions{ByCount: true, Limit: 2})
	if err != nil || len(stats) != 2 || stats[0] != (TagStat{"everyone", uint64(n), sum}) {
		t.Fatalf("TagStats = %v, %v", stats, err)
	}
	p, err := ix.Series(Tag("everyone"), day(2023, 12, 1), day(2024, 2, 1), Month)
	if err != nil || len(p) != 3 || p[1].MRR != sum || p[1].NewBusiness != sum {
		t.Fatalf("Series = %+v, %v", p, err)
	}
	// Untag a tenth, then tag everyone with a new tag, in bulk.
	start = time.Now()
	changed, err := ix.RemoveTagsFromSegment(Tag("g3"), "everyone")
	if err != nil || changed != n/10 {
		t.Fatalf("RemoveTagsFromSegment: %d, %v; want %d", changed, err, n/10)
	}
	changed, err = ix.AddTagsToSegment(All(), "new")
	if err != nil || changed != n {
		t.Fatalf("AddTagsToSegment: %d, %v; want %d", changed, err, n)
	}
	bulk := time.Since(start)
	if s := mustSegment(t, ix, And(Tag("new"), Not(Tag("everyone")))); s.Count() != uint64(n/10) {
		t.Fatalf("after the bulk changes: %d", s.Count())
	}
	ix.Close()
	start = time.Now()
	ix = openTestAt(t, path, &Options{NoSync: true})
	reopen := time.Since(start)
	if s := mustSegment(t, ix, Tag("everyone")); s.Count() != uint64(n-n/10) {
		t.Fatalf("after reopen: %d", s.Count())
	}
	t.Logf("%d customers in one Update %v (heap +%d MB, %d bytes a customer), two bulk segment writes %v, reopen %v",
		n, created, mem>>20, mem/uint64(n), bulk, reopen)
	if mem > 1000*uint64(n) {
		t.Errorf("heap grew by %d bytes a customer", mem/uint64(n))
	}
}

// TestLimitLongQueries parses and evaluates queries of 10,000 terms: flat
// OR and AND chains, tag lists, and nesting (bounded by maxDepth).
func TestLimitLongQueries(t *testing.T) {
	const terms = 10_000
	ix := openTest(t)
	// Customer i has tag t<i>; every third one has x as well.
	n := 3000
	want := map[string]int{}
	err := ix.Update(func(tx *Tx) error {
		for i := range n {
			tags := []string{fmt.Sprint("t", i)}
			if i%3 == 0 {
				tags = append(tags, "x")
			}
			if _, err := tx.CreateCustomer(Customer{Tags: tags}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	join := func(sep string, f func(i int) string) string {
		parts := make([]string, terms)
		for i := range parts {
			parts[i] = f(i)
		}
		return strings.Join(parts, sep)
	}
	queries := []struct {
		name, q string
		want    uint64
	}{
		{"OR chain", join(" OR ", func(i int) string { return fmt.Sprint("tag:t", i) }), uint64(n)},
		{"OR chain, half unknown", join(" or ", func(i int) string { return fmt.Sprint("tag:t", 2*i) }), uint64(n / 2)},
		{"AND chain", join(" AND ", func(i int) string { return "tag:x" }), uint64(n / 3)},
		{"AND NOT chain", "tag:x AND " + join(" AND ", func(i int) string { return fmt.Sprint("NOT tag:t", i*3%n) }), 0},
		{"AND NOT chain, some left", join(" AND ", func(i int) string { return fmt.Sprint("NOT tag:t", i+n/2) }), uint64(n / 2)},
		{"tags:any", "tags:any(" + join(", ", func(i int) string { return fmt.Sprint("t", i) }) + ")", uint64(n)},
		{"tags:all", "tags:all(" + join(",", func(i int) string { return "x" }) + ")", uint64(n / 3)},
		{"mixed", "(" + join(" OR ", func(i int) string { return fmt.Sprintf("(tag:t%d AND NOT tag:x)", i) }) + ")", uint64(n - n/3)},
		{"nested 999 deep", strings.Repeat("(", 999) + "tag:x" + strings.Repeat(")", 999), uint64(n / 3)},
	}
	for _, tc := range queries {
		start := time.Now()
		e, err := Parse(tc.q)
		if err != nil {
			t.Fatalf("%s (%d bytes): %v", tc.name, len(tc.q), err)
		}
		parsed := time.Since(start)
		s := mustSegment(t, ix, e)
		if s.Count() != tc.want {
			t.Errorf("%s: %d customers, want %d", tc.name, s.Count(), tc.want)
		}
		// The printed form parses back to the same segment.
		back, err := Parse(e.String())
		if err != nil {
			t.Fatalf("%s: Parse(String()): %v", tc.name, err)
		}
		if s2 := mustSegment(t, ix, back); !s2.IDs().Equals(s.IDs()) {
			t.Errorf("%s: Parse(String()) selects %d, not %d", tc.name, s2.Count(), s.Count())
		}
		want[tc.name] = int(tc.want)
		t.Logf("%s: %d bytes, parsed in %v, evaluated in %v", tc.name, len(tc.q), parsed, time.Since(start)-parsed)
	}
	// Nesting deeper than maxDepth is a *SyntaxError, not a stack overflow.
	for _, q := range []string{
		strings.Repeat("(", terms) + "tag:x" + strings.Repeat(")", terms),
		strings.Repeat("NOT ", terms) + "tag:x",
		strings.Repeat("(NOT ", terms) + "tag:x" + strings.Repeat(")", terms),
		strings.Repeat("(", 1<<20),
	} {
		_, err := Parse(q)
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Parse of %d nested levels: %v, want a *SyntaxError", terms, err)
		}
	}
	// Expressions built in Go have no depth limit: 10,000 levels evaluate.
	e := Tag("x")
	for i := range terms {
		if i%2 == 0 {
			e = And(e, All())
		} else {
			e = Or(e, Tag("nobody"))
		}
	}
	if s := mustSegment(t, ix, e); s.Count() != uint64(n/3) {
		t.Errorf("10,000 nested And/Or: %d", s.Count())
	}
	if s := mustSegment(t, ix, Not(Not(Not(Not(Tag("x")))))); s.Count() != uint64(n/3) {
		t.Errorf("NOT NOT NOT NOT: %d", s.Count())
	}
}

// TestLimitHugeValues tries each size limit on both sides, and values far
// beyond: a clear error, nothing stored; or a correct answer.
func TestLimitHugeValues(t *testing.T) {
	ix := openTest(t)
	c := mustCreate(t, ix, Customer{Email: "a@b.c"})
	big := strings.Repeat("é", 2<<20) // 4 MiB
	at := day(2024, 1, 1)
	for _, tc := range []struct {
		name string
		call func() error
		want error // nil: must succeed
	}{
		{"tag of 255 bytes", func() error { _, err := ix.AddTags(c.UUID, strings.Repeat("x", 255)); return err }, nil},
		{"tag of 255 bytes, multibyte", func() error { _, err := ix.AddTags(c.UUID, strings.Repeat("é", 127)+"x"); return err }, nil},
		{"tag of 256 bytes", func() error { _, err := ix.AddTags(c.UUID, strings.Repeat("x", 256)); return err }, ErrInvalidTag},
		{"tag of 4 MiB", func() error { _, err := ix.AddTags(c.UUID, big); return err }, ErrInvalidTag},
		{"name of 4096 bytes", func() error {
			_, err := ix.CreateCustomer(Customer{Name: strings.Repeat("n", maxFieldLen)})
			return err
		}, nil},
		{"name of 4097 bytes", func() error {
			_, err := ix.CreateCustomer(Customer{Name: strings.Repeat("n", maxFieldLen+1)})
			return err
		}, ErrInvalid},
		{"email of 4 MiB", func() error { _, err := ix.CreateCustomer(Customer{Email: big}); return err }, ErrInvalid},
		{"UUID of 256 bytes", func() error {
			_, err := ix.CreateCustomer(Customer{UUID: strings.Repeat("u", 256)})
			return err
		}, ErrInvalid},
		{"custom value of 4 MiB", func() error {
			_, err := ix.CreateCustomer(Customer{Custom: map[string]any{"k": big}})
			return err
		}, ErrInvalidField},
		{"custom key of 256 bytes", func() error {
			_, err := ix.CreateCustomer(Customer{Custom: map[string]any{strings.Repeat("k", 256): 1}})
			return err
		}, ErrInvalidField},
		{"custom int64 extremes", func() error {
			_, err := ix.CreateCustomer(Customer{Custom: map[string]any{"lo": int64(math.MinInt64), "hi": uint64(math.MaxInt64)}})
			return err
		}, nil},
		{"custom uint64 beyond int64", func() error {
			_, err := ix.CreateCustomer(Customer{Custom: map[string]any{"k": uint64(math.MaxUint64)}})
			return err
		}, ErrInvalidField},
		{"time before 1678", func() error { return ix.SetMRR(c.UUID, time.Date(1677, 12, 31, 0, 0, 0, 0, time.UTC), 1) }, ErrInvalid},
		{"time after 2261", func() error { return ix.SetMRR(c.UUID, time.Date(2262, 1, 1, 0, 0, 0, 0, time.UTC), 1) }, ErrInvalid},
		{"lead date in year 10000", func() error {
			_, err := ix.CreateCustomer(Customer{LeadCreatedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)})
			return err
		}, ErrInvalid},
		{"saved query of 4 MiB", func() error { return ix.SaveSegment("big", "tag:"+strings.Repeat("x", 4<<20)) }, nil},
		{"segment name of 256 bytes", func() error { return ix.SaveSegment(strings.Repeat("s", 256), "*") }, ErrInvalid},
		{"series of 100,001 days", func() error {
			_, err := ix.Series(All(), day(2000, 1, 1), day(2000, 1, 1).AddDate(0, 0, 100_000), Day)
			return err
		}, ErrInvalid},
		{"series over the whole time range, yearly", func() error {
			_, err := ix.Series(All(), time.Date(1678, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2260, 12, 31, 0, 0, 0, 0, time.UTC), Year)
			return err
		}, nil},
		{"series with a last year ending after 2261", func() error {
			_, err := ix.Series(All(), time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2261, 1, 1, 0, 0, 0, 0, time.UTC), Year)
			return err
		}, ErrInvalid},
		{"negative MRR", func() error { return ix.SetMRR(c.UUID, at, -1) }, ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := mustSegment(t, ix, All()).Count()
			err := tc.call()
			switch {
			case tc.want == nil && err != nil:
				t.Fatalf("%v, want success", err)
			case tc.want != nil && !errors.Is(err, tc.want):
				t.Fatalf("%v, want %v", err, tc.want)
			case tc.want != nil && len(err.Error()) > 1000:
				t.Fatalf("an error of %d bytes", len(err.Error()))
			case tc.want != nil && mustSegment(t, ix, All()).Count() != before:
				t.Fatal("a failed call created a customer")
			}
		})
	}
	if got, err := ix.Customer(c.UUID); err != nil || len(got.Tags) != 2 {
		t.Fatalf("tags after the huge-tag calls: %q, %v", got.Tags, err)
	}
	// Queries with huge values: no match, or an error; never a panic.
	for _, q := range []string{
		"name:\"" + strings.Repeat("q", 1<<20) + "\"",
		"mrr > 99999999999999999999999999999",
		"mrr < -99999999999999999999999999999",
		"arr >= 9223372036854775807",
		"custom.k > 1e308 OR custom.k < -1e308",
		"lead_created_at > 9999-12-31",
	} {
		e, err := Parse(q)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Errorf("Parse(%.40q…): %v", q, err)
			}
			continue
		}
		if _, err := ix.Segment(e); err != nil && !errors.Is(err, ErrInvalidField) {
			t.Errorf("Segment(%.40q…): %v", q, err)
		}
	}
}

// TestLimitHugeMRR: the largest MRR a customer may have, and what a
// segment's sums do with it.
func TestLimitHugeMRR(t *testing.T) {
	ix := openTest(t)
	var us []string
	for range 3 {
		us = append(us, mustCreate(t, ix, Customer{Tags: []string{"big"}}).UUID)
	}
	at := day(2024, 1, 1)
	for _, cents := range []int64{maxMRR + 1, math.MaxInt64} {
		if err := ix.SetMRR(us[0], at, cents); !errors.Is(err, ErrInvalid) {
			t.Errorf("SetMRR(%d): %v, want ErrInvalid", cents, err)
		}
	}
	for _, u := range us {
		if err := ix.SetMRR(u, at, maxMRR); err != nil {
			t.Fatal(err)
		}
	}
	s := mustSegment(t, ix, Tag("big"))
	if want := 3 * int64(maxMRR); s.MRR() != want || s.ARR() != 12*want || s.ARPA() != maxMRR {
		t.Errorf("3 customers at the maximum: MRR %d, ARR %d, ARPA %d; want %d, %d, %d", s.MRR(), s.ARR(), s.ARPA(), want, 12*want, maxMRR)
	}
	p, err := ix.Series(Tag("big"), at, at, Month)
	if err != nil || p[0].MRR != 3*maxMRR || p[0].ARR != 36*maxMRR {
		t.Errorf("Series: %+v, %v", p, err)
	}
	for _, tc := range []struct {
		q    string
		want uint64
	}{
		{fmt.Sprint("mrr = ", maxMRR), 3},
		{fmt.Sprint("arr = ", 12*maxMRR), 3},
		{fmt.Sprint("mrr > ", maxMRR-1), 3},
		{fmt.Sprint("arr > ", 12*maxMRR), 0},
	} {
		e, err := Parse(tc.q)
		if err != nil {
			t.Fatal(err)
		}
		if s := mustSegment(t, ix, e); s.Count() != tc.want {
			t.Errorf("%s: %d, want %d", tc.q, s.Count(), tc.want)
		}
	}
}
