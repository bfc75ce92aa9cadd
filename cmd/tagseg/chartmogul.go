package main

// ChartMogul's customer JSON, both ways: the customer object that the
// server and `query -json` write, and the new-customer body that the server
// (POST /v1/customers) and `import -format jsonl` read.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/mail"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tagseg/tagseg"
)

// cmTimeFormat is how customer timestamps are written, as in ChartMogul's
// "2015-11-01T00:00:00.000Z".
const cmTimeFormat = "2006-01-02T15:04:05.000Z"

// cmCustomer is ChartMogul's customer object (the fields tagseg has), in the
// order the real API writes them. Empty country, state, zip and dates are
// null, as in the API; status is "Active" when the customer's current MRR is
// above 0 and "New Lead" otherwise; customer-since is always null (the index
// does not keep the date of the first payment apart from the MRR history).
type cmCustomer struct {
	ID                 uint32       `json:"id"`
	UUID               string       `json:"uuid"`
	ExternalID         string       `json:"external_id"`
	Name               string       `json:"name"`
	Email              string       `json:"email"`
	Status             string       `json:"status"`
	CustomerSince      *string      `json:"customer-since"`
	Attributes         cmAttributes `json:"attributes"`
	DataSourceUUID     string       `json:"data_source_uuid"`
	DataSourceUUIDs    []string     `json:"data_source_uuids"`
	ExternalIDs        []string     `json:"external_ids"`
	Company            string       `json:"company"`
	Country            *string      `json:"country"`
	State              *string      `json:"state"`
	City               string       `json:"city"`
	Zip                *string      `json:"zip"`
	LeadCreatedAt      *string      `json:"lead_created_at"`
	FreeTrialStartedAt *string      `json:"free_trial_started_at"`
	Address            cmAddress    `json:"address"`
	MRR                int64        `json:"mrr"`
	ARR                int64        `json:"arr"`
	BillingSystemURL   *string      `json:"billing-system-url"`
	BillingSystemType  string       `json:"billing-system-type"`
}

type cmAttributes struct {
	Custom   map[string]any `json:"custom"`
	Clearbit map[string]any `json:"clearbit"`
	Stripe   map[string]any `json:"stripe"`
	Tags     []string       `json:"tags"`
}

type cmAddress struct {
	Country    *string `json:"country"`
	State      *string `json:"state"`
	City       string  `json:"city"`
	AddressZip *string `json:"address_zip"`
}

// cmShortCustomer is the short customer object of the add-tags-by-email
// response.
type cmShortCustomer struct {
	ID            uint32            `json:"id"`
	UUID          string            `json:"uuid"`
	ExternalID    string            `json:"external_id"`
	Name          string            `json:"name"`
	Email         string            `json:"email"`
	Status        string            `json:"status"`
	CustomerSince *string           `json:"customer-since"`
	Attributes    cmShortAttributes `json:"attributes"`
}

type cmShortAttributes struct {
	Tags   []string       `json:"tags"`
	Stripe map[string]any `json:"stripe"`
	Custom map[string]any `json:"custom"`
}

// billingSystemType is what every customer reports as its billing system:
// customers enter tagseg the way they enter ChartMogul's Import API.
const billingSystemType = "Import API"

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func nullTime(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := t.UTC().Format(cmTimeFormat)
	return &s
}

func list(s string) []string {
	if s == "" {
		return []string{}
	}
	return []string{s}
}

// publicID is the customer's "id": its dense ID + 1, since ChartMogul's
// ids are positive (and the Go client omits an id of 0). It fits in
// uint32 because the index never assigns the dense ID 2^32-1.
func publicID(c tagseg.Customer) uint32 { return c.ID + 1 }

func status(c tagseg.Customer) string {
	if c.MRR > 0 {
		return "Active"
	}
	return "New Lead"
}

func cmCustom(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if t, ok := v.(time.Time); ok {
			v = t.UTC().Format(cmTimeFormat)
		}
		out[k] = v
	}
	return out
}

func tagsOf(c tagseg.Customer) []string {
	if c.Tags == nil {
		return []string{}
	}
	return c.Tags
}

// toCM converts a customer to ChartMogul's customer object.
func toCM(c tagseg.Customer) cmCustomer {
	return cmCustomer{
		ID:         publicID(c),
		UUID:       c.UUID,
		ExternalID: c.ExternalID,
		Name:       c.Name,
		Email:      c.Email,
		Status:     status(c),
		Attributes: cmAttributes{
			Custom:   cmCustom(c.Custom),
			Clearbit: map[string]any{},
			Stripe:   map[string]any{},
			Tags:     tagsOf(c),
		},
		DataSourceUUID:     c.DataSourceUUID,
		DataSourceUUIDs:    list(c.DataSourceUUID),
		ExternalIDs:        list(c.ExternalID),
		Company:            c.Company,
		Country:            nullable(c.Country),
		State:              nullable(c.State),
		City:               c.City,
		Zip:                nullable(c.Zip),
		LeadCreatedAt:      nullTime(c.LeadCreatedAt),
		FreeTrialStartedAt: nullTime(c.FreeTrialStartedAt),
		Address: cmAddress{
			Country:    nullable(c.Country),
			State:      nullable(c.State),
			City:       c.City,
			AddressZip: nullable(c.Zip),
		},
		MRR:               c.MRR,
		ARR:               12 * c.MRR,
		BillingSystemType: billingSystemType,
	}
}

// toCMShort converts a customer to the short object of add-tags-by-email.
func toCMShort(c tagseg.Customer) cmShortCustomer {
	return cmShortCustomer{
		ID:         publicID(c),
		UUID:       c.UUID,
		ExternalID: c.ExternalID,
		Name:       c.Name,
		Email:      c.Email,
		Status:     status(c),
		Attributes: cmShortAttributes{
			Tags:   tagsOf(c),
			Stripe: map[string]any{},
			Custom: cmCustom(c.Custom),
		},
	}
}

// cmNewCustomer is the body of POST /v1/customers and one line of a JSON
// Lines import. Fields the index does not keep (owner, primary_contact,
// website_url, and in an import every read-only field of a customer object
// such as id, status or arr) are ignored. UUID, MRR and MRRAt are read by
// import only: the API assigns the UUID and has no MRR on create.
type cmNewCustomer struct {
	UUID               string          `json:"uuid"`
	DataSourceUUID     *string         `json:"data_source_uuid"`
	ExternalID         *string         `json:"external_id"`
	Name               string          `json:"name"`
	Email              string          `json:"email"`
	Company            string          `json:"company"`
	Country            string          `json:"country"`
	State              string          `json:"state"`
	City               string          `json:"city"`
	Zip                string          `json:"zip"`
	LeadCreatedAt      *string         `json:"lead_created_at"`
	FreeTrialStartedAt *string         `json:"free_trial_started_at"`
	Attributes         *cmNewAttrs     `json:"attributes"`
	MRR                json.RawMessage `json:"mrr"`
	MRRAt              *string         `json:"mrr_at"`
}

type cmNewAttrs struct {
	Tags   []string        `json:"tags"`
	Custom json.RawMessage `json:"custom"`
}

// fieldError is a bad value in a customer: the server answers it with 422
// {"errors": {field: msg}}, import reports it with the row's line.
type fieldError struct {
	field, msg string
}

func (e *fieldError) Error() string { return e.field + ": " + e.msg }

func fieldErrorf(field, format string, args ...any) *fieldError {
	return &fieldError{field, fmt.Sprintf(format, args...)}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// customer converts the body to a tagseg customer (without MRR).
func (n *cmNewCustomer) customer() (tagseg.Customer, error) {
	c := tagseg.Customer{
		UUID:           n.UUID,
		DataSourceUUID: deref(n.DataSourceUUID),
		ExternalID:     deref(n.ExternalID),
		Name:           n.Name,
		Email:          n.Email,
		Company:        n.Company,
		Country:        n.Country,
		State:          n.State,
		City:           n.City,
		Zip:            n.Zip,
	}
	err := checkFields(&c)
	if err != nil {
		return c, err
	}
	if c.LeadCreatedAt, err = parseTimeField("lead_created_at", deref(n.LeadCreatedAt)); err != nil {
		return c, err
	}
	if c.FreeTrialStartedAt, err = parseTimeField("free_trial_started_at", deref(n.FreeTrialStartedAt)); err != nil {
		return c, err
	}
	if n.Attributes != nil {
		c.Tags = n.Attributes.Tags
		if c.Custom, err = parseCustomJSON(n.Attributes.Custom); err != nil {
			return c, err
		}
	}
	return c, nil
}

// checkFields refuses text fields the index would refuse with one message
// for two causes ("longer than 4096 bytes or not UTF-8"), saying which, and
// an email that is not one address.
func checkFields(c *tagseg.Customer) error {
	for _, f := range []struct{ name, v string }{
		{"uuid", c.UUID}, {"data_source_uuid", c.DataSourceUUID}, {"external_id", c.ExternalID}, {"name", c.Name},
		{"email", c.Email}, {"company", c.Company}, {"country", c.Country}, {"state", c.State},
		{"city", c.City}, {"zip", c.Zip},
	} {
		if !utf8.ValidString(f.v) {
			return fieldErrorf(f.name, "not valid UTF-8 (is the file in another encoding? convert it to UTF-8)")
		}
		if len(f.v) > maxFieldBytes {
			return fieldErrorf(f.name, "%d bytes, longer than the %d the index takes", len(f.v), maxFieldBytes)
		}
	}
	return checkEmail(c.Email)
}

// maxFieldBytes is the longest text field the index takes.
const maxFieldBytes = 4096

// checkEmail refuses an email that is not one RFC 5322 address (as
// net/mail parses it) written bare: "notanemail", "a@b, c@d" or
// "Name <a@b>" are refused, as ChartMogul refuses them. "" is no email.
func checkEmail(email string) error {
	e := strings.TrimSpace(email)
	if e == "" {
		return nil
	}
	a, err := mail.ParseAddress(e)
	if err != nil || a.Name != "" || a.Address != e {
		return &fieldError{"email", fmt.Sprintf("%q is not an email address (want one address like name@example.com)", email)}
	}
	return nil
}

// timeFormats are the forms accepted for dates and times: RFC 3339 and
// ChartMogul's "2022-10-14 00:00:00"; without a zone they are UTC.
var timeFormats = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02",
}

// parseTime reads a date or time; "" is the zero time.
func parseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	for _, f := range timeFormats {
		if t, err := time.Parse(f, s); err == nil {
			if t.Year() < 1678 || t.Year() > 2261 {
				return time.Time{}, fmt.Errorf("%q is out of range (years 1678–2261)", s)
			}
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a date or time (want RFC 3339, like 2024-01-31 or 2024-01-31T12:00:00Z)", s)
}

func parseTimeField(field, s string) (time.Time, error) {
	t, err := parseTime(s)
	if err != nil {
		return t, &fieldError{field, err.Error()}
	}
	return t, nil
}

// parseCents reads an amount in cents: a whole, non-negative number.
func parseCents(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 {
			return 0, fmt.Errorf("%s is negative", s)
		}
		return n, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("%q is not a number of cents", s)
	}
	if f != math.Trunc(f) || math.Abs(f) >= 1<<62 {
		return 0, fmt.Errorf("%s is not a whole number of cents", s)
	}
	if f < 0 {
		return 0, fmt.Errorf("%s is negative", s)
	}
	return int64(f), nil
}

// parseCustomJSON reads attributes.custom: either ChartMogul's create form,
// an array of {"type", "key", "value"} (type String, Integer, Decimal,
// Timestamp or Boolean), or the object form of a customer object, whose
// values keep their JSON type (string; number: int64 when whole, else
// float64; bool). Null values are left out.
func parseCustomJSON(raw json.RawMessage) (map[string]any, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	dec := func(v any) error {
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		return d.Decode(v)
	}
	out := map[string]any{}
	switch raw[0] {
	case '[':
		var attrs []struct {
			Type  string `json:"type"`
			Key   string `json:"key"`
			Value any    `json:"value"`
		}
		if err := dec(&attrs); err != nil {
			return nil, fieldErrorf("custom", "must be an array of {\"type\", \"key\", \"value\"}: %v", err)
		}
		for _, a := range attrs {
			if a.Key == "" {
				return nil, fieldErrorf("custom", "an attribute has no key")
			}
			if a.Value == nil {
				continue
			}
			v, err := customValue(a.Type, a.Value)
			if err != nil {
				return nil, fieldErrorf("custom", "attribute %q: %v", a.Key, err)
			}
			out[a.Key] = v
		}
	case '{':
		var obj map[string]any
		if err := dec(&obj); err != nil {
			return nil, fieldErrorf("custom", "must be an object: %v", err)
		}
		for k, v := range obj {
			if m, ok := v.(map[string]any); ok { // {"value": x, "source": y}
				v = m["value"]
			}
			if v == nil {
				continue
			}
			nv, err := customValue("", v)
			if err != nil {
				return nil, fieldErrorf("custom", "attribute %q: %v", k, err)
			}
			out[k] = nv
		}
	default:
		return nil, fieldErrorf("custom", "must be an array of {\"type\", \"key\", \"value\"} or an object")
	}
	return out, nil
}

// customValue converts a custom attribute value (from JSON, with numbers as
// json.Number, or a string from CSV) to its Go type. typ is a ChartMogul
// type name (String, Integer, Decimal, Timestamp, Boolean; any case) or ""
// to keep the JSON type.
func customValue(typ string, v any) (any, error) {
	str, isStr := v.(string)
	num, isNum := v.(json.Number)
	switch strings.ToLower(typ) {
	case "":
		switch x := v.(type) {
		case string, bool:
			return x, nil
		case json.Number:
			if n, err := x.Int64(); err == nil {
				return n, nil
			}
			f, err := x.Float64()
			if err != nil {
				return nil, fmt.Errorf("%s is out of range", x)
			}
			return f, nil
		}
		return nil, fmt.Errorf("unsupported value %s (want a string, number or boolean)", jsonText(v))
	case "string":
		if isStr {
			return str, nil
		}
		if isNum {
			return num.String(), nil
		}
	case "integer":
		s := str
		if isNum {
			s = num.String()
		}
		if isStr || isNum {
			n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%q is not an Integer", s)
			}
			return n, nil
		}
	case "decimal":
		s := str
		if isNum {
			s = num.String()
		}
		if isStr || isNum {
			f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
			if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
				return nil, fmt.Errorf("%q is not a Decimal", s)
			}
			return f, nil
		}
	case "timestamp":
		if isStr {
			t, err := parseTime(str)
			if err != nil {
				return nil, err
			}
			if t.IsZero() {
				return nil, fmt.Errorf("empty Timestamp")
			}
			return t, nil
		}
	case "boolean":
		if b, ok := v.(bool); ok {
			return b, nil
		}
		s := str
		if isNum {
			s = num.String()
		}
		switch strings.TrimSpace(s) {
		case "TRUE", "true", "True", "t", "T", "1":
			return true, nil
		case "FALSE", "false", "False", "f", "F", "0":
			return false, nil
		}
		return nil, fmt.Errorf("%s is not a Boolean (want true or false)", jsonText(v))
	default:
		return nil, fmt.Errorf("unknown type %q (want String, Integer, Decimal, Timestamp or Boolean)", typ)
	}
	return nil, fmt.Errorf("%s is not a %s", jsonText(v), typ)
}

func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
