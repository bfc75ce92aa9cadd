package server

// Cursor pagination of customer lists, as ChartMogul pages them.

import (
	"cmp"
	"context"
	"encoding/base64"
	"fmt"
	"iter"
	"net/http"
	"slices"
	"strconv"

	"github.com/tagseg/tagseg"
	"github.com/tagseg/tagseg/server/api"
)

// ---- pagination ----

// page is a request for one page of a cursor-paginated list.
type page struct {
	perPage   int
	after     uint32 // "id" of the last customer of the previous page, or 0
	hasCursor bool
}

func encodeCursor(id uint32) string {
	return base64.StdEncoding.EncodeToString([]byte("&" + strconv.FormatUint(uint64(id), 10)))
}

func decodeCursor(s string) (uint32, bool) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) < 2 || b[0] != '&' {
		return 0, false
	}
	n, err := strconv.ParseUint(string(b[1:]), 10, 32)
	return uint32(n), err == nil
}

// readPage reads per_page and cursor; it answers 400 itself.
func readPage(w http.ResponseWriter, r *http.Request) (page, bool) {
	q := r.URL.Query()
	p := page{perPage: maxPerPage}
	if q.Has("page") {
		writeError(w, http.StatusBadRequest, `Parameter "page" is deprecated`, "page")
		return p, false
	}
	if v := q.Get("per_page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPerPage {
			writeError(w, http.StatusBadRequest, fmt.Sprintf(`Parameter "per_page" must be an integer from 1 to %d`, maxPerPage), "per_page")
			return p, false
		}
		p.perPage = n
	}
	if q.Has("cursor") {
		p.hasCursor = true
		if v := q.Get("cursor"); v != "" {
			id, ok := decodeCursor(v)
			if !ok {
				writeError(w, http.StatusBadRequest, `Parameter "cursor" is invalid`, "cursor")
				return p, false
			}
			p.after = id
		}
	}
	return p, true
}

// firstPage is the envelope of a page asked for without a cursor, with
// ChartMogul's deprecated page fields; nextPage the one with a cursor.
type firstPage struct {
	Entries     []api.Customer `json:"entries"`
	CurrentPage int            `json:"current_page"`
	TotalPages  *int           `json:"total_pages"`
	HasMore     bool           `json:"has_more"`
	PerPage     int            `json:"per_page"`
	Page        int            `json:"page"`
	Cursor      *string        `json:"cursor"`
}

type nextPage struct {
	Entries []api.Customer `json:"entries"`
	Cursor  *string        `json:"cursor"`
	HasMore bool           `json:"has_more"`
}

// customerPage is one page of a cursor-paginated list of customers.
type customerPage struct {
	entries []api.Customer
	more    bool
	total   int64  // customers in the list, or -1 when total_pages is null
	next    string // the cursor after the page, when not the last entry's ID
}

// readCustomerPage reads one page in dense-ID order: the first p.perPage
// customers that read yields from the dense ID after the cursor's (a
// cursor's "id" is the dense ID + 1, so that is p.after), and one more to
// tell has_more. It costs O(page) wherever the cursor is. A read error is
// returned (the request answers 5xx), never a short page.
func readCustomerPage(p page, read func(from uint32) iter.Seq2[tagseg.Customer, error], total int64) (customerPage, error) {
	cp := customerPage{entries: []api.Customer{}, total: total}
	for c, err := range read(p.after) {
		if err != nil {
			return cp, err
		}
		if len(cp.entries) == p.perPage {
			cp.more = true
			break
		}
		cp.entries = append(cp.entries, api.CustomerOf(c))
	}
	return cp, nil
}

// writePage writes a page: with the deprecated page fields when it was
// asked for without a cursor.
func writePage(w http.ResponseWriter, p page, cp customerPage) {
	var cursor *string
	switch {
	case cp.next != "":
		cursor = &cp.next
	case len(cp.entries) > 0:
		cursor = api.Nullable(encodeCursor(cp.entries[len(cp.entries)-1].ID))
	}
	if p.hasCursor {
		writeJSONStatus(w, http.StatusOK, nextPage{Entries: cp.entries, Cursor: cursor, HasMore: cp.more})
		return
	}
	fp := firstPage{Entries: cp.entries, CurrentPage: 1, HasMore: cp.more, PerPage: p.perPage, Page: 1, Cursor: cursor}
	if cp.total >= 0 {
		pages := max(1, int((cp.total+int64(p.perPage)-1)/int64(p.perPage)))
		fp.TotalPages = &pages
	}
	writeJSONStatus(w, http.StatusOK, fp)
}

// segmentPage reads one page of the members of e in one read view: the
// segment and its customers on one snapshot.
func segmentPage(ctx context.Context, tx *tagseg.Tx, p page, e tagseg.Expr) (customerPage, error) {
	seg, err := tx.SegmentContext(ctx, e)
	if err != nil {
		return customerPage{}, err
	}
	return readCustomerPage(p, seg.ReadCustomers, int64(seg.Count()))
}

// customersFrom reads customers of a slice in dense-ID order from a
// dense ID on, for readCustomerPage.
func customersFrom(cs []tagseg.Customer) func(from uint32) iter.Seq2[tagseg.Customer, error] {
	return func(from uint32) iter.Seq2[tagseg.Customer, error] {
		return func(yield func(tagseg.Customer, error) bool) {
			i, _ := slices.BinarySearchFunc(cs, from, func(c tagseg.Customer, id uint32) int { return cmp.Compare(c.ID, id) })
			for _, c := range cs[i:] {
				if !yield(c, nil) {
					return
				}
			}
		}
	}
}
