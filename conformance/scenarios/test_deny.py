"""Explicit deny: `ingressDeny` / `egressDeny` win over an allow on the same port.

audit-logger is allowed to account-service on 8080 and denied on the same port, so its
requests are dropped at ingress with the denylist reason (POLICY_DENY), while
payment-processor, allowed by the same rule, passes. On the way out audit-logger's
9090 is allowed and denied again: dropped at egress, POLICY_DENY. A port no rule
mentions shows the contrast, the default-deny POLICY_DENIED.
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
    name="deny",
    title="ingressDeny/egressDeny take precedence over allows",
    cells=(
        Cell(PAYMENT, http("GET", "/api/v1/accounts"), ALLOWED,
             why="allowed on 8080, no deny matches payment-processor"),
        Cell(AUDIT, http("GET", "/api/v1/accounts"), dropped("POLICY_DENY", "ingress"),
             why="deny beats allow: both name audit-logger on 8080"),
        Cell(AUDIT, connect(9090), dropped("POLICY_DENY", "egress"),
             why="audit-logger's egress allows 9090 and denies it again"),
        Cell(PAYMENT, connect(9090), dropped("POLICY_DENIED", "ingress"),
             why="no rule names 9090 at ingress: default deny, not the denylist"),
    ),
)
pytestmark = SCENARIO.marks()


@pytest.mark.parametrize("cell", SCENARIO.params())
def test_deny(cell: Cell, scenario_run: ScenarioRun) -> None:
    check_cell(scenario_run, cell)
