"""report.html sections besides the matrices: run facts, comparison with an earlier run,
the upgrade report, and the time-to-enforce chart (inline SVG)."""

from __future__ import annotations

from html import escape
from typing import Any

from conformance.reports.compare import Comparison
from conformance.reports.model import RunReport

FACT_ORDER = ("cilium", "kubernetes", "cluster", "profile", "commit", "started", "finished",
              "duration_s", "exit_status", "python", "pytest")
BAR_PX = 18
CHART_WIDTH = 760
LABEL_PX = 190


def facts(data: dict[str, Any]) -> str:
    if not data:
        return "<p>No run facts recorded (run-facts.json is missing).</p>"
    keys = [k for k in FACT_ORDER if k in data] + sorted(
        k for k in data if k not in FACT_ORDER and k not in ("tools", "options"))
    rows = [f"<tr><th>{escape(k)}</th><td>{escape(str(data[k]))}</td></tr>" for k in keys]
    for group in ("tools", "options"):
        value = data.get(group)
        if isinstance(value, dict) and value:
            text = ", ".join(f"{k} {v}" for k, v in value.items())
            rows.append(f"<tr><th>{group}</th><td>{escape(text)}</td></tr>")
    return f'<h2>Run</h2><table class="facts" id="facts">{"".join(rows)}</table>'


def comparison(c: Comparison) -> str:
    parts = [f'<section id="comparison"><h2>Changes since {escape(c.old)}</h2>']
    for title, items in (("flipped", c.flipped), ("appeared", c.appeared),
                         ("vanished", c.vanished), ("changed", c.changed)):
        parts.append(f"<h3>{len(items)} {title}</h3>")
        if items:
            parts.append("<table><tr><th>scenario</th><th>cell</th><th>before</th><th>after"
                         "</th></tr>" + "".join(
                             f"<tr class=\"{title}\"><td>{escape(ch.scenario)}</td>"
                             f"<td>{escape(ch.cell)}</td><td>{escape(ch.before or '-')}</td>"
                             f"<td>{escape(ch.after or '-')}</td></tr>" for ch in items)
                         + "</table>")
    parts.append(f"<h3>{len(c.regressions)} time-to-enforce regressions</h3>")
    parts.extend(f"<p>{escape(r.scenario)}: {r.before_s:.2f} s → {r.after_s:.2f} s</p>"
                 for r in c.regressions)
    return "".join(parts) + "</section>"


def enforce_chart(run: RunReport) -> str:
    """Horizontal bars, slowest first: time-to-enforce per scenario's policy set."""
    data = run.realizations()
    if not data:
        return ""
    top = max(t for _, t in data) or 1.0
    span = CHART_WIDTH - LABEL_PX - 70
    bars = []
    for i, (name, seconds) in enumerate(data):
        y = i * (BAR_PX + 4)
        w = max(1.0, span * seconds / top)
        bars.append(f'<text x="{LABEL_PX - 6}" y="{y + 13}" text-anchor="end">{escape(name)}'
                    f'</text><rect class="bar" x="{LABEL_PX}" y="{y}" width="{w:.1f}" '
                    f'height="{BAR_PX}" fill="#1565c0"><title>{escape(name)}: {seconds:.2f} s'
                    f'</title></rect><text x="{LABEL_PX + w + 6:.1f}" y="{y + 13}">'
                    f"{seconds:.2f} s</text>")
    height = len(data) * (BAR_PX + 4)
    return (f'<section id="enforce"><h2>Time to enforce per policy</h2><svg '
            f'xmlns="http://www.w3.org/2000/svg" width="{CHART_WIDTH}" height="{height}" '
            f'font-size="12">{"".join(bars)}</svg></section>')


def upgrade(data: dict[str, Any]) -> str:
    """The upgrade run's report (conformance/upgrade writes upgrade-report.json): per step,
    the agent restarts per node on a time line and the cells that changed."""
    verdict = "passed" if data.get("passed") else "failed"
    parts = [f'<section id="upgrade"><h2>Upgrade {escape(str(data.get("from")))} → '
             f'{escape(str(data.get("to")))}: <span class="outcome {verdict}">{verdict}'
             "</span></h2>"]
    for failure in data.get("failures") or []:
        parts.append(f"<p class=\"outcome failed\">{escape(str(failure))}</p>")
    for step in data.get("steps") or []:
        if not isinstance(step, dict):
            continue
        parts.append(f"<h3>{escape(str(step.get('from')))} → {escape(str(step.get('to')))}</h3>")
        watch = step.get("watch") or {}
        parts.append("<p>Agent restarts, seconds since the upgrade began:</p>"
                     + _timeline(watch.get("windows") or []) + _watch_facts(watch))
        changed = step.get("changed_cells") or []
        parts.append(f"<p>{len(changed)} changed cell(s)</p>")
        if changed:
            parts.append("<table><tr><th>scenario</th><th>cell</th><th>before</th><th>after</th>"
                         "<th>predicted by the model</th></tr>" + "".join(
                             f"<tr><td>{escape(str(c.get('scenario')))}</td>"
                             f"<td>{escape(str(c.get('cell')))}</td>"
                             f"<td>{escape(_join(c.get('before')))}</td>"
                             f"<td>{escape(_join(c.get('after')))}</td>"
                             f"<td>{'yes' if c.get('predicted') else 'NO'}</td></tr>"
                             for c in changed if isinstance(c, dict)) + "</table>")
    return "".join(parts) + "</section>"


def _watch_facts(watch: dict[str, Any]) -> str:
    """Longest gap per watched path and what became of established streams."""
    items = [f"{node}: {path} longest gap {float(gap):.1f} s"
             for node, gaps in sorted((watch.get("longest_gap_s") or {}).items())
             if isinstance(gaps, dict) for path, gap in sorted(gaps.items())]
    for st in watch.get("streams") or []:
        if isinstance(st, dict):
            fate = ("survived" if st.get("reset_at") is None
                    else f"reset at +{float(st['reset_at']):.1f} s")
            items.append(f"{st.get('node')}: established {st.get('name')} {fate}")
    items += [f"FAIL {f}" for f in watch.get("failures") or []]
    return "<ul>" + "".join(f"<li>{escape(i)}</li>" for i in items) + "</ul>" if items else ""


def _join(value: Any) -> str:
    if isinstance(value, list):
        return "/".join(str(v) for v in value if v)
    return str(value or "-")


def _timeline(windows: list[Any]) -> str:
    """Each node's agent restart as a bar over the upgrade's seconds."""
    spans = [(str(w.get("node")), float(w.get("start", 0)), float(w.get("end", 0)))
             for w in windows if isinstance(w, dict)]
    if not spans:
        return "<p>No agent restart was observed.</p>"
    end = max(e for _, _, e in spans) or 1.0
    scale = (CHART_WIDTH - LABEL_PX - 130) / end
    rows = []
    for i, (node, start, stop) in enumerate(spans):
        y = i * (BAR_PX + 4)
        rows.append(f'<text x="{LABEL_PX - 6}" y="{y + 13}" text-anchor="end">{escape(node)}'
                    f'</text><rect x="{LABEL_PX + start * scale:.1f}" y="{y}" '
                    f'width="{max(1.0, (stop - start) * scale):.1f}" height="{BAR_PX}" '
                    f'fill="#ef6c00"><title>{escape(node)}: agent down +{start:.1f} s .. '
                    f'+{stop:.1f} s</title></rect><text x="{LABEL_PX + stop * scale + 6:.1f}" '
                    f'y="{y + 13}">+{start:.1f}..+{stop:.1f} s</text>')
    return (f'<svg class="timeline" xmlns="http://www.w3.org/2000/svg" width="{CHART_WIDTH}" '
            f'height="{len(spans) * (BAR_PX + 4)}" font-size="12">{"".join(rows)}</svg>')
