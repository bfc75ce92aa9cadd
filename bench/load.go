package bench

// The load benchmark's machinery: build and start tagseg serve as a
// process on a copy of a cached index, and drive it with vegeta at a
// given rate with a mix of the API's requests (load_test.go runs the
// steps and reports).

import (
	"encoding/json"
	"errors"
	"fmt"
	"image/color"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/tagseg/tagseg"
)

// BuildServer builds the tagseg command into dir and returns its path.
// It builds github.com/tagseg/tagseg/cmd/tagseg from the repository root,
// beside bench/.
func BuildServer(dir string) (string, error) {
	bin := filepath.Join(dir, "tagseg")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/tagseg/tagseg/cmd/tagseg")
	cmd.Dir = libDir()
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build cmd/tagseg: %v\n%s", err, out)
	}
	return bin, nil
}

// Server is a tagseg serve process on 127.0.0.1.
type Server struct {
	URL    string
	cmd    *exec.Cmd
	log    string
	exited chan struct{} // closed when the process has exited
}

// StartServer runs bin serve on db, on a free port of 127.0.0.1, with its
// standard error into logPath, and waits until it listens (it writes
// db.serve.json then).
func StartServer(bin, db, logPath string) (*Server, error) {
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer lf.Close()
	cmd := exec.Command(bin, "serve", "-db", db, "-addr", "127.0.0.1:0")
	cmd.Stdout, cmd.Stderr = lf, lf
	// Killed with the benchmark, should it be killed before Stop.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &Server{cmd: cmd, log: logPath, exited: make(chan struct{})}
	go func() { cmd.Wait(); close(s.exited) }()
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(20 * time.Millisecond) {
		var note struct {
			URL string `json:"url"`
			PID int    `json:"pid"`
		}
		if b, err := os.ReadFile(db + ".serve.json"); err == nil && json.Unmarshal(b, &note) == nil && note.PID == cmd.Process.Pid {
			if !strings.HasPrefix(note.URL, "http://127.0.0.1:") {
				s.Stop()
				return nil, fmt.Errorf("tagseg serve listens on %s, not on loopback", note.URL)
			}
			s.URL = note.URL
			return s, nil
		}
		select {
		case <-s.exited:
			return nil, fmt.Errorf("tagseg serve exited: %s", s.LogTail())
		default:
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("tagseg serve did not start in 2 minutes: %s", s.LogTail())
		}
	}
}

// LogTail is the end of the server's standard error.
func (s *Server) LogTail() string {
	b, _ := os.ReadFile(s.log)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// Stop stops the server with SIGTERM (it finishes the requests in flight
// and closes the index), or SIGKILL after 30 s.
func (s *Server) Stop() {
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
	}
}

// CPU is the CPU time (user + system) the server has used, from
// /proc/PID/stat (0 where there is no /proc).
func (s *Server) CPU() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// The fields after the command name (in parentheses, which may hold
	// spaces): state is field 3, utime 14, stime 15, in clock ticks.
	_, rest, ok := strings.Cut(string(b), ") ")
	f := strings.Fields(rest)
	if !ok || len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+st) * time.Second / 100 // USER_HZ is 100 on Linux
}

// selfCPU is the CPU time this process (vegeta) has used.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// CopyIndex writes a consistent copy of ix to path (Index.Backup), synced.
func CopyIndex(ix *tagseg.Index, path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := ix.Backup(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// FreeBytes is the space available to this user on dir's file system.
func FreeBytes(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * st.Bsize, nil
}

// LoadPool is the customers the load's requests name.
type LoadPool struct {
	UUIDs, Emails []string
}

// PickPool picks up to k customers of ix at random (seeded), with their
// emails (customers without one are skipped for the email requests).
func PickPool(ix *tagseg.Index, k int, seed uint64) (LoadPool, error) {
	var p LoadPool
	seg, err := ix.Segment(tagseg.All())
	if err != nil {
		return p, err
	}
	n := seg.Count()
	if n == 0 {
		return p, errors.New("empty index")
	}
	rng := rand.New(rand.NewPCG(seed, 1))
	seen := map[string]bool{}
	for range k {
		for c := range seg.CustomersFrom(uint32(rng.Uint64N(n))) {
			if !seen[c.UUID] {
				seen[c.UUID] = true
				p.UUIDs = append(p.UUIDs, c.UUID)
				if c.Email != "" {
					p.Emails = append(p.Emails, c.Email)
				}
			}
			break
		}
	}
	if len(p.Emails) == 0 {
		return p, errors.New("no customer with an email")
	}
	return p, nil
}

// A LoadMix is the request classes of a load and their weights.
type LoadMix struct {
	Name    string
	Classes []LoadClass
}

// LoadClass is one kind of request and its share of a mix.
type LoadClass struct {
	Name   string
	Weight int
}

// Writes reports whether class name is a write.
func isWriteClass(name string) bool { return strings.HasPrefix(name, "tag-") }

// WriteShare is the fraction of the mix's requests that are writes.
func (m LoadMix) WriteShare() float64 {
	var w, all int
	for _, c := range m.Classes {
		all += c.Weight
		if isWriteClass(c.Name) {
			w += c.Weight
		}
	}
	return float64(w) / float64(all)
}

// readClasses are the reads of the mixes, per 1,000 requests: segment
// metrics (count, paying, MRR: the count and count+MRR queries of
// Queries), one customer by UUID, a search by email, a page of 50
// customers, a page of 50 of a segment's customers, and rarely the
// 36-month series and the top-100 tag stats of the ~N/10 segment (a
// dashboard's heavy reads).
var readClasses = []LoadClass{
	{"metrics", 330}, {"customer", 300}, {"search", 150}, {"list", 100},
	{"segment-customers", 100}, {"series", 10}, {"tagstats", 10},
}

// dashboardClasses are the reads of the dashboard mix, per 1,000
// requests: a dashboard polling the metrics and the 36-month series of
// DashboardSegments (saved segments, asked by name), and the segment
// explorer page's four requests for each query edit (metrics, series,
// the top 50 tags, the first 50 customers) over EditQueries.
var dashboardClasses = []LoadClass{
	{"dash-metrics", 400}, {"dash-series", 400},
	{"edit-metrics", 50}, {"edit-series", 50}, {"edit-tags", 50}, {"edit-customers", 50},
}

// LoadMixes: reads only, durable tag writes only (half by UUID, half by
// email), reads with one write in 11 (the 2,000 reads/s + 200 writes/s of
// the goal), and the dashboard's and the page's reads with the same share
// of writes.
var LoadMixes = []LoadMix{
	{Name: "read", Classes: readClasses},
	{Name: "write", Classes: []LoadClass{{"tag-uuid", 1}, {"tag-email", 1}}},
	{Name: "mixed", Classes: append(slices.Clone(readClasses), LoadClass{"tag-uuid", 50}, LoadClass{"tag-email", 50})},
	{Name: "dashboard", Classes: append(slices.Clone(dashboardClasses), LoadClass{"tag-uuid", 50}, LoadClass{"tag-email", 50})},
}

// DashboardSegments are the 20 saved segments of the dashboard mix
// (saved as dash-00 … dash-19 by SaveDashboard): plans, churn risk,
// feature requests and the benchmark's segments, from a few percent of
// the customers to half.
var DashboardSegments = []string{
	SegmentQ.String(), Segment3M.String(), Segment5M.String(),
	"tag:plan-pro", "tag:plan-enterprise", "tag:plan-starter",
	"tag:churn-risk-high", "tag:churn-risk-high AND tag:plan-pro", "tag:churn-risk-medium AND NOT tag:managed-account",
	"tag:feature-sso OR tag:feature-scim", "tag:feature-dark-mode AND tag:active", "tags:any(feature-audit-log, feature-saml, feature-ip-allowlist)",
	"tag:annual-billing AND tag:power-user", "tag:low-usage AND NOT tag:onboarded", "tag:upsell-candidate AND tag:plan-pro",
	"tag:support-ticket-open AND tag:churn-risk-high", "tag:trial-converted AND tag:newsletter", "tag:sales-assisted AND NOT tag:internal",
	"tag:api-user AND tag:integration-slack", "tag:champion OR tag:nps-promoter",
}

// dashboardName is the saved name of DashboardSegments[i].
func dashboardName(i int) string { return fmt.Sprintf("dash-%02d", i) }

// EditQueries are the queries the page is redrawn for, one edit after
// another: a user narrowing and widening segments.
var EditQueries = func() []string {
	var qs []string
	for _, base := range []string{"tag:churn-risk-high", "tag:plan-pro", "tag:feature-sso", "tag:active AND tag:newsletter", "tag:low-usage"} {
		qs = append(qs, base, base+" AND NOT tag:managed-account", base+" AND tag:annual-billing",
			base+" AND (tag:power-user OR tag:champion)", base+" AND NOT tag:internal AND tag:onboarded")
	}
	return qs
}()

// SaveDashboard saves DashboardSegments on the server at base.
func SaveDashboard(base string) error {
	client := &http.Client{Timeout: time.Minute}
	defer client.CloseIdleConnections()
	for i, q := range DashboardSegments {
		body, _ := json.Marshal(map[string]string{"query": q})
		req, err := http.NewRequest("PUT", base+"/v1/segments/saved/"+dashboardName(i), strings.NewReader(string(body)))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("save %s (%s): %s", dashboardName(i), q, resp.Status)
		}
	}
	return nil
}

// loadQueries are the segment queries of the metrics requests.
func loadQueries() []string {
	var qs []string
	for _, q := range Queries {
		if q.Kind == "count" || q.Kind == "count+mrr" {
			qs = append(qs, q.Q.String())
		}
	}
	return qs
}

// NewTargeter returns a vegeta targeter over the server at base: request i
// is of the class at i in a seeded shuffle of the mix's weights. Tag
// writes add a tag the customer does not hold yet ("load-MIX-uK" or
// "-eK", K counting rounds of the pool), so that each is a real durable
// write (one targeter a mix: another mix's tags are other tags).
func NewTargeter(base string, mix LoadMix, pool LoadPool, seed uint64) vegeta.Targeter {
	var sched []string
	for _, c := range mix.Classes {
		for range c.Weight {
			sched = append(sched, c.Name)
		}
	}
	rng := rand.New(rand.NewPCG(seed, 2))
	rng.Shuffle(len(sched), func(i, j int) { sched[i], sched[j] = sched[j], sched[i] })
	qs := loadQueries()
	seg := url.QueryEscape(SegmentQ.String())
	dates := fmt.Sprintf("&start-date=%s&end-date=%s&interval=month", HistoryFrom.Format(time.DateOnly), HistoryTo.Format(time.DateOnly))
	series := base + "/v1/segments/series?query=" + seg + dates
	jsonType := http.Header{"Content-Type": []string{"application/json"}}
	var next, reads, byUUID, byEmail, dash, edits atomic.Uint64
	// The page's requests for an edit: each class takes the edits in turn.
	editQuery := func() string {
		return url.QueryEscape(EditQueries[edits.Add(1)/4%uint64(len(EditQueries))])
	}
	return func(t *vegeta.Target) error {
		class := sched[next.Add(1)%uint64(len(sched))]
		r := reads.Add(1)
		*t = vegeta.Target{Method: "GET"}
		switch class {
		case "metrics":
			t.URL = base + "/v1/segments/metrics?query=" + url.QueryEscape(qs[r%uint64(len(qs))])
		case "customer":
			t.URL = base + "/v1/customers/" + pool.UUIDs[r%uint64(len(pool.UUIDs))]
		case "search":
			t.URL = base + "/v1/customers/search?email=" + url.QueryEscape(pool.Emails[r%uint64(len(pool.Emails))])
		case "list":
			t.URL = base + "/v1/customers?per_page=50"
		case "segment-customers":
			t.URL = base + "/v1/segments/customers?per_page=50&query=" + seg
		case "series":
			t.URL = series
		case "tagstats":
			t.URL = base + "/v1/segments/tags?limit=100&query=" + seg
		case "ping": // for MeasureCosts: the floor of a request's cost
			t.URL = base + "/v1/ping"
		case "dash-metrics":
			t.URL = base + "/v1/segments/metrics?segment=" + dashboardName(int(dash.Add(1)%uint64(len(DashboardSegments))))
		case "dash-series":
			t.URL = base + "/v1/segments/series?segment=" + dashboardName(int(dash.Add(1)%uint64(len(DashboardSegments)))) + dates
		case "edit-metrics":
			t.URL = base + "/v1/segments/metrics?query=" + editQuery()
		case "edit-series":
			t.URL = base + "/v1/segments/series?query=" + editQuery() + dates
		case "edit-tags":
			t.URL = base + "/v1/segments/tags?sort=mrr&limit=50&query=" + editQuery()
		case "edit-customers":
			t.URL = base + "/v1/segments/customers?per_page=50&query=" + editQuery()
		case "tag-uuid":
			i := byUUID.Add(1) - 1
			n := uint64(len(pool.UUIDs))
			t.Method, t.Header = "POST", jsonType
			t.URL = base + "/v1/customers/" + pool.UUIDs[i%n] + "/attributes/tags"
			t.Body = fmt.Appendf(nil, `{"tags":["load-%s-u%d"]}`, mix.Name, i/n)
		case "tag-email":
			i := byEmail.Add(1) - 1
			n := uint64(len(pool.Emails))
			t.Method, t.Header = "POST", jsonType
			t.URL = base + "/v1/customers/attributes/tags"
			t.Body = fmt.Appendf(nil, `{"email":%q,"tags":["load-%s-e%d"]}`, pool.Emails[i%n], mix.Name, i/n)
		default:
			return fmt.Errorf("unknown load class %q", class)
		}
		sep := "?"
		if strings.Contains(t.URL, "?") {
			sep = "&"
		}
		t.URL += sep + "lc=" + class // for classOf
		return nil
	}
}

// WarmUp sends each kind of read once, one at a time, so that the steps
// do not time what a first call builds (the first TagStats builds the
// forward index, the first search by email the email table: seconds at
// 10M). It returns how long each took.
func WarmUp(base string, pool LoadPool) (map[string]time.Duration, error) {
	took := map[string]time.Duration{}
	client := &http.Client{Timeout: 5 * time.Minute}
	defer client.CloseIdleConnections()
	for _, c := range readClasses {
		tr := NewTargeter(base, LoadMix{Name: c.Name, Classes: []LoadClass{{c.Name, 1}}}, pool, 0)
		n := 1
		if c.Name == "metrics" {
			n = len(loadQueries()) // each query once
		}
		start := time.Now()
		for range n {
			if err := sendOne(client, tr); err != nil {
				return took, fmt.Errorf("warm-up: %w", err)
			}
		}
		took[c.Name] = time.Since(start)
	}
	return took, nil
}

// sendOne sends the targeter's next request and reads the answer, which
// must be 2xx.
func sendOne(client *http.Client, tr vegeta.Targeter) error {
	var t vegeta.Target
	if err := tr(&t); err != nil {
		return err
	}
	req, err := t.Request()
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s", t.Method, t.URL, resp.Status)
	}
	return nil
}

// classOf names the class of a request: the "lc" parameter NewTargeter
// adds to its URL (the server ignores it).
func classOf(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "?"
	}
	return p.Query().Get("lc")
}

// LoadStep is the outcome of one rate of one mix.
type LoadStep struct {
	Mix      string
	Rate     int // requests/s offered
	Duration time.Duration
	Requests uint64
	// Achieved is the requests/s sent; Throughput the successful ones
	// answered per second.
	Achieved, Throughput float64
	P50, P90, P99, Max   time.Duration
	Errors               uint64 // non-2xx answers and transport errors
	FirstError           string
	// ServerCores and ClientCores are the CPU the server and vegeta (this
	// process) used during the step, in cores (CPU seconds a second).
	ServerCores, ClientCores float64
	// ClassP99 is the p99 per request class; ClassN their numbers.
	ClassP99 map[string]time.Duration
	ClassN   map[string]int
}

// Held reports whether the step held its rate: no error, p99 ≤ 50 ms and
// at least 95% of the offered rate sent.
func (s LoadStep) Held() bool {
	return s.Errors == 0 && s.P99 <= 50*time.Millisecond && s.Achieved >= 0.95*float64(s.Rate)
}

// RunStep sends requests of targeter at rate per second for d (then
// waits for the answers, each within 10 s) and measures them. Each step
// has an attacker of its own (an attacker stops for good after an attack).
func RunStep(srv *Server, tr vegeta.Targeter, mix string, rate int, d time.Duration) LoadStep {
	a := vegeta.NewAttacker(vegeta.Timeout(10*time.Second), vegeta.Workers(16), vegeta.MaxWorkers(512), vegeta.KeepAlive(true))
	var m vegeta.Metrics
	start, srv0, self0 := time.Now(), srv.CPU(), selfCPU()
	st := LoadStep{Mix: mix, Rate: rate, Duration: d, ClassP99: map[string]time.Duration{}, ClassN: map[string]int{}}
	lat := map[string][]time.Duration{}
	for res := range a.Attack(tr, vegeta.Rate{Freq: rate, Per: time.Second}, d, fmt.Sprintf("%s@%d", mix, rate)) {
		m.Add(res)
		c := classOf(res.URL)
		lat[c] = append(lat[c], res.Latency)
		if res.Code/100 != 2 || res.Error != "" {
			st.Errors++
			if st.FirstError == "" {
				body := string(res.Body)
				if len(body) > 200 {
					body = body[:200]
				}
				st.FirstError = fmt.Sprintf("%s %s: %d %s %s", res.Method, res.URL, res.Code, res.Error, strings.TrimSpace(body))
			}
		}
	}
	m.Close()
	wall := time.Since(start).Seconds()
	st.ServerCores = (srv.CPU() - srv0).Seconds() / wall
	st.ClientCores = (selfCPU() - self0).Seconds() / wall
	st.Requests = m.Requests
	st.Achieved, st.Throughput = m.Rate, m.Throughput
	st.P50, st.P90, st.P99, st.Max = m.Latencies.P50, m.Latencies.P90, m.Latencies.P99, m.Latencies.Max
	for c, ls := range lat {
		slices.Sort(ls)
		st.ClassN[c] = len(ls)
		st.ClassP99[c] = ls[min(len(ls)-1, len(ls)*99/100)]
	}
	return st
}

// LoadMarkdown is the table of a size's steps: per mix, each rate tried,
// and the highest held.
func LoadMarkdown(n int, steps []LoadStep) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| N | mix | offered req/s | sent req/s | ok req/s | of which writes/s | p50 ms | p90 ms | p99 ms | max ms | errors | held | slowest class p99 | server cores | vegeta cores |\n")
	fmt.Fprintf(&b, "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | ---: | ---: |\n")
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d)/1e6) }
	for _, s := range steps {
		share := 0.0
		for _, m := range LoadMixes {
			if m.Name == s.Mix {
				share = m.WriteShare()
			}
		}
		slow, slowP := "", time.Duration(0)
		for c, p := range s.ClassP99 {
			if p > slowP || p == slowP && c < slow {
				slow, slowP = c, p
			}
		}
		held := "no"
		if s.Held() {
			held = "yes"
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %.0f | %.0f | %.0f | %s | %s | %s | %s | %d | %s | %s %s ms | %.2f | %.2f |\n",
			Human(n), s.Mix, s.Rate, s.Achieved, s.Throughput, s.Throughput*share,
			ms(s.P50), ms(s.P90), ms(s.P99), ms(s.Max), s.Errors, held, slow, ms(slowP), s.ServerCores, s.ClientCores)
	}
	return b.String()
}

// Human writes a size as 5k, 1M or 10M (as it is when not round).
func Human(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return fmt.Sprintf("%dM", n/1_000_000)
	case n >= 1000 && n%1000 == 0:
		return fmt.Sprintf("%dk", n/1000)
	}
	return fmt.Sprint(n)
}

// MaxHeld is the highest rate of mix held in steps (0: none).
func MaxHeld(steps []LoadStep, mix string) (LoadStep, bool) {
	var best LoadStep
	ok := false
	for _, s := range steps {
		if s.Mix == mix && s.Held() && (!ok || s.Rate > best.Rate) {
			best, ok = s, true
		}
	}
	return best, ok
}

// LoadPlot draws p50 and p99 latency against the offered rate, one line
// pair per mix, with the 50 ms bound, into path (PNG).
func LoadPlot(n int, steps []LoadStep, path string) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("tagseg serve under vegeta, N = %s customers, 2 cores (solid p99, dashed p50)", Human(n))
	p.X.Label.Text = "offered requests/s"
	p.Y.Label.Text = "latency, ms"
	p.Legend.Top = true
	p.Legend.Left = true
	colors := map[string]color.Color{
		"read":      color.RGBA{R: 0x1b, G: 0x9e, B: 0x77, A: 0xff},
		"write":     color.RGBA{R: 0xd9, G: 0x5f, B: 0x02, A: 0xff},
		"mixed":     color.RGBA{R: 0x75, G: 0x70, B: 0xb3, A: 0xff},
		"dashboard": color.RGBA{R: 0xe7, G: 0x29, B: 0x8a, A: 0xff},
	}
	ymax := 60.0
	for _, m := range LoadMixes {
		var p50, p99 plotter.XYs
		for _, s := range steps {
			if s.Mix != m.Name {
				continue
			}
			p50 = append(p50, plotter.XY{X: float64(s.Rate), Y: float64(s.P50) / 1e6})
			p99 = append(p99, plotter.XY{X: float64(s.Rate), Y: float64(s.P99) / 1e6})
		}
		if len(p99) == 0 {
			continue
		}
		l99, pts, err := plotter.NewLinePoints(p99)
		if err != nil {
			return err
		}
		l99.Color, pts.Color = colors[m.Name], colors[m.Name]
		l50, err := plotter.NewLine(p50)
		if err != nil {
			return err
		}
		l50.Color = colors[m.Name]
		l50.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		p.Add(l99, pts, l50)
		p.Legend.Add(m.Name, l99)
	}
	bound, err := plotter.NewLine(plotter.XYs{{X: 0, Y: 50}, {X: p.X.Max, Y: 50}})
	if err != nil {
		return err
	}
	bound.Color = color.RGBA{R: 0xe0, A: 0xff}
	p.Add(bound)
	p.Legend.Add("p99 bound (50 ms)", bound)
	p.X.Min, p.Y.Min = 0, 0
	p.Y.Max = min(p.Y.Max, 200)
	p.Y.Max = max(p.Y.Max, ymax)
	p.Add(plotter.NewGrid())
	return p.Save(10*vg.Inch, 5*vg.Inch, path)
}

// ClassCost is what one request of a class costs the server, measured
// alone: requests sent one at a time.
type ClassCost struct {
	Class    string
	Requests int
	// CPU is the server's CPU time per request; Wall the mean latency.
	CPU, Wall time.Duration
}

// MeasureCosts sends each class's requests one at a time, for about per
// each (at least 5 and at most 2,000 requests), and divides the server's
// CPU time by their number (/proc counts it in 10 ms ticks: give it a
// second). Each one must answer 2xx.
func MeasureCosts(srv *Server, pool LoadPool, seed uint64, per time.Duration) ([]ClassCost, error) {
	names := []string{"ping"}
	for _, m := range LoadMixes {
		for _, c := range m.Classes {
			if !slices.Contains(names, c.Name) {
				names = append(names, c.Name)
			}
		}
	}
	client := &http.Client{Timeout: time.Minute}
	defer client.CloseIdleConnections()
	var out []ClassCost
	for _, name := range names {
		tr := NewTargeter(srv.URL, LoadMix{Name: name, Classes: []LoadClass{{name, 1}}}, pool, seed+3)
		start, cpu0 := time.Now(), srv.CPU()
		k := 0
		for ; k < 2000 && (k < 5 || time.Since(start) < per); k++ {
			if err := sendOne(client, tr); err != nil {
				return out, err
			}
		}
		wall, cpu := time.Since(start), srv.CPU()-cpu0
		out = append(out, ClassCost{Class: name, Requests: k, CPU: cpu / time.Duration(k), Wall: wall / time.Duration(k)})
	}
	return out, nil
}

// CostMarkdown is the table of MeasureCosts, with each class's share of
// the read mix and what it adds to a read's mean CPU.
func CostMarkdown(n int, costs []ClassCost) string {
	var b strings.Builder
	weight, all := map[string]int{}, 0
	for _, c := range readClasses {
		weight[c.Name], all = c.Weight, all+c.Weight
	}
	fmt.Fprintf(&b, "| N | request | alone: ms | server CPU ms | × a ping's CPU | share of the read mix | CPU ms per read of the mix |\n| --- | --- | ---: | ---: | ---: | ---: | ---: |\n")
	var total, ping float64
	for _, c := range costs {
		if c.Class == "ping" {
			ping = float64(c.CPU) / 1e6
		}
	}
	for _, c := range costs {
		cpu := float64(c.CPU) / 1e6
		times := ""
		if ping > 0 {
			times = fmt.Sprintf("%.1f", cpu/ping)
		}
		share, part := "", ""
		if w, ok := weight[c.Class]; ok {
			f := float64(w) / float64(all)
			share, part = fmt.Sprintf("%.1f%%", 100*f), fmt.Sprintf("%.3f", f*cpu)
			total += f * cpu
		}
		fmt.Fprintf(&b, "| %s | %s | %.2f | %.3f | %s | %s | %s |\n", Human(n), c.Class, float64(c.Wall)/1e6, cpu, times, share, part)
	}
	fmt.Fprintf(&b, "| %s | **read mix** | | | | 100%% | **%.3f** (%.0f reads/s a core) |\n", Human(n), total, 1000/total)
	return b.String()
}
