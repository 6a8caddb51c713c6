"""Fixtures of the conformance suite: one workspace per worker, one batch per scenario.

Workers take whole scenario modules (`--dist loadscope`), so a worker applies the
scenario's policies once, sends its probes as one batch and then each cell (test)
judges itself from the recorded evidence.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from conformance.harness import runs
from conformance.harness.batch import ScenarioRun
from conformance.harness.cluster import ClusterError
from conformance.harness.planning import RunOptions, Workspace, new_workspace
from conformance.harness.session import KUBE_KEY, PreflightError, open_cluster
from conformance.harness.spec import Cell, Scenario, collection_version
from conformance.harness.verdicts import started

# Workers that sweep other runs' stale objects at start: the first one only (all workers
# of a run share the run id; one sweep is enough and avoids racing deletes).
SWEEPING_WORKERS = ("main", "gw0")
# Cluster kinds where the suite provisioned every feature (clusters up, or in-process).
PROVISIONED = ("kind", "simulated")


def _kube(config: pytest.Config) -> tuple[str | None, str | None]:
    # Set by the top-level conftest (controller: after provisioning; worker: from input).
    return config.stash.get(KUBE_KEY, (config.getoption("kubeconfig"),
                                       config.getoption("context")))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """At collection, a scenario's written expectations are checked against the policy
    model for the run's Cilium version (--cilium-version, through pytest's configuration);
    a disagreement is this module's collection error, naming the probe."""
    scenario = getattr(metafunc.module, "SCENARIO", None)
    if isinstance(scenario, Scenario):
        scenario.check_against_model(collection_version(metafunc.config))


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
        provisioned=kind in PROVISIONED,
    )
    try:
        ws = new_workspace(cluster, worker, options, runs.run_id(pytestconfig))
        if worker in SWEEPING_WORKERS:
            runs.sweep(cluster, ws.run, pytestconfig.getoption("stale_after"))
    except (ValueError, ClusterError) as exc:
        cluster.close()
        pytest.fail(f"starting worker {worker}: {exc}", pytrace=False)
    try:
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
    return started(ScenarioRun(scenario, workspace))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item,
                              call: pytest.CallInfo[None]
                              ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """--strict: a skipped cell fails the run, with the reason it was skipped."""
    report: pytest.TestReport = yield
    if report.skipped and not hasattr(report, "wasxfail") and strict(item.config):
        strict_failure(report)
    return report


def strict(config: pytest.Config) -> bool:
    """pytest's own --strict (a store_true flag in pytest 8 and 9; pytest 9 also has the
    ini option `strict`, unknown to pytest 8), --ztc-strict or env ZTC_STRICT."""
    try:
        ini = bool(config.getini("strict"))
    except ValueError:  # pytest 8: no such ini option
        ini = False
    return ini or bool(config.getoption("strict", False)) \
        or bool(config.getoption("ztc_strict"))


def strict_failure(report: pytest.TestReport) -> None:
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    report.outcome = "failed"
    report.longrepr = f"--strict: a skipped cell fails the run: {reason.removeprefix('Skipped: ')}"


@pytest.fixture(autouse=True)
def _cell_properties(request: pytest.FixtureRequest) -> Iterator[None]:
    """JUnit properties per cell, after the test: how it was judged (the teardown report
    carries them to JUnit; which cell it is was added before setup by the report plugin,
    conformance/reports/plugin.py)."""
    from conformance.reports import properties

    yield
    callspec = getattr(request.node, "callspec", None)
    cell = callspec.params.get("cell") if callspec else None
    run = getattr(request.node, "funcargs", {}).get("scenario_run")
    if isinstance(cell, Cell) and isinstance(run, ScenarioRun):
        request.node.user_properties.extend(properties.verdict_properties(run, cell))


def pytest_configure(config: pytest.Config) -> None:
    """Progress lines, truth tables, report.html and the CI summary (conformance/reports)."""
    from conformance.reports.plugin import ReportPlugin

    config.pluginmanager.register(ReportPlugin(config), "ztc-reports")


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
