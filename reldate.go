package tagseg

// Relative dates: lead_created_at > now-30d. A relative date names a day
// counted from the current one, so an answer that holds one depends on
// the day it is evaluated: Expr.dependsOnDay says so, the evaluator
// resolves every relative date of one evaluation against one day
// (evaluator.day, from Options.Clock), and resolveDays (Expr.ResolveDates)
// fixes them to a given day (for a replicated log, whose replicas must
// agree).

import (
	"strconv"
	"strings"
	"time"
)

// relDate is a date relative to the current day (UTC): now, now-30d,
// now+2w, now-3m. n is signed; unit is 'd', 'w' or 'm' (n == 0: now).
type relDate struct {
	n    int
	unit byte
}

// maxRelDate bounds n: 999,999 days is some 2,700 years either way.
const maxRelDate = 999_999

// parseRelDate parses "now" or "now" sign digits unit (see relDate).
func parseRelDate(s string) (relDate, bool) {
	rest, ok := strings.CutPrefix(s, "now")
	if !ok {
		return relDate{}, false
	}
	if rest == "" {
		return relDate{}, true
	}
	if len(rest) < 3 || rest[0] != '+' && rest[0] != '-' {
		return relDate{}, false
	}
	unit := rest[len(rest)-1]
	if unit != 'd' && unit != 'w' && unit != 'm' {
		return relDate{}, false
	}
	digits := rest[1 : len(rest)-1]
	for i := range len(digits) {
		if digits[i] < '0' || digits[i] > '9' {
			return relDate{}, false
		}
	}
	n, err := strconv.Atoi(digits)
	if err != nil || n > maxRelDate {
		return relDate{}, false
	}
	if rest[0] == '-' {
		n = -n
	}
	if n == 0 {
		return relDate{}, true
	}
	return relDate{n, unit}, true
}

// String is the canonical form: now, now-30d, now+2w.
func (r relDate) String() string {
	if r.n == 0 {
		return "now"
	}
	sign := "+"
	n := r.n
	if n < 0 {
		sign, n = "-", -n
	}
	return "now" + sign + strconv.Itoa(n) + string(r.unit)
}

// on is the date r names when the current day is today (midnight UTC):
// days and weeks count 24-hour days; months count calendar months and keep
// the day of the month, or the month's last day when it has fewer (March
// 31 − 1 month is February 28 or 29).
func (r relDate) on(today time.Time) time.Time {
	switch r.unit {
	case 'd':
		return today.AddDate(0, 0, r.n)
	case 'w':
		return today.AddDate(0, 0, 7*r.n)
	case 'm':
		y, m, d := today.Date()
		first := time.Date(y, m+time.Month(r.n), 1, 0, 0, 0, 0, time.UTC)
		last := first.AddDate(0, 1, -1).Day()
		return time.Date(first.Year(), first.Month(), min(d, last), 0, 0, 0, 0, time.UTC)
	}
	return today
}

// relDateOf reports whether v, a value given for a date field, is a
// relative date, and which.
func relDateOf(v any) (relDate, bool) {
	s, ok := v.(string)
	if !ok {
		return relDate{}, false
	}
	return parseRelDate(s)
}

// today is the current day by the index's clock: midnight UTC.
func (ix *Index) today() time.Time {
	now := time.Now
	if ix.clock != nil {
		now = ix.clock
	}
	return dayOf(now())
}

// dayOf is t's day: midnight UTC.
func dayOf(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// day is the day the evaluation resolves relative dates against: the
// index's current day, taken once, so one evaluation never straddles
// midnight.
func (ev *evaluator) day() time.Time {
	if ev.today.IsZero() {
		ev.today = ev.ix.today()
	}
	return ev.today
}

// dependsOnDay reports whether e holds a relative date: its members can
// change when the day does, with no commit.
func (e Expr) dependsOnDay() bool {
	n := e.n
	if n == nil {
		return false
	}
	if n.kind == kWhere {
		if typeOfField(n.field) != ftTime {
			return false
		}
		_, ok := relDateOf(n.value)
		return ok
	}
	for _, k := range n.kids {
		if k.dependsOnDay() {
			return true
		}
	}
	return false
}

// ResolveDates returns e with every relative date (lead_created_at >
// now-30d) replaced by the date it names on now's day, in UTC, as an
// evaluation on that day resolves it: an expression whose members no
// longer depend on the day it is evaluated, and whose String is a query
// with absolute dates. Parts of e without a relative date are shared.
//
// A query to be applied later or elsewhere as it would be now (an entry of
// a replicated log, a job queued past midnight) is fixed this way first.
func (e Expr) ResolveDates(now time.Time) Expr {
	return resolveDays(e, dayOf(now))
}

// resolveDays returns e with every relative date replaced by the date it
// names on the day today (midnight UTC): an expression whose members no
// longer depend on the day. Nodes without one are shared.
func resolveDays(e Expr, today time.Time) Expr {
	n := e.n
	if n == nil || !e.dependsOnDay() {
		return e
	}
	if n.kind == kWhere {
		r, _ := relDateOf(n.value)
		c := *n
		c.value = r.on(today)
		return Expr{&c}
	}
	c := *n
	c.kids = make([]Expr, len(n.kids))
	for i, k := range n.kids {
		c.kids[i] = resolveDays(k, today)
	}
	return Expr{&c}
}
