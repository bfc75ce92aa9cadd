package api

// Changing a customer: the body of ChartMogul's "Update a customer"
// (PATCH /v1/customers/{uuid}) and of its custom-attribute endpoints, and
// how each changes a tagseg customer.

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"time"

	"github.com/tagseg/tagseg"
)

// CustomerPatch is what PATCH /v1/customers/{uuid} changes: a nil field is
// left as it is, a set one replaces the stored value ("" clears it; JSON
// null in the request is read as ""). Dates are as ParseTime reads them.
// Tags, when set, becomes the customer's tag set: tags it already holds
// keep their place, new ones are appended in the order given, the others
// are removed. Custom is a JSON object whose keys are changed one by one
// (see ApplyCustom, mode CustomMerge); keys it does not name are kept.
//
// The request's fields that the index does not keep (owner,
// primary_contact, website_url) and the read-only ones of a customer
// object (id, uuid, status, mrr, arr, ...) are not read, so a customer
// object retrieved, changed and sent back (as the official Go client's
// UpdateCustomer sends it) works.
type CustomerPatch struct {
	DataSourceUUID     *string         `json:"data_source_uuid,omitempty"`
	ExternalID         *string         `json:"external_id,omitempty"`
	Name               *string         `json:"name,omitempty"`
	Email              *string         `json:"email,omitempty"`
	Company            *string         `json:"company,omitempty"`
	Country            *string         `json:"country,omitempty"`
	State              *string         `json:"state,omitempty"`
	City               *string         `json:"city,omitempty"`
	Zip                *string         `json:"zip,omitempty"`
	LeadCreatedAt      *string         `json:"lead_created_at,omitempty"`
	FreeTrialStartedAt *string         `json:"free_trial_started_at,omitempty"`
	Tags               *[]string       `json:"tags,omitempty"`
	Custom             json.RawMessage `json:"custom,omitempty"`
}

// DecodePatch reads the body of PATCH /v1/customers/{uuid}: ChartMogul's
// fields at the top level, "address" ({"country", "state", "city",
// "address_zip"}, used for a field the top level does not give) and
// "attributes" ({"tags": [...], "custom": {...}}). A value of the wrong
// JSON type is a *FieldError; invalid JSON an error for a 400.
func DecodePatch(body []byte) (CustomerPatch, error) {
	var top map[string]json.RawMessage
	if err := DecodeJSON(body, &top); err != nil {
		return CustomerPatch{}, err
	}
	var p CustomerPatch
	fields := []struct {
		name string
		dst  **string
	}{
		{"data_source_uuid", &p.DataSourceUUID}, {"external_id", &p.ExternalID},
		{"name", &p.Name}, {"email", &p.Email}, {"company", &p.Company},
		{"country", &p.Country}, {"state", &p.State}, {"city", &p.City}, {"zip", &p.Zip},
		{"lead_created_at", &p.LeadCreatedAt}, {"free_trial_started_at", &p.FreeTrialStartedAt},
	}
	for _, f := range fields {
		if raw, ok := top[f.name]; ok {
			s, err := patchString(f.name, raw)
			if err != nil {
				return p, err
			}
			*f.dst = s
		}
	}
	if raw, ok := top["address"]; ok && !isNull(raw) {
		var addr map[string]json.RawMessage
		if err := json.Unmarshal(raw, &addr); err != nil {
			return p, FieldErrorf("address", "must be an object {\"country\", \"state\", \"city\", \"address_zip\"}")
		}
		for _, f := range []struct {
			key string
			dst **string
		}{{"country", &p.Country}, {"state", &p.State}, {"city", &p.City}, {"address_zip", &p.Zip}} {
			if raw, ok := addr[f.key]; ok && *f.dst == nil {
				s, err := patchString("address."+f.key, raw)
				if err != nil {
					return p, err
				}
				*f.dst = s
			}
		}
	}
	if raw, ok := top["attributes"]; ok && !isNull(raw) {
		var attrs map[string]json.RawMessage
		if err := json.Unmarshal(raw, &attrs); err != nil {
			return p, FieldErrorf("attributes", "must be an object {\"tags\": [...], \"custom\": {...}}")
		}
		if raw, ok := attrs["tags"]; ok {
			tags := []string{}
			if !isNull(raw) {
				if err := json.Unmarshal(raw, &tags); err != nil {
					return p, FieldErrorf("tags", "must be an array of strings")
				}
			}
			p.Tags = &tags
		}
		if raw, ok := attrs["custom"]; ok && !isNull(raw) {
			if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '{' {
				return p, FieldErrorf("custom", "must be an object {key: value or {\"value\", \"source\"}}")
			}
			p.Custom = raw
		}
	}
	return p, nil
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// patchString reads a string field of a patch: null is "".
func patchString(field string, raw json.RawMessage) (*string, error) {
	s := ""
	if !isNull(raw) {
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, FieldErrorf(field, "must be a string")
		}
	}
	return &s, nil
}

// Apply changes c as p says, checking what it sets (a *FieldError for a
// bad value); tags are not changed here (see Tags).
func (p *CustomerPatch) Apply(c *tagseg.Customer) error {
	for _, f := range []struct {
		src *string
		dst *string
	}{
		{p.DataSourceUUID, &c.DataSourceUUID}, {p.ExternalID, &c.ExternalID}, {p.Name, &c.Name}, {p.Email, &c.Email},
		{p.Company, &c.Company}, {p.Country, &c.Country}, {p.State, &c.State}, {p.City, &c.City}, {p.Zip, &c.Zip},
	} {
		if f.src != nil {
			*f.dst = *f.src
		}
	}
	if err := CheckFields(c); err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		src  *string
		dst  *time.Time
	}{{"lead_created_at", p.LeadCreatedAt, &c.LeadCreatedAt}, {"free_trial_started_at", p.FreeTrialStartedAt, &c.FreeTrialStartedAt}} {
		if f.src != nil {
			t, err := ParseTimeField(f.name, *f.src)
			if err != nil {
				return err
			}
			*f.dst = t
		}
	}
	if len(p.Custom) > 0 {
		custom, err := ApplyCustom(c.Custom, p.Custom, CustomMerge)
		if err != nil {
			return err
		}
		c.Custom = custom
	}
	return nil
}

// CustomMode is how ApplyCustom reads its attributes.
type CustomMode int

const (
	// CustomAdd reads ChartMogul's add form, an array of {"type", "key",
	// "value", "source"?} (POST .../attributes/custom), and sets each key
	// to its value of that type, whether the key exists or not.
	CustomAdd CustomMode = iota
	// CustomUpdate reads ChartMogul's update form, an object {key: value
	// or {"value", "source"}} (PUT .../attributes/custom): every key must
	// exist ("create it with POST first", as ChartMogul says), and its
	// value is read as the type the attribute has (a Timestamp attribute
	// takes a date string, an Integer one a whole number).
	CustomUpdate
	// CustomMerge is PATCH's: the update form, where a key that does not
	// exist is added with its JSON type (string, number, boolean) and a
	// null value removes the key.
	CustomMerge
)

// ApplyCustom returns the custom attributes m changed by raw as mode says;
// m is not changed. The source of an attribute is accepted and not kept.
// A bad value or form is a *FieldError on "custom".
func ApplyCustom(m map[string]any, raw json.RawMessage, mode CustomMode) (map[string]any, error) {
	out := maps.Clone(m)
	if out == nil {
		out = map[string]any{}
	}
	raw = bytes.TrimSpace(raw)
	if mode == CustomAdd {
		if len(raw) == 0 || raw[0] != '[' {
			return nil, FieldErrorf("custom", "must be an array of {\"type\", \"key\", \"value\"}")
		}
		add, err := parseCustom(raw)
		if err != nil {
			return nil, err
		}
		maps.Copy(out, add)
		return out, nil
	}
	var obj map[string]any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if len(raw) == 0 || raw[0] != '{' || d.Decode(&obj) != nil {
		return nil, FieldErrorf("custom", "must be an object {key: value or {\"value\", \"source\"}}")
	}
	for _, k := range slices.Sorted(maps.Keys(obj)) { // the first error is always the same one
		v := obj[k]
		if w, ok := v.(map[string]any); ok { // {"value": x, "source": y}
			v = w["value"]
		}
		old, exists := out[k]
		switch {
		case !exists && mode == CustomUpdate:
			return nil, FieldErrorf("custom", "attribute %q does not exist; add it first (POST /v1/customers/{uuid}/attributes/custom with its type)", k)
		case v == nil && mode == CustomMerge:
			delete(out, k)
			continue
		case v == nil:
			return nil, FieldErrorf("custom", "attribute %q: null is not a value (remove it with DELETE .../attributes/custom)", k)
		}
		typ := "" // a new key keeps its JSON type
		if exists {
			typ = CustomType(old)
		}
		nv, err := CustomValue(typ, v)
		if err != nil {
			return nil, FieldErrorf("custom", "attribute %q: %v", k, err)
		}
		out[k] = nv
	}
	return out, nil
}
