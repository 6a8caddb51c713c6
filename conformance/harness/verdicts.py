"""The pytest side of a batch: run it, write its artifacts, turn each cell's verdict
into pass, fail (with the evidence) or skip. The batch itself (batch.py) only returns
verdicts; what is written where is report.py's."""

from __future__ import annotations

from typing import TypeVar

import pytest

from conformance.harness import report
from conformance.harness.batch import ScenarioRun, ScenarioSkipped
from conformance.harness.cluster import ClusterError
from conformance.harness.spec import Cell

R = TypeVar("R", bound=ScenarioRun)


def gather(run: ScenarioRun) -> None:
    """Execute the batch and write the scenario's artifacts."""
    report.check_ours(run.artifacts_dir())  # before any cluster work
    try:
        run.execute()
    finally:
        if run.gathered:  # also when only the clean-up failed
            report.write_scenario(run)


def started(run: R) -> R:
    """A fixture's body: gather the batch; skip or fail its cells with one paragraph."""
    try:
        gather(run)
    except ScenarioSkipped as exc:
        pytest.skip(f"{run.scenario.name}: {exc}")
    except (ClusterError, report.ArtifactsError) as exc:
        pytest.fail(f"{run.scenario.name}: {exc}", pytrace=False)
    return run


def check_cell(run: ScenarioRun, cell: Cell) -> None:
    """The body of every cell test: pass, fail with the evidence, or skip with a reason."""
    message = judge_cell(run, cell)
    if message:
        pytest.fail(message, pytrace=False)


def judge_cell(run: ScenarioRun, cell: Cell) -> str | None:
    """The cell's verdict, its artifacts written; the failure message or None. A cell
    the cluster cannot run is skipped with the reason."""
    verdict = run.verdict(cell)
    if verdict.skipped is not None:
        pytest.skip(verdict.skipped)
    if verdict.disagreement is not None:
        return verdict.disagreement
    report.write_cell(run, verdict)
    return None if verdict.passed else report.failure_message(run, verdict)
