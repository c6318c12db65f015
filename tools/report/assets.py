"""The report's one stylesheet and one small script, written beside its pages (nothing is loaded
from another host: system fonts, no CDN). The script only filters the library's tables; without
it every row shows."""

from __future__ import annotations

CSS_NAME = "report.css"
JS_NAME = "report.js"

CSS = """\
:root {
  color-scheme: light dark;
  --bg: #ffffff; --fg: #1b1f24; --muted: #57606a; --line: #d0d7de; --track: #f3f4f6;
  --link: #0550ae; --focus: #bf4b00; --ok: #116329; --bad: #a40e26; --wait: #7d4e00;
  --l0: #0969da; --l1: #8250df; --l2: #1a7f37; --l3: #bc4c00; --l4: #bf3989; --l5: #4d6a8a;
  --hatch: #57606a; --hatch-bg: #eaeef2; --box: #ffb000;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0d1117; --fg: #e6edf3; --muted: #9da7b3; --line: #30363d; --track: #161b22;
    --link: #79c0ff; --focus: #ffa657; --ok: #56d364; --bad: #ff7b72; --wait: #e3b341;
    --l0: #58a6ff; --l1: #bc8cff; --l2: #3fb950; --l3: #f0883e; --l4: #f778ba; --l5: #8fa9c6;
    --hatch: #9da7b3; --hatch-bg: #21262d; --box: #ffd33d;
  }
}
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 72rem; padding: 1rem; background: var(--bg); color: var(--fg);
  font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
a { color: var(--link); }
a:focus-visible, input:focus-visible, .bar-link:focus-visible rect {
  outline: 3px solid var(--focus); outline-offset: 2px; }
.bar-link:focus rect, .bar-link:hover rect { stroke: var(--focus); stroke-width: 3; }
.skip { position: absolute; left: -999px; }
.skip:focus { left: 1rem; top: 1rem; background: var(--bg); padding: .5rem; z-index: 1; }
h1 { font-size: 1.6rem; margin: .5rem 0; overflow-wrap: anywhere; }
h2 { font-size: 1.25rem; margin-top: 2rem; }
.meta { color: var(--muted); }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid var(--line); vertical-align: top; }
td { overflow-wrap: break-word; }
td.status-dead-lettered { min-width: 14rem; }
th { font-weight: 600; }
.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
caption { text-align: left; padding: .25rem 0; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; }
dl.facts dt { font-weight: 600; }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
.status-answered { color: var(--ok); }
.status-dead-lettered { color: var(--bad); }
.status-pending { color: var(--wait); }
.filter label { display: block; font-weight: 600; }
.filter input { font: inherit; padding: .4rem .6rem; width: min(100%, 24rem); color: var(--fg);
  background: var(--bg); border: 1px solid var(--muted); border-radius: 4px; }
.people { padding-left: 1.2rem; }
.people li { margin: .25rem 0; }
svg.lanes { width: 100%; height: auto; display: block; }
svg.lanes text { fill: var(--fg); font: 14px system-ui, sans-serif; }
svg.lanes .tick { stroke: var(--line); }
svg.lanes .tick-label { fill: var(--muted); font-size: 12px; }
svg.lanes .track { fill: var(--track); }
.lane-0 { fill: var(--l0); } .lane-1 { fill: var(--l1); } .lane-2 { fill: var(--l2); }
.lane-3 { fill: var(--l3); } .lane-4 { fill: var(--l4); } .lane-5 { fill: var(--l5); }
.hatch-bg, .dots-bg { fill: var(--hatch-bg); }
.hatch-line { stroke: var(--hatch); stroke-width: 3; }
.dots-dot { fill: var(--hatch); }
.bar { stroke: var(--fg); stroke-width: 1; }
.thumb { width: 64px; height: auto; border-radius: 4px; border: 1px solid var(--line); display: block; }
figure { margin: 1rem 0; }
svg.frame { width: 100%; max-width: 40rem; height: auto; display: block; }
svg.frame .box { fill: none; stroke: var(--box); stroke-width: 4; vector-effect: non-scaling-stroke; }
svg.frame .box-label { fill: var(--box); font-weight: bold; font-family: system-ui, sans-serif;
  paint-order: stroke; stroke: #000; stroke-width: 3px; }
.legend { display: flex; flex-wrap: wrap; gap: 1rem; padding: 0; list-style: none; color: var(--muted); }
.swatch { display: inline-block; width: 1.5rem; height: 1rem; vertical-align: middle; border: 1px solid var(--fg); }
@media (max-width: 600px) {
  body { padding: .5rem; font-size: 15px; }
  th, td { padding: .3rem .35rem; }
  .wide { display: none; }
  table.cards, table.cards caption, table.cards tbody, table.cards tr, table.cards td { display: block; }
  table.cards thead { position: absolute; left: -9999px; }
  table.cards tr { border-bottom: 1px solid var(--line); padding: .4rem 0; }
  table.cards tr[hidden] { display: none; }
  table.cards td { border: 0; padding: .1rem 0; text-align: left; }
  table.cards td::before { content: attr(data-label) ": "; font-weight: 600; }
  .thumb { width: 44px; }
  svg.lanes { min-width: 600px; }
  svg.lanes text { font-size: 22px; }
  svg.lanes .tick-label { font-size: 19px; }
}
"""

# Filters every table row marked data-filter (and list item) by the text typed, case-insensitively.
JS = """\
(function () {
  "use strict";
  var box = document.getElementById("filter");
  if (!box) { return; }
  var form = box.closest("form");
  if (form) { form.addEventListener("submit", function (e) { e.preventDefault(); }); }
  var count = document.getElementById("filter-count");
  function apply() {
    var q = box.value.trim().toLowerCase();
    var shown = 0, items = document.querySelectorAll("[data-filter]");
    items.forEach(function (el) {
      var hit = !q || el.getAttribute("data-filter").toLowerCase().indexOf(q) !== -1;
      el.hidden = !hit;
      if (hit && el.tagName === "TR") { shown += 1; }
    });
    if (count) { count.textContent = q ? shown + " video(s) match" : ""; }
  }
  box.addEventListener("input", apply);
  apply();
})();
"""
