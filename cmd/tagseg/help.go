package main

// Help: where it goes, the query language guide, "did you mean", and the
// version.

import (
	"fmt"
	"io"
	"os"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/tagseg/tagseg"
	"github.com/tagseg/tagseg/server/api"
)

// helpOut is where -h and help print: standard output (run sets it), so
// that "tagseg help import | less" works. Errors about flags go to stderr.
var helpOut io.Writer = os.Stdout

// wantsHelp reports whether args ask for help before any "--".
func wantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "-help", "--help":
			return true
		}
	}
	return false
}

// queryField is one field of the query language, for help and "did you
// mean": the library's table (tagseg.Fields).
type queryField struct{ name, doc string }

var queryFields = func() []queryField {
	var out []queryField
	for _, f := range tagseg.Fields() {
		out = append(out, queryField{f.Name, f.Doc})
	}
	return out
}()

const queryGuide = `The query language

A query picks customers. Terms:

  tag:NAME                 customers holding the tag (exact, case-sensitive)
  tag:PREFIX*              holding a tag that starts with PREFIX (tag:feature-*)
  tags:any(A, B)           holding at least one of the tags (B* for a prefix)
  tags:all(A, B)           holding all of them
  tags:none(A, B)          holding none of them
  FIELD OP VALUE           a customer field compared with a value
  FIELD:PREFIX*            a text field starting with PREFIX (name:Acme*)
  FIELD:any(A, B)          the field is A or B (also all(...), none(...))
  *                        every customer

combined with AND, OR, NOT (any case) and parentheses. NOT binds tighter
than AND, AND tighter than OR; there is no implicit AND between terms.

Operators: ":" or "=" (equal), "!=", ">", ">=", "<", "<=" (spaces around
them are optional). A "*" right after a value (no space) makes it a
prefix, with ":" or "!=", for tags and the text fields (email, name,
company, country, state, city, zip, data_source, external_id, custom
attributes holding text).

Values are bare words (letters, digits and -_.@+/) or "double-quoted
strings" with \" and \\ escapes. Quote tags with spaces: tag:"feature: sso".

Fields:
%s
Money is in cents in queries (mrr >= 10000 is 100.00 a month and up),
while tables print units. Strings compare exactly: country:us does not
match US (email is the exception). A tag nobody holds is an empty set, not
an error; query lists such tags as unknown, and custom attributes no
customer has (custom.seat when the key is seats) as unknown fields.

Dates are RFC 3339 (2024-01-02, 2024-01-02T15:04:05Z) or relative to
today (UTC): now, now-30d (days), now-2w (weeks), now-3m (months),
now+7d. lead_created_at >= now-30d is the leads of the last 30 days.

Examples:

  tag:churn-risk-high AND NOT tag:managed-account
  tags:any(plan-pro, plan-enterprise) AND mrr >= 10000 AND country:US
  tag:"feature: dark mode" OR tags:all(sso, scim)
  lead_created_at >= 2024-01-01 AND custom.seats > 10
  lead_created_at >= now-30d AND country:any(US, CA)
  tag:feature-* AND NOT name:Acme* AND company != "Initech Inc"
  email:adam@example.com
  *

Every command that takes a segment takes it the same way: -query Q (or the
query as arguments, for query), or -segment NAME for a saved one.
`

func printQueryGuide(w io.Writer) {
	var b strings.Builder
	for _, f := range queryFields {
		fmt.Fprintf(&b, "  %-22s %s\n", f.name, f.doc)
	}
	fmt.Fprintf(w, queryGuide, b.String())
}

// distance is the edit distance of a and b in bytes: insertions,
// deletions, substitutions and transpositions of neighbours (optimal
// string alignment), so that "tgas" is one edit from "tags".
func distance(a, b string) int {
	rows := make([][]int, len(a)+1)
	for i := range rows {
		rows[i] = make([]int, len(b)+1)
		rows[i][0] = i
	}
	for j := range rows[0] {
		rows[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d := min(rows[i-1][j]+1, rows[i][j-1]+1, rows[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d = min(d, rows[i-2][j-2]+1)
			}
			rows[i][j] = d
		}
	}
	return rows[len(a)][len(b)]
}

// suggest returns the candidate closest to s (in any case), if close
// enough to be a typo: at most 2 edits, and fewer than half of s.
func suggest(s string, cands []string) string {
	best, bestD := "", 3
	ls := strings.ToLower(s)
	for _, c := range cands {
		d := distance(ls, strings.ToLower(c))
		if d < bestD && d*2 < len(s)+1 {
			best, bestD = c, d
		}
	}
	return best
}

func commandNames() []string {
	var names []string
	for n := range commands {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// unknownCommand is the message for a command tagseg does not have.
func unknownCommand(name string) string {
	msg := fmt.Sprintf("tagseg: unknown command %q", name)
	if s := suggest(name, commandNames()); s != "" {
		msg += fmt.Sprintf("; did you mean %q?", s)
	}
	return msg
}

// fieldHint is a "did you mean" for an unknown field of a query.
func fieldHint(field string) string {
	names := []string{"tag", "tags"}
	for _, f := range queryFields {
		if f.name != "custom.KEY" {
			names = append(names, f.name)
		}
	}
	var hint string
	if s := suggest(field, names); s != "" {
		hint = fmt.Sprintf("did you mean %s? ", s)
	} else if k, ok := strings.CutPrefix(strings.ToLower(field), "custom"); ok && k != "" && k[0] != '.' {
		hint = "custom attributes are custom.KEY; "
	}
	return hint + "fields: " + strings.Join(names[2:], ", ") + ", custom.KEY; tags: tag:NAME, tags:any(...) (see 'tagseg help query')"
}

// moneyBefore finds a money field and operator right before a value.
var moneyBefore = regexp.MustCompile(`\b(mrr|arr)\s*(!=|>=|<=|:|=|>|<)\s*$`)

// centsHint explains a decimal given for mrr or arr: money is in cents.
func centsHint(query string, se *tagseg.SyntaxError) string {
	if se.Expected != "integer" || se.Offset > len(query) {
		return ""
	}
	m := moneyBefore.FindStringSubmatch(query[:se.Offset])
	if m == nil {
		return ""
	}
	cents, err := api.ParseUnits(se.Found)
	if err != nil {
		return fmt.Sprintf("%s is in cents, a whole number (29900 is 299.00)", m[1])
	}
	return fmt.Sprintf("%s is in cents: did you mean %s %s %d?", m[1], m[1], m[2], cents)
}

// tagBefore finds a tag term (tag:NAME, or a list tags:any(…)) that ends
// where a syntax error was found: its name or list is given unquoted.
var tagBefore = regexp.MustCompile(`(?i)\btag\s*[:=]\s*([^\s"(),]*)\s*$|\btags\s*[:=]\s*(any|all|none)\s*\(([^()"]*)$`)

// unquotedName is the rest of a tag name given without quotes: up to
// AND or OR, a closing parenthesis that opens nowhere in it, or the end.
func unquotedName(s string) string {
	depth := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '(':
			depth++
		case c == ')' && depth == 0:
			return s[:i]
		case c == ')':
			depth--
		case (c == ' ' || c == '\t') && depth == 0:
			rest := strings.ToUpper(strings.TrimLeft(s[i:], " \t"))
			if strings.HasPrefix(rest, "AND ") || strings.HasPrefix(rest, "OR ") {
				return s[:i]
			}
		}
	}
	return s
}

// quoteHint suggests quoting a tag whose name holds spaces, colons,
// commas or parentheses, when the query broke right after it:
// tag:feature: dark mode → tag:"feature: dark mode".
func quoteHint(query string, se *tagseg.SyntaxError) string {
	if se.Offset > len(query) {
		return ""
	}
	m := tagBefore.FindStringSubmatchIndex(query[:se.Offset])
	if m == nil {
		return ""
	}
	quote := func(t string) string {
		return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(strings.TrimSpace(t)) + `"`
	}
	if m[2] >= 0 { // tag:NAME…
		raw := unquotedName(query[m[2]:])
		name := strings.TrimSpace(raw)
		if name == "" || !strings.ContainsAny(name, " :,()") || strings.Contains(strings.ToLower(name), "tag:") || strings.Contains(strings.ToLower(name), "tags:") {
			return "" // (another term after it: not one name)
		}
		fixed := query[:m[2]] + quote(name) + query[m[2]+len(raw):]
		return fmt.Sprintf("a tag with spaces, colons, commas or parentheses goes in double quotes: did you mean %s?", fixed)
	}
	// tags:any(A B, C…: quote the items holding spaces or colons.
	end := strings.IndexByte(query[m[6]:], ')')
	if end < 0 {
		end = len(query) - m[6]
	}
	items := strings.Split(query[m[6]:m[6]+end], ",")
	changed := false
	for i, it := range items {
		if t := strings.TrimSpace(it); strings.ContainsAny(t, " :") {
			items[i], changed = quote(t), true
		} else {
			items[i] = t
		}
	}
	if !changed {
		return ""
	}
	fixed := query[:m[6]] + strings.Join(items, ", ") + query[m[6]+end:]
	return fmt.Sprintf("a tag with spaces or colons goes in double quotes: did you mean %s?", fixed)
}

// version is the module version and VCS revision tagseg was built from.
func version() string {
	v := "(devel)"
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	if info.Main.Version != "" {
		v = info.Main.Version
	}
	var rev, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = "+dirty"
			}
		}
	}
	if rev != "" {
		v += " " + rev[:min(12, len(rev))] + modified
	}
	return fmt.Sprintf("tagseg %s, index format %d, %s", v, tagseg.FormatVersion, info.GoVersion)
}
