"""FQDN egress to the hermetic "internet" targets, with DNS going through the proxy.

matchName and `*.stripe.com` (one label only) open port 443 to the names' learned IPs;
other names, other ports and deeper subdomains stay dropped.
"""

from __future__ import annotations

import pytest

from conformance.harness.batch import ScenarioRun
from conformance.harness.cluster import FEATURE_FQDN_TARGETS, FEATURE_L7_PROXY
from conformance.harness.spec import ALLOWED, PAYMENT, Cell, Scenario, dns, dropped, tcp
from conformance.harness.verdicts import check_cell

DENIED = dropped("POLICY_DENIED", "egress")

SCENARIO = Scenario(
    name="fqdn",
    title="toFQDNs matchName and one-label matchPattern",
    requires=(FEATURE_L7_PROXY, FEATURE_FQDN_TARGETS),
    cells=(
        Cell(PAYMENT, dns("api.stripe.com"), ALLOWED, why="lookups go through the DNS proxy"),
        Cell(PAYMENT, dns("api.braintreegateway.com"), ALLOWED),
        Cell(PAYMENT, tcp("api.stripe.com", 443), ALLOWED, why='"*.stripe.com"'),
        Cell(PAYMENT, tcp("api.braintreegateway.com", 443), ALLOWED, why="matchName"),
        Cell(PAYMENT, tcp("api.github.com", 443), DENIED, why="no rule names it"),
        Cell(PAYMENT, tcp("api.internal.stripe.com", 443), DENIED,
             why='"*" matches one label only'),
        Cell(PAYMENT, tcp("api.stripe.com", 80), DENIED, why="only 443 is allowed"),
    ),
)
pytestmark = SCENARIO.marks()


@pytest.mark.parametrize("cell", SCENARIO.params())
def test_fqdn(cell: Cell, scenario_run: ScenarioRun) -> None:
    check_cell(scenario_run, cell)
