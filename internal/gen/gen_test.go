package gen

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"reflect"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var (
	statsN  = flag.Int("gen.stats", 0, "TestStats: report distribution facts over this many customers")
	streamN = flag.Int("gen.stream", 0, "TestStream: generate this many customers on GOMAXPROCS goroutines and report the time")
)

// testN customers are generated once and shared by the distribution tests.
const testN = 20_000

var (
	sampleOnce sync.Once
	sampleGen  *Generator
	sample     []Customer
)

func testSample(t testing.TB) (*Generator, []Customer) {
	t.Helper()
	sampleOnce.Do(func() {
		sampleGen = NewGenerator(DefaultConfig(testN))
		sample = make([]Customer, testN)
		for i := range sample {
			sample[i] = sampleGen.Customer(i)
		}
	})
	return sampleGen, sample
}

func TestDeterminism(t *testing.T) {
	cfg := DefaultConfig(5_000)
	cfg.Seed = 42
	g1, g2 := NewGenerator(cfg), NewGenerator(cfg)
	for r := range g1.NumTags() {
		if g1.TagName(r) != g2.TagName(r) || g1.TagShare(r) != g2.TagShare(r) {
			t.Fatalf("rank %d: %q %g, then %q %g", r, g1.TagName(r), g1.TagShare(r), g2.TagName(r), g2.TagShare(r))
		}
	}
	fwd := make([]Customer, 2_000)
	for i := range fwd {
		fwd[i] = g1.Customer(i)
	}
	// Another generator, reverse and shuffled order, Fill reusing one value.
	order := rand.New(rand.NewPCG(1, 2)).Perm(len(fwd))
	var c Customer
	for _, i := range order {
		g2.Fill(&c, i)
		got := c
		if len(got.Events) == 0 {
			got.Events = nil // Fill keeps the capacity of an empty slice
		}
		if !reflect.DeepEqual(fwd[i], got) {
			t.Fatalf("customer %d differs by access order (-in order +shuffled):\n%s", i, cmp.Diff(fwd[i], got))
		}
	}
	for i := len(fwd) - 1; i >= 0; i-- {
		if c := g1.Customer(i); !reflect.DeepEqual(fwd[i], c) {
			t.Fatalf("customer %d differs on second call (-first +second):\n%s", i, cmp.Diff(fwd[i], c))
		}
	}
	// Concurrent use gives the same customers.
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := w; i < len(fwd); i += 4 {
				if c := g1.Customer(i); !reflect.DeepEqual(fwd[i], c) {
					t.Errorf("customer %d differs when concurrent:\n%s", i, cmp.Diff(fwd[i], c))
					return
				}
			}
		})
	}
	wg.Wait()

	// A different seed gives different customers; Custom changes nothing else.
	cfg.Seed = 43
	if cmp.Equal(fwd[7], NewGenerator(cfg).Customer(7)) {
		t.Error("seeds 42 and 43 give the same customer 7")
	}
	cfg.Seed, cfg.Custom = 42, false
	c = NewGenerator(cfg).Customer(7)
	want := fwd[7]
	want.Custom = nil
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("Custom=false changes more than Custom (-want +got):\n%s", diff)
	}
}

func TestVocabulary(t *testing.T) {
	for _, n := range []int{0, 1_000, 100_000, 2_000_000} {
		g := NewGenerator(DefaultConfig(n))
		if got, want := g.NumTags(), DefaultConfig(n).Tags; got != want {
			t.Errorf("n=%d: NumTags() = %d, want %d", n, got, want)
		}
		seen := make(map[string]bool, g.NumTags())
		for r := range g.NumTags() {
			name := g.TagName(r)
			if seen[name] {
				t.Fatalf("n=%d: tag %q twice", n, name)
			}
			seen[name] = true
			if name == "" || len(name) > 255 || strings.TrimSpace(name) != name {
				t.Errorf("n=%d: bad tag name %q", n, name)
			}
			if r > 0 && g.TagShare(r) > g.TagShare(r-1) {
				t.Errorf("n=%d: share of rank %d (%g) > rank %d (%g)", n, r, g.TagShare(r), r-1, g.TagShare(r-1))
			}
		}
		for _, tag := range []string{"plan-starter", "plan-pro", "plan-enterprise", "churn-risk-high",
			"churn-risk-medium", "churn-risk-low", "managed-account", "internal", "source-hubspot",
			"source-salesforce", "source-zapier", "newsletter", "active", "feature-dark-mode", "feature-sso"} {
			if !seen[tag] {
				t.Errorf("n=%d: no tag %q", n, tag)
			}
		}
		features := 0
		for name := range seen {
			if strings.HasPrefix(name, "feature-") {
				features++
			}
		}
		if features != numFeatures {
			t.Errorf("n=%d: %d feature tags, want %d", n, features, numFeatures)
		}
	}
}

func TestCustomers(t *testing.T) {
	g, cs := testSample(t)
	start, end := g.month[0], g.month[len(g.month)-1]
	extIDs := make(map[[2]string]bool, len(cs))
	for i, c := range cs {
		seen := make(map[string]bool, len(c.Tags))
		plansHeld := 0
		for _, tag := range c.Tags {
			if seen[tag] {
				t.Fatalf("customer %d: tag %q twice in %q", i, tag, c.Tags)
			}
			seen[tag] = true
			if strings.HasPrefix(tag, "plan-") {
				plansHeld++
			}
		}
		if plansHeld != 1 {
			t.Fatalf("customer %d: %d plan tags in %q", i, plansHeld, c.Tags)
		}
		for k, e := range c.Events {
			if e.At.Location() != time.UTC || e.At.Unix() < start || e.At.Unix() >= end {
				t.Fatalf("customer %d: event %d at %v, outside history or not UTC", i, k, e.At)
			}
			if e.Cents < 0 || e.Cents > maxMRR {
				t.Fatalf("customer %d: event %d of %d cents", i, k, e.Cents)
			}
			if k == 0 && e.Cents == 0 {
				t.Fatalf("customer %d: first event is 0", i)
			}
			if k > 0 {
				if !e.At.After(c.Events[k-1].At) {
					t.Fatalf("customer %d: event %d at %v not after %v", i, k, e.At, c.Events[k-1].At)
				}
				if e.Cents == c.Events[k-1].Cents {
					t.Fatalf("customer %d: events %d and %d both %d cents", i, k-1, k, e.Cents)
				}
			}
		}
		if len(c.Events) > 0 && !c.LeadCreatedAt.Before(c.Events[0].At) {
			t.Errorf("customer %d: lead %v not before first payment %v", i, c.LeadCreatedAt, c.Events[0].At)
		}
		if !c.FreeTrialStartedAt.IsZero() && c.FreeTrialStartedAt.Before(c.LeadCreatedAt) {
			t.Errorf("customer %d: trial %v before lead %v", i, c.FreeTrialStartedAt, c.LeadCreatedAt)
		}
		key := [2]string{c.DataSourceUUID, c.ExternalID}
		if extIDs[key] {
			t.Fatalf("customer %d: duplicate external ID %q", i, key)
		}
		extIDs[key] = true
		for _, f := range []string{c.DataSourceUUID, c.ExternalID, c.Name, c.Email, c.Company, c.Country, c.City, c.Zip} {
			if f == "" {
				t.Fatalf("customer %d: empty field in %+v", i, c)
			}
		}
		if p := c.Custom["plan"].(string); !seen["plan-"+p] {
			t.Errorf("customer %d: custom plan %q, tags %q", i, p, c.Tags)
		}
		if _, ok := c.Custom["renewal"].(time.Time); ok != (len(c.Events) > 0) {
			t.Errorf("customer %d: renewal %v with %d events", i, c.Custom["renewal"], len(c.Events))
		}
		_ = c.Custom["seats"].(int64)
		_ = c.Custom["nps"].(float64)
		_ = c.Custom["enterprise"].(bool)
	}
}

// facts are the distribution figures of a set of customers.
type facts struct {
	n                    int
	tagCount             map[string]int
	meanTags, meanEvents float64
	meanMRR, medianMRR   float64 // of paying customers
	paying, neverPaid    float64 // shares
	sharedEmail          float64 // share of customers whose email (any case) an earlier one has
	countryShare         map[string]float64
	featureMRR, otherMRR float64 // mean current MRR of paying customers with / without a feature tag
	distinctTagsHeld     int
	movements            map[string]int // counts of event kinds
	maxMRRSeen           int64
	tagsAtLeast50, tail5 int // tags held by >= 50% / by <= 5 customers
}

func measure(g *Generator, n int, get func(int) Customer) facts {
	f := facts{n: n, tagCount: map[string]int{}, countryShare: map[string]float64{}, movements: map[string]int{}}
	emails := make(map[string]bool, n)
	var mrrs []int64
	var tags, events, shared int
	var featSum, otherSum float64
	var featN, otherN int
	for i := range n {
		c := get(i)
		tags += len(c.Tags)
		events += len(c.Events)
		hasFeature := false
		for _, tag := range c.Tags {
			f.tagCount[tag]++
			hasFeature = hasFeature || strings.HasPrefix(tag, "feature-")
		}
		e := strings.ToLower(c.Email)
		if emails[e] {
			shared++
		}
		emails[e] = true
		f.countryShare[c.Country]++
		if len(c.Events) == 0 {
			f.neverPaid++
		}
		prev, everPaid := int64(0), false
		for _, ev := range c.Events {
			switch {
			case prev == 0 && !everPaid:
				f.movements["new"]++
			case prev == 0:
				f.movements["reactivation"]++
			case ev.Cents == 0:
				f.movements["churn"]++
			case ev.Cents > prev:
				f.movements["expansion"]++
			default:
				f.movements["contraction"]++
			}
			everPaid = everPaid || ev.Cents > 0
			prev = ev.Cents
			f.maxMRRSeen = max(f.maxMRRSeen, ev.Cents)
		}
		if m := c.MRR(); m > 0 {
			f.paying++
			mrrs = append(mrrs, m)
			if hasFeature {
				featSum += float64(m)
				featN++
			} else {
				otherSum += float64(m)
				otherN++
			}
		}
	}
	f.meanTags = float64(tags) / float64(n)
	f.meanEvents = float64(events) / float64(n)
	f.sharedEmail = float64(shared) / float64(n)
	f.paying /= float64(n)
	f.neverPaid /= float64(n)
	for k := range f.countryShare {
		f.countryShare[k] /= float64(n)
	}
	slices.Sort(mrrs)
	var sum float64
	for _, m := range mrrs {
		sum += float64(m)
	}
	if len(mrrs) > 0 {
		f.meanMRR = sum / float64(len(mrrs))
		f.medianMRR = float64(mrrs[len(mrrs)/2])
	}
	f.featureMRR = featSum / float64(max(featN, 1))
	f.otherMRR = otherSum / float64(max(otherN, 1))
	f.distinctTagsHeld = len(f.tagCount)
	for _, k := range f.tagCount {
		if 2*k >= n {
			f.tagsAtLeast50++
		}
		if k <= 5 {
			f.tail5++
		}
	}
	return f
}

func (f facts) share(tag string) float64 { return float64(f.tagCount[tag]) / float64(f.n) }

func TestDistribution(t *testing.T) {
	g, cs := testSample(t)
	f := measure(g, len(cs), func(i int) Customer { return cs[i] })
	check := func(what string, got, lo, hi float64) {
		t.Helper()
		if got < lo || got > hi {
			t.Errorf("%s = %.4f, want in [%g, %g]", what, got, lo, hi)
		}
	}
	check("mean tags per customer", f.meanTags, 15.5, 16.5)
	check("share of newsletter (Zipf head)", f.share("newsletter"), 0.35, 0.65)
	check("share of TagName(0)", f.share(g.TagName(0)), 0.35, 0.65)
	check("share of plan-starter", f.share("plan-starter"), 0.57, 0.63)
	check("share of plan-enterprise", f.share("plan-enterprise"), 0.08, 0.12)
	check("shared email rate", f.sharedEmail, 0.015, 0.025)
	check("share of US", f.countryShare["US"], 0.33, 0.41)
	check("never paid", f.neverPaid, 0.09, 0.15)
	check("median MRR of paying customers (cents)", f.medianMRR, 3500, 7000)
	check("mean events per customer", f.meanEvents, 1.5, 4)
	check("feature-dark-mode share", f.share("feature-dark-mode"), 0.07, 0.13)
	if f.featureMRR <= f.otherMRR {
		t.Errorf("mean MRR with a feature request %.0f <= without %.0f", f.featureMRR, f.otherMRR)
	}
	for _, kind := range []string{"new", "expansion", "contraction", "churn", "reactivation"} {
		if f.movements[kind] == 0 {
			t.Errorf("no %s movement in %d customers", kind, len(cs))
		}
	}
	// Realised shares follow the expected ones.
	for r := range 50 {
		tag, want := g.TagName(r), g.TagShare(r)
		if got := f.share(tag); got < want*0.85-0.005 || got > want*1.15+0.005 {
			t.Errorf("rank %d %q: share %.4f, expected %.4f", r, tag, got, want)
		}
	}
}

// TestStats prints distribution facts: go test -run TestStats -gen.stats 100000 -v
func TestStats(t *testing.T) {
	if *statsN <= 0 {
		t.Skip("set -gen.stats N")
	}
	g := NewGenerator(DefaultConfig(*statsN))
	f := measure(g, *statsN, g.Customer)
	t.Logf("customers %d, vocabulary %d tags, %d held by someone, %d held by >= 50%%, %d by <= 5 customers",
		f.n, g.NumTags(), f.distinctTagsHeld, f.tagsAtLeast50, f.tail5)
	t.Logf("mean tags/customer %.3f, mean events/customer %.3f", f.meanTags, f.meanEvents)
	t.Logf("paying now %.3f, never paid %.3f, median MRR %.0f, mean MRR %.0f cents, max %d; shared email %.4f",
		f.paying, f.neverPaid, f.medianMRR, f.meanMRR, f.maxMRRSeen, f.sharedEmail)
	t.Logf("mean MRR with a feature request %.0f, without %.0f", f.featureMRR, f.otherMRR)
	t.Logf("movements: %v", f.movements)
	type kv struct {
		k string
		v int
	}
	var top []kv
	for k, v := range f.tagCount {
		top = append(top, kv{k, v})
	}
	sort.Slice(top, func(a, b int) bool { return top[a].v > top[b].v || top[a].v == top[b].v && top[a].k < top[b].k })
	var b strings.Builder
	for r, e := range top[:25] {
		fmt.Fprintf(&b, "  %2d %-22s %.4f (expected %-22s %.4f)\n", r, e.k, float64(e.v)/float64(f.n), g.TagName(r), g.TagShare(r))
	}
	t.Logf("top tags:\n%s", b.String())
	for _, q := range []int{100, 1000, 10_000, 50_000, 99_999} {
		if q < len(top) {
			t.Logf("tag at observed rank %d: %s held by %d", q, top[q].k, top[q].v)
		}
	}
	for _, tag := range []string{"churn-risk-high", "churn-risk-medium", "churn-risk-low", "managed-account",
		"internal", "feature-dark-mode", "feature-sso", "feature-" + featureName(numFeatures-1)} {
		t.Logf("%-22s %.4f", tag, f.share(tag))
	}
	var cs []string
	for k, v := range f.countryShare {
		cs = append(cs, fmt.Sprintf("%s %.3f", k, v))
	}
	sort.Strings(cs)
	t.Logf("countries: %s", strings.Join(cs, ", "))
}

// TestStream times a whole data set as an importer would produce it:
// go test -run TestStream -gen.stream 10000000 -v
func TestStream(t *testing.T) {
	if *streamN <= 0 {
		t.Skip("set -gen.stream N")
	}
	n, workers := *streamN, runtime.GOMAXPROCS(0)
	var before, after syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	t0 := time.Now()
	g := NewGenerator(DefaultConfig(n))
	setup := time.Since(t0)
	var wg sync.WaitGroup
	var tags, events atomic.Int64
	for w := range workers {
		wg.Go(func() {
			var c Customer
			var nt, ne int
			for i := w; i < n; i += workers {
				g.Fill(&c, i)
				nt += len(c.Tags)
				ne += len(c.Events)
			}
			tags.Add(int64(nt))
			events.Add(int64(ne))
		})
	}
	wg.Wait()
	wall := time.Since(t0)
	syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	cpu := time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
	t.Logf("%d customers, %d workers: wall %v (setup %v), CPU %v = %.0f ns CPU/customer; %.2f tags, %.2f events per customer",
		n, workers, wall.Round(time.Millisecond), setup.Round(time.Millisecond), cpu.Round(time.Millisecond),
		float64(cpu.Nanoseconds())/float64(n), float64(tags.Load())/float64(n), float64(events.Load())/float64(n))
}

func BenchmarkCustomer(b *testing.B) {
	for _, custom := range []bool{false, true} {
		b.Run(fmt.Sprintf("custom=%v", custom), func(b *testing.B) {
			cfg := DefaultConfig(10_000_000)
			cfg.Custom = custom
			g := NewGenerator(cfg)
			var tags, events int
			i := 0
			for b.Loop() {
				c := g.Customer(i)
				tags += len(c.Tags)
				events += len(c.Events)
				i++
			}
			b.ReportMetric(float64(tags)/float64(i), "tags/customer")
			b.ReportMetric(float64(events)/float64(i), "events/customer")
		})
	}
	b.Run("fill", func(b *testing.B) {
		cfg := DefaultConfig(10_000_000)
		cfg.Custom = false
		g := NewGenerator(cfg)
		var c Customer
		i := 0
		for b.Loop() {
			g.Fill(&c, i)
			i++
		}
	})
	b.Run("parallel", func(b *testing.B) {
		g := NewGenerator(DefaultConfig(10_000_000))
		var next atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			var c Customer
			for pb.Next() {
				g.Fill(&c, int(next.Add(1)))
			}
		})
	})
}

func BenchmarkNewGenerator(b *testing.B) {
	for _, n := range []int{100_000, 10_000_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for b.Loop() {
				NewGenerator(DefaultConfig(n))
			}
		})
	}
}

func TestEdgeConfigs(t *testing.T) {
	for _, cfg := range []Config{
		{},
		{Customers: 10, Tags: 10, TagsPerCust: 1, Months: 1},
		{Customers: 1_000, TagsPerCust: 3},
		{Customers: 1_000, TagsPerCust: 100, Months: 120, Custom: true},
		{Customers: 1_000, Tags: 300, TagsPerCust: 300, Start: time.Date(2024, 2, 29, 13, 0, 0, 0, time.FixedZone("X", 3600))},
	} {
		g := NewGenerator(cfg)
		got := g.Config()
		if got.Start.Day() != 1 || got.Start.Location() != time.UTC || got.Months <= 0 || got.Tags <= 0 {
			t.Errorf("%+v: normalised to %+v", cfg, got)
		}
		total := 0
		for i := range 500 {
			c := g.Customer(i * 7)
			total += len(c.Tags)
			seen := map[string]bool{}
			plansHeld := 0
			for _, tag := range c.Tags {
				if seen[tag] {
					t.Fatalf("%+v: customer %d: tag %q twice", cfg, i*7, tag)
				}
				seen[tag] = true
				if strings.HasPrefix(tag, "plan-") {
					plansHeld++
				}
			}
			if plansHeld != 1 {
				t.Fatalf("%+v: customer %d: %d plan tags", cfg, i*7, plansHeld)
			}
			for k := 1; k < len(c.Events); k++ {
				if !c.Events[k].At.After(c.Events[k-1].At) || c.Events[k].Cents == c.Events[k-1].Cents {
					t.Fatalf("%+v: customer %d: events %v", cfg, i*7, c.Events)
				}
			}
		}
		t.Logf("%+v: %d tags, mean %.2f tags/customer", cfg, g.NumTags(), float64(total)/500)
	}
}
