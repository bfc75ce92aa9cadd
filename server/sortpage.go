package server

// A segment's customers sorted by MRR: GET /v1/segments/customers with
// sort=mrr (lowest first) or sort=-mrr (highest first), paged from the MRR
// bit planes (tagseg.Segment.ReadCustomersByMRR), O(page) wherever the
// page is. Its cursor holds the MRR and ID of the page's last customer.

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/tagseg/tagseg"
	"github.com/tagseg/tagseg/server/api"
)

// readSort reads the parameter "sort" of a customer list: "" (dense-ID
// order), "mrr" or "-mrr"; it answers 400 itself.
func readSort(w http.ResponseWriter, r *http.Request) (sorted, desc, ok bool) {
	switch v := r.URL.Query().Get("sort"); v {
	case "":
		return false, false, true
	case "mrr", "-mrr":
		return true, v == "-mrr", true
	default:
		writeError(w, http.StatusBadRequest, fmt.Sprintf(`Parameter "sort" is %q; want mrr (lowest first) or -mrr (highest first)`, v), "sort")
		return false, false, false
	}
}

// readSortedPage reads per_page and an MRR-order cursor; it answers 400
// itself.
func readSortedPage(w http.ResponseWriter, r *http.Request) (page, *tagseg.MRRPosition, bool) {
	qs := r.URL.Query()
	raw, has := qs.Get("cursor"), qs.Has("cursor")
	qs.Del("cursor")
	r2 := r.Clone(r.Context())
	r2.URL.RawQuery = qs.Encode()
	p, ok := readPage(w, r2)
	if !ok {
		return p, nil, false
	}
	p.hasCursor = has
	if raw == "" {
		return p, nil, true
	}
	pos, ok := decodeMRRCursor(raw)
	if !ok {
		writeError(w, http.StatusBadRequest, `Parameter "cursor" is invalid (a cursor of a list sorted by MRR comes from a page sorted the same way)`, "cursor")
		return p, nil, false
	}
	return p, &pos, true
}

func encodeMRRCursor(pos tagseg.MRRPosition) string {
	return base64.StdEncoding.EncodeToString([]byte("m" + strconv.FormatInt(pos.MRR, 10) + ":" + strconv.FormatUint(uint64(pos.ID), 10)))
}

func decodeMRRCursor(s string) (tagseg.MRRPosition, bool) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) < 2 || b[0] != 'm' {
		return tagseg.MRRPosition{}, false
	}
	m, id, ok := strings.Cut(string(b[1:]), ":")
	mrr, err1 := strconv.ParseInt(m, 10, 64)
	n, err2 := strconv.ParseUint(id, 10, 32)
	return tagseg.MRRPosition{MRR: mrr, ID: uint32(n)}, ok && err1 == nil && err2 == nil
}

// sortedPage reads one page of e's members in MRR order, after pos.
func sortedPage(ctx context.Context, tx *tagseg.Tx, p page, e tagseg.Expr, desc bool, pos *tagseg.MRRPosition) (customerPage, error) {
	seg, err := tx.SegmentContext(ctx, e)
	if err != nil {
		return customerPage{}, err
	}
	cp := customerPage{entries: []api.Customer{}, total: int64(seg.Count())}
	var last tagseg.MRRPosition
	for c, err := range seg.ReadCustomersByMRR(desc, pos) {
		if err != nil {
			return cp, err
		}
		if len(cp.entries) == p.perPage {
			cp.more = true
			break
		}
		cp.entries = append(cp.entries, api.CustomerOf(c))
		last = tagseg.MRRPosition{MRR: c.MRR, ID: c.ID}
	}
	if len(cp.entries) > 0 {
		cp.next = encodeMRRCursor(last)
	}
	return cp, nil
}
