"""DNS rules that restrict names: the DNS proxy answers REFUSED for other names."""

from __future__ import annotations

import pytest

from conformance.harness.batch import ScenarioRun
from conformance.harness.cluster import FEATURE_FQDN_TARGETS, FEATURE_L7_PROXY
from conformance.harness.spec import (
    ALLOWED,
    DNS_REFUSED,
    PAYMENT,
    Cell,
    Scenario,
    dns,
    dropped,
    tcp,
)
from conformance.harness.verdicts import check_cell

SCENARIO = Scenario(
    name="fqdn-dns-refused",
    title="DNS matchName/matchPattern rules and REFUSED",
    requires=(FEATURE_L7_PROXY, FEATURE_FQDN_TARGETS),
    cells=(
        Cell(PAYMENT, dns("api.stripe.com"), ALLOWED),
        Cell(PAYMENT, dns("api.braintreegateway.com"), ALLOWED, why='"*.braintreegateway.com"'),
        Cell(PAYMENT, dns("api.pastebin.com"), DNS_REFUSED, why="no DNS rule names it"),
        Cell(PAYMENT, dns("api.internal.stripe.com"), DNS_REFUSED),
        Cell(PAYMENT, tcp("api.stripe.com", 443), ALLOWED),
        Cell(PAYMENT, tcp("api.braintreegateway.com", 443), dropped("POLICY_DENIED", "egress"),
             why="resolvable is not reachable: no toFQDNs rule names it"),
    ),
)
pytestmark = SCENARIO.marks()


@pytest.mark.parametrize("cell", SCENARIO.params())
def test_fqdn_dns_refused(cell: Cell, scenario_run: ScenarioRun) -> None:
    check_cell(scenario_run, cell)
