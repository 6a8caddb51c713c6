"""L7 HTTP rules: methods and paths (regexes over the whole path, query included).

payment-processor may list accounts and read one by UUID; audit-logger may only read
one. Everything else on 8080 is answered by the proxy with 403 "Access denied" and never
reaches the application.
"""

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
    http,
)
from conformance.harness.verdicts import check_cell

ACCOUNT = "/api/v1/accounts/3f2c1a9e-8b7d-4c6e-9f10-2a3b4c5d6e7f"

SCENARIO = Scenario(
    name="l7-http",
    title="HTTP method and path rules on account-service:8080",
    requires=(FEATURE_L7_PROXY,),
    cells=(
        Cell(PAYMENT, http("GET", "/api/v1/accounts"), ALLOWED),
        Cell(PAYMENT, http("GET", ACCOUNT), ALLOWED),
        Cell(PAYMENT, http("DELETE", ACCOUNT), L7_DENIED, why="method not in any rule"),
        Cell(PAYMENT, http("POST", f"{ACCOUNT}/withdraw"), L7_DENIED),
        Cell(PAYMENT, http("GET", "/api/v1/accounts?limit=5"), L7_DENIED,
             why="the path regex must match the whole :path, query string included"),
        Cell(PAYMENT, http("GET", "/api/v1/accounts/ACC-1"), L7_DENIED,
             why="[0-9a-f-]+ is case-sensitive"),
        Cell(PAYMENT, http("GET", "/internal/v1/transfer"), L7_DENIED, why="other path"),
        Cell(AUDIT, http("GET", ACCOUNT), ALLOWED),
        Cell(AUDIT, http("GET", "/api/v1/accounts"), L7_DENIED,
             why="audit-logger may read one account, not list them"),
        Cell(AUDIT, http("DELETE", ACCOUNT), L7_DENIED, why="the L3/L4 gap, closed"),
        Cell(AUDIT, http("POST", f"{ACCOUNT}/withdraw"), L7_DENIED),
        Cell(AUDIT, connect(9090), dropped("POLICY_DENIED", "ingress"),
             why="selected by a policy: other ports are default deny"),
    ),
)
pytestmark = SCENARIO.marks()


@pytest.mark.parametrize("cell", SCENARIO.params())
def test_l7_http(cell: Cell, scenario_run: ScenarioRun) -> None:
    check_cell(scenario_run, cell)
