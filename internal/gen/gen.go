// Package gen generates deterministic synthetic customers for tagseg's
// benchmarks (bench/) and the CLI's demo: identities, tags with a Zipf
// popularity, custom attributes and 36 months of MRR change events.
//
// A Generator is built once from a Config and is then read-only: Customer(i)
// derives a private PCG stream from (Seed, i), so customers can be produced in
// any order, in parallel, or resumed half-way, and the same Config always gives
// byte-identical customers on a given GOARCH (floating-point library functions
// may differ in the last bit between architectures, which can move a value).
// Nothing is materialised: memory is the tag vocabulary and a few small
// tables (a few MB at 100k tags), whatever the number of customers.
//
// Typical use, streaming a data set into an index on every core:
//
//	g := gen.NewGenerator(gen.DefaultConfig(1_000_000))
//	for w := range workers {
//		go func() {
//			var c gen.Customer
//			for i := w; i < g.Config().Customers; i += workers {
//				g.Fill(&c, i) // reuses c's slices; copy what you keep
//				...
//			}
//		}()
//	}
//
// # What the data looks like
//
// Tags (mean Config.TagsPerCust, 16 by default, distinct per customer):
//
//   - exactly one of plan-starter (60%), plan-pro (30%), plan-enterprise (10%);
//   - at most one source tag: source-hubspot (35%), source-salesforce,
//     source-zapier, source-intercom, source-segment, source-csv-import;
//   - at most one of churn-risk-high / -medium / -low, likelier for customers
//     that churned or contracted recently;
//   - managed-account (mostly enterprise customers, ~8% overall) and internal
//     (0.3%);
//   - 200 feature requests feature-<name> (feature-dark-mode, feature-sso,
//     feature-scim, ...), each requested by 10% down to 0.1% of customers,
//     more often by customers on bigger plans and with higher MRR;
//   - generic tags whose shares follow a Zipf law, p(r) = 0.55·(b/(r+b))^1.5,
//     with b solved so the mean number of tags per customer is TagsPerCust:
//     newsletter (55%), active (~49%), onboarded (~44%), email-verified, ...,
//     then a long tail segment-NNNNN, campaign-NNNNN, cohort-NNNNN, ... down to
//     a handful of customers each.
//
// TagName(rank) names the tags of every family by expected share, most
// popular first; TagShare(rank) is that expected share.
//
// MRR (cents, whole dollars): log-normal by plan (starter median $30, pro
// $120, enterprise $600; overall median about $50, capped at $50,000). A
// quarter of paying customers exist when the history starts; the rest start in
// a uniformly random month. Then every month: 2% churn to 0, 3% expand by
// 5–50%, 1.5% contract by 10–50%, and 4% of churned customers reactivate.
// About 12% never pay and have no events. Events are recorded only on changes,
// at most one per month, at a random second of that month (UTC), in time order.
//
// Identities: Email is user<i>@<company domain>; 2% of customers instead reuse
// the email (and company) of a random earlier customer, four times in five
// with different letter case (User42@acme.io, user42@ACME.IO, ...).
// Countries follow a skewed distribution (US 37%, GB 9%, DE 7%, FR, CA, AU,
// ...), each with a few cities, states and zip codes. Customers come from three
// data sources (60/30/10%), each with its own ExternalID style; ExternalIDs are
// unique across the whole data set.
package gen

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"
)

// Model constants. Changing any of them changes the output for every seed.
const (
	sharePerMille    = 20    // customers reusing an earlier customer's email
	zipfS            = 1.5   // Zipf exponent of the generic tags
	zipfTop          = 0.55  // share of the most popular generic tag
	headCut          = 0.03  // generic tags at least this popular are drawn one by one
	numFeatures      = 200   // feature-* tags
	featTop          = 0.10  // share of the most requested feature
	featBottom       = 0.001 // share of the least requested feature
	maxFeatures      = 32    // cap on feature requests per customer
	startAtZero      = 0.25  // paying customers that exist when the history starts
	churnRate        = 0.02
	expansionRate    = 0.03
	contractionRate  = 0.015
	reactivationRate = 0.04
	minMRR           = 500       // $5
	maxMRR           = 5_000_000 // $50,000
	internalPerMille = 3
	zipsPerLocation  = 64
	calibrationRuns  = 8192 // simulated customers used to estimate churn-risk shares
)

// planAny holds the plan names as interface values, boxed once.
var planAny = func() (a [len(plans)]any) {
	for p, pl := range plans {
		a[p] = pl.name
	}
	return a
}()

// neverPays is the share of each plan's customers that never pay (per-mille).
var neverPays = [len(plans)]int{160, 60, 20}

// managedPerMille is the share of each plan's customers tagged managed-account.
var managedPerMille = [len(plans)]int{5, 50, 600}

// featureAffinity scales the feature request rate by plan.
var featureAffinity = [len(plans)]float64{0.9, 1.15, 1.5}

// Customer states at the end of the history, which drive churn-risk tags.
const (
	stateNeverPaid = iota
	statePaying
	stateContracted // paying, with a contraction in the last six months
	stateChurned
	numStates
)

// churnRisk[state] gives the per-mille chance of churn-risk-high, -medium, -low.
var churnRisk = [numStates][3]int{
	stateNeverPaid:  {0, 30, 100},
	statePaying:     {40, 120, 250},
	stateContracted: {250, 300, 100},
	stateChurned:    {350, 200, 50},
}

// Config describes a data set. Zero fields take the defaults of DefaultConfig.
type Config struct {
	// Customers is the size of the data set: customers 0 .. Customers-1. It
	// sets the default Tags; Customer(i) is defined for every i >= 0.
	Customers int
	// Tags is the number of distinct tags in the vocabulary, all families
	// included. Default min(100_000, Customers/10), at least 1_000. At least
	// 214 structured tags plus 100 generic ones are always made.
	Tags int
	// TagsPerCust is the mean number of tags per customer. Default 16; values
	// below about 4 (the structured tags alone) give no generic tags.
	TagsPerCust float64
	// Months of MRR history. Default 36.
	Months int
	// Seed selects the data set; every value, 0 included, is valid.
	// DefaultConfig uses 1.
	Seed uint64
	// Start is the first month of history; it is truncated to the start of
	// its UTC month. Default 2023-01-01.
	Start time.Time
	// Custom fills Customer.Custom. DefaultConfig sets it; leaving it false
	// saves a map per customer and changes nothing else.
	Custom bool
}

// DefaultConfig returns the default configuration for n customers.
func DefaultConfig(n int) Config {
	return Config{
		Customers:   n,
		Tags:        defaultTags(n),
		TagsPerCust: 16,
		Months:      36,
		Seed:        1,
		Start:       time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC),
		Custom:      true,
	}
}

func defaultTags(n int) int { return min(100_000, max(1_000, n/10)) }

// Customer is one generated customer, plain data for the caller to map onto
// tagseg.Customer.
//
// Custom holds, when Config.Custom is set:
//
//	"plan"       string     starter, pro or enterprise (matches the plan tag)
//	"seats"      int64      at least 1
//	"nps"        float64    0–10, one decimal
//	"enterprise" bool       plan is enterprise
//	"renewal"    time.Time  next yearly anniversary of the first payment after
//	                        the end of the history (only customers who paid)
type Customer struct {
	DataSourceUUID string // one of three fixed ds_… UUIDs
	ExternalID     string // unique within its data source
	Name, Email    string
	Company        string
	Country        string // ISO 3166-1 alpha-2
	State, City    string // State may be empty
	Zip            string
	LeadCreatedAt  time.Time // UTC, before the first event
	// FreeTrialStartedAt is UTC, between LeadCreatedAt and the first event, or
	// zero for customers without a trial.
	FreeTrialStartedAt time.Time
	Tags               []string // distinct; the plan tag first
	Custom             map[string]any
	Events             []MRREvent // strictly increasing At; no two consecutive values equal
}

// MRREvent is a change of a customer's MRR: from At on, MRR is Cents.
type MRREvent struct {
	At    time.Time // UTC
	Cents int64
}

// MRR returns the customer's current MRR: the value of the last event, or 0.
func (c *Customer) MRR() int64 {
	if len(c.Events) == 0 {
		return 0
	}
	return c.Events[len(c.Events)-1].Cents
}

// Generator produces the customers of one Config. It is immutable and safe for
// concurrent use.
type Generator struct {
	cfg   Config
	month []int64 // unix seconds of each month boundary, Months+1 of them

	tags      strtab // every tag name, by rank
	rankShare []float64

	planTag     [len(plans)]string
	sourceTag   [len(sources)]string
	churnTag    [3]string
	managedTag  string
	internalTag string

	featAlias  alias   // draws a feature's rank
	featLambda float64 // mean feature requests before the plan/MRR factor
	featNorm   float64 // divides the plan/MRR factor so its mean is 1

	headTag    []string
	headThresh []uint64 // include head tag k when 32 random bits < headThresh[k]
	tailAlias  alias    // draws a tail tag's rank
	tailLambda float64
	tailExp    float64 // exp(-tailLambda)

	companies, domains, people strtab
	countryCum                 []int
	zips                       [][][]string

	structMean float64 // expected number of non-generic tags
}

// NewGenerator builds the tables for cfg (zero fields take defaults). It takes
// a few tens of milliseconds at 100k tags and holds a few MB.
func NewGenerator(cfg Config) *Generator {
	if cfg.Customers < 0 {
		panic("gen: negative Customers")
	}
	def := DefaultConfig(cfg.Customers)
	if cfg.Tags <= 0 {
		cfg.Tags = def.Tags
	}
	if cfg.TagsPerCust <= 0 {
		cfg.TagsPerCust = def.TagsPerCust
	}
	if cfg.Months <= 0 {
		cfg.Months = def.Months
	}
	if cfg.Start.IsZero() {
		cfg.Start = def.Start
	}
	s := cfg.Start.UTC()
	cfg.Start = time.Date(s.Year(), s.Month(), 1, 0, 0, 0, 0, time.UTC)

	g := &Generator{cfg: cfg}
	g.month = make([]int64, cfg.Months+1)
	for m := range g.month {
		g.month[m] = cfg.Start.AddDate(0, m, 0).Unix()
	}
	g.buildIdentities()
	g.buildTags()
	return g
}

// Config returns the configuration with defaults filled in.
func (g *Generator) Config() Config { return g.cfg }

// NumTags returns the size of the tag vocabulary; ranks are 0 .. NumTags()-1.
func (g *Generator) NumTags() int { return g.tags.len() }

// TagName returns the tag of popularity rank rank (0 is the most popular),
// by expected share. It panics if rank is out of range.
func (g *Generator) TagName(rank int) string { return g.tags.at(rank) }

// TagShare returns the expected share of customers holding the tag of the
// given rank. Realised shares differ by sampling noise, and for churn-risk
// and feature tags by a few per cent of their value.
func (g *Generator) TagShare(rank int) float64 { return g.rankShare[rank] }

// Customer returns customer i (i >= 0). The result depends only on the Config
// and i.
func (g *Generator) Customer(i int) Customer {
	var c Customer
	g.Fill(&c, i)
	return c
}

// Fill overwrites *c with customer i, reusing the capacity of c.Tags and
// c.Events and the c.Custom map. It saves allocations when streaming; the
// caller must not keep references to those from a previous call. The only
// difference from Customer(i) is that Events may be empty rather than nil.
func (g *Generator) Fill(c *Customer, i int) {
	if i < 0 {
		panic("gen: negative customer index")
	}
	// Tags and events are collected in stack buffers and copied out once, to
	// an exact-size slice or into the capacity the caller passed in.
	var tagBuf [128]string
	var eventBuf [48]MRREvent
	tags, events := tagBuf[:0], eventBuf[:0]
	oldTags, oldEvents, custom := c.Tags, c.Events, c.Custom
	*c = Customer{}

	var r rng
	r.seed(g.cfg.Seed, uint64(i), 0)

	// Identity. The first two draws must stay first: identity(j) replays them.
	sharer := r.u64() < shareBelow
	comp := r.intn(g.companies.len())
	owner, variant := i, 0
	if sharer && i > 0 {
		for range 4 {
			j := r.intn(i)
			if sh, cj := g.identity(j); !sh {
				owner, comp, variant = j, cj, r.intn(5)
				break
			}
		}
	}
	c.Company = g.companies.at(comp)
	c.Email = email(owner, g.domains.at(comp), variant)
	c.Name = g.people.at(r.intn(g.people.len()))

	ci := pick(g.countryCum, r.intn(g.countryCum[len(g.countryCum)-1]))
	li := r.intn(len(countries[ci].locs))
	loc := countries[ci].locs[li]
	c.Country, c.State, c.City = countries[ci].code, loc.state, loc.city
	c.Zip = g.zips[ci][li][r.intn(zipsPerLocation)]

	ds := pickWeight(r.intn(1000), len(dataSources), func(k int) int { return dataSources[k].weight })
	c.DataSourceUUID = dataSources[ds].uuid
	c.ExternalID = externalID(dataSources[ds].style, g.cfg.Seed, i)

	// Plan, MRR history, lead and trial dates.
	plan := pickWeight(r.intn(1000), len(plans), func(k int) int { return plans[k].weight })
	paying := r.intn(1000) >= neverPays[plan]
	z := r.norm()
	state, first := stateNeverPaid, int64(0)
	if paying {
		base := plans[plan].median * math.Exp(plans[plan].sigma*z)
		events, state, first = g.simulate(&r, base, events)
		lead := first - 3600 - r.int63n(90*86400)
		c.LeadCreatedAt = time.Unix(lead, 0).UTC()
		if r.intn(100) < 65 {
			c.FreeTrialStartedAt = time.Unix(lead+r.int63n(first-lead), 0).UTC()
		}
	} else {
		span := g.month[len(g.month)-1] - g.month[0] + 30*86400
		lead := g.month[0] - 30*86400 + r.int63n(span)
		c.LeadCreatedAt = time.Unix(lead, 0).UTC()
		if r.intn(100) < 50 {
			c.FreeTrialStartedAt = time.Unix(lead+r.int63n(7*86400), 0).UTC()
		}
	}
	if len(events) > 0 {
		if cap(oldEvents) >= len(events) {
			c.Events = append(oldEvents[:0], events...)
		} else {
			c.Events = slices.Clone(events)
		}
	} else if oldEvents != nil {
		c.Events = oldEvents[:0]
	}

	// Structured tags.
	tags = append(tags, g.planTag[plan])
	if x := r.intn(1000); x < sourceTotal {
		tags = append(tags, g.sourceTag[pickWeight(x, len(sources), func(k int) int { return sources[k].weight })])
	}
	if x, cr := r.intn(1000), churnRisk[state]; x < cr[0]+cr[1]+cr[2] {
		tags = append(tags, g.churnTag[pickWeight(x, 3, func(k int) int { return cr[k] })])
	}
	if r.intn(1000) < managedPerMille[plan] {
		tags = append(tags, g.managedTag)
	}
	if r.intn(1000) < internalPerMille {
		tags = append(tags, g.internalTag)
	}

	// Feature requests: Poisson count, distinct features by popularity, the
	// rate scaled up with plan and MRR.
	var picked [maxFeatures]int32
	lf := g.featLambda * featureAffinity[plan] * math.Exp(0.15*z) / g.featNorm
	nf := min(r.poisson(lf, math.Exp(-lf)), maxFeatures, numFeatures/2)
	for k := 0; k < nf; {
		f := g.featAlias.sample(r.u64())
		if slices.Contains(picked[:k], f) {
			continue
		}
		picked[k] = f
		k++
		tags = append(tags, g.tags.at(int(f)))
	}

	// Generic tags: the head one by one, the tail by a Poisson count of
	// distinct draws.
	// The head loop is branch-free: each tag is written, and kept by
	// advancing n only when drawn (its threshold is a coin of that bias).
	n := len(tags)
	tags = slices.Grow(tags, len(g.headTag))
	buf := tags[:cap(tags)]
	var x uint64
	for k, th := range g.headThresh {
		if k&1 == 0 {
			x = r.u64()
		} else {
			x <<= 32
		}
		buf[n] = g.headTag[k]
		n += b2i(x>>32 < th)
	}
	tags = buf[:n]
	if nt := min(r.poisson(g.tailLambda, g.tailExp), len(g.tailAlias.col)/2); nt > 0 {
		var buf [64]int32
		seen := buf[:0]
		if nt > len(buf) {
			seen = make([]int32, 0, nt)
		}
		for len(seen) < nt {
			t := g.tailAlias.sample(r.u64())
			if slices.Contains(seen, t) {
				continue
			}
			seen = append(seen, t)
			tags = append(tags, g.tags.at(int(t)))
		}
	}
	if cap(oldTags) >= len(tags) {
		c.Tags = append(oldTags[:0], tags...)
	} else {
		c.Tags = slices.Clone(tags)
	}

	// Custom attributes last, so that Config.Custom changes nothing else.
	if g.cfg.Custom {
		if custom == nil {
			custom = make(map[string]any, 5)
		} else {
			clear(custom)
		}
		custom["plan"] = planAny[plan]
		seats := int64(1)
		if m := c.MRR(); m > 0 {
			seats = max(1, m/plans[plan].perSeat)
		}
		custom["seats"] = seats
		custom["nps"] = math.Round(min(10, max(0, 7.2+2.2*r.norm()))*10) / 10
		custom["enterprise"] = plan == len(plans)-1
		if paying {
			t := time.Unix(first, 0).UTC()
			end := g.month[len(g.month)-1]
			d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
			for y := 1; d.Unix() <= end; y++ {
				d = time.Date(t.Year()+y, t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
			}
			custom["renewal"] = d
		}
		c.Custom = custom
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// shareBelow: a customer reuses an earlier email when its first draw is below.
const shareBelow uint64 = (1 << 64) / 1000 * sharePerMille

// identity replays the first draws of customer j: whether it reuses someone
// else's email, and its company.
func (g *Generator) identity(j int) (sharer bool, company int) {
	var r rng
	r.seed(g.cfg.Seed, uint64(j), 0)
	sharer = r.u64() < shareBelow
	return sharer, r.intn(g.companies.len())
}

// simulate appends the MRR events of a paying customer starting at MRR base
// and returns them with the customer's final state and the unix time of the
// first event.
func (g *Generator) simulate(r *rng, base float64, ev []MRREvent) ([]MRREvent, int, int64) {
	months := len(g.month) - 1
	sm := 0
	if r.float() >= startAtZero {
		sm = r.intn(months)
	}
	v := roundMRR(base)
	first := g.at(r, sm)
	ev = append(ev, MRREvent{At: time.Unix(first, 0).UTC(), Cents: v})
	last, contracted := v, -1<<30
	for m := sm + 1; m < months; m++ {
		u := r.float()
		nv := v
		switch {
		case v == 0:
			if u < reactivationRate {
				nv = roundMRR(float64(last) * (0.8 + 0.4*r.float()))
			}
		case u < churnRate:
			nv = 0
		case u < churnRate+expansionRate:
			nv = min(maxMRR, max(v+100, roundMRR(float64(v)*(1.05+0.45*r.float()))))
		case u < churnRate+expansionRate+contractionRate:
			nv = max(minMRR, min(v-100, roundMRR(float64(v)*(0.9-0.4*r.float()))))
			if nv != v {
				contracted = m
			}
		}
		if nv != v {
			ev = append(ev, MRREvent{At: time.Unix(g.at(r, m), 0).UTC(), Cents: nv})
			if nv > 0 {
				last = nv
			}
			v = nv
		}
	}
	switch {
	case v == 0:
		return ev, stateChurned, first
	case contracted >= months-6:
		return ev, stateContracted, first
	}
	return ev, statePaying, first
}

// at returns a random second of month m, as unix time.
func (g *Generator) at(r *rng, m int) int64 {
	return g.month[m] + r.int63n(g.month[m+1]-g.month[m])
}

// roundMRR rounds cents to whole dollars within [minMRR, maxMRR].
func roundMRR(x float64) int64 {
	return min(maxMRR, max(minMRR, int64(math.Round(x/100))*100))
}

// pick returns the k with cum[k-1] <= x < cum[k] (cum ascending, cum[-1] = 0).
func pick(cum []int, x int) int {
	for k, c := range cum {
		if x < c {
			return k
		}
	}
	return len(cum) - 1
}

// pickWeight is pick over weights w(0..n-1) accumulated on the fly; x past the
// total gives n-1.
func pickWeight(x, n int, w func(int) int) int {
	for k := range n {
		if x -= w(k); x < 0 {
			return k
		}
	}
	return n - 1
}

var sourceTotal = func() int {
	t := 0
	for _, s := range sources {
		t += s.weight
	}
	return t
}()

// email builds user<owner>@<domain> in one of five letter-case variants.
func email(owner int, domain string, variant int) string {
	var buf [96]byte
	b := append(buf[:0], "user"...)
	b = strconv.AppendInt(b, int64(owner), 10)
	at := len(b)
	b = append(b, '@')
	b = append(b, domain...)
	switch variant {
	case 1: // User42@acme.com
		b[0] = 'U'
	case 2: // user42@ACME.COM
		upper(b[at+1:])
	case 3: // USER42@ACME.COM
		upper(b)
	case 4: // User42@Acme.com
		b[0] = 'U'
		upper(b[at+1 : at+2])
	}
	return string(b)
}

func upper(b []byte) {
	for k, ch := range b {
		if 'a' <= ch && ch <= 'z' {
			b[k] = ch - 'a' + 'A'
		}
	}
}

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// scramble is a bijection of uint64 keyed by seed and salt.
func scramble(x, seed, salt uint64) uint64 {
	x ^= splitmix64(seed ^ salt)
	x *= 0x9e3779b97f4a7c15
	x ^= x >> 29
	x *= 0xbf58476d1ce4e5b9
	return x ^ x>>32
}

// externalID is the data-source-specific ID of customer i. Each style encodes
// a bijection of i, so IDs are unique within (indeed across) data sources.
func externalID(style byte, seed uint64, i int) string {
	var buf [32]byte
	b := buf[:0]
	put := func(x uint64, n int) {
		for range n {
			b = append(b, base62[x%62])
			x /= 62
		}
	}
	switch style {
	case 's': // Stripe-like: cus_ + 14 characters
		b = append(b, "cus_"...)
		put(splitmix64(uint64(i)^seed), 3)
		put(scramble(uint64(i), seed, 1), 11)
	case 'c': // Chargebee-like: 16 characters
		put(splitmix64(uint64(i)^seed^2), 5)
		put(scramble(uint64(i), seed, 2), 11)
	default: // numeric
		b = strconv.AppendInt(b, 1_000_000+int64(i), 10)
	}
	return string(b)
}

// buildIdentities precomputes company names and domains, person names, the
// country table and zip codes.
func (g *Generator) buildIdentities() {
	// Each table is packed into one backing string, for locality.
	var companies, domains, people packer
	for _, a := range companyAdjectives {
		for _, n := range companyNouns {
			for _, s := range companySuffixes {
				companies.add(a, " ", n, " ", s.name)
				domains.add(lowerASCII(a), lowerASCII(n), ".", s.tld)
			}
		}
	}
	for _, f := range firstNames {
		for _, l := range lastNames {
			people.add(f, " ", l)
		}
	}
	g.companies, g.domains, g.people = companies.table(), domains.table(), people.table()
	total := 0
	var r rng
	r.seed(0x5eed, 0, 1) // zip codes do not depend on the seed
	g.zips = make([][][]string, len(countries))
	for ci, c := range countries {
		total += c.weight
		g.countryCum = append(g.countryCum, total)
		g.zips[ci] = make([][]string, len(c.locs))
		for li, l := range c.locs {
			for range zipsPerLocation {
				z := []byte(l.zip)
				for k, ch := range z {
					switch ch {
					case '#':
						z[k] = byte('0' + r.intn(10))
					case '@':
						z[k] = byte('A' + r.intn(26))
					}
				}
				g.zips[ci][li] = append(g.zips[ci][li], string(z))
			}
		}
	}
}

func lowerASCII(s string) string {
	b := []byte(s)
	for k, ch := range b {
		if 'A' <= ch && ch <= 'Z' {
			b[k] = ch - 'A' + 'a'
		}
	}
	return string(b)
}

// buildTags names every tag, computes the expected shares, calibrates the
// generic Zipf tags to TagsPerCust, and ranks the whole vocabulary.
func (g *Generator) buildTags() {
	type entry struct {
		name  string
		share float64
		rank  *int32 // where to record the rank, if anywhere
	}
	var all []entry
	add := func(name string, share float64) string {
		all = append(all, entry{name, share, nil})
		return name
	}
	addRanked := func(name string, share float64, rank *int32) {
		all = append(all, entry{name, share, rank})
	}

	var planShare [len(plans)]float64
	for p, pl := range plans {
		planShare[p] = float64(pl.weight) / 1000
		g.planTag[p] = add("plan-"+pl.name, planShare[p])
		g.structMean += planShare[p]
	}
	for k, s := range sources {
		g.sourceTag[k] = add(s.name, float64(s.weight)/1000)
		g.structMean += float64(s.weight) / 1000
	}
	churn := g.churnShares()
	for k, name := range []string{"churn-risk-high", "churn-risk-medium", "churn-risk-low"} {
		g.churnTag[k] = add(name, churn[k])
		g.structMean += churn[k]
	}
	managed := 0.0
	for p := range plans {
		managed += planShare[p] * float64(managedPerMille[p]) / 1000
	}
	g.managedTag = add("managed-account", managed)
	g.internalTag = add("internal", internalPerMille/1000.0)
	g.structMean += managed + internalPerMille/1000.0

	// Features: shares from featTop down to featBottom along a power law.
	a := math.Log(featTop/featBottom) / math.Log(numFeatures)
	fw := make([]float64, numFeatures)
	featRank := make([]int32, numFeatures)
	for k := range numFeatures {
		fw[k] = featTop * math.Pow(float64(k+1), -a)
		g.featLambda += fw[k]
		addRanked("feature-"+featureName(k), fw[k], &featRank[k])
	}
	for p := range plans {
		g.featNorm += planShare[p] * featureAffinity[p]
	}
	g.featNorm *= math.Exp(0.15 * 0.15 / 2) // E[exp(0.15 z)]
	g.structMean += g.featLambda

	// Generic tags: p(r) = top·(b/(r+b))^s, with b solved so that their sum
	// is the budget left by the structured tags.
	n := max(g.cfg.Tags-len(all), 100)
	budget := g.cfg.TagsPerCust - g.structMean
	share := make([]float64, n)
	switch {
	case budget <= 0:
	case budget >= zipfTop*float64(n):
		for r := range share {
			share[r] = min(1, budget/float64(n))
		}
	case budget <= zipfTop:
		share[0] = budget
	default:
		lo, hi := math.Log(1e-9), math.Log(1e12)
		for range 200 {
			mid := (lo + hi) / 2
			if zipfTop*zipfSum(n, math.Exp(mid), zipfS) < budget {
				lo = mid
			} else {
				hi = mid
			}
		}
		b := math.Exp((lo + hi) / 2)
		for r := range share {
			share[r] = zipfTop * math.Pow(b/(float64(r)+b), zipfS)
		}
	}
	names := genericNames(n)
	head := 0
	for head < n && share[head] >= headCut {
		head++
	}
	headRank := make([]int32, head)
	g.headThresh = make([]uint64, head)
	for r := range head {
		addRanked(names[r], share[r], &headRank[r])
		g.headThresh[r] = uint64(share[r] * (1 << 32))
	}
	tailRank := make([]int32, n-head)
	for r := head; r < n; r++ {
		addRanked(names[r], share[r], &tailRank[r-head])
		g.tailLambda += share[r]
	}
	g.tailExp = math.Exp(-g.tailLambda)

	slices.SortStableFunc(all, func(x, y entry) int {
		if c := cmp.Compare(y.share, x.share); c != 0 {
			return c
		}
		return cmp.Compare(x.name, y.name)
	})
	var names2 packer
	g.rankShare = make([]float64, len(all))
	for k, e := range all {
		names2.add(e.name)
		g.rankShare[k] = e.share
		if e.rank != nil {
			*e.rank = int32(k)
		}
	}
	g.tags = names2.table()
	g.headTag = make([]string, head)
	for r, rank := range headRank {
		g.headTag[r] = g.tags.at(int(rank))
	}
	g.featAlias = newAlias(fw, featRank)
	if g.tailLambda > 0 {
		g.tailAlias = newAlias(share[head:], tailRank)
	}
}

// churnShares estimates the shares of churn-risk-high, -medium and -low by
// simulating calibrationRuns customers with a fixed seed.
func (g *Generator) churnShares() [3]float64 {
	var r rng
	r.seed(0xc41b, 0, 2)
	var ev []MRREvent
	var out [3]float64
	for range calibrationRuns {
		plan := pickWeight(r.intn(1000), len(plans), func(k int) int { return plans[k].weight })
		state := stateNeverPaid
		if r.intn(1000) >= neverPays[plan] {
			base := plans[plan].median * math.Exp(plans[plan].sigma*r.norm())
			ev, state, _ = g.simulate(&r, base, ev[:0])
		}
		for k := range 3 {
			out[k] += float64(churnRisk[state][k]) / 1000 / calibrationRuns
		}
	}
	return out
}

// zipfSum returns Σ_{r=0}^{n-1} (b/(r+b))^s (s != 1): exact for the first
// terms, Euler–Maclaurin for the rest.
func zipfSum(n int, b, s float64) float64 {
	f := func(x float64) float64 { return math.Pow(b/(x+b), s) }
	exact := min(n, 512)
	sum := 0.0
	for r := range exact {
		sum += f(float64(r))
	}
	if n <= exact {
		return sum
	}
	lo, hi := float64(exact), float64(n-1)
	bs := math.Pow(b, s)
	F := func(x float64) float64 { return bs * math.Pow(x+b, 1-s) / (1 - s) }
	df := func(x float64) float64 { return -s * bs * math.Pow(x+b, -s-1) }
	return sum + F(hi) - F(lo) + (f(lo)+f(hi))/2 + (df(hi)-df(lo))/12
}

// featureName names feature k: the curated ones first, then area-thing pairs
// (distinct: for equal areas, k differs by 16d and the thing by 4d mod 13).
func featureName(k int) string {
	if k < len(curatedFeatures) {
		return curatedFeatures[k]
	}
	k -= len(curatedFeatures)
	na, nt := len(featureAreas), len(featureThings)
	return featureAreas[k%na] + "-" + featureThings[(k/na+k)%nt]
}

// genericNames names the n generic tags, most popular first.
func genericNames(n int) []string {
	var p packer
	var num [8]byte
	for r := range n {
		if r < len(headGenericTags) {
			p.add(headGenericTags[r])
		} else {
			d := fmt.Appendf(num[:0], "%05d", r)
			p.add(tailFamilies[r%len(tailFamilies)], "-", string(d))
		}
	}
	t := p.table()
	return t.all()
}

// packer builds a list of strings that share one backing string.
type packer struct {
	buf  []byte
	ends []int
}

// add appends the concatenation of parts as one string.
func (p *packer) add(parts ...string) {
	for _, s := range parts {
		p.buf = append(p.buf, s...)
	}
	p.ends = append(p.ends, len(p.buf))
}

// table returns the strings added so far.
func (p *packer) table() strtab {
	t := strtab{s: string(p.buf), off: make([]uint32, 1, len(p.ends)+1)}
	for _, e := range p.ends {
		t.off = append(t.off, uint32(e))
	}
	return t
}

// strtab is a list of strings held as one string and offsets: the garbage
// collector sees one pointer instead of one per string.
type strtab struct {
	s   string
	off []uint32 // string k is s[off[k]:off[k+1]]
}

func (t *strtab) len() int { return len(t.off) - 1 }

func (t *strtab) at(k int) string { return t.s[t.off[k]:t.off[k+1]] }

func (t *strtab) all() []string {
	out := make([]string, t.len())
	for k := range out {
		out[k] = t.at(k)
	}
	return out
}
