"""Default deny: the article's cluster-wide baseline (scoped to this worker's
namespaces) plus its intra-namespace allow. Inside `payments` everything works; across
namespaces it is dropped; kubelet probes from the host keep pods Ready; and, as the
article does not say, the baseline cuts the pods' own DNS."""

from __future__ import annotations

import pytest

from conformance.harness.batch import ScenarioRun
from conformance.harness.spec import (
    ALLOWED,
    AUDIT,
    HOST,
    PARTNER_PAYMENT,
    PARTNERS,
    PAYMENT,
    Cell,
    Scenario,
    dns,
    dropped,
    http,
    kubelet,
)
from conformance.harness.verdicts import check_cell

SCENARIO = Scenario(
    name="default-deny",
    title="Baseline default deny with an intra-namespace allow",
    peer_namespace=True,
    cells=(
        Cell(PAYMENT, http("GET", "/api/v1/accounts"), ALLOWED, why="intra-namespace"),
        Cell(AUDIT, http("DELETE", "/api/v1/accounts/acc-1"), ALLOWED,
             why="L3 allow: every method"),
        Cell(PARTNER_PAYMENT, http("GET", "/api/v1/accounts"),
             dropped("POLICY_DENIED", "egress"),
             why="the partners pod's own egress is default deny"),
        Cell(PAYMENT, http("GET", "/api/v1/accounts", namespace=PARTNERS),
             dropped("POLICY_DENIED", "egress"), why="payments may only reach payments"),
        Cell(PAYMENT, dns("api.stripe.com"), dropped("POLICY_DENIED", "egress"),
             why="the baseline allows no DNS: article mistake, shown"),
        Cell(HOST, kubelet(), ALLOWED, why="fromEntities: host keeps readiness probes working"),
    ),
)
pytestmark = SCENARIO.marks()


@pytest.mark.parametrize("cell", SCENARIO.params())
def test_default_deny(cell: Cell, scenario_run: ScenarioRun) -> None:
    check_cell(scenario_run, cell)
