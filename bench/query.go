package bench

import (
	"fmt"
	"strings"

	"github.com/tagseg/tagseg"
)

// Q is a boolean segment over tags, in a form every system can translate:
// tagseg builds a tagseg.Expr, the maps peer walks it, SQLite turns it
// into INTERSECT/UNION/EXCEPT over the customer_tags index and PostgreSQL
// into @> / && / NOT predicates on the GIN-indexed tags array.
type Q struct {
	Op   string // "tag", "and", "or", "not"
	Tag  string // Op == "tag"
	Kids []Q    // Op == "and", "or" (two or more), "not" (one)
}

// T is the segment of customers holding tag.
func T(tag string) Q { return Q{Op: "tag", Tag: tag} }

// And is the intersection of qs.
func And(qs ...Q) Q { return Q{Op: "and", Kids: qs} }

// Or is the union of qs.
func Or(qs ...Q) Q { return Q{Op: "or", Kids: qs} }

// Not is every customer not in q.
func Not(q Q) Q { return Q{Op: "not", Kids: []Q{q}} }

// Expr is q as a tagseg expression.
func (q Q) Expr() tagseg.Expr {
	switch q.Op {
	case "tag":
		return tagseg.Tag(q.Tag)
	case "not":
		return tagseg.Not(q.Kids[0].Expr())
	}
	xs := make([]tagseg.Expr, len(q.Kids))
	for i, k := range q.Kids {
		xs[i] = k.Expr()
	}
	if q.Op == "and" {
		return tagseg.And(xs...)
	}
	return tagseg.Or(xs...)
}

// String is q in tagseg's query language.
func (q Q) String() string { return q.Expr().String() }

// Tags lists the tags q names, in order, with repeats.
func (q Q) Tags() []string {
	if q.Op == "tag" {
		return []string{q.Tag}
	}
	var out []string
	for _, k := range q.Kids {
		out = append(out, k.Tags()...)
	}
	return out
}

// Terms counts the tag operands of q.
func (q Q) Terms() int { return len(q.Tags()) }

// Query is one named benchmark query.
type Query struct {
	Name string
	Kind string // "count", "count+mrr", "series", "tagstats"
	Q    Q
	// ByCount ranks a tagstats query's tags by customers instead of MRR.
	ByCount bool
	// What is a sentence for RESULTS.md.
	What string
}

// SegmentQ is the segment used for the count + MRR, series and tag-stats
// queries: paying-plan customers (pro or enterprise) who are active and
// on the newsletter, minus managed accounts: about 10% of the customers
// in the generated data (about 1M at 10M customers, 100k at 1M).
var SegmentQ = And(Or(T("plan-pro"), T("plan-enterprise")), T("active"), T("newsletter"), Not(T("managed-account")))

// Segment3M is a larger segment for the count + MRR query: newsletter
// readers who are onboarded or use the API, about 31% of the customers
// (about 3M at 10M).
var Segment3M = And(T("newsletter"), Or(T("onboarded"), T("api-user")))

// Segment5M is the half of the customers for the tag-stats queries over a
// large segment: newsletter readers not on the enterprise plan, about 50%
// (about 5M at 10M).
var Segment5M = And(T("newsletter"), Not(T("plan-enterprise")))

// TagStatsLimit is the number of tags the tag-stats query returns (the top
// ones by MRR among every tag held in the segment).
const TagStatsLimit = 1000

// Queries are the read queries, timed on every system.
var Queries = []Query{
	{Name: "and2-dense", Kind: "count", Q: And(T("newsletter"), T("active")),
		What: "2-tag AND of the two most popular generic tags (55% and 49%): bitmap containers"},
	{Name: "and2-sparse", Kind: "count", Q: And(T("feature-sso"), T("feature-scim")),
		What: "2-tag AND of two feature requests (5.5% and 3.8%): array containers"},
	{Name: "mix5-dense", Kind: "count", Q: And(T("newsletter"), T("active"), Or(T("onboarded"), T("email-verified")), Not(T("plan-starter"))),
		What: "5 terms, AND/OR/NOT over popular tags"},
	{Name: "mix5-sparse", Kind: "count", Q: And(Or(T("feature-sso"), T("feature-scim")), T("churn-risk-high"), Not(T("managed-account")), Not(T("internal"))),
		What: "5 terms, AND/OR/NOT: sparse feature requests, churn risk, minus managed and internal accounts"},
	{Name: "count-mrr", Kind: "count+mrr", Q: SegmentQ,
		What: "count and MRR sum of the segment"},
	{Name: "series-36m", Kind: "series", Q: SegmentQ,
		What: "36 monthly points with MRR, customers and the five movements, over the segment"},
	{Name: "count-mrr-3m", Kind: "count+mrr", Q: Segment3M,
		What: "count and MRR sum of a segment of about 31% of the customers"},
	{Name: "tagstats-1000", Kind: "tagstats", Q: SegmentQ,
		What: fmt.Sprintf("customers and MRR of every tag held in the segment, top %d by MRR", TagStatsLimit)},
	{Name: "tagstats-count-1000", Kind: "tagstats", Q: SegmentQ, ByCount: true,
		What: fmt.Sprintf("the same, top %d by customers", TagStatsLimit)},
	{Name: "tagstats-1000-5m", Kind: "tagstats", Q: Segment5M,
		What: fmt.Sprintf("top %d tags by MRR over a segment of about half the customers", TagStatsLimit)},
	{Name: "tagstats-count-1000-5m", Kind: "tagstats", Q: Segment5M, ByCount: true,
		What: fmt.Sprintf("top %d tags by customers over that segment", TagStatsLimit)},
}

// ---- SQL translations ----

// sqliteSet returns a SQLite query yielding the IDs (column id) of q's
// members, with its arguments appended to args.
func sqliteSet(q Q, args *[]any) string {
	switch q.Op {
	case "tag":
		*args = append(*args, q.Tag)
		return "SELECT customer_id AS id FROM customer_tags WHERE tag_id = (SELECT id FROM tags WHERE name = ?)"
	case "not":
		return "SELECT id FROM customers EXCEPT " + sqliteSub(q.Kids[0], args)
	case "or":
		parts := make([]string, len(q.Kids))
		for i, k := range q.Kids {
			parts[i] = sqliteSub(k, args)
		}
		return strings.Join(parts, " UNION ")
	}
	// and: the positive terms intersected, then the negative ones removed.
	var pos, neg []Q
	for _, k := range q.Kids {
		if k.Op == "not" {
			neg = append(neg, k.Kids[0])
		} else {
			pos = append(pos, k)
		}
	}
	var b strings.Builder
	if len(pos) == 0 {
		b.WriteString("SELECT id FROM customers")
	}
	for i, k := range pos {
		if i > 0 {
			b.WriteString(" INTERSECT ")
		}
		b.WriteString(sqliteSub(k, args))
	}
	for _, k := range neg {
		b.WriteString(" EXCEPT ")
		b.WriteString(sqliteSub(k, args))
	}
	return b.String()
}

// sqliteSub is sqliteSet wrapped so it can be one operand of a compound
// SELECT (SQLite's compound operators are left-associative).
func sqliteSub(q Q, args *[]any) string {
	s := sqliteSet(q, args)
	if q.Op == "tag" {
		return s
	}
	return "SELECT id FROM (" + s + ")"
}

// pgWhere returns a PostgreSQL predicate on customers.tags for q, with
// its arguments appended to args ($n placeholders). Plain tags under an
// AND fold into one tags @> ARRAY[...], under an OR into one tags && ARRAY[...],
// which is how the GIN index is meant to be used.
func pgWhere(q Q, args *[]any) string {
	arr := func(op string, tags []string) string {
		*args = append(*args, tags)
		return fmt.Sprintf("tags %s $%d::text[]", op, len(*args))
	}
	switch q.Op {
	case "tag":
		return arr("@>", []string{q.Tag})
	case "not":
		return "NOT (" + pgWhere(q.Kids[0], args) + ")"
	}
	var tags []string
	var parts []string
	for _, k := range q.Kids {
		if k.Op == "tag" {
			tags = append(tags, k.Tag)
		}
	}
	op, join := "@>", " AND "
	if q.Op == "or" {
		op, join = "&&", " OR "
	}
	if len(tags) > 0 {
		parts = append(parts, arr(op, tags))
	}
	for _, k := range q.Kids {
		if k.Op != "tag" {
			parts = append(parts, pgWhere(k, args))
		}
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return "(" + strings.Join(parts, join) + ")"
}
