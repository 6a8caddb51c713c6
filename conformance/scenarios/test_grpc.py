"""gRPC: rules match HTTP/2 `POST /api.AccountService/<Method>`; other methods get
PERMISSION_DENIED from the proxy, and callers without a rule are dropped at L3/L4."""

from __future__ import annotations

import pytest

from conformance.harness.batch import ScenarioRun
from conformance.harness.cluster import FEATURE_L7_PROXY
from conformance.harness.spec import (
    ALLOWED,
    AUDIT,
    L7_DENIED,
    PAYMENT,
    Cell,
    Scenario,
    connect,
    dropped,
    grpc,
)
from conformance.harness.verdicts import check_cell

SCENARIO = Scenario(
    name="grpc",
    title="gRPC method rules on account-service:9090",
    requires=(FEATURE_L7_PROXY,),
    cells=(
        Cell(PAYMENT, grpc("GetAccount"), ALLOWED),
        Cell(PAYMENT, grpc("ListAccounts"), ALLOWED),
        Cell(PAYMENT, grpc("DeleteAccount"), L7_DENIED),
        Cell(PAYMENT, grpc("CreateWithdrawal"), L7_DENIED),
        Cell(AUDIT, connect(9090), dropped("POLICY_DENIED", "ingress"),
             why="no rule for audit-logger at all"),
    ),
)
pytestmark = SCENARIO.marks()


@pytest.mark.parametrize("cell", SCENARIO.params())
def test_grpc(cell: Cell, scenario_run: ScenarioRun) -> None:
    check_cell(scenario_run, cell)
