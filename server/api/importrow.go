package api

// What an import does with a row, written once for the command's import
// (which creates new customers in bulk with Index.Load) and the server's
// import endpoint (one transaction a batch): the checks a row passes, how
// it names its customer, and how it changes the customer's attributes,
// tags and MRR history.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"time"

	"github.com/tagseg/tagseg"
)

// ImportRow is one row of an import: a customer's attributes and tags
// (TagsGiven: the row has a tags value, maybe empty, which -replace-tags
// makes the customer's tags), and, when HasMRR, its MRR in cents from
// MRRAt on (zero: the import's default time).
type ImportRow struct {
	Customer  tagseg.Customer
	TagsGiven bool
	HasMRR    bool
	MRR       int64
	MRRAt     time.Time
}

// ImportRowOf reads a row in the JSON Lines shape of an import (the
// new-customer body, with "mrr" and "mrr_at").
func ImportRowOf(n *NewCustomer) (ImportRow, error) {
	var r ImportRow
	c, err := n.Customer()
	if err != nil {
		return r, err
	}
	r.Customer = c
	r.TagsGiven = n.Attributes != nil && n.Attributes.Tags != nil
	if raw := bytes.TrimSpace(n.MRR); len(raw) > 0 && string(raw) != "null" {
		r.HasMRR = true
		s := string(raw)
		if raw[0] == '"' {
			json.Unmarshal(raw, &s)
		}
		if r.MRR, err = ParseCents(s); err != nil {
			return r, FieldErrorf("mrr", "%v", err)
		}
	}
	r.MRRAt, err = ParseTimeField("mrr_at", deref(n.MRRAt))
	return r, err
}

// ImportOptions are how an import treats its rows.
type ImportOptions struct {
	// ReplaceTags makes a row's tags (when it has a tags value) the
	// customer's tags; else they are added.
	ReplaceTags bool `json:"replace_tags,omitempty"`
	// AllowUnkeyed creates rows with neither a UUID nor an external ID.
	AllowUnkeyed bool `json:"allow_unkeyed,omitempty"`
	// MRRAt is when a row's MRR takes effect when it has no mrr_at;
	// MRRAtGiven says it was asked for (import -mrr-at), else it is the
	// moment the import started (see Merge).
	MRRAt      time.Time `json:"mrr_at"`
	MRRAtGiven bool      `json:"mrr_at_given,omitempty"`
}

// CheckImportRow refuses a row an import must not write, before the index
// sees it, and puts its tags in the form the index keeps them.
func CheckImportRow(r *ImportRow, o ImportOptions) error {
	c := &r.Customer
	if c.ExternalID != "" && c.DataSourceUUID == "" {
		return FieldErrorf("data_source_uuid", "missing: external_id %q needs its data_source_uuid to name a customer", c.ExternalID)
	}
	if c.UUID == "" && c.ExternalID == "" && !o.AllowUnkeyed {
		return errors.New("no key: give uuid, or data_source_uuid and external_id, so that importing the row again updates the customer instead of creating another (-allow-unkeyed creates it anyway)")
	}
	if err := CheckFields(c); err != nil {
		return err
	}
	for i, t := range c.Tags {
		t, err := CheckTag(t)
		if err != nil {
			return fmt.Errorf("tags: %w", err)
		}
		c.Tags[i] = t
	}
	return nil
}

// LookupRow finds the customer a row names (by UUID, or by data source
// and external ID), or nil when it names none. A UUID and an external ID
// that name two customers are an error wrapping tagseg.ErrDuplicate.
func LookupRow(tx *tagseg.Tx, c *tagseg.Customer) (*tagseg.Customer, error) {
	var byUUID, byExt *tagseg.Customer
	if c.UUID != "" {
		got, err := tx.Customer(c.UUID)
		if err == nil {
			byUUID = &got
		} else if !errors.Is(err, tagseg.ErrNotFound) {
			return nil, err
		}
	}
	if byUUID != nil && byUUID.ExternalID == c.ExternalID && byUUID.DataSourceUUID == c.DataSourceUUID {
		return byUUID, nil // the usual re-import: no second lookup
	}
	if c.ExternalID != "" {
		got, err := tx.CustomerByExternalID(c.DataSourceUUID, c.ExternalID)
		if err == nil {
			byExt = &got
		} else if !errors.Is(err, tagseg.ErrNotFound) {
			return nil, err
		}
	}
	switch {
	case byUUID != nil && byExt != nil && byUUID.UUID != byExt.UUID:
		return nil, fmt.Errorf("uuid %s and external ID %q of data source %q name two customers (the external ID is %s's): %w", c.UUID, c.ExternalID, c.DataSourceUUID, byExt.UUID, tagseg.ErrDuplicate)
	case byUUID == nil && byExt != nil && c.UUID != "":
		return nil, fmt.Errorf("external ID %q of data source %q is customer %s, not %s: %w", c.ExternalID, c.DataSourceUUID, byExt.UUID, c.UUID, tagseg.ErrDuplicate)
	case byUUID != nil:
		return byUUID, nil
	}
	return byExt, nil
}

// ImportState is a customer as an import makes it: Old as stored (nil
// for a new one), and the attributes C, tags and MRR history after the
// rows merged so far (Hist0: the history stored).
type ImportState struct {
	Old         *tagseg.Customer
	C           tagseg.Customer
	Tags        []string
	Hist, Hist0 []tagseg.MRRChange
}

// StateOf is the state of a stored customer, before any row, with its
// MRR history read in tx.
func StateOf(tx *tagseg.Tx, old *tagseg.Customer) (ImportState, error) {
	st := ImportState{Old: old, C: *old, Tags: slices.Clone(old.Tags)}
	var err error
	if st.Hist0, err = tx.MRRHistory(old.UUID); err != nil {
		return st, err
	}
	st.Hist = slices.Clone(st.Hist0)
	return st, nil
}

// Merge applies row r: attributes it gives replace, custom attributes are
// merged key by key, tags are added (with ReplaceTags, the row's tags
// become the tags), and an MRR is an event at the row's mrr_at, else at
// o.MRRAt. An event in the history already is not recorded again; and
// when o.MRRAt is only the moment the import started (not asked for), a
// row whose MRR is the one in effect then is no change, so that importing
// a file again adds no events.
func (st *ImportState) Merge(r *ImportRow, o ImportOptions) {
	rc := &r.Customer
	c := &st.C
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	if st.Old == nil {
		set(&c.UUID, rc.UUID)
	}
	set(&c.DataSourceUUID, rc.DataSourceUUID)
	set(&c.ExternalID, rc.ExternalID)
	set(&c.Name, rc.Name)
	set(&c.Email, rc.Email)
	set(&c.Company, rc.Company)
	set(&c.Country, rc.Country)
	set(&c.State, rc.State)
	set(&c.City, rc.City)
	set(&c.Zip, rc.Zip)
	if !rc.LeadCreatedAt.IsZero() {
		c.LeadCreatedAt = rc.LeadCreatedAt
	}
	if !rc.FreeTrialStartedAt.IsZero() {
		c.FreeTrialStartedAt = rc.FreeTrialStartedAt
	}
	if len(rc.Custom) > 0 {
		m := maps.Clone(c.Custom)
		if m == nil {
			m = map[string]any{}
		}
		maps.Copy(m, rc.Custom)
		c.Custom = m
	}
	if r.TagsGiven && o.ReplaceTags {
		// The tags the row keeps stay where they are; the others go.
		st.Tags = slices.DeleteFunc(st.Tags, func(t string) bool { return !slices.Contains(rc.Tags, t) })
	}
	for _, t := range rc.Tags {
		if !slices.Contains(st.Tags, t) {
			st.Tags = append(st.Tags, t)
		}
	}
	if r.HasMRR {
		at := r.MRRAt
		explicit := !at.IsZero()
		if !explicit {
			at = o.MRRAt
		}
		switch {
		case HasEvent(st.Hist, at, r.MRR):
			// In the history already: importing a file again adds nothing.
		case !explicit && !o.MRRAtGiven && r.MRR == mrrInEffect(st.Hist, at):
		default:
			st.Hist = insertEvent(st.Hist, at, r.MRR)
		}
	}
}

// Customer is the customer the state describes, tags included.
func (st *ImportState) Customer() tagseg.Customer {
	c := st.C
	c.Tags = st.Tags
	return c
}

// Changed reports whether the rows change a stored customer (a new one
// is always a change).
func (st *ImportState) Changed() bool {
	if st.Old == nil {
		return true
	}
	return !slices.EqualFunc(st.Hist, st.Hist0, sameEvent) || st.attrsChanged() || !slices.Equal(st.Tags, st.Old.Tags)
}

func (st *ImportState) attrsChanged() bool {
	a, b := st.C, *st.Old
	a.Tags, b.Tags, a.MRR, b.MRR = nil, nil, 0, 0
	if len(a.Custom) == 0 && len(b.Custom) == 0 {
		a.Custom, b.Custom = nil, nil
	}
	return !reflect.DeepEqual(a, b)
}

// Create creates the new customer of the state in tx, with its MRR
// history.
func (st *ImportState) Create(tx *tagseg.Tx) (tagseg.Customer, error) {
	c, err := tx.CreateCustomer(st.Customer())
	if err != nil {
		return c, err
	}
	for _, e := range st.Hist {
		if err := tx.SetMRR(c.UUID, e.At, e.Cents); err != nil {
			return c, err
		}
	}
	return tx.Customer(c.UUID)
}

// Update writes the state over its stored customer in tx: the attributes,
// the tags in the state's order, and the MRR events not in the stored
// history.
func (st *ImportState) Update(tx *tagseg.Tx) error {
	uuid := st.Old.UUID
	if st.attrsChanged() {
		c := st.C
		c.UUID = uuid
		if _, err := tx.UpdateCustomer(c); err != nil {
			return err
		}
	}
	// Make the tags st.Tags, in its order: the tags kept from the old
	// list keep their place as long as they agree with st.Tags; from the
	// first that does not, the rest are removed and added again (to the
	// end), as the rows one by one would have done.
	var kept, del []string
	for _, t := range st.Old.Tags {
		if slices.Contains(st.Tags, t) {
			kept = append(kept, t)
		} else {
			del = append(del, t)
		}
	}
	i := 0
	for i < len(kept) && kept[i] == st.Tags[i] {
		i++
	}
	del = append(del, kept[i:]...)
	add := st.Tags[i:]
	if len(del) > 0 {
		if _, err := tx.RemoveTags(uuid, del...); err != nil {
			return err
		}
	}
	if len(add) > 0 {
		if _, err := tx.AddTags(uuid, add...); err != nil {
			return err
		}
	}
	// The events that change the history (rows may have set one instant
	// twice).
	for _, e := range st.Hist {
		if slices.ContainsFunc(st.Hist0, func(o tagseg.MRRChange) bool { return sameEvent(o, e) }) {
			continue
		}
		if err := tx.SetMRR(uuid, e.At, e.Cents); err != nil {
			return err
		}
	}
	return nil
}

// HasEvent reports whether a history holds the event: an MRR of cents at
// instant at.
func HasEvent(h []tagseg.MRRChange, at time.Time, cents int64) bool {
	for _, e := range h {
		if e.At.Equal(at) {
			return e.Cents == cents
		}
	}
	return false
}

// mrrInEffect is the MRR a history gives at instant at.
func mrrInEffect(h []tagseg.MRRChange, at time.Time) int64 {
	v := int64(0)
	for _, e := range h {
		if e.At.After(at) {
			break
		}
		v = e.Cents
	}
	return v
}

// insertEvent adds an event to a history in time order; one at the same
// instant is replaced.
func insertEvent(h []tagseg.MRRChange, at time.Time, cents int64) []tagseg.MRRChange {
	i, found := slices.BinarySearchFunc(h, at, func(e tagseg.MRRChange, t time.Time) int { return e.At.Compare(t) })
	if found {
		h[i].Cents = cents
		return h
	}
	return slices.Insert(h, i, tagseg.MRRChange{At: at, Cents: cents})
}

func sameEvent(a, b tagseg.MRRChange) bool { return a.At.Equal(b.At) && a.Cents == b.Cents }

// EventCustomer resolves the customer of an MRR event to its UUID: by
// uuid, else by data source and external ID (tagseg.ErrNotFound when
// there is none).
func EventCustomer(tx *tagseg.Tx, uuid, ds, ext string) (string, error) {
	if uuid != "" {
		if _, err := tx.Customer(uuid); err != nil {
			return "", err
		}
		return uuid, nil
	}
	got, err := tx.CustomerByExternalID(ds, ext)
	if err != nil {
		return "", fmt.Errorf("customer with external ID %q in data source %q: %w", ext, ds, tagseg.ErrNotFound)
	}
	return got.UUID, nil
}
