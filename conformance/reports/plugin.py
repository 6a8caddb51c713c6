"""The suite's report plugin (registered by conformance/scenarios/conftest.py).

Workers: progress events around the long waits (workloads, policy realization, evidence).
Controller: the verdict of every cell as pytest decided it (with the properties each
report carries), then at the end results.jsonl, run-facts.json and report.html in the
artifacts folder, the truth tables in the terminal summary, and a Markdown summary in
$GITHUB_STEP_SUMMARY when that is set.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import pytest

from conformance.reports import facts, progress
from conformance.reports.model import (
    FACTS,
    REPORT,
    RESULTS,
    CellResult,
    ReportError,
    RunReport,
    load_run,
)

# Fixtures whose setup is a long wait worth a progress line.
WORKSPACE_FIXTURE = "workspace"
SCENARIO_FIXTURE = "scenario_run"
MAX_MESSAGE_CHARS = 8000  # a failure message in results.jsonl (the evidence has the rest)
# Set by `nox -s conformance` for its disruptive pass: keep the first pass's results.
MERGE_ENV = "ZTC_REPORT_MERGE"
XDIST_HEADER = re.compile(r"\A\[gw\d+\] .* -- Python .*\n")


class ReportPlugin:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.is_worker = hasattr(config, "workerinput")
        self.worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        artifacts = config.getoption("artifacts", None)
        self.root = Path(artifacts).resolve() if artifacts else None
        self.started = time.time()
        self.cells: dict[str, CellResult] = {}
        self.run: RunReport | None = None
        self.written: list[Path] = []
        self.problem: str | None = None
        self.follower: progress.Follower | None = None
        self.sink: progress.WorkerSink | None = None

    # -- progress ------------------------------------------------------------------------

    def _run_id(self) -> str:
        from conformance.harness.runs import run_id

        return run_id(self.config)

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        if self.root is None:
            return
        if self.is_worker:
            self.sink = progress.WorkerSink(self.root, self._run_id(), self.worker)
            return
        tr = self.config.pluginmanager.get_plugin("terminalreporter")
        if tr is not None and (self.config.getoption("numprocesses", None) or 0):
            self.follower = progress.Follower(self.root, self._run_id(), _line_writer(tr))
            self.follower.start()

    def _emit(self, event: dict[str, Any]) -> None:
        if self.sink is not None:
            self.sink.emit(event)
            return
        tr = self.config.pluginmanager.get_plugin("terminalreporter")
        if tr is not None and not self.is_worker:
            _line_writer(tr)(progress.describe({"worker": self.worker, **event}))

    @pytest.hookimpl(wrapper=True)
    def pytest_fixture_setup(self, fixturedef: pytest.FixtureDef[Any],
                             request: pytest.FixtureRequest) -> Generator[None, Any, Any]:
        name = fixturedef.argname
        if name not in (WORKSPACE_FIXTURE, SCENARIO_FIXTURE):
            return (yield)
        scenario = getattr(getattr(request.module, "SCENARIO", None), "name", "") \
            if name == SCENARIO_FIXTURE else ""
        opt = self.config.getoption
        start = time.monotonic()
        if name == WORKSPACE_FIXTURE:
            self._emit({"what": "workspace-start"})
        else:
            self._emit({"what": "start", "scenario": scenario,
                        "policy_timeout": opt("policy_timeout"), "flow_grace": opt("flow_grace")})
        try:
            result = yield
        except BaseException as exc:  # also pytest.skip/fail, which are BaseException
            kind = "skipped" if isinstance(exc, pytest.skip.Exception) else "failed"
            self._emit({"what": kind, "scenario": scenario,
                        "detail": str(exc).splitlines()[0] if str(exc) else type(exc).__name__})
            raise
        if name == WORKSPACE_FIXTURE:
            self._emit({"what": "workspace-done", "seconds": time.monotonic() - start})
        else:
            timings = vars(getattr(result, "timings", None) or {})
            self._emit({"what": "done", "scenario": scenario, "flow_grace": opt("flow_grace"),
                        **timings})
        return result

    # -- verdicts ------------------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        """Name the cell before any fixture runs: a module-scoped fixture (the scenario's
        batch) that fails must still leave a report that says which cell it was."""
        from conformance.harness.spec import Cell, Scenario
        from conformance.reports.properties import setup_properties

        callspec = getattr(item, "callspec", None)
        cell = callspec.params.get("cell") if callspec else None
        scenario = getattr(getattr(item, "module", None), "SCENARIO", None)
        if isinstance(cell, Cell) and isinstance(scenario, Scenario):
            item.user_properties.extend(setup_properties(scenario, cell))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if self.is_worker:
            return
        props = {k: str(v) for k, v in report.user_properties}
        if "scenario" not in props or "cell" not in props:
            return  # not a truth-table cell
        cell = self.cells.get(report.nodeid)
        if cell is None:
            cell = self.cells[report.nodeid] = CellResult(
                props["scenario"], props["cell"], "unknown", source=props.get("source", ""),
                request=props.get("request", ""), expected=props.get("expected", ""),
                title=props.get("scenario_title", ""))
        cell.verdict = props.get("verdict", cell.verdict)
        cell.folder = props.get("artifacts", cell.folder)
        cell.evidence.update({k.removeprefix("evidence."): v for k, v in props.items()
                              if k.startswith("evidence.")})
        if report.when == "call" or (report.when == "setup" and not report.passed):
            cell.outcome = ("error" if report.when == "setup" and report.failed
                            else report.outcome)
            cell.duration_s = round(report.duration, 3)
            cell.message = _message(report)
        elif report.when == "teardown" and report.failed and cell.outcome == "passed":
            cell.outcome, cell.message = "error", _message(report)

    # -- the end -------------------------------------------------------------------------

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.is_worker:
            return
        if self.follower is not None:
            self.follower.stop()
        try:
            self.run = self._write(int(exitstatus))
        except (OSError, ReportError) as exc:  # the run's verdict stands; say why no report
            self.problem = f"no report written: {exc}"

    def _write(self, exit_status: int) -> RunReport | None:
        from conformance.reports import html, summary

        if not self.cells:
            return None
        ordered = sorted(self.cells.values(), key=lambda c: c.key)
        if self.root is None:
            return from_cells(Path("."), ordered)
        import json

        self.root.mkdir(parents=True, exist_ok=True)
        if _flag(MERGE_ENV) and (self.root / RESULTS).is_file():
            # A second pass of the same run (nox's disruptive pass) adds to the first.
            from conformance.reports.model import read_results

            mine = {c.key for c in ordered}
            ordered = sorted([c for c in read_results(self.root / RESULTS) if c.key not in mine]
                             + ordered, key=lambda c: c.key)
        (self.root / RESULTS).write_text(
            "".join(json.dumps(c.to_json()) + "\n" for c in ordered), encoding="utf-8")
        run = load_run(self.root)
        versions = {s.cilium_version for s in run.scenarios if s.cilium_version}
        run.facts = facts.collect(self.config, self.started, time.time(), versions, exit_status)
        (self.root / FACTS).write_text(json.dumps(run.facts, indent=2), encoding="utf-8")
        html.write(run, self.root / REPORT)
        self.written = [self.root / REPORT]
        step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
        if step_summary:
            with open(step_summary, "a", encoding="utf-8") as fh:
                fh.write(summary.markdown(run))
            self.written.append(Path(step_summary))
        return run

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.is_worker:
            return
        from conformance.reports import tables

        tr = terminalreporter
        if self.run is not None:
            tr.section("zt-conformance truth tables")
            width = min(tr._tw.fullwidth, tables.MAX_WIDTH)
            for line in tables.render(self.run, width=width):
                tr.write_line(line[0], **line[1])
        for path in self.written:
            tr.write_line(f"report: {path}")
        if self.problem:
            tr.write_line(f"zt-conformance: {self.problem}", yellow=True)


def _flag(var: str) -> bool:
    return os.environ.get(var, "").strip().lower() in ("1", "true", "yes", "on")


def _line_writer(tr: Any) -> Callable[[str], None]:
    """A line on its own, also after xdist's dots (which leave the line open)."""

    capture = tr.config.pluginmanager.get_plugin("capturemanager")

    def say(text: str) -> None:
        # Outside a worker this runs inside a fixture's setup, where output is captured.
        with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
            if tr._tw.width_of_current_line:
                tr._tw.line()
            tr.write_line(text)

    return say


def from_cells(root: Path, cells: list[CellResult]) -> RunReport:
    """A report from the verdicts alone (no artifacts folder)."""
    from conformance.reports.model import ScenarioResult

    scenarios: dict[str, ScenarioResult] = {}
    for cell in cells:
        s = scenarios.setdefault(cell.scenario, ScenarioResult(cell.scenario, cell.title))
        s.cells.append(cell)
    return RunReport(root, scenarios=sorted(scenarios.values(), key=lambda s: (s.worst(),
                                                                                 s.name)))


def _message(report: pytest.TestReport) -> str:
    if report.passed:
        return ""
    longrepr = report.longrepr
    if isinstance(longrepr, tuple):  # a skip: (file, line, "Skipped: reason")
        return str(longrepr[2]).removeprefix("Skipped: ")[:MAX_MESSAGE_CHARS]
    # xdist puts "[gw0] linux -- Python 3.11.7 /path" above a worker's failure: not news.
    return XDIST_HEADER.sub("", report.longreprtext, count=1)[:MAX_MESSAGE_CHARS]
