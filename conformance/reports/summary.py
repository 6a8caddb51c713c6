"""The Markdown summary a CI job page shows ($GITHUB_STEP_SUMMARY): totals, one line per
scenario, the failing cells with the evidence that disagreed, and changes since a baseline."""

from __future__ import annotations

from conformance.reports.compare import Comparison
from conformance.reports.model import FAILING, OUTCOMES, RunReport

MAX_FAILURES_LISTED = 50


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(run: RunReport, comparison: Comparison | None = None) -> str:
    counts = run.counts()
    bad = sum(counts.get(o, 0) for o in FAILING)
    facts = run.facts
    head = "✅" if not bad else "❌"
    out = [f"## {head} zt-conformance: Cilium {facts.get('cilium', '?')} on "
           f"{facts.get('cluster', '?')}", "",
           f"{sum(counts.values())} cells: " + ", ".join(
               f"{counts[o]} {o}" for o in reversed(OUTCOMES) if counts.get(o))
           + (f" — {facts['duration_s']:.0f} s" if "duration_s" in facts else ""), "",
           "| scenario | passed | failed | skipped | time-to-enforce |",
           "|---|---:|---:|---:|---:|"]
    for s in run.scenarios:
        c = s.counts()
        t = f"{s.realize_s:.2f} s" if s.realize_s is not None else "-"
        out.append(f"| {_cell(s.name)} | {c.get('passed', 0)} | "
                   f"{sum(c.get(o, 0) for o in FAILING)} | {c.get('skipped', 0)} | {t} |")
    failing = [c for c in run.cells() if c.outcome in FAILING]
    if failing:
        out += ["", "### Failing cells", "", "| scenario | cell | evidence that disagreed |",
                "|---|---|---|"]
        for cell in failing[:MAX_FAILURES_LISTED]:
            kinds = ", ".join(k for k, v in cell.evidence.items() if v == "fail") or cell.outcome
            out.append(f"| {_cell(cell.scenario)} | {_cell(cell.cell)} | {_cell(kinds)} |")
        if len(failing) > MAX_FAILURES_LISTED:
            out.append(f"\n… and {len(failing) - MAX_FAILURES_LISTED} more (see report.html)")
    if comparison is not None:
        out += ["", comparison_markdown(comparison)]
    return "\n".join(out) + "\n\n"


def comparison_markdown(c: Comparison) -> str:
    out = [f"### Changes since the baseline: {len(c.flipped)} flipped, {len(c.appeared)} "
           f"appeared, {len(c.vanished)} vanished, {len(c.regressions)} time-to-enforce "
           "regression(s)"]
    rows = [(t, ch) for t, items in (("flipped", c.flipped), ("appeared", c.appeared),
                                     ("vanished", c.vanished), ("changed", c.changed))
            for ch in items]
    if rows:
        out += ["", "| change | scenario | cell | before | after |", "|---|---|---|---|---|"]
        out += [f"| {t} | {_cell(ch.scenario)} | {_cell(ch.cell)} | {ch.before or '-'} | "
                f"{ch.after or '-'} |" for t, ch in rows]
    if c.regressions:
        out += ["", "| scenario | time-to-enforce before | after |", "|---|---:|---:|"]
        out += [f"| {_cell(r.scenario)} | {r.before_s:.2f} s | {r.after_s:.2f} s |"
                for r in c.regressions]
    return "\n".join(out) + "\n"
