"""What real simulated suite runs leave behind: the comparison of a clean run with an
--fault=l7-off run, JUnit properties, the terminal truth tables and progress lines, the
Markdown step summary, and a report redone from the artifacts. The oracle for which cells
failed is the JUnit file pytest itself wrote (test name and outcome), not our results."""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from clusters.emulated.faults import FAULTS
from conformance.reports.model import REPORT, RESULTS
from tests.reports.conftest import REPO, SuiteRun, run_suite
from tests.support.fault_matrix import scenario_cells, selected

pytestmark = pytest.mark.slow
CLI_TIMEOUT_S = 60


def junit_cells(run: SuiteRun) -> dict[tuple[str, str], str]:
    """(scenario, cell id) -> passed|failed|skipped, from pytest's own JUnit report: the
    scenario from the test module's SCENARIO, the cell id from the test's parameter."""
    out: dict[tuple[str, str], str] = {}
    for case in ET.parse(run.artifacts / "junit.xml").iter("testcase"):
        module = importlib.import_module(case.get("classname", ""))
        cell = re.fullmatch(r"test_\w+\[(.*)\]", case.get("name", ""), re.S)
        assert cell is not None, case.get("name")
        outcome = ("failed" if case.find("failure") is not None or case.find("error")
                   is not None else "skipped" if case.find("skipped") is not None
                   else "passed")
        out[(module.SCENARIO.name, cell.group(1))] = outcome
    return out


def l7_off_modules() -> set[str]:
    """The scenario modules with cells fault l7-off must or may fail (its declared tags)."""
    fault = FAULTS["l7-off"]
    return {module for (module, _), cell in scenario_cells().items()
            if selected((*fault.fails, *fault.may_fail), cell)}


def report_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "conformance", "report", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=CLI_TIMEOUT_S, check=False)


def test_compare_clean_with_l7_off_lists_exactly_the_flipped_cells(
        clean_run: SuiteRun, l7_off_run: SuiteRun) -> None:
    before, after = junit_cells(clean_run), junit_cells(l7_off_run)
    flipped = {k for k in after if before.get(k) == "passed" and after[k] == "failed"}
    assert flipped, "the l7-off run failed no cell"
    proc = report_cli("--compare", str(clean_run.artifacts), str(l7_off_run.artifacts),
                      "--format", "json")
    assert proc.returncode == 1, proc.stderr
    data = json.loads(proc.stdout)
    listed = {(c["scenario"], c["cell"]) for c in data["flipped"]}
    assert listed == flipped
    assert all((c["before"], c["after"]) == ("passed", "failed") for c in data["flipped"])
    assert data["appeared"] == data["vanished"] == data["changed"] == []
    modules = {case.get("classname", "").rsplit(".", 1)[-1]
               for case in ET.parse(l7_off_run.artifacts / "junit.xml").iter("testcase")
               if case.find("failure") is not None}
    assert modules <= l7_off_modules()
    same = report_cli("--compare", str(clean_run.artifacts), str(clean_run.artifacts))
    assert same.returncode == 0 and "0 flipped" in same.stdout


def test_junit_cases_carry_the_cells_verdict_and_evidence(l7_off_run: SuiteRun) -> None:
    cases = list(ET.parse(l7_off_run.artifacts / "junit.xml").iter("testcase"))
    assert cases
    for case in cases:
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        assert {"scenario", "cell", "expected", "verdict"} <= props.keys(), case.get("name")
        if case.find("skipped") is not None:
            continue
        failed = case.find("failure") is not None
        kinds = {k.removeprefix("evidence."): v for k, v in props.items()
                 if k and k.startswith("evidence.")}
        assert ("fail" in kinds.values()) == failed, (case.get("name"), kinds)
        assert props["evidence"] == ("agrees" if not failed else "disagrees: " + ", ".join(
            k for k, v in kinds.items() if v == "fail"))
        assert (l7_off_run.artifacts / props["scenario"] / props["artifacts"]).is_dir()


def test_terminal_shows_progress_and_80_column_truth_tables_without_colour(
        l7_off_run: SuiteRun) -> None:
    out = l7_off_run.output
    assert "\x1b[" not in out  # not a terminal: no colour
    cells = junit_cells(l7_off_run)
    scenarios = {s for s, _ in cells}
    for scenario in scenarios:
        assert re.search(rf"^\[gw\d\] {re.escape(scenario)}: enforced in \d+\.\d s", out,
                         re.M), scenario
    tables = out.split("zt-conformance truth tables", 1)[1]
    body = tables.split("\nreport: ", 1)[0]
    assert max(len(line) for line in body.splitlines()[1:]) <= 80
    failed = sum(1 for v in cells.values() if v == "failed")
    passed = sum(1 for v in cells.values() if v == "passed")
    assert f"{len(cells)} cells in {len(scenarios)} scenarios: {passed} passed" in body
    assert f"{failed} failed" in body
    for block in body.split("\n\n"):
        marks = [m.group(1) for m in re.finditer(r"^  (pass|FAIL|skip)\s", block, re.M)]
        assert marks == sorted(marks, key=("FAIL", "skip", "pass").index), block[:200]
    assert f"report: {l7_off_run.artifacts / REPORT}" in out


def test_step_summary_names_every_failing_cell(l7_off_run: SuiteRun) -> None:
    text = l7_off_run.step_summary.read_text()
    assert text.startswith("## ❌ zt-conformance: Cilium 1.20.0 on simulated")
    for (scenario, cell), outcome in junit_cells(l7_off_run).items():
        if outcome == "failed":
            assert f"| {scenario} | {cell.replace('|', chr(92) + '|')} |" in text


def test_report_is_redone_from_the_artifacts(clean_run: SuiteRun, tmp_path: Path) -> None:
    page = clean_run.artifacts / REPORT
    first = page.read_text()
    page.unlink()
    proc = report_cli(str(clean_run.artifacts))
    assert proc.returncode == 0, proc.stderr
    again = page.read_text()
    count = len(junit_cells(clean_run))
    assert len(re.findall(r'<td class="cell ', again)) == count
    assert len(re.findall(r'<td class="cell ', first)) == count
    assert "kubernetes" in again and "v1." in again  # the run's facts survive


def test_a_second_pass_merges_into_the_first_and_progress_shows_without_workers(
        tmp_path: Path) -> None:
    """nox's disruptive pass runs after the main one into the same folder (noxfile.py sets
    ZTC_REPORT_MERGE): the report must keep the first pass's cells. Without workers the
    progress lines print from inside fixture setup, where pytest captures output."""
    folder = tmp_path / "run"
    first = run_suite(folder, paths=("conformance/scenarios/test_l3l4_gap.py",), workers="0")
    assert first.returncode == 0, first.output[-2000:]
    assert re.search(r"^\[main\] l3l4-gap: enforced in \d+\.\d s", first.output, re.M)
    second = run_suite(folder, paths=("conformance/scenarios/test_deny.py",), workers="0",
                       env_extra={"ZTC_REPORT_MERGE": "1"})
    assert second.returncode == 0, second.output[-2000:]
    scenarios = {json.loads(line)["scenario"]
                 for line in (folder / RESULTS).read_text().splitlines()}
    assert scenarios == {"l3l4-gap", "deny"}
    page = (folder / REPORT).read_text()
    assert 'data-scenario="l3l4-gap"' in page and 'data-scenario="deny"' in page
    third = run_suite(folder, paths=("conformance/scenarios/test_deny.py",), workers="0")
    assert third.returncode == 0
    assert {json.loads(line)["scenario"]
            for line in (folder / RESULTS).read_text().splitlines()} == {"deny"}


def test_report_of_a_simulated_upgrade_run_shows_its_timeline(tmp_path: Path) -> None:
    """The upgrade run (python -m conformance.upgrade) writes upgrade-report.json; the
    report of that folder shows each step's agent restarts and changed cells."""
    folder = tmp_path / "upgrade"
    run = subprocess.run([sys.executable, "-m", "conformance.upgrade", "--from", "1.19.6",
                          "--to", "1.20.0", "--cluster", "simulated", "--report", str(folder)],
                         cwd=REPO, capture_output=True, text=True, timeout=CLI_TIMEOUT_S,
                         check=False)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    data = json.loads((folder / "upgrade-report.json").read_text())
    proc = report_cli(str(folder))
    assert proc.returncode == 0, proc.stderr
    page = (folder / REPORT).read_text()
    assert 'id="upgrade"' in page and "1.19.6 → 1.20.0" in page
    windows = [w for step in data["steps"] for w in step["watch"]["windows"]]
    assert windows and page.count("agent down +") == len(windows)
    for w in windows:
        assert f"{w['node']}: agent down +{w['start']:.1f} s .. +{w['end']:.1f} s" in page
    changed = sum(len(step["changed_cells"]) for step in data["steps"])
    assert f"{changed} changed cell(s)" in page
