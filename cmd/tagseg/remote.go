package main

// Going through a running server. tagseg serve holds its index file
// locked; the read commands (query, tags, series) and the write commands
// (tag, untag, set-mrr) then go through its HTTP API instead: with
// -server URL, or on their own when the serve note beside the index
// (PATH.serve.json) names a server that runs. $TAGSEG_API_KEY is sent as
// the API key.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"iter"
	"mime"
	"mime/multipart"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tagseg/tagseg"
	"github.com/tagseg/tagseg/server"
	"github.com/tagseg/tagseg/server/api"
)

// remote is a tagseg server's HTTP API.
type remote struct {
	base   string // http://host:port
	key    string
	client *http.Client
	// sendKey sends key to a server that is not on loopback.
	sendKey bool
}

// serverFlags are -server and -send-key.
type serverFlags struct {
	url     string
	sendKey bool
}

// serverFlag adds -server and -send-key.
func serverFlag(fs *flag.FlagSet) *serverFlags {
	var sf serverFlags
	fs.StringVar(&sf.url, "server", "", "go through the tagseg serve at `URL` instead of opening -db (default: the server the index's serve note names, if it runs)")
	fs.BoolVar(&sf.sendKey, "send-key", false, "send $TAGSEG_API_KEY to a -server that is not on loopback (else it goes to localhost, 127.0.0.0/8 and [::1] only)")
	return &sf
}

// remoteFor returns the server to go through: -server, or the one whose
// note is beside db; nil to open db. It says so on stderr.
func remoteFor(db string, sf *serverFlags, stderr io.Writer) *remote {
	server := sf.url
	if server == "" {
		note, ok := serverNote(db, stderr)
		if !ok {
			return nil
		}
		server = note.URL
		fmt.Fprintf(stderr, "tagseg: %s is held by tagseg serve (pid %d); going through it at %s\n", db, note.PID, server)
	}
	return &remote{base: strings.TrimRight(server, "/"), key: os.Getenv("TAGSEG_API_KEY"), client: &http.Client{}, sendKey: sf.sendKey}
}

// loopbackURL reports whether u names a server on this machine's
// loopback: localhost, 127.0.0.0/8 or [::1] (no name is resolved).
func loopbackURL(u string) bool {
	p, err := url.Parse(u)
	if err != nil {
		return false
	}
	host := strings.ToLower(strings.TrimSuffix(p.Hostname(), "."))
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// requestTimeout bounds a request whose answer is JSON; streamed answers
// (export, backup) have none.
const requestTimeout = 5 * time.Minute

// do sends a request and decodes a 2xx answer into out; any other answer
// is an error with the server's message.
func (rm *remote) do(method, path string, q url.Values, body, out any) error {
	var rd io.Reader
	ctype := ""
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd, ctype = bytes.NewReader(b), "application/json"
	}
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	resp, err := rm.send(ctx, method, path, q, rd, ctype)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("server %s: %w", rm.base, err)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("server %s: %s %s: %v", rm.base, method, path, err)
	}
	return nil
}

// send sends a request and returns a 2xx answer, whose body the caller
// reads and closes; any other answer is an error with the server's
// message (a *remoteError).
func (rm *remote) send(ctx context.Context, method, path string, q url.Values, body io.Reader, ctype string) (*http.Response, error) {
	u := rm.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if rm.key != "" {
		// The key goes to loopback only, unless -send-key: a serve note
		// or a -server URL must not carry it off the machine unasked.
		if !rm.sendKey && !loopbackURL(rm.base) {
			return nil, fmt.Errorf("server %s is not on loopback: not sending $TAGSEG_API_KEY to it (give -send-key to send it)", rm.base)
		}
		req.SetBasicAuth(rm.key, "")
	}
	resp, err := rm.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("server %s: %w", rm.base, err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return nil, &remoteError{base: rm.base, status: resp.Status, code: resp.StatusCode, body: b}
	}
	return resp, nil
}

// remoteError is an answer of the server that is not 2xx.
type remoteError struct {
	base, status string
	code         int
	body         []byte
}

func (e *remoteError) Error() string {
	return fmt.Sprintf("server %s: %s: %s", e.base, e.status, apiMessage(e.body))
}

// param is the "param" of the error body, the request field at fault.
func (e *remoteError) param() string {
	var b struct {
		Param string `json:"param"`
	}
	json.Unmarshal(e.body, &b)
	return b.Param
}

// exportRequest asks the server for an export: the segment, its main
// part (csv, jsonl, roaring, ids or events) and the parts after it, and at
// most limit customers (0: all).
type exportRequest struct {
	query, segment, format string
	also                   []string
	limit                  int
}

// exportInfo is what an export's answer says about itself.
type exportInfo struct {
	query       string
	customers   uint64
	unknownTags []string
}

// export streams an export of one snapshot from the server; part is
// called with each part in order (main first), and must read it whole.
func (rm *remote) export(req exportRequest, part func(name string, r io.Reader) error) (exportInfo, error) {
	q := segmentParams(req.query, req.segment)
	q.Set("format", req.format)
	if len(req.also) > 0 {
		q.Set("also", strings.Join(req.also, ","))
	}
	if req.limit > 0 {
		q.Set("limit", strconv.Itoa(req.limit))
	}
	var info exportInfo
	resp, err := rm.send(context.Background(), "GET", "/v1/segments/export", q, nil, "")
	if err != nil {
		return info, err
	}
	defer resp.Body.Close()
	about, _ := url.ParseQuery(resp.Header.Get(server.ExportHeader))
	info.query = about.Get("query")
	info.customers, _ = strconv.ParseUint(about.Get("customers"), 10, 64)
	info.unknownTags = about["unknown_tag"]
	broken := func(err error) error {
		return fmt.Errorf("server %s: the export broke off (nothing written is whole): %w", rm.base, err)
	}
	if len(req.also) == 0 {
		if err := part(req.format, resp.Body); err != nil {
			return info, broken(err)
		}
		return info, nil
	}
	_, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil {
		return info, broken(err)
	}
	mr := multipart.NewReader(resp.Body, params["boundary"])
	for _, name := range append([]string{req.format}, req.also...) {
		p, err := mr.NextPart()
		if err != nil {
			return info, broken(err)
		}
		if _, disp, _ := mime.ParseMediaType(p.Header.Get("Content-Disposition")); disp["name"] != name {
			return info, broken(fmt.Errorf("part %q where %q was expected", disp["name"], name))
		}
		if err := part(name, p); err != nil {
			return info, broken(err)
		}
	}
	if _, err := mr.NextPart(); err != io.EOF {
		return info, broken(fmt.Errorf("no end after the last part (%v)", err))
	}
	return info, nil
}

// backup streams a consistent copy of the server's index into w.
func (rm *remote) backup(w io.Writer) (int64, error) {
	resp, err := rm.send(context.Background(), "GET", "/v1/backup", nil, nil, "")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, fmt.Errorf("server %s: the copy broke off after %s bytes (nothing written is whole): %w", rm.base, count(n), err)
	}
	return n, nil
}

// apiMessage reads the message of an error body in any of ChartMogul's
// three dialects.
func apiMessage(b []byte) string {
	var e struct {
		Message string            `json:"message"`
		Error   string            `json:"error"`
		Errors  map[string]string `json:"errors"`
	}
	if json.Unmarshal(b, &e) == nil {
		switch {
		case e.Message != "":
			return e.Message
		case e.Error != "":
			return e.Error
		case len(e.Errors) > 0:
			var parts []string
			for k, v := range e.Errors {
				parts = append(parts, k+": "+v)
			}
			return strings.Join(parts, "; ")
		}
	}
	return strings.TrimSpace(string(b))
}

// segmentParams names a segment as the API takes it.
func segmentParams(query, segment string) url.Values {
	q := url.Values{}
	if segment != "" {
		q.Set("segment", segment)
	} else if query != "" {
		q.Set("query", query)
	}
	return q
}

func (rm *remote) metrics(query, segment string) (api.Metrics, error) {
	var m api.Metrics
	err := rm.do("GET", "/v1/segments/metrics", segmentParams(query, segment), nil, &m)
	return m, err
}

// customers yields the segment's customers, a page of up to 200 a request.
func (rm *remote) customers(query, segment string, limit int) iter.Seq2[tagseg.Customer, error] {
	return func(yield func(tagseg.Customer, error) bool) {
		q := segmentParams(query, segment)
		n := 0
		for {
			per := 200
			if limit > 0 {
				per = min(per, limit-n)
			}
			q.Set("per_page", strconv.Itoa(per))
			var page struct {
				Entries []api.Customer `json:"entries"`
				HasMore bool           `json:"has_more"`
				Cursor  *string        `json:"cursor"`
			}
			if err := rm.do("GET", "/v1/segments/customers", q, nil, &page); err != nil {
				yield(tagseg.Customer{}, err)
				return
			}
			for _, c := range page.Entries {
				if !yield(fromCM(c), nil) {
					return
				}
				n++
			}
			if !page.HasMore || page.Cursor == nil || limit > 0 && n >= limit {
				return
			}
			q.Set("cursor", *page.Cursor)
		}
	}
}

// fromCM is the customer of a ChartMogul customer object.
func fromCM(cm api.Customer) tagseg.Customer {
	c := tagseg.Customer{
		UUID: cm.UUID, DataSourceUUID: cm.DataSourceUUID, ExternalID: cm.ExternalID, Name: cm.Name,
		Email: cm.Email, Company: cm.Company, Country: deref(cm.Country), State: deref(cm.State),
		City: cm.City, Zip: deref(cm.Zip), Tags: cm.Attributes.Tags, Custom: cm.Attributes.Custom, MRR: cm.MRR,
	}
	if cm.ID > 0 {
		c.ID = cm.ID - 1
	}
	c.LeadCreatedAt, _ = api.ParseTime(deref(cm.LeadCreatedAt))
	c.FreeTrialStartedAt, _ = api.ParseTime(deref(cm.FreeTrialStartedAt))
	return c
}

func (rm *remote) tagStats(query, segment, prefix string, limit int, by string) (api.TagStats, error) {
	q := segmentParams(query, segment)
	q.Set("prefix", prefix)
	q.Set("limit", strconv.Itoa(limit))
	q.Set("sort", by)
	var res api.TagStats
	err := rm.do("GET", "/v1/segments/tags", q, nil, &res)
	return res, err
}

func (rm *remote) series(query, segment string, from, to time.Time, every tagseg.Interval) (api.Series, error) {
	q := segmentParams(query, segment)
	q.Set("start-date", from.Format(time.RFC3339Nano))
	q.Set("end-date", to.Format(time.RFC3339Nano))
	q.Set("interval", every.String())
	var res api.Series
	err := rm.do("GET", "/v1/segments/series", q, nil, &res)
	return res, err
}

// tagCustomers is tag and untag through the server. By UUID, and adding
// by email, it takes ChartMogul's endpoints; a dry run by UUID reads the
// customer; every other target (removing by email, by external ID, any
// dry run, a query or saved segment) is a bulk change of a segment
// (POST or DELETE /v1/segments/tags), one transaction.
func (rm *remote) tagCustomers(stdout io.Writer, tf targetFlags, kind string, add bool, tags []string, bo bulkOpts) error {
	method, verb := "POST", "added"
	if !add {
		method, verb = "DELETE", "removed"
	}
	quoted := strings.Join(quoteTags(tags), ", ")
	if kind == "external-id" {
		// Resolved to its UUID: a query cannot name "no data source".
		uuid, err := rm.byExternalID(*tf.ds, *tf.ext)
		if err != nil {
			return err
		}
		kind, tf.uuid = "uuid", &uuid
	}
	switch {
	case kind == "uuid" && bo.dry:
		var c api.Customer
		if err := rm.do("GET", "/v1/customers/"+url.PathEscape(*tf.uuid), nil, nil, &c); err != nil {
			return err
		}
		before := c.Attributes.Tags
		var diff, after []string
		if add {
			after = slices.Clone(before)
			for _, t := range tags {
				if t, err := api.CheckTag(t); err == nil && !slices.Contains(after, t) {
					after = append(after, t)
					diff = append(diff, t)
				}
			}
		} else {
			for _, t := range before {
				if slices.ContainsFunc(tags, func(x string) bool { x, _ = api.CheckTag(x); return x == t }) {
					diff = append(diff, t)
				} else {
					after = append(after, t)
				}
			}
		}
		if len(diff) == 0 {
			fmt.Fprintf(stdout, "%s%s: unchanged; tags: %s (through the server)\n", dryNote(true), *tf.uuid, tagList(before))
			return nil
		}
		fmt.Fprintf(stdout, "%s%s: would %s %s; tags then: %s (through the server)\n", dryNote(true), *tf.uuid, map[bool]string{true: "add", false: "remove"}[add], strings.Join(quoteTags(diff), ", "), tagList(after))
		return nil
	case kind == "uuid":
		var res struct {
			Tags []string `json:"tags"`
		}
		if err := rm.do(method, "/v1/customers/"+url.PathEscape(*tf.uuid)+"/attributes/tags", nil, map[string]any{"tags": tags}, &res); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: %s %s (through the server); tags now: %s\n", *tf.uuid, verb, quoted, tagList(res.Tags))
		return nil
	case kind == "email" && add && !bo.dry && bo.confirm < 0:
		var res struct {
			Entries []api.ShortCustomer `json:"entries"`
		}
		if err := rm.do("POST", "/v1/customers/attributes/tags", nil, map[string]any{"email": *tf.email, "tags": tags}, &res); err != nil {
			return err
		}
		for _, c := range res.Entries {
			fmt.Fprintf(stdout, "%s: %s %s (through the server)\n", c.UUID, verb, quoted)
		}
		return nil
	}
	body := map[string]any{"tags": tags}
	switch kind {
	case "query":
		body["query"] = *tf.query
	case "segment":
		body["segment"] = *tf.segment
	case "email":
		body["query"] = "email:" + queryString(*tf.email)
	}
	if bo.confirm >= 0 {
		body["confirm"] = bo.confirm
	}
	if bo.dry {
		var res struct {
			Query       string `json:"query"`
			WouldChange int    `json:"would_change"`
		}
		body["dry_run"] = true
		if err := rm.do(method, "/v1/segments/tags", nil, body, &res); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%swould %s %s: %s of %s (through the server)\n", dryNote(true), map[bool]string{true: "add", false: "remove"}[add], quoted, plural(res.WouldChange, "customer", "customers"), res.Query)
		if bo.confirm >= 0 && int64(res.WouldChange) > bo.confirm {
			return tooMany(res.WouldChange, bo.confirm)
		}
		return nil
	}
	var res struct {
		Query   string `json:"query"`
		Changed int    `json:"changed"`
	}
	err := rm.do(method, "/v1/segments/tags", nil, body, &res)
	var re *remoteError
	if errors.As(err, &re) && re.param() == "confirm" {
		// The server asks for a confirmation: say how to give it.
		var dry struct {
			WouldChange  int `json:"would_change"`
			ConfirmAbove int `json:"confirm_above"`
		}
		body["dry_run"] = true
		delete(body, "confirm")
		if derr := rm.do(method, "/v1/segments/tags", nil, body, &dry); derr != nil {
			return err
		}
		if bo.confirm >= 0 {
			return tooMany(dry.WouldChange, bo.confirm)
		}
		return fmt.Errorf("this would change the tags of %s customers, and the server (%s) asks for a confirmation above %s: nothing changed; run again with -confirm %d (-dry-run says what would change)", count(dry.WouldChange), rm.base, count(dry.ConfirmAbove), dry.WouldChange)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s %s: %s changed, of %s (through the server)\n", verb, quoted, plural(res.Changed, "customer", "customers"), res.Query)
	return nil
}

// byExternalID is the UUID of the customer with an external ID in a data
// source, through the server.
func (rm *remote) byExternalID(ds, ext string) (string, error) {
	q := url.Values{"external_id": {ext}}
	if ds != "" {
		q.Set("data_source_uuid", ds)
	}
	var page struct {
		Entries []api.Customer `json:"entries"`
	}
	if err := rm.do("GET", "/v1/customers", q, nil, &page); err != nil {
		return "", err
	}
	for _, c := range page.Entries {
		if c.ExternalID == ext && c.DataSourceUUID == ds {
			return c.UUID, nil
		}
	}
	return "", fmt.Errorf("no customer with external ID %q in data source %q: %w", ext, ds, tagseg.ErrNotFound)
}

// queryString is s as a double-quoted string of the query language.
func queryString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// setMRR is set-mrr -uuid through the server.
func (rm *remote) setMRR(stdout io.Writer, uuid string, cents int64, at time.Time) error {
	var c api.Customer
	if err := rm.do("POST", "/v1/customers/"+url.PathEscape(uuid)+"/mrr", nil, map[string]any{"mrr": cents, "date": at.Format(time.RFC3339Nano)}, &c); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: MRR %s from %s (through the server); current MRR %s\n", uuid, money(cents), at.Format(time.RFC3339), money(c.MRR))
	return nil
}

// deref is *s, or "" when s is nil.
func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// segments is tagseg segments through the server: list, save NAME QUERY
// or delete NAME (pos as checked by runSegments).
func (rm *remote) segments(stdout io.Writer, pos []string, format string) error {
	savedPath := func(name string) string { return "/v1/segments/saved/" + url.PathEscape(name) }
	switch pos[0] {
	case "list":
		var res struct {
			Entries []api.SavedSegment `json:"entries"`
		}
		if err := rm.do("GET", "/v1/segments/saved", nil, nil, &res); err != nil {
			return err
		}
		list := []savedJSON{}
		for _, e := range res.Entries {
			s := savedJSON{Name: e.Name, Query: e.Query}
			m, err := rm.metrics("", e.Name)
			var re *remoteError
			switch {
			case errors.As(err, &re) && re.code/100 == 4:
				s.Error = apiMessage(re.body)
			case err != nil:
				return err
			default:
				s.Customers, s.MRR = m.Customers, m.MRR
			}
			list = append(list, s)
		}
		return writeSegments(stdout, format, list)
	case "save":
		name, q := pos[1], strings.TrimSpace(strings.Join(pos[2:], " "))
		var old api.SavedSegment
		err := rm.do("GET", savedPath(name), nil, nil, &old)
		var re *remoteError
		if err != nil && !(errors.As(err, &re) && re.code == http.StatusNotFound) {
			return err
		}
		if err := rm.do("PUT", savedPath(name), nil, map[string]string{"query": q}, nil); err != nil {
			return err
		}
		m, err := rm.metrics(q, "")
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "saved segment %s: %s (%s customers, MRR %s; through the server)\n", name, q, count(m.Customers), money(m.MRR))
		if old.Query != "" {
			fmt.Fprintf(stdout, "  it replaces %s: %s\n", name, old.Query)
		}
		return nil
	}
	err := rm.do("DELETE", savedPath(pos[1]), nil, nil, nil)
	var re *remoteError
	if errors.As(err, &re) && re.code == http.StatusNotFound {
		return fmt.Errorf("no saved segment %q", pos[1])
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "deleted segment %s (through the server)\n", pos[1])
	return nil
}

// setTagMembers is tag-import through the server (PUT
// /v1/tags/{tag}/members): the bitmap as it is, external IDs as text,
// UUIDs as JSON.
func (rm *remote) setTagMembers(cmd server.Command) (server.Result, error) {
	q := url.Values{}
	if cmd.Add {
		q.Set("add", "true")
	}
	var body []byte
	var ctype string
	switch {
	case cmd.IDs != nil:
		body, ctype = cmd.IDs, "application/octet-stream"
	case cmd.MemberUUIDs != nil:
		body, _ = json.Marshal(map[string][]string{"uuids": cmd.MemberUUIDs})
		ctype = "application/json"
	default:
		if cmd.DataSource != "" {
			q.Set("data_source", cmd.DataSource)
		}
		body, ctype = []byte(strings.Join(cmd.ExternalIDs, "\n")+"\n"), "text/plain"
	}
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	resp, err := rm.send(ctx, "PUT", "/v1/tags/"+url.PathEscape(cmd.Tags[0])+"/members", q, bytes.NewReader(body), ctype)
	if err != nil {
		return server.Result{}, err
	}
	defer resp.Body.Close()
	var out api.TagMembers
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return server.Result{}, fmt.Errorf("server %s: %v", rm.base, err)
	}
	return server.Result{Changed: int(out.Holders), Added: out.Added, Removed: out.Removed}, nil
}
