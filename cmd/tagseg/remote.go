package main

// Going through a running server. tagseg serve holds its index file
// locked; the read commands (query, tags, series) and the write commands
// (tag, untag, set-mrr) then go through its HTTP API instead: with
// -server URL, or on their own when the serve note beside the index
// (PATH.serve.json) names a server that runs. $TAGSEG_API_KEY is sent as
// the API key.

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/tagseg/tagseg"
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
		note, ok := readServeNote(db)
		if !ok || note.PID == os.Getpid() {
			return nil
		}
		server = note.URL
		fmt.Fprintf(stderr, "tagseg: %s is held by tagseg serve (pid %d); going through it at %s\n", db, note.PID, server)
	}
	return &remote{base: strings.TrimRight(server, "/"), key: os.Getenv("TAGSEG_API_KEY"), client: &http.Client{Timeout: 5 * time.Minute}, sendKey: sf.sendKey}
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

// do sends a request and decodes a 2xx answer into out; any other answer
// is an error with the server's message.
func (rm *remote) do(method, path string, q url.Values, body, out any) error {
	u := rm.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if rm.key != "" {
		// The key goes to loopback only, unless -send-key: a serve note
		// or a -server URL must not carry it off the machine unasked.
		if !rm.sendKey && !loopbackURL(rm.base) {
			return fmt.Errorf("server %s is not on loopback: not sending $TAGSEG_API_KEY to it (give -send-key to send it)", rm.base)
		}
		req.SetBasicAuth(rm.key, "")
	}
	resp, err := rm.client.Do(req)
	if err != nil {
		return fmt.Errorf("server %s: %w", rm.base, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("server %s: %w", rm.base, err)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("server %s: %s: %s", rm.base, resp.Status, apiMessage(b))
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("server %s: %s %s: %v", rm.base, method, path, err)
	}
	return nil
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

// tagCustomers is tag and untag through the server.
func (rm *remote) tagCustomers(stdout io.Writer, tf targetFlags, kind string, add bool, tags []string) error {
	method, verb := "POST", "added"
	if !add {
		method, verb = "DELETE", "removed"
	}
	switch kind {
	case "uuid":
		var res struct {
			Tags []string `json:"tags"`
		}
		if err := rm.do(method, "/v1/customers/"+url.PathEscape(*tf.uuid)+"/attributes/tags", nil, map[string]any{"tags": tags}, &res); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: %s %s (through the server); tags now: %s\n", *tf.uuid, verb, strings.Join(quoteTags(tags), ", "), tagList(res.Tags))
		return nil
	case "email":
		if !add {
			return errors.New("untag -email is not in the server's API: give -uuid or -query, or stop the server")
		}
		var res struct {
			Entries []api.ShortCustomer `json:"entries"`
		}
		if err := rm.do("POST", "/v1/customers/attributes/tags", nil, map[string]any{"email": *tf.email, "tags": tags}, &res); err != nil {
			return err
		}
		for _, c := range res.Entries {
			fmt.Fprintf(stdout, "%s: %s %s (through the server)\n", c.UUID, verb, strings.Join(quoteTags(tags), ", "))
		}
		return nil
	case "query", "segment":
		body := map[string]any{"tags": tags}
		if kind == "query" {
			body["query"] = *tf.query
		} else {
			body["segment"] = *tf.segment
		}
		var res struct {
			Query   string `json:"query"`
			Changed int    `json:"changed"`
		}
		if err := rm.do(method, "/v1/segments/tags", nil, body, &res); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s %s: %s changed, of %s (through the server)\n", verb, strings.Join(quoteTags(tags), ", "), plural(res.Changed, "customer", "customers"), res.Query)
		return nil
	}
	return fmt.Errorf("-%s is not in the server's API: give -uuid, -email or -query, or stop the server", kind)
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
