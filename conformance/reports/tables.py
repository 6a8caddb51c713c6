"""Truth tables for the terminal: one per scenario, failures first, readable at 80 columns.

Each line comes with pytest TerminalWriter markup (e.g. {"red": True}); the writer drops
it when the output is not a terminal, and `plain()` drops it for the command line.
"""

from __future__ import annotations

import textwrap
from typing import Any

from conformance.reports.model import EVIDENCE_KINDS, OUTCOMES, CellResult, RunReport

MAX_WIDTH = 120
MIN_WIDTH = 80
SLOWEST_SHOWN = 5
COLUMNS = {k: k for k in EVIDENCE_KINDS}  # evidence kind -> column header
RESULT_WIDTH = 7
MIN_LABEL_WIDTH = 40  # narrower: the label gets its own line
EXPECTED_WIDTH = 18
EXPECTED_WIDE = 34  # when the label has its own line
MARK = {"passed": "pass", "failed": "FAIL", "error": "ERROR", "skipped": "skip",
        "unknown": "?"}
MARKUP: dict[str, dict[str, bool]] = {"passed": {"green": True}, "failed": {"red": True},
                                      "error": {"red": True}, "skipped": {"yellow": True},
                                      "unknown": {"yellow": True}}

Line = tuple[str, dict[str, Any]]


def _counts(counter: Any) -> str:
    return ", ".join(f"{counter[o]} {o}" for o in reversed(OUTCOMES) if counter.get(o))


def _evidence(cell: CellResult) -> str:
    return "  ".join(("FAIL" if cell.evidence.get(k) == "fail" else cell.evidence.get(k, "-"))
                     .ljust(len(h)) for k, h in COLUMNS.items())


def _row(cell: CellResult, label_width: int, two_line: bool, exp_width: int) -> list[Line]:
    """One cell: on one line when the label fits beside the columns, else the label on
    its own line(s) and expected + evidence under it."""
    mark = MARK.get(cell.outcome, cell.outcome)
    colour = MARKUP.get(cell.outcome, {})
    label = textwrap.wrap(f"{cell.source} → {cell.request}", label_width,
                          break_on_hyphens=False) or [""]
    expected = textwrap.wrap(cell.expected, exp_width) or [""]
    pad = " " * (2 + RESULT_WIDTH)
    if two_line:
        lines: list[Line] = [(f"  {mark:<{RESULT_WIDTH}}{label[0]}", colour)]
        lines += [(pad + rest, {}) for rest in label[1:]]
        lines.append((f"{pad}{expected[0]:<{exp_width}} {_evidence(cell)}".rstrip(), {}))
        lines += [(pad + rest, {}) for rest in expected[1:]]
        return lines
    lines = []
    for i in range(max(len(label), len(expected))):
        text = (f"  {mark if i == 0 else '':<{RESULT_WIDTH}}{_at(label, i):<{label_width}} "
                f"{_at(expected, i):<{exp_width}} {_evidence(cell) if i == 0 else ''}")
        lines.append((text.rstrip(), colour if i == 0 else {}))
    return lines


def _at(items: list[str], i: int) -> str:
    return items[i] if i < len(items) else ""


def render(run: RunReport, width: int = MIN_WIDTH) -> list[Line]:
    width = max(MIN_WIDTH, width)
    evidence_width = sum(len(h) for h in COLUMNS.values()) + 2 * (len(COLUMNS) - 1)
    label_width = width - 2 - RESULT_WIDTH - EXPECTED_WIDTH - 1 - evidence_width - 1
    two_line = label_width < MIN_LABEL_WIDTH
    exp_width = EXPECTED_WIDTH
    if two_line:  # the expectation has the room the label left
        label_width = width - 2 - RESULT_WIDTH
        exp_width = min(EXPECTED_WIDE, label_width - evidence_width - 1)
    columns = f"{'expected':<{exp_width}} " + "  ".join(COLUMNS.values())
    if two_line:
        header = [f"  {'result':<{RESULT_WIDTH}}source → request",
                  " " * (2 + RESULT_WIDTH) + columns]
    else:
        header = [f"  {'result':<{RESULT_WIDTH}}{'source → request':<{label_width}} {columns}"]
    lines: list[Line] = []
    for scenario in run.scenarios:
        title = f"{scenario.name}" + (f" — {scenario.title}" if scenario.title else "")
        lines.append((textwrap.shorten(title, width, placeholder="…"), {"bold": True}))
        facts = _counts(scenario.counts())
        if scenario.realize_s is not None:
            facts += f"; time-to-enforce {scenario.realize_s:.1f} s"
        lines.append((f"  {facts}", {}))
        lines.extend((h, {"bold": True}) for h in header)
        for cell in sorted(scenario.cells, key=lambda c: OUTCOMES.index(c.outcome)):
            lines.extend(_row(cell, label_width, two_line, exp_width))
        lines.append(("", {}))
    return lines + totals(run)


def totals(run: RunReport) -> list[Line]:
    counts = run.counts()
    bad = counts.get("failed", 0) + counts.get("error", 0)
    out: list[Line] = [(f"{sum(counts.values())} cells in {len(run.scenarios)} scenarios: "
                        f"{_counts(counts)}", {"red": True} if bad else {"green": True})]
    slow = run.realizations()[:SLOWEST_SHOWN]
    if slow:
        out.append(("slowest policy realizations (time-to-enforce):", {}))
        out.extend((f"  {seconds:7.2f} s  {name}", {}) for name, seconds in slow)
    return out


def plain(lines: list[Line]) -> str:
    return "".join(text + "\n" for text, _ in lines)
