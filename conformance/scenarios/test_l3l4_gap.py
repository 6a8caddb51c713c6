"""L3/L4 is not enough: a NetworkPolicy on 8080 lets audit-logger DELETE and withdraw.

Shown as a gap, not a failure: the cells pass when the destructive requests *reach the
application* (its echo names the request), which is exactly what the L7 scenario stops.
"""

from __future__ import annotations

import pytest

from conformance.harness.batch import ScenarioRun
from conformance.harness.spec import (
    ALLOWED,
    AUDIT,
    PAYMENT,
    Cell,
    Scenario,
    connect,
    dropped,
    http,
)
from conformance.harness.verdicts import check_cell

ACCOUNT = "/api/v1/accounts/3f2c1a9e-8b7d-4c6e-9f10-2a3b4c5d6e7f"

SCENARIO = Scenario(
    name="l3l4-gap",
    title="A plain NetworkPolicy allows every method on an allowed port",
    cells=(
        Cell(PAYMENT, http("GET", "/api/v1/accounts"), ALLOWED),
        Cell(AUDIT, http("GET", ACCOUNT), ALLOWED, why="the one call audit-logger needs"),
        Cell(AUDIT, http("DELETE", ACCOUNT), ALLOWED,
             why="the gap: L4 cannot tell DELETE from GET; the app's echo proves it arrived"),
        Cell(AUDIT, http("POST", f"{ACCOUNT}/withdraw"), ALLOWED, why="the gap, again"),
        Cell(AUDIT, connect(9090), dropped("POLICY_DENIED", "ingress"),
             why="ports still work: 9090 is not in the policy"),
    ),
)
pytestmark = SCENARIO.marks()


@pytest.mark.parametrize("cell", SCENARIO.params())
def test_l3l4_gap(cell: Cell, scenario_run: ScenarioRun) -> None:
    check_cell(scenario_run, cell)
