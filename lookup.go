package tagseg

// Equality on the record-only fields that have a direct lookup (the field
// table's eq): email through the in-memory hash table (email.go),
// external_id through the ext bucket, one point read per data source,
// instead of reading every record (scanField). Where answers NotEq from
// them too (every live customer but the Eq ones); ranges, and an empty
// external ID (customers without one, which the ext bucket does not
// hold), still read the records.

import (
	"fmt"

	"github.com/RoaringBitmap/roaring/v2"
)

// emailEq is the table's direct lookup for email (see field.eq): the
// customers with the email in any case, or without one for "".
func (ev *evaluator) emailEq(s string) (val, bool, error) {
	if s == "" { // customers without an email
		return ev.colCompare(colEmail, Eq, 0, false), true, nil
	}
	v, err := ev.email(s)
	return v, true, err
}

// externalIDEq is the table's direct lookup for external_id (see
// field.eq); not for "" (customers without one, which the ext bucket does
// not hold).
func (ev *evaluator) externalIDEq(s string) (val, bool, error) {
	if s == "" {
		return val{}, false, nil
	}
	return ev.externalID(s)
}

// externalID selects the live customers with the external ID in any data
// source: one lookup in the ext bucket per data source value known to the
// state (a batch's view holds its own). found is false in a write batch
// whose evaluator has no get (its pending ext entries only the Tx holds):
// there the records are read instead.
func (ev *evaluator) externalID(ext string) (v val, found bool, err error) {
	get := func(key []byte) []byte { return extGet(ev.btx, key, ev.st.nextID) }
	limit := ev.st.nextID
	switch {
	case ev.get != nil:
		get = func(key []byte) []byte { return ev.get(bktExt, key) }
	case ev.btx == nil || ev.btx.Writable():
		return val{}, false, nil
	}
	out := roaring.New()
	lookup := func(ds string) error {
		e := get(extKey(ds, ext))
		if e == nil {
			return nil
		}
		id, err := parseID(e)
		if err != nil {
			return fmt.Errorf("tagseg: %s: external ID entry of %q in data source %q: %v: %w", ev.ix.path, ext, ds, err, ErrCorrupt)
		}
		if id < limit {
			out.Add(id)
		}
		return nil
	}
	for ds := range ev.st.eq["data_source"].all() {
		if err := lookup(ds); err != nil {
			return val{}, true, err
		}
	}
	out.And(ev.live().bm)
	return val{out, true}, true, nil
}
