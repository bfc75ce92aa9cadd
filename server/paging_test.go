package server

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log"
	"math/rand/v2"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tagseg/tagseg"
	bolt "go.etcd.io/bbolt"
)

// httpGet serves one GET on h and returns the status and the body.
func httpGet(t *testing.T, h http.Handler, target string) (int, string) {
	t.Helper()
	return httpDo(h, http.MethodGet, target, "")
}

type pageJSON struct {
	Entries []struct {
		ID   uint32 `json:"id"`
		UUID string `json:"uuid"`
	} `json:"entries"`
	HasMore bool    `json:"has_more"`
	Cursor  *string `json:"cursor"`
}

func getPage(t *testing.T, h http.Handler, target string) pageJSON {
	t.Helper()
	status, body := httpGet(t, h, target)
	if status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", target, status, body)
	}
	var p pageJSON
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	return p
}

// pagingCustomer is the model of one customer of the paging index.
type pagingCustomer struct {
	id              uint32
	uuid, ds, ext   string
	email           string
	tagged, deleted bool
}

// pagingIndex creates n customers: two data sources with the external
// IDs 0, 1, … each, emails shared by every seventh, every third tagged
// "t", every eleventh deleted.
func pagingIndex(t *testing.T, path string, n int) (*tagseg.Index, []pagingCustomer) {
	t.Helper()
	ix, err := tagseg.Open(path, &tagseg.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	var cs []pagingCustomer
	err = ix.Update(func(tx *tagseg.Tx) error {
		for i := range n {
			c := tagseg.Customer{
				UUID: fmt.Sprintf("cus_%04d", i), DataSourceUUID: fmt.Sprintf("ds_%d", i%2),
				ExternalID: fmt.Sprint(i / 2), Email: fmt.Sprintf("u%d@x.com", i%(n/7)),
			}
			if i%3 == 0 {
				c.Tags = []string{"t"}
			}
			got, err := tx.CreateCustomer(c)
			if err != nil {
				return err
			}
			cs = append(cs, pagingCustomer{got.ID, got.UUID, c.DataSourceUUID, c.ExternalID, c.Email, i%3 == 0, false})
		}
		for i := range cs {
			if i%11 == 5 {
				if err := tx.DeleteCustomer(cs[i].uuid); err != nil {
					return err
				}
				cs[i].deleted = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ix, cs
}

func uuidsOf(cs []pagingCustomer, pred func(c pagingCustomer) bool) []string {
	out := []string{}
	for _, c := range cs {
		if !c.deleted && pred(c) {
			out = append(out, c.uuid)
		}
	}
	return out
}

// TestAPIPaging follows cursors with random page sizes through the
// customer list, a segment's customers and the external_id and email
// filters, and jumps to random cursors: every page is exactly the next
// customers in order (compared with a plain model).
func TestAPIPaging(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, seed))
	ix, cs := pagingIndex(t, filepath.Join(t.TempDir(), "p.db"), 700)
	defer ix.Close()
	h := New(ix, Options{})
	all := func(pagingCustomer) bool { return true }
	for _, list := range []struct {
		path string
		want []string
	}{
		{"/v1/customers?", uuidsOf(cs, all)},
		{"/v1/segments/customers?query=tag%3At&", uuidsOf(cs, func(c pagingCustomer) bool { return c.tagged })},
		{"/v1/customers?external_id=7&", uuidsOf(cs, func(c pagingCustomer) bool { return c.ext == "7" })},
		{"/v1/customers?external_id=7&data_source_uuid=ds_1&", uuidsOf(cs, func(c pagingCustomer) bool { return c.ext == "7" && c.ds == "ds_1" })},
		{"/v1/customers?external_id=nope&", []string{}},
		{"/v1/customers/search?email=U3%40X.com&", uuidsOf(cs, func(c pagingCustomer) bool { return c.email == "u3@x.com" })},
	} {
		got := []string{}
		target := list.path + "per_page=" + fmt.Sprint(1+r.IntN(200))
		for range 1000 {
			p := getPage(t, h, target)
			for _, e := range p.Entries {
				got = append(got, e.UUID)
			}
			if !p.HasMore {
				break
			}
			target = list.path + "per_page=" + fmt.Sprint(1+r.IntN(200)) + "&cursor=" + url.QueryEscape(*p.Cursor)
		}
		if d := cmp.Diff(list.want, got); d != "" {
			t.Errorf("pages of %s (-model +server):\n%s", list.path, d)
		}
	}
	// Random cursors: the page holds the customers after the cursor's id.
	for range 30 {
		after := uint32(r.IntN(len(cs) + 20))
		per := 1 + r.IntN(200)
		var want []string
		for _, c := range cs {
			if !c.deleted && c.id+1 > after && len(want) < per {
				want = append(want, c.uuid)
			}
		}
		p := getPage(t, h, fmt.Sprintf("/v1/customers?per_page=%d&cursor=%s", per, url.QueryEscape(encodeCursor(after))))
		var got []string
		for _, e := range p.Entries {
			got = append(got, e.UUID)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("page of %d after id %d (-model +server):\n%s", per, after, d)
		}
		if more := len(uuidsOf(cs, func(c pagingCustomer) bool { return c.id+1 > after })) > per; p.HasMore != more {
			t.Errorf("page of %d after id %d: has_more %v, want %v", per, after, p.HasMore, more)
		}
	}
}

// TestAPIPageReadError: a record that cannot be read makes the page that
// needs it a 503 (the index is damaged: unavailable) with ChartMogul's
// error body, not a short 200; pages before and after it are fine.
func TestAPIPageReadError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.db")
	ix, _ := pagingIndex(t, path, 600)
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(btx *bolt.Tx) error { // damage customer 300's record
		return btx.Bucket([]byte("cust")).Put(binary.BigEndian.AppendUint32(nil, 300), []byte("not a record"))
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	ix, err = tagseg.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	var logged strings.Builder
	h := New(ix, Options{Log: log.New(&logged, "", 0)})
	const unavailable = `{"code":503,"message":"The index is unavailable: its file is damaged or a write to it failed","param":null}`
	for _, tc := range []struct {
		target string
		status int
	}{
		{"/v1/customers?per_page=200", 200},                                              // ends before 300
		{"/v1/customers?per_page=200&cursor=" + url.QueryEscape(encodeCursor(200)), 503}, // 200..399
		{"/v1/segments/customers?query=*&cursor=" + url.QueryEscape(encodeCursor(290)), 503},
		{"/v1/customers?per_page=50&cursor=" + url.QueryEscape(encodeCursor(301)), 200}, // after it
		{"/v1/customers?external_id=150", 503},                                          // 300 is ds_0's 150
		{"/v1/customers?external_id=150&data_source_uuid=ds_1", 200},
	} {
		status, body := httpGet(t, h, tc.target)
		if status != tc.status || status == 503 && body != unavailable {
			t.Errorf("GET %s: %d %s; want %d", tc.target, status, body, tc.status)
		}
	}
	if !strings.Contains(logged.String(), "customer 300") {
		t.Errorf("the log does not name the damaged record:\n%s", logged.String())
	}
}
