"""Benchmark of own-policies generation and runs (run by `nox -s bench`; not a pytest module).

Targets (issue 8): `generate` for 200 team policies (tests/generate/team_policies.py, seed
0) in under 2 s; a run of 2,000 of their cells against the emulated cluster
(`pytest conformance/scenarios --cluster=simulated -n 2 --policies DIR --probes FILE`) in
under 90 s of wall time with every cell passing, and the peak RSS of the whole run (pytest,
its workers and the emulator, summed) under 1 GB. Runs of 500 and 1,000 cells print their
cost per cell too: it must not grow with the number of cells. Exits 1 when a target is
missed.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import psutil

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "generate"))
sys.path.insert(0, str(REPO))

import team_policies  # noqa: E402

from clusters.emulated.world import EXTERNAL_TARGETS  # noqa: E402
from conformance.cli import main as cli_main  # noqa: E402

POLICIES = 200
SEED = 0
GENERATE_TARGET_S = 2.0
SIZES = (500, 1_000, 2_000)
RUN_TARGET_S = 90.0
RSS_TARGET_BYTES = 1 << 30
RUN_TIMEOUT_S = 600
RSS_SAMPLE_S = 0.2  # how often the process tree's memory is read
COST_SLACK = 1.1  # per-cell cost may not grow by more than this between sizes


def runnable(row: dict[str, Any]) -> bool:
    """A cell the emulated cluster sends (conformance/harness/own.py _attempt): from a pod
    to a stand-in over TCP, to kube-dns, or to a hermetic name."""
    src, dst = row["source"], row["destination"]
    if "namespace" not in src or src["namespace"] == "kube-system":
        return False
    if "dns" in row:
        allowed = row["expect"]["verdict"] == "allowed"
        return dst.get("namespace") == "kube-system" and dst.get("labels") == {
            "k8s-app": "kube-dns"} and (not allowed or row["dns"]["name"] in EXTERNAL_TARGETS)
    if row["protocol"] != "TCP":
        return False
    if "fqdn" in dst:
        return bool(dst["fqdn"] in EXTERNAL_TARGETS)
    return "namespace" in dst and dst["namespace"] != "kube-system"


def run(policies: Path, probes: Path, tmp: Path) -> tuple[float, int, int, int]:
    """(wall s, peak RSS bytes of the process tree, passed, not passed)."""
    junit = tmp / "junit.xml"
    cmd = [sys.executable, "-m", "pytest", "conformance/scenarios", "--cluster=simulated",
           "-n", "2", "-p", "no:cacheprovider", "-q", f"--junitxml={junit}",
           f"--artifacts={tmp / 'artifacts'}", "--policies", str(policies),
           "--probes", str(probes)]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZTC_", "PYTEST_"))}
    start = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    peak = 0
    root = psutil.Process(proc.pid)
    deadline = start + RUN_TIMEOUT_S
    while proc.poll() is None and time.monotonic() < deadline:
        peak = max(peak, _tree_rss(root))
        time.sleep(RSS_SAMPLE_S)  # sampling, not waiting for a condition
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    wall = time.monotonic() - start
    cases = list(ET.parse(junit).iter("testcase")) if junit.exists() else []
    bad = sum(1 for c in cases if c.find("failure") is not None or c.find("error") is not None
              or c.find("skipped") is not None)
    return wall, peak, len(cases) - bad, bad


def _tree_rss(root: psutil.Process) -> int:
    total = 0
    try:
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            continue
    return total


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        policies = team_policies.write(tmp / "policies", POLICIES, SEED)
        out = tmp / "cells.jsonl"
        start = time.monotonic()
        code = cli_main(["generate", "--policies", str(policies), "--out", str(out)],
                        io.StringIO())
        generate_s = time.monotonic() - start
        rows = [json.loads(line) for line in out.read_text().splitlines()]
        gen_ok = code == 0 and generate_s < GENERATE_TARGET_S
        print(f"own policies: generate for {POLICIES} policies = {generate_s:.2f} s, "
              f"{len(rows):,} cells (target < {GENERATE_TARGET_S:.0f} s): "
              f"{'PASS' if gen_ok else 'FAIL'}")
        sendable = [r for r in rows if runnable(r)]
        random.Random(SEED).shuffle(sendable)
        ok = gen_ok
        per_cell: list[float] = []
        for size in SIZES:
            probes = tmp / f"cells-{size}.jsonl"
            probes.write_text("".join(json.dumps(r) + "\n" for r in sendable[:size]))
            wall, peak, passed, bad = run(policies, probes, tmp / f"run-{size}")
            per_cell.append(wall / size)
            line = (f"own policies: {size:,} cells on the emulated cluster (-n 2): "
                    f"{wall:.1f} s wall, {wall / size * 1000:.1f} ms per cell, "
                    f"peak RSS {peak / (1 << 20):.0f} MiB, {passed:,} passed, {bad} not")
            if size == SIZES[-1]:
                run_ok = wall < RUN_TARGET_S and peak < RSS_TARGET_BYTES and bad == 0 \
                    and passed == size
                ok = ok and run_ok
                line += (f" (targets < {RUN_TARGET_S:.0f} s, < 1 GiB, all pass): "
                         f"{'PASS' if run_ok else 'FAIL'}")
            elif bad:
                ok = False
            print(line)
        steady = all(b <= a * COST_SLACK for a, b in itertools.pairwise(per_cell))
        ok = ok and steady
        print(f"own policies: cost per cell "
              f"{' -> '.join(f'{c * 1000:.1f} ms' for c in per_cell)} for "
              f"{' / '.join(f'{s:,}' for s in SIZES)} cells (must not grow): "
              f"{'PASS' if steady else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
