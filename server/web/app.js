// tagseg segment explorer: a page over tagseg serve's JSON API, with no
// dependencies. Every read and write goes through /v1; the page keeps its
// view in the URL (?q=…&from=…&to=…&every=…) so that a link reproduces it.
"use strict";

const $ = (id) => document.getElementById(id);

// The query language's fields, from the server (GET /v1/segments/fields,
// the library's table) on the first completion: [name, what completion
// inserts after it]; custom.KEY completes as its prefix, custom.
let fields = null;
async function queryFields() {
  if (fields) return fields;
  const r = await api("GET", "/v1/segments/fields");
  fields = r.fields.map((f) => f.type === "custom" ? [f.name.replace(/KEY$/, ""), ""] : [f.name, f.type === "string" ? ":" : " >= "]);
  return fields;
}
const KEYWORDS = ["AND", "OR", "NOT", "tag:", "tags:any(", "tags:all(", "tags:none("];
const KEY_STORE = "tagseg-api-key";
const PER_PAGE = 50;
const MAX_BARS = 2000;

// ---- formatting ----

const intFmt = new Intl.NumberFormat("en-US");
const moneyFmt = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD" });
const compactFmt = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD", notation: "compact", maximumFractionDigits: 1 });

/** niceStep is the smallest 1, 2, 2.5 or 5 × 10^k at least x: a round tick step. */
function niceStep(x) {
  if (!(x > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(x)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= x * (1 - 1e-9)) return m * p;
  return 10 * p;
}

/** niceCeil rounds x up to 1, 1.5, 2, 2.5, 3, 4, 5, 6, 7, 8 or 10 × 10^k: a round bound. */
function niceCeil(x) {
  if (!(x > 0)) return 0;
  const p = Math.pow(10, Math.floor(Math.log10(x)));
  for (const m of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 7, 8, 10]) if (m * p >= x * (1 - 1e-9)) return m * p;
  return 10 * p;
}

/** money formats cents as dollars with separators: $1,234.56. */
function money(cents) { return moneyFmt.format(cents / 100); }
function moneyShort(cents) { return compactFmt.format(cents / 100); }
function count(n) { return intFmt.format(n); }

/** quoteValue writes a tag as the query language reads it: a word as it is, anything else quoted. */
function quoteValue(v) {
  if (/^[\p{L}\p{N}\-_.@+/][\p{L}\p{N}\-_.@+/:]*$/u.test(v) && !/^(and|or|not)$/i.test(v)) return v;
  return '"' + v.replace(/\\/g, "\\\\").replace(/"/g, '\\"') + '"';
}

/** jsIndex turns the server's byte offset into q into a string index. */
function jsIndex(q, byteOffset) {
  const enc = new TextEncoder();
  let bytes = 0, i = 0;
  for (const ch of q) {
    if (bytes >= byteOffset) break;
    bytes += enc.encode(ch).length;
    i += ch.length;
  }
  return i;
}

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k in e && k !== "list") e[k] = v;
    else e.setAttribute(k, v);
  }
  for (const kid of kids) if (kid !== null && kid !== undefined) e.append(kid);
  return e;
}

const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attrs) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  return e;
}

// ---- state in the URL ----

function isoDate(d) { return d.toISOString().slice(0, 10); }

/** defaults: no dates means the data's range (the server answers it: first to last MRR event); customers by MRR, highest first. */
function defaults() {
  return { q: "", from: "", to: "", every: "month", sort: "mrr", prefix: "", segment: "", csort: "-mrr", cmp: "" };
}

const state = defaults();

function readURL() {
  const p = new URLSearchParams(location.search);
  for (const k of Object.keys(state)) if (p.has(k)) state[k] = p.get(k);
  if (!["day", "week", "month", "quarter", "year"].includes(state.every)) state.every = "month";
  if (!["mrr", "count"].includes(state.sort)) state.sort = "mrr";
  if (!["", "mrr", "-mrr"].includes(state.csort)) state.csort = "-mrr";
}

function writeURL() {
  const d = defaults();
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(state)) if (v !== d[k] || k === "q" && v) p.set(k, v);
  const s = p.toString();
  history.replaceState(null, "", s ? "?" + s : location.pathname);
}

function query() { return state.q.trim() || "*"; }

// ---- the API ----

class APIError extends Error {
  constructor(status, body, message) {
    super(message);
    this.status = status;
    this.body = body || {};
  }
  get isQuery() { return this.status === 400 && this.body.param === "query"; }
}

function base64(s) {
  let bin = "";
  for (const b of new TextEncoder().encode(s)) bin += String.fromCharCode(b);
  return btoa(bin);
}

function messageOf(status, body) {
  if (body && typeof body.message === "string") return body.message;
  if (body && typeof body.error === "string") return body.error;
  if (body && body.errors) return Object.entries(body.errors).map(([k, v]) => `${k}: ${v}`).join("; ");
  return `The server answered ${status}`;
}

/** BASE is where the API lives: the directory the page is served from, so that a host may mount tagseg under a prefix. */
const BASE = new URL(".", location.href);

/** api calls the JSON API (path from its root, "/v1/...") and returns its body; it throws an APIError with a readable message. */
async function api(method, path, { params, body, signal } = {}) {
  const url = new URL(path.replace(/^\//, ""), BASE);
  for (const [k, v] of Object.entries(params || {})) if (v !== undefined && v !== "") url.searchParams.set(k, v);
  const headers = { "X-Tagseg-Page": "1", Accept: "application/json" };
  const key = sessionStorage.getItem(KEY_STORE);
  if (key) headers.Authorization = "Basic " + base64(key + ":");
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let res;
  try {
    res = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal, credentials: "same-origin" });
  } catch (e) {
    if (e.name === "AbortError") throw e;
    const err = new APIError(0, null, "The server cannot be reached: is tagseg serve running?");
    banner(err.message);
    throw err;
  }
  let data = null;
  const text = await res.text();
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (res.ok) {
    if (bannerKind !== "auth") banner("");
    return data;
  }
  const err = new APIError(res.status, data, messageOf(res.status, data));
  if (res.status === 401) needKey(!!key);
  else if (res.status === 503) banner("The server is unavailable: " + err.message);
  else if (res.status === 403 && /cross-origin/i.test(err.message)) banner(err.message);
  throw err;
}

let bannerKind = "";
function banner(msg, kind) {
  const b = $("banner");
  b.textContent = msg;
  b.hidden = !msg;
  bannerKind = msg ? kind || "error" : "";
}

function needKey(had) {
  const f = $("auth");
  f.hidden = false;
  banner(had ? "The API key was refused: enter the server's API key." : "This server needs an API key: enter it above.", "auth");
  if (document.activeElement !== $("key")) $("key").focus();
}

// ---- messages per section ----

function say(id, msg, ok) {
  const m = $(id);
  m.textContent = msg || "";
  m.classList.toggle("ok", !!ok);
}

function failed(id, err, card) {
  if (err.name === "AbortError") return;
  if (err.status === 401) { say(id, ""); return; } // the banner asks for the key, once
  if (card) $(card).classList.add("stale");
  if (err.isQuery) { say(id, "The query has an error (above)."); return; }
  say(id, err.message);
}

// ---- the query box ----

function showQueryError(err) {
  const box = $("q-error");
  const q = $("q").value;
  $("q").setAttribute("aria-invalid", "true");
  $("q-error-msg").textContent = err.message;
  const pre = $("q-caret");
  pre.textContent = "";
  if (typeof err.body.offset === "number") {
    const i = Math.min(jsIndex(q, err.body.offset), q.length);
    const mark = el("mark", { text: q.slice(i, i + 1) || " " });
    pre.append(q.slice(0, i), mark, q.slice(i + 1), "\n" + " ".repeat([...q.slice(0, i)].length) + "^");
    box.dataset.offset = String(i);
  } else {
    delete box.dataset.offset;
  }
  box.hidden = false;
}

function clearQueryError() {
  $("q").removeAttribute("aria-invalid");
  $("q-error").hidden = true;
}

// ---- refreshing everything ----

let ctl = null;          // aborts the loads of a refresh a newer one replaces
let refreshes = 0;
let editStart = 0;       // when the edit being answered was typed
window.tagsegTimings = { firstPaint: null, lastEdit: null, edits: [] };

async function refresh() {
  writeURL();
  if (ctl) ctl.abort();
  ctl = new AbortController();
  const signal = ctl.signal;
  const gen = ++refreshes;
  document.body.dataset.state = "loading";
  const t0 = performance.now(), parts = {};
  // A section being redrawn says so (aria-busy, and a bar along its top).
  const timed = (name, p, card) => {
    $(card).setAttribute("aria-busy", "true");
    return p.then(() => {
      parts[name] = Math.round(performance.now() - t0);
      if (gen === refreshes) $(card).removeAttribute("aria-busy");
    });
  };
  await Promise.allSettled([timed("metrics", loadMetrics(signal), "metrics"), timed("series", loadSeries(signal), "chart-card"),
    timed("tags", loadTags(signal), "tags-card"), timed("customers", loadCustomers(signal, false), "customers-card"),
    loadChanges(signal)]);
  if (gen !== refreshes) return;
  const now = performance.now();
  const t = window.tagsegTimings;
  t.parts = parts; // when each section was drawn, in ms from the refresh's start
  if (t.firstPaint === null) t.firstPaint = Math.round(now);
  if (editStart) {
    t.lastEdit = Math.round(now - editStart);
    t.edits.push(t.lastEdit);
    editStart = 0;
  }
  document.body.dataset.state = "ready";
  document.body.dataset.refreshes = String(gen);
}

async function loadMetrics(signal) {
  try {
    const m = await api("GET", "/v1/segments/metrics", { params: { query: query() }, signal });
    clearQueryError();
    $("m-customers").textContent = count(m.customers);
    $("m-paying").textContent = count(m.paying);
    $("m-mrr").textContent = money(m.mrr);
    $("m-arr").textContent = money(m.arr);
    $("m-arpa").textContent = money(m.arpa);
    const u = $("m-unknown");
    const unknown = m.unknown_tags.map((t) => t.endsWith("*") ? "tag:" + quoteValue(t.slice(0, -1)) + "*" : "tag:" + quoteValue(t))
      .concat(m.unknown_fields || []);
    u.hidden = !unknown.length;
    u.textContent = unknown.length ? "No customer holds " + unknown.join(", ") : "";
    $("metrics").classList.remove("stale");
    say("metrics-msg", "");
  } catch (err) {
    if (err.isQuery) showQueryError(err);
    failed("metrics-msg", err, "metrics");
  }
}

// ---- the chart ----

let series = null;   // the entries drawn
let focusIdx = -1;

/** compared are the saved segments drawn beside the query: [{name, entries}]. */
let compared = [];

function rangeParams() {
  const p = { interval: state.every };
  if (state.from || state.to) { p["start-date"] = state.from; p["end-date"] = state.to; }
  return p;
}

async function loadSeries(signal) {
  if (!state.from !== !state.to) { say("chart-msg", "Choose a start and an end date (or neither: the data's range)."); return; }
  try {
    const [s, ...cmps] = await Promise.all([
      api("GET", "/v1/segments/series", { params: { query: query(), ...rangeParams() }, signal }),
      ...cmpNames().map((name) => api("GET", "/v1/segments/series", { params: { segment: name, ...rangeParams() }, signal })
        .then((r) => ({ name, entries: r.entries }), (err) => ({ name, error: err }))),
    ]);
    series = s.entries;
    if (!state.from && !state.to) { $("from").value = s["start-date"] || ""; $("to").value = s["end-date"] || ""; }
    compared = cmps.filter((c) => !c.error);
    const lost = cmps.filter((c) => c.error && c.error.name !== "AbortError");
    renderCompared();
    $("chart-card").classList.remove("stale");
    say("chart-msg", series.length > MAX_BARS ? `${count(series.length)} intervals: choose a longer interval or a shorter range.`
      : lost.length ? lost.map((c) => `${c.name}: ${c.error.status === 404 ? "no such saved segment" : c.error.message}`).join("; ") : "");
    drawChart();
  } catch (err) {
    if (err.status === 400 && err.body.param !== "query") { say("chart-msg", err.message); $("chart-card").classList.add("stale"); return; }
    failed("chart-msg", err, "chart-card");
  }
}

/** cmpNames are the saved segments compared with the query (at most two). */
function cmpNames() { return state.cmp ? state.cmp.split(",").filter(Boolean).slice(0, 2) : []; }

/** renderCompared lists the compared segments (with a remove button) and names their lines in the legend. */
function renderCompared() {
  const names = cmpNames();
  $("compared").replaceChildren(...names.map((n, i) => el("li", { class: "chip", "data-name": n },
    el("span", { class: "sw line cmp" + (i + 1) }), " " + n,
    el("button", { type: "button", class: "uncompare", "data-name": n, "aria-label": "Stop comparing with " + n, text: "×" }))));
  for (const li of document.querySelectorAll(".legend li.cmp")) {
    const c = compared[+li.dataset.k - 1];
    li.hidden = !c;
    li.querySelector(".name").textContent = c ? c.name : "";
  }
  $("compare").disabled = names.length >= 2;
}

function setCompared(names) {
  state.cmp = names.slice(0, 2).join(",");
  writeURL();
  loadSeries(ctl ? ctl.signal : undefined);
}

function label(e) {
  switch (state.every) {
    case "year": return e["start-date"].slice(0, 4);
    case "quarter": return e["start-date"].slice(0, 4) + " Q" + (Math.floor((+e["start-date"].slice(5, 7) - 1) / 3) + 1);
    case "month": return e["start-date"].slice(0, 7);
    default: return e["start-date"];
  }
}

const MOVES = [
  ["mrr-new-business", "mv-new", "New business"],
  ["mrr-expansion", "mv-exp", "Expansion"],
  ["mrr-reactivation", "mv-react", "Reactivation"],
  ["mrr-contraction", "mv-contr", "Contraction"],
  ["mrr-churn", "mv-churn", "Churn"],
];

// The chart's margins in px: the y labels on the left, the x labels below.
const CHART = { L: 64, R: 8, T: 10, B: 22, gap: 18 };

/** band is the width of one interval's column in a chart W px wide. */
function band(W, n) { return (W - CHART.L - CHART.R) / n; }

/** drawChart draws MRR as a line over the movements as stacked bars, one group of bars per interval. */
function drawChart() {
  const sv = $("chart");
  sv.replaceChildren();
  $("tip").hidden = true;
  const es = series || [];
  if (!es.length || es.length > MAX_BARS) return;
  const W = sv.clientWidth || 600, H = sv.clientHeight || 300;
  sv.setAttribute("viewBox", `0 0 ${W} ${H}`);
  const { L, R, T, B, gap } = CHART;
  const plotW = W - L - R;
  const lineH = Math.round((H - T - B - gap) * 0.55);
  const barTop = T + lineH + gap, barH = H - B - barTop;
  const bw = band(W, es.length);
  const x = (i) => L + bw * i;

  // The MRR axis in round steps (0, $5M, $10M, $15M), over this
  // segment's MRR and the compared ones'; the movements' axis from a round
  // bound below zero to one above.
  const cmps = compared.filter((c) => c.entries.length === es.length);
  const top = Math.max(1, ...es.map((e) => e.mrr), ...cmps.flatMap((c) => c.entries.map((e) => e.mrr)));
  const step = niceStep(top / 3);
  const mrrMax = Math.ceil(top / step - 1e-9) * step;
  const yl = (v) => T + lineH - (v / mrrMax) * lineH;
  let pos = 0, neg = 0;
  for (const e of es) {
    pos = Math.max(pos, e["mrr-new-business"] + e["mrr-expansion"] + e["mrr-reactivation"]);
    neg = Math.max(neg, -(e["mrr-contraction"] + e["mrr-churn"]));
  }
  pos = niceCeil(pos) || (neg ? 0 : 1);
  neg = niceCeil(neg);
  const span = pos + neg;
  const yb = (v) => barTop + ((pos - v) / span) * barH;

  // axes and labels
  for (let v = 0; v <= mrrMax + step / 2; v += step) {
    sv.append(svg("line", { class: "axis", x1: L, x2: W - R, y1: yl(v), y2: yl(v) }));
    const t = svg("text", { x: L - 6, y: yl(v) + 4, "text-anchor": "end" });
    t.textContent = moneyShort(v);
    sv.append(t);
  }
  sv.append(svg("line", { class: "zero", x1: L, x2: W - R, y1: yb(0), y2: yb(0) }));
  for (const v of [pos, -neg]) {
    if (!v) continue;
    const t = svg("text", { x: L - 6, y: yb(v) + 4, "text-anchor": "end" });
    t.textContent = moneyShort(v);
    sv.append(t);
  }
  const every = Math.max(1, Math.ceil(es.length / Math.max(2, Math.floor(plotW / 80))));
  es.forEach((e, i) => {
    if (i % every) return;
    const text = label(e), half = text.length * 3.3; // about half its width at 11px
    const t = svg("text", { x: Math.max(L + half, Math.min(W - R - half, x(i) + bw / 2)), y: H - 6, "text-anchor": "middle" });
    t.textContent = text;
    sv.append(t);
  });

  // one group per interval: a hit area and the stacked movements
  const pad = bw > 6 ? Math.min(bw * 0.18, 8) : 0;
  es.forEach((e, i) => {
    const g = svg("g", { class: "interval", "data-i": i });
    g.append(svg("rect", { class: "hit", x: x(i), y: T, width: bw, height: H - T - B }));
    let up = 0, down = 0;
    for (const [k, cls] of MOVES) {
      const v = e[k];
      if (!v) continue;
      const from = v > 0 ? up : down;
      const to = from + v;
      if (v > 0) up = to; else down = to;
      g.append(svg("rect", {
        class: "bar " + cls, x: x(i) + pad, width: Math.max(0.5, bw - 2 * pad),
        y: Math.min(yb(from), yb(to)), height: Math.max(0.5, Math.abs(yb(to) - yb(from))),
      }));
    }
    sv.append(g);
  });
  const line = (entries) => entries.map((e, i) => (i ? "L" : "M") + (x(i) + bw / 2).toFixed(1) + " " + yl(e.mrr).toFixed(1)).join(" ");
  cmps.forEach((c) => sv.append(svg("path", { class: "cmp-line cmp" + (compared.indexOf(c) + 1), d: line(c.entries), "data-name": c.name })));
  sv.append(svg("path", { class: "mrr-line", d: line(es) }));
  if (focusIdx >= es.length) focusIdx = -1;
}

function showTip(i) {
  const es = series || [];
  const tip = $("tip");
  if (i < 0 || i >= es.length || es.length > MAX_BARS) { tip.hidden = true; return; }
  focusIdx = i;
  const e = es[i];
  tip.replaceChildren(
    el("b", { text: e["start-date"] === e.date ? e.date : `${e["start-date"]} – ${e.date}` }), el("br"),
    `MRR ${money(e.mrr)} · ${count(e.paying)} paying`, el("br"),
    ...compared.filter((c) => c.entries[i]).flatMap((c) => [`${c.name}: MRR ${money(c.entries[i].mrr)}`, el("br")]),
    `ARPA ${money(e.arpa)}`,
    ...MOVES.flatMap(([k, , name]) => [el("br"), `${name} ${money(e[k])}`]),
  );
  tip.hidden = false;
  const sv = $("chart");
  const W = sv.clientWidth;
  const cx = CHART.L + band(W, es.length) * (i + 0.5);
  const tw = tip.offsetWidth;
  tip.style.left = Math.max(0, Math.min(W - tw, cx + 12 > W - tw ? cx - tw - 12 : cx + 12)) + "px";
  tip.style.top = "8px";
  for (const g of sv.querySelectorAll(".interval.on")) g.classList.remove("on");
  sv.querySelector(`.interval[data-i="${i}"]`)?.classList.add("on");
  sv.setAttribute("aria-label", `${label(e)}: MRR ${money(e.mrr)}`);
}

function chartIndexAt(ev) {
  const sv = $("chart"), es = series || [];
  const r = sv.getBoundingClientRect();
  const i = Math.floor((ev.clientX - r.left - CHART.L) / band(r.width, es.length));
  return i >= 0 && i < es.length ? i : -1;
}

// ---- tag ranking ----

async function loadTags(signal) {
  try {
    const r = await api("GET", "/v1/segments/tags", {
      params: { query: query(), sort: state.sort, prefix: state.prefix, limit: 50 }, signal,
    });
    const ol = $("tags");
    ol.replaceChildren(...r.entries.map((t) => el("li", {},
      el("button", { type: "button", class: "tag", "data-tag": t.tag, title: "AND tag:" + quoteValue(t.tag) + " into the query" },
        el("span", { class: "tagname", text: t.tag }),
        el("span", { class: "n", text: count(t.customers) }),
        el("span", { class: "mrr", text: money(t.mrr) })))));
    $("tags-card").classList.remove("stale");
    say("tags-msg", r.entries.length ? "" : state.prefix ? `No tag starting with “${state.prefix}” in this segment.` : "No customer of this segment holds a tag.", true);
  } catch (err) {
    failed("tags-msg", err, "tags-card");
  }
}

/** andTag ANDs tag:T into the query. */
function andTag(tag) {
  const q = state.q.trim();
  const term = "tag:" + quoteValue(tag);
  state.q = !q || q === "*" ? term : (/\bor\b/i.test(q) ? `(${q})` : q) + " AND " + term;
  $("q").value = state.q;
  editStart = performance.now();
  refresh();
}

// ---- customers ----

let cursor = null;

async function loadCustomers(signal, more) {
  try {
    const r = await api("GET", "/v1/segments/customers", {
      params: { query: query(), per_page: PER_PAGE, sort: state.csort, cursor: more ? cursor : undefined }, signal,
    });
    const body = $("customers").tBodies[0];
    const rows = r.entries.map(customerRow);
    if (more) body.append(...rows); else body.replaceChildren(...rows);
    cursor = r.cursor;
    $("more").hidden = !r.has_more;
    $("customers-card").classList.remove("stale");
    say("customers-msg", body.rows.length ? "" : "No customer is in this segment.", true);
  } catch (err) {
    failed("customers-msg", err, "customers-card");
  }
}

function tagChips(tags, max) {
  const shown = tags.slice(0, max);
  const ul = el("ul", { class: "chips" }, ...shown.map((t) => el("li", { class: "chip", text: t })));
  if (tags.length > max) ul.append(el("li", { class: "chip", text: `+${tags.length - max}` }));
  return ul;
}

function customerRow(c) {
  return el("tr", { class: "customer", "data-uuid": c.uuid },
    el("td", {},
      el("button", { type: "button", class: "open", text: c.name || c.external_id || c.uuid }),
      c.email ? el("div", { class: "email", text: c.email }) : null),
    el("td", { class: "num", text: money(c.mrr) }),
    el("td", { class: "tags-cell" }, tagChips(c.attributes.tags || [], 4)));
}

let detailUUID = "";

async function openCustomer(uuid) {
  detailUUID = uuid;
  const d = $("detail");
  d.hidden = false;
  say("detail-msg", "");
  try {
    const [c, h] = await Promise.all([api("GET", "/v1/customers/" + encodeURIComponent(uuid)), api("GET", `/v1/customers/${encodeURIComponent(uuid)}/mrr`)]);
    if (detailUUID !== uuid) return;
    $("detail-h").textContent = c.name || c.external_id || c.uuid;
    const f = $("detail-fields");
    f.replaceChildren();
    for (const [k, v] of [["UUID", c.uuid], ["External ID", c.external_id], ["Email", c.email], ["Company", c.company],
      ["Country", c.country], ["Customer since", c["customer-since"]], ["MRR", money(c.mrr)], ["ARR", money(c.arr)]]) {
      if (v) f.append(el("dt", { text: k }), el("dd", { text: v }));
    }
    renderDetailTags(c.attributes.tags || []);
    renderHistory(h.entries);
    d.scrollIntoView({ block: "nearest" });
  } catch (err) {
    say("detail-msg", err.status === 404 ? "This customer no longer exists." : err.message);
  }
}

function renderDetailTags(tags) {
  $("detail-tags").replaceChildren(...tags.map((t) => el("li", { class: "chip" }, t,
    el("button", { type: "button", class: "untag", "data-tag": t, "aria-label": "Remove tag " + t, text: "×" }))));
  if (!tags.length) $("detail-tags").append(el("li", { class: "help", text: "No tags." }));
}

function renderHistory(entries) {
  const body = $("detail-history").tBodies[0];
  body.replaceChildren(...entries.slice().reverse().map((e) =>
    el("tr", {}, el("td", { text: e.date.slice(0, 10) }), el("td", { class: "num", text: money(e.mrr) }))));
  const sv = $("detail-chart");
  sv.replaceChildren();
  if (entries.length < 1) return;
  const W = sv.clientWidth || 300, H = sv.clientHeight || 90;
  sv.setAttribute("viewBox", `0 0 ${W} ${H}`);
  const t0 = Date.parse(entries[0].date), t1 = Math.max(Date.now(), Date.parse(entries[entries.length - 1].date) + 1);
  const max = Math.max(1, ...entries.map((e) => e.mrr));
  const x = (t) => 4 + ((t - t0) / (t1 - t0)) * (W - 8);
  const y = (v) => H - 4 - (v / max) * (H - 8);
  let d = "";
  entries.forEach((e, i) => {
    const xi = x(Date.parse(e.date));
    d += i ? ` H${xi.toFixed(1)} V${y(e.mrr).toFixed(1)}` : `M${xi.toFixed(1)} ${y(e.mrr).toFixed(1)}`;
  });
  d += ` H${x(t1).toFixed(1)}`;
  sv.append(svg("path", { d }));
}

async function changeCustomerTags(method, tags) {
  const uuid = detailUUID;
  try {
    const r = await api(method, `/v1/customers/${encodeURIComponent(uuid)}/attributes/tags`, { body: { tags } });
    if (detailUUID !== uuid) return;
    renderDetailTags(r.tags);
    say("detail-msg", (method === "POST" ? "Added " : "Removed ") + tags.join(", ") + ".", true);
    refresh();
  } catch (err) {
    say("detail-msg", err.message);
  }
}

/** showSort marks the MRR column with the customers' order. */
function showSort() {
  const th = $("mrr-th");
  const dir = { "-mrr": ["descending", "↓", "Highest MRR first; select for the lowest first"], mrr: ["ascending", "↑", "Lowest MRR first; select for the list's own order"], "": ["none", "↕", "Sort by MRR, highest first"] }[state.csort];
  th.setAttribute("aria-sort", dir[0]);
  th.querySelector(".arrow").textContent = dir[1];
  $("sort-mrr").title = dir[2];
}

/** download saves the segment's customers as the CSV tagseg import reads back (GET /v1/segments/export). */
async function download() {
  const btn = $("download");
  btn.disabled = true;
  say("download-msg", "Preparing the CSV…", true);
  try {
    const url = new URL("v1/segments/export", BASE);
    url.searchParams.set("format", "csv");
    url.searchParams.set("query", query());
    const headers = { "X-Tagseg-Page": "1" };
    const key = sessionStorage.getItem(KEY_STORE);
    if (key) headers.Authorization = "Basic " + base64(key + ":");
    const res = await fetch(url, { headers, credentials: "same-origin" });
    if (!res.ok) {
      let body = null;
      try { body = await res.json(); } catch { /* not JSON */ }
      if (res.status === 401) needKey(!!key);
      throw new APIError(res.status, body, messageOf(res.status, body));
    }
    const blob = await res.blob();
    const a = el("a", { href: URL.createObjectURL(blob), download: "segment.csv" });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10000);
    window.tagsegLastDownload = { size: blob.size, type: blob.type };
    say("download-msg", `Downloaded segment.csv (${count(blob.size)} bytes): tagseg import reads it back.`, true);
  } catch (err) {
    if (err.status === 401) say("download-msg", "");
    else say("download-msg", err.status === 0 ? "The server cannot be reached." : err.message);
  } finally {
    btn.disabled = false;
  }
}

// ---- saved segments ----

async function loadSaved() {
  try {
    const r = await api("GET", "/v1/segments/saved");
    const entries = r.entries.slice().sort((a, b) => a.name.localeCompare(b.name));
    $("compare").replaceChildren(el("option", { value: "", text: entries.length ? "a saved segment…" : "(no saved segment yet)" }),
      ...entries.map((s) => el("option", { value: s.name, text: s.name })));
    $("saved").replaceChildren(...entries.map((s) => el("li", { class: "saved", "data-name": s.name },
      el("div", { style: "flex:1;min-width:0" },
        el("button", { type: "button", class: "open", text: s.name, "aria-label": "Open saved segment " + s.name }),
        el("code", { text: s.query })),
      el("button", { type: "button", class: "delete", text: "Delete", "aria-label": "Delete saved segment " + s.name }))));
    if (!entries.length) $("saved").append(el("li", { class: "help", text: "No saved segments yet." }));
  } catch (err) {
    failed("saved-msg", err);
  }
}

// ---- a saved segment's entries and exits ----

const CHANGES = 20;      // the latest changes shown
const CHANGE_NAMES = 10; // customers named per change; the rest counted
let watched = null;      // the saved segment opened: {name, query}

const timeFmt = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });

/** loadChanges shows the opened saved segment's latest changes while the query is still its own. */
async function loadChanges(signal) {
  const card = $("changes-card");
  if (!watched || state.q.trim() !== watched.query.trim()) { card.hidden = true; return; }
  card.hidden = false;
  $("changes-name").textContent = watched.name;
  try {
    const r = await api("GET", `/v1/segments/saved/${encodeURIComponent(watched.name)}/changes`, {
      params: { last: CHANGES, max_customers: CHANGE_NAMES, names: "true" }, signal,
    });
    const who = (uuids, n, cls, label) => {
      if (!n) return null;
      const names = uuids.map((u) => el("button", { type: "button", class: "customer", "data-uuid": u, text: r.names[u] || u }));
      const parts = [];
      names.forEach((b, i) => { if (i) parts.push(", "); parts.push(b); });
      if (n > uuids.length) parts.push(` and ${count(n - uuids.length)} more`);
      return el("div", { class: "who " + cls }, el("span", { class: "sr-only", text: label }), ...parts);
    };
    $("changes").replaceChildren(...r.changes.slice().reverse().map((c) => el("li", {},
      el("time", { datetime: c.at, text: timeFmt.format(new Date(c.at)) }),
      who(c.entered, c.entered_count, "in", "Entered: "),
      who(c.left, c.left_count, "out", "Left: "))));
    say("changes-msg", r.changes.length ? "" : "No change recorded yet: each commit that adds or drops a member of this segment will show here.", true);
    card.classList.remove("stale");
  } catch (err) {
    if (err.status === 404) { watched = null; card.hidden = true; return; }
    failed("changes-msg", err, "changes-card");
  }
}

async function openSaved(name) {
  try {
    const s = await api("GET", "/v1/segments/saved/" + encodeURIComponent(name));
    watched = { name: s.name, query: s.query };
    state.q = s.query;
    state.segment = "";
    $("q").value = s.query;
    $("save-name").value = s.name;
    say("saved-msg", "");
    editStart = performance.now();
    await refresh();
  } catch (err) {
    say("saved-msg", err.status === 404 ? `There is no saved segment named “${name}”.` : err.message);
    state.segment = "";
    if (!refreshes) await refresh(); // the page still shows every customer
    else writeURL();
  }
}

function confirmDialog(text, okLabel) {
  const d = $("confirm");
  $("confirm-text").textContent = text;
  $("confirm-ok").textContent = okLabel || "Confirm";
  return new Promise((resolve) => {
    d.addEventListener("close", () => resolve(d.returnValue === "ok"), { once: true });
    d.returnValue = "";
    d.showModal();
    $("confirm-cancel").focus();
  });
}

// ---- bulk tagging ----

async function bulk(add) {
  const tags = $("bulk-tag").value.split(",").map((t) => t.trim()).filter(Boolean);
  if (!tags.length) { say("bulk-msg", "Give at least one tag."); return; }
  const method = add ? "POST" : "DELETE";
  const q = query();
  try {
    const dry = await api(method, "/v1/segments/tags", { body: { query: q, tags, dry_run: true } });
    const n = dry.would_change;
    const list = tags.join(", ");
    if (!n) { say("bulk-msg", add ? `Every customer of this segment already has ${list}.` : `No customer of this segment has ${list}.`, true); return; }
    if (dry.max_customers && n > dry.max_customers) {
      say("bulk-msg", `This would change ${count(n)} customers; the server allows at most ${count(dry.max_customers)} in one change.`);
      return;
    }
    const text = add ? `Add ${list} to ${count(n)} customers of this segment?` : `Remove ${list} from ${count(n)} customers of this segment?`;
    if (!(await confirmDialog(text, add ? `Add to ${count(n)}` : `Remove from ${count(n)}`))) { say("bulk-msg", "Nothing changed."); return; }
    const r = await api(method, "/v1/segments/tags", { body: { query: q, tags, confirm: n } });
    say("bulk-msg", `${add ? "Added" : "Removed"} ${list}: ${count(r.changed)} customers changed.`, true);
    refresh();
  } catch (err) {
    say("bulk-msg", err.isQuery ? "The query has an error (above)." : err.message);
  }
}

// ---- completion ----

let comp = { items: [], active: -1, start: 0, end: 0, seq: 0 };

function closeCompletions() {
  $("completions").hidden = true;
  $("q").setAttribute("aria-expanded", "false");
  $("q").removeAttribute("aria-activedescendant");
  comp.items = [];
  comp.active = -1;
}

/** tokenAt finds the word being typed at the caret, and whether it is a tag. */
function tokenAt(v, caret) {
  let i = caret;
  while (i > 0 && !/[\s(),]/.test(v[i - 1])) i--;
  const text = v.slice(i, caret);
  const inList = /tags:(any|all|none)\(\s*(("([^"\\]|\\.)*"|[^()"])*,\s*)?$/.test(v.slice(0, i));
  return { start: i, end: caret, text, inList };
}

async function complete() {
  const q = $("q");
  const tok = tokenAt(q.value, q.selectionStart ?? q.value.length);
  const seq = ++comp.seq;
  let items = [];
  let tagPrefix = null, tagInsert = (t) => t;
  if (tok.inList) { tagPrefix = tok.text.replace(/^"/, ""); tagInsert = (t) => quoteValue(t); }
  else if (tok.text.startsWith("tag:")) { tagPrefix = tok.text.slice(4).replace(/^"/, ""); tagInsert = (t) => "tag:" + quoteValue(t) + " "; }
  else if (tok.text.length >= 1 && !tok.text.includes(":") && !/^[<>=!]/.test(tok.text)) {
    const low = tok.text.toLowerCase();
    for (const k of KEYWORDS) if (k.toLowerCase().startsWith(low) && k.toLowerCase() !== low) items.push({ label: k, insert: k + (k.endsWith(":") || k.endsWith("(") ? "" : " "), kind: "keyword" });
    try {
      for (const [f, op] of await queryFields()) if (f.startsWith(tok.text) && f !== tok.text) items.push({ label: f, insert: f + op, kind: "field" });
    } catch { /* completion is a help */ }
    if (tok.text.length >= 2) { tagPrefix = tok.text; tagInsert = (t) => "tag:" + quoteValue(t) + " "; }
  }
  if (tagPrefix !== null && (tagPrefix.length || tok.inList || tok.text.startsWith("tag:"))) {
    try {
      const r = await api("GET", "/v1/tags", { params: { prefix: tagPrefix, limit: 10 } });
      for (const t of r.entries) items.push({ label: t.tag, insert: tagInsert(t.tag), kind: count(t.customers) + " customers" });
    } catch { /* completion is a help: the query's own errors show elsewhere */ }
  }
  if (seq !== comp.seq || document.activeElement !== q) return;
  showCompletions(items, tok);
}

function showCompletions(items, tok) {
  const ul = $("completions");
  if (!items.length) { closeCompletions(); return; }
  comp = { ...comp, items, active: 0, start: tok.start, end: tok.end };
  ul.replaceChildren(...items.map((it, i) => el("li", { id: "comp-" + i, role: "option", "aria-selected": i === 0 ? "true" : "false", "data-i": i },
    el("span", { text: it.label }), el("span", { class: "kind", text: it.kind }))));
  ul.hidden = false;
  $("q").setAttribute("aria-expanded", "true");
  $("q").setAttribute("aria-activedescendant", "comp-0");
}

function moveActive(d) {
  const n = comp.items.length;
  if (!n) return;
  comp.active = (comp.active + d + n) % n;
  for (const li of $("completions").children) li.setAttribute("aria-selected", String(+li.dataset.i === comp.active));
  $("q").setAttribute("aria-activedescendant", "comp-" + comp.active);
  $("comp-" + comp.active)?.scrollIntoView({ block: "nearest" });
}

function accept(i) {
  const it = comp.items[i];
  if (!it) return;
  const q = $("q");
  const v = q.value;
  q.value = v.slice(0, comp.start) + it.insert + v.slice(comp.end);
  const caret = comp.start + it.insert.length;
  q.setSelectionRange(caret, caret);
  closeCompletions();
  onQueryInput();
}

// ---- wiring ----

let typing = null, completing = null;

function onQueryInput() {
  closeCompletions(); // its items were for the text before this edit
  state.q = $("q").value;
  state.segment = "";
  editStart = editStart || performance.now();
  clearTimeout(typing);
  typing = setTimeout(refresh, 100);
  clearTimeout(completing);
  completing = setTimeout(complete, 60);
}

function debounce(fn, ms) {
  let t = null;
  return (...a) => { clearTimeout(t); t = setTimeout(() => fn(...a), ms); };
}

function wire() {
  const q = $("q");
  q.addEventListener("input", () => { editStart = performance.now(); onQueryInput(); });
  q.addEventListener("keydown", (e) => {
    const open = !$("completions").hidden;
    if (open && e.key === "ArrowDown") { e.preventDefault(); moveActive(1); }
    else if (open && e.key === "ArrowUp") { e.preventDefault(); moveActive(-1); }
    else if (open && (e.key === "Enter" || e.key === "Tab")) { e.preventDefault(); accept(comp.active); }
    else if (open && e.key === "Escape") { e.preventDefault(); closeCompletions(); }
  });
  q.addEventListener("blur", () => setTimeout(closeCompletions, 150));
  $("completions").addEventListener("mousedown", (e) => {
    const li = e.target.closest("li");
    if (li) { e.preventDefault(); accept(+li.dataset.i); }
  });
  $("query-form").addEventListener("submit", (e) => { e.preventDefault(); clearTimeout(typing); closeCompletions(); refresh(); });

  const rangeChanged = (e) => {
    state.every = $("every").value;
    if (e.target.id !== "every") { // the dates shown are the data's until one is chosen
      state.from = $("from").value;
      state.to = $("to").value;
    }
    writeURL();
    loadSeries(ctl ? ctl.signal : undefined);
  };
  for (const id of ["every", "from", "to"]) $(id).addEventListener("change", rangeChanged);
  $("range").addEventListener("submit", (e) => e.preventDefault());

  const sv = $("chart");
  sv.setAttribute("tabindex", "0");
  sv.addEventListener("mousemove", (e) => showTip(chartIndexAt(e)));
  sv.addEventListener("mouseleave", () => { if (document.activeElement !== sv) $("tip").hidden = true; });
  sv.addEventListener("focus", () => showTip(focusIdx >= 0 ? focusIdx : (series || []).length - 1));
  sv.addEventListener("blur", () => { $("tip").hidden = true; });
  sv.addEventListener("keydown", (e) => {
    const n = (series || []).length;
    if (!n) return;
    const moves = { ArrowLeft: -1, ArrowRight: 1, Home: -n, End: n };
    if (e.key in moves) { e.preventDefault(); showTip(Math.max(0, Math.min(n - 1, (focusIdx < 0 ? n - 1 : focusIdx) + moves[e.key]))); }
  });
  window.addEventListener("resize", debounce(() => { drawChart(); }, 150));

  const tagsChanged = debounce(() => { state.sort = $("tags-sort").value; state.prefix = $("tags-prefix").value; writeURL(); loadTags(ctl ? ctl.signal : undefined); }, 150);
  $("tags-sort").addEventListener("change", tagsChanged);
  $("tags-prefix").addEventListener("input", tagsChanged);
  $("tags-form").addEventListener("submit", (e) => e.preventDefault());
  $("tags").addEventListener("click", (e) => {
    const b = e.target.closest("button.tag");
    if (b) andTag(b.dataset.tag);
  });

  $("customers").addEventListener("click", (e) => {
    const b = e.target.closest("button.open");
    if (b) openCustomer(b.closest("tr").dataset.uuid);
  });
  $("more").addEventListener("click", () => loadCustomers(ctl ? ctl.signal : undefined, true));
  $("sort-mrr").addEventListener("click", () => {
    state.csort = { "-mrr": "mrr", mrr: "", "": "-mrr" }[state.csort];
    showSort();
    writeURL();
    loadCustomers(ctl ? ctl.signal : undefined, false);
  });
  $("download").addEventListener("click", download);
  $("compare").addEventListener("change", () => {
    const name = $("compare").value;
    $("compare").value = "";
    if (name && !cmpNames().includes(name)) setCompared([...cmpNames(), name]);
  });
  $("compared").addEventListener("click", (e) => {
    const b = e.target.closest("button.uncompare");
    if (b) setCompared(cmpNames().filter((n) => n !== b.dataset.name));
  });
  $("detail-close").addEventListener("click", () => { $("detail").hidden = true; detailUUID = ""; });
  $("detail-add").addEventListener("submit", (e) => {
    e.preventDefault();
    const tags = $("detail-tag").value.split(",").map((t) => t.trim()).filter(Boolean);
    if (!tags.length) return;
    $("detail-tag").value = "";
    changeCustomerTags("POST", tags);
  });
  $("detail-tags").addEventListener("click", (e) => {
    const b = e.target.closest("button.untag");
    if (b) changeCustomerTags("DELETE", [b.dataset.tag]);
  });

  $("changes").addEventListener("click", (e) => {
    const b = e.target.closest("button.customer");
    if (b) openCustomer(b.dataset.uuid);
  });
  $("saved").addEventListener("click", async (e) => {
    const li = e.target.closest("li.saved");
    if (!li) return;
    const name = li.dataset.name;
    if (e.target.closest("button.open")) { state.segment = ""; openSaved(name); return; }
    if (!e.target.closest("button.delete")) return;
    if (!(await confirmDialog(`Delete the saved segment “${name}”?`, "Delete"))) return;
    try {
      await api("DELETE", "/v1/segments/saved/" + encodeURIComponent(name));
      say("saved-msg", `Deleted “${name}”.`, true);
    } catch (err) {
      say("saved-msg", err.status === 404 ? `There is no saved segment named “${name}”.` : err.message);
    }
    loadSaved();
  });
  $("save-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const name = $("save-name").value.trim();
    if (!name) return;
    try {
      const s = await api("PUT", "/v1/segments/saved/" + encodeURIComponent(name), { body: { query: query() } });
      say("saved-msg", `Saved “${s.name}”.`, true);
      loadSaved();
    } catch (err) {
      say("saved-msg", err.isQuery ? "The query has an error (above); nothing was saved." : err.message);
    }
  });

  $("bulk-form").addEventListener("submit", (e) => { e.preventDefault(); bulk((e.submitter || $("bulk-add")).value === "add"); });

  $("auth").addEventListener("submit", (e) => {
    e.preventDefault();
    sessionStorage.setItem(KEY_STORE, $("key").value);
    $("key").value = "";
    $("auth").hidden = true;
    banner("");
    for (const m of document.querySelectorAll(".msg")) m.textContent = "";
    start();
  });
  $("key-forget").addEventListener("click", () => { sessionStorage.removeItem(KEY_STORE); $("key").value = ""; });
}

function start() {
  $("q").value = state.q;
  $("every").value = state.every;
  $("from").value = state.from;
  $("to").value = state.to;
  $("tags-sort").value = state.sort;
  $("tags-prefix").value = state.prefix;
  showSort();
  renderCompared();
  loadSaved();
  if (state.segment && !state.q) return openSaved(state.segment);
  return refresh();
}

readURL();
wire();
start();
