package tagseg

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// fieldValues are query values for each type of field, for the table
// tests: words, text that needs quotes, the empty string.
func fieldValues(typ string) []any {
	switch typ {
	case "string":
		return []any{"Acme", "acme inc", "", "b@x.com", "US"}
	case "cents":
		return []any{int64(0), int64(2500), int64(30000)}
	case "time":
		return []any{day(2024, 3, 1), day(2023, 6, 15).Add(90 * time.Minute)}
	case "custom":
		return []any{"pro", int64(10), 2.5, true, day(2025, 1, 1)}
	}
	panic("type " + typ)
}

// randFullCustomer sets every field of the table from small pools, so that
// comparisons of each field select some customers and not others.
func randFullCustomer(r *rand.Rand) Customer {
	c := Customer{
		DataSourceUUID: pick(r, []string{"ds_a", "ds_b", ""}),
		ExternalID:     pick(r, []string{"e1", "e2", "x9", ""}),
		Name:           pick(r, []string{"Acme", "acme inc", "Bo", ""}),
		Email:          pick(r, emailPool),
		Company:        pick(r, []string{"Acme", "Globex", "", "acme inc"}),
		Country:        pick(r, countryPool),
		State:          pick(r, []string{"US-NY", "US-CA", ""}),
		City:           pick(r, cityPool),
		Zip:            pick(r, []string{"10001", "94103", ""}),
		Tags:           randTags(r, r.IntN(3)),
	}
	if r.IntN(3) > 0 {
		c.LeadCreatedAt = randTime(r)
	}
	if r.IntN(3) > 0 {
		c.FreeTrialStartedAt = randTime(r)
	}
	if r.IntN(2) == 0 {
		c.Custom = map[string]any{"plan": pick(r, planPool)}
	}
	return c
}

// TestFieldTable checks every field of the table: each operator with a
// value of the field's type prints, parses back to the same expression and
// evaluates to the model's members. A field added to the table without
// its place in the model (whereModel) fails here.
func TestFieldTable(t *testing.T) {
	seed := testSeed(t)
	r := newRand(seed)
	ix := openTest(t)
	m := newModel()
	for i := range 60 {
		c := randFullCustomer(r)
		if c.ExternalID != "" {
			c.ExternalID += fmt.Sprint("-", i) // unique within its data source
		}
		c = mustCreate(t, ix, c)
		if err := ix.SetMRR(c.UUID, day(2024, 1, 1), int64(r.IntN(4))*2500); err != nil {
			t.Fatal(err)
		}
		mc := &mCust{c: c, events: map[int64]int64{}}
		mc.c.Tags = nil
		mc.tags = c.Tags
		m.custs[c.UUID] = mc
		m.byID[c.ID] = c.UUID
		got, _ := ix.Customer(c.UUID)
		mc.events[day(2024, 1, 1).UnixNano()] = got.MRR
	}
	seen := map[string]bool{}
	for _, f := range Fields() {
		name := f.Name
		if name == "custom.KEY" {
			name = "custom.plan"
		}
		seen[f.Name] = true
		if typeOfField(name) == ftUnknown {
			t.Errorf("Fields lists %s, which Parse does not know", f.Name)
		}
		if f.Doc == "" {
			t.Errorf("field %s has no description", f.Name)
		}
		for _, v := range fieldValues(f.Type) {
			if name == "custom.plan" {
				if _, ok := v.(string); !ok {
					continue // the model's custom.plan compares strings
				}
			}
			for op := Eq; op <= Lte; op++ {
				e := Where(name, op, v)
				q := e.String()
				pe, err := Parse(q)
				if err != nil {
					t.Fatalf("Parse(%q) of %s: %v", q, dump(e), err)
				}
				if d := diffExpr(e, pe); d != "" {
					t.Fatalf("Parse(%q) differs from %s:\n%s", q, dump(e), d)
				}
				if q2 := pe.String(); q2 != q {
					t.Fatalf("%s prints %q, parsed back %q", dump(e), q, q2)
				}
				checkSegment(t, ix, m, e, "field table")
			}
		}
	}
	if !seen["custom.KEY"] || len(seen) != len(fields)+1 {
		t.Errorf("Fields lists %d fields, the table has %d and custom.KEY", len(seen), len(fields))
	}
	// Where with a field Fields does not list is an unknown field.
	for _, bad := range []string{"tags", "custom.", "Email", "custom.a b"} {
		if _, err := ix.Segment(Where(bad, Eq, "x")); err == nil || !strings.Contains(err.Error(), "unknown field") {
			t.Errorf("Where(%q): %v, want unknown field", bad, err)
		}
	}
}

// TestRecordLayout pins the record's layout, which the field table's rec
// slots define: version, journal position, UUID, then data source, external ID, name,
// email, company, country, state, city, zip, then the lead and trial
// times, tags and custom attributes.
func TestRecordLayout(t *testing.T) {
	c := Customer{UUID: "u", DataSourceUUID: "ds", ExternalID: "ext", Name: "nm", Email: "em", Company: "co",
		Country: "cn", State: "st", City: "ci", Zip: "zp", LeadCreatedAt: time.Unix(0, 7).UTC(), Tags: []string{"t"}}
	want := []byte{recordVersion, 0} // version 2, journal position 0
	for _, s := range []string{"u", "ds", "ext", "nm", "em", "co", "cn", "st", "ci", "zp"} {
		want = append(want, byte(len(s)))
		want = append(want, s...)
	}
	want = binary.AppendVarint(append(want, 1), 7) // lead_created_at
	want = append(want, 0)                         // no free_trial_started_at
	want = append(want, 1, 1, 't', 0)              // one tag, no custom attributes
	if got := encodeRecord(&record{c: c}); !bytes.Equal(got, want) {
		t.Fatalf("record\n got %q\nwant %q", got, want)
	}
	r, err := decodeRecord(0, want)
	if err != nil {
		t.Fatal(err)
	}
	if r.c.Zip != "zp" || r.c.DataSourceUUID != "ds" || !r.c.LeadCreatedAt.Equal(c.LeadCreatedAt) {
		t.Fatalf("decoded %+v", r.c)
	}
}
