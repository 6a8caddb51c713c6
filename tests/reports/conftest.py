"""Two real simulated suite runs shared by the report tests: a clean one and one under
--fault=l7-off (which fails exactly the L7 cells), each a `pytest conformance/scenarios`
subprocess with xdist, as `nox -s conformance` runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RUN_TIMEOUT_S = 300  # one whole simulated run on a loaded CI machine
FLOW_GRACE_S = "3"  # the emulator's evidence is prompt; failing runs stay short


@dataclass(frozen=True)
class SuiteRun:
    artifacts: Path
    returncode: int
    output: str
    step_summary: Path


def run_suite(folder: Path, *extra: str, paths: tuple[str, ...] = ("conformance/scenarios",),
              workers: str = "2", env_extra: dict[str, str] | None = None) -> SuiteRun:
    folder.mkdir(parents=True, exist_ok=True)
    summary = folder.parent / f"{folder.name}-step-summary.md"
    env = dict(os.environ)
    for var in ("ZTC_FAULT", "ZTC_ARTIFACTS", "ZTC_STRICT", "PYTEST_ADDOPTS", "ZTC_REPORT_MERGE"):
        env.pop(var, None)
    for var in [v for v in env if v.startswith("PYTEST_XDIST_")]:  # this test's own worker
        env.pop(var)
    env.update(GITHUB_STEP_SUMMARY=str(summary), **(env_extra or {}))
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", *paths, "--cluster=simulated",
         "-n", workers, "-p", "no:cacheprovider", "-q", f"--flow-grace={FLOW_GRACE_S}",
         f"--artifacts={folder}", f"--junitxml={folder / 'junit.xml'}", *extra],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False)
    return SuiteRun(folder, proc.returncode, proc.stdout + proc.stderr, summary)


@pytest.fixture(scope="session")
def clean_run(tmp_path_factory: pytest.TempPathFactory) -> SuiteRun:
    run = run_suite(tmp_path_factory.mktemp("runs") / "clean")
    assert run.returncode == 0, run.output[-3000:]
    return run


@pytest.fixture(scope="session")
def l7_off_run(tmp_path_factory: pytest.TempPathFactory) -> SuiteRun:
    run = run_suite(tmp_path_factory.mktemp("runs") / "l7-off", "--fault=l7-off")
    assert run.returncode == 1, run.output[-3000:]
    return run
