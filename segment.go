package tagseg

import (
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"iter"
	"math"
	"math/bits"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/RoaringBitmap/roaring/v2"
	bolt "go.etcd.io/bbolt"
)

// ---- evaluation ----
//
// Evaluation of an Expr on one snapshot: in place on one private copy,
// starting from the smallest operand, roaring's AndCardinality for the last
// step of a count. Fields kept only in customer records (email, name,
// company, external_id) are read through the bbolt transaction of the
// same commit.

// evaluator computes the members of an expression over one consistent
// state: the committed in-memory state and a bbolt read transaction, or a
// write batch's view of them.
type evaluator struct {
	ctx context.Context // nil: context.Background
	ix  *Index
	st  *state
	btx *bolt.Tx
	// get reads an entry of the uuid or ext bucket as a write batch sees
	// it (Tx.get: its pending entries, then btx); nil outside a batch. The
	// batch's other writes are in st, its view (Tx.snapshot).
	get     func(bucket, key []byte) []byte
	unknown []string
	seen    map[string]bool // the tags in unknown
	// unknownFields lists the custom attributes named that no customer
	// holds (Segment.UnknownFields).
	unknownFields []string
	// today is the day relative dates resolve against (see day); zero
	// until the first one.
	today time.Time
	// univ, when set, restricts the evaluation to these IDs (see evalOn):
	// every set the evaluator makes is within univ, and each leaf costs
	// about |univ|, not the number of customers. Only outside a batch.
	univ *roaring.Bitmap
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

// bitmap returns bitmap k as the evaluation sees it: within univ when set.
func (ev *evaluator) bitmap(k bmKey) val { return ev.restrict(ev.stored(k)) }

// stored returns bitmap k of the state, whole.
func (ev *evaluator) stored(k bmKey) val {
	b := ev.st.get(k)
	if b == nil {
		return val{roaring.New(), true}
	}
	return val{b, false}
}

// restrict returns v within univ (v itself when there is none).
func (ev *evaluator) restrict(v val) val {
	if ev.univ == nil {
		return v
	}
	if v.owned {
		v.bm.And(ev.univ)
		return v
	}
	return val{roaring.And(v.bm, ev.univ), true}
}

func (ev *evaluator) live() val { return ev.bitmap(bmKey{bkLive, ""}) }

func (ev *evaluator) tag(name string) val {
	name = tagName(name)
	v := ev.stored(bmKey{bkTag, name})
	if v.bm.IsEmpty() && !ev.seen[name] { // a map: a query may name 100,000 tags
		if ev.seen == nil {
			ev.seen = map[string]bool{}
		}
		ev.seen[name] = true
		ev.unknown = append(ev.unknown, name)
	}
	return ev.restrict(v)
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
	case kTagPrefix:
		return ev.tagPrefix(n.tags[0]), nil
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

func (ev *evaluator) where(n *node) (val, error) {
	f := lookupField(n.field)
	if f == nil {
		return val{}, fmt.Errorf("tagseg: unknown field %q: %w", n.field, ErrInvalidField)
	}
	if n.op < Eq || n.op > Prefix {
		return val{}, fmt.Errorf("tagseg: field %s: unknown operator %v: %w", n.field, n.op, ErrInvalidField)
	}
	bad := func(want string) (val, error) {
		return val{}, fmt.Errorf("tagseg: field %s wants %s, not %T %v: %w", n.field, want, n.value, n.value, ErrInvalidField)
	}
	if _, ok := n.value.(string); n.op == Prefix && (!ok || f.typ != ftString && f.typ != ftCustom) {
		return bad("a string to be a prefix of (prefixes are for text fields)")
	}
	switch f.index {
	case ixBitmap:
		s, ok := n.value.(string)
		if !ok {
			return bad("a string")
		}
		return ev.eqField(n.field, n.op, s), nil
	case ixSorted:
		s, ok := n.value.(string)
		if !ok {
			return bad("a string")
		}
		if ev.univ != nil && ev.live().bm.IsEmpty() {
			return val{roaring.New(), true}, nil
		}
		if ev.btx == nil {
			return val{}, fmt.Errorf("tagseg: field %s is read from the customer records, and this evaluation has none: %w", n.field, ErrInvalid)
		}
		return ev.sorted(f, n.op, s)
	case ixColumn:
		t, ok := asTime(n.value)
		if r, rel := relDateOf(n.value); rel {
			t, ok = r.on(ev.day()), true
		}
		if !ok {
			return bad("a time (time.Time, RFC 3339 or a relative date such as now-30d)")
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
		return ev.colCompare(f.col, n.op, q, true), nil
	case ixMRR, ixARR:
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
		if f.index == ixARR {
			return ev.arrCompare(n.op, c), nil
		}
		return ev.mrrCompare(n.op, c), nil
	case ixCustom:
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
	case Prefix:
		return ev.eqMatch(field, func(v string) bool { return strings.HasPrefix(v, s) })
	}
	return ev.eqMatch(field, func(v string) bool { return compare(v, op, s) })
}

// custom compares a custom attribute, held as one bitmap per value, with
// q: Eq looks up the values equal to q in each type it converts to exactly,
// the other operators go through the attribute's values. NotEq is every
// live customer but the Eq ones, so customers without it match.
func (ev *evaluator) custom(field string, op Op, q any) val {
	ev.knownField(field)
	switch op {
	case Eq:
		var vs []val
		for _, c := range eqCandidates(q) {
			vs = append(vs, ev.bitmap(eqKey(field, customEq(c))))
		}
		return union(vs)
	case NotEq:
		return ev.intersect(nil, []val{ev.custom(field, Eq, q)})
	case Prefix:
		p := "s" + q.(string) // a string value (see customEq)
		return ev.eqMatch(field, func(v string) bool { return strings.HasPrefix(v, p) })
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

// knownField notes a custom attribute no customer holds in the snapshot
// (nor the batch): Segment.UnknownFields lists it, as UnknownTags does an
// unknown tag.
func (ev *evaluator) knownField(field string) {
	if ev.st.eq[field].len() > 0 || slices.Contains(ev.unknownFields, field) {
		return
	}
	ev.unknownFields = append(ev.unknownFields, field)
}

// tagPrefix selects the holders of every tag starting with p (TagPrefix);
// a prefix no tag has is listed with the unknown tags as "p*".
func (ev *evaluator) tagPrefix(p string) val {
	p = strings.TrimLeftFunc(p, unicode.IsSpace)
	if utf8.ValidString(p) {
		p = nfc(p)
	}
	var vs []val
	seen := map[string]bool{}
	consider := func(t string) {
		if !seen[t] && strings.HasPrefix(t, p) {
			seen[t] = true
			if v := ev.stored(bmKey{bkTag, t}); !v.bm.IsEmpty() {
				vs = append(vs, ev.restrict(v))
			}
		}
	}
	names := ev.st.tags.sorted() // by binary search: costs what it finds
	i, _ := slices.BinarySearch(names, p)
	for _, t := range names[i:] {
		if !strings.HasPrefix(t, p) {
			break
		}
		consider(t)
	}
	if len(vs) == 0 && !ev.seen[p+"*"] {
		if ev.seen == nil {
			ev.seen = map[string]bool{}
		}
		ev.seen[p+"*"] = true
		ev.unknown = append(ev.unknown, p+"*")
	}
	return union(vs)
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
	if v, ok := ev.eqMatchRecords(field, match); ok {
		return v
	}
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
	return union(vs)
}

// eqMatchRecords is eqMatch in a restricted evaluation with few IDs and
// a field of many values: it reads the values from the IDs' records
// instead of going through every value. ok is false when it does not
// apply (or a record cannot be read: eqMatch then answers from memory).
func (ev *evaluator) eqMatchRecords(field string, match func(v string) bool) (val, bool) {
	if ev.univ == nil || ev.btx == nil {
		return val{}, false
	}
	cand := ev.live().bm
	if cand.GetCardinality()*recordCost >= uint64(ev.st.eq[field].len()) {
		return val{}, false
	}
	key, custom := strings.CutPrefix(field, "custom.")
	out := roaring.New()
	for it := cand.Iterator(); it.HasNext(); {
		r, err := readRecord(ev.btx, ev.ix.path, it.Next())
		if err != nil {
			return val{}, false
		}
		var v string
		if custom {
			x, ok := r.c.Custom[key]
			if !ok {
				continue
			}
			v = customEq(x)
		} else {
			v = eqValue(&r.c, field)
		}
		if match(v) {
			out.Add(r.id)
		}
	}
	return val{out, true}, true
}

// recordCost is about how many in-memory steps (a value compared, a map
// read) reading one customer record costs.
const recordCost = 40

// email selects the customers with an email (any case), through the
// in-memory hash table, checked against their records.
func (ev *evaluator) email(email string) (val, error) {
	// A batch's own emails are in its view's column and in the table (see
	// Tx.setCol).
	rs, err := byEmail(ev.btx, "", email, ev.ix.emails.candidates(ev.st, emailHash(email), ev.btx.Writable()), ev.st.nextID)
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
	return val{out, true}
}

// sorted compares a field of the string index (ixSorted): Eq and NotEq
// through the field's direct lookup when it has one (email, external_id),
// the rest through the index, or, for a reader on a snapshot older than
// the index, by reading the records. NotEq is every live customer but the
// Eq ones.
func (ev *evaluator) sorted(f *field, op Op, s string) (val, error) {
	if op == Prefix {
		if f.lower {
			s = lower(s)
		}
		if ev.useIndex(f) {
			if v, ok, err := ev.sortedCompare(f, prefixRange(s)); ok || err != nil {
				return v, err
			}
		}
		return ev.scanField(f, func(v string) bool { return strings.HasPrefix(v, s) })
	}
	if op == NotEq {
		eq, err := ev.sorted(f, Eq, s)
		if err != nil {
			return val{}, err
		}
		return ev.intersect(nil, []val{eq}), nil
	}
	if f.eq != nil && op == Eq {
		if v, ok, err := f.eq(ev, s); ok || err != nil {
			return v, err
		}
	}
	if f.lower {
		s = lower(s)
	}
	if ev.useIndex(f) {
		if v, ok, err := ev.sortedCompare(f, opRange(op, s)); ok || err != nil {
			return v, err
		}
	}
	return ev.scanField(f, func(v string) bool { return compare(v, op, s) })
}

// useIndex reports whether a comparison of f goes through the string
// index. A restricted evaluation (evalOn, in the writer's commit) never
// builds it, and reads its few candidates' records rather than a range of
// millions.
func (ev *evaluator) useIndex(f *field) bool {
	if ev.univ == nil {
		return true
	}
	return ev.st.strx[f.slot].Load() != nil && ev.live().bm.GetCardinality()*2 >= uint64(ev.st.nextID)
}

// scanField selects the customers whose value of a string field of the
// index (ixSorted) keep accepts, by reading the records: the candidates' in
// a restricted evaluation (evalOn), else every record — only for a reader
// on a snapshot older than the field's index (see sortedIndex).
func (ev *evaluator) scanField(f *field, keep func(v string) bool) (val, error) {
	out := roaring.New()
	match := func(r *record) {
		if keep(f.strValue(&r.c)) {
			out.Add(r.id)
		}
	}
	if ev.univ != nil { // restricted: the candidates' records only, when fewer
		if cand := ev.live().bm; cand.GetCardinality()*2 < uint64(ev.st.nextID) {
			for it := cand.Iterator(); it.HasNext(); {
				r, err := readRecord(ev.btx, ev.ix.path, it.Next())
				if err != nil {
					return val{}, err
				}
				match(r)
			}
			return val{out, true}, nil
		}
	}
	c := ev.btx.Bucket(bktCust).Cursor()
	n := 0
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if n++; n%(cancelEvery*64) == 0 && ev.ctx != nil && ev.ctx.Err() != nil {
			return val{}, fmt.Errorf("tagseg: comparing %s: %w", f.name, ev.ctx.Err())
		}
		if len(k) != 4 {
			return val{}, fmt.Errorf("tagseg: bad customer key %s: %w", clipKey(k), ErrCorrupt)
		}
		r, err := openRecord(binary.BigEndian.Uint32(k), v)
		if err != nil {
			return val{}, fmt.Errorf("tagseg: customer %s: %v: %w", clipKey(k), err, ErrCorrupt)
		}
		match(r)
	}
	out.And(ev.live().bm)
	return val{out, true}, nil
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
	if ev.univ != nil { // restricted: the candidates' values
		out := roaring.New()
		for it := live.bm.Iterator(); it.HasNext(); {
			if id := it.Next(); compare(ev.st.mrr.at(id), op, c) {
				out.Add(id)
			}
		}
		return val{out, true}
	}
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
		// Every customer with a bit set above c's highest is greater:
		// one union of those (sparse) planes, taken out of eq at once.
		// Walking them one by one instead would turn eq's run containers
		// into bitmaps and back for each plane (most of the time at 10M).
		top := bits.Len64(uint64(c))
		gt = roaring.New()
		if top < len(planes) {
			gt = roaring.FastOr(planes[top:]...)
			gt.And(live.bm) // as eq below: within the live set (and the batch's)
		}
		eq, lt = live.own(), roaring.New()
		eq.AndNot(gt)
		for i := top - 1; i >= 0 && !eq.IsEmpty(); i-- {
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
	link    *txLink // the transaction it was made in, while that runs
	ids     *roaring.Bitmap
	count   uint64
	unknown []string
	// unknownFields: the custom attributes named that no customer held.
	unknownFields []string

	// The sums, made on the first call that needs them (a page of
	// customers does not): from the MRR planes and paying set of the
	// state the segment was evaluated in, which are never changed.
	sums      sync.Once
	planes    []*roaring.Bitmap
	payingSet *roaring.Bitmap
	paying    uint64
	mrr       int64

	// mrrPlanes and mrrCol are the MRR planes and column of that state,
	// for ReadCustomersByMRR (kept after the sums drop planes).
	mrrPlanes []*roaring.Bitmap
	mrrCol    column[int64]
}

// Segment evaluates e. An unknown field, or a value of the wrong type for
// its field, gives ErrInvalidField; an unknown tag is an empty set (see
// Segment.UnknownTags).
func (tx *Tx) Segment(e Expr) (seg *Segment, err error) {
	return tx.SegmentContext(context.Background(), e)
}

// SegmentContext is Segment, given up when ctx is done: the one long part
// of an evaluation, the first comparison of a string field after Open
// (name, company, email ranges, ...), which builds the field's index from
// the records, stops and returns ctx's error, wrapped.
func (tx *Tx) SegmentContext(ctx context.Context, e Expr) (seg *Segment, err error) {
	ix := tx.ix
	if a := tx.answers(); a != nil {
		ok := false
		err := tx.read(func() (err error) { seg, ok, err = a.segment(ctx, tx, e); return err })
		if ok || err != nil {
			return seg, err
		}
	}
	err = tx.run(func(st *state, btx *bolt.Tx) error {
		ev := &evaluator{ctx: ctx, ix: ix, st: st, btx: btx}
		v, err := ev.eval(e)
		if err != nil {
			return err
		}
		seg = newSegment(ix, st, v.own(), ev.unknown)
		seg.unknownFields = ev.unknownFields
		seg.link = tx.segLink()
		return nil
	})
	return seg, err
}

// Count returns the number of customers e selects: Segment(e).Count()
// without building the member set or summing MRR. The last intersection
// (or difference) of a top-level And is an AndCardinality.
func (tx *Tx) Count(e Expr) (n uint64, err error) {
	return tx.CountContext(context.Background(), e)
}

// CountContext is Count, given up when ctx is done; see SegmentContext.
func (tx *Tx) CountContext(ctx context.Context, e Expr) (n uint64, err error) {
	ix := tx.ix
	if a := tx.answers(); a != nil {
		ok := false
		err := tx.read(func() (err error) { n, ok, err = a.count(ctx, tx, e); return err })
		if ok || err != nil {
			return n, err
		}
	}
	err = tx.run(func(st *state, btx *bolt.Tx) error {
		ev := &evaluator{ctx: ctx, ix: ix, st: st, btx: btx}
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
	return &Segment{ix: ix, ids: ids, count: ids.GetCardinality(), unknown: unknown, planes: st.planes, payingSet: st.paying, mrrPlanes: st.planes, mrrCol: st.mrr}
}

// sum makes the paying count and the MRR sum, once.
func (s *Segment) sum() {
	s.sums.Do(func() {
		if s.count > 0 {
			s.paying = s.ids.AndCardinality(s.payingSet)
			s.mrr = sumPlanes(s.ids, s.planes)
		}
		s.planes, s.payingSet = nil, nil
	})
}

// sumPlanes is the sum of the values of ids in the bit-sliced index
// planes. The work is reading the planes (over a megabyte each at 10M
// customers), so a large set splits them among up to GOMAXPROCS
// goroutines.
func sumPlanes(ids *roaring.Bitmap, planes []*roaring.Bitmap) int64 {
	w := min(runtime.GOMAXPROCS(0), len(planes), int(ids.GetCardinality()/memberRun)+1)
	sums := make([]int64, w)
	var wg sync.WaitGroup
	for p := range w {
		wg.Go(func() {
			for i := p; i < len(planes); i += w {
				sums[p] += int64(ids.AndCardinality(planes[i])) << i
			}
		})
	}
	wg.Wait()
	var sum int64
	for _, s := range sums {
		sum += s
	}
	return sum
}

// Count is the number of customers in the segment.
func (s *Segment) Count() uint64 { return s.count }

// MRR is the members' total current MRR, in cents. The first call of MRR,
// ARR, Paying or ARPA sums it (a few milliseconds at 10M customers); a
// segment only counted or paged through never does.
func (s *Segment) MRR() int64 { s.sum(); return s.mrr }

// ARR is 12 × MRR, in cents.
func (s *Segment) ARR() int64 { s.sum(); return 12 * s.mrr }

// Paying is the number of members with MRR > 0.
func (s *Segment) Paying() uint64 { s.sum(); return s.paying }

// ARPA is the average MRR per paying member (MRR / Paying, truncated), 0
// when nobody pays.
func (s *Segment) ARPA() int64 {
	s.sum()
	if s.paying == 0 {
		return 0
	}
	return s.mrr / int64(s.paying)
}

// UnknownTags lists the tags named in the expression that no customer held
// when it was evaluated, in the order first named; a tag prefix (TagPrefix)
// no tag started with is listed as "prefix*".
func (s *Segment) UnknownTags() []string { return slices.Clone(s.unknown) }

// UnknownFields lists the custom attributes named in the expression (as
// custom.KEY) that no customer held when it was evaluated, in the order
// first named: custom.seats > 10 selects nobody when no customer has a
// seats attribute, which is likely a typo or a key not imported yet, as an
// unknown tag is. Other fields are never unknown.
func (s *Segment) UnknownFields() []string { return slices.Clone(s.unknownFields) }

// IDs returns the members' dense IDs: a copy, safe to change.
func (s *Segment) IDs() *roaring.Bitmap { return s.ids.Clone() }

// Contains reports whether the customer with the UUID is a member. A
// customer deleted since the segment was evaluated is not.
func (s *Segment) Contains(uuid string) bool {
	found := false
	s.readTx(func(tx *Tx) error { // tx.get: an Update's own customers too
		v := tx.get(bktUUID, []byte(uuid))
		id, err := parseID(v)
		found = v != nil && err == nil && s.ids.Contains(id)
		return nil
	})
	return found
}

// Customers yields the members in dense-ID order, read from the file as
// they are when yielded (tags and MRR may be newer than the segment);
// members deleted since are skipped. The loop body may call any method of
// the index. A read error ends it; ReadCustomers reports it.
func (s *Segment) Customers() iter.Seq[Customer] { return s.CustomersFrom(0) }

// CustomersFrom is Customers starting at the first member whose dense ID is
// at least id: a cursor for paging through a large segment, O(page)
// wherever it starts. A read error (a damaged record, the index closed)
// ends it silently, as after Close; ReadCustomers, its fallible form,
// yields the error.
func (s *Segment) CustomersFrom(id uint32) iter.Seq[Customer] {
	return func(yield func(Customer) bool) {
		for c, err := range s.ReadCustomers(id) {
			if err != nil || !yield(c) {
				return
			}
		}
	}
}

// ---- the Index's reads, each on one snapshot ----

// Segment evaluates e on the latest snapshot. An unknown field, or a value
// of the wrong type for its field, gives ErrInvalidField; an unknown tag
// is an empty set (see Segment.UnknownTags).
func (ix *Index) Segment(e Expr) (seg *Segment, err error) {
	return ix.SegmentContext(context.Background(), e)
}

// SegmentContext is Segment, given up when ctx is done; see
// Tx.SegmentContext.
func (ix *Index) SegmentContext(ctx context.Context, e Expr) (seg *Segment, err error) {
	err = ix.viewExpr(e, func(tx *Tx) error { seg, err = tx.SegmentContext(ctx, e); return err })
	return seg, err
}

// Count returns the number of customers e selects: Segment(e).Count()
// without building the member set or summing MRR.
func (ix *Index) Count(e Expr) (n uint64, err error) {
	return ix.CountContext(context.Background(), e)
}

// CountContext is Count, given up when ctx is done; see Tx.SegmentContext.
func (ix *Index) CountContext(ctx context.Context, e Expr) (n uint64, err error) {
	err = ix.viewExpr(e, func(tx *Tx) error { n, err = tx.CountContext(ctx, e); return err })
	return n, err
}

// viewExpr runs fn in a read-only Tx on the latest snapshot, with a bbolt
// read transaction only when e needs customer records (string fields kept
// only there): most reads touch memory alone.
func (ix *Index) viewExpr(e Expr, fn func(tx *Tx) error) error {
	if needsRecords(e) {
		return ix.View(fn)
	}
	return ix.read(func(st *state) error {
		tx := &Tx{ix: ix, st: st, nextID: st.nextID}
		defer tx.end()
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
		if f := lookupField(n.field); f != nil && f.index == ixSorted {
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
	return tx.read(func() error { return fn(tx.snapshot(), tx.btx) })
}
