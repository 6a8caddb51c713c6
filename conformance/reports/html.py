"""report.html: one self-contained file (inline CSS, SVG and script; nothing fetched).

Per scenario a matrix (rows: sources, columns: requests), each cell coloured by its
outcome; clicking a cell opens a dialog with its evidence and the scenario's policy YAML.
The evidence of a scenario travels as one gzip'd, base64'd JSON document
({"cells": [html, ...], "policy": html}) that the page inflates with the browser's
DecompressionStream when a cell is opened: evidence repeats itself across cells, so 2,000
cells stay well under 10 MB (tests/bench/bench_report.py).
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import tempfile
from html import escape
from pathlib import Path
from typing import Any

from conformance.reports import evidence_html, sections
from conformance.reports.compare import Comparison
from conformance.reports.model import OUTCOMES, CellResult, RunReport, ScenarioResult

# Background colour per outcome (the browser test reads them back from the page).
COLOURS = {"passed": "#2e7d32", "failed": "#c62828", "error": "#ef6c00",
           "skipped": "#9e9e9e", "unknown": "#6d4c41"}
MAX_POLICY_CHARS = 200_000
REPORT_MODE = 0o644

CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#212121}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.6em}h3{font-size:1.05em}
table{border-collapse:collapse}th,td{border:1px solid #ccc;padding:3px 6px;vertical-align:top}
table.facts th{text-align:left;background:#f5f5f5}
table.matrix th{background:#f5f5f5;font-weight:600;max-width:16em;font-size:12px}
table.matrix td.empty{background:#fafafa}
td.cell{color:#fff;cursor:pointer;text-align:center;min-width:6em;font-size:12px}
td.cell:focus{outline:3px solid #1565c0}
td.cell .ev{display:block;font-size:10px;opacity:.9}
""" + "".join(f"td.cell.{o}{{background:{c}}}.outcome.{o}{{color:{c};font-weight:700}}"
              for o, c in COLOURS.items()) + """
.totals b{padding:0 .3em}pre{background:#f5f5f5;padding:.5em;overflow:auto;max-height:24em;
white-space:pre-wrap;word-break:break-all;font-size:12px}
dialog{width:min(1100px,95vw);max-height:90vh;overflow:auto}
table.checks,table.metrics{table-layout:fixed;width:100%}
table.checks td,table.metrics td{word-break:break-word}
table.checks th:nth-child(-n+2){width:5.5em}
table.checks tr.fail td{background:#ffebee}table.checks tr.ok td{background:#e8f5e9}
.legend span{display:inline-block;padding:0 .6em;color:#fff;margin-right:.3em}
"""

SCRIPT = """
const cache={};
async function evidence(n){
  if(!cache[n]){
    const bytes=Uint8Array.from(atob(document.getElementById('ev-'+n).textContent.trim()),
                                c=>c.charCodeAt(0));
    const text=await new Response(new Blob([bytes]).stream()
                                  .pipeThrough(new DecompressionStream('gzip'))).text();
    cache[n]=JSON.parse(text);
  }
  return cache[n];
}
async function openCell(td){
  const ev=await evidence(td.dataset.sc);
  document.getElementById('evidence-body').innerHTML=ev.cells[+td.dataset.i]+ev.policy;
  document.getElementById('evidence').showModal();
}
document.addEventListener('click',e=>{const td=e.target.closest('td.cell');if(td)openCell(td);});
document.addEventListener('keydown',e=>{
  if(e.key==='Enter'&&e.target.matches&&e.target.matches('td.cell'))openCell(e.target);});
"""
GZIP_LEVEL = 6  # most of level 9's size at a fraction of its time


def pack(cells: list[str], policy: str) -> str:
    """A scenario's evidence as the page carries it (see the module docstring)."""
    doc = json.dumps({"cells": cells, "policy": policy}).encode()
    return base64.b64encode(gzip.compress(doc, GZIP_LEVEL, mtime=0)).decode("ascii")


def unpack(blob: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(gzip.decompress(base64.b64decode(blob)))
    return data


def write(run: RunReport, path: Path, comparison: Comparison | None = None) -> Path:
    """Write the page atomically (a reader never sees half a report)."""
    text = render(run, comparison)
    fd, tmp = tempfile.mkstemp(prefix=".report-", suffix=".html", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, REPORT_MODE)  # mkstemp makes it 0600; a report is for everyone
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def render(run: RunReport, comparison: Comparison | None = None) -> str:
    out = ['<!doctype html><html lang="en"><head><meta charset="utf-8">',
           "<title>zt-conformance report</title>",
           f"<style>{CSS}</style></head><body>",
           "<h1>zt-conformance report</h1>", _totals(run), sections.facts(run.facts)]
    if comparison is not None:
        out.append(sections.comparison(comparison))
    if run.upgrade is not None:
        out.append(sections.upgrade(run.upgrade))
    out.append(sections.enforce_chart(run))
    blobs: list[str] = []
    for n, scenario in enumerate(run.scenarios):
        out.append(_scenario(run, n, scenario, blobs))
    out.append('<dialog id="evidence"><form method="dialog"><button id="close">close</button>'
               '</form><div id="evidence-body"></div></dialog>')
    out.extend(blobs)
    out.append(f"<script>{SCRIPT}</script></body></html>\n")
    return "".join(out)


def _totals(run: RunReport) -> str:
    counts = run.counts()
    items = "".join(f'<span class="outcome {o}">{counts[o]} {o}</span> '
                    for o in reversed(OUTCOMES) if counts.get(o))
    legend = "".join(f'<span style="background:{c}">{o}</span>' for o, c in COLOURS.items())
    return (f'<p class="totals">{sum(counts.values())} cells in {len(run.scenarios)} '
            f'scenarios: {items}</p><p class="legend">{legend}</p>')


def _scenario(run: RunReport, n: int, scenario: ScenarioResult, blobs: list[str]) -> str:
    # Columns are requests; a request one source sends twice (another expectation) gets
    # a second column, so every matrix cell holds exactly one truth-table cell.
    grid: dict[tuple[str, tuple[str, int]], tuple[int, CellResult]] = {}
    seen: dict[tuple[str, str], int] = {}
    for i, cell in enumerate(scenario.cells):
        k = seen[(cell.source, cell.request)] = seen.get((cell.source, cell.request), -1) + 1
        grid[(cell.source, (cell.request, k))] = (i, cell)
    sources = list(dict.fromkeys(src for src, _ in grid))
    columns = list(dict.fromkeys(col for _, col in grid))
    head = "".join(f"<th>{escape(request)}</th>" for request, _ in columns)
    rows = []
    for source in sources:
        tds = []
        for column in columns:
            entry = grid.get((source, column))
            tds.append(_td(n, *entry) if entry else '<td class="empty"></td>')
        rows.append(f"<tr><th>{escape(source)}</th>{''.join(tds)}</tr>")
    counts = scenario.counts()
    facts = ", ".join(f"{counts[o]} {o}" for o in reversed(OUTCOMES) if counts.get(o))
    if scenario.realize_s is not None:
        facts += f"; time-to-enforce {scenario.realize_s:.2f} s"
    if scenario.worker:
        facts += f"; worker {scenario.worker}"
    policy = _policy(run, scenario)
    policy_html = (f"<h4>Policies ({escape(scenario.name)}/policies.yaml)</h4>"
                   f'<pre class="policy">{escape(policy, quote=False)}</pre>' if policy else "")
    cells = [evidence_html.render(run.root, cell) for cell in scenario.cells]
    blobs.append(f'<script type="application/gzip-base64" id="ev-{n}">'
                 f"{pack(cells, policy_html)}</script>")
    title = f" — {escape(scenario.title)}" if scenario.title else ""
    return (f'<section class="scenario" id="scenario-{n}" data-scenario="{escape(scenario.name)}">'
            f"<h2>{escape(scenario.name)}{title}</h2><p>{facts}</p>"
            f'<table class="matrix"><tr><th>source \\ request</th>{head}</tr>{"".join(rows)}'
            "</table></section>")


def _td(n: int, i: int, cell: CellResult) -> str:
    badges = " ".join(f"{k[0].upper()}{'✓' if v == 'ok' else '✗'}"
                      for k, v in cell.evidence.items())
    return (f'<td class="cell {escape(cell.outcome)}" tabindex="0" data-sc="{n}" '
            f'data-i="{i}" data-outcome="{escape(cell.outcome)}" '
            f'title="{escape(cell.cell)}: {escape(cell.outcome)}">{escape(cell.expected)}'
            f'<span class="ev">{escape(badges)}</span></td>')


def _policy(run: RunReport, scenario: ScenarioResult) -> str:
    path = run.root / scenario.name / "policies.yaml"
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return text if len(text) <= MAX_POLICY_CHARS else text[:MAX_POLICY_CHARS] + "\n…"
