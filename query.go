package tagseg

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// maxDepth bounds how deeply a query may nest parentheses and NOTs, so that
// hostile input cannot exhaust the stack. Long flat chains such as
// "tag:a OR tag:b OR ..." do not nest and have no limit.
const maxDepth = 1000

// What a SyntaxError says was expected. Literal tokens are written in double
// quotes, classes of tokens in words.
const (
	expExpr       = "expression"
	expEnd        = "AND, OR or end of query"
	expClose      = `AND, OR or ")"`
	expColon      = `":"`
	expTagsFunc   = "any, all or none"
	expOpen       = `"("`
	expValueClose = `value or ")"`
	expCommaClose = `"," or ")"`
	expOperator   = "operator"
	expValue      = "value"
	expField      = "field"
	expInteger    = "integer"
	expInt64      = "64-bit integer"
	expFloat      = "number within float64 range"
	expTime       = "RFC 3339 date or time, or a relative date such as now-30d"
	expTimeRange  = "time within years 0000 to 9999 UTC"
	expQuote      = `closing '"'`
	expEscape     = `escape \" or \\`
	expDepth      = "at most 1000 nested parentheses and NOTs"
	expPrefix     = `AND, OR or end of query (a prefix "*" follows a tag or a text field's value after ":", "=" or "!=")`
	expListFunc   = "any, all or none"
)

// SyntaxError reports a malformed query. Parse returns every error as a
// *SyntaxError.
//
// An unknown field (for example "plan:pro" instead of "custom.plan:pro") is a
// syntax error whose Err is ErrInvalidField, so both
// errors.As(err, new(*SyntaxError)) and errors.Is(err, ErrInvalidField)
// hold for it; every other syntax error has a nil Err and unwraps to nothing.
type SyntaxError struct {
	Query    string // the query as given to Parse
	Offset   int    // byte offset in Query where the problem is, len(Query) at its end
	Expected string // what would have been valid there: `")"`, "value", "integer", "field", ...
	Found    string // the text found there (cut to about 40 bytes); "" at the end of the query
	Err      error  // ErrInvalidField for an unknown field, otherwise nil
}

// Error returns, for example,
//
//	tagseg: syntax error at offset 12: expected AND, OR or ")", found end of query
//	tagseg: syntax error at offset 0: expected field, found unknown field "plan"
func (e *SyntaxError) Error() string {
	found := "end of query"
	if e.Found != "" {
		found = strconv.Quote(e.Found)
	}
	if e.Err == ErrInvalidField {
		found = "unknown field " + found
	}
	return fmt.Sprintf("tagseg: syntax error at offset %d: expected %s, found %s", e.Offset, e.Expected, found)
}

// Unwrap returns ErrInvalidField for an unknown field, otherwise nil.
func (e *SyntaxError) Unwrap() error { return e.Err }

// Parse parses a segment query. The grammar, with white space allowed
// between any two tokens:
//
//	query   = or .
//	or      = and { "OR" and } .
//	and     = unary { "AND" unary } .
//	unary   = "NOT" unary | primary .
//	primary = "(" or ")" | "*"
//	        | "tag" ":" item
//	        | "tags" ":" list
//	        | field op item
//	        | field ( ":" | "=" ) list .
//	list    = ( "any" | "all" | "none" ) "(" [ item { "," item } ] ")" .
//	item    = value [ "*" ] .               (no space before "*": a prefix)
//	field   = "email" | "name" | "company" | "country" | "state" | "city" | "zip"
//	        | "data_source" | "external_id" | "mrr" | "arr"
//	        | "lead_created_at" | "free_trial_started_at" | "custom." word
//	        | quoted .                          (the fields Fields lists)
//	op      = ":" | "=" | "!=" | ">" | ">=" | "<" | "<=" .
//	value   = word | quoted .
//
// AND, OR and NOT are keywords in any letter case; NOT binds tighter than
// AND, and AND tighter than OR. Everything else is case-sensitive: field
// names, tag, tags, any, all, none, true and false are lower case. ":" and
// "=" both mean Eq. tag:X is Tag(X), tags:any(...) AnyTag, tags:all(...)
// AllTags, tags:none(...) Not(AnyTag(...)) and "*" All(); there is no
// implicit AND between terms.
//
// A "*" right after a value makes it a prefix: tag:feature-* is
// TagPrefix("feature-"), every customer holding a tag that starts with
// feature-; name:Acme* is Where("name", Prefix, "Acme"), and name != Acme*
// is its NOT. Prefixes take the text fields and custom attributes (whose
// value is then the text as written, 10* included), with ":", "=" or "!=";
// a "*" after any other value is a SyntaxError. In a list, tags:any(sso,
// beta-*) is the Or of Tag("sso") and TagPrefix("beta-") (all: the And).
//
// field:any(a, b) is for a field what tags:any is for tags: the Or of
// field:a and field:b; field:all(a, b) their And, field:none(a, b) the NOT
// of their Or. Each item is typed by the field as below, and may be a
// prefix: name:any(Acme*, Globex). A value any, all or none without a "("
// after it is a plain value (country:any).
//
// A word is a run of letters (any script), digits and the characters
// - _ . @ + /; a value word may also contain ":" after its first character,
// so that RFC 3339 times need no quotes. A word equal to AND, OR or NOT in
// any case is not a value: quote it. A quoted string is written in double
// quotes; inside it \" stands for " and \\ for \, any other backslash is an
// error, and every other byte stands for itself. A field name may be quoted
// too, so that "custom.my key" can name a key that is not a word; it must
// still be one of the fields above (quoted "tag" and "tags" are unknown
// fields).
//
// Values are typed by their field:
//
//   - email, name, company, country, state, city, zip, data_source and
//     external_id: the value is a string, exactly as written (zip:01234 is
//     the string "01234").
//   - mrr and arr: an unquoted integer in cents, stored as int64 (as uint64
//     above math.MaxInt64); anything else is a SyntaxError expecting
//     "integer".
//   - lead_created_at and free_trial_started_at: an RFC 3339 date
//     (2024-01-02, midnight UTC) or date and time (2024-01-02T15:04:05Z,
//     2024-01-02T15:04:05.5+02:00), quoted or not, stored as a time.Time in
//     UTC within years 0000 to 9999; or a date relative to the current day:
//     now (today, midnight UTC), now-30d, now+30d (days), now-2w (weeks),
//     now-3m (calendar months, keeping the day of the month or the
//     month's last day: March 31 - 1 month is February 28 or 29), with at
//     most 6 digits, stored as its text (now-030d as now-30d) and resolved
//     when evaluated, by Options.Clock. So lead_created_at >= now-30d is the
//     customers who became leads on or after the day 30 days ago, and its
//     answer changes when the UTC day does.
//   - custom.KEY: the type stored under KEY is not known to Parse, so a
//     bare value is typed by how it looks: true or false is a bool; an
//     integer -?(0|[1-9][0-9]*) is an int64 (a uint64 above
//     math.MaxInt64); such an integer with a fraction and/or an exponent
//     (1.5, -2e10, 3.0), or NaN, +Inf or -Inf, is a float64; an RFC 3339
//     date or time is a time.Time in UTC; anything else (007, +5, True,
//     2024-02-30, pro) is a string. A QUOTED value is always a string:
//     custom.plan:"10" compares with the string "10". Evaluation compares a
//     value with the type that is stored and converts where that makes
//     sense.
//
// Parse returns every error as a *SyntaxError carrying the byte offset and
// what was expected there: an empty query, unbalanced parentheses, a
// dangling AND, OR or NOT, an unknown field (which also matches
// ErrInvalidField), a missing or unknown operator, a bad integer, number or
// date, a prefix "*" where none is allowed, an unterminated string, a bad
// escape, text after the end of the query, or parentheses and NOTs nested
// more than 1000 deep. An unknown tag, a tag prefix no tag has and a custom
// attribute nobody holds are not errors: they select nobody
// (Segment.UnknownTags and Segment.UnknownFields list them).
//
// For every Expr e built with the builders, Parse(e.String()) is equivalent
// to e; see Expr.String.
func Parse(query string) (Expr, error) {
	p := parser{q: query}
	e, err := p.parseOr()
	if err != nil {
		return Expr{}, err
	}
	p.skipSpace()
	if p.pos < len(p.q) {
		return Expr{}, p.fail(p.pos, expEnd)
	}
	return e, nil
}

type parser struct {
	q     string
	pos   int
	depth int
}

func (p *parser) fail(off int, expected string) *SyntaxError {
	return &SyntaxError{Query: p.q, Offset: off, Expected: expected, Found: foundAt(p.q, off)}
}

func (p *parser) skipSpace() {
	for p.pos < len(p.q) {
		c := p.q[p.pos]
		if c < utf8.RuneSelf {
			if c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != '\v' && c != '\f' {
				return
			}
			p.pos++
			continue
		}
		r, size := utf8.DecodeRuneInString(p.q[p.pos:])
		if !unicode.IsSpace(r) {
			return
		}
		p.pos += size
	}
}

// wordLen returns the length of the word at the start of s. With colons, a
// ':' after the first character belongs to the word.
func wordLen(s string, colons bool) int {
	i := 0
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			if isWordByte(c) || (colons && c == ':' && i > 0) {
				i++
				continue
			}
			return i
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if !isWordRune(r) {
			return i
		}
		i += size
	}
	return i
}

func isWordByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '_' || c == '.' || c == '@' || c == '+' || c == '/'
}

func isWordRune(r rune) bool {
	if r < utf8.RuneSelf {
		return isWordByte(byte(r))
	}
	return unicode.IsLetter(r) || unicode.IsDigit(r)
}

func isKeyword(w string) bool {
	return len(w) <= 3 && (strings.EqualFold(w, "AND") || strings.EqualFold(w, "OR") || strings.EqualFold(w, "NOT"))
}

// peekKeyword reports whether the next token is the keyword kw (in any
// case) and returns its length.
func (p *parser) peekKeyword(kw string) (int, bool) {
	n := wordLen(p.q[p.pos:], false)
	return n, n == len(kw) && strings.EqualFold(p.q[p.pos:p.pos+n], kw)
}

func (p *parser) parseOr() (Expr, error)  { return p.parseChain("OR", kOr, p.parseAnd) }
func (p *parser) parseAnd() (Expr, error) { return p.parseChain("AND", kAnd, p.parseUnary) }

// parseChain parses next { kw next } into one node of kind, or just the
// first operand when there is no kw.
func (p *parser) parseChain(kw string, kind nodeKind, next func() (Expr, error)) (Expr, error) {
	x, err := next()
	if err != nil {
		return Expr{}, err
	}
	var xs []Expr
	for {
		p.skipSpace()
		n, ok := p.peekKeyword(kw)
		if !ok {
			break
		}
		p.pos += n
		y, err := next()
		if err != nil {
			return Expr{}, err
		}
		if xs == nil {
			xs = []Expr{x}
		}
		xs = append(xs, y)
	}
	if xs == nil {
		return x, nil
	}
	return Expr{&node{kind: kind, kids: xs}}, nil
}

func (p *parser) parseUnary() (Expr, error) {
	p.skipSpace()
	n, ok := p.peekKeyword("NOT")
	if !ok {
		return p.parsePrimary()
	}
	if p.depth >= maxDepth {
		return Expr{}, p.fail(p.pos, expDepth)
	}
	p.depth++
	p.pos += n
	x, err := p.parseUnary()
	p.depth--
	if err != nil {
		return Expr{}, err
	}
	return Not(x), nil
}

func (p *parser) parsePrimary() (Expr, error) {
	p.skipSpace()
	start := p.pos
	if start >= len(p.q) {
		return Expr{}, p.fail(start, expExpr)
	}
	switch c := p.q[start]; c {
	case '(':
		if p.depth >= maxDepth {
			return Expr{}, p.fail(start, expDepth)
		}
		p.depth++
		p.pos++
		x, err := p.parseOr()
		p.depth--
		if err != nil {
			return Expr{}, err
		}
		p.skipSpace()
		if p.pos >= len(p.q) || p.q[p.pos] != ')' {
			return Expr{}, p.fail(p.pos, expClose)
		}
		p.pos++
		return x, nil
	case '*':
		p.pos++
		return All(), nil
	case '"':
		name, err := p.parseQuoted()
		if err != nil {
			return Expr{}, err
		}
		return p.parseComparison(name, start)
	}
	n := wordLen(p.q[start:], false)
	if n == 0 {
		return Expr{}, p.fail(start, expExpr)
	}
	w := p.q[start : start+n]
	if isKeyword(w) { // AND or OR where a term should start
		return Expr{}, p.fail(start, expExpr)
	}
	p.pos += n
	switch w {
	case "tag":
		if err := p.expectColon(); err != nil {
			return Expr{}, err
		}
		v, _, err := p.parseValue()
		if err != nil {
			return Expr{}, err
		}
		if p.atStar() {
			p.pos++
			return TagPrefix(v), nil
		}
		return Tag(v), nil
	case "tags":
		return p.parseTags()
	}
	return p.parseComparison(w, start)
}

// atStar reports whether a "*" follows right after the value just read:
// a prefix.
func (p *parser) atStar() bool { return p.pos < len(p.q) && p.q[p.pos] == '*' }

func (p *parser) expectColon() error {
	p.skipSpace()
	if p.pos >= len(p.q) || p.q[p.pos] != ':' {
		return p.fail(p.pos, expColon)
	}
	p.pos++
	return nil
}

// parseTags parses what follows "tags": ":" any|all|none "(" list ")".
// A name with a "*" after it is a prefix (TagPrefix); a list with one is
// an Or (an And for all) of its tags and prefixes.
func (p *parser) parseTags() (Expr, error) {
	if err := p.expectColon(); err != nil {
		return Expr{}, err
	}
	p.skipSpace()
	n := wordLen(p.q[p.pos:], false)
	fn := p.q[p.pos : p.pos+n]
	if fn != "any" && fn != "all" && fn != "none" {
		return Expr{}, p.fail(p.pos, expTagsFunc)
	}
	p.pos += n
	p.skipSpace()
	if p.pos >= len(p.q) || p.q[p.pos] != '(' {
		return Expr{}, p.fail(p.pos, expOpen)
	}
	p.pos++
	names := []string{}
	var items []Expr // when a prefix is among them
	err := p.parseList(func() error {
		v, _, err := p.parseValue()
		if err != nil {
			return err
		}
		if p.atStar() {
			p.pos++
			if items == nil {
				for _, t := range names {
					items = append(items, Tag(t))
				}
			}
			items = append(items, TagPrefix(v))
			return nil
		}
		names = append(names, v)
		if items != nil {
			items = append(items, Tag(v))
		}
		return nil
	})
	if err != nil {
		return Expr{}, err
	}
	if items != nil {
		return listExpr(fn, items), nil
	}
	switch fn {
	case "any":
		return Expr{&node{kind: kAnyTags, tags: names}}, nil
	case "all":
		return Expr{&node{kind: kAllTags, tags: names}}, nil
	}
	return Not(Expr{&node{kind: kAnyTags, tags: names}}), nil
}

// parseList parses the items of a list after its "(": item { "," item }
// ")", or just ")".
func (p *parser) parseList(item func() error) error {
	p.skipSpace()
	if p.pos < len(p.q) && p.q[p.pos] == ')' {
		p.pos++
		return nil
	}
	for first := true; ; first = false {
		p.skipSpace()
		if first && !p.atValue() {
			return p.fail(p.pos, expValueClose)
		}
		if err := item(); err != nil {
			return err
		}
		p.skipSpace()
		if p.pos < len(p.q) && p.q[p.pos] == ',' {
			p.pos++
			continue
		}
		if p.pos < len(p.q) && p.q[p.pos] == ')' {
			p.pos++
			return nil
		}
		return p.fail(p.pos, expCommaClose)
	}
}

// listExpr combines the items of a list function: any is their Or, all
// their And, none the Not of their Or.
func listExpr(fn string, items []Expr) Expr {
	switch fn {
	case "any":
		return Or(items...)
	case "all":
		return And(items...)
	}
	return Not(Or(items...))
}

// atValue reports whether a value (a quoted string or a word that is not a
// keyword) starts at the current position.
func (p *parser) atValue() bool {
	if p.pos < len(p.q) && p.q[p.pos] == '"' {
		return true
	}
	n := wordLen(p.q[p.pos:], true)
	return n > 0 && !isKeyword(p.q[p.pos:p.pos+n])
}

// parseValue parses a word or a quoted string after skipping white space
// and reports whether it was quoted.
func (p *parser) parseValue() (v string, quoted bool, err error) {
	p.skipSpace()
	if p.pos < len(p.q) && p.q[p.pos] == '"' {
		v, err := p.parseQuoted()
		return v, true, err
	}
	n := wordLen(p.q[p.pos:], true)
	w := p.q[p.pos : p.pos+n]
	if n == 0 || isKeyword(w) {
		return "", false, p.fail(p.pos, expValue)
	}
	p.pos += n
	return w, false, nil
}

// parseQuoted parses the quoted string at p.pos.
func (p *parser) parseQuoted() (string, error) {
	i := p.pos + 1
	var b strings.Builder
	from := i
	for {
		j := strings.IndexAny(p.q[i:], `"\`)
		if j < 0 {
			return "", p.fail(len(p.q), expQuote)
		}
		i += j
		if p.q[i] == '"' {
			var s string
			if b.Len() == 0 && from == p.pos+1 {
				s = p.q[from:i]
			} else {
				b.WriteString(p.q[from:i])
				s = b.String()
			}
			p.pos = i + 1
			return s, nil
		}
		// A backslash: only \" and \\ are escapes.
		if i+1 >= len(p.q) || (p.q[i+1] != '"' && p.q[i+1] != '\\') {
			e := p.fail(i, expEscape)
			_, size := utf8.DecodeRuneInString(p.q[min(i+1, len(p.q)):])
			e.Found = p.q[i:min(i+1+size, len(p.q))]
			return "", e
		}
		b.WriteString(p.q[from:i])
		b.WriteByte(p.q[i+1])
		i += 2
		from = i
	}
}

func (p *parser) parseComparison(field string, fieldOff int) (Expr, error) {
	ft := typeOfField(field)
	if ft == ftUnknown {
		e := p.fail(fieldOff, expField)
		e.Found = field
		e.Err = ErrInvalidField
		return Expr{}, e
	}
	p.skipSpace()
	op, n := scanOp(p.q[p.pos:])
	if n == 0 {
		return Expr{}, p.fail(p.pos, expOperator)
	}
	p.pos += n
	p.skipSpace()
	if op == Eq {
		if fn, ok := p.listFunc(); ok { // field:any(a, b)
			var items []Expr
			err := p.parseList(func() error {
				e, err := p.parseFieldValue(field, ft, Eq)
				items = append(items, e)
				return err
			})
			if err != nil {
				return Expr{}, err
			}
			return listExpr(fn, items), nil
		}
	}
	return p.parseFieldValue(field, ft, op)
}

// listFunc reads "any", "all" or "none" and the "(" after it, if they come
// next: field:any(a, b). A value any (or all, none) without a "(" is a
// value.
func (p *parser) listFunc() (string, bool) {
	n := wordLen(p.q[p.pos:], false)
	fn := p.q[p.pos : p.pos+n]
	if fn != "any" && fn != "all" && fn != "none" {
		return "", false
	}
	i := p.pos + n
	for i < len(p.q) && (p.q[i] == ' ' || p.q[i] == '\t' || p.q[i] == '\n' || p.q[i] == '\r') {
		i++
	}
	if i >= len(p.q) || p.q[i] != '(' {
		return "", false
	}
	p.pos = i + 1
	return fn, true
}

// parseFieldValue parses the value of a comparison "field op" and returns
// the comparison: Where with the value typed by the field, or with a "*"
// right after it a prefix (Where with Prefix; NOT of it for "!=").
func (p *parser) parseFieldValue(field string, ft fieldType, op Op) (Expr, error) {
	p.skipSpace()
	valOff := p.pos
	s, quoted, err := p.parseValue()
	if err != nil {
		return Expr{}, err
	}
	if p.atStar() {
		if op != Eq && op != NotEq || ft != ftString && ft != ftCustom {
			return Expr{}, p.fail(p.pos, expPrefix)
		}
		p.pos++
		e := Where(field, Prefix, s)
		if op == NotEq {
			e = Not(e)
		}
		return e, nil
	}
	var v any
	switch ft {
	case ftString:
		v = s
	case ftInt:
		var exp string
		if quoted {
			exp = expInteger
		} else {
			v, exp = parseCents(s)
		}
		if exp != "" {
			return Expr{}, p.fail(valOff, exp)
		}
	case ftTime:
		if r, ok := parseRelDate(s); ok {
			v = r.String() // a relative date stays text: resolved when evaluated
			break
		}
		t, exp := parseTime(s)
		if exp != "" {
			return Expr{}, p.fail(valOff, exp)
		}
		v = t
	case ftCustom:
		if quoted {
			v = s
			break
		}
		var exp string
		v, exp = customValue(s)
		if exp != "" {
			return Expr{}, p.fail(valOff, exp)
		}
	}
	return Where(field, op, v), nil
}

func scanOp(s string) (Op, int) {
	if s == "" {
		return 0, 0
	}
	eq := len(s) > 1 && s[1] == '='
	switch s[0] {
	case ':', '=':
		return Eq, 1
	case '!':
		if eq {
			return NotEq, 2
		}
	case '>':
		if eq {
			return Gte, 2
		}
		return Gt, 1
	case '<':
		if eq {
			return Lte, 2
		}
		return Lt, 1
	}
	return 0, 0
}

// parseCents parses an mrr or arr value: a decimal integer with an optional
// sign, int64 if it fits, else uint64.
func parseCents(s string) (any, string) {
	i, err := strconv.ParseInt(s, 10, 64)
	if err == nil {
		return i, ""
	}
	if err.(*strconv.NumError).Err != strconv.ErrRange {
		return nil, expInteger
	}
	if s[0] != '-' {
		if u, err := strconv.ParseUint(strings.TrimPrefix(s, "+"), 10, 64); err == nil {
			return u, ""
		}
	}
	return nil, expInt64
}

// parseTime parses an RFC 3339 date or date and time into UTC.
func parseTime(s string) (time.Time, string) {
	var t time.Time
	var err error
	if len(s) == len(time.DateOnly) {
		t, err = time.Parse(time.DateOnly, s)
	} else {
		t, err = time.Parse(time.RFC3339Nano, s)
	}
	if err != nil {
		return time.Time{}, expTime
	}
	t = t.UTC()
	if !timeInRange(t) {
		return time.Time{}, expTimeRange
	}
	return t, ""
}

func timeInRange(t time.Time) bool {
	y := t.UTC().Year()
	return 0 <= y && y <= 9999
}

// customValue types a bare custom.KEY value by its look (see Parse). It
// returns what was expected when the value looks like a number or a time but
// cannot be one.
func customValue(s string) (any, string) {
	switch s {
	case "true":
		return true, ""
	case "false":
		return false, ""
	case "NaN":
		return math.NaN(), ""
	case "+Inf":
		return math.Inf(1), ""
	case "-Inf":
		return math.Inf(-1), ""
	}
	if isInt, isFloat := numberSyntax(s); isInt {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return i, ""
		}
		if s[0] != '-' {
			if u, err := strconv.ParseUint(s, 10, 64); err == nil {
				return u, ""
			}
		}
		return nil, expInt64
	} else if isFloat {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, expFloat
		}
		return f, ""
	}
	if len(s) >= len(time.DateOnly) && s[4] == '-' {
		t, exp := parseTime(s)
		switch exp {
		case "":
			return t, ""
		case expTimeRange:
			return nil, exp
		}
	}
	return s, ""
}

// numberSyntax reports whether s is an integer -?(0|[1-9][0-9]*) or a
// float: such an integer followed by a fraction .[0-9]+ and/or an exponent
// [eE][+-]?[0-9]+.
func numberSyntax(s string) (isInt, isFloat bool) {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	digits := func() int {
		j := i
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
		return i - j
	}
	if i < len(s) && s[i] == '0' {
		i++
	} else if digits() == 0 {
		return false, false
	}
	if i == len(s) {
		return true, false
	}
	if s[i] == '.' {
		i++
		if digits() == 0 {
			return false, false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false, false
		}
	}
	return false, i == len(s)
}

// foundAt returns the token at off in q for a SyntaxError: a word, a quoted
// string, an operator or a single character, cut to about 40 bytes.
func foundAt(q string, off int) string {
	if off >= len(q) {
		return ""
	}
	s := q[off:]
	_, n := utf8.DecodeRuneInString(s)
	switch {
	case s[0] == '"':
		n = len(s)
		for i := 1; i < len(s); i++ {
			if s[i] == '\\' {
				i++
			} else if s[i] == '"' {
				n = i + 1
				break
			}
		}
	case wordLen(s, true) > 0:
		n = wordLen(s, true)
	case len(s) > 1 && s[1] == '=' && strings.IndexByte("!<>", s[0]) >= 0:
		n = 2
	}
	const maxFound = 40
	if n > maxFound {
		n = maxFound
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		return s[:n] + "..."
	}
	return s[:n]
}

// String returns the query text of e in canonical form, such that
// Parse(e.String()) is equivalent to e and prints the same text again:
//
//   - All() and the zero Expr print "*", And() prints "*" too, and Or()
//     prints "tags:any()" (which selects nobody); And and Or with one
//     operand print that operand; nested Ands (or Ors) are flattened into
//     one chain; parentheses are written only where precedence needs them.
//   - Tag, AnyTag and AllTags print as tag:X, tags:any(X, Y) and
//     tags:all(X, Y); Not(AnyTag(...)) prints as tags:none(...); other Nots
//     as "NOT x". Keywords are upper case.
//   - TagPrefix prints as tag:X*, Where with Prefix as field:value*. An Or
//     of two or more comparisons of one field, each Eq or Prefix, prints as
//     field:any(a, b*), an And of them as field:all(...), the Not of such an
//     Or as field:none(...).
//   - Where prints "field:value" for Eq and "field op value" with single
//     spaces for the other operators. A value or tag that is not a word, is
//     empty, or is AND, OR or NOT in any case is quoted, escaping only " and
//     \. Integers print in decimal, floats in the shortest form that reads
//     back as a float (3.0, 1e+300, NaN, +Inf, -Inf), times as RFC 3339 with
//     nanoseconds in UTC (2024-01-02T15:04:05.5Z), unquoted. A custom.KEY
//     string is quoted whenever its bare form would be read as another type
//     ("10", "true", "2024-01-02"). A date field given a string prints the
//     time it denotes, or a relative date in its canonical form (now,
//     now-30d).
//
// What Parse could not read back equivalently prints as text Parse rejects,
// as evaluating it fails with ErrInvalidField anyway: an unknown field
// (quoted if need be, so "tag" and "AND" still read as unknown fields), an
// unknown Op, a value of a type the field does not take — anything but a
// string for the string fields, anything but an integer for mrr and arr,
// anything but a time.Time or an RFC 3339 string for the dates, and
// anything but the five supported types for custom.KEY, written as
// ?TYPE(VALUE) — and a time outside years 0000 to 9999. Expressions nested
// more than 1000 deep in Not and parenthesized groups print, but Parse
// refuses them.
func (e Expr) String() string {
	var b strings.Builder
	writeExpr(&b, e, precOr)
	return b.String()
}

// Precedence levels of the printed operators.
const (
	precOr = iota + 1
	precAnd
	precUnary
)

// effective strips Ands and Ors of one operand, which print as the operand.
func effective(e Expr) Expr {
	for e.n != nil && (e.n.kind == kAnd || e.n.kind == kOr) && len(e.n.kids) == 1 {
		e = e.n.kids[0]
	}
	return e
}

// flatten appends the operands of a chain of kind (kAnd or kOr) to out,
// splicing nested chains of the same kind.
func flatten(kind nodeKind, kids []Expr, out []Expr) []Expr {
	for _, k := range kids {
		k = effective(k)
		if k.kind() == kind && len(k.n.kids) >= 2 {
			out = flatten(kind, k.n.kids, out)
		} else {
			out = append(out, k)
		}
	}
	return out
}

// printsAsAnyTags reports whether e prints as tags:any(...), so that NOT e
// prints as tags:none(...).
func printsAsAnyTags(e Expr) bool {
	e = effective(e)
	return e.kind() == kAnyTags || (e.kind() == kOr && len(e.n.kids) == 0)
}

func writeExpr(b *strings.Builder, e Expr, ctx int) {
	e = effective(e)
	n := e.n
	switch e.kind() {
	case kAll:
		b.WriteByte('*')
	case kTag, kTagPrefix:
		b.WriteString("tag:")
		var name string
		if len(n.tags) > 0 {
			name = n.tags[0]
		}
		writeText(b, name)
		if n.kind == kTagPrefix {
			b.WriteByte('*')
		}
	case kAnyTags:
		writeTags(b, "tags:any(", n.tags)
	case kAllTags:
		writeTags(b, "tags:all(", n.tags)
	case kNot:
		var x Expr
		if len(n.kids) > 0 {
			x = n.kids[0]
		}
		if x = effective(x); x.kind() == kOr {
			if ops := flatten(kOr, x.n.kids, nil); fieldList(ops) {
				writeFieldList(b, "none(", ops)
				return
			}
		}
		if printsAsAnyTags(x) {
			var tags []string
			if x = effective(x); x.kind() == kAnyTags {
				tags = x.n.tags
			}
			writeTags(b, "tags:none(", tags)
			return
		}
		b.WriteString("NOT ")
		writeExpr(b, x, precUnary)
	case kAnd, kOr:
		if len(n.kids) == 0 {
			if n.kind == kAnd {
				b.WriteByte('*')
			} else {
				b.WriteString("tags:any()")
			}
			return
		}
		prec, sep, fn := precAnd, " AND ", "all("
		if n.kind == kOr {
			prec, sep, fn = precOr, " OR ", "any("
		}
		ops := flatten(n.kind, n.kids, nil)
		if fieldList(ops) {
			writeFieldList(b, fn, ops)
			return
		}
		if ctx > prec {
			b.WriteByte('(')
		}
		for i, x := range ops {
			if i > 0 {
				b.WriteString(sep)
			}
			writeExpr(b, x, prec)
		}
		if ctx > prec {
			b.WriteByte(')')
		}
	case kWhere:
		writeWhere(b, n)
	default:
		b.WriteByte('?')
	}
}

// fieldList reports whether the operands of an And or Or print as a list
// function, field:any(a, b*): two or more comparisons of one field the
// parser knows, each Eq or Prefix.
func fieldList(ops []Expr) bool {
	if len(ops) < 2 {
		return false
	}
	for _, x := range ops {
		if x.kind() != kWhere || x.n.field != ops[0].n.field || x.n.op != Eq && x.n.op != Prefix {
			return false
		}
	}
	return typeOfField(ops[0].n.field) != ftUnknown
}

// writeFieldList writes field:fn(a, b*) for the comparisons ops (see
// fieldList).
func writeFieldList(b *strings.Builder, fn string, ops []Expr) {
	f := ops[0].n.field
	writeField(b, f, typeOfField(f))
	b.WriteByte(':')
	b.WriteString(fn)
	for i, x := range ops {
		if i > 0 {
			b.WriteString(", ")
		}
		writeValue(b, x.n)
	}
	b.WriteByte(')')
}

func writeTags(b *strings.Builder, open string, tags []string) {
	b.WriteString(open)
	for i, t := range tags {
		if i > 0 {
			b.WriteString(", ")
		}
		writeText(b, t)
	}
	b.WriteByte(')')
}

func writeWhere(b *strings.Builder, n *node) {
	ft := typeOfField(n.field)
	writeField(b, n.field, ft)
	if n.op == Eq || n.op == Prefix {
		b.WriteByte(':')
	} else {
		b.WriteByte(' ')
		b.WriteString(n.op.String())
		b.WriteByte(' ')
	}
	writeValue(b, n)
}

// writeValue writes the value of a comparison: with a "*" after it for
// Prefix.
func writeValue(b *strings.Builder, n *node) {
	ft := typeOfField(n.field)
	if n.op == Prefix {
		if s, ok := n.value.(string); ok && (ft == ftString || ft == ftCustom || ft == ftUnknown) {
			writeText(b, s)
		} else {
			writeInvalid(b, n.value)
		}
		b.WriteByte('*')
		return
	}
	switch v := n.value.(type) {
	case string:
		switch ft {
		case ftInt:
			writeInvalid(b, v)
		case ftTime:
			if t, exp := parseTime(v); exp == "" {
				writeTime(b, t)
			} else if r, ok := parseRelDate(v); ok {
				b.WriteString(r.String())
			} else {
				writeText(b, v) // Parse rejects it as a bad date
			}
		case ftCustom:
			if isBare(v) {
				if x, exp := customValue(v); exp == "" {
					if _, ok := x.(string); ok {
						b.WriteString(v)
						return
					}
				}
			}
			writeQuoted(b, v)
		default:
			writeText(b, v)
		}
	case int64, uint64:
		if ft == ftInt || ft == ftCustom || ft == ftUnknown {
			fmt.Fprint(b, v)
		} else {
			writeInvalid(b, v)
		}
	case float64:
		if ft == ftCustom || ft == ftUnknown {
			writeFloat(b, v)
		} else {
			writeInvalid(b, v)
		}
	case bool:
		if ft == ftCustom || ft == ftUnknown {
			b.WriteString(strconv.FormatBool(v))
		} else {
			writeInvalid(b, v)
		}
	case time.Time:
		if (ft == ftTime || ft == ftCustom || ft == ftUnknown) && timeInRange(v) {
			writeTime(b, v)
		} else {
			writeInvalid(b, v)
		}
	default:
		writeInvalid(b, v)
	}
}

// writeField writes a field name bare when Parse reads it back as the same
// field, else quoted; an unknown field is quoted when its bare form would
// read as something else (tag, tags, a keyword, not a word).
func writeField(b *strings.Builder, f string, ft fieldType) {
	bare := false
	switch ft {
	case ftString, ftInt, ftTime:
		bare = true
	case ftCustom:
		bare = wordLen(f, false) == len(f)
	default:
		bare = isBare(f) && f != "tag" && f != "tags"
	}
	if bare {
		b.WriteString(f)
	} else {
		writeQuoted(b, f)
	}
}

// isBare reports whether s can be written as a bare value word.
func isBare(s string) bool {
	return s != "" && wordLen(s, false) == len(s) && !isKeyword(s)
}

func writeText(b *strings.Builder, s string) {
	if isBare(s) {
		b.WriteString(s)
	} else {
		writeQuoted(b, s)
	}
}

func writeQuoted(b *strings.Builder, s string) {
	b.WriteByte('"')
	for {
		i := strings.IndexAny(s, `"\`)
		if i < 0 {
			break
		}
		b.WriteString(s[:i])
		b.WriteByte('\\')
		b.WriteByte(s[i])
		s = s[i+1:]
	}
	b.WriteString(s)
	b.WriteByte('"')
}

func writeFloat(b *strings.Builder, f float64) {
	s := strconv.FormatFloat(f, 'g', -1, 64)
	b.WriteString(s)
	if !strings.ContainsAny(s, ".eIN") {
		b.WriteString(".0")
	}
}

func writeTime(b *strings.Builder, t time.Time) {
	b.WriteString(t.UTC().Format(time.RFC3339Nano))
}

// writeInvalid writes a value Parse cannot take for its field: "?" is no
// value, so Parse stops there.
func writeInvalid(b *strings.Builder, v any) {
	fmt.Fprintf(b, "?%T(%v)", v, v)
}
