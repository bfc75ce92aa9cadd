package server

// ChartMogul's "Update a customer" (PATCH /v1/customers/{uuid}) and its
// custom-attribute endpoints: add by UUID and by email, update, remove.
// Each is a Command (update_customer, add_custom, update_custom,
// remove_custom) whose Apply reads the customer in the transaction and
// writes it back with Tx.UpdateCustomer.

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/tagseg/tagseg"
	"github.com/tagseg/tagseg/server/api"
)

// ---- handlers ----

func (s *server) updateCustomer(w http.ResponseWriter, r *http.Request) {
	var raw json.RawMessage
	if !s.decode(w, r, &raw) {
		return
	}
	p, err := api.DecodePatch(raw)
	var fe *api.FieldError
	if errors.As(err, &fe) {
		writeInvalid(w, fe.Field, fe.Msg)
		return
	}
	if err != nil {
		msg := err.Error()
		writeError(w, http.StatusBadRequest, strings.ToUpper(msg[:1])+msg[1:], "")
		return
	}
	if p.Tags != nil && s.maxTags > 0 && len(*p.Tags) > s.maxTags {
		writeError(w, http.StatusBadRequest, fmt.Sprintf(`Parameter "tags" holds %d tags; a request may carry at most %d`, len(*p.Tags), s.maxTags), "tags")
		return
	}
	// The fields checked here, for a 422 before the write; custom values
	// are checked against the attributes' types when applied.
	check := p
	check.Custom = nil
	if err := check.Apply(&tagseg.Customer{}); err != nil {
		s.writeLibError(w, r, err, "customer")
		return
	}
	res, err := s.execute(r, Command{Op: OpUpdateCustomer, UUID: r.PathValue("uuid"), Patch: &p})
	if err != nil {
		s.writeLibError(w, r, err, "customer")
		return
	}
	writeJSONStatus(w, http.StatusOK, api.CustomerOf(*res.Customer))
}

// customBody is the body of the custom-attribute endpoints: "custom" is
// an array of {"type", "key", "value"} (add), an object (update) or an
// array of keys (remove); "email" picks the customers of an add by email.
type customBody struct {
	Email  *string         `json:"email"`
	Custom json.RawMessage `json:"custom"`
}

// readCustom reads a custom-attribute body whose "custom" starts with
// open ('[' or '{'); it answers 400 itself.
func (s *server) readCustom(w http.ResponseWriter, r *http.Request, open byte, want string) (customBody, bool) {
	var body customBody
	if !s.decode(w, r, &body) {
		return body, false
	}
	c := strings.TrimSpace(string(body.Custom))
	if c == "" || c == "null" {
		writeMissing(w, "custom")
		return body, false
	}
	if c[0] != open {
		writeError(w, http.StatusBadRequest, fmt.Sprintf(`Parameter "custom" must be %s`, want), "custom")
		return body, false
	}
	return body, true
}

const (
	addForm    = `an array of {"type", "key", "value"}`
	updateForm = `an object {key: value or {"value", "source"}}`
)

// writeCustom answers {"custom": {...}}: the customer's custom
// attributes after the change.
func writeCustom(w http.ResponseWriter, c *tagseg.Customer) {
	writeJSONStatus(w, http.StatusOK, map[string]map[string]any{"custom": api.CustomJSON(c.Custom)})
}

func (s *server) addCustom(w http.ResponseWriter, r *http.Request) {
	body, ok := s.readCustom(w, r, '[', addForm)
	if !ok {
		return
	}
	if _, err := api.ApplyCustom(nil, body.Custom, api.CustomAdd); err != nil { // a 422 before the write
		s.writeLibError(w, r, err, "custom")
		return
	}
	res, err := s.execute(r, Command{Op: OpAddCustom, UUID: r.PathValue("uuid"), Custom: body.Custom})
	if err != nil {
		s.writeLibError(w, r, err, "custom")
		return
	}
	writeCustom(w, res.Customer)
}

func (s *server) addCustomByEmail(w http.ResponseWriter, r *http.Request) {
	body, ok := s.readCustom(w, r, '[', addForm)
	if !ok {
		return
	}
	email := deref(body.Email)
	if email == "" {
		writeMissing(w, "email")
		return
	}
	if _, err := api.ApplyCustom(nil, body.Custom, api.CustomAdd); err != nil {
		s.writeLibError(w, r, err, "custom")
		return
	}
	res, err := s.execute(r, Command{Op: OpAddCustom, Email: email, Custom: body.Custom})
	if errors.Is(err, tagseg.ErrNotFound) {
		noEmail(w, email)
		return
	}
	if err != nil {
		s.writeLibError(w, r, err, "custom")
		return
	}
	writeShortCustomers(w, res.Customers)
}

func (s *server) updateCustom(w http.ResponseWriter, r *http.Request) {
	body, ok := s.readCustom(w, r, '{', updateForm)
	if !ok {
		return
	}
	res, err := s.execute(r, Command{Op: OpUpdateCustom, UUID: r.PathValue("uuid"), Custom: body.Custom})
	if err != nil {
		s.writeLibError(w, r, err, "custom")
		return
	}
	writeCustom(w, res.Customer)
}

// removeCustom answers 200 with the attributes left, as ChartMogul's
// documentation shows (its API has been seen answering 204 without a
// body, which the official Go client's RemoveCustomAttributes reports as
// an error).
func (s *server) removeCustom(w http.ResponseWriter, r *http.Request) {
	body, ok := s.readCustom(w, r, '[', "an array of keys")
	if !ok {
		return
	}
	var keys []string
	if err := json.Unmarshal(body.Custom, &keys); err != nil {
		writeError(w, http.StatusBadRequest, `Parameter "custom" must be an array of keys`, "custom")
		return
	}
	res, err := s.execute(r, Command{Op: OpRemoveCustom, UUID: r.PathValue("uuid"), Keys: keys})
	if err != nil {
		s.writeLibError(w, r, err, "custom")
		return
	}
	writeCustom(w, res.Customer)
}

// ---- commands ----

// applyUpdate performs update_customer: the patch's fields, custom
// attributes and tag set, on the customer as tx has it.
func (c Command) applyUpdate(tx *tagseg.Tx) (Result, error) {
	if c.Patch == nil {
		return Result{}, fmt.Errorf("server: %s without a patch: %w", c.Op, tagseg.ErrInvalid)
	}
	cust, err := tx.Customer(c.UUID)
	if err != nil {
		return Result{}, err
	}
	if err := c.Patch.Apply(&cust); err != nil {
		return Result{}, err
	}
	if _, err := tx.UpdateCustomer(cust); err != nil {
		return Result{}, err
	}
	if c.Patch.Tags != nil {
		if err := setTags(tx, c.UUID, cust.Tags, *c.Patch.Tags); err != nil {
			return Result{}, err
		}
	}
	after, err := tx.Customer(c.UUID)
	return Result{Customer: &after}, err
}

// setTags makes want the tag set of the customer that holds have: the
// tags it holds and want keep their place, the others are removed, new
// ones appended in want's order.
func setTags(tx *tagseg.Tx, uuid string, have, want []string) error {
	keep := make(map[string]bool, len(want))
	for _, t := range want {
		keep[strings.TrimSpace(t)] = true
	}
	var drop []string
	for _, t := range have {
		if !keep[t] {
			drop = append(drop, t)
		}
	}
	if len(drop) > 0 {
		if _, err := tx.RemoveTags(uuid, drop...); err != nil {
			return err
		}
	}
	if len(want) > 0 {
		if _, err := tx.AddTags(uuid, want...); err != nil {
			return err
		}
	}
	return nil
}

// applyCustom performs add_custom (by UUID, or to every customer with
// Email), update_custom and remove_custom.
func (c Command) applyCustom(tx *tagseg.Tx) (Result, error) {
	change := func(cust tagseg.Customer) (tagseg.Customer, error) {
		var err error
		switch c.Op {
		case OpAddCustom:
			cust.Custom, err = api.ApplyCustom(cust.Custom, c.Custom, api.CustomAdd)
		case OpUpdateCustom:
			cust.Custom, err = api.ApplyCustom(cust.Custom, c.Custom, api.CustomUpdate)
		default: // OpRemoveCustom
			cust.Custom = func() map[string]any {
				m := map[string]any{}
				for k, v := range cust.Custom {
					if !slices.Contains(c.Keys, k) {
						m[k] = v
					}
				}
				return m
			}()
		}
		if err != nil {
			return cust, err
		}
		return tx.UpdateCustomer(cust)
	}
	if c.Op == OpAddCustom && c.Email != "" {
		cs, err := tx.CustomersByEmail(c.Email)
		if err != nil {
			return Result{}, err
		}
		if len(cs) == 0 {
			return Result{}, fmt.Errorf("server: add custom attributes by email %q: %w", c.Email, tagseg.ErrNotFound)
		}
		out := make([]tagseg.Customer, len(cs))
		for i, cust := range cs {
			if out[i], err = change(cust); err != nil {
				return Result{}, err
			}
		}
		return Result{Customers: out}, nil
	}
	cust, err := tx.Customer(c.UUID)
	if err != nil {
		return Result{}, err
	}
	after, err := change(cust)
	if err != nil {
		return Result{}, err
	}
	return Result{Customer: &after}, nil
}
