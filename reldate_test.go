package tagseg

import (
	"path/filepath"
	"testing"
	"time"
)

func TestRelDateOn(t *testing.T) {
	d := func(y int, m time.Month, dd int) time.Time { return time.Date(y, m, dd, 0, 0, 0, 0, time.UTC) }
	tests := []struct {
		s     string
		today time.Time
		want  time.Time
	}{
		{"now", d(2025, 3, 31), d(2025, 3, 31)},
		{"now-30d", d(2025, 3, 31), d(2025, 3, 1)},
		{"now+1d", d(2024, 12, 31), d(2025, 1, 1)},
		{"now-2w", d(2025, 3, 10), d(2025, 2, 24)},
		{"now-1m", d(2025, 3, 31), d(2025, 2, 28)},
		{"now-1m", d(2024, 3, 31), d(2024, 2, 29)},
		{"now+1m", d(2025, 1, 31), d(2025, 2, 28)},
		{"now-13m", d(2025, 1, 15), d(2023, 12, 15)},
		{"now+12m", d(2024, 2, 29), d(2025, 2, 28)},
		{"now-0m", d(2025, 5, 5), d(2025, 5, 5)},
	}
	for _, tt := range tests {
		r, ok := parseRelDate(tt.s)
		if !ok {
			t.Fatalf("parseRelDate(%q) failed", tt.s)
		}
		if got := r.on(tt.today); !got.Equal(tt.want) {
			t.Errorf("%s on %s = %s, want %s", tt.s, tt.today.Format(time.DateOnly), got.Format(time.DateOnly), tt.want.Format(time.DateOnly))
		}
	}
	for _, bad := range []string{"", "no", "nowd", "now-", "now-d", "now+1", "now-1y", "now--1d", "now-1000000d", "now-1.5d", "Now", "now -1d", "now-٣d"} {
		if _, ok := parseRelDate(bad); ok {
			t.Errorf("parseRelDate(%q) accepted", bad)
		}
	}
}

// TestRelativeDates evaluates relative dates against the index's clock:
// the same expression selects other customers when the day changes, with
// no commit; dependsOnDay tells which expressions do, and resolveDays
// fixes them to one day.
func TestRelativeDates(t *testing.T) {
	now := time.Date(2025, 6, 15, 23, 30, 0, 0, time.UTC)
	ix := openTestAt(t, filepath.Join(t.TempDir(), "rel.db"), &Options{NoSync: true, Clock: func() time.Time { return now }})
	for i := range 60 {
		mustCreate(t, ix, Customer{Name: "c", LeadCreatedAt: time.Date(2025, 6, 15, 12, 0, 0, 0, time.UTC).AddDate(0, 0, -i)})
	}
	e, err := Parse("lead_created_at >= now-30d AND name:c")
	if err != nil {
		t.Fatal(err)
	}
	count := func() uint64 { // through the kept answers too
		n, err := ix.Count(e)
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if seg := mustSegment(t, ix, e); seg.Count() != n {
				t.Fatalf("Segment counts %d, Count %d", seg.Count(), n)
			}
		}
		return n
	}
	if n := count(); n != 31 { // created at noon, May 16 to June 15: since May 16, 00:00
		t.Fatalf("on June 15: %d, want 31", n)
	}
	now = now.Add(time.Hour) // June 16, 00:30 UTC: a new day
	if n := count(); n != 30 {
		t.Fatalf("on June 16: %d, want 30", n)
	}
	now = time.Date(2025, 6, 16, 1, 0, 0, 0, time.FixedZone("X", 5*3600)) // still June 15 in UTC
	if n := count(); n != 31 {
		t.Fatalf("on June 15 UTC (June 16 at +05:00): %d, want 31", n)
	}
	if !e.dependsOnDay() || Tag("x").dependsOnDay() || And(Tag("x"), Where("lead_created_at", Gt, day(2025, 1, 1))).dependsOnDay() {
		t.Fatal("dependsOnDay")
	}
	if !Not(Or(Tag("x"), Where("free_trial_started_at", Lt, "now"))).dependsOnDay() || Where("custom.at", Lt, "now").dependsOnDay() {
		t.Fatal("dependsOnDay, nested and custom")
	}
	fixed := resolveDays(e, day(2025, 6, 1))
	if fixed.dependsOnDay() || fixed.String() != "lead_created_at >= 2025-05-02T00:00:00Z AND name:c" || e.String() != "lead_created_at >= now-30d AND name:c" {
		t.Fatalf("resolveDays: %s (from %s)", fixed, e)
	}
	if n, err := ix.Count(fixed); err != nil || n != 45 {
		t.Fatalf("resolved to June 1: %d, %v; want 45", n, err)
	}
	// ResolveDates: the UTC day of the time given (June 2, 01:00 at +05:00
	// is June 1 in UTC).
	if got := e.ResolveDates(time.Date(2025, 6, 2, 1, 0, 0, 0, time.FixedZone("X", 5*3600))); got.String() != fixed.String() {
		t.Fatalf("ResolveDates: %s, want %s", got, fixed)
	}
	if x := Tag("x"); x.ResolveDates(time.Now()).n != x.n {
		t.Fatal("ResolveDates of an expression without a relative date: not the same")
	}
}

// TestUnknownFields lists the custom keys nobody holds, as UnknownTags
// lists tags and tag prefixes.
func TestUnknownFields(t *testing.T) {
	ix := openTest(t)
	mustCreate(t, ix, Customer{Tags: []string{"feature-sso"}, Custom: map[string]any{"plan": "pro"}})
	seg := mustSegment(t, ix, mustParse(t, "custom.seat > 10 OR custom.plan:pro OR custom.seat:1 OR custom.x:y* OR tag:beta-* OR tag:feature-*"))
	if got, want := seg.UnknownFields(), []string{"custom.seat", "custom.x"}; !equalStrings(got, want) {
		t.Errorf("UnknownFields = %q, want %q", got, want)
	}
	if got, want := seg.UnknownTags(), []string{"beta-*"}; !equalStrings(got, want) {
		t.Errorf("UnknownTags = %q, want %q", got, want)
	}
	if seg.Count() != 1 {
		t.Errorf("count %d", seg.Count())
	}
	// Inside a batch, a key the batch gives someone is known.
	err := ix.Update(func(tx *Tx) error {
		if _, err := tx.CreateCustomer(Customer{Custom: map[string]any{"seat": int64(12)}}); err != nil {
			return err
		}
		seg, err := tx.Segment(Where("custom.seat", Gt, 10))
		if err != nil {
			return err
		}
		if len(seg.UnknownFields()) != 0 || seg.Count() != 1 {
			t.Errorf("in the batch: unknown %q, count %d", seg.UnknownFields(), seg.Count())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func mustParse(t *testing.T, q string) Expr {
	t.Helper()
	e, err := Parse(q)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
