package server

// Tags: ChartMogul's add and remove endpoints (by UUID, by email), and
// tag completion (GET /v1/tags).

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/tagseg/tagseg"
	"github.com/tagseg/tagseg/server/api"
)

func (s *server) addTags(w http.ResponseWriter, r *http.Request) {
	body, ok := s.readTags(w, r)
	if !ok {
		return
	}
	res, err := s.execute(r, Command{Op: OpAddTags, UUID: r.PathValue("uuid"), Tags: body.Tags})
	if err != nil {
		s.writeLibError(w, r, err, "tags")
		return
	}
	writeJSONStatus(w, http.StatusOK, map[string][]string{"tags": nonNil(res.Tags)})
}

func (s *server) removeTags(w http.ResponseWriter, r *http.Request) {
	body, ok := s.readTags(w, r)
	if !ok {
		return
	}
	res, err := s.execute(r, Command{Op: OpRemoveTags, UUID: r.PathValue("uuid"), Tags: body.Tags})
	if err != nil {
		s.writeLibError(w, r, err, "tags")
		return
	}
	writeJSONStatus(w, http.StatusOK, map[string][]string{"tags": nonNil(res.Tags)})
}

func (s *server) addTagsByEmail(w http.ResponseWriter, r *http.Request) {
	body, ok := s.readTags(w, r)
	if !ok {
		return
	}
	email := deref(body.Email)
	if email == "" {
		writeMissing(w, "email")
		return
	}
	res, err := s.execute(r, Command{Op: OpAddTagsByEmail, Email: email, Tags: body.Tags})
	cs := res.Customers
	if errors.Is(err, tagseg.ErrNotFound) {
		noEmail(w, email)
		return
	}
	if err != nil {
		s.writeLibError(w, r, err, "tags")
		return
	}
	writeShortCustomers(w, cs)
}

// writeShortCustomers answers {"entries": [...]}, the customers changed
// by email as short customer objects.
func writeShortCustomers(w http.ResponseWriter, cs []tagseg.Customer) {
	entries := make([]api.ShortCustomer, len(cs))
	for i, c := range cs {
		entries[i] = api.ShortCustomerOf(c)
	}
	writeJSONStatus(w, http.StatusOK, map[string]any{"entries": entries})
}

// ---- tag completion ----

const (
	defaultTagLimit = 20
	maxTagLimit     = 1000
)

// byCustomers orders tags by customers descending, then by name.
func byCustomers(a, b api.TagCount) int {
	if c := cmp.Compare(b.Customers, a.Customers); c != 0 {
		return c
	}
	return strings.Compare(a.Tag, b.Tag)
}

// listTags answers the tags starting with "prefix", the most held first:
// one pass over the prefix's range of Index.TagsWithPrefix (names sorted
// once per set of tag names, not per call) keeping the best "limit".
func (s *server) listTags(w http.ResponseWriter, r *http.Request) {
	qs := r.URL.Query()
	limit := defaultTagLimit
	if v := qs.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxTagLimit {
			writeError(w, http.StatusBadRequest, fmt.Sprintf(`Parameter "limit" must be an integer from 1 to %d`, maxTagLimit), "limit")
			return
		}
		limit = n
	}
	prefix := qs.Get("prefix")
	var top []api.TagCount
	matched := 0
	for tag, n := range s.ix.TagsWithPrefix(prefix) {
		matched++
		top = append(top, api.TagCount{Tag: tag, Customers: n})
		if len(top) == 2*limit { // keep the best limit: O(log limit) a tag
			slices.SortFunc(top, byCustomers)
			top = top[:limit]
		}
	}
	slices.SortFunc(top, byCustomers)
	if len(top) > limit {
		top = top[:limit]
	}
	if top == nil {
		top = []api.TagCount{}
	}
	writeJSONStatus(w, http.StatusOK, struct {
		Entries []api.TagCount `json:"entries"`
		HasMore bool           `json:"has_more"`
	}{top, matched > limit})
}
