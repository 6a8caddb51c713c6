"""Mutual authentication (SPIRE; beta, deprecated in 1.20): `required` passes between
authenticated pods (the first packets of a new identity pair are dropped with
AUTH_REQUIRED while the agents handshake — tolerated); `test-always-fail` always drops
with AUTH_REQUIRED. Skipped, with the reason, where the cluster has no mutual auth."""

from __future__ import annotations

import pytest

from conformance.harness.batch import ScenarioRun
from conformance.harness.cluster import FEATURE_L7_PROXY, FEATURE_MUTUAL_AUTH
from conformance.harness.spec import (
    AUDIT,
    AUTHENTICATED,
    L7_DENIED,
    PAYMENT,
    Cell,
    Scenario,
    dropped,
    http,
)
from conformance.harness.verdicts import check_cell

ACCOUNT = "/api/v1/accounts/3f2c1a9e-8b7d-4c6e-9f10-2a3b4c5d6e7f"

SCENARIO = Scenario(
    name="mutual-auth",
    title="authentication.mode required and test-always-fail",
    requires=(FEATURE_MUTUAL_AUTH, FEATURE_L7_PROXY),
    cells=(
        Cell(PAYMENT, http("GET", ACCOUNT), AUTHENTICATED),
        Cell(PAYMENT, http("DELETE", ACCOUNT), L7_DENIED,
             why="authenticated callers still meet the L7 rules"),
        Cell(AUDIT, http("GET", ACCOUNT), dropped("AUTH_REQUIRED", "ingress"),
             why="test-always-fail: authentication never succeeds"),
    ),
)
pytestmark = SCENARIO.marks()


@pytest.mark.parametrize("cell", SCENARIO.params())
def test_mutual_auth(cell: Cell, scenario_run: ScenarioRun) -> None:
    check_cell(scenario_run, cell)
