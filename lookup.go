package tagseg

// Equality on the record-only fields that have a direct lookup: email
// through the in-memory hash table (email.go), external_id through the
// ext bucket, one point read per data source, instead of reading every
// record (scanField). Both answer Eq and NotEq (every live customer but
// the Eq ones); ranges, and an empty value (customers without an external
// ID, which the ext bucket does not hold), still read the records.

import (
	"fmt"
	"strings"

	"github.com/RoaringBitmap/roaring/v2"
)

// lookupField answers field op s by a direct lookup when there is one; ok
// is false when there is none and the caller reads the records.
func (ev *evaluator) lookupField(field string, op Op, s string) (v val, ok bool, err error) {
	if op != Eq && op != NotEq {
		return val{}, false, nil
	}
	var eq val
	switch {
	case field == "email" && s == "": // customers without an email
		return ev.colCompare(colEmail, op, 0, false), true, nil
	case field == "email":
		eq, err = ev.email(s)
	case field == "external_id" && s != "":
		var found bool
		eq, found, err = ev.externalID(s)
		if !found {
			return val{}, false, nil
		}
	default:
		return val{}, false, nil
	}
	if err != nil || op == Eq {
		return eq, true, err
	}
	return ev.intersect(nil, []val{eq}), true, nil
}

// externalID selects the live customers with the external ID in any data
// source: one lookup in the ext bucket per data source value known to the
// snapshot (and the batch, in a tagging Update). found is false inside an
// Update's own Segment or Count, whose pending ext entries only the Tx
// holds: there the records are read instead.
func (ev *evaluator) externalID(ext string) (v val, found bool, err error) {
	get := func(key []byte) []byte { return extGet(ev.btx, key, ev.st.nextID) }
	limit := ev.st.nextID
	if ev.tx != nil {
		get = func(key []byte) []byte { return ev.tx.get(bktExt, key) }
		limit = ev.tx.nextID
	} else if ev.btx == nil || ev.btx.Writable() {
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
	if ev.tx != nil { // data sources new in the batch
		const prefix = "data_source\x00"
		for k := range ev.tx.deltas {
			if ds, ok := strings.CutPrefix(k.name, prefix); ok && k.kind == bkEq {
				if _, known := ev.st.eq["data_source"].get(ds); !known {
					if err := lookup(ds); err != nil {
						return val{}, true, err
					}
				}
			}
		}
	}
	out.And(ev.live().bm)
	return val{out, true}, true, nil
}
