"""The suite must be able to fail: run it against the simulated cluster with each fault.

Each run is a real `pytest conformance/scenarios --cluster=simulated [--fault X]` in a
subprocess (xdist by scenario module — the path of `nox -s conformance`). Breaking
enforcement or evidence must fail exactly the cells that cover it, and for the reason
that covers it (the failing check named in the message); merely late or slow evidence
must pass.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from clusters.emulated.faults import (
    BENIGN,
    CONDITION,
    HUBBLE_LATE_S,
    REFUSED,
    SLOW_REALIZATION_S,
    UPGRADE,
    of_effect,
)
from clusters.emulated.faults import FAULTS as EMULATED

REPO = Path(__file__).resolve().parents[2]
RUN_TIMEOUT_S = 240  # one whole simulated run, generous for a loaded CI machine
# hubble-late delivers flows 3 s late; the wait re-reads flows at its deadline, so 4 s
# leaves a 1 s margin while keeping the failing runs short.
FLOW_GRACE_S = "4"
# xdist workers per run: runs that wait out grace periods or slow policies spread their
# scenarios over workers; runs that fail fast on client results stay in one process
# (worker start-up costs more CPU than they save). The clean run uses workers too, so
# distributed path of `nox -s conformance` is covered.
WAITING_WORKERS = "4"
FAST_FAULTS = ("l3l4-off", "dns-open", "fqdn-broken", "auth-off", "exec-dies", "agent-down",
               "metrics-down", "prober-garbage", "relay-down", "policy-rejected", "no-crds",
               "exec-forbidden", "log-forbidden", "portforward-forbidden", "prober-short")

Cell = tuple[str, str]  # (module, cell label)
Select = Callable[[str, str], bool]


def label(pattern: str) -> Select:
    return lambda _module, cell: re.search(pattern, cell) is not None


def module(*names: str) -> Select:
    return lambda mod, _cell: mod in names


def both(a: Select, b: Select) -> Select:
    return lambda mod, cell: a(mod, cell) and b(mod, cell)


def either(a: Select, b: Select) -> Select:
    return lambda mod, cell: a(mod, cell) or b(mod, cell)


NOTHING: Select = lambda _m, _c: False  # noqa: E731
EVERY: Select = lambda _m, _c: True  # noqa: E731
# Scenarios whose policies include a cilium.io kind (all but the NetworkPolicy-only one).
CILIUM_POLICY: Select = lambda mod, _c: mod != "test_l3l4_gap"  # noqa: E731
# Faults that keep a change from ever taking effect: a short policy deadline.
STUCK_FAULTS = ("agent-stuck", "regen-stuck")
STUCK_POLICY_TIMEOUT_S = "3"
NOT_KUBELET: Select = lambda _m, cell: "(kubelet)" not in cell  # noqa: E731
DENIED = label(r"=> (dropped|l7-denied|dns-refused)")
# Both L3/L4 policy drop reasons: default deny (POLICY_DENIED), denylist (POLICY_DENY).
L3L4_DROPPED = label(r"=> dropped POLICY_DEN(IED|Y) ")
L7_MODULES = module("test_l7_http", "test_l7_headers", "test_grpc", "test_mutual_auth",
                    "test_tls_sni")
FQDN_MODULES = module("test_fqdn", "test_fqdn_dns_refused", "test_fqdn_multilevel",
                      "test_fqdn_article", "test_fqdn_no_dns_rule")


@dataclass(frozen=True)
class Fault:
    must_fail: Select  # every such cell fails ...
    may_fail: Select  # ... and nothing outside these does
    check: str  # ... and the message names this failing check


FAULTS: dict[str, Fault] = {
    # L7 rules not enforced: every L7 deny goes through; allowed L7 cells lose their L7 flow.
    # L3/L4 drops in those modules (other ports, AUTH_REQUIRED) must still pass.
    "l7-off": Fault(both(L7_MODULES, label("=> l7-denied")),
                    both(L7_MODULES, label("=> (l7-denied|allowed)")), "FAIL client"),
    "l3l4-off": Fault(L3L4_DROPPED, L3L4_DROPPED, "FAIL client"),
    "dns-open": Fault(label("=> dns-refused"), label("=> dns-refused"), "FAIL client"),
    "fqdn-broken": Fault(both(FQDN_MODULES, label(r"TCP api\.\S+ => allowed")),
                         both(FQDN_MODULES, label(r"TCP api\.\S+ => allowed")), "FAIL client"),
    "auth-off": Fault(label("=> dropped AUTH_REQUIRED"), label("=> dropped AUTH_REQUIRED"),
                      "FAIL client"),
    "hubble-missing-drops": Fault(DENIED, DENIED, "FAIL hubble"),
    # The first-packet AUTH_REQUIRED drop a `required` cell tolerates changes reason too.
    "wrong-drop-reason": Fault(label("=> dropped"),
                               either(label("=> dropped"), label("after auth")), "FAIL hubble"),
    "metrics-frozen": Fault(DENIED, DENIED, "FAIL metrics"),
    # Every batch's exec dies: every cell fails, with the exec named.
    "exec-dies": Fault(EVERY, EVERY, "prober run"),
    # The cluster's own parts fail at the boundary: every cell fails with what failed.
    "agent-down": Fault(EVERY, EVERY, "Cannot get policy"),
    "metrics-down": Fault(EVERY, EVERY, "scraping kube-system/"),
    "prober-garbage": Fault(EVERY, EVERY, "printed no JSON"),
    "relay-down": Fault(EVERY, EVERY, "hubble-relay"),
    # RBAC refuses a subresource, or the prober answers short: named in every cell.
    "exec-forbidden": Fault(EVERY, EVERY, 'cannot create resource "pods/exec"'),
    "log-forbidden": Fault(EVERY, EVERY, 'cannot get resource "pods/log"'),
    "portforward-forbidden": Fault(EVERY, EVERY, 'cannot create resource "pods/portforward"'),
    "prober-short": Fault(EVERY, EVERY, "results for"),
    # A change that never takes effect: the policy wait times out naming where.
    # (A stuck regeneration also holds the node's importer: later changes are never
    # imported, pkg/policy/cell/policy_importer.go; either wait names its deadline.)
    "agent-stuck": Fault(EVERY, EVERY, "has not imported the object uid"),
    "regen-stuck": Fault(EVERY, EVERY, "before the deadline"),
    "no-crds": Fault(CILIUM_POLICY, CILIUM_POLICY, "the CRD is not installed"),
    # Every policy is refused: every cell fails with the server's words.
    "policy-rejected": Fault(EVERY, EVERY, "the API server rejected"),
    # The relay ends each stream when its first flow is due: every cell that needs a flow
    # fails and says the stream ended; kubelet cells need none.
    "relay-drop": Fault(NOT_KUBELET, EVERY, "flow stream ended early"),
}
# Late or slow evidence, and conditions of real clusters the harness handles: must pass.
PASSING = tuple(sorted(of_effect(BENIGN) + of_effect(CONDITION)))

pytestmark = pytest.mark.slow


def test_every_emulated_fault_is_in_the_matrix() -> None:
    # upgrade faults act only in a simulated upgrade: tests/upgrade covers them
    assert set(FAULTS) | set(PASSING) | set(REFUSING) | set(of_effect(UPGRADE)) == \
        set(EMULATED)
    assert not set(FAULTS) & set(PASSING)


# A broken install: the run stops before any test, exit 4 (usage error), one paragraph.
REFUSING = {"no-cilium": "DaemonSet kube-system/cilium does not exist",
            "no-kube-dns": "Service kube-system/kube-dns (the cluster DNS) is missing",
            "marker-garbage": "ConfigMap kube-system/zt-conformance key 'external-targets' "
                              "is not JSON"}


@pytest.mark.parametrize("fault", sorted(REFUSING))
def test_a_broken_install_is_refused_before_any_test(fault: str, tmp_path: Path) -> None:
    assert sorted(REFUSING) == sorted(of_effect(REFUSED))
    cmd = [sys.executable, "-m", "pytest", "conformance/scenarios", "--cluster=simulated",
           "-p", "no:cacheprovider", "-q", f"--artifacts={tmp_path}", f"--fault={fault}"]
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ZTC_", "PYTEST_XDIST", "PYTEST_ADDOPTS"))}
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True,
                          timeout=RUN_TIMEOUT_S, env=env, check=False)
    said = proc.stdout + proc.stderr
    assert proc.returncode == 4, said[-2000:]
    assert REFUSING[fault] in said and "Traceback" not in said


@dataclass(frozen=True)
class Outcome:
    module: str
    cell: str
    status: str  # passed | failed | skipped
    message: str


def run_suite(tmp: Path, fault: str | None) -> tuple[subprocess.CompletedProcess[str],
                                                     list[Outcome]]:
    junit = tmp / "junit.xml"
    workers = "0" if fault in FAST_FAULTS else WAITING_WORKERS
    cmd = [sys.executable, "-m", "pytest", "conformance/scenarios", "--cluster=simulated",
           "-n", workers, "--dist", "loadscope", "-p", "no:cacheprovider", "-q",
           f"--junitxml={junit}", f"--artifacts={tmp / 'artifacts'}",
           f"--flow-grace={FLOW_GRACE_S}"]
    if fault:
        cmd.append(f"--fault={fault}")
    if fault in STUCK_FAULTS:
        cmd.append(f"--policy-timeout={STUCK_POLICY_TIMEOUT_S}")
    # The child is its own session: none of our options or xdist identity leak into it.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ZTC_", "PYTEST_XDIST", "PYTEST_ADDOPTS"))}
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True,
                          timeout=RUN_TIMEOUT_S, env=env, check=False)
    assert junit.exists(), f"no JUnit report; pytest said:\n{proc.stdout[-3000:]}{proc.stderr}"
    return proc, parse_junit(junit)


def parse_junit(path: Path) -> list[Outcome]:
    out = []
    for case in ET.parse(path).iter("testcase"):
        name = case.get("name", "")
        cell = name[name.find("[") + 1:-1] if "[" in name else name
        mod = case.get("classname", "").rsplit(".", 1)[-1]
        status, message = "passed", ""
        for tag in ("failure", "error"):
            node = case.find(tag)
            if node is not None:
                status = "failed"
                message = (node.get("message") or "") + (node.text or "")
        if case.find("skipped") is not None:
            status = "skipped"
        out.append(Outcome(mod, cell, status, message))
    return out


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


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_fault_fails_the_cells_that_cover_it(fault: str, tmp_path: Path) -> None:
    spec = FAULTS[fault]
    proc, outcomes = run_suite(tmp_path, fault)
    assert proc.returncode == 1, f"--fault={fault} did not fail the run:\n{proc.stdout[-3000:]}"
    failed = {(o.module, o.cell): o for o in outcomes if o.status == "failed"}
    must = {(o.module, o.cell) for o in outcomes if spec.must_fail(o.module, o.cell)}
    assert must, f"no cell covers {fault}: the selection is wrong"
    passed_but_covered = sorted(must - failed.keys())
    assert not passed_but_covered, f"--fault={fault}: these cells still passed: " \
                                   f"{passed_but_covered}"
    stray = sorted(k for k in failed if not spec.may_fail(*k))
    assert not stray, f"--fault={fault} also failed cells that do not cover it: {stray}"
    wrong_reason = sorted(k for k in must if spec.check not in failed[k].message)
    assert not wrong_reason, (f"--fault={fault}: failed without '{spec.check}' in the "
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
    if fault == "slow-realization":
        assert min(t["realize_s"] for t in timings) >= SLOW_REALIZATION_S
    if fault == "hubble-late":
        assert min(t["evidence_wait_s"] for t in timings) >= HUBBLE_LATE_S - 0.5
