"""Fixtures of the conformance suite: one workspace per worker, one batch per scenario.

Workers take whole scenario modules (`--dist loadscope`), so a worker applies the
scenario's policies once, sends its probes as one batch and then each cell (test)
judges itself from the recorded evidence.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.harness.batch import ScenarioRun, ScenarioSkipped
from conformance.harness.cluster import ClusterError
from conformance.harness.planning import (
    RunOptions,
    Workspace,
    new_workspace,
    owned_policies,
)
from conformance.harness.session import KUBE_KEY, PreflightError, open_cluster
from conformance.harness.spec import Cell, Scenario


def _kube(config: pytest.Config) -> tuple[str | None, str | None]:
    # Set by the top-level conftest (controller: after provisioning; worker: from input).
    return config.stash.get(KUBE_KEY, (config.getoption("kubeconfig"),
                                       config.getoption("context")))


@pytest.fixture(scope="session")
def workspace(pytestconfig: pytest.Config) -> Iterator[Workspace]:
    kubeconfig, context = _kube(pytestconfig)
    kind = pytestconfig.getoption("cluster")
    try:
        cluster = open_cluster("existing" if kind == "kind" else kind,
                               fault=pytestconfig.getoption("fault"),
                               kubeconfig=kubeconfig, context=context)
    except PreflightError as exc:
        pytest.fail(str(exc), pytrace=False)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    artifacts = pytestconfig.getoption("artifacts")
    options = RunOptions(
        flow_grace=pytestconfig.getoption("flow_grace"),
        probe_timeout=pytestconfig.getoption("probe_timeout"),
        policy_timeout=pytestconfig.getoption("policy_timeout"),
        artifacts=Path(artifacts).resolve() if artifacts else None,
    )
    ws = new_workspace(cluster, worker, options)
    try:
        cluster.delete(owned_policies(ws))  # leftovers of a killed run
        yield ws
    finally:
        try:
            if not pytestconfig.getoption("keep_cluster"):
                ws.close()
        finally:
            cluster.close()


@pytest.fixture(scope="module")
def scenario_run(request: pytest.FixtureRequest, workspace: Workspace) -> ScenarioRun:
    scenario = getattr(request.module, "SCENARIO", None)
    if not isinstance(scenario, Scenario):
        raise TypeError(f"{request.module.__name__} defines no SCENARIO")
    run = ScenarioRun(scenario, workspace)
    try:
        run.execute()
    except ScenarioSkipped as exc:
        pytest.skip(f"{scenario.name}: {exc}")
    except ClusterError as exc:
        pytest.fail(f"{scenario.name}: {exc}", pytrace=False)
    return run


@pytest.fixture(autouse=True)
def _cell_properties(request: pytest.FixtureRequest) -> None:
    """JUnit properties per cell: its scenario and written expectation."""
    callspec = getattr(request.node, "callspec", None)
    cell = callspec.params.get("cell") if callspec else None
    scenario = getattr(request.module, "SCENARIO", None)
    if isinstance(cell, Cell) and isinstance(scenario, Scenario):
        request.node.user_properties.extend([
            ("scenario", scenario.name), ("expected", cell.expect.label())])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Disruptive (truly cluster-wide) cells are opt-in and run last, alone."""
    disruptive = [i for i in items if i.get_closest_marker("disruptive")]
    if not disruptive:
        return
    rest = [i for i in items if not i.get_closest_marker("disruptive")]
    if config.getoption("disruptive"):
        items[:] = rest + disruptive
    else:
        config.hook.pytest_deselected(items=disruptive)
        items[:] = rest
