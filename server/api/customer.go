package api

// ChartMogul's customer JSON, both ways: the customer object that the
// server and `tagseg query -json` write, and the new-customer body that the
// server (POST /v1/customers) and `tagseg import -format jsonl` read.

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

// TimeFormat is how customer timestamps are written, as in ChartMogul's
// "2015-11-01T00:00:00.000Z".
const TimeFormat = "2006-01-02T15:04:05.000Z"

// Customer is ChartMogul's customer object (the fields tagseg has), in the
// order the real API writes them. Empty country, state, zip and dates are
// null, as in the API; status is "Active" when the customer's current MRR is
// above 0 and "New Lead" otherwise; customer-since is always null (the index
// does not keep the date of the first payment apart from the MRR history).
type Customer struct {
	ID                 uint32     `json:"id"`
	UUID               string     `json:"uuid"`
	ExternalID         string     `json:"external_id"`
	Name               string     `json:"name"`
	Email              string     `json:"email"`
	Status             string     `json:"status"`
	CustomerSince      *string    `json:"customer-since"`
	Attributes         Attributes `json:"attributes"`
	DataSourceUUID     string     `json:"data_source_uuid"`
	DataSourceUUIDs    []string   `json:"data_source_uuids"`
	ExternalIDs        []string   `json:"external_ids"`
	Company            string     `json:"company"`
	Country            *string    `json:"country"`
	State              *string    `json:"state"`
	City               string     `json:"city"`
	Zip                *string    `json:"zip"`
	LeadCreatedAt      *string    `json:"lead_created_at"`
	FreeTrialStartedAt *string    `json:"free_trial_started_at"`
	Address            Address    `json:"address"`
	MRR                int64      `json:"mrr"`
	ARR                int64      `json:"arr"`
	BillingSystemURL   *string    `json:"billing-system-url"`
	BillingSystemType  string     `json:"billing-system-type"`
}

// Attributes are a customer object's attributes: tags, custom attributes
// (times written as TimeFormat), and the empty clearbit and stripe
// objects ChartMogul's clients expect.
type Attributes struct {
	Custom   map[string]any `json:"custom"`
	Clearbit map[string]any `json:"clearbit"`
	Stripe   map[string]any `json:"stripe"`
	Tags     []string       `json:"tags"`
}

// Address is a customer object's address, repeating its location fields.
type Address struct {
	Country    *string `json:"country"`
	State      *string `json:"state"`
	City       string  `json:"city"`
	AddressZip *string `json:"address_zip"`
}

// ShortCustomer is the short customer object of the add-tags-by-email
// response.
type ShortCustomer struct {
	ID            uint32          `json:"id"`
	UUID          string          `json:"uuid"`
	ExternalID    string          `json:"external_id"`
	Name          string          `json:"name"`
	Email         string          `json:"email"`
	Status        string          `json:"status"`
	CustomerSince *string         `json:"customer-since"`
	Attributes    ShortAttributes `json:"attributes"`
}

// ShortAttributes are a short customer object's attributes.
type ShortAttributes struct {
	Tags   []string       `json:"tags"`
	Stripe map[string]any `json:"stripe"`
	Custom map[string]any `json:"custom"`
}

// BillingSystemType is what every customer reports as its billing system:
// customers enter tagseg the way they enter ChartMogul's Import API.
const BillingSystemType = "Import API"

// Nullable is s, or nil (JSON null) when s is empty.
func Nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func nullTime(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := t.UTC().Format(TimeFormat)
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

// CustomJSON is a customer's custom attributes as a customer object
// writes them: times as TimeFormat, other values as they are.
func CustomJSON(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if t, ok := v.(time.Time); ok {
			v = t.UTC().Format(TimeFormat)
		}
		out[k] = v
	}
	return out
}

// TagsOf is the customer's tags, [] rather than null when it has none.
func TagsOf(c tagseg.Customer) []string {
	if c.Tags == nil {
		return []string{}
	}
	return c.Tags
}

// CustomerOf is ChartMogul's customer object of a customer.
func CustomerOf(c tagseg.Customer) Customer {
	return Customer{
		ID:         publicID(c),
		UUID:       c.UUID,
		ExternalID: c.ExternalID,
		Name:       c.Name,
		Email:      c.Email,
		Status:     status(c),
		Attributes: Attributes{
			Custom:   CustomJSON(c.Custom),
			Clearbit: map[string]any{},
			Stripe:   map[string]any{},
			Tags:     TagsOf(c),
		},
		DataSourceUUID:     c.DataSourceUUID,
		DataSourceUUIDs:    list(c.DataSourceUUID),
		ExternalIDs:        list(c.ExternalID),
		Company:            c.Company,
		Country:            Nullable(c.Country),
		State:              Nullable(c.State),
		City:               c.City,
		Zip:                Nullable(c.Zip),
		LeadCreatedAt:      nullTime(c.LeadCreatedAt),
		FreeTrialStartedAt: nullTime(c.FreeTrialStartedAt),
		Address: Address{
			Country:    Nullable(c.Country),
			State:      Nullable(c.State),
			City:       c.City,
			AddressZip: Nullable(c.Zip),
		},
		MRR:               c.MRR,
		ARR:               12 * c.MRR,
		BillingSystemType: BillingSystemType,
	}
}

// ShortCustomerOf is the short customer object of a customer, as the
// add-tags-by-email response lists it.
func ShortCustomerOf(c tagseg.Customer) ShortCustomer {
	return ShortCustomer{
		ID:         publicID(c),
		UUID:       c.UUID,
		ExternalID: c.ExternalID,
		Name:       c.Name,
		Email:      c.Email,
		Status:     status(c),
		Attributes: ShortAttributes{
			Tags:   TagsOf(c),
			Stripe: map[string]any{},
			Custom: CustomJSON(c.Custom),
		},
	}
}

// NewCustomer is the body of POST /v1/customers and one line of a JSON
// Lines import. Fields the index does not keep (owner, primary_contact,
// website_url, and in an import every read-only field of a customer object
// such as id, status or arr) are ignored. UUID, MRR and MRRAt are read by
// import only: the API assigns the UUID and has no MRR on create.
type NewCustomer struct {
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
	Attributes         *NewAttributes  `json:"attributes"`
	MRR                json.RawMessage `json:"mrr"`
	MRRAt              *string         `json:"mrr_at"`
}

type NewAttributes struct {
	Tags   []string        `json:"tags"`
	Custom json.RawMessage `json:"custom"`
}

// FieldError is a bad value in a customer: the server answers it with 422
// {"errors": {field: msg}}, import reports it with the row's line.
type FieldError struct {
	Field string // the JSON field: "email", "lead_created_at", "custom", ...
	Msg   string // what is wrong with its value
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// FieldErrorf is a *FieldError on field with a formatted message.
func FieldErrorf(field, format string, args ...any) *FieldError {
	return &FieldError{field, fmt.Sprintf(format, args...)}
}

// deref is *s, or "" when s is nil.
func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// Customer converts the body to a tagseg customer, without MRR (which
// import reads from MRR and MRRAt itself). A bad value is a *FieldError.
func (n *NewCustomer) Customer() (tagseg.Customer, error) {
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
	err := CheckFields(&c)
	if err != nil {
		return c, err
	}
	if c.LeadCreatedAt, err = ParseTimeField("lead_created_at", deref(n.LeadCreatedAt)); err != nil {
		return c, err
	}
	if c.FreeTrialStartedAt, err = ParseTimeField("free_trial_started_at", deref(n.FreeTrialStartedAt)); err != nil {
		return c, err
	}
	if n.Attributes != nil {
		c.Tags = n.Attributes.Tags
		if c.Custom, err = parseCustom(n.Attributes.Custom); err != nil {
			return c, err
		}
	}
	return c, nil
}

// CheckFields refuses text fields the index would refuse with one message
// for two causes ("longer than 4096 bytes or not UTF-8"), saying which, and
// an email that is not one address.
func CheckFields(c *tagseg.Customer) error {
	for _, f := range []struct{ name, v string }{
		{"uuid", c.UUID}, {"data_source_uuid", c.DataSourceUUID}, {"external_id", c.ExternalID}, {"name", c.Name},
		{"email", c.Email}, {"company", c.Company}, {"country", c.Country}, {"state", c.State},
		{"city", c.City}, {"zip", c.Zip},
	} {
		if !utf8.ValidString(f.v) {
			return FieldErrorf(f.name, "not valid UTF-8 (is the file in another encoding? convert it to UTF-8)")
		}
		if len(f.v) > maxFieldBytes {
			return FieldErrorf(f.name, "%d bytes, longer than the %d the index takes", len(f.v), maxFieldBytes)
		}
	}
	return CheckEmail(c.Email)
}

// maxFieldBytes is the longest text field the index takes.
const maxFieldBytes = 4096

// CheckEmail refuses an email that is not one RFC 5322 address (as
// net/mail parses it) written bare: "notanemail", "a@b, c@d" or
// "Name <a@b>" are refused, as ChartMogul refuses them. "" is no email.
func CheckEmail(email string) error {
	e := strings.TrimSpace(email)
	if e == "" {
		return nil
	}
	a, err := mail.ParseAddress(e)
	if err != nil || a.Name != "" || a.Address != e {
		return &FieldError{Field: "email", Msg: fmt.Sprintf("%q is not an email address (want one address like name@example.com)", email)}
	}
	return nil
}

// parseCustom reads attributes.custom: either ChartMogul's create form,
// an array of {"type", "key", "value"} (type String, Integer, Decimal,
// Timestamp or Boolean), or the object form of a customer object, whose
// values keep their JSON type (string; number: int64 when whole, else
// float64; bool). Null values are left out.
func parseCustom(raw json.RawMessage) (map[string]any, error) {
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
			return nil, FieldErrorf("custom", "must be an array of {\"type\", \"key\", \"value\"}: %v", err)
		}
		for _, a := range attrs {
			if a.Key == "" {
				return nil, FieldErrorf("custom", "an attribute has no key")
			}
			if a.Value == nil {
				continue
			}
			v, err := CustomValue(a.Type, a.Value)
			if err != nil {
				return nil, FieldErrorf("custom", "attribute %q: %v", a.Key, err)
			}
			out[a.Key] = v
		}
	case '{':
		var obj map[string]any
		if err := dec(&obj); err != nil {
			return nil, FieldErrorf("custom", "must be an object: %v", err)
		}
		for k, v := range obj {
			if m, ok := v.(map[string]any); ok { // {"value": x, "source": y}
				v = m["value"]
			}
			if v == nil {
				continue
			}
			nv, err := CustomValue("", v)
			if err != nil {
				return nil, FieldErrorf("custom", "attribute %q: %v", k, err)
			}
			out[k] = nv
		}
	default:
		return nil, FieldErrorf("custom", "must be an array of {\"type\", \"key\", \"value\"} or an object")
	}
	return out, nil
}

// CustomValue converts a custom attribute value (from JSON, with numbers as
// json.Number, or a string from CSV) to its Go type. typ is a ChartMogul
// type name (String, Integer, Decimal, Timestamp, Boolean; any case) or ""
// to keep the JSON type.
func CustomValue(typ string, v any) (any, error) {
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
		return nil, fmt.Errorf("unsupported value %s (want a string, number or boolean)", JSONText(v))
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
			t, err := ParseTime(str)
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
		return nil, fmt.Errorf("%s is not a Boolean (want true or false)", JSONText(v))
	default:
		return nil, fmt.Errorf("unknown type %q (want String, Integer, Decimal, Timestamp or Boolean)", typ)
	}
	return nil, fmt.Errorf("%s is not a %s", JSONText(v), typ)
}
