"""ICMP: `icmps` rules allow echo requests by type, and only them.

payment-processor may ping account-service (EchoRequest) but not reach its HTTP port;
audit-logger may reach 8080 but its echo requests are dropped by default deny. The prober
pings from an unprivileged ICMP socket (the pod's net.ipv4.ping_group_range), so the probe
image stays non-root without capabilities.
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
    dropped,
    http,
    ping,
)
from conformance.harness.verdicts import check_cell

SCENARIO = Scenario(
    name="icmp",
    title="ICMP echo allowed by type, separately from ports",
    cells=(
        Cell(PAYMENT, ping(), ALLOWED, why="icmps: EchoRequest from payment-processor"),
        Cell(PAYMENT, http("GET", "/api/v1/accounts"), dropped("POLICY_DENIED", "ingress"),
             why="an icmps rule allows no TCP"),
        Cell(AUDIT, ping(), dropped("POLICY_DENIED", "ingress"),
             why="audit-logger's rule is 8080/TCP: no ICMP"),
        Cell(AUDIT, http("GET", "/api/v1/accounts"), ALLOWED, why="8080/TCP"),
    ),
)
pytestmark = SCENARIO.marks()


@pytest.mark.parametrize("cell", SCENARIO.params())
def test_icmp(cell: Cell, scenario_run: ScenarioRun) -> None:
    check_cell(scenario_run, cell)
