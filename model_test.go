package tagseg

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The model: plain maps, no bitmaps, no files.

type mCust struct {
	c      Customer // fields as created (Tags, MRR unused)
	tags   []string
	events map[int64]int64 // unix nanos → cents
}

func (m *mCust) mrr() int64 {
	var last int64 = -1 << 63
	var v int64
	for t, c := range m.events {
		if t > last {
			last, v = t, c
		}
	}
	return v
}

type model struct {
	custs map[string]*mCust // by UUID
	byID  map[uint32]string
}

func newModel() *model { return &model{custs: map[string]*mCust{}, byID: map[uint32]string{}} }

func (m *model) clone() *model {
	n := newModel()
	maps.Copy(n.byID, m.byID)
	for u, c := range m.custs {
		cc := *c
		cc.tags = slices.Clone(c.tags)
		cc.events = maps.Clone(c.events)
		n.custs[u] = &cc
	}
	return n
}

func (m *model) customer(u string) Customer {
	mc := m.custs[u]
	c := mc.c
	c.Tags = append([]string{}, mc.tags...)
	c.MRR = mc.mrr()
	return c
}

// created records customer c, created as got (its UUID and ID), with its
// tags.
func (m *model) created(c, got Customer) {
	tags := c.Tags
	c.UUID, c.ID, c.Tags = got.UUID, got.ID, nil
	m.custs[got.UUID] = &mCust{c: c, events: map[int64]int64{}}
	m.byID[got.ID] = got.UUID
	m.addTags(got.UUID, tags)
}

func (m *model) addTags(u string, tags []string) bool {
	mc := m.custs[u]
	changed := false
	for _, t := range tags {
		t = strings.TrimSpace(t)
		if !slices.Contains(mc.tags, t) {
			mc.tags = append(mc.tags, t)
			changed = true
		}
	}
	return changed
}

func (m *model) removeTags(u string, tags []string) bool {
	mc := m.custs[u]
	n := len(mc.tags)
	for _, t := range tags {
		t = strings.TrimSpace(t)
		mc.tags = slices.DeleteFunc(mc.tags, func(x string) bool { return x == t })
	}
	return len(mc.tags) != n
}

// eval is the model's reading of an expression, written from the design
// rather than from the evaluator: a predicate per customer.
func (m *model) eval(e Expr) map[string]bool {
	out := map[string]bool{}
	for u, c := range m.custs {
		if m.match(e, c) {
			out[u] = true
		}
	}
	return out
}

func (m *model) match(e Expr, c *mCust) bool {
	n := e.n
	if n == nil {
		return true
	}
	has := func(t string) bool { return slices.Contains(c.tags, strings.TrimSpace(t)) }
	switch n.kind {
	case kAll:
		return true
	case kTag:
		return has(n.tags[0])
	case kTagPrefix:
		for _, t := range c.tags {
			if strings.HasPrefix(t, strings.TrimLeft(n.tags[0], " ")) {
				return true
			}
		}
		return false
	case kAnyTags:
		return slices.ContainsFunc(n.tags, has)
	case kAllTags:
		for _, t := range n.tags {
			if !has(t) {
				return false
			}
		}
		return true
	case kAnd:
		for _, k := range n.kids {
			if !m.match(k, c) {
				return false
			}
		}
		return true
	case kOr:
		for _, k := range n.kids {
			if m.match(k, c) {
				return true
			}
		}
		return false
	case kNot:
		return !m.match(n.kids[0], c)
	case kWhere:
		return whereModel(n, c)
	}
	panic("bad kind")
}

func cmpOp[T int64 | string | float64](a T, op Op, b T) bool {
	switch op {
	case Eq:
		return a == b
	case NotEq:
		return a != b
	case Gt:
		return a > b
	case Gte:
		return a >= b
	case Lt:
		return a < b
	case Lte:
		return a <= b
	}
	panic("op")
}

// modelClock is the day of TestModel's relative dates: 2025-03-31, so that
// months meet short months.
func modelClock() time.Time { return time.Date(2025, 3, 31, 17, 4, 5, 0, time.FixedZone("X", -9*3600)) }

// modelDate resolves a date value as the design says: a time, an RFC 3339
// string, or now[+-]N[dwm] counted from modelClock's day in UTC, months
// keeping the day of the month or the month's last.
func modelDate(v any) time.Time {
	switch x := v.(type) {
	case time.Time:
		return x
	case string:
		if t, err := time.Parse(time.RFC3339Nano, x); err == nil {
			return t
		}
		if t, err := time.Parse(time.DateOnly, x); err == nil {
			return t
		}
		m := regexp.MustCompile(`^now(?:([+-])0*(\d+)([dwm]))?$`).FindStringSubmatch(x)
		if m == nil {
			panic("date " + x)
		}
		today := modelClock().UTC().Truncate(24 * time.Hour)
		if m[1] == "" {
			return today
		}
		n, _ := strconv.Atoi(m[2])
		if m[1] == "-" {
			n = -n
		}
		switch m[3] {
		case "d":
			return today.AddDate(0, 0, n)
		case "w":
			return today.AddDate(0, 0, 7*n)
		}
		y, mo, d := today.Date()
		months := int(mo) - 1 + n
		y, mo = y+months/12, time.Month(months%12+1)
		if months < 0 && months%12 != 0 {
			y, mo = y-1, time.Month(months%12+13)
		}
		last := time.Date(y, mo+1, 0, 0, 0, 0, 0, time.UTC).Day()
		return time.Date(y, mo, min(d, last), 0, 0, 0, 0, time.UTC)
	}
	panic("date")
}

// modelString is a customer's value of a text field, and whether it has
// one (a custom attribute holding a string).
func modelString(c *mCust, field string) (string, bool) {
	switch field {
	case "email":
		return strings.ToLower(c.c.Email), true
	case "name":
		return c.c.Name, true
	case "company":
		return c.c.Company, true
	case "country":
		return c.c.Country, true
	case "state":
		return c.c.State, true
	case "city":
		return c.c.City, true
	case "zip":
		return c.c.Zip, true
	case "data_source":
		return c.c.DataSourceUUID, true
	case "external_id":
		return c.c.ExternalID, true
	}
	v, ok := c.c.Custom[strings.TrimPrefix(field, "custom.")].(string)
	return v, ok
}

func whereModel(n *node, c *mCust) bool {
	if n.op == Prefix {
		p := n.value.(string)
		if n.field == "email" {
			p = strings.ToLower(p)
		}
		v, ok := modelString(c, n.field)
		return ok && strings.HasPrefix(v, p)
	}
	switch n.field {
	case "country":
		return cmpOp(c.c.Country, n.op, n.value.(string))
	case "city":
		return cmpOp(c.c.City, n.op, n.value.(string))
	case "email":
		return cmpOp(strings.ToLower(c.c.Email), n.op, strings.ToLower(n.value.(string)))
	case "name":
		return cmpOp(c.c.Name, n.op, n.value.(string))
	case "company":
		return cmpOp(c.c.Company, n.op, n.value.(string))
	case "state":
		return cmpOp(c.c.State, n.op, n.value.(string))
	case "zip":
		return cmpOp(c.c.Zip, n.op, n.value.(string))
	case "data_source":
		return cmpOp(c.c.DataSourceUUID, n.op, n.value.(string))
	case "external_id":
		return cmpOp(c.c.ExternalID, n.op, n.value.(string))
	case "free_trial_started_at":
		if c.c.FreeTrialStartedAt.IsZero() {
			return n.op == NotEq
		}
		return cmpOp(c.c.FreeTrialStartedAt.UnixNano(), n.op, modelDate(n.value).UnixNano())
	case "mrr":
		return cmpOp(c.mrr(), n.op, n.value.(int64))
	case "arr":
		return cmpOp(12*c.mrr(), n.op, n.value.(int64))
	case "lead_created_at":
		if c.c.LeadCreatedAt.IsZero() {
			return n.op == NotEq
		}
		return cmpOp(c.c.LeadCreatedAt.UnixNano(), n.op, modelDate(n.value).UnixNano())
	case "custom.seats":
		v, ok := c.c.Custom["seats"]
		if !ok {
			return n.op == NotEq
		}
		return cmpOp(float64(v.(int64)), n.op, toF(n.value))
	case "custom.score":
		v, ok := c.c.Custom["score"]
		if !ok {
			return n.op == NotEq
		}
		return cmpOp(v.(float64), n.op, toF(n.value))
	case "custom.vip":
		v, ok := c.c.Custom["vip"]
		if !ok {
			return n.op == NotEq
		}
		b2i := func(b bool) int64 {
			if b {
				return 1
			}
			return 0
		}
		return cmpOp(b2i(v.(bool)), n.op, b2i(n.value.(bool)))
	case "custom.renewal":
		v, ok := c.c.Custom["renewal"]
		if !ok {
			return n.op == NotEq
		}
		return cmpOp(v.(time.Time).UnixNano(), n.op, n.value.(time.Time).UnixNano())
	case "custom.plan":
		v, ok := c.c.Custom["plan"]
		if !ok {
			return n.op == NotEq
		}
		return cmpOp(v.(string), n.op, n.value.(string))
	}
	panic("field " + n.field)
}

func toF(v any) float64 {
	switch x := v.(type) {
	case int64:
		return float64(x)
	case float64:
		return x
	}
	panic("num")
}

// Random inputs from small pools, so that operations collide.

var (
	tagPool     = []string{"vip", "churn-risk-high", "churn-risk-low", "plan-pro", "plan-starter", "feature-sso", "feature: dark mode", "managed-account", "internal", "beta", "é-tag", "a"}
	countryPool = []string{"US", "GB", "DE", "FR", ""}
	cityPool    = []string{"Berlin", "Paris", "NYC", ""}
	emailPool   = []string{"adam@x.com", "Adam@X.com", "eve@y.org", "bob@z.net", "", "carol@x.com"}
	planPool    = []string{"free", "pro", "enterprise"}
)

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

func randTags(r *rand.Rand, n int) []string {
	out := make([]string, n)
	for i := range out {
		t := pick(r, tagPool)
		if r.IntN(8) == 0 {
			t = "  " + t + " " // trimmed by the index
		}
		out[i] = t
	}
	return out
}

func randTime(r *rand.Rand) time.Time {
	return day(2023, 1, 1).Add(time.Duration(r.IntN(3*365*24)) * time.Hour)
}

func randExpr(r *rand.Rand, depth int) Expr {
	k := r.IntN(14)
	if depth <= 0 && k < 7 {
		k += 7
	}
	switch k {
	case 0, 1:
		xs := make([]Expr, r.IntN(4))
		for i := range xs {
			xs[i] = randExpr(r, depth-1)
		}
		return And(xs...)
	case 2, 3:
		xs := make([]Expr, r.IntN(4))
		for i := range xs {
			xs[i] = randExpr(r, depth-1)
		}
		return Or(xs...)
	case 4, 5:
		return Not(randExpr(r, depth-1))
	case 6:
		return All()
	case 7, 8:
		return Tag(pick(r, tagPool))
	case 9:
		return AnyTag(randTags(r, r.IntN(3))...)
	case 10:
		return AllTags(randTags(r, r.IntN(3))...)
	}
	op := Op(r.IntN(6))
	switch r.IntN(12) {
	case 8:
		return TagPrefix(pick(r, []string{"churn-risk-", "plan-", "feature", "é", "zz", ""}))
	case 9:
		return Where(pick(r, []string{"email", "name", "country", "city", "custom.plan"}), Prefix, pick(r, []string{"a", "A", "e", "", "pro", "Be", "N"}))
	case 10:
		return Where("lead_created_at", op, pick(r, []string{"now", "now-30d", "now-2w", "now-1m", "now+3m", "now-12m", "now-400d"}))
	case 11:
		var kids []Expr
		for range 1 + r.IntN(3) {
			kids = append(kids, Where("country", Eq, pick(r, countryPool)))
		}
		if r.IntN(2) == 0 {
			return Not(Or(kids...))
		}
		return Or(kids...)
	case 0:
		return Where("country", op, pick(r, countryPool))
	case 1:
		return Where("email", op, pick(r, emailPool))
	case 2:
		return Where("mrr", op, int64(r.IntN(4))*2500+int64(r.IntN(30)))
	case 3:
		return Where("arr", op, 12*int64(r.IntN(4))*2500+int64(r.IntN(400))-200)
	case 4:
		return Where("lead_created_at", op, randTime(r))
	case 5:
		if r.IntN(2) == 0 {
			return Where("custom.seats", op, r.IntN(100))
		}
		return Where("custom.seats", op, float64(r.IntN(1000))/10)
	case 6:
		switch r.IntN(4) {
		case 0:
			return Where("custom.score", op, float64(r.IntN(20))/4)
		case 1:
			return Where("custom.score", op, r.IntN(5))
		case 2:
			return Where("custom.vip", op, r.IntN(2) == 0)
		case 3:
			return Where("custom.renewal", op, day(2025, time.Month(1+r.IntN(12)), 1+r.IntN(2)))
		}
		return Where("custom.plan", op, pick(r, planPool))
	}
	return Where("city", op, pick(r, cityPool))
}

func randCustomer(r *rand.Rand, n int) Customer {
	c := Customer{
		DataSourceUUID: pick(r, []string{"ds_a", "ds_b"}),
		ExternalID:     fmt.Sprint(r.IntN(n + 10)),
		Name:           pick(r, []string{"Ann", "Bo", "Cy"}),
		Email:          pick(r, emailPool),
		Country:        pick(r, countryPool),
		City:           pick(r, cityPool),
		Tags:           randTags(r, r.IntN(4)),
	}
	if r.IntN(3) > 0 {
		c.LeadCreatedAt = randTime(r)
	}
	if r.IntN(2) == 0 {
		c.Custom = map[string]any{"plan": pick(r, planPool), "seats": int64(r.IntN(100))}
		if r.IntN(2) == 0 {
			c.Custom["score"] = float64(r.IntN(20)) / 4
			c.Custom["vip"] = r.IntN(2) == 0
			c.Custom["renewal"] = day(2025, time.Month(1+r.IntN(12)), 1)
		}
	}
	if r.IntN(10) == 0 {
		c.ExternalID = ""
	}
	return c
}

// TestModel runs random operations against the index and the model,
// comparing every segment kind after each step.
func TestModel(t *testing.T) {
	steps := 1500
	if testing.Short() {
		steps = 300
	}
	seed := testSeed(t)
	r := newRand(seed)
	path := filepath.Join(t.TempDir(), "model.db")
	ix, err := Open(path, &Options{NoSync: true, Clock: modelClock})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { ix.Close() }()
	m := newModel()
	uuids := func() []string { return slices.Sorted(maps.Keys(m.custs)) }
	someUUID := func() string {
		us := uuids()
		if len(us) == 0 || r.IntN(20) == 0 {
			return "cus_missing"
		}
		return pick(r, us)
	}
	exts := func(ds, ext string) bool {
		for _, c := range m.custs {
			if ext != "" && c.c.DataSourceUUID == ds && c.c.ExternalID == ext {
				return true
			}
		}
		return false
	}

	for step := range steps {
		var what string
		switch op := r.IntN(100); {
		case op < 25: // create
			c := randCustomer(r, len(m.custs))
			what = "create"
			got, err := ix.CreateCustomer(c)
			if exts(c.DataSourceUUID, c.ExternalID) {
				if !errors.Is(err, ErrDuplicate) {
					t.Fatalf("step %d: duplicate create: err %v", step, err)
				}
				break
			}
			if err != nil {
				t.Fatalf("step %d: create: %v", step, err)
			}
			m.created(c, got)
			if d := cmp.Diff(m.customer(got.UUID), got); d != "" {
				t.Fatalf("step %d: created (-model +index):\n%s", step, d)
			}
		case op < 40: // add tags
			u, tags := someUUID(), randTags(r, 1+r.IntN(3))
			what = "add tags " + u
			got, err := ix.AddTags(u, tags...)
			if m.custs[u] == nil {
				if !errors.Is(err, ErrNotFound) {
					t.Fatalf("step %d: add tags to missing: %v", step, err)
				}
				break
			}
			m.addTags(u, tags)
			if err != nil || !cmp.Equal(got, append([]string{}, m.custs[u].tags...)) {
				t.Fatalf("step %d: AddTags = %v, %v; model %v", step, got, err, m.custs[u].tags)
			}
		case op < 50: // remove tags
			u, tags := someUUID(), randTags(r, 1+r.IntN(3))
			what = "remove tags " + u
			got, err := ix.RemoveTags(u, tags...)
			if m.custs[u] == nil {
				if !errors.Is(err, ErrNotFound) {
					t.Fatalf("step %d: remove tags from missing: %v", step, err)
				}
				break
			}
			m.removeTags(u, tags)
			if err != nil || !cmp.Equal(got, append([]string{}, m.custs[u].tags...)) {
				t.Fatalf("step %d: RemoveTags = %v, %v; model %v", step, got, err, m.custs[u].tags)
			}
		case op < 55: // add tags by email
			email, tags := pick(r, emailPool), randTags(r, 1+r.IntN(2))
			what = "add tags by email " + email
			got, err := ix.AddTagsByEmail(email, tags...)
			var want []string
			for _, u := range uuids() {
				if email != "" && strings.EqualFold(m.custs[u].c.Email, email) {
					want = append(want, u)
					m.addTags(u, tags)
				}
			}
			if len(want) == 0 {
				if !errors.Is(err, ErrNotFound) {
					t.Fatalf("step %d: AddTagsByEmail(%q) with no match: %v", step, email, err)
				}
				break
			}
			if err != nil {
				t.Fatalf("step %d: AddTagsByEmail: %v", step, err)
			}
			var gotU []string
			for _, c := range got {
				gotU = append(gotU, c.UUID)
				if d := cmp.Diff(m.customer(c.UUID), c); d != "" {
					t.Fatalf("step %d: AddTagsByEmail customer (-model +index):\n%s", step, d)
				}
			}
			slices.Sort(gotU)
			if d := cmp.Diff(want, gotU); d != "" {
				t.Fatalf("step %d: AddTagsByEmail customers (-model +index):\n%s", step, d)
			}
		case op < 62: // delete
			u := someUUID()
			what = "delete " + u
			err := ix.DeleteCustomer(u)
			if m.custs[u] == nil {
				if !errors.Is(err, ErrNotFound) {
					t.Fatalf("step %d: delete missing: %v", step, err)
				}
				break
			}
			if err != nil {
				t.Fatalf("step %d: delete: %v", step, err)
			}
			delete(m.byID, m.custs[u].c.ID)
			delete(m.custs, u)
		case op < 80: // SetMRR, often out of order and at colliding instants
			u := someUUID()
			at := day(2023, 1, 1).AddDate(0, r.IntN(36), r.IntN(3))
			cents := int64(r.IntN(4)) * 2500
			if r.IntN(2) == 0 {
				cents += int64(r.IntN(30))
			}
			what = fmt.Sprintf("set MRR %s %v %d", u, at, cents)
			err := ix.SetMRR(u, at, cents)
			if m.custs[u] == nil {
				if !errors.Is(err, ErrNotFound) {
					t.Fatalf("step %d: SetMRR missing: %v", step, err)
				}
				break
			}
			if err != nil {
				t.Fatalf("step %d: SetMRR: %v", step, err)
			}
			m.custs[u].events[at.UnixNano()] = cents
		case op < 85 && step%3 == 0: // a bulk Load, sometimes with a duplicate in it
			what = "load"
			var cs []Customer
			var evs [][]MRRChange
			seen := map[string]bool{}
			dup := -1
			for i := range 1 + r.IntN(30) {
				c := randCustomer(r, len(m.custs))
				c.UUID = fmt.Sprintf("cus_load_%d_%d", step, i)
				key := c.DataSourceUUID + "\x00" + c.ExternalID
				if c.ExternalID != "" && (exts(c.DataSourceUUID, c.ExternalID) || seen[key]) && dup < 0 {
					dup = i
				}
				seen[key] = true
				cs = append(cs, c)
				evs = append(evs, randEvents(r))
			}
			n, err := ix.Load(loadSeq(cs, evs))
			if dup >= 0 {
				var le *LoadError
				if !errors.As(err, &le) || !errors.Is(err, ErrDuplicate) || le.Index < dup {
					t.Fatalf("step %d: Load with a duplicate at %d: %d, %v", step, dup, n, err)
				}
			} else if err != nil || n != len(cs) {
				t.Fatalf("step %d: Load: %d, %v", step, n, err)
			}
			for i, c := range cs[:n] {
				got, err := ix.Customer(c.UUID)
				if err != nil {
					t.Fatalf("step %d: loaded customer %d: %v", step, i, err)
				}
				tags := c.Tags
				c.ID, c.Tags = got.ID, nil
				mc := &mCust{c: c, events: map[int64]int64{}}
				for _, e := range evs[i] {
					mc.events[e.At.UnixNano()] = e.Cents
				}
				m.custs[c.UUID] = mc
				m.byID[got.ID] = c.UUID
				m.addTags(c.UUID, tags)
				if d := cmp.Diff(m.customer(c.UUID), got); d != "" {
					t.Fatalf("step %d: loaded (-model +index):\n%s", step, d)
				}
			}
		case op < 85: // a batch, sometimes rolled back
			what = "batch"
			next := m.clone()
			rollback := r.IntN(3) == 0
			errBoom := errors.New("boom")
			err := ix.Update(func(tx *Tx) error {
				for range 1 + r.IntN(4) {
					c := randCustomer(r, len(next.custs))
					c.ExternalID = ""
					got, err := tx.CreateCustomer(c)
					if err != nil {
						return err
					}
					next.created(c, got)
					tags := randTags(r, 2)
					if _, err := tx.AddTags(got.UUID, tags...); err != nil {
						return err
					}
					next.addTags(got.UUID, tags)
					seen, err := tx.Customer(got.UUID)
					if err != nil {
						return err
					}
					if d := cmp.Diff(next.customer(got.UUID), seen); d != "" {
						t.Errorf("step %d: tx does not see its own writes (-model +tx):\n%s", step, d)
					}
				}
				if rollback {
					return errBoom
				}
				return nil
			})
			if rollback {
				if !errors.Is(err, errBoom) {
					t.Fatalf("step %d: rolled-back batch returned %v", step, err)
				}
				break
			}
			if err != nil {
				t.Fatalf("step %d: batch: %v", step, err)
			}
			m = next
		case op < 90: // bulk segment tagging
			e, tags := randExpr(r, 2), randTags(r, 1+r.IntN(2))
			add := r.IntN(2) == 0
			what = fmt.Sprintf("segment tags add=%v %v", add, tags)
			members := m.eval(e)
			want := 0
			for _, u := range slices.Sorted(maps.Keys(members)) {
				var ch bool
				if add {
					ch = m.addTags(u, tags)
				} else {
					ch = m.removeTags(u, tags)
				}
				if ch {
					want++
				}
			}
			var got int
			var err error
			if add {
				got, err = ix.AddTagsToSegment(e, tags...)
			} else {
				got, err = ix.RemoveTagsFromSegment(e, tags...)
			}
			if err != nil || got != want {
				t.Fatalf("step %d: %s = %d, %v; model changed %d", step, what, got, err, want)
			}
		case op < 92: // reopen
			what = "reopen"
			if err := ix.Close(); err != nil {
				t.Fatal(err)
			}
			if ix, err = Open(path, &Options{NoSync: true, Clock: modelClock}); err != nil {
				t.Fatalf("step %d: reopen: %v", step, err)
			}
		default: // an invalid write changes nothing
			u := someUUID()
			what = "invalid add tags " + u
			_, err := ix.AddTags(u, "ok-tag", pick(r, []string{"", "  ", strings.Repeat("x", 256), "bad\xff"}))
			if !errors.Is(err, ErrInvalidTag) {
				t.Fatalf("step %d: invalid tag gave %v", step, err)
			}
		}

		for range 3 {
			checkSegment(t, ix, m, randExpr(r, 3), fmt.Sprintf("step %d (%s)", step, what))
		}
		if step%25 == 0 || step == steps-1 {
			checkAll(t, ix, m, fmt.Sprintf("step %d", step))
		}
	}
}

func checkSegment(t *testing.T, ix *Index, m *model, e Expr, where string) {
	t.Helper()
	seg, err := ix.Segment(e)
	if err != nil {
		t.Fatalf("%s: Segment(%#v): %v", where, e, err)
	}
	want := m.eval(e)
	var wantMRR int64
	var wantPaying uint64
	for u := range want {
		if v := m.custs[u].mrr(); v > 0 {
			wantMRR += v
			wantPaying++
		}
	}
	var got []string
	for id := range seg.IDs().Iterate {
		got = append(got, m.byID[id])
	}
	slices.Sort(got)
	if d := cmp.Diff(slices.Sorted(maps.Keys(want)), got); d != "" {
		t.Fatalf("%s: members of %s (-model +index):\n%s", where, dump(e), d)
	}
	if seg.Count() != uint64(len(want)) || seg.MRR() != wantMRR || seg.Paying() != wantPaying || seg.ARR() != 12*wantMRR {
		t.Fatalf("%s: %s: count %d MRR %d paying %d; model %d %d %d", where, dump(e), seg.Count(), seg.MRR(), seg.Paying(), len(want), wantMRR, wantPaying)
	}
	if wantPaying > 0 && seg.ARPA() != wantMRR/int64(wantPaying) || wantPaying == 0 && seg.ARPA() != 0 {
		t.Fatalf("%s: ARPA %d", where, seg.ARPA())
	}
	if n, err := ix.Count(e); err != nil || n != uint64(len(want)) {
		t.Fatalf("%s: Count(%s) = %d, %v; model %d", where, dump(e), n, err, len(want))
	}
	// The query language round trip selects the same members.
	q := e.String()
	pe, err := Parse(q)
	if err != nil {
		t.Fatalf("%s: Parse(%q) of %s: %v", where, q, dump(e), err)
	}
	pseg, err := ix.Segment(pe)
	if err != nil {
		t.Fatalf("%s: Segment(Parse(%q)): %v", where, q, err)
	}
	if !pseg.IDs().Equals(seg.IDs()) {
		t.Fatalf("%s: Parse(%q) selects %v, %s selects %v", where, q, pseg.IDs(), dump(e), seg.IDs())
	}
}

// checkAll compares every customer, the tag list and the per-tag stats.
func checkAll(t *testing.T, ix *Index, m *model, where string) {
	t.Helper()
	for u := range m.custs {
		got, err := ix.Customer(u)
		if err != nil {
			t.Fatalf("%s: Customer(%s): %v", where, u, err)
		}
		if d := cmp.Diff(m.customer(u), got); d != "" {
			t.Fatalf("%s: Customer(%s) (-model +index):\n%s", where, u, d)
		}
	}
	wantTags := map[string]uint64{}
	wantStats := map[string]TagStat{}
	for _, c := range m.custs {
		for _, tg := range c.tags {
			wantTags[tg]++
			s := wantStats[tg]
			s.Tag, s.Customers, s.MRR = tg, s.Customers+1, s.MRR+c.mrr()
			wantStats[tg] = s
		}
	}
	gotTags := maps.Collect(ix.Tags())
	if d := cmp.Diff(wantTags, gotTags); d != "" {
		t.Fatalf("%s: Tags() (-model +index):\n%s", where, d)
	}
	// In name order, whole or from a prefix (the order is kept across
	// commits that do not add or remove a tag name).
	names := slices.Sorted(maps.Keys(wantTags))
	prefixes := []string{"", "t", "zz", "\xff"}
	for _, n := range names {
		prefixes = append(prefixes, n, n[:len(n)/2])
	}
	for _, p := range prefixes {
		var want, got []string
		for _, n := range names {
			if strings.HasPrefix(n, p) {
				want = append(want, n)
			}
		}
		seq := ix.TagsWithPrefix(p)
		if p == "" {
			seq = ix.Tags()
		}
		for tg, n := range seq {
			got = append(got, tg)
			if n != wantTags[tg] {
				t.Fatalf("%s: TagsWithPrefix(%q): %s has %d customers, want %d", where, p, tg, n, wantTags[tg])
			}
		}
		if !slices.Equal(want, got) {
			t.Fatalf("%s: TagsWithPrefix(%q) = %q, want %q", where, p, got, want)
		}
	}
	// Through the forward index, which the writes since the last check
	// have kept up to date (or dropped), and through a new one.
	for round := range 2 {
		if round == 1 {
			ix.dropForward()
		}
		stats, err := ix.TagStats(All(), TagStatsOptions{})
		if err != nil {
			t.Fatal(err)
		}
		gotStats := map[string]TagStat{}
		for _, s := range stats {
			gotStats[s.Tag] = s
		}
		if d := cmp.Diff(wantStats, gotStats); d != "" {
			t.Fatalf("%s: TagStats, round %d (-model +index):\n%s", where, round, d)
		}
	}
	if err := ix.Check(); err != nil {
		t.Fatalf("%s: %v", where, err)
	}
}

// dump prints an expression for failure messages.
func dump(e Expr) string {
	n := e.n
	if n == nil {
		return "*"
	}
	switch n.kind {
	case kAll:
		return "All()"
	case kTag:
		return fmt.Sprintf("Tag(%q)", n.tags[0])
	case kAnyTags:
		return fmt.Sprintf("AnyTag(%q)", n.tags)
	case kAllTags:
		return fmt.Sprintf("AllTags(%q)", n.tags)
	case kAnd, kOr, kNot:
		var parts []string
		for _, k := range n.kids {
			parts = append(parts, dump(k))
		}
		name := map[nodeKind]string{kAnd: "And", kOr: "Or", kNot: "Not"}[n.kind]
		return name + "(" + strings.Join(parts, ", ") + ")"
	}
	return fmt.Sprintf("Where(%q, %v, %#v)", n.field, n.op, n.value)
}
