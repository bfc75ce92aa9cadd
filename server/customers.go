package server

// ChartMogul's customer endpoints: create, retrieve, list, search by
// email, delete, attributes; and tagseg's MRR endpoints.

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/tagseg/tagseg"
	"github.com/tagseg/tagseg/server/api"
)

func (s *server) createCustomer(w http.ResponseWriter, r *http.Request) {
	var body api.NewCustomer
	if !s.decode(w, r, &body) {
		return
	}
	if deref(body.DataSourceUUID) == "" {
		writeMissing(w, "data_source_uuid")
		return
	}
	if deref(body.ExternalID) == "" {
		writeMissing(w, "external_id")
		return
	}
	// Checked here, for a 422 before the write; the UUID is fixed here,
	// not by the index, so that the command is the same wherever it is
	// applied. The MRR fields are import's.
	body.UUID = tagseg.NewUUID()
	body.MRR, body.MRRAt = nil, nil
	if _, err := body.Customer(); err != nil {
		s.writeLibError(w, r, err, "customer")
		return
	}
	res, err := s.execute(r, Command{Op: OpCreateCustomer, Customer: &body})
	if err != nil {
		s.writeLibError(w, r, err, "customer")
		return
	}
	writeJSONStatus(w, http.StatusCreated, api.CustomerOf(*res.Customer))
}

func (s *server) retrieveCustomer(w http.ResponseWriter, r *http.Request) {
	c, err := s.ix.Customer(r.PathValue("uuid"))
	if err != nil {
		s.writeLibError(w, r, err, "uuid")
		return
	}
	writeJSONStatus(w, http.StatusOK, api.CustomerOf(c))
}

func (s *server) deleteCustomer(w http.ResponseWriter, r *http.Request) {
	if _, err := s.execute(r, Command{Op: OpDeleteCustomer, UUID: r.PathValue("uuid")}); err != nil {
		s.writeLibError(w, r, err, "uuid")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *server) retrieveAttributes(w http.ResponseWriter, r *http.Request) {
	c, err := s.ix.Customer(r.PathValue("uuid"))
	if err != nil {
		s.writeLibError(w, r, err, "uuid")
		return
	}
	writeJSONStatus(w, http.StatusOK, api.Attributes{
		Tags: api.TagsOf(c), Stripe: map[string]any{}, Clearbit: map[string]any{}, Custom: api.CustomJSON(c.Custom),
	})
}

func (s *server) listCustomers(w http.ResponseWriter, r *http.Request) {
	p, ok := readPage(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	var filters []tagseg.Expr
	if v := q.Get("data_source_uuid"); v != "" {
		filters = append(filters, tagseg.Where("data_source", tagseg.Eq, v))
	}
	if v := q.Get("external_id"); v != "" {
		filters = append(filters, tagseg.Where("external_id", tagseg.Eq, v))
	}
	if v := q.Get("status"); v != "" {
		switch strings.ReplaceAll(v, "_", " ") {
		case "Active":
			filters = append(filters, tagseg.Where("mrr", tagseg.Gt, 0))
		case "New Lead":
			filters = append(filters, tagseg.Where("mrr", tagseg.Eq, 0))
		default: // statuses tagseg never reports
			filters = append(filters, tagseg.Or())
		}
	}
	if v := q.Get("system"); v != "" && v != api.BillingSystemType {
		filters = append(filters, tagseg.Or())
	}
	var cp customerPage
	err := s.ix.View(func(tx *tagseg.Tx) (err error) {
		cp, err = segmentPage(r.Context(), tx, p, tagseg.And(filters...))
		return err
	})
	if err != nil {
		s.writeInternal(w, r, err)
		return
	}
	writePage(w, p, cp)
}

func (s *server) searchCustomers(w http.ResponseWriter, r *http.Request) {
	p, ok := readPage(w, r)
	if !ok {
		return
	}
	email := r.URL.Query().Get("email")
	if email == "" {
		writeMissing(w, "email")
		return
	}
	cs, err := s.ix.CustomersByEmail(email)
	if err != nil {
		s.writeLibError(w, r, err, "email")
		return
	}
	if len(cs) == 0 {
		noEmail(w, email)
		return
	}
	cp, _ := readCustomerPage(p, customersFrom(cs), -1) // from memory: no error
	writePage(w, p, cp)
}

func (s *server) setMRR(w http.ResponseWriter, r *http.Request) {
	var body struct {
		MRR  any     `json:"mrr"`
		Date *string `json:"date"`
	}
	if !s.decode(w, r, &body) {
		return
	}
	if body.MRR == nil {
		writeMissing(w, "mrr")
		return
	}
	var cents int64
	switch v := body.MRR.(type) {
	case json.Number:
		var err error
		if cents, err = api.ParseCents(v.String()); err != nil {
			var ce *api.CentsError
			if errors.As(err, &ce) { // 299.00: as the command says, cents
				writeError(w, http.StatusBadRequest, `Parameter "mrr": `+err.Error(), "mrr")
				return
			}
			writeInvalid(w, "mrr", err.Error())
			return
		}
	default:
		writeInvalid(w, "mrr", fmt.Sprintf("%s is not a number of cents", api.JSONText(v)))
		return
	}
	at := s.opt.Now().UTC()
	if d := deref(body.Date); d != "" {
		t, err := api.ParseTime(d)
		if err != nil {
			writeInvalid(w, "date", err.Error())
			return
		}
		at = t
	}
	res, err := s.execute(r, Command{Op: OpSetMRR, UUID: r.PathValue("uuid"), At: at, Cents: cents})
	if err != nil {
		s.writeLibError(w, r, err, "mrr")
		return
	}
	writeJSONStatus(w, http.StatusOK, api.CustomerOf(*res.Customer))
}

func (s *server) mrrHistory(w http.ResponseWriter, r *http.Request) {
	changes, err := s.ix.MRRHistory(r.PathValue("uuid"))
	if err != nil {
		s.writeLibError(w, r, err, "uuid")
		return
	}
	entries := make([]api.MRREntry, len(changes))
	for i, c := range changes {
		entries[i] = api.MRREntry{Date: c.At.UTC().Format(time.RFC3339Nano), MRR: c.Cents}
	}
	writeJSONStatus(w, http.StatusOK, map[string]any{"entries": entries})
}
