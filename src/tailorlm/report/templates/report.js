"use strict";
// Records what it drew and any error in the DOM (body data-charts / data-errors), so a headless
// browser test can check the page without a JS console.
const errors = [];
function recordError(msg) {
  errors.push(String(msg));
  document.body.dataset.errors = String(errors.length);
  document.body.dataset.errorMessages = JSON.stringify(errors);
}
window.addEventListener("error", (e) => recordError(e.message));
const consoleError = console.error;
console.error = (...args) => { recordError(args.join(" ")); consoleError(...args); };

const DATA = JSON.parse(document.getElementById("report-data").textContent);
const NS = "http://www.w3.org/2000/svg";
const W = 560, H = 340, M = { l: 58, r: 16, t: 16, b: 44 };
const PALETTE = ["#6c757d", "#1f77b4", "#9467bd", "#d62728", "#2ca02c"];
const drawn = new Set();

function el(parent, name, attrs, text) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  parent.appendChild(node);
  return node;
}
function color(id) {
  const i = DATA.systems.findIndex((s) => s.id === id);
  return PALETTE[i % PALETTE.length];
}
function niceTicks(lo, hi, n) {
  const span = hi - lo || 1, raw = span / n, mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => span / s <= n) || 10 * mag;
  const ticks = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push(v);
  return ticks;
}
function fmtNum(v) {
  const a = Math.abs(v);
  if (a === 0) return "0";
  if (a >= 1e6) return (v / 1e6).toFixed(a >= 1e7 ? 0 : 1) + "M";
  if (a >= 1e3) return (v / 1e3).toFixed(a >= 1e4 ? 0 : 1) + "k";
  if (a >= 1) return String(+v.toFixed(2));
  return String(+v.toPrecision(2));
}
function money(v) { return DATA.currency_symbol + fmtNum(v); }

// An empty frame with axes; returns scale functions and the plot group.
function frame(svg, xd, yd, xlabel, ylabel, fx, fy) {
  svg.replaceChildren();
  const x = (v) => M.l + ((v - xd[0]) / (xd[1] - xd[0] || 1)) * (W - M.l - M.r);
  const y = (v) => H - M.b - ((v - yd[0]) / (yd[1] - yd[0] || 1)) * (H - M.t - M.b);
  for (const t of niceTicks(yd[0], yd[1], 5)) {
    el(svg, "line", { class: "grid", x1: M.l, x2: W - M.r, y1: y(t), y2: y(t) });
    el(svg, "text", { x: M.l - 6, y: y(t) + 4, "text-anchor": "end" }, (fy || fmtNum)(t));
  }
  for (const t of niceTicks(xd[0], xd[1], 6)) {
    el(svg, "text", { x: x(t), y: H - M.b + 16, "text-anchor": "middle" }, (fx || fmtNum)(t));
  }
  el(svg, "line", { class: "axis", x1: M.l, x2: W - M.r, y1: H - M.b, y2: H - M.b });
  el(svg, "line", { class: "axis", x1: M.l, x2: M.l, y1: M.t, y2: H - M.b });
  el(svg, "text", { x: (W + M.l) / 2, y: H - 6, "text-anchor": "middle" }, xlabel);
  el(svg, "text", { x: 12, y: H / 2, transform: `rotate(-90 12 ${H / 2})`, "text-anchor": "middle" }, ylabel);
  return { x, y, g: el(svg, "g", {}) };
}
function empty(svg, message) {
  svg.replaceChildren();
  el(svg, "text", { class: "empty", x: W / 2, y: H / 2, "text-anchor": "middle" }, message);
}
// Draws the legend top left; returns the box it covers, for labels to keep clear of.
function legend(g, entries) {
  entries.forEach(([label, c], i) => {
    el(g, "rect", { x: M.l + 10, y: M.t + 4 + i * 16, width: 10, height: 10, fill: c });
    el(g, "text", { class: "legend", x: M.l + 26, y: M.t + 13 + i * 16 }, label);
  });
  const texts = [...g.querySelectorAll("text.legend")].map((t) => t.getBBox());
  const right = Math.max(M.l + 20, ...texts.map((b) => b.x + b.width));
  return { x0: M.l + 10, y0: M.t + 4, x1: right, y1: M.t + 4 + entries.length * 16 };
}

// Label placement, shared by every chart. Boxes are {x0, y0, x1, y1} in SVG units.
const PLOT = { x0: M.l + 2, y0: M.t, x1: W - M.r, y1: H - M.b - 2 };
function hits(a, b) { return a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1; }
function inside(b) { return b.x0 >= PLOT.x0 && b.x1 <= PLOT.x1 && b.y0 >= PLOT.y0 && b.y1 <= PLOT.y1; }
function around(x, y, r) { return { x0: x - r, y0: y - r, x1: x + r, y1: y + r }; }
function box(x0, y0, w, h) { return { x0, y0, x1: x0 + w, y1: y0 + h }; }
// Where a w x h label of the point (x, y) may go, nearest first: right, left, above, below,
// then the same sides moved out step by step (those get a leader line to their point).
function candidates(x, y, w, h, gap) {
  const out = [];
  for (let k = 0; k <= 14; k++) {
    const dy = k * (h + 2), dx = k * 12;
    out.push(box(x + gap + dx, y - h / 2 - dy, w, h), box(x + gap + dx, y - h / 2 + dy, w, h),
      box(x - gap - dx - w, y - h / 2 - dy, w, h), box(x - gap - dx - w, y - h / 2 + dy, w, h),
      box(x - w / 2, y - gap - h - dy, w, h), box(x - w / 2, y + gap + dy, w, h));
  }
  return out;
}
function nearestEdge(b, x, y) {
  return [Math.min(Math.max(x, b.x0), b.x1), Math.min(Math.max(y, b.y0), b.y1)];
}
// Writes each label {x, y, r, text, color} next to its point, greedily in the given order: the
// first candidate inside the plot that covers no placed label and nothing in `avoid` (points,
// bars, legends). Labels go into `g` with class "label", which checkLabels() verifies.
function placeLabels(g, labels, avoid) {
  const taken = avoid.slice();
  for (const lab of labels) {
    const t = el(g, "text", { class: "label", fill: lab.color || "#1d2330" }, lab.text);
    const bb = t.getBBox(), gap = (lab.r || 0) + 4;
    const options = candidates(lab.x, lab.y, bb.width, bb.height, gap);
    const free = options.filter((b) => inside(b) && !taken.some((o) => hits(b, o)));
    const spot = free[0] || options.find((b) => !taken.some((o) => hits(b, o))) || options[0];
    t.setAttribute("x", spot.x0 - bb.x);
    t.setAttribute("y", spot.y0 - bb.y);
    const [ex, ey] = nearestEdge(spot, lab.x, lab.y);
    if (Math.hypot(ex - lab.x, ey - lab.y) > gap + 3) {
      g.insertBefore(el(g, "line", { class: "leader", x1: lab.x, y1: lab.y, x2: ex, y2: ey,
        stroke: lab.color || "#1d2330" }), t);
    }
    taken.push(spot);
  }
}
// After layout: how many pairs of labels (or legend entries) in one chart intersect, and how
// many labels stick out of the plot, as body data-label-overlaps / data-labels-outside.
function checkLabels() {
  let overlaps = 0, outside = 0;
  for (const svg of document.querySelectorAll("svg")) {
    const boxes = [...svg.querySelectorAll("text.label, text.legend")].map((t) => {
      const b = t.getBBox();
      return { label: t.classList.contains("label"), ...box(b.x, b.y, b.width, b.height) };
    });
    boxes.forEach((a, i) => {
      if (a.label && !inside(a)) outside++;
      for (const b of boxes.slice(i + 1)) if (hits(a, b)) overlaps++;
    });
  }
  document.body.dataset.labelOverlaps = String(overlaps);
  document.body.dataset.labelsOutside = String(outside);
}
function pct(v) { return Math.round(v * 100) + "%"; }

function scatter(scenario) {
  const svg = document.getElementById("chart-scatter");
  const pts = DATA.systems.filter((s) => s.ok && DATA.costs[s.id][scenario].per_1000 !== null)
    .map((s) => ({ s, cost: DATA.costs[s.id][scenario].per_1000 }));
  if (!pts.length) return empty(svg, "no system could be priced under this scenario");
  const maxCost = Math.max(...pts.map((p) => p.cost)) * 1.15 || 1;
  const f = frame(svg, [0, maxCost], [0, 1], `${DATA.currency} per 1,000 requests`, "quality", money, pct);
  const marks = [];
  for (const { s, cost } of pts) {
    const c = color(s.id), cx = f.x(cost), cy = f.y(s.quality);
    if (s.ci) {
      el(f.g, "line", { x1: cx, x2: cx, y1: f.y(s.ci[0]), y2: f.y(s.ci[1]), stroke: c, "stroke-width": 2 });
      marks.push({ x0: cx - 1, y0: f.y(s.ci[1]), x1: cx + 1, y1: f.y(s.ci[0]) });
    }
    el(f.g, "circle", { cx, cy, r: 6, fill: c });
    marks.push(around(cx, cy, 6));
  }
  placeLabels(f.g, pts.map(({ s, cost }) => ({ x: f.x(cost), y: f.y(s.quality), r: 6,
    text: s.label, color: color(s.id) })), marks);
  drawn.add("scatter");
}

function volumeChart(scenario) {
  const svg = document.getElementById("chart-volume");
  const lines = DATA.systems.filter((s) => s.ok).map((s) => ({ s, c: DATA.costs[s.id][scenario] }))
    .filter(({ c }) => c.per_request !== null && c.setup !== null);
  if (!lines.length) return empty(svg, "no system could be priced under this scenario");
  const bes = Object.entries(DATA.break_even).map(([id, t]) => ({ id, ...t[scenario] }))
    .filter((b) => b.volume !== null);
  const vmax = Math.max(1000, ...bes.map((b) => b.volume * 2.5));
  const total = (c, v) => c.setup + c.per_request * v;
  const ymax = Math.max(...lines.map(({ c }) => total(c, vmax))) * 1.05 || 1;
  const f = frame(svg, [0, vmax], [0, ymax], "requests", `total cost (${DATA.currency})`, fmtNum, money);
  for (const { s, c } of lines) {
    el(f.g, "line", { x1: f.x(0), y1: f.y(c.setup), x2: f.x(vmax), y2: f.y(total(c, vmax)),
      stroke: color(s.id), "stroke-width": 2 });
  }
  const marks = [legend(f.g, lines.map(({ s }) => [s.label, color(s.id)]))], labels = [];
  for (const b of bes) {
    const c = DATA.costs[b.id][scenario], vx = f.x(b.volume), vy = f.y(total(c, b.volume));
    el(f.g, "line", { x1: vx, x2: vx, y1: vy, y2: H - M.b, stroke: "#333", "stroke-dasharray": "4,3" });
    el(f.g, "circle", { cx: vx, cy: vy, r: 5, fill: "none", stroke: "#111", "stroke-width": 2 });
    marks.push(around(vx, vy, 6));
    labels.push({ x: vx, y: vy, r: 5, color: color(b.id),
      text: `break-even ${fmtNum(Math.round(b.volume))} requests` });
  }
  placeLabels(f.g, labels, marks);
  drawn.add("volume");
}

function learningCurve() {
  const svg = document.getElementById("chart-learning");
  const pts = DATA.learning_curve.filter((p) => p.score !== null);
  if (!pts.length) return empty(svg, "no learning curve in this comparison");
  const xmax = Math.max(...pts.map((p) => p.n_train)) * 1.05;
  const f = frame(svg, [0, xmax], [0, 1], "training examples", "quality", fmtNum, pct);
  el(f.g, "polyline", { fill: "none", stroke: "#d62728", "stroke-width": 2,
    points: pts.map((p) => `${f.x(p.n_train)},${f.y(p.score)}`).join(" ") });
  const marks = [];
  for (const p of pts) {
    if (p.ci) el(f.g, "line", { x1: f.x(p.n_train), x2: f.x(p.n_train), y1: f.y(p.ci[0]), y2: f.y(p.ci[1]), stroke: "#d62728" });
    el(f.g, "circle", { cx: f.x(p.n_train), cy: f.y(p.score), r: 4, fill: "#d62728" });
    marks.push(around(f.x(p.n_train), f.y(p.score), 5));
  }
  if (DATA.prompt_ref_quality !== null) {
    const y = f.y(DATA.prompt_ref_quality);
    el(f.g, "line", { x1: M.l, x2: W - M.r, y1: y, y2: y, stroke: "#1f77b4", "stroke-dasharray": "6,4" });
    // Near the line's right end, above or below it (the line itself is in the way of the
    // sides), clear of the curve's points.
    marks.push({ x0: M.l, y0: y - 1, x1: W - M.r, y1: y + 1 });
    placeLabels(f.g, [{ x: W - M.r - 40, y, r: 0, text: "best prompt", color: "#1f77b4" }], marks);
  }
  drawn.add("learning");
}

function lossCurve() {
  const svg = document.getElementById("chart-loss");
  const lc = DATA.loss_curve;
  if (!lc || (!lc.train.length && !lc.dev.length)) return empty(svg, "no training run in this comparison");
  const all = lc.train.concat(lc.dev);
  const xmax = Math.max(...all.map((p) => p[0])), ymax = Math.max(...all.map((p) => p[1])) * 1.05;
  const f = frame(svg, [0, xmax], [0, ymax], "step", "loss");
  const poly = (pts, c, extra) => el(f.g, "polyline", { fill: "none", stroke: c, "stroke-width": 2,
    points: pts.map((p) => `${f.x(p[0])},${f.y(p[1])}`).join(" "), ...extra });
  if (lc.train.length) poly(lc.train, "#1f77b4", {});
  if (lc.dev.length) poly(lc.dev, "#d62728", { "stroke-dasharray": "5,4" });
  for (const p of lc.dev) el(f.g, "circle", { cx: f.x(p[0]), cy: f.y(p[1]), r: 3, fill: "#d62728" });
  legend(f.g, [["train", "#1f77b4"], ["dev", "#d62728"]]);
  drawn.add("loss");
}

function itemRow(item, ids) {
  const tr = document.createElement("tr");
  const cell = (html) => { const td = document.createElement("td"); td.append(...html); tr.appendChild(td); };
  const pre = (text) => { const p = document.createElement("pre"); p.textContent = text ?? ""; return p; };
  cell([item.id]);
  cell([pre(typeof item.input === "string" ? item.input : JSON.stringify(item.input))]);
  cell([pre(item.gold)]);
  for (const id of ids) {
    const o = item.outputs[id];
    if (!o) { cell(["—"]); continue; }
    const badge = document.createElement("div");
    badge.className = o.pass ? "pass" : "fail";
    badge.textContent = o.pass ? "pass" : "fail";
    const parts = [badge, pre(o.output)];
    if (!o.pass && o.reason) { const r = document.createElement("div"); r.className = "reason"; r.textContent = o.reason; parts.push(r); }
    cell(parts);
  }
  return tr;
}
function keep(item, ids, filter, query) {
  const outs = ids.map((id) => item.outputs[id]).filter(Boolean);
  if (filter === "disagree" && new Set(outs.map((o) => !!o.pass)).size < 2) return false;
  if (filter === "allfail" && outs.some((o) => o.pass)) return false;
  if (filter.startsWith("fail:")) { const o = item.outputs[filter.slice(5)]; if (!o || o.pass) return false; }
  if (!query) return true;
  const hay = [item.input, item.gold, ...outs.map((o) => o.output)].map((v) => typeof v === "string" ? v : JSON.stringify(v)).join("\n").toLowerCase();
  return hay.includes(query.toLowerCase());
}
function drillDown() {
  const ids = DATA.systems.filter((s) => s.ok).map((s) => s.id);
  const table = document.getElementById("items");
  const head = document.createElement("tr");
  for (const h of ["id", "input", "gold", ...ids.map((id) => DATA.systems.find((s) => s.id === id).label)]) {
    const th = document.createElement("th"); th.textContent = h; head.appendChild(th);
  }
  table.tHead.replaceChildren(head);
  const filter = document.getElementById("filter").value, query = document.getElementById("search").value;
  const rows = DATA.items.filter((it) => keep(it, ids, filter, query));
  table.tBodies[0].replaceChildren(...rows.map((it) => itemRow(it, ids)));
  document.getElementById("shown").textContent = `${rows.length} of ${DATA.items.length} examples`;
  document.body.dataset.itemsShown = String(rows.length);
}

function safely(name, fn, ...args) {
  try { fn(...args); } catch (e) { recordError(`${name}: ${e && e.stack || e}`); }
  document.body.dataset.charts = String(drawn.size);
}
function drawCosts() {
  const scenario = document.getElementById("scenario").value;
  safely("scatter", scatter, scenario);
  safely("volume", volumeChart, scenario);
  safely("labels", checkLabels);
}
// A link can preselect the view: report.html#filter=disagree&scenario=api
const wanted = new URLSearchParams(location.hash.slice(1));
for (const name of ["filter", "scenario"]) {
  const select = document.getElementById(name);
  if (wanted.has(name) && [...select.options].some((o) => o.value === wanted.get(name))) {
    select.value = wanted.get(name);
  }
}
drawCosts();
safely("learning", learningCurve);
safely("loss", lossCurve);
safely("labels", checkLabels);
safely("items", drillDown);
document.getElementById("scenario").addEventListener("change", drawCosts);
document.getElementById("filter").addEventListener("change", () => safely("items", drillDown));
document.getElementById("search").addEventListener("input", () => safely("items", drillDown));
document.body.dataset.ready = "1";
