"""Own policies end to end on the emulated cluster: `pytest conformance/scenarios
--cluster=simulated --policies DIR...` in a subprocess — clean it passes (skips only with a
stated reason), with a fault the cells that cover it fail; bad input stops the run before
anything is deployed."""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from clusters.emulated.faults import FAULTS
from conformance.generate import generate
from tests.support.fault_matrix import TaggedCell, own_cells_tagged, parse_junit, selected

REPO = Path(__file__).resolve().parents[2]
POLICIES = [str(REPO / "manifests" / "policies" / d)
            for d in ("l7-http", "l7-headers", "grpc", "fqdn-dns-refused")]
RUN_TIMEOUT_S = 240
FLOW_GRACE_S = "4"
# The flow wait is a poll that ends as soon as every expected flow is in: a long grace costs
# nothing when the relay keeps up, and keeps a loaded CI machine (the emulated relay then
# streams thousands of flows slower) from failing cells whose flows are merely late.
SCALE_GRACE_S = "60"
SCALE_TIMEOUT_S = 480
SCALE_CELLS = 2_200
# The cell-level faults of the scenario matrix (tests/scenarios/test_faults.py); the cells
# each covers come from its declaration and the generated cells' tags, as there.
OWN_FAULTS = ("l7-off", "l3l4-off", "dns-open", "fqdn-broken", "hubble-missing-drops",
              "wrong-drop-reason", "metrics-frozen", "exec-dies")

pytestmark = pytest.mark.slow


def run(tmp: Path, *extra: str, grace: str = FLOW_GRACE_S, timeout: float = RUN_TIMEOUT_S
        ) -> tuple[subprocess.CompletedProcess[str], Path]:
    junit = tmp / "junit.xml"
    cmd = [sys.executable, "-m", "pytest", "conformance/scenarios", "--cluster=simulated",
           "-p", "no:cacheprovider", "-q", f"--junitxml={junit}",
           f"--artifacts={tmp / 'artifacts'}", f"--flow-grace={grace}", *extra]
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ZTC_", "PYTEST_XDIST", "PYTEST_ADDOPTS"))}
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, env=env, check=False)
    return proc, junit


def test_clean_run_passes_and_groups_evidence_per_policy(tmp_path: Path) -> None:
    proc, junit = run(tmp_path, "-n", "2", "--policies", *POLICIES)
    outcomes = parse_junit(junit)
    assert proc.returncode == 0, proc.stdout[-4000:]
    passed = [o for o in outcomes if o.status == "passed"]
    assert len(passed) >= 40 and all(o.module.startswith("TestOwnPolicies") for o in outcomes)
    # only own cells ran: the scenarios' modules were not collected
    assert all(re.search(r"=> (allowed|dropped|l7-denied|dns-refused)", o.cell)
               for o in outcomes)
    artifacts = tmp_path / "artifacts"
    cells = list(artifacts.glob("own-policies-*/CiliumNetworkPolicy_*/*/probes.json"))
    assert len(cells) == len(passed)
    rewrite = json.loads(next(artifacts.glob("own-policies-*/rewrite.json")).read_text())
    assert rewrite["namespaces"]["payments"].endswith("-payments")
    assert {p["written"]["namespace"] for p in rewrite["policies"]} == {"payments"}
    assert all(p["applied"]["namespace"] == rewrite["namespaces"]["payments"]
               for p in rewrite["policies"])


@pytest.mark.parametrize("fault", sorted(OWN_FAULTS))
def test_fault_fails_the_own_cells_that_cover_it(fault: str, tmp_path: Path) -> None:
    spec = FAULTS[fault]
    proc, junit = run(tmp_path, f"--fault={fault}", "--policies", *POLICIES)
    outcomes = parse_junit(junit)
    assert proc.returncode == 1, proc.stdout[-3000:]
    index: dict[str, TaggedCell] = own_cells_tagged(tuple(POLICIES))
    assert {o.cell for o in outcomes} <= index.keys(), "the run generated other cells"
    failed = {o.cell: o for o in outcomes if o.status == "failed"}
    must = {o.cell for o in outcomes
            if o.status != "skipped" and selected(spec.fails, index[o.cell])}
    assert must, f"no own cell covers {fault}"
    assert not sorted(must - failed.keys()), f"--fault={fault}: still passed"
    assert not sorted(c for c in failed if c not in must
                      and not selected(spec.may_fail, index[c])), \
        f"--fault={fault} failed cells that do not cover it"
    assert all(spec.says in failed[c].message for c in must)


def test_bad_policy_stops_the_run_before_any_cluster_work(tmp_path: Path) -> None:
    bad = tmp_path / "team" / "bad.yaml"
    bad.parent.mkdir()
    bad.write_text("apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\n"
                   "metadata: {name: x, namespace: a}\n"
                   "spec:\n  endpointSelector: {}\n  ingress:\n"
                   "    - toPorts: [{ports: [{port: 80}]}]\n")
    proc, junit = run(tmp_path, "--policies", str(bad.parent))
    said = proc.stdout + proc.stderr
    assert proc.returncode == 4, said[-2000:]  # a usage error, before the emulator starts
    assert f"{bad}: document 1: spec.ingress[0].toPorts[0].ports[0].port" in said
    assert "Traceback" not in said and not junit.exists()
    assert not (tmp_path / "artifacts").exists() or not any((tmp_path / "artifacts").iterdir())


def test_two_hundred_team_policies_pass_at_scale(tmp_path: Path) -> None:
    """Issue 8: 200 generated team policies -> at least 2,000 cells pass with -n 2 (2,200
    of the cells the emulated cluster sends, shuffled with a fixed seed)."""
    sys.path.insert(0, str(Path(__file__).parent))
    sys.path.insert(0, str(REPO / "tests" / "bench"))
    import bench_generate
    import team_policies

    policies = team_policies.write(tmp_path / "policies", 200, seed=0)
    rows = [c.to_json() for c in generate([policies]).cells]
    sendable = [r for r in rows if bench_generate.runnable(r)]
    random.Random(0).shuffle(sendable)
    probes = tmp_path / "cells.jsonl"
    probes.write_text("".join(json.dumps(r) + "\n" for r in sendable[:SCALE_CELLS]))
    proc, junit = run(tmp_path, "-n", "2", "--policies", str(policies), "--probes",
                      str(probes), grace=SCALE_GRACE_S, timeout=SCALE_TIMEOUT_S)
    outcomes = parse_junit(junit)
    failed = [o.cell for o in outcomes if o.status == "failed"]
    assert proc.returncode == 0 and not failed, proc.stdout[-3000:]
    assert sum(o.status == "passed" for o in outcomes) >= 2_000
