"""The suite must be able to fail: run it against the simulated cluster with each fault.

Each run is a real `pytest conformance/scenarios --cluster=simulated [--fault X]` in a
subprocess (xdist by scenario module — the path of `nox -s conformance`). Breaking
enforcement or evidence must fail exactly the cells that cover it, and for the reason
that covers it (the failing check named in the message); merely late or slow evidence
must pass. Which cells a fault covers is declared with the fault, as capability tags
(clusters/emulated/faults/), and each cell's tags come from its scenario
(conformance/harness/capabilities.py): nothing here names a fault or a scenario module.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from clusters.emulated.faults import BENIGN, BREAKING, CONDITION, FAULTS, REFUSED, of_effect
from tests.support.fault_matrix import Outcome, parse_junit, scenario_cells, selected

REPO = Path(__file__).resolve().parents[2]
RUN_TIMEOUT_S = 240  # one whole simulated run, generous for a loaded CI machine
# hubble-late delivers flows 3 s late; the wait re-reads flows at its deadline, so 4 s
# leaves a 1 s margin while keeping the failing runs short.
FLOW_GRACE_S = "4"
# xdist workers per run: runs that wait out grace periods or slow policies spread their
# scenarios over workers; runs that fail fast on client results (faults declared `quick`)
# stay in one process (worker start-up costs more CPU than they save). The clean run uses
# workers too, so the distributed path of `nox -s conformance` is covered.
WAITING_WORKERS = "4"
# Faults that keep a change from ever taking effect: a short policy deadline.
STUCK_POLICY_TIMEOUT_S = "3"
BREAKING_FAULTS = sorted(of_effect(BREAKING))
# Late or slow evidence, and conditions of real clusters the harness handles: must pass.
PASSING = tuple(sorted(of_effect(BENIGN) + of_effect(CONDITION)))
# A broken install: the run stops before any test, exit 4 (usage error), one paragraph.
REFUSING = tuple(sorted(of_effect(REFUSED)))

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("fault", REFUSING)
def test_a_broken_install_is_refused_before_any_test(fault: str, tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "pytest", "conformance/scenarios", "--cluster=simulated",
           "-p", "no:cacheprovider", "-q", f"--artifacts={tmp_path}", f"--fault={fault}"]
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ZTC_", "PYTEST_XDIST", "PYTEST_ADDOPTS"))}
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True,
                          timeout=RUN_TIMEOUT_S, env=env, check=False)
    said = proc.stdout + proc.stderr
    assert proc.returncode == 4, said[-2000:]
    assert FAULTS[fault].says in said and "Traceback" not in said


def run_suite(tmp: Path, fault: str | None) -> tuple[subprocess.CompletedProcess[str],
                                                     list[Outcome]]:
    junit = tmp / "junit.xml"
    declared = FAULTS[fault] if fault else None
    workers = "0" if declared and declared.quick else WAITING_WORKERS
    cmd = [sys.executable, "-m", "pytest", "conformance/scenarios", "--cluster=simulated",
           "-n", workers, "--dist", "loadscope", "-p", "no:cacheprovider", "-q",
           f"--junitxml={junit}", f"--artifacts={tmp / 'artifacts'}",
           f"--flow-grace={FLOW_GRACE_S}"]
    if fault:
        cmd.append(f"--fault={fault}")
    if declared and declared.hooks.never_realizes:
        cmd.append(f"--policy-timeout={STUCK_POLICY_TIMEOUT_S}")
    # The child is its own session: none of our options or xdist identity leak into it.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ZTC_", "PYTEST_XDIST", "PYTEST_ADDOPTS"))}
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True,
                          timeout=RUN_TIMEOUT_S, env=env, check=False)
    assert junit.exists(), f"no JUnit report; pytest said:\n{proc.stdout[-3000:]}{proc.stderr}"
    return proc, parse_junit(junit)


def test_clean_run_passes_every_cell(tmp_path: Path) -> None:
    proc, outcomes = run_suite(tmp_path, None)
    failed = [f"{o.module}[{o.cell}]" for o in outcomes if o.status != "passed"]
    assert proc.returncode == 0 and not failed, proc.stdout[-5000:]
    modules = {o.module for o in outcomes}
    # Every capability the issue lists has cells (mutual auth is a feature of the
    # simulated cluster, so it runs rather than skips).
    assert {"test_l3l4_gap", "test_l7_http", "test_l7_headers", "test_grpc", "test_fqdn",
            "test_fqdn_article", "test_default_deny", "test_mutual_auth", "test_deny"} <= modules
    assert len(outcomes) >= 50
    # Every cell left its evidence.
    for probes in (tmp_path / "artifacts").glob("*/*/probes.json"):
        assert (probes.parent / "flows.jsonl").exists()
        assert (probes.parent / "metrics.json").exists()
    assert len(list((tmp_path / "artifacts").glob("*/*/probes.json"))) == len(outcomes)


@pytest.mark.parametrize("fault", BREAKING_FAULTS)
def test_fault_fails_the_cells_that_cover_it(fault: str, tmp_path: Path) -> None:
    spec = FAULTS[fault]
    proc, outcomes = run_suite(tmp_path, fault)
    assert proc.returncode == 1, f"--fault={fault} did not fail the run:\n{proc.stdout[-3000:]}"
    index = scenario_cells()
    unknown = sorted((o.module, o.cell) for o in outcomes if (o.module, o.cell) not in index)
    assert not unknown, f"cells the scenarios' tag index does not know: {unknown}"
    failed = {(o.module, o.cell): o for o in outcomes if o.status == "failed"}
    ran = [(o.module, o.cell) for o in outcomes]
    must = {k for k in ran if selected(spec.fails, index[k])}
    assert must, f"no cell covers {fault}: the selection is wrong"
    passed_but_covered = sorted(must - failed.keys())
    assert not passed_but_covered, f"--fault={fault}: these cells still passed: " \
                                   f"{passed_but_covered}"
    stray = sorted(k for k in failed if k not in must
                   and not selected(spec.may_fail, index[k]))
    assert not stray, f"--fault={fault} also failed cells that do not cover it: {stray}"
    wrong_reason = sorted(k for k in must if spec.says not in failed[k].message)
    assert not wrong_reason, (f"--fault={fault}: failed without '{spec.says}' in the "
                              f"message: {wrong_reason}")


@pytest.mark.parametrize("fault", PASSING)
def test_late_or_slow_evidence_still_passes(fault: str, tmp_path: Path) -> None:
    proc, outcomes = run_suite(tmp_path, fault)
    failed = [f"{o.module}[{o.cell}]" for o in outcomes if o.status == "failed"]
    assert proc.returncode == 0 and not failed, f"--fault={fault}:\n{proc.stdout[-5000:]}"
    # It passed because the suite waited, not because it looked early.
    timings = [json.loads(p.read_text())["timings_s"]
               for p in (tmp_path / "artifacts").glob("*/run.json")]
    assert len(timings) >= 10
    for timing, at_least in FAULTS[fault].waits:
        assert min(t[timing] for t in timings) >= at_least, (timing, at_least)
