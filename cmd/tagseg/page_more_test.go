package main

// The page's lists and chart as issue 24 asks: one key prompt, the data's
// range by default, customers sorted by MRR, the ranking's column headers,
// round axis ticks, up to two saved segments compared on the chart, the
// segment downloaded as CSV, and at phone width the ranking and saved
// segments before the customer list.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/tagseg/tagseg/server/api"
)

func TestPageListsAndChart(t *testing.T) {
	chromiumPath(t)
	db := pageDemo(t)
	const key = "page-secret"
	srv := startServe(t, db, "-api-key", key)
	b := newBrowser(t, srv.base, key)

	// --- No key: one prompt, in the banner; no section repeats it.
	b.do("open the page", chromedp.Navigate(srv.base+"/"))
	b.waitFor("the key request", `/needs an API key/.test(document.getElementById("banner").textContent) && !document.querySelector('[aria-busy="true"]')`)
	if n := eval[int](b, `[...document.querySelectorAll(".msg, .banner")].filter(m => /API key/.test(m.textContent) && m.offsetParent !== null).length`); n != 1 {
		t.Errorf("the missing key is reported %d times, want once:\n%s", n, b.bodyText())
	}
	b.do("the key", chromedp.SendKeys(chromedp.CSS("#key"), key), chromedp.Click(chromedp.CSS("#auth button[type=submit]")))
	b.waitFor("the page", `document.body.dataset.state === "ready" && document.querySelectorAll("#customers tr.customer").length > 0`)

	// --- The default range is the data's: first to last MRR event.
	var whole api.Series
	b.api("GET", "/v1/segments/series?query=*", nil, &whole)
	if whole.StartDate == "" || whole.EndDate == "" {
		t.Fatalf("series without dates: %+v", whole)
	}
	b.waitFor("the data's range", fmt.Sprintf(`document.getElementById("from").value === %q && document.getElementById("to").value === %q`, whole.StartDate, whole.EndDate))
	if got := eval[string](b, `location.search`); got != "" {
		t.Errorf("the default view put %q in the URL", got)
	}
	b.waitFor("the chart", fmt.Sprintf(`document.querySelectorAll("#chart g.interval").length === %d`, len(whole.Entries)))

	// --- Round axis ticks: at most two significant digits ($15M, $2.5M, -$700K).
	labels := eval[[]string](b, `[...document.querySelectorAll("#chart text")].map(t => t.textContent).filter(s => s.includes("$"))`)
	if len(labels) < 3 {
		t.Fatalf("axis labels %q", labels)
	}
	for _, l := range labels {
		if !roundTick(l) {
			t.Errorf("axis label %q is not round (all: %q)", l, labels)
		}
	}

	// --- Customers by MRR, highest first by default; the header switches.
	var top struct {
		Entries []struct {
			UUID string `json:"uuid"`
			MRR  int64  `json:"mrr"`
		} `json:"entries"`
	}
	b.api("GET", "/v1/segments/customers?query=*&sort=-mrr&per_page=3", nil, &top)
	b.waitFor("the biggest customer first", fmt.Sprintf(`document.querySelector("#customers tr.customer").dataset.uuid === %q`, top.Entries[0].UUID))
	if got := eval[string](b, `document.getElementById("mrr-th").getAttribute("aria-sort")`); got != "descending" {
		t.Errorf("MRR column aria-sort %q", got)
	}
	b.api("GET", "/v1/segments/customers?query=*&sort=mrr&per_page=1", nil, &top)
	b.do("sort ascending", chromedp.Click(chromedp.CSS("#sort-mrr")))
	b.waitFor("the smallest customer first", fmt.Sprintf(`document.querySelector("#customers tr.customer").dataset.uuid === %q && document.getElementById("mrr-th").getAttribute("aria-sort") === "ascending"`, top.Entries[0].UUID))
	if got := eval[string](b, `new URL(location.href).searchParams.get("csort")`); got != "mrr" {
		t.Errorf("URL csort = %q", got)
	}
	b.do("show more", chromedp.Click(chromedp.CSS("#more")))
	b.waitFor("a second page in order", `document.querySelectorAll("#customers tr.customer").length > 50`)
	mrrs := eval[[]string](b, `[...document.querySelectorAll("#customers tr.customer td.num")].map(td => td.textContent)`)
	for i := 1; i < len(mrrs); i++ {
		if dollars(mrrs[i]) < dollars(mrrs[i-1]) {
			t.Fatalf("row %d: %s after %s: not in ascending MRR", i, mrrs[i], mrrs[i-1])
		}
	}

	// --- The ranking has column headers.
	if got := eval[string](b, `document.querySelector(".ranking-head").textContent`); got != "TagCustomersMRR" {
		t.Errorf("ranking headers %q", got)
	}

	// --- Two saved segments compared on the chart.
	for _, s := range []struct{ name, q string }{{"pro", "tag:plan-pro"}, {"risk", "tag:churn-risk-high"}} {
		if code := b.api("PUT", "/v1/segments/saved/"+s.name, map[string]string{"query": s.q}, nil); code != 200 {
			t.Fatalf("save %s: %d", s.name, code)
		}
	}
	b.do("reload", chromedp.Navigate(srv.base+"/?q="+url.QueryEscape("tag:plan-enterprise")))
	b.waitFor("the saved segments to compare", `document.querySelectorAll("#compare option").length === 3`)
	b.setValue("#compare", "pro")
	b.setValue("#compare", "risk")
	b.waitFor("two compared lines", `document.querySelectorAll("#chart path.cmp-line").length === 2 && document.getElementById("compare").disabled`)
	if got := eval[string](b, `[...document.querySelectorAll(".legend li.cmp:not([hidden]) .name")].map(n => n.textContent).join(",")`); got != "pro,risk" {
		t.Errorf("legend of the compared segments %q", got)
	}
	if got := eval[string](b, `new URL(location.href).searchParams.get("cmp")`); got != "pro,risk" {
		t.Errorf("URL cmp = %q", got)
	}
	b.do("stop comparing", chromedp.Click(chromedp.CSS(`#compared button.uncompare[data-name="pro"]`)))
	b.waitFor("one compared line", `document.querySelectorAll("#chart path.cmp-line").length === 1 && document.querySelector("#chart path.cmp-line").dataset.name === "risk"`)

	// --- The segment as CSV: the export import reads back.
	b.do("download", chromedp.Click(chromedp.CSS("#download")))
	b.waitFor("the download", `window.tagsegLastDownload && /Downloaded segment.csv/.test(document.getElementById("download-msg").textContent)`)
	resp, err := httpGetKey(srv.base+"/v1/segments/export?format=csv&query="+url.QueryEscape("tag:plan-enterprise"), key)
	if err != nil {
		t.Fatal(err)
	}
	if got := eval[int](b, `window.tagsegLastDownload.size`); got != len(resp) {
		t.Errorf("downloaded %d bytes, the export has %d", got, len(resp))
	}

	// --- A phone: the ranking, saved segments and bulk tagging come
	// before the customers, whose rows are short.
	b.do("phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	b.do("reload at phone width", chromedp.Reload())
	b.waitFor("the page", `document.body.dataset.state === "ready" && document.querySelectorAll("#customers tr.customer").length > 0`)
	for _, id := range []string{"tags-card", "saved-card", "bulk-card"} {
		if eval[bool](b, fmt.Sprintf(`document.getElementById(%q).getBoundingClientRect().top > document.getElementById("customers-card").getBoundingClientRect().top`, id)) {
			t.Errorf("at 390 px #%s comes after the customers", id)
		}
	}
	if h := eval[float64](b, `document.querySelector("#customers tr.customer").getBoundingClientRect().height`); h > 70 {
		t.Errorf("a customer row is %.0f px high at 390 px", h)
	}
	if w := eval[int](b, `document.documentElement.scrollWidth`); w > 390 {
		t.Errorf("at 390 px the page is %d px wide", w)
	}
	if os.Getenv("TAGSEG_SCREENSHOTS") != "" { // the whole page at phone width: the order of the sections
		ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
		defer cancel()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join("..", "..", "docs", "page-phone-full.png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b.noErrors()
}

// roundTick reports whether an axis label ($15M, -$700K, $2.5M, $0) has
// at most two significant digits.
func roundTick(l string) bool {
	lead := true
	var sig []byte
	for i := 0; i < len(l); i++ {
		c := l[i]
		if c < '0' || c > '9' {
			continue
		}
		if lead && c == '0' {
			continue
		}
		lead = false
		sig = append(sig, c)
	}
	for len(sig) > 0 && sig[len(sig)-1] == '0' {
		sig = sig[:len(sig)-1]
	}
	return len(sig) <= 2
}

// dollars reads "$1,234.56" as a number of cents.
func dollars(s string) int64 {
	var n int64
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= '0' && c <= '9' {
			n = 10*n + int64(c-'0')
		}
	}
	return n
}

// httpGetKey GETs url with the API key and returns the body of a 200.
func httpGetKey(u, key string) ([]byte, error) {
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		return nil, err
	}
	req.SetBasicAuth(key, "")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != 200 {
		err = fmt.Errorf("GET %s: %d %s", u, resp.StatusCode, b)
	}
	return b, err
}
