package server

// Tags as a whole: rename one (PATCH /v1/tags/{tag}), delete some from
// every customer (DELETE /v1/tags), set one on exactly the customers a
// Roaring bitmap of dense IDs or a list of external IDs names (PUT
// /v1/tags/{tag}/members). Each is one command (rename_tag, delete_tags,
// set_tag_members), which the command's rename-tag, delete-tag and
// tag-import apply the same way on an index they open themselves.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/tagseg/tagseg"
	"github.com/tagseg/tagseg/server/api"
)

// ErrTagHeld is the error of a rename onto a tag some customers hold,
// without Merge; the error is a *TagHeldError.
var ErrTagHeld = errors.New("tag held already")

// TagHeldError is a rename refused because the new name is a tag Held
// customers hold already.
type TagHeldError struct {
	From, To string
	Held     uint64
}

func (e *TagHeldError) Error() string {
	return fmt.Sprintf("%d customers hold %q already: renaming %q onto it merges the two tags", e.Held, e.To, e.From)
}

// Is reports ErrTagHeld.
func (e *TagHeldError) Is(target error) bool { return target == ErrTagHeld }

// MaxMembersBody is the largest body PUT /v1/tags/{tag}/members takes (a
// bitmap of dense IDs, or a list of external IDs), whatever
// Options.MaxBody says.
const MaxMembersBody = 64 << 20

// applyTagOp applies rename_tag, delete_tags and set_tag_members.
func (c Command) applyTagOp(tx *tagseg.Tx) (Result, error) {
	switch c.Op {
	case OpRenameTag:
		if len(c.Tags) != 1 {
			return Result{}, fmt.Errorf("server: %s wants one tag: %w", c.Op, tagseg.ErrInvalid)
		}
		from, err := tagseg.CheckTag(c.Tags[0])
		if err != nil {
			return Result{}, err
		}
		to, err := tagseg.CheckTag(c.To)
		if err != nil {
			return Result{}, err
		}
		if from == to {
			return Result{}, fmt.Errorf("server: rename tag %q to itself: %w", from, tagseg.ErrInvalid)
		}
		holders, err := tx.Count(tagseg.Tag(from))
		if err != nil {
			return Result{}, err
		}
		if holders == 0 {
			return Result{}, fmt.Errorf("server: no customer holds tag %q: %w", from, tagseg.ErrNotFound)
		}
		held, err := tx.Count(tagseg.Tag(to))
		if err != nil {
			return Result{}, err
		}
		if held > 0 && !c.Merge {
			return Result{}, &TagHeldError{From: from, To: to, Held: held}
		}
		both, err := tx.Count(tagseg.AllTags(from, to))
		if err != nil {
			return Result{}, err
		}
		if _, err := tx.AddTagsToSegment(tagseg.Tag(from), to); err != nil {
			return Result{}, err
		}
		if _, err := tx.RemoveTagsFromSegment(tagseg.Tag(from), from); err != nil {
			return Result{}, err
		}
		return Result{Changed: int(holders), Held: held, Both: both}, nil
	case OpDeleteTags:
		counts := make([]int, len(c.Tags))
		for i, t := range c.Tags {
			t, err := tagseg.CheckTag(t)
			if err != nil {
				return Result{}, err
			}
			if counts[i], err = tx.RemoveTagsFromSegment(tagseg.Tag(t), t); err != nil {
				return Result{}, err
			}
		}
		return Result{Counts: counts}, nil
	}
	// OpSetTagMembers
	if len(c.Tags) != 1 {
		return Result{}, fmt.Errorf("server: %s wants one tag: %w", c.Op, tagseg.ErrInvalid)
	}
	ids := roaring.New()
	if c.IDs != nil {
		var err error
		if ids, err = tagseg.ReadIDs(bytes.NewReader(c.IDs)); err != nil {
			return Result{}, err
		}
	}
	if err := resolveMembers(tx, ids, c.DataSource, c.ExternalIDs, false); err != nil {
		return Result{}, err
	}
	if err := resolveMembers(tx, ids, "", c.MemberUUIDs, true); err != nil {
		return Result{}, err
	}
	if c.Add {
		seg, err := tx.Segment(tagseg.Tag(c.Tags[0]))
		if err != nil {
			return Result{}, err
		}
		ids.Or(seg.IDs())
	}
	added, removed, err := tx.SetTagMembers(c.Tags[0], ids)
	return Result{Added: added, Removed: removed, Changed: int(ids.GetCardinality())}, err
}

// resolveMembers adds to ids the customers keys name: UUIDs (byUUID),
// or external IDs of data source ds. Empty keys are skipped; unknown ones
// are an error (tagseg.ErrNotFound) that counts them and names the first
// few by their line (their place in keys, from 1).
func resolveMembers(tx *tagseg.Tx, ids *roaring.Bitmap, ds string, keys []string, byUUID bool) error {
	var unknown []string
	n := 0
	for i, k := range keys {
		if k == "" {
			continue
		}
		var c tagseg.Customer
		var err error
		if byUUID {
			c, err = tx.Customer(k)
		} else {
			c, err = tx.CustomerByExternalID(ds, k)
		}
		if errors.Is(err, tagseg.ErrNotFound) {
			if n++; n <= 5 {
				unknown = append(unknown, fmt.Sprintf("line %d: %q", i+1, k))
			}
			continue
		}
		if err != nil {
			return err
		}
		ids.Add(c.ID)
	}
	if n == 0 {
		return nil
	}
	more := ""
	if n > len(unknown) {
		more = ", …"
	}
	what := fmt.Sprintf("%d external IDs of data source %q name", n, ds)
	switch {
	case byUUID && n == 1:
		what = "1 UUID names"
	case byUUID:
		what = fmt.Sprintf("%d UUIDs name", n)
	case n == 1:
		what = fmt.Sprintf("1 external ID of data source %q names", ds)
	}
	return fmt.Errorf("%s no customer (%s%s): %w", what, strings.Join(unknown, ", "), more, tagseg.ErrNotFound)
}

// renameTag answers PATCH /v1/tags/{tag} {"name": NEW, "merge": false}.
func (s *server) renameTag(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Name  *string `json:"name"`
		Merge bool    `json:"merge"`
	}
	if !s.decode(w, r, &body) {
		return
	}
	if body.Name == nil {
		writeMissing(w, "name")
		return
	}
	from := r.PathValue("tag")
	res, err := s.execute(r, Command{Op: OpRenameTag, Tags: []string{from}, To: *body.Name, Merge: body.Merge})
	var held *TagHeldError
	switch {
	case errors.As(err, &held):
		writeError(w, http.StatusConflict, fmt.Sprintf(`Tag %q is held by %d customers already; to merge %q into it, repeat the request with "merge": true`, held.To, held.Held, held.From), "name")
		return
	case errors.Is(err, tagseg.ErrNotFound):
		writeNotFound(w, "Tag")
		return
	case errors.Is(err, tagseg.ErrInvalid):
		writeInvalid(w, "name", cleanErr(err))
		return
	case err != nil:
		s.writeLibError(w, r, err, "name")
		return
	}
	to, _ := tagseg.CheckTag(*body.Name)
	f, _ := tagseg.CheckTag(from)
	writeJSONStatus(w, http.StatusOK, api.TagRenamed{Tag: f, Name: to, Customers: uint64(res.Changed), Held: res.Held, Both: res.Both})
}

// deleteTags answers DELETE /v1/tags {"tags": [...]}: each tag removed
// from every customer holding it, in one transaction.
func (s *server) deleteTags(w http.ResponseWriter, r *http.Request) {
	body, ok := s.readTags(w, r)
	if !ok {
		return
	}
	res, err := s.execute(r, Command{Op: OpDeleteTags, Tags: body.Tags})
	if err != nil {
		s.writeLibError(w, r, err, "tags")
		return
	}
	out := api.TagsDeleted{Entries: make([]api.TagDeleted, len(body.Tags))}
	for i, t := range body.Tags {
		t, _ = tagseg.CheckTag(t)
		out.Entries[i] = api.TagDeleted{Tag: t, Removed: res.Counts[i]}
	}
	writeJSONStatus(w, http.StatusOK, out)
}

// setTagMembers answers PUT /v1/tags/{tag}/members: the body is a
// portable Roaring bitmap of dense IDs (Content-Type
// application/octet-stream), external IDs one a line (text/plain) of the
// data source ?data_source=, or JSON {"ids": [...], "external_ids":
// [...], "uuids": [...]}; ?add=true keeps the tag on its other holders.
func (s *server) setTagMembers(w http.ResponseWriter, r *http.Request) {
	tag, err := api.CheckTag(r.PathValue("tag"))
	if err != nil {
		writeInvalid(w, "tag", err.Error())
		return
	}
	qs := r.URL.Query()
	cmd := Command{Op: OpSetTagMembers, Tags: []string{tag}, DataSource: qs.Get("data_source")}
	if v := qs.Get("add"); v != "" {
		if cmd.Add, err = strconv.ParseBool(v); err != nil {
			writeError(w, http.StatusBadRequest, `Parameter "add" must be true or false`, "add")
			return
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max(s.opt.MaxBody, MaxMembersBody)))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("Request body is larger than %d bytes", mbe.Limit), "")
		return
	case err != nil:
		writeError(w, http.StatusBadRequest, "Cannot read the request body", "")
		return
	}
	ctype := strings.TrimSpace(strings.Split(r.Header.Get("Content-Type"), ";")[0])
	switch ctype {
	case "application/octet-stream":
		if !tagseg.LooksLikeIDs(body) {
			writeError(w, http.StatusBadRequest, "The body is not a portable Roaring bitmap", "")
			return
		}
		cmd.IDs = body
	case "text/plain":
		for l := range strings.SplitSeq(strings.TrimSuffix(string(body), "\n"), "\n") {
			cmd.ExternalIDs = append(cmd.ExternalIDs, strings.TrimSuffix(l, "\r")) // empty lines keep their place
		}
	case "application/json":
		var b struct {
			IDs         []uint32 `json:"ids"`
			ExternalIDs []string `json:"external_ids"`
			UUIDs       []string `json:"uuids"`
		}
		if err := api.DecodeJSON(body, &b); err != nil {
			writeError(w, http.StatusBadRequest, cleanErr(err), "")
			return
		}
		var buf bytes.Buffer
		roaring.BitmapOf(b.IDs...).WriteTo(&buf)
		cmd.IDs, cmd.ExternalIDs, cmd.MemberUUIDs = buf.Bytes(), b.ExternalIDs, b.UUIDs
	default:
		writeError(w, http.StatusUnsupportedMediaType, "Content-Type must be application/octet-stream (a Roaring bitmap of dense IDs), text/plain (external IDs, one a line) or application/json", "")
		return
	}
	res, err := s.execute(r, cmd)
	switch {
	case errors.Is(err, tagseg.ErrNotFound):
		writeError(w, http.StatusBadRequest, cleanErr(err), "ids")
		return
	case errors.Is(err, tagseg.ErrInvalid), errors.Is(err, tagseg.ErrCorrupt):
		writeError(w, http.StatusBadRequest, cleanErr(err), "ids")
		return
	case err != nil:
		s.writeLibError(w, r, err, "tag")
		return
	}
	writeJSONStatus(w, http.StatusOK, api.TagMembers{Tag: tag, Holders: uint64(res.Changed), Added: res.Added, Removed: res.Removed})
}
