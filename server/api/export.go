package api

// The export format: customers as "tagseg import" reads them back, as CSV
// or JSON Lines, their MRR histories as CSV for "tagseg import -events",
// and the mapping file of a Roaring bitmap of dense IDs. The command
// (tagseg export, tagseg query -format csv|jsonl) and the server's export
// endpoint write the same bytes.

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tagseg/tagseg"
)

// Members calls fn with each customer of a set, in dense-ID order, and
// returns the first error; the writers below may call it more than once
// (CSV reads the set twice) and expect the same customers each time, as
// one read transaction gives them.
type Members func(fn func(c tagseg.Customer) error) error

// SegmentMembers are the first limit customers of seg (every one when
// limit is 0). Fewer than that is an error: in one View no member can
// have been deleted, so a customer could not be read.
func SegmentMembers(seg *tagseg.Segment, limit int) Members {
	return func(fn func(c tagseg.Customer) error) error {
		want := seg.Count()
		if limit > 0 {
			want = min(want, uint64(limit))
		}
		var n uint64
		for c, err := range seg.ReadCustomers(0) {
			if err != nil {
				return err
			}
			if n == want {
				break
			}
			if err := fn(c); err != nil {
				return err
			}
			n++
		}
		if n != want {
			return fmt.Errorf("read %d of the segment's %d customers: the index could not be read (run tagseg check)", n, want)
		}
		return nil
	}
}

// ExportColumns is the header of a CSV export before its custom columns,
// which follow as custom.KEY:TYPE.
var ExportColumns = []string{"uuid", "data_source_uuid", "external_id", "name", "email", "company", "country", "state", "city", "zip", "lead_created_at", "free_trial_started_at", "tags", "mrr", "mrr_at"}

// WriteCSV writes the customers as CSV in import's shape: ExportColumns,
// tags as a JSON array, then a custom.KEY:TYPE column per custom
// attribute key any of them has (sorted). The current MRR is carried with
// mrr_at, the time of the customer's latest MRR event, read in tx. A first
// pass over the customers collects the custom columns: a key with values
// of two types, or an empty string value (which a CSV cell cannot carry),
// is an error that points to JSON Lines.
func WriteCSV(w io.Writer, tx *tagseg.Tx, each Members) error {
	types := map[string]string{}
	err := each(func(c tagseg.Customer) error {
		for k, v := range c.Custom {
			t := CustomType(v)
			if old, ok := types[k]; ok && old != t {
				return fmt.Errorf("custom.%s holds both %s and %s values, which one CSV column cannot: use JSON Lines (-format jsonl)", k, old, t)
			}
			types[k] = t
			if s, ok := v.(string); ok && strings.TrimSpace(s) == "" {
				return fmt.Errorf("customer %s: custom.%s is %q, which import reads from CSV as no value: use JSON Lines (-format jsonl)", c.UUID, k, s)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	keys := slices.Sorted(maps.Keys(types))
	header := slices.Clone(ExportColumns)
	for _, k := range keys {
		header = append(header, "custom."+k+":"+types[k])
	}
	cw := csv.NewWriter(w)
	cw.Write(header)
	base := len(ExportColumns)
	rec := make([]string, len(header))
	err = each(func(c tagseg.Customer) error {
		at, err := mrrAt(tx, c)
		if err != nil {
			return err
		}
		tags := ""
		if len(c.Tags) > 0 {
			b, _ := json.Marshal(c.Tags)
			tags = string(b)
		}
		copy(rec, []string{c.UUID, c.DataSourceUUID, c.ExternalID, c.Name, c.Email, c.Company, c.Country, c.State, c.City, c.Zip,
			TimeText(c.LeadCreatedAt), TimeText(c.FreeTrialStartedAt), tags, strconv.FormatInt(c.MRR, 10), TimeText(at)})
		for i, k := range keys {
			rec[base+i] = ""
			if v, ok := c.Custom[k]; ok {
				if rec[base+i], err = customText(c, k, v); err != nil {
					return err
				}
			}
		}
		return cw.Write(rec)
	})
	if err != nil {
		return err
	}
	cw.Flush()
	return cw.Error()
}

// exportCustom is a typed custom attribute as import reads it from
// attributes.custom.
type exportCustom struct {
	Type  string `json:"type"`
	Key   string `json:"key"`
	Value any    `json:"value"`
}

// WriteJSONL writes the customers as JSON Lines in import's shape: one
// NewCustomer a line, custom attributes as [{"type", "key", "value"}] so
// that each keeps its type, and the current MRR with its mrr_at.
func WriteJSONL(w io.Writer, tx *tagseg.Tx, each Members) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return each(func(c tagseg.Customer) error {
		at, err := mrrAt(tx, c)
		if err != nil {
			return err
		}
		// The very type import decodes a line into, so that the shapes agree.
		row, err := NewCustomerOf(c)
		if err != nil {
			return err
		}
		row.MRR, row.MRRAt = json.RawMessage(strconv.FormatInt(c.MRR, 10)), Nullable(TimeText(at))
		return enc.Encode(row)
	})
}

// NewCustomerOf is the new-customer body (the JSON Lines shape of an
// import) of c, with its tags and its custom attributes as [{"type",
// "key", "value"}] so that each keeps its type; its MRR is left out. A
// custom value import cannot read back (a NaN or infinite Decimal) is an
// error.
func NewCustomerOf(c tagseg.Customer) (NewCustomer, error) {
	custom := []exportCustom{}
	for _, k := range slices.Sorted(maps.Keys(c.Custom)) {
		v := c.Custom[k]
		var jv any = v
		switch x := v.(type) {
		case float64:
			if _, err := customText(c, k, x); err != nil {
				return NewCustomer{}, err
			}
		case time.Time:
			jv = TimeText(x)
		}
		custom = append(custom, exportCustom{Type: CustomType(v), Key: k, Value: jv})
	}
	cj, err := json.Marshal(custom)
	if err != nil {
		return NewCustomer{}, err
	}
	return NewCustomer{
		UUID: c.UUID, DataSourceUUID: &c.DataSourceUUID, ExternalID: &c.ExternalID,
		Name: c.Name, Email: c.Email, Company: c.Company,
		Country: c.Country, State: c.State, City: c.City, Zip: c.Zip,
		LeadCreatedAt: Nullable(TimeText(c.LeadCreatedAt)), FreeTrialStartedAt: Nullable(TimeText(c.FreeTrialStartedAt)),
		Attributes: &NewAttributes{Tags: TagsOf(c), Custom: cj},
	}, nil
}

// WriteEvents writes the customers' MRR histories as "tagseg import
// -events" reads them: CSV uuid, date, mrr (cents), one row an event, in
// customer and time order.
func WriteEvents(w io.Writer, tx *tagseg.Tx, each Members) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"uuid", "date", "mrr"})
	err := each(func(c tagseg.Customer) error {
		h, err := tx.MRRHistory(c.UUID)
		if err != nil {
			return err
		}
		for _, e := range h {
			if err := cw.Write([]string{c.UUID, TimeText(e.At), strconv.FormatInt(e.Cents, 10)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	cw.Flush()
	return cw.Error()
}

// IDMapColumns is the header of the mapping file written beside a
// Roaring bitmap of dense IDs.
var IDMapColumns = []string{"id", "uuid", "data_source_uuid", "external_id"}

// WriteIDMap writes the mapping file of a Roaring export: CSV id, uuid,
// data_source_uuid, external_id, one row a customer in ID order. "tagseg
// tag-import" reads it back.
func WriteIDMap(w io.Writer, each Members) error {
	cw := csv.NewWriter(w)
	cw.Write(IDMapColumns)
	err := each(func(c tagseg.Customer) error {
		return cw.Write([]string{strconv.FormatUint(uint64(c.ID), 10), c.UUID, c.DataSourceUUID, c.ExternalID})
	})
	if err != nil {
		return err
	}
	cw.Flush()
	return cw.Error()
}

// mrrAt is the time of the customer's latest MRR event, written as mrr_at
// so that import records the current MRR when it was set (zero: no MRR).
func mrrAt(tx *tagseg.Tx, c tagseg.Customer) (time.Time, error) {
	if c.MRR == 0 {
		return time.Time{}, nil
	}
	h, err := tx.MRRHistory(c.UUID)
	if err != nil || len(h) == 0 {
		return time.Time{}, err
	}
	return h[len(h)-1].At, nil
}

// TimeText is t in RFC 3339 (UTC, with its fraction), "" when zero.
func TimeText(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// CustomType is the ChartMogul type name of a custom attribute value, as
// import reads it: String, Integer, Decimal, Boolean or Timestamp.
func CustomType(v any) string {
	switch v.(type) {
	case int64:
		return "Integer"
	case float64:
		return "Decimal"
	case bool:
		return "Boolean"
	case time.Time:
		return "Timestamp"
	}
	return "String"
}

// customText writes a custom value as import reads it back, or says why
// it cannot.
func customText(c tagseg.Customer, k string, v any) (string, error) {
	switch x := v.(type) {
	case int64:
		return strconv.FormatInt(x, 10), nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return "", fmt.Errorf("customer %s: custom.%s is %v, which import does not read", c.UUID, k, x)
		}
		return strconv.FormatFloat(x, 'g', -1, 64), nil
	case bool:
		return strconv.FormatBool(x), nil
	case time.Time:
		return TimeText(x), nil
	case string:
		return x, nil
	}
	return "", fmt.Errorf("customer %s: custom.%s has an unexpected type %T", c.UUID, k, v)
}
