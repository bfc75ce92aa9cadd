package tagseg

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"iter"
	"math"
	"math/bits"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
	bolt "go.etcd.io/bbolt"
)

// Expr is a segment expression: a boolean combination of tag tests and
// field comparisons, built with Tag, AnyTag, AllTags, And, Or, Not, All and
// Where, or parsed from the query language with Parse. Expr values are
// immutable and safe to share between goroutines. The zero Expr selects
// every customer, like All().
type Expr struct{ n *node }

type nodeKind uint8

const (
	kAll     nodeKind = iota // every live customer
	kTag                     // tag:X
	kAnyTags                 // tags:any(X, Y)
	kAllTags                 // tags:all(X, Y)
	kAnd
	kOr
	kNot
	kWhere
)

type node struct {
	kind  nodeKind
	tags  []string // kTag (one), kAnyTags, kAllTags
	kids  []Expr   // kAnd, kOr, kNot (one)
	field string   // kWhere
	op    Op       // kWhere
	value any      // kWhere: string, int64, uint64, float64, bool or time.Time
}

func (e Expr) kind() nodeKind {
	if e.n == nil {
		return kAll
	}
	return e.n.kind
}

// Op is a comparison operator for Where.
type Op int

// Comparison operators. In the query language they are written
// ":" or "=", "!=", ">", ">=", "<" and "<=".
const (
	Eq Op = iota
	NotEq
	Gt
	Gte
	Lt
	Lte
)

// String returns the operator as the query language writes it.
func (o Op) String() string {
	switch o {
	case Eq:
		return ":"
	case NotEq:
		return "!="
	case Gt:
		return ">"
	case Gte:
		return ">="
	case Lt:
		return "<"
	case Lte:
		return "<="
	}
	return fmt.Sprintf("Op(%d)", int(o))
}

// Tag selects the customers holding the tag. The name is trimmed of
// surrounding white space; a tag nobody holds selects nobody.
func Tag(name string) Expr { return Expr{&node{kind: kTag, tags: []string{name}}} }

// AnyTag selects the customers holding at least one of the tags
// (tags:any(...)). With no names it selects nobody.
func AnyTag(names ...string) Expr {
	return Expr{&node{kind: kAnyTags, tags: append([]string(nil), names...)}}
}

// AllTags selects the customers holding every one of the tags
// (tags:all(...)). With no names it selects every customer.
func AllTags(names ...string) Expr {
	return Expr{&node{kind: kAllTags, tags: append([]string(nil), names...)}}
}

// And selects the customers every operand selects. And() is All().
func And(xs ...Expr) Expr { return Expr{&node{kind: kAnd, kids: append([]Expr(nil), xs...)}} }

// Or selects the customers at least one operand selects. Or() selects nobody.
func Or(xs ...Expr) Expr { return Expr{&node{kind: kOr, kids: append([]Expr(nil), xs...)}} }

// Not selects the live customers x does not select.
func Not(x Expr) Expr { return Expr{&node{kind: kNot, kids: []Expr{x}}} }

// All selects every customer (the query "*").
func All() Expr { return Expr{&node{kind: kAll}} }

// Where compares a field with a value. Fields are the query language's:
// email, name, company, country, state, city, zip, data_source,
// external_id, mrr, arr, lead_created_at, free_trial_started_at and
// custom.KEY. The value may be a string, any integer type, float64, bool or
// time.Time; it must suit the field (mrr and arr take integers in cents,
// the dates take time.Time or an RFC 3339 string). An unknown field or a
// value of the wrong type makes Segment return an error wrapping
// ErrInvalidField.
func Where(field string, op Op, value any) Expr {
	return Expr{&node{kind: kWhere, field: field, op: op, value: normValue(value)}}
}

// normValue folds the integer types into int64 (or uint64 when too large).
func normValue(v any) any {
	switch x := v.(type) {
	case int:
		return int64(x)
	case int8:
		return int64(x)
	case int16:
		return int64(x)
	case int32:
		return int64(x)
	case uint:
		return u64(uint64(x))
	case uint8:
		return int64(x)
	case uint16:
		return int64(x)
	case uint32:
		return int64(x)
	case uint64:
		return u64(x)
	case float32:
		return float64(x)
	case time.Time:
		return x
	}
	return v
}

func u64(x uint64) any {
	if x <= 1<<63-1 {
		return int64(x)
	}
	return x
}

// ---- evaluation ----

// evaluator computes the members of an expression over one consistent
// state: the committed in-memory state and a bbolt read transaction, or a
// write batch's view of them.
type evaluator struct {
	ix      *Index
	st      *state
	btx     *bolt.Tx
	tx      *Tx // non-nil inside a batch: its changes count
	unknown []string
	seen    map[string]bool // the tags in unknown
}

// val is an evaluated set. owned means bm is a private copy that may be
// changed in place; otherwise it is a stored bitmap that must not be.
type val struct {
	bm    *roaring.Bitmap
	owned bool
}

func (v val) own() *roaring.Bitmap {
	if v.owned {
		return v.bm
	}
	return v.bm.Clone()
}

func (ev *evaluator) bitmap(k bmKey) val {
	var b *roaring.Bitmap
	owned := false
	if ev.tx != nil {
		b, owned = ev.tx.bitmap(k)
	} else {
		b = ev.st.get(k)
	}
	if b == nil {
		return val{roaring.New(), true}
	}
	return val{b, owned}
}

func (ev *evaluator) live() val { return ev.bitmap(bmKey{bkLive, ""}) }

func (ev *evaluator) tag(name string) val {
	name = strings.TrimSpace(name)
	v := ev.bitmap(bmKey{bkTag, name})
	if v.bm.IsEmpty() && !ev.seen[name] { // a map: a query may name 100,000 tags
		if ev.seen == nil {
			ev.seen = map[string]bool{}
		}
		ev.seen[name] = true
		ev.unknown = append(ev.unknown, name)
	}
	return v
}

func (ev *evaluator) eval(e Expr) (val, error) {
	n := e.n
	if n == nil {
		return ev.live(), nil
	}
	switch n.kind {
	case kAll:
		return ev.live(), nil
	case kTag:
		return ev.tag(n.tags[0]), nil
	case kAnyTags:
		vs := make([]val, len(n.tags))
		for i, t := range n.tags {
			vs[i] = ev.tag(t)
		}
		return union(vs), nil
	case kAllTags:
		pos, _, _ := ev.andOperands(n)
		return ev.intersect(pos, nil), nil
	case kAnd:
		pos, neg, err := ev.andOperands(n)
		if err != nil {
			return val{}, err
		}
		return ev.intersect(pos, neg), nil
	case kOr:
		vs := make([]val, 0, len(n.kids))
		for _, k := range n.kids {
			v, err := ev.eval(k)
			if err != nil {
				return val{}, err
			}
			vs = append(vs, v)
		}
		return union(vs), nil
	case kNot:
		v, err := ev.eval(n.kids[0])
		if err != nil {
			return val{}, err
		}
		return ev.intersect(nil, []val{v}), nil
	case kWhere:
		return ev.where(n)
	}
	return val{}, fmt.Errorf("tagseg: bad expression node %d: %w", n.kind, ErrInvalidField)
}

// andOperands evaluates the operands of an And (or AllTags) node: the
// positive ones, and the inner sets of the Not ones.
func (ev *evaluator) andOperands(n *node) (pos, neg []val, err error) {
	if n.kind == kAllTags {
		for _, t := range n.tags {
			pos = append(pos, ev.tag(t))
		}
		return pos, nil, nil
	}
	for _, k := range n.kids {
		if k.kind() == kNot {
			v, err := ev.eval(k.n.kids[0])
			if err != nil {
				return nil, nil, err
			}
			neg = append(neg, v)
			continue
		}
		v, err := ev.eval(k)
		if err != nil {
			return nil, nil, err
		}
		pos = append(pos, v)
	}
	return pos, neg, nil
}

// intersect returns the intersection of pos (every live customer when pos
// is empty) minus every set in neg. It works in place on one private copy,
// starting from the smallest operand.
func (ev *evaluator) intersect(pos, neg []val) val {
	if len(pos) == 0 {
		pos = []val{ev.live()}
	}
	if len(pos) == 1 && len(neg) == 0 {
		return pos[0]
	}
	slices.SortFunc(pos, func(a, b val) int { return cmp.Compare(a.bm.GetCardinality(), b.bm.GetCardinality()) })
	var acc *roaring.Bitmap
	switch {
	case pos[0].owned:
		acc = pos[0].bm
	case len(pos) > 1: // the first step allocates only the result
		acc, pos = roaring.And(pos[0].bm, pos[1].bm), pos[1:]
	case len(neg) > 0:
		acc, neg = roaring.AndNot(pos[0].bm, neg[0].bm), neg[1:]
	}
	for _, v := range pos[1:] {
		if acc.IsEmpty() {
			break
		}
		acc.And(v.bm)
	}
	for _, v := range neg {
		if acc.IsEmpty() {
			break
		}
		acc.AndNot(v.bm)
	}
	return val{acc, true}
}

func union(vs []val) val {
	bms := make([]*roaring.Bitmap, 0, len(vs))
	for _, v := range vs {
		if !v.bm.IsEmpty() {
			bms = append(bms, v.bm)
		}
	}
	switch len(bms) {
	case 0:
		return val{roaring.New(), true}
	case 1:
		for _, v := range vs {
			if v.bm == bms[0] {
				return v
			}
		}
	}
	return val{roaring.FastOr(bms...), true}
}

// Field kinds of the query language.
func fieldKind(f string) (kind byte, ok bool) {
	switch f {
	case "country", "state", "city", "zip", "data_source":
		return 'q', true // in-memory bitmap per value
	case "email", "name", "company", "external_id":
		return 's', true // sorted index, strings
	case "lead_created_at", "free_trial_started_at":
		return 't', true // sorted index, times
	case "mrr", "arr":
		return 'm', true
	}
	if k, ok := strings.CutPrefix(f, "custom."); ok && isKey(k) {
		return 'c', true
	}
	return 0, false
}

func (ev *evaluator) where(n *node) (val, error) {
	kind, ok := fieldKind(n.field)
	if !ok {
		return val{}, fmt.Errorf("tagseg: unknown field %q: %w", n.field, ErrInvalidField)
	}
	if n.op < Eq || n.op > Lte {
		return val{}, fmt.Errorf("tagseg: field %s: unknown operator %v: %w", n.field, n.op, ErrInvalidField)
	}
	bad := func(want string) (val, error) {
		return val{}, fmt.Errorf("tagseg: field %s wants %s, not %T %v: %w", n.field, want, n.value, n.value, ErrInvalidField)
	}
	switch kind {
	case 'q':
		s, ok := n.value.(string)
		if !ok {
			return bad("a string")
		}
		return ev.eqField(n.field, n.op, s), nil
	case 's':
		s, ok := n.value.(string)
		if !ok {
			return bad("a string")
		}
		if n.field == "email" && n.op == Eq {
			if s == "" { // customers without an email
				return ev.colCompare(colEmail, Eq, 0, false), nil
			}
			return ev.email(s)
		}
		return ev.scanField(n.field, n.op, s)
	case 't':
		t, ok := asTime(n.value)
		if !ok {
			return bad("a time (time.Time or RFC 3339)")
		}
		col := colLead
		if n.field == "free_trial_started_at" {
			col = colTrial
		}
		var q int64
		switch {
		case t.Year() < 1678:
			q = noTime + 1
		case t.Year() > 2261:
			q = math.MaxInt64
		default:
			q = t.UnixNano()
		}
		return ev.colCompare(col, n.op, q, true), nil
	case 'm':
		var c int64
		switch x := n.value.(type) {
		case int64:
			c = x
		case uint64:
			c = math.MaxInt64 // beyond every value
			if n.op == Eq {
				return val{roaring.New(), true}, nil
			}
		default:
			return bad("an integer number of cents")
		}
		if n.field == "arr" {
			return ev.arrCompare(n.op, c), nil
		}
		return ev.mrrCompare(n.op, c), nil
	case 'c':
		switch n.value.(type) {
		case string, int64, uint64, float64, bool, time.Time:
			return ev.custom(n.field, n.op, n.value), nil
		}
		return bad("a string, number, bool or time")
	}
	return bad("?")
}

func asTime(v any) (time.Time, bool) {
	switch x := v.(type) {
	case time.Time:
		return x, true
	case string:
		t, bad := parseTime(x)
		return t, bad == ""
	}
	return time.Time{}, false
}

func compare[T cmp.Ordered](a T, op Op, b T) bool {
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
	return false
}

// eqField compares an in-memory bitmap field (country, …).
func (ev *evaluator) eqField(field string, op Op, s string) val {
	switch op {
	case Eq:
		return ev.bitmap(eqKey(field, s))
	case NotEq:
		return ev.intersect(nil, []val{ev.bitmap(eqKey(field, s))})
	}
	return ev.eqMatch(field, func(v string) bool { return compare(v, op, s) })
}

// custom compares a custom attribute, held as one bitmap per value, with
// q: Eq looks up the values equal to q in each type it converts to exactly,
// the other operators go through the attribute's values. NotEq is every
// live customer but the Eq ones, so customers without it match.
func (ev *evaluator) custom(field string, op Op, q any) val {
	switch op {
	case Eq:
		var vs []val
		for _, c := range eqCandidates(q) {
			vs = append(vs, ev.bitmap(eqKey(field, customEq(c))))
		}
		return union(vs)
	case NotEq:
		return ev.intersect(nil, []val{ev.custom(field, Eq, q)})
	}
	return ev.eqMatch(field, func(v string) bool {
		x, ok := parseCustomEq(v)
		if !ok {
			return false
		}
		c, ok := compareAny(x, q)
		return ok && compare(c, op, 0)
	})
}

// eqCandidates lists the stored values that equal the query value q.
func eqCandidates(q any) []any {
	switch x := q.(type) {
	case string:
		if t, bad := parseTime(x); bad == "" {
			return []any{x, t}
		}
		return []any{x}
	case int64:
		if f := float64(x); compareIntFloat(x, f) == 0 {
			return []any{x, f}
		}
		return []any{x}
	case uint64:
		if f := float64(x); uint64(f) == x {
			return []any{f}
		}
		return nil
	case float64:
		if x == math.Trunc(x) && x >= math.MinInt64 && x < math.MaxInt64 {
			return []any{x, int64(x)}
		}
		return []any{x}
	}
	return []any{q}
}

// eqMatch is the union of the bitmaps of field whose value matches.
func (ev *evaluator) eqMatch(field string, match func(v string) bool) val {
	var vs []val
	seen := map[string]bool{}
	consider := func(v string) {
		if !seen[v] && match(v) {
			seen[v] = true
			vs = append(vs, ev.bitmap(eqKey(field, v)))
		}
	}
	for v := range ev.st.eq[field].all() {
		consider(v)
	}
	if ev.tx != nil {
		prefix := field + "\x00"
		for k := range ev.tx.deltas {
			if k.kind == bkEq && strings.HasPrefix(k.name, prefix) {
				consider(k.name[len(prefix):])
			}
		}
	}
	return union(vs)
}

// email selects the customers with an email (any case), through the
// in-memory hash table, checked against their records.
func (ev *evaluator) email(email string) (val, error) {
	var rs []*record
	var err error
	if ev.tx != nil {
		rs, err = ev.tx.byEmail(email)
	} else {
		rs, err = byEmail(ev.btx, "", email, ev.ix.emails.ids(ev.st, emailHash(email)))
	}
	if err != nil {
		return val{}, err
	}
	out := roaring.New()
	for _, r := range rs {
		out.Add(r.id)
	}
	out.And(ev.live().bm)
	return val{out, true}, nil
}

// colCompare compares a column with q over the live customers. With
// skipNone, customers whose value is the column's "none" match only NotEq.
func (ev *evaluator) colCompare(col int, op Op, q int64, skipNone bool) val {
	if op == NotEq {
		return ev.intersect(nil, []val{ev.colCompare(col, Eq, q, skipNone)})
	}
	live := ev.live().bm
	column := ev.st.cols[col]
	out := roaring.New()
	match := func(v int64) bool { return !(skipNone && v == colNone[col]) && compare(v, op, q) }
	it := live.ManyIterator()
	buf := make([]uint32, 4096)
	sel := make([]uint32, 0, 4096)
	for n := it.NextMany(buf); n > 0; n = it.NextMany(buf) {
		sel = sel[:0]
		for _, id := range buf[:n] {
			if match(column.at(id)) {
				sel = append(sel, id)
			}
		}
		out.AddMany(sel)
	}
	if ev.tx != nil { // the batch's own rows
		for c, v := range ev.tx.cols {
			if c.col != col {
				continue
			}
			if live.Contains(c.id) && match(v) {
				out.Add(c.id)
			} else {
				out.Remove(c.id)
			}
		}
	}
	return val{out, true}
}

// scanField compares a field kept only in the customer records (name,
// company, external_id, email ranges, custom attributes) by reading every
// record. NotEq is every live customer but the Eq ones, so customers
// without the field match it.
func (ev *evaluator) scanField(field string, op Op, q any) (val, error) {
	if op == NotEq {
		eq, err := ev.scanField(field, Eq, q)
		if err != nil {
			return val{}, err
		}
		return ev.intersect(nil, []val{eq}), nil
	}
	if field == "email" {
		q = lower(q.(string))
	}
	out := roaring.New()
	c := ev.btx.Bucket(bktCust).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if len(k) != 4 {
			return val{}, fmt.Errorf("tagseg: bad customer key %s: %w", clipKey(k), ErrCorrupt)
		}
		r, err := openRecord(binary.BigEndian.Uint32(k), v)
		if err != nil {
			return val{}, fmt.Errorf("tagseg: customer %s: %v: %w", clipKey(k), err, ErrCorrupt)
		}
		if x, ok := recordField(r, field); ok {
			if c, ok := compareAny(x, q); ok && compare(c, op, 0) {
				out.Add(r.id)
			}
		}
	}
	out.And(ev.live().bm)
	return val{out, true}, nil
}

// recordField is the value of a field as stored in a record.
func recordField(r *record, field string) (any, bool) {
	switch field {
	case "email":
		return lower(r.c.Email), true
	case "name":
		return r.c.Name, true
	case "company":
		return r.c.Company, true
	case "external_id":
		return r.c.ExternalID, true
	}
	if k, ok := strings.CutPrefix(field, "custom."); ok {
		v, ok := r.c.Custom[k]
		return v, ok
	}
	return nil, false
}

// compareAny compares a stored value x with a query value q: strings with
// strings, bools with bools, times with times (or RFC 3339 strings), and
// numbers with numbers. ok is false when they do not compare.
func compareAny(x, q any) (c int, ok bool) {
	switch a := x.(type) {
	case string:
		if b, ok := q.(string); ok {
			return strings.Compare(a, b), true
		}
	case bool:
		if b, ok := q.(bool); ok {
			switch {
			case a == b:
				return 0, true
			case b:
				return -1, true
			}
			return 1, true
		}
	case time.Time:
		if b, ok := asTime(q); ok {
			return a.Compare(b), true
		}
	case int64:
		switch b := q.(type) {
		case int64:
			return cmp.Compare(a, b), true
		case uint64:
			return -1, true // b > MaxInt64
		case float64:
			return compareIntFloat(a, b), true
		}
	case float64:
		switch b := q.(type) {
		case int64:
			return -compareIntFloat(b, a), true
		case uint64:
			return cmp.Compare(a, float64(b)), true
		case float64:
			return cmp.Compare(a, b), true
		}
	}
	return 0, false
}

// compareIntFloat compares an integer with a float exactly.
func compareIntFloat(a int64, f float64) int {
	switch {
	case math.IsNaN(f):
		return 1 // as cmp.Compare: NaN is below every number
	case f >= math.MaxInt64:
		return -1
	case f < math.MinInt64:
		return 1
	}
	fl := math.Floor(f)
	if c := cmp.Compare(a, int64(fl)); c != 0 {
		return c
	}
	if fl == f {
		return 0
	}
	return -1
}

// mrrCompare compares the current MRR with c on the bit planes (O'Neil's
// range algorithm), then corrects for a batch's own MRR changes.
func (ev *evaluator) mrrCompare(op Op, c int64) val {
	live := ev.live()
	var out *roaring.Bitmap
	if c < 0 {
		switch op {
		case Gt, Gte, NotEq:
			return live
		}
		return val{roaring.New(), true}
	}
	planes := ev.st.planes
	var eq, gt, lt *roaring.Bitmap
	if bits.Len64(uint64(c)) > len(planes) {
		eq, gt, lt = roaring.New(), roaring.New(), live.own()
	} else {
		eq, gt, lt = live.own(), roaring.New(), roaring.New()
		for i := len(planes) - 1; i >= 0 && !eq.IsEmpty(); i-- {
			if c&(1<<i) != 0 {
				lt.Or(roaring.AndNot(eq, planes[i]))
				eq.And(planes[i])
			} else {
				gt.Or(roaring.And(eq, planes[i]))
				eq.AndNot(planes[i])
			}
		}
	}
	switch op {
	case Eq:
		out = eq
	case NotEq:
		out = live.own()
		out.AndNot(eq)
	case Gt:
		out = gt
	case Gte:
		gt.Or(eq)
		out = gt
	case Lt:
		out = lt
	case Lte:
		lt.Or(eq)
		out = lt
	}
	if ev.tx != nil { // the batch's own MRR changes
		for id, h := range ev.tx.hist {
			if live.bm.Contains(id) && compare(current(h), op, c) {
				out.Add(id)
			} else {
				out.Remove(id)
			}
		}
	}
	return val{out, true}
}

// arrCompare compares 12 × MRR with c.
func (ev *evaluator) arrCompare(op Op, c int64) val {
	fl := c / 12
	if c%12 != 0 && c < 0 {
		fl--
	}
	ce := fl
	if c%12 != 0 {
		ce++
	}
	switch op {
	case Eq, NotEq:
		if c%12 != 0 {
			if op == Eq {
				return val{roaring.New(), true}
			}
			return ev.live()
		}
		return ev.mrrCompare(op, c/12)
	case Gt:
		return ev.mrrCompare(Gt, fl)
	case Gte:
		return ev.mrrCompare(Gte, ce)
	case Lt:
		return ev.mrrCompare(Lt, ce)
	}
	return ev.mrrCompare(Lte, fl)
}

// ---- segments ----

// Segment is the result of evaluating an expression: its members and their
// current MRR, as of one consistent state of the index. It does not change
// when the index does.
type Segment struct {
	ix      *Index
	tx      *Tx // the transaction it was made in
	ids     *roaring.Bitmap
	count   uint64
	paying  uint64
	mrr     int64
	unknown []string
}

// Segment evaluates e. An unknown field, or a value of the wrong type for
// its field, gives ErrInvalidField; an unknown tag is an empty set (see
// Segment.UnknownTags).
func (tx *Tx) Segment(e Expr) (seg *Segment, err error) {
	ix := tx.ix
	err = tx.run(func(st *state, btx *bolt.Tx) error {
		ev := &evaluator{ix: ix, st: st, btx: btx}
		v, err := ev.eval(e)
		if err != nil {
			return err
		}
		seg = newSegment(ix, st, v.own(), ev.unknown)
		seg.tx = tx
		return nil
	})
	return seg, err
}

// Count returns the number of customers e selects: Segment(e).Count()
// without building the member set or summing MRR. The last intersection
// (or difference) of a top-level And is an AndCardinality.
func (tx *Tx) Count(e Expr) (n uint64, err error) {
	ix := tx.ix
	err = tx.run(func(st *state, btx *bolt.Tx) error {
		ev := &evaluator{ix: ix, st: st, btx: btx}
		if k := e.kind(); (k == kAnd || k == kAllTags) && (len(e.n.kids) > 1 || len(e.n.tags) > 1) {
			pos, neg, err := ev.andOperands(e.n)
			if err != nil {
				return err
			}
			if len(neg) > 0 {
				last := neg[len(neg)-1]
				acc := ev.intersect(pos, neg[:len(neg)-1]).bm
				n = acc.GetCardinality() - acc.AndCardinality(last.bm)
				return nil
			}
			if len(pos) > 1 {
				slices.SortFunc(pos, func(a, b val) int { return cmp.Compare(a.bm.GetCardinality(), b.bm.GetCardinality()) })
				last := pos[len(pos)-1]
				n = ev.intersect(pos[:len(pos)-1], nil).bm.AndCardinality(last.bm)
				return nil
			}
		}
		v, err := ev.eval(e)
		if err != nil {
			return err
		}
		n = v.bm.GetCardinality()
		return nil
	})
	return n, err
}

func newSegment(ix *Index, st *state, ids *roaring.Bitmap, unknown []string) *Segment {
	s := &Segment{ix: ix, ids: ids, count: ids.GetCardinality(), unknown: unknown}
	if s.count > 0 {
		s.paying = ids.AndCardinality(st.paying)
		s.mrr = sumPlanes(ids, st.planes)
	}
	return s
}

// sumPlanes is the sum of the values of ids in the bit-sliced index planes.
func sumPlanes(ids *roaring.Bitmap, planes []*roaring.Bitmap) int64 {
	var sum int64
	for i, p := range planes {
		sum += int64(ids.AndCardinality(p)) << i
	}
	return sum
}

// Count is the number of customers in the segment.
func (s *Segment) Count() uint64 { return s.count }

// MRR is the members' total current MRR, in cents.
func (s *Segment) MRR() int64 { return s.mrr }

// ARR is 12 × MRR, in cents.
func (s *Segment) ARR() int64 { return 12 * s.mrr }

// Paying is the number of members with MRR > 0.
func (s *Segment) Paying() uint64 { return s.paying }

// ARPA is the average MRR per paying member (MRR / Paying, truncated), 0
// when nobody pays.
func (s *Segment) ARPA() int64 {
	if s.paying == 0 {
		return 0
	}
	return s.mrr / int64(s.paying)
}

// UnknownTags lists the tags named in the expression that no customer held
// when it was evaluated, in the order first named.
func (s *Segment) UnknownTags() []string { return slices.Clone(s.unknown) }

// IDs returns the members' dense IDs: a copy, safe to change.
func (s *Segment) IDs() *roaring.Bitmap { return s.ids.Clone() }

// Contains reports whether the customer with the UUID is a member. A
// customer deleted since the segment was evaluated is not.
func (s *Segment) Contains(uuid string) bool {
	found := false
	s.readFile(func(btx *bolt.Tx) error {
		v := btx.Bucket(bktUUID).Get([]byte(uuid))
		id, err := parseID(v)
		found = err == nil && s.ids.Contains(id)
		return nil
	})
	return found
}

// readFile runs fn with a bbolt transaction: the segment's own while the
// Tx it was made in is open, else a new one.
func (s *Segment) readFile(fn func(btx *bolt.Tx) error) error {
	if tx := s.tx; tx != nil && !tx.done && tx.btx != nil {
		return guard(s.ix.path, func() error { return fn(tx.btx) })
	}
	return s.ix.view(func(_ *state, btx *bolt.Tx) error { return fn(btx) })
}

// Customers yields the members in dense-ID order, read from the file as
// they are when yielded (tags and MRR may be newer than the segment);
// members deleted since are skipped. The loop body may call any method of
// the index.
func (s *Segment) Customers() iter.Seq[Customer] { return s.CustomersFrom(0) }

// CustomersFrom is Customers starting at the first member whose dense ID is
// at least id: a cursor for paging through a large segment.
func (s *Segment) CustomersFrom(id uint32) iter.Seq[Customer] {
	return func(yield func(Customer) bool) {
		it := s.ids.Iterator()
		it.AdvanceIfNeeded(id)
		buf := make([]uint32, 256)
		for {
			n := 0
			for ; n < len(buf) && it.HasNext(); n++ {
				buf[n] = it.Next()
			}
			if n == 0 {
				return
			}
			var batch []Customer
			err := s.readFile(func(btx *bolt.Tx) error {
				for _, id := range buf[:n] {
					if btx.Bucket(bktCust).Get(u32key(nil, id)) == nil {
						continue
					}
					r, err := readRecord(btx, s.ix.path, id)
					if err != nil {
						return err
					}
					mrr, err := storedMRR(btx, s.ix.path, id)
					if err != nil {
						return err
					}
					batch = append(batch, r.customer(mrr))
				}
				return nil
			})
			if err != nil {
				return
			}
			for _, c := range batch {
				if !yield(c) {
					return
				}
			}
		}
	}
}

// ---- tag statistics ----

// TagStat is one tag's share of a segment.
type TagStat struct {
	Tag       string
	Customers uint64 // members of the segment holding the tag
	MRR       int64  // their current MRR, cents
}

// TagStatsOptions select and order the tags TagStats reports.
type TagStatsOptions struct {
	Prefix  string // only tags starting with it
	Limit   int    // at most this many (0 = all)
	ByCount bool   // sort by Customers instead of MRR
}

// memberDriven: TagStats walks the members' tag lists (the forward index)
// when the segment holds at most 1/memberDriven of the customers, and
// intersects every tag with the segment otherwise. A variable so that tests
// can force either way.
var memberDriven uint64 = 4

// tagStatsByMember counts, for each member of seg, each of its tags, through
// the forward index: work proportional to the members' tag assignments,
// not to the number of tags.
func (st *state) tagStatsByMember(seg *roaring.Bitmap, prefix string) []TagStat {
	f := st.forwardIndex()
	ids := seg.ToArray()
	w := min(runtime.GOMAXPROCS(0), len(ids)/4096+1)
	type part struct {
		n   []uint64
		mrr []int64
	}
	parts := make([]part, w)
	var wg sync.WaitGroup
	for p := range w {
		lo, hi := p*len(ids)/w, (p+1)*len(ids)/w
		wg.Go(func() {
			n, mrr := make([]uint64, len(f.names)), make([]int64, len(f.names))
			for _, id := range ids[lo:hi] {
				v := st.mrr.at(id)
				for _, t := range f.list(id) {
					n[t]++
					mrr[t] += v
				}
			}
			parts[p] = part{n, mrr}
		})
	}
	wg.Wait()
	out := []TagStat{}
	for t, name := range f.names {
		var s TagStat
		for _, p := range parts {
			s.Customers += p.n[t]
			s.MRR += p.mrr[t]
		}
		if s.Customers > 0 && strings.HasPrefix(name, prefix) {
			s.Tag = name
			out = append(out, s)
		}
	}
	return out
}

// forward is the forward index: each customer's tags as tag numbers, in
// CSR form (off, tags) as built, plus the lists of customers changed since
// (more). Built on the first TagStats that needs it; each state derived
// from one that has it gets a copy that shares the CSR arrays and follows
// small batches; large batches drop it.
type forward struct {
	names []string          // tag number → tag
	nums  map[string]uint32 // tag → tag number; read and written by builders and the writer only
	off   []uint32          // customer ID → start in tags; len = IDs at build + 1
	tags  []uint32
	more  cowMap[uint32, []uint32]
}

func newMore() cowMap[uint32, []uint32] {
	return newCowMap[uint32, []uint32](func(id uint32) uint8 { return uint8((id * 0x9E3779B1) >> 24) })
}

func (f *forward) list(id uint32) []uint32 {
	if l, ok := f.more.get(id); ok {
		return l
	}
	if int(id)+1 < len(f.off) {
		return f.tags[f.off[id]:f.off[id+1]]
	}
	return nil
}

// num returns the number of a tag, giving it the next one if it has none.
func (f *forward) num(tag string) uint32 {
	if n, ok := f.nums[tag]; ok && int(n) < len(f.names) && f.names[n] == tag {
		return n
	}
	n := uint32(len(f.names))
	f.names = append(f.names, tag)
	f.nums[tag] = n
	return n
}

// forwardIndex returns the forward index of st, building it from the tag
// bitmaps if needed; one build at a time, and readers that find it built
// take no lock.
func (st *state) forwardIndex() *forward {
	if f := st.fwd.Load(); f != nil {
		return f
	}
	st.fwdMu.Lock()
	defer st.fwdMu.Unlock()
	if f := st.fwd.Load(); f != nil {
		return f
	}
	n := st.nextID
	f := &forward{nums: make(map[string]uint32, st.tags.len()), off: make([]uint32, n+1), more: newMore()}
	bms := make([]*roaring.Bitmap, 0, st.tags.len())
	for t, bm := range st.tags.all() {
		f.num(t)
		bms = append(bms, bm)
	}
	for _, bm := range bms { // count, then place
		bm.Iterate(func(id uint32) bool { f.off[id+1]++; return true })
	}
	for i := 1; i < len(f.off); i++ {
		f.off[i] += f.off[i-1]
	}
	f.tags = make([]uint32, f.off[n])
	pos := slices.Clone(f.off[:n])
	for t, bm := range bms {
		bm.Iterate(func(id uint32) bool {
			f.tags[pos[id]] = uint32(t)
			pos[id]++
			return true
		})
	}
	st.fwd.Store(f)
	return f
}

// derive returns the forward index after a batch's tag changes, sharing
// what did not change; nil when the batch is large enough that a new build
// is cheaper. f is not changed.
func (f *forward) derive(deltas map[bmKey]*bmDelta) *forward {
	changed := 0
	for k, d := range deltas {
		if k.kind == bkTag {
			changed += int(d.add.GetCardinality() + d.del.GetCardinality())
		}
	}
	if changed == 0 {
		return f
	}
	if f.more.len()+changed > len(f.off)/8+1024 {
		return nil // cheaper to build again when next needed
	}
	nf := *f
	more := f.more.edit()
	for k, d := range deltas {
		if k.kind != bkTag {
			continue
		}
		t := nf.num(k.name)
		get := func(id uint32) []uint32 {
			if l, ok := more.get(id); ok {
				return l
			}
			return f.list(id)
		}
		d.add.Iterate(func(id uint32) bool {
			if l := get(id); !slices.Contains(l, t) {
				more.set(id, append(slices.Clip(l), t))
			}
			return true
		})
		d.del.Iterate(func(id uint32) bool {
			more.set(id, slices.DeleteFunc(slices.Clone(get(id)), func(x uint32) bool { return x == t }))
			return true
		})
	}
	nf.more = more.done()
	return &nf
}

// gatherFactor weighs summing MRR member by member against the bit planes
// in TagStats (a variable so that tests can force either way).
var gatherFactor uint64 = 20

// smallTag is the size up to which a tag's figures are gathered member by
// member rather than with one AndCardinality per MRR bit plane.
const smallTag = 128

// TagStats reports, for every tag that members of the segment e hold, how
// many members hold it and their total current MRR. The result is exact,
// sorted by MRR descending (ByCount: by Customers), then by the other
// figure descending, then by tag ascending, and cut to opt.Limit.
//
// For a segment of at most a quarter of the customers it walks the
// members' tag lists (a forward index, built from the bitmaps by the first
// TagStats that needs it, about 4 bytes per tag assignment, kept up to date
// by small write batches and dropped by large ones). For a larger segment
// it goes tag by tag: it intersects the segment with each MRR bit plane
// once, and a tag's MRR is then the weighted sum of its AndCardinality with
// each of those (or the sum of its members' MRR, when they are few). Both
// spread over GOMAXPROCS goroutines.
func (tx *Tx) TagStats(e Expr, opt TagStatsOptions) (out []TagStat, err error) {
	ix := tx.ix
	if opt.Limit < 0 {
		return nil, fmt.Errorf("tagseg: tag stats: negative limit %d: %w", opt.Limit, ErrInvalid)
	}
	err = tx.run(func(st *state, btx *bolt.Tx) error {
		ev := &evaluator{ix: ix, st: st, btx: btx}
		v, err := ev.eval(e)
		if err != nil {
			return err
		}
		seg := v.bm
		if seg.IsEmpty() {
			out = []TagStat{}
			return nil
		}
		if seg.GetCardinality()*memberDriven <= uint64(st.nextID) {
			out = st.tagStatsByMember(seg, opt.Prefix)
			return nil
		}
		segPlanes := make([]*roaring.Bitmap, len(st.planes))
		for i, p := range st.planes {
			segPlanes[i] = roaring.And(seg, p)
		}
		type tb struct {
			tag string
			bm  *roaring.Bitmap
		}
		var tags []tb
		for t, bm := range st.tags.all() {
			if strings.HasPrefix(t, opt.Prefix) {
				tags = append(tags, tb{t, bm})
			}
		}
		chunks := uint64(st.nextID>>16) + 1
		stats := make([]TagStat, len(tags))
		parallel(len(tags), func(i int) {
			t := tags[i]
			s := TagStat{Tag: t.tag}
			if t.bm.GetCardinality() <= smallTag && gatherFactor > 0 {
				t.bm.Iterate(func(id uint32) bool {
					if seg.Contains(id) {
						s.Customers++
						s.MRR += st.mrr.at(id)
					}
					return true
				})
			} else if s.Customers = seg.AndCardinality(t.bm); s.Customers > 0 {
				// Summing the members' MRR one by one costs a few ns a
				// member; a plane costs an intersection per chunk.
				if s.Customers < gatherFactor*uint64(len(segPlanes))*min(chunks, t.bm.GetCardinality()) {
					both := roaring.And(seg, t.bm)
					it := both.ManyIterator()
					buf := make([]uint32, 1024)
					for n := it.NextMany(buf); n > 0; n = it.NextMany(buf) {
						for _, id := range buf[:n] {
							s.MRR += st.mrr.at(id)
						}
					}
				} else {
					for j, p := range segPlanes {
						s.MRR += int64(p.AndCardinality(t.bm)) << j
					}
				}
			}
			stats[i] = s
		})
		out = slices.DeleteFunc(stats, func(s TagStat) bool { return s.Customers == 0 })
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b TagStat) int {
		x, y := cmp.Compare(b.MRR, a.MRR), cmp.Compare(b.Customers, a.Customers)
		if opt.ByCount {
			x, y = y, x
		}
		if x != 0 {
			return x
		}
		if y != 0 {
			return y
		}
		return strings.Compare(a.Tag, b.Tag)
	})
	if opt.Limit > 0 && len(out) > opt.Limit {
		out = out[:opt.Limit:opt.Limit]
	}
	return out, nil
}

// parallel calls fn(0..n-1) on up to GOMAXPROCS goroutines and returns
// when all calls have.
func parallel(n int, fn func(i int)) {
	w := min(runtime.GOMAXPROCS(0), n/64+1)
	if w <= 1 {
		for i := range n {
			fn(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range w {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				fn(i)
			}
		})
	}
	wg.Wait()
}

// ---- MRR series ----

// Interval is the length of the intervals of a Series. Intervals are UTC and
// whole: days, ISO weeks from Monday, calendar months, quarters from
// January, years.
type Interval int

// The intervals of a Series.
const (
	Day Interval = iota
	Week
	Month
	Quarter
	Year
)

// String returns the interval's name: "day", "week", "month", "quarter" or
// "year".
func (iv Interval) String() string {
	switch iv {
	case Day:
		return "day"
	case Week:
		return "week"
	case Month:
		return "month"
	case Quarter:
		return "quarter"
	case Year:
		return "year"
	}
	return fmt.Sprintf("Interval(%d)", int(iv))
}

// ParseInterval reads an interval name as String writes it.
func ParseInterval(s string) (Interval, error) {
	for iv := Day; iv <= Year; iv++ {
		if strings.EqualFold(s, iv.String()) {
			return iv, nil
		}
	}
	return 0, fmt.Errorf("tagseg: unknown interval %q (want day, week, month, quarter or year): %w", s, ErrInvalid)
}

// start returns the start of the interval holding t.
func (iv Interval) start(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	switch iv {
	case Day:
		return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	case Week:
		day := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
		return day.AddDate(0, 0, -((int(day.Weekday()) + 6) % 7))
	case Month:
		return time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)
	case Quarter:
		return time.Date(y, m-(m-1)%3, 1, 0, 0, 0, 0, time.UTC)
	}
	return time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC)
}

// next returns the start of the interval after the one starting at s.
func (iv Interval) next(s time.Time) time.Time {
	switch iv {
	case Day:
		return s.AddDate(0, 0, 1)
	case Week:
		return s.AddDate(0, 0, 7)
	case Month:
		return s.AddDate(0, 1, 0)
	case Quarter:
		return s.AddDate(0, 3, 0)
	}
	return s.AddDate(1, 0, 0)
}

// Point is one interval of a Series: the segment's MRR figures at its end
// and the MRR movements of the events inside it.
type Point struct {
	Start, End   time.Time // the interval [Start, End), UTC
	MRR          int64     // at End: the value after every event before End
	Customers    uint64    // members with MRR > 0 at End
	ARPA, ARR    int64     // MRR / Customers (truncated, 0 if none); 12 × MRR
	NewBusiness  int64     // movements of events in [Start, End), cents:
	Expansion    int64     //   0 → x for a customer never paid before: +x (NewBusiness),
	Contraction  int64     //   0 → x after a churn: +x (Reactivation), x → 0: −x (Churn),
	Churn        int64     //   x → y > x: +(y−x), x → 0 < y < x: −(x−y).
	Reactivation int64     // So MRR(End) − MRR(Start) is the sum of the five.
}

// maxPoints bounds the length of a Series.
const maxPoints = 100_000

// seriesAcc accumulates the movements of one interval.
type seriesAcc struct {
	mov    [5]int64 // new business, expansion, contraction, churn, reactivation
	paying int64    // change in the number of paying customers
}

const (
	mvNew = iota
	mvExpansion
	mvContraction
	mvChurn
	mvReactivation
)

// Series returns the MRR figures and movements of the segment e for every
// interval that intersects the closed range [from, to], in order. Points
// are whole intervals, not clipped to [from, to]: a to exactly on a
// boundary includes the interval starting there.
//
// Membership is today's: e picks the customers by their current tags and
// fields, and the series sums their whole MRR history (as ChartMogul's
// segment filters do). Whether a 0 → x change is new business or a
// reactivation depends on the customer's history before it, from before
// from included.
//
// from after to, an unknown interval, or more than 100,000 points gives
// ErrInvalid.
//
// The work is one pass over the members' event histories, held in memory
// as arrays, split over GOMAXPROCS goroutines; no file access.
func (tx *Tx) Series(e Expr, from, to time.Time, every Interval) ([]Point, error) {
	ix := tx.ix
	if every < Day || every > Year {
		return nil, fmt.Errorf("tagseg: series: unknown interval %d: %w", int(every), ErrInvalid)
	}
	if from.After(to) {
		return nil, fmt.Errorf("tagseg: series: from %v is after to %v: %w", from, to, ErrInvalid)
	}
	for _, t := range []time.Time{from, to} {
		if y := t.UTC().Year(); y < 1678 || y > 2261 {
			return nil, fmt.Errorf("tagseg: series: time %v out of range (years 1678–2261): %w", t, ErrInvalid)
		}
	}
	// Interval boundaries: bounds[i] is the start of point i, bounds[n] the
	// end of the last.
	var bounds []time.Time
	for s := every.start(from); !s.After(to); s = every.next(s) {
		if len(bounds) == maxPoints {
			return nil, fmt.Errorf("tagseg: series: more than %d %ss from %v to %v: %w", maxPoints, every, from, to, ErrInvalid)
		}
		bounds = append(bounds, s)
	}
	bounds = append(bounds, every.next(bounds[len(bounds)-1]))
	if bounds[len(bounds)-1].Year() > 2261 {
		return nil, fmt.Errorf("tagseg: series: range beyond the year 2261: %w", ErrInvalid)
	}
	nanos := make([]int64, len(bounds))
	for i, b := range bounds {
		nanos[i] = b.UnixNano()
	}
	n := len(bounds) - 1

	var open seriesAcc // everything before bounds[0]
	var open0 int64    // MRR at bounds[0]
	accs := make([]seriesAcc, n)
	err := tx.run(func(st *state, btx *bolt.Tx) error {
		ev := &evaluator{ix: ix, st: st, btx: btx}
		v, err := ev.eval(e)
		if err != nil {
			return err
		}
		ids := v.bm.ToArray()
		loc := newLocator(nanos)
		w := min(runtime.GOMAXPROCS(0), len(ids)/4096+1)
		parts := make([]struct {
			open  seriesAcc
			open0 int64
			accs  []seriesAcc
		}, w)
		var wg sync.WaitGroup
		for p := range w {
			part := &parts[p]
			part.accs = make([]seriesAcc, n)
			lo, hi := p*len(ids)/w, (p+1)*len(ids)/w
			wg.Go(func() {
				for _, id := range ids[lo:hi] {
					replay(st.hist.at(id), loc, &part.open, &part.open0, part.accs)
				}
			})
		}
		wg.Wait()
		for _, part := range parts {
			open.paying += part.open.paying
			open0 += part.open0
			for i := range accs {
				accs[i].paying += part.accs[i].paying
				for k := range accs[i].mov {
					accs[i].mov[k] += part.accs[i].mov[k]
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]Point, n)
	mrr, paying := open0, open.paying
	for i, a := range accs {
		for _, m := range a.mov {
			mrr += m
		}
		paying += a.paying
		p := Point{
			Start: bounds[i], End: bounds[i+1],
			MRR: mrr, Customers: uint64(paying), ARR: 12 * mrr,
			NewBusiness: a.mov[mvNew], Expansion: a.mov[mvExpansion], Contraction: a.mov[mvContraction],
			Churn: a.mov[mvChurn], Reactivation: a.mov[mvReactivation],
		}
		if paying > 0 {
			p.ARPA = mrr / paying
		}
		out[i] = p
	}
	return out, nil
}

// locator finds the interval of an instant: through a table by whole days
// from the first boundary when the range is not too long (boundaries are
// whole UTC days), else by binary search.
type locator struct {
	nanos []int64
	byDay []int32 // interval of each day since nanos[0], or nil
}

const dayNanos = int64(24 * time.Hour)

func newLocator(nanos []int64) *locator {
	l := &locator{nanos: nanos}
	// The span in uint64: from 1678 to 2262 it exceeds MaxInt64.
	days := (uint64(nanos[len(nanos)-1]) - uint64(nanos[0])) / uint64(dayNanos)
	if days <= 1<<16 {
		l.byDay = make([]int32, days)
		i := int32(0)
		for d := range l.byDay {
			for nanos[i+1] <= nanos[0]+int64(d)*dayNanos {
				i++
			}
			l.byDay[d] = i
		}
	}
	return l
}

// interval returns i with nanos[i] <= at < nanos[i+1]; at must be in range.
func (l *locator) interval(at int64) int {
	if l.byDay != nil {
		return int(l.byDay[(at-l.nanos[0])/dayNanos])
	}
	i, found := slices.BinarySearch(l.nanos, at)
	if !found {
		i--
	}
	return i
}

// replay walks one customer's history: events before the first boundary go
// into open (and the MRR there into open0), events in interval i into
// accs[i]; later ones are not needed.
func replay(h []mrrEvent, loc *locator, open *seriesAcc, open0 *int64, accs []seriesAcc) {
	var prev int64
	paid := false
	nanos := loc.nanos
	end := nanos[len(nanos)-1]
	for _, e := range h {
		if e.at >= end {
			break
		}
		cur := e.cents
		if cur == prev {
			continue
		}
		var kind int
		switch {
		case prev == 0:
			kind = mvNew
			if paid {
				kind = mvReactivation
			}
		case cur == 0:
			kind = mvChurn
		case cur > prev:
			kind = mvExpansion
		default:
			kind = mvContraction
		}
		var dp int64
		if prev == 0 {
			dp = 1
		} else if cur == 0 {
			dp = -1
		}
		if e.at < nanos[0] {
			*open0 += cur - prev
			open.paying += dp
		} else {
			i := loc.interval(e.at)
			accs[i].mov[kind] += cur - prev
			accs[i].paying += dp
		}
		prev = cur
		if cur > 0 {
			paid = true
		}
	}
}

// ---- the Index's reads, each on one snapshot ----

// Segment evaluates e on the latest snapshot. An unknown field, or a value
// of the wrong type for its field, gives ErrInvalidField; an unknown tag
// is an empty set (see Segment.UnknownTags).
func (ix *Index) Segment(e Expr) (seg *Segment, err error) {
	err = ix.viewExpr(e, func(tx *Tx) error { seg, err = tx.Segment(e); return err })
	return seg, err
}

// Count returns the number of customers e selects: Segment(e).Count()
// without building the member set or summing MRR.
func (ix *Index) Count(e Expr) (n uint64, err error) {
	err = ix.viewExpr(e, func(tx *Tx) error { n, err = tx.Count(e); return err })
	return n, err
}

// TagStats reports, for every tag that members of the segment e hold, how
// many members hold it and their total current MRR; see Tx.TagStats.
func (ix *Index) TagStats(e Expr, opt TagStatsOptions) (out []TagStat, err error) {
	err = ix.viewExpr(e, func(tx *Tx) error { out, err = tx.TagStats(e, opt); return err })
	return out, err
}

// Series returns the MRR series of the segment e; see Tx.Series.
func (ix *Index) Series(e Expr, from, to time.Time, every Interval) (out []Point, err error) {
	err = ix.viewExpr(e, func(tx *Tx) error { out, err = tx.Series(e, from, to, every); return err })
	return out, err
}

// viewExpr runs fn in a read-only Tx on the latest snapshot, with a bbolt
// read transaction only when e needs customer records (string fields kept
// only there): most reads touch memory alone.
func (ix *Index) viewExpr(e Expr, fn func(tx *Tx) error) error {
	if needsRecords(e) {
		return ix.View(fn)
	}
	return ix.read(func(st *state) error {
		tx := &Tx{ix: ix, st: st}
		defer func() { tx.done = true }()
		return fn(tx)
	})
}

// needsRecords reports whether evaluating e reads customer records.
func needsRecords(e Expr) bool {
	n := e.n
	if n == nil {
		return false
	}
	if n.kind == kWhere {
		if k, _ := fieldKind(n.field); k == 's' {
			return true
		}
	}
	for _, k := range n.kids {
		if needsRecords(k) {
			return true
		}
	}
	return false
}

// run runs fn on the transaction's view: its snapshot, with the batch's
// own writes applied in an Update.
func (tx *Tx) run(fn func(st *state, btx *bolt.Tx) error) error {
	if err := tx.check(); err != nil {
		return err
	}
	return fn(tx.snapshot(), tx.btx)
}
