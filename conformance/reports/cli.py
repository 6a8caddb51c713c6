"""`python -m conformance report [ARTIFACTS_DIR | --compare OLD_DIR NEW_DIR]`.

report ARTIFACTS_DIR: (re)write ARTIFACTS_DIR/report.html from the artifacts and print the
truth tables; `--baseline OLD_DIR` adds the changes since that run to the page.
report --compare OLD NEW: cells that flipped, appeared or vanished, and time-to-enforce
regressions; exit 1 on a flip. Both append Markdown to $GITHUB_STEP_SUMMARY when it is set.
Bad input (a folder that is not a run's artifacts) is ReportError: exit 2, one paragraph.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any, TextIO

from conformance.reports import compare, html, summary, tables
from conformance.reports.model import REPORT, ReportError, load_run

DEFAULT_ARTIFACTS = "artifacts"  # the suite's default --artifacts (conftest.py)


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "report", help="write report.html from a run's artifacts, or compare two runs",
        description="Write ARTIFACTS_DIR/report.html and print the truth tables, or with "
                    "--compare list what changed between two runs (exit 1 on a flipped cell).")
    p.add_argument("artifacts", nargs="?", metavar="ARTIFACTS_DIR",
                   help=f"a run's --artifacts folder (default ./{DEFAULT_ARTIFACTS})")
    p.add_argument("--compare", nargs=2, metavar=("OLD_DIR", "NEW_DIR"),
                   help="compare two runs' artifacts instead of writing a report")
    p.add_argument("--baseline", metavar="OLD_DIR",
                   help="with ARTIFACTS_DIR: show the changes since this earlier run")
    p.add_argument("--format", choices=("text", "markdown", "json"), default="text",
                   help="what to print (default text)")


def run(args: argparse.Namespace, out: TextIO) -> int:
    if args.compare and (args.artifacts or args.baseline):
        raise ReportError("report: give either ARTIFACTS_DIR (with --baseline) or "
                          "--compare OLD_DIR NEW_DIR, not both")
    if args.compare:
        return _compare(args.compare[0], args.compare[1], args.format, out)
    return _report(args.artifacts or DEFAULT_ARTIFACTS, args.baseline, args.format, out)


def _compare(old_dir: str, new_dir: str, fmt: str, out: TextIO) -> int:
    result = compare.compare(load_run(old_dir), load_run(new_dir))
    if fmt == "json":
        out.write(json.dumps(result.to_json(), indent=2) + "\n")
    elif fmt == "markdown":
        out.write(summary.comparison_markdown(result))
    else:
        out.write(compare.render_text(result))
    _step_summary(summary.comparison_markdown(result))
    return result.exit_code


def _report(folder: str, baseline: str | None, fmt: str, out: TextIO) -> int:
    run = load_run(folder)
    comparison = compare.compare(load_run(baseline), run) if baseline else None
    target = Path(folder) / REPORT
    try:
        html.write(run, target, comparison)
    except OSError as exc:
        raise ReportError(f"{target}: cannot write the report: {exc.strerror or exc}") from None
    text = summary.markdown(run, comparison)
    if fmt == "json":
        counts = run.counts()
        out.write(json.dumps({"report": str(target), "cells": dict(counts),
                              "changes": comparison.to_json() if comparison else None}) + "\n")
    elif fmt == "markdown":
        out.write(text)
    else:
        out.write(tables.plain(tables.render(run)))
        out.write(f"report: {target}\n")
    _step_summary(text)
    return 0


def _step_summary(text: str) -> None:
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if not path:
        return
    try:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        raise ReportError(f"GITHUB_STEP_SUMMARY={path}: cannot append: "
                          f"{exc.strerror or exc}") from None
