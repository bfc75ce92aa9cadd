package tagseg

// The query language's fields, in one table (fields): each field's name,
// how Parse types its value and String writes it, how evaluation finds its
// members, where its value lives in a Customer, and its one-line
// description. Everything that lists fields reads this table: the parser
// and String (query.go), the evaluator (segment.go, lookup.go, the string
// index), the record codec, the checks of CreateCustomer, the equality
// bitmaps and columns a customer belongs to (column.go, tx.go, load.go),
// and through Fields the command's help and the page's completion. A new
// field is one row here; a new string or time field is also a new record
// layout (its rec slot comes after the others, behind a new
// recordVersion).

import (
	"slices"
	"strings"
	"time"
)

// fieldType says how Parse types the value of a field and how String
// writes it.
type fieldType uint8

const (
	ftUnknown fieldType = iota
	ftString            // the value is the text as written
	ftInt               // integer cents: int64, or uint64 above math.MaxInt64
	ftTime              // RFC 3339 date or time, as a time.Time in UTC, or a relative date
	ftCustom            // custom.KEY: typed by the look of a bare value
)

// fieldIndex says how evaluation finds a field's members.
type fieldIndex uint8

const (
	ixNone   fieldIndex = iota
	ixBitmap            // one in-memory bitmap per value, stored in the file (eqKey)
	ixSorted            // the sorted string index (strindex.go), built on first use
	ixColumn            // a dense int64 column, compared in one pass
	ixMRR               // the MRR bit planes
	ixARR               // the MRR bit planes, compared with a twelfth of the value
	ixCustom            // custom.KEY: one bitmap per typed value
)

// field is one row of the table.
type field struct {
	name  string
	typ   fieldType
	index fieldIndex
	doc   string // one line for help and completion

	// Where the value lives in a Customer: str for string fields, tm for
	// time fields; rec is the field's place in the stored record: among the
	// string fields after the UUID (1, 2, ...), or among the time fields.
	str func(c *Customer) *string
	tm  func(c *Customer) *time.Time
	rec int

	cname string // the Customer field's name in errors, when not name (data_source_uuid)
	col   int    // ixColumn: the column (column.go) holding the value
	slot  int    // ixSorted: the place of its index in state.strx (strbuild.go)
	lower bool   // compared in lower case (email): queries and the index fold case

	// eq, when set, answers Eq and NotEq on a string value by a direct
	// lookup instead of the index (lookup.go); ok false: no lookup for
	// this value, use the index.
	eq func(ev *evaluator, s string) (v val, ok bool, err error)
}

// fields is the table, in the order help lists it.
var fields = []*field{
	{name: "email", typ: ftString, index: ixSorted, lower: true, rec: 4, str: func(c *Customer) *string { return &c.Email },
		eq: (*evaluator).emailEq, doc: "email address, matched in any case"},
	{name: "name", typ: ftString, index: ixSorted, rec: 3, str: func(c *Customer) *string { return &c.Name },
		doc: "customer name"},
	{name: "company", typ: ftString, index: ixSorted, rec: 5, str: func(c *Customer) *string { return &c.Company },
		doc: "company name"},
	{name: "country", typ: ftString, index: ixBitmap, rec: 6, str: func(c *Customer) *string { return &c.Country },
		doc: "country, as stored (case-sensitive), e.g. US"},
	{name: "state", typ: ftString, index: ixBitmap, rec: 7, str: func(c *Customer) *string { return &c.State },
		doc: "state, e.g. US-NY"},
	{name: "city", typ: ftString, index: ixBitmap, rec: 8, str: func(c *Customer) *string { return &c.City },
		doc: "city"},
	{name: "zip", typ: ftString, index: ixBitmap, rec: 9, str: func(c *Customer) *string { return &c.Zip },
		doc: "postal code"},
	{name: "data_source", typ: ftString, index: ixBitmap, rec: 1, cname: "data_source_uuid", str: func(c *Customer) *string { return &c.DataSourceUUID },
		doc: "data source UUID"},
	{name: "external_id", typ: ftString, index: ixSorted, rec: 2, str: func(c *Customer) *string { return &c.ExternalID },
		eq: (*evaluator).externalIDEq, doc: "external ID in its data source"},
	{name: "mrr", typ: ftInt, index: ixMRR, doc: "current MRR in cents (29900 is 299.00)"},
	{name: "arr", typ: ftInt, index: ixARR, doc: "ARR in cents (12 × MRR)"},
	{name: "lead_created_at", typ: ftTime, index: ixColumn, col: colLead, rec: 1, tm: func(c *Customer) *time.Time { return &c.LeadCreatedAt },
		doc: "RFC 3339 date or time, or relative: now-30d (d, w, m)"},
	{name: "free_trial_started_at", typ: ftTime, index: ixColumn, col: colTrial, rec: 2, tm: func(c *Customer) *time.Time { return &c.FreeTrialStartedAt },
		doc: "RFC 3339 date or time, or relative: now-30d (d, w, m)"},
}

// customField is the row of every custom.KEY.
var customField = &field{name: customPrefix + "KEY", typ: ftCustom, index: ixCustom,
	doc: "a custom attribute, typed by what was stored"}

const customPrefix = "custom."

// Derived from the table once.
var (
	fieldByName = map[string]*field{}
	recStrings  []*field // the string fields in record order
	recTimes    []*field // the time fields in record order
	eqFields    []string // the fields held as bitmaps per value (ixBitmap)
)

func init() {
	for _, f := range fields {
		fieldByName[f.name] = f
		switch {
		case f.str != nil:
			recStrings = append(recStrings, f)
		case f.tm != nil:
			recTimes = append(recTimes, f)
		}
		if f.index == ixBitmap {
			eqFields = append(eqFields, f.name)
		}
	}
	byRec := func(a, b *field) int { return a.rec - b.rec }
	slices.SortFunc(recStrings, byRec)
	slices.SortFunc(recTimes, byRec)
}

// lookupField returns the row of a field name: a fields entry, customField
// for custom.KEY with KEY a word, or nil.
func lookupField(name string) *field {
	if f := fieldByName[name]; f != nil {
		return f
	}
	if k, ok := strings.CutPrefix(name, customPrefix); ok && isKey(k) {
		return customField
	}
	return nil
}

// typeOfField is the type Parse gives a field name, ftUnknown for an
// unknown one. Parse takes any custom.KEY, quoted when KEY is not a word;
// evaluation then refuses a KEY no customer can have (lookupField).
func typeOfField(name string) fieldType {
	if f := fieldByName[name]; f != nil {
		return f.typ
	}
	if len(name) > len(customPrefix) && strings.HasPrefix(name, customPrefix) {
		return ftCustom
	}
	return ftUnknown
}

// customerField is the name of the Customer field, as errors and the
// ChartMogul JSON shape call it.
func (f *field) customerField() string {
	if f.cname != "" {
		return f.cname
	}
	return f.name
}

// strValue is the value of a string field of c as it is compared: lower
// case for email.
func (f *field) strValue(c *Customer) string {
	s := *f.str(c)
	if f.lower {
		s = lower(s)
	}
	return s
}

// FieldInfo describes one field of the query language, as Fields lists it.
type FieldInfo struct {
	// Name is the field as queries write it; "custom.KEY" stands for every
	// custom attribute (custom.plan, custom.seats, ...).
	Name string
	// Type is how a value is read: "string" (the text as written),
	// "cents" (an integer), "time" (an RFC 3339 date or time, or a relative
	// date such as now-30d) or "custom" (typed by its look: true, 42, 1.5,
	// a date, else a string).
	Type string
	// Doc is a one-line description, for help and completion.
	Doc string
}

// Fields lists the fields of the query language, custom.KEY last: what
// Where and Parse accept. The command's help and the page's completion are
// made from it.
func Fields() []FieldInfo {
	out := make([]FieldInfo, 0, len(fields)+1)
	for _, f := range append(slices.Clip(fields), customField) {
		out = append(out, FieldInfo{Name: f.name, Type: f.typ.String(), Doc: f.doc})
	}
	return out
}

func (t fieldType) String() string {
	switch t {
	case ftString:
		return "string"
	case ftInt:
		return "cents"
	case ftTime:
		return "time"
	case ftCustom:
		return "custom"
	}
	return "unknown"
}
