package main

// The segment explorer page (web/), driven in a real Chromium through
// chromedp against `tagseg serve` on a small demo index. The page is
// checked against the JSON API and, at the end, against the library.
//
// Chromium: Debian's chromium package (.ci/test installs it). Without
// it the test is skipped, except under CI=true or as root (who can
// install it) where it fails.
// TAGSEG_SCREENSHOTS=1 writes the screenshots to ../../docs; otherwise
// they are taken into a temporary directory (a page that cannot be
// rendered still fails).

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/tagseg/tagseg"
	"github.com/tagseg/tagseg/server"
	"github.com/tagseg/tagseg/server/api"
)

// chromiumPath finds Chromium, or skips the test (fails it under CI).
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{os.Getenv("TAGSEG_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" || os.Getuid() == 0 {
		t.Fatal("no chromium on PATH (.ci/test installs Debian's chromium package when run as root)")
	}
	t.Skip("no chromium on PATH; apt-get install -y chromium (or set TAGSEG_CHROMIUM)")
	return ""
}

// serveProcess is `tagseg serve` running as a child process.
type serveProcess struct {
	cmd  *exec.Cmd
	base string
	done chan error
	log  *syncBuffer
}

// startServe starts the built tagseg serve on db with args, and waits for
// its address.
func startServe(t *testing.T, db string, args ...string) *serveProcess {
	t.Helper()
	cmd := exec.Command(tagsegBinary(t), append([]string{"serve", "-db", db, "-addr", "127.0.0.1:0", "-log", "off"}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &serveProcess{cmd: cmd, done: make(chan error, 1), log: &syncBuffer{}}
	addr := make(chan string, 1)
	go func() {
		re := regexp.MustCompile(`on (http://\S+)`)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			fmt.Fprintln(p.log, sc.Text())
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
		p.done <- cmd.Wait()
	}()
	select {
	case p.base = <-addr:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("serve did not start: %s", p.log)
	}
	t.Cleanup(func() { p.stop(t) })
	return p
}

// stop interrupts the server (as Ctrl-C does) and waits for it to close
// the index.
func (p *serveProcess) stop(t *testing.T) {
	if p.cmd.ProcessState != nil {
		return
	}
	p.cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-p.done:
		if err != nil {
			t.Errorf("serve: %v\n%s", err, p.log)
		}
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		t.Errorf("serve did not stop: %s", p.log)
	}
}

// browserTab is a Chromium tab on the page, with the API beside it.
type browserTab struct {
	t    *testing.T
	ctx  context.Context
	base string
	key  string

	mu     sync.Mutex
	thrown []string // uncaught exceptions and console errors of the page
}

func newBrowser(t *testing.T, base, key string) *browserTab {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.NoSandbox, // CI runs as root
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	b := &browserTab{t: t, base: base, key: key}
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithListener(func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			b.mu.Lock()
			d := ev.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			b.thrown = append(b.thrown, fmt.Sprintf("%s (%s:%d:%d)", msg, d.URL, d.LineNumber+1, d.ColumnNumber+1))
			b.mu.Unlock()
		}
	}))
	t.Cleanup(func() { cancel(); cancelA() })
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900)); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	b.ctx = ctx
	return b
}

// do runs browser steps, each bounded in time.
func (b *browserTab) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v\npage:\n%s", what, err, b.bodyText())
	}
}

// eval evaluates a JavaScript expression into out.
func eval[T any](b *browserTab, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

func (b *browserTab) bodyText() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	s, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	return s
}

// waitFor waits until the JavaScript predicate holds.
func (b *browserTab) waitFor(what, predicate string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 40*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](predicate, chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		b.t.Fatalf("waiting for %s (%s): %v\npage:\n%s", what, predicate, err, b.bodyText())
	}
}

// waitText waits until the element's text is want.
func (b *browserTab) waitText(sel, want string) {
	b.t.Helper()
	b.waitFor(fmt.Sprintf("%s to read %q", sel, want), fmt.Sprintf(`(document.querySelector(%q)?.textContent ?? "").trim() === %q`, sel, want))
}

// typeQuery replaces the query by typing q, as a user does.
func (b *browserTab) typeQuery(q string) {
	b.t.Helper()
	b.setValue("#q", "")
	b.do("type query "+q, chromedp.SendKeys(chromedp.CSS("#q"), q))
}

// setValue sets a form control's value and fires its change event, as a
// user's choice in a select does.
func (b *browserTab) setValue(sel, v string) {
	b.t.Helper()
	eval[bool](b, fmt.Sprintf(`(e => (e.value = %q, e.dispatchEvent(new Event("change")), true))(document.querySelector(%q))`, v, sel))
}

// api calls the JSON API with the key, and decodes its answer.
func (b *browserTab) api(method, path string, body any, out any) int {
	b.t.Helper()
	var rd io.Reader
	if body != nil {
		j, _ := json.Marshal(body)
		rd = strings.NewReader(string(j))
	}
	req, _ := http.NewRequest(method, b.base+path, rd)
	req.SetBasicAuth(b.key, "")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			b.t.Fatalf("%s %s: %v", method, path, err)
		}
	}
	return resp.StatusCode
}

func (b *browserTab) metrics(q string) api.Metrics {
	b.t.Helper()
	var m api.Metrics
	if code := b.api("GET", "/v1/segments/metrics?query="+url.QueryEscape(q), nil, &m); code != 200 {
		b.t.Fatalf("metrics of %q: %d", q, code)
	}
	return m
}

// noErrors fails on uncaught exceptions of the page and on raw JSON shown.
func (b *browserTab) noErrors() {
	b.t.Helper()
	b.mu.Lock()
	thrown := slices.Clone(b.thrown)
	b.mu.Unlock()
	if len(thrown) > 0 {
		b.t.Errorf("the page threw: %q", thrown)
	}
	if text := b.bodyText(); strings.Contains(text, `{"`) {
		b.t.Errorf("the page shows raw JSON:\n%s", text)
	}
}

// pageDemo builds a small demo index for the page tests.
func pageDemo(t *testing.T) string {
	t.Helper()
	db := filepath.Join(t.TempDir(), "demo.db")
	var out, errb strings.Builder
	if code := run([]string{"demo", "-customers", "3000", "-db", db}, &out, &errb); code != 0 {
		t.Fatalf("demo: %s", errb.String())
	}
	return db
}

func TestPage(t *testing.T) {
	chromiumPath(t)
	db := pageDemo(t)
	const key = "page-secret"
	srv := startServe(t, db, "-api-key", key, "-max-customers", "2000", "-confirm-above", "100")
	b := newBrowser(t, srv.base, key)

	// --- The API key: asked for, a wrong one refused, the right one kept.
	b.do("open the page", chromedp.Navigate(srv.base+"/"))
	b.waitFor("the key form", `!document.getElementById("auth").hidden`)
	b.waitFor("the key request", `/needs an API key/.test(document.getElementById("banner").textContent)`)
	b.do("a wrong key", chromedp.SendKeys(chromedp.CSS("#key"), "wrong"), chromedp.Click(chromedp.CSS("#auth button[type=submit]")))
	b.waitFor("the refusal", `/API key was refused/.test(document.getElementById("banner").textContent)`)
	b.do("the key", chromedp.SendKeys(chromedp.CSS("#key"), key), chromedp.Click(chromedp.CSS("#auth button[type=submit]")))
	all := b.metrics("*")
	b.waitText("#m-customers", count(all.Customers))
	b.waitText("#m-mrr", "$"+money(all.MRR))
	b.waitFor("the banner to go", `document.getElementById("banner").hidden`)

	// --- A typed query shows the count and MRR the JSON API gives.
	q := "tag:churn-risk-high AND NOT tag:managed-account"
	b.typeQuery(q)
	m := b.metrics(q)
	if m.Customers == 0 || m.Customers == all.Customers {
		t.Fatalf("demo segment %q has %d customers of %d: pick another", q, m.Customers, all.Customers)
	}
	b.waitText("#m-customers", count(m.Customers))
	b.waitText("#m-paying", count(m.Paying))
	b.waitText("#m-arr", "$"+money(m.ARR))
	b.waitText("#m-arpa", "$"+money(m.ARPA))
	if got := eval[string](b, `new URL(location.href).searchParams.get("q")`); got != q {
		t.Errorf("URL q = %q, want %q", got, q)
	}
	// Tags nobody holds are named.
	b.typeQuery(q + " AND NOT tag:no-such-tag-xyz")
	b.waitFor("the unknown tag", `/no-such-tag-xyz/.test(document.getElementById("m-unknown").textContent) && !document.getElementById("m-unknown").hidden`)

	// --- A syntax error is shown at its offset, as the user types.
	// In the middle of the query, after a character of two bytes: the
	// server's byte offset is shown at the right character.
	bad := "tag:café AND plan:pro OR tag:churn-risk-high"
	_, perr := tagseg.Parse(bad)
	var se *tagseg.SyntaxError
	if !errors.As(perr, &se) {
		t.Fatalf("Parse(%q) = %v, want a syntax error", bad, perr)
	}
	b.typeQuery(bad)
	b.waitFor("the syntax error", `!document.getElementById("q-error").hidden`)
	b.waitFor("its offset", fmt.Sprintf(`document.getElementById("q-error").dataset.offset === "%d"`, utf8.RuneCountInString(bad[:se.Offset])))
	if mark := eval[string](b, `document.querySelector("#q-caret mark").textContent`); mark != "p" {
		t.Errorf("the error marks %q, want the p of plan", mark)
	}
	if msg := eval[string](b, `document.getElementById("q-error-msg").textContent`); !strings.Contains(msg, se.Expected) {
		t.Errorf("error message %q does not say what was expected (%s)", msg, se.Expected)
	}
	if eval[string](b, `document.getElementById("q").getAttribute("aria-invalid")`) != "true" {
		t.Error("the query box is not marked invalid")
	}
	// The last good numbers stay, marked stale: the page does not go blank.
	b.waitFor("stale metrics", `document.getElementById("metrics").classList.contains("stale")`)
	b.typeQuery(q)
	b.waitFor("the error to clear", `document.getElementById("q-error").hidden`)
	b.waitText("#m-customers", count(m.Customers))

	// --- Completion: tag names from the index, taken with Enter.
	b.typeQuery("tag:feature-s")
	b.waitFor("tag completions", `!document.getElementById("completions").hidden && document.querySelectorAll("#completions li").length > 0 && document.getElementById("q").getAttribute("aria-expanded") === "true"`)
	first := eval[string](b, `document.querySelector("#completions li span").textContent`)
	if !strings.HasPrefix(first, "feature-s") {
		t.Errorf("first completion %q does not start with feature-s", first)
	}
	b.do("take the completion", chromedp.KeyEvent("\r"))
	b.waitFor("the completed query", fmt.Sprintf(`document.getElementById("q").value === %q`, "tag:"+first+" "))
	b.typeQuery("coun")
	b.waitFor("field completions", `[...document.querySelectorAll("#completions li span:first-child")].some(s => s.textContent === "country")`)

	// --- The chart: one group of bars per interval, values on hover.
	b.do("a range", chromedp.Navigate(srv.base+"/?q="+url.QueryEscape(q)+"&from=2024-01-01&to=2024-12-31&every=month"))
	b.waitText("#m-customers", count(m.Customers))
	var ser api.Series
	b.api("GET", "/v1/segments/series?query="+url.QueryEscape(q)+"&start-date=2024-01-01&end-date=2024-12-31&interval=month", nil, &ser)
	if len(ser.Entries) != 12 {
		t.Fatalf("API series has %d entries, want 12", len(ser.Entries))
	}
	b.waitFor("12 intervals", `document.querySelectorAll("#chart g.interval").length === 12`)
	if n := eval[int](b, `document.querySelectorAll("#chart rect.bar").length`); n < 12 {
		t.Errorf("%d movement bars over 12 months", n)
	}
	if eval[string](b, `document.querySelector("#chart path.mrr-line")?.getAttribute("d") ?? ""`) == "" {
		t.Error("no MRR line")
	}
	// The keyboard walks the intervals: End is December, one left November.
	b.do("values of November", chromedp.Focus(chromedp.CSS("#chart")), chromedp.KeyEvent(kb.End), chromedp.KeyEvent(kb.ArrowLeft))
	nov := ser.Entries[10]
	b.waitFor("the tooltip", fmt.Sprintf(`!document.getElementById("tip").hidden && document.getElementById("tip").textContent.includes(%q)`, "MRR $"+money(nov.MRR)))
	b.setValue("#every", "quarter")
	b.waitFor("4 intervals", `document.querySelectorAll("#chart g.interval").length === 4`)
	if got := eval[string](b, `new URL(location.href).searchParams.get("every")`); got != "quarter" {
		t.Errorf("URL every = %q", got)
	}

	// --- The tag ranking: a click ANDs the tag into the query.
	b.waitFor("ranked tags", `document.querySelectorAll("#tags button.tag").length > 1`)
	second := eval[string](b, `document.querySelectorAll("#tags button.tag")[1].dataset.tag`)
	b.do("click a ranked tag", chromedp.Click(chromedp.CSS("#tags li:nth-child(2) button.tag")))
	q2 := q + " AND tag:" + second
	b.waitFor("the query to change", fmt.Sprintf(`document.getElementById("q").value === %q`, q2))
	m2 := b.metrics(q2)
	b.waitText("#m-customers", count(m2.Customers))
	var stats api.TagStats
	b.api("GET", "/v1/segments/tags?sort=count&limit=3&query="+url.QueryEscape(q2), nil, &stats)
	b.setValue("#tags-sort", "count")
	b.waitFor("ranking by count", fmt.Sprintf(`document.querySelector("#tags button.tag")?.dataset.tag === %q && document.querySelector("#tags .n").textContent === %q`, stats.Entries[0].Tag, count(stats.Entries[0].Customers)))

	// --- Saved segments: save, find after a reload, open, delete.
	b.do("save", chromedp.SendKeys(chromedp.CSS("#save-name"), "page-at-risk"), chromedp.Click(chromedp.CSS("#save-btn")))
	b.waitFor("the saved segment", `document.querySelector('#saved li[data-name="page-at-risk"]') !== null`)
	b.do("reload", chromedp.Reload())
	b.waitFor("the saved segment after a reload", `document.querySelector('#saved li[data-name="page-at-risk"]') !== null`)
	var saved api.SavedSegment
	if code := b.api("GET", "/v1/segments/saved/page-at-risk", nil, &saved); code != 200 || saved.Query != q2 {
		t.Errorf("saved through the page: %d %+v, want query %q", code, saved, q2)
	}
	b.typeQuery("*")
	b.waitText("#m-customers", count(all.Customers))
	b.do("open it", chromedp.Click(chromedp.CSS(`#saved li[data-name="page-at-risk"] button.open`)))
	b.waitFor("the opened query", fmt.Sprintf(`document.getElementById("q").value === %q`, q2))
	b.waitText("#m-customers", count(m2.Customers))
	// Its entries and exits: the first change is its members when saved
	// (ten named, the rest counted); then one leaves.
	b.waitFor("its first change", `!document.getElementById("changes-card").hidden && document.querySelectorAll("#changes li").length === 1`)
	if n := eval[int](b, `document.querySelectorAll("#changes li .in button.customer").length`); n != min(int(m2.Customers), 10) {
		t.Errorf("first change: %d customers named, want %d", n, min(int(m2.Customers), 10))
	}
	var members struct {
		Entries []api.Customer `json:"entries"`
	}
	b.api("GET", "/v1/segments/customers?per_page=1&query="+url.QueryEscape(q2), nil, &members)
	leaver := members.Entries[0]
	if code := b.api("DELETE", "/v1/customers/"+leaver.UUID+"/attributes/tags", map[string]any{"tags": []string{second}}, nil); code != 200 {
		t.Fatalf("untag %s: %d", leaver.UUID, code)
	}
	b.do("open it again", chromedp.Navigate(srv.base+"/?segment=page-at-risk"))
	b.waitFor("the exit, newest first", fmt.Sprintf(`document.querySelectorAll("#changes li").length === 2 && document.querySelector("#changes li .out button.customer")?.textContent === %q`, leaver.Name))
	b.do("an unknown saved segment", chromedp.Navigate(srv.base+"/?segment=no-such-segment"))
	b.waitFor("its message", `/no saved segment named/.test(document.getElementById("saved-msg").textContent)`)
	b.waitText("#m-customers", count(all.Customers))
	b.do("delete", chromedp.Click(chromedp.CSS(`#saved li[data-name="page-at-risk"] button.delete`)))
	b.waitFor("the confirmation", `document.getElementById("confirm").open`)
	b.do("confirm", chromedp.Click(chromedp.CSS("#confirm-ok")))
	b.waitFor("the deletion", `document.querySelector('#saved li[data-name="page-at-risk"]') === null`)
	if code := b.api("GET", "/v1/segments/saved/page-at-risk", nil, nil); code != 404 {
		t.Errorf("deleted segment: GET answers %d", code)
	}

	// --- Bulk tagging: a refusal above the server's cap, then a
	// confirmed change that states how many customers change.
	b.do("bulk on everyone", chromedp.SendKeys(chromedp.CSS("#bulk-tag"), "page-bulk"), chromedp.Click(chromedp.CSS("#bulk-add")))
	b.waitFor("the refusal", `/allows at most 2,000/.test(document.getElementById("bulk-msg").textContent)`)
	b.typeQuery(q)
	b.waitText("#m-customers", count(m.Customers))
	b.do("bulk on the segment", chromedp.Click(chromedp.CSS("#bulk-add")))
	b.waitFor("the confirmation", fmt.Sprintf(`document.getElementById("confirm").open && document.getElementById("confirm-text").textContent.includes(%q)`, count(m.Customers)+" customers"))
	b.do("confirm", chromedp.Click(chromedp.CSS("#confirm-ok")))
	b.waitFor("the change", fmt.Sprintf(`document.getElementById("bulk-msg").textContent.includes(%q)`, count(m.Customers)+" customers changed"))
	if got := b.metrics("tag:page-bulk").Customers; got != m.Customers {
		t.Errorf("bulk add through the page tagged %d customers, want %d", got, m.Customers)
	}

	// --- A customer: open it, see its MRR history, add and remove tags.
	// The change redrew the page (it was "loading" when the message
	// appeared): rows clicked while being replaced are gone.
	b.waitFor("customer rows", `document.body.dataset.state === "ready" && document.querySelectorAll("#customers tr.customer").length > 0`)
	uuid := eval[string](b, `document.querySelector("#customers tr.customer").dataset.uuid`)
	b.do("open a customer", chromedp.Click(chromedp.CSS("#customers tr.customer button.open")))
	b.waitFor("the customer", `!document.getElementById("detail").hidden && document.querySelectorAll("#detail-tags .chip").length > 0`)
	var hist struct {
		Entries []struct {
			Date string `json:"date"`
			MRR  int64  `json:"mrr"`
		} `json:"entries"`
	}
	b.api("GET", "/v1/customers/"+uuid+"/mrr", nil, &hist)
	b.waitFor("the MRR history", fmt.Sprintf(`document.querySelectorAll("#detail-history tbody tr").length === %d`, len(hist.Entries)))
	b.do("add a tag", chromedp.SendKeys(chromedp.CSS("#detail-tag"), "page-added"), chromedp.Click(chromedp.CSS("#detail-add button")))
	b.waitFor("the new tag", `[...document.querySelectorAll("#detail-tags .chip")].some(c => c.firstChild.textContent === "page-added")`)
	b.do("remove page-bulk", chromedp.Click(chromedp.CSS(`#detail-tags button.untag[data-tag="page-bulk"]`)))
	b.waitFor("page-bulk removed", `![...document.querySelectorAll("#detail-tags .chip")].some(c => c.firstChild.textContent === "page-bulk")`)
	b.noErrors()

	// --- Phone width: no sideways scrolling.
	shots := t.TempDir()
	if os.Getenv("TAGSEG_SCREENSHOTS") != "" {
		shots = filepath.Join("..", "..", "docs")
	}
	b.do("a shareable view", chromedp.Navigate(srv.base+"/?q="+url.QueryEscape("tag:churn-risk-high AND NOT tag:internal")+"&from=2023-01-01&to=2025-12-31&prefix=feature-"))
	b.waitFor("the view", `document.body.dataset.state === "ready" && document.querySelectorAll("#chart g.interval").length === 36 && !document.querySelector('[aria-busy="true"]')`)
	b.screenshot(filepath.Join(shots, "page-desktop.png"))
	b.do("phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	b.do("the view at phone width", chromedp.Reload())
	b.waitFor("the view", `document.body.dataset.state === "ready" && document.querySelectorAll("#chart g.interval").length === 36 && !document.querySelector('[aria-busy="true"]')`)
	if w := eval[int](b, `document.documentElement.scrollWidth`); w > 390 {
		t.Errorf("at 390 px the page is %d px wide", w)
	}
	b.screenshot(filepath.Join(shots, "page-phone.png"))
	b.do("desktop", chromedp.EmulateViewport(1280, 900))
	t.Logf("timings: %v", eval[map[string]any](b, `window.tagsegTimings`))
	b.noErrors()

	// --- A stopped server: the page says so, in place.
	srv.stop(t)
	b.typeQuery(q)
	b.waitFor("the stopped server", `/cannot be reached/.test(document.getElementById("banner").textContent) && !document.getElementById("banner").hidden`)
	// The last numbers stay, marked stale, with the reason in place.
	b.waitFor("stale numbers", `document.getElementById("metrics").classList.contains("stale") && /^[0-9,]+$/.test(document.getElementById("m-customers").textContent) && /cannot be reached/.test(document.getElementById("metrics-msg").textContent)`)
	b.noErrors()

	// --- The tag added in the page is in the index.
	c, err := openIndex(t, db).Customer(uuid)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(c.Tags, "page-added") || slices.Contains(c.Tags, "page-bulk") {
		t.Errorf("customer %s has tags %q: want page-added and not page-bulk", uuid, c.Tags)
	}
}

func (b *browserTab) screenshot(path string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot()) // the viewport, as a user sees it
	if err != nil {
		b.t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// TestPageTimings measures the page on a big index: the first complete
// render (metrics, chart, ranking and customers all drawn, from the start
// of navigation) and query edits (from the last keystroke to everything
// redrawn, the 100 ms typing pause included). It runs only with
// TAGSEG_PAGE_DB naming an index (e.g. tagseg demo -customers 1000000
// -db demo1m.db), which it serves read-only in effect: it writes nothing.
// It logs its figures; it asserts no time.
func TestPageTimings(t *testing.T) {
	db := os.Getenv("TAGSEG_PAGE_DB")
	if db == "" {
		t.Skip("set TAGSEG_PAGE_DB to an index to measure the page on it")
	}
	srv := startServe(t, db)
	b := newBrowser(t, srv.base, "")
	var first []float64
	for i := 0; i < 5; i++ {
		b.do("open", chromedp.Navigate(srv.base+"/?q="+url.QueryEscape("tag:churn-risk-high")))
		b.waitFor("the first render", `window.tagsegTimings.firstPaint !== null`)
		first = append(first, eval[float64](b, `window.tagsegTimings.firstPaint`))
	}
	t.Logf("first complete render, 5 loads (ms): %v", first)
	queries := []string{
		"tag:churn-risk-high",
		"tag:churn-risk-high AND NOT tag:managed-account",
		"tags:any(plan-pro, plan-enterprise) AND country:US AND mrr >= 10000",
		"tag:feature-sso OR tag:feature-scim",
		"tag:plan-pro",
		"*",
	}
	for _, q := range queries {
		var ms []float64
		var parts []map[string]float64
		for i := 0; i < 3; i++ {
			n := eval[int](b, `window.tagsegTimings.edits.length`)
			b.typeQuery(q)
			b.waitFor("the edit's render", fmt.Sprintf(`window.tagsegTimings.edits.length > %d && document.body.dataset.state === "ready"`, n))
			ms = append(ms, eval[float64](b, `window.tagsegTimings.lastEdit`))
			parts = append(parts, eval[map[string]float64](b, `window.tagsegTimings.parts`))
			b.typeQuery("tag:internal") // something else between the runs
			b.waitFor("the other render", fmt.Sprintf(`window.tagsegTimings.edits.length > %d && document.body.dataset.state === "ready"`, n+1))
		}
		m := b.metrics(q)
		t.Logf("edit to %q (%s customers): %v ms; sections drawn at %v ms after the pause", q, count(m.Customers), ms, parts)
	}
	b.noErrors()
}

// TestPageFailures checks that an overloaded server is shown in place and
// that the page recovers, and that a page of another origin cannot write
// through the visitor's browser.
func TestPageFailures(t *testing.T) {
	chromiumPath(t)
	ix := openIndex(t, pageDemo(t))
	// Mounted under a prefix in a host's mux, as server's Example does:
	// the page finds its files and the API under it.
	const slots = 16
	mux := http.NewServeMux()
	mux.Handle("/tagseg/", http.StripPrefix("/tagseg", server.New(ix, server.Options{MaxInFlight: slots})))
	host := httptest.NewServer(mux)
	defer host.Close()
	base := host.URL + "/tagseg"
	b := newBrowser(t, base, "")

	// Overloaded: every slot is taken by a request whose body never
	// ends; every API call gets 503.
	release := occupy(t, base, slots)
	b.do("open", chromedp.Navigate(base+"/?q="+url.QueryEscape("tag:churn-risk-high")))
	b.waitFor("the overload", `/unavailable: Too many requests in flight/.test(document.getElementById("banner").textContent) && /Too many requests/.test(document.getElementById("metrics-msg").textContent)`)
	b.noErrors()
	release()
	b.do("retry", chromedp.Focus(chromedp.CSS("#q")), chromedp.KeyEvent(kb.Enter))
	n, err := ix.Count(tagseg.Tag("churn-risk-high"))
	if err != nil {
		t.Fatal(err)
	}
	b.waitText("#m-customers", count(n))
	b.waitFor("the banner to go", `document.getElementById("banner").hidden && document.getElementById("metrics-msg").textContent === ""`)

	// Another origin's page tries a write with the visitor's browser: a
	// "simple" POST (no preflight), the kind a form or no-cors fetch sends.
	everyone, err := ix.Segment(tagseg.All())
	if err != nil {
		t.Fatal(err)
	}
	var victim string
	for c, err := range everyone.ReadCustomers(0) {
		if err != nil {
			t.Fatal(err)
		}
		victim = c.UUID
		break
	}
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<!doctype html><p id="done">sending</p><script>
fetch(%q, {method: "POST", mode: "no-cors", headers: {"Content-Type": "text/plain"}, body: '{"tags": ["evil"]}'})
  .then(() => { document.getElementById("done").textContent = "sent"; }, (e) => { document.getElementById("done").textContent = "failed: " + e; });
</script>`, base+"/v1/customers/"+victim+"/attributes/tags")
	}))
	defer evil.Close()
	b.do("the other origin", chromedp.Navigate(evil.URL))
	b.waitFor("its request", `document.getElementById("done").textContent === "sent"`)
	if c, err := ix.Customer(victim); err != nil || slices.Contains(c.Tags, "evil") {
		t.Errorf("a page of another origin tagged a customer through the browser: %q %v", c.Tags, err)
	}
	// The same request from the page's own origin is allowed.
	b.do("back", chromedp.Navigate(base+"/"))
	b.waitFor("the page", `document.body.dataset.state === "ready"`)
	b.do("a write of its own", chromedp.Evaluate[chromedp.Void](`fetch("v1/segments/saved/own", {method: "PUT", headers: {"Content-Type": "application/json"}, body: '{"query": "*"}'}).then(() => undefined)`, chromedp.EvalAwaitPromise))
	if _, ok := savedSegment(ix, "own"); !ok {
		t.Error("the page's own origin could not save a segment")
	}
}

// occupy takes n of the server's in-flight slots with POSTs whose bodies
// do not end until release is called; it returns once a further request
// is refused (503), so that every slot is taken.
func occupy(t *testing.T, base string, n int) (release func()) {
	t.Helper()
	var pipes []*io.PipeWriter
	var wg sync.WaitGroup
	for range n {
		pr, pw := io.Pipe()
		pipes = append(pipes, pw)
		wg.Go(func() {
			resp, err := http.Post(base+"/v1/customers", "application/json", pr)
			if err == nil {
				resp.Body.Close()
			}
		})
		pw.Write([]byte("{")) // the handler is reading the body
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		resp, err := http.Get(base + "/v1/segments/saved")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server's %d slots are not all taken: GET answers %d", n, resp.StatusCode)
		}
	}
	return func() {
		for _, pw := range pipes {
			pw.CloseWithError(errors.New("released"))
		}
		wg.Wait()
	}
}
