"""Run the real `prober run` CLI as a subprocess, as pods and the harness do."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

PROBER_TIMEOUT_S = 120.0


def run_prober_raw(stdin: str, *args: str,
                   wrap: Sequence[str] = ()) -> subprocess.CompletedProcess[str]:
    cmd = [*wrap, sys.executable, "-m", "workloads.prober", "run", *args]
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True,
                          timeout=PROBER_TIMEOUT_S, check=False)


def run_prober(probes: list[dict[str, Any]], *args: str,
               wrap: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Results of one batch; asserts the CLI itself succeeded."""
    proc = run_prober_raw(json.dumps(probes), *args, wrap=wrap)
    assert proc.returncode == 0, f"prober exited {proc.returncode}: {proc.stderr}"
    results: list[dict[str, Any]] = json.loads(proc.stdout)
    assert [r["id"] for r in results] == [p.get("id") for p in probes]
    return results


def by_id(results: list[dict[str, Any]]) -> dict[Any, dict[str, Any]]:
    return {r["id"]: r for r in results}
