package tagseg

import (
	"bytes"
	"fmt"
	"strings"
)

// UpdateCustomer replaces the attributes of the customer with c.UUID by
// those of c and returns the customer as stored after. Every attribute is
// replaced, an empty one included: DataSourceUUID, ExternalID, Name, Email,
// Company, Country, State, City, Zip, LeadCreatedAt, FreeTrialStartedAt
// and Custom (the whole map). c.ID, c.Tags and c.MRR are ignored: tags
// change with AddTags and RemoveTags, MRR with SetMRR. To change some
// fields only, read the customer, change them and pass it back.
//
// The checks are CreateCustomer's; a (DataSourceUUID, ExternalID) pair held
// by another customer gives ErrDuplicate, an unknown UUID ErrNotFound.
func (tx *Tx) UpdateCustomer(c Customer) (Customer, error) {
	if err := tx.checkWrite(); err != nil {
		return Customer{}, err
	}
	r, err := tx.lookup("update customer", c.UUID)
	if err != nil {
		return Customer{}, err
	}
	return tx.updateRecord(r, c)
}

// updateRecord is UpdateCustomer after the lookup; see there.
func (tx *Tx) updateRecord(r *record, c Customer) (Customer, error) {
	uuid := r.c.UUID
	c.Tags = nil
	c, err := normCustomer(c)
	if err != nil {
		return Customer{}, &updateError{uuid: uuid, err: err}
	}
	c.UUID, c.Tags = uuid, r.c.Tags
	old := r.c
	idb := idVal(r.id)
	oldExt, newExt := extKey(old.DataSourceUUID, old.ExternalID), extKey(c.DataSourceUUID, c.ExternalID)
	extChanged := old.ExternalID != c.ExternalID || old.DataSourceUUID != c.DataSourceUUID
	if extChanged && c.ExternalID != "" {
		if v := tx.get(bktExt, newExt); v != nil && !bytes.Equal(v, idb) {
			return Customer{}, fmt.Errorf("tagseg: update customer %s: external ID %q in data source %q exists: %w", uuid, c.ExternalID, c.DataSourceUUID, ErrDuplicate)
		}
	}
	r.c = c
	tx.touch(r.id) // name, company: no bitmap or column shows them
	if err := tx.putRecord(r); err != nil {
		return Customer{}, err
	}
	if extChanged {
		if old.ExternalID != "" {
			tx.put(bktExt, oldExt, nil)
		}
		if c.ExternalID != "" {
			tx.put(bktExt, newExt, idb)
		}
	}
	oldCols, newCols := colValues(&old), colValues(&c)
	for col, v := range newCols {
		if v != oldCols[col] {
			tx.setCol(col, r.id, v)
		}
	}
	for _, k := range append(eqKeys(&old), strKeys(&old)...) {
		tx.unset(k, r.id)
	}
	for _, k := range append(eqKeys(&c), strKeys(&c)...) {
		tx.set(k, r.id)
	}
	return r.customer(tx.mrrOf(r.id)), nil
}

// updateError is an error of normCustomer in UpdateCustomer: it names the
// customer and the operation, and wraps the same sentinel.
type updateError struct {
	uuid string
	err  error
}

func (e *updateError) Error() string {
	return strings.Replace(e.err.Error(), "create customer", "update customer "+e.uuid, 1)
}

func (e *updateError) Unwrap() error { return e.err }

// UpdateCustomer replaces a customer's attributes in one durable
// transaction; see Tx.UpdateCustomer.
func (ix *Index) UpdateCustomer(c Customer) (out Customer, err error) {
	err = ix.write1(func(tx *Tx) error { out, err = tx.UpdateCustomer(c); return err })
	return out, err
}
