package tagseg

// Segment expressions: the Expr tree, its builders and Where. Parse (in
// query.go) builds the same trees from text; evaluation is in segment.go.

import (
	"fmt"
	"time"
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
	kTagPrefix // tag:X*: every tag starting with X
)

type node struct {
	kind  nodeKind
	tags  []string // kTag (one), kAnyTags, kAllTags, kTagPrefix (one: the prefix)
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
// ":" or "=", "!=", ">", ">=", "<" and "<=", and Prefix as ":" with a "*"
// after the value (name:Acme*).
const (
	Eq Op = iota
	NotEq
	Gt
	Gte
	Lt
	Lte
	// Prefix selects the customers whose value starts with the given
	// string: for the string fields (email, name, company, country, state,
	// city, zip, data_source, external_id) and custom attributes holding
	// strings. Email compares in any case.
	Prefix
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
	case Prefix:
		return ":*"
	}
	return fmt.Sprintf("Op(%d)", int(o))
}

// Tag selects the customers holding the tag. The name is trimmed of
// surrounding white space; a tag nobody holds selects nobody.
func Tag(name string) Expr { return Expr{&node{kind: kTag, tags: []string{name}}} }

// TagPrefix selects the customers holding a tag that starts with prefix
// (tag:feature-* in the query language): every feature-request tag, say.
// The prefix is compared with tags as they are kept (trimmed, NFC; see
// CheckTag), byte by byte. A prefix no tag starts with selects nobody, and
// Segment.UnknownTags lists it as "prefix*".
func TagPrefix(prefix string) Expr {
	return Expr{&node{kind: kTagPrefix, tags: []string{prefix}}}
}

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

// Where compares a field with a value. Fields are the query language's
// (Fields lists them): email, name, company, country, state, city, zip,
// data_source, external_id, mrr, arr, lead_created_at,
// free_trial_started_at and custom.KEY. The value may be a string, any
// integer type, float64, bool or time.Time; it must suit the field (mrr
// and arr take integers in cents; the dates take time.Time, an RFC 3339
// string, or a date relative to the current day, "now", "now-30d",
// "now+2w", "now-3m": days, weeks, months; see Parse). Prefix takes a
// string field or custom attribute and a string. An unknown field, an
// operator the field does not take, or a value of the wrong type makes
// Segment return an error wrapping ErrInvalidField.
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
