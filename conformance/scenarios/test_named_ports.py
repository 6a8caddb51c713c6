"""Named ports: `port: http` resolves through account-service's container port names.

payment-processor is allowed on `http` (8080) and so reaches the API, but not 9090, which
it would reach by the name `grpc`. audit-logger is allowed on `metrics`, a name
account-service does not declare: that rule allows nothing (Cilium resolves names through
the destination's ports, pkg/policy/types NamedPortMap.GetNamedPort).
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

SCENARIO = Scenario(
    name="named-ports",
    title="Ports by name resolve through the destination's container ports",
    cells=(
        Cell(PAYMENT, http("GET", "/api/v1/accounts"), ALLOWED,
             why="`port: http` is account-service's 8080"),
        Cell(PAYMENT, connect(9090), dropped("POLICY_DENIED", "ingress"),
             why="9090 is named `grpc`, which no rule names"),
        Cell(AUDIT, http("GET", "/api/v1/accounts"), dropped("POLICY_DENIED", "ingress"),
             why="`port: metrics` names no port of account-service: the rule allows nothing"),
    ),
)
pytestmark = SCENARIO.marks()


@pytest.mark.parametrize("cell", SCENARIO.params())
def test_named_ports(cell: Cell, scenario_run: ScenarioRun) -> None:
    check_cell(scenario_run, cell)
