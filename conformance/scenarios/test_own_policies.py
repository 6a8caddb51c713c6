"""Your own policies (`--policies DIR...`, optionally `--probes FILE` from `python -m
conformance generate`): the generated truth table, run on stand-in pods.

Collects nothing without --policies. The cells are split into shards (ZTC_OWN_SHARDS,
default 2) by policy; xdist (loadscope) gives each worker whole shards (test classes), and
each shard applies the whole policy set and sends its cells as one batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from conformance.harness import own, own_cells
from conformance.harness.own import OwnRun, own_workspace
from conformance.harness.own_cells import OwnCell, OwnScenario
from conformance.harness.planning import Workspace
from conformance.harness.verdicts import check_cell, started


def _shards() -> list[OwnScenario]:
    run = own_cells.configured()  # from pytest's configuration (conftest.py)
    if not run.paths:
        return []
    # Bad input was refused before any cluster work (conftest.py pytest_configure).
    result = own_cells.load_cells(list(run.paths), run.probes, run.version)
    return own_cells.shards(result, list(run.paths), own_cells.shard_count())


SHARDS = _shards()


@pytest.fixture(scope="session")
def own_ws(workspace: Workspace, pytestconfig: pytest.Config) -> Iterator[Workspace]:
    ws = own_workspace(workspace, own_cells.namespaces(SHARDS))
    try:
        yield ws
    finally:
        if not pytestconfig.getoption("keep_cluster"):
            own.close(ws)


@pytest.fixture(scope="class")
def own_run(request: pytest.FixtureRequest, own_ws: Workspace) -> OwnRun:
    run = started(OwnRun(request.cls.SCENARIO, own_ws))
    assert isinstance(run, OwnRun)
    return run


def _shard_class(scenario: OwnScenario) -> type:
    @pytest.mark.parametrize("cell", scenario.params())
    def test_cell(self: Any, cell: OwnCell, own_run: OwnRun) -> None:
        check_cell(own_run, cell)

    body: dict[str, Any] = {"SCENARIO": scenario, "test_cell": test_cell,
                            "pytestmark": scenario.marks(), "__doc__": scenario.title}
    return type(f"TestOwnPolicies{scenario.name.rsplit('-', 1)[-1]}", (), body)


_make: Callable[[OwnScenario], type] = _shard_class
for _scenario in SHARDS:
    _cls = _make(_scenario)
    globals()[_cls.__name__] = _cls
