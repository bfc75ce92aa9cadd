package server

// ChartMogul's filter language (CFL), as the metrics endpoints' "filters"
// parameter carries it, translated to tagseg's query language:
//
//	country~ANY~'US','DE'~AND~mrr~GTE~10000~AND~tags~NONE~'internal'
//	→ (country:US OR country:DE) AND mrr >= 10000 AND tags:none(internal)
//
// A filter is NAME~OPERATOR~VALUES, filters are joined by ~AND~; values
// are comma-separated, strings in single quotes (\' and \\ escape inside
// them). The names are the query language's fields (email, name, company,
// country, state, city, zip, data_source, external_id, mrr, arr — in cents —,
// lead_created_at, free_trial_started_at, custom.KEY) and tags. The
// operators are ChartMogul's: EQ, NOT_EQ, GT, GTE, LT, LTE, ANY, ALL, NONE
// and BETWEEN (two values, both included).

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// cflFields are the filter names CFL accepts, besides custom.KEY.
var cflFields = []string{"tags", "email", "name", "company", "country", "state", "city", "zip",
	"data_source", "external_id", "mrr", "arr", "lead_created_at", "free_trial_started_at"}

// cflOps are the query language's operators of CFL's comparisons.
var cflOps = map[string]string{"EQ": ":", "NOT_EQ": "!=", "GT": ">", "GTE": ">=", "LT": "<", "LTE": "<="}

// cflError is a "filters" parameter that cannot be translated: the API's
// 400 on param "filters".
type cflError struct{ msg string }

func (e *cflError) Error() string { return e.msg }

func cflErrorf(format string, args ...any) error {
	return &cflError{fmt.Sprintf(format, args...)}
}

// translateCFL returns the query of a CFL string ("" for none).
func translateCFL(s string) (string, error) {
	if strings.TrimSpace(s) == "" {
		return "", nil
	}
	parts, err := splitCFL(s, '~')
	if err != nil {
		return "", err
	}
	var clauses []string
	for len(parts) > 0 {
		if len(parts) < 3 {
			return "", cflErrorf("filter %q is not NAME~OPERATOR~VALUE", strings.Join(parts, "~"))
		}
		c, err := cflClause(strings.TrimSpace(parts[0]), strings.ToUpper(strings.TrimSpace(parts[1])), parts[2])
		if err != nil {
			return "", err
		}
		clauses = append(clauses, c)
		parts = parts[3:]
		if len(parts) > 0 {
			if !strings.EqualFold(strings.TrimSpace(parts[0]), "AND") {
				return "", cflErrorf("filters are joined by ~AND~, not ~%s~ (CFL has no OR: use ANY, or query=)", parts[0])
			}
			parts = parts[1:]
			if len(parts) == 0 {
				return "", cflErrorf("a filter is missing after the last ~AND~")
			}
		}
	}
	return strings.Join(clauses, " AND "), nil
}

// cflClause translates one filter.
func cflClause(name, op, raw string) (string, error) {
	if !slices.Contains(cflFields, name) && !(strings.HasPrefix(name, "custom.") && len(name) > len("custom.")) {
		return "", cflErrorf("unknown filter %q; tagseg filters by %s and custom.KEY", name, strings.Join(cflFields, ", "))
	}
	vals, err := splitCFL(raw, ',')
	if err != nil {
		return "", err
	}
	for i, v := range vals {
		if name == "mrr" || name == "arr" { // numbers, quoted or not
			v = strings.Trim(strings.TrimSpace(v), "'")
		}
		vals[i] = cflValue(v)
		if vals[i] == "" {
			return "", cflErrorf("filter %s~%s~%s: an empty value", name, op, raw)
		}
	}
	one := func() (string, error) {
		if len(vals) != 1 {
			return "", cflErrorf("filter %s~%s takes one value, not %d", name, op, len(vals))
		}
		return vals[0], nil
	}
	if name == "tags" {
		switch op {
		case "ANY", "ALL", "NONE":
			return "tags:" + strings.ToLower(op) + "(" + strings.Join(vals, ", ") + ")", nil
		case "EQ", "NOT_EQ":
			v, err := one()
			if err != nil {
				return "", err
			}
			if op == "NOT_EQ" {
				return "NOT tag:" + v, nil
			}
			return "tag:" + v, nil
		}
		return "", cflErrorf("filter tags~%s: tags take ANY, ALL, NONE, EQ or NOT_EQ", op)
	}
	if q, ok := cflOps[op]; ok {
		v, err := one()
		if err != nil {
			return "", err
		}
		if q == ":" {
			return name + ":" + v, nil
		}
		return name + " " + q + " " + v, nil
	}
	terms := make([]string, len(vals))
	for i, v := range vals {
		terms[i] = name + ":" + v
	}
	switch op {
	case "ANY":
		return group(terms, " OR "), nil
	case "NONE":
		return "NOT " + group(terms, " OR "), nil
	case "ALL":
		return group(terms, " AND "), nil
	case "BETWEEN":
		if len(vals) != 2 {
			return "", cflErrorf("filter %s~BETWEEN takes two values, not %d", name, len(vals))
		}
		return "(" + name + " >= " + vals[0] + " AND " + name + " <= " + vals[1] + ")", nil
	}
	return "", cflErrorf("filter %s~%s: unknown operator (want EQ, NOT_EQ, GT, GTE, LT, LTE, ANY, ALL, NONE or BETWEEN)", name, op)
}

// group joins terms with sep, in parentheses when there are several.
func group(terms []string, sep string) string {
	if len(terms) == 1 {
		return terms[0]
	}
	return "(" + strings.Join(terms, sep) + ")"
}

// bareWord is a value the query language reads bare.
var bareWord = regexp.MustCompile(`^[A-Za-z0-9_.@+/-]+$`)

// cflValue writes a CFL value for the query language: a quoted one
// quoted (a string, also for custom attributes), a bare one bare when the
// query language reads it so.
func cflValue(v string) string {
	v = strings.TrimSpace(v)
	if len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'' {
		return quoteQuery(unescapeCFL(v[1 : len(v)-1]))
	}
	if v == "" {
		return ""
	}
	switch strings.ToUpper(v) {
	case "AND", "OR", "NOT":
		return quoteQuery(v)
	}
	if bareWord.MatchString(v) {
		return v
	}
	return quoteQuery(v)
}

func unescapeCFL(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// quoteQuery is s as a quoted value of the query language.
func quoteQuery(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// splitCFL splits s at sep outside single quotes.
func splitCFL(s string, sep byte) ([]string, error) {
	var out []string
	start, quoted := 0, false
	for i := 0; i < len(s); i++ {
		switch {
		case quoted && s[i] == '\\':
			i++
		case s[i] == '\'':
			quoted = !quoted
		case !quoted && s[i] == sep:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	if quoted {
		return nil, cflErrorf("a quote ' is not closed in %q", s)
	}
	return append(out, s[start:]), nil
}
