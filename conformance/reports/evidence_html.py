"""One cell's evidence as an HTML fragment: the probe, the client result, the checks, the
matching flows, the application log lines, the metric deltas and the model's explanation.
Read from the cell's folder; long evidence is cut (the artifacts keep all of it)."""

from __future__ import annotations

import json
from functools import lru_cache
from html import escape as _escape
from pathlib import Path
from typing import Any

from conformance.reports.model import CellResult, ReportError, read_json

MAX_FLOWS = 20
MAX_BODY = 200  # of a client result's response body
# With the checks table beside it, a failure message mostly repeats it: its head is enough
# (results.jsonl keeps it whole).
MAX_MESSAGE_WITH_EVIDENCE = 600
MAX_APP_LINES = 20
MAX_TEXT = 2000
MAX_MESSAGE = 4000


def escape(text: str) -> str:
    """Text-node escaping: quotes stay (JSON is full of them; &quot; would triple its size)."""
    return _escape(text, quote=False)


def _cut(text: str, limit: int = MAX_TEXT) -> str:
    return text if len(text) <= limit else text[:limit] + f"… ({len(text) - limit} more chars)"


def _pre(text: str, cls: str = "") -> str:
    return f'<pre class="{cls}">{escape(text)}</pre>' if cls else f"<pre>{escape(text)}</pre>"


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []


@lru_cache(maxsize=64)
def _app_log(path: Path) -> tuple[tuple[str, str], ...]:
    """(probe id, line) of a scenario's app-log.jsonl (account-service access log lines)."""
    out = []
    for line in _lines(path):
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict):
            out.append((str(entry.get("probe_id") or ""), line))
    return tuple(out)


def flow_summary(raw: str) -> str:
    """A compact line per flow, as conformance/harness/hubble.py Flow.summary shows it."""
    from conformance.harness.hubble import FlowParseError, parse_line

    try:
        flow = parse_line(raw)
    except (FlowParseError, ValueError):
        flow = None
    return flow.summary() if flow is not None else _cut(raw, 300)


def render(root: Path, cell: CellResult) -> str:
    parts = [f"<h3>{escape(cell.scenario)}: {escape(cell.cell)}</h3>",
             f'<p class="outcome {escape(cell.outcome)}">{escape(cell.outcome.upper())}</p>']
    folder = root / cell.scenario / cell.folder if cell.folder else None
    probes_path = folder / "probes.json" if folder else None
    if probes_path is None or not probes_path.is_file():
        if cell.message:
            parts.append(_pre(_cut(cell.message, MAX_MESSAGE), "message"))
        parts.append("<p>No evidence was recorded for this cell (it did not run).</p>")
        return "".join(parts)
    if cell.message:
        parts.append(_pre(_cut(cell.message, MAX_MESSAGE_WITH_EVIDENCE), "message"))
    try:
        probes = read_json(probes_path)
    except ReportError as exc:
        return "".join([*parts, _pre(str(exc), "message")])
    exp = probes.get("expectation") or {}
    parts.append("<h4>Model</h4>")
    parts.append(f'<p class="explanation"><b>{escape(str(exp.get("verdict", "?")))}</b>'
                 f' — {escape(str(exp.get("explanation", "")))}</p>')
    parts.append("<h4>Probe</h4>" + _pre(json.dumps(probes.get("probe"), separators=(", ", ": "))))
    ids = []
    for n, attempt in enumerate(probes.get("attempts") or [], 1):
        ids.append(str(attempt.get("id")))
        parts.append(_attempt(n, attempt))
    assert folder is not None
    flows = [flow_summary(line) for line in _lines(folder / "flows.jsonl") if line.strip()]
    more = f"\n… {len(flows) - MAX_FLOWS} more in flows.jsonl" if len(flows) > MAX_FLOWS else ""
    parts.append(f"<h4>Matching flows ({len(flows)})</h4>"
                 + _pre("\n".join(flows[:MAX_FLOWS]) + more or "none", "flows"))
    app = [line for pid, line in _app_log(folder.parent / "app-log.jsonl") if pid in ids]
    parts.append(f"<h4>Application log ({len(app)})</h4>"
                 + _pre("\n".join(_cut(x, 500) for x in app[:MAX_APP_LINES]) or "none", "app"))
    parts.append(_metrics(folder / "metrics.json"))
    return "".join(parts)


def _attempt(n: int, attempt: dict[str, Any]) -> str:
    head = (f"<h4>Attempt {n}: {escape(str(attempt.get('id')))} — "
            f"{escape(str(attempt.get('source')))} → {escape(str(attempt.get('target')))}"
            f" {escape(str(attempt.get('path') or ''))}</h4>")
    rows = "".join(
        f'<tr class="{"ok" if c.get("ok") else "fail"}"><td>{escape(str(c.get("kind")))}</td>'
        f'<td>{"ok" if c.get("ok") else "FAIL"}</td><td>{escape(_cut(str(c.get("expected"))))}'
        f'</td><td>{escape(_cut(str(c.get("observed"))))}</td></tr>'
        for c in attempt.get("checks") or [])
    result = attempt.get("result")
    if isinstance(result, dict):  # the status and outcome matter; a long body does not
        result = {k: _cut(v, MAX_BODY) if isinstance(v, str) else v
                  for k, v in result.items() if k != "headers"}
    return (head + '<table class="checks"><tr><th>evidence</th><th></th><th>expected</th>'
            f"<th>observed</th></tr>{rows}</table>"
            + "<p>client result:</p>" + _pre(json.dumps(result), "client"))


def _metrics(path: Path) -> str:
    try:
        counters = read_json(path) if path.is_file() else []
    except ReportError as exc:
        return "<h4>Metric deltas</h4>" + _pre(str(exc))
    rows = []
    for c in counters if isinstance(counters, list) else []:
        before, after = c.get("before") or 0, c.get("after") or 0
        rows.append(f"<tr><td>{escape(str(c.get('counter')))}</td>"
                    f"<td>{escape(str(c.get('attributed_to')))}</td><td>{before:g}</td>"
                    f"<td>{after:g}</td><td>{after - before:g}</td>"
                    f"<td>{c.get('required_delta', 0)}</td></tr>")
    if not rows:
        return "<h4>Metric deltas</h4><p>no counter required for this cell</p>"
    return ('<h4>Metric deltas</h4><table class="metrics"><tr><th>counter</th><th>attributed '
            "to</th><th>before</th><th>after</th><th>delta</th><th>required</th></tr>"
            + "".join(rows) + "</table>")
