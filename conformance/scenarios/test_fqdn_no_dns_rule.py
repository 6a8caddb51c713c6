"""The article's FQDN policy with only the kube-dns label fixed: lookups now work, but
they bypass the DNS proxy (no `rules.dns`), so api.stripe.com is resolvable and still
unreachable — the model predicts it, the cluster must agree."""

from __future__ import annotations

import pytest

from conformance.harness.batch import ScenarioRun
from conformance.harness.cluster import FEATURE_FQDN_TARGETS
from conformance.harness.spec import ALLOWED, PAYMENT, Cell, Scenario, dns, dropped, tcp
from conformance.harness.verdicts import check_cell

SCENARIO = Scenario(
    name="fqdn-no-dns-rule",
    title="toFQDNs without a DNS rule",
    requires=(FEATURE_FQDN_TARGETS,),
    cells=(
        Cell(PAYMENT, dns("api.stripe.com"), ALLOWED, why="plain L3/L4 allow to kube-dns"),
        Cell(PAYMENT, tcp("api.stripe.com", 443), dropped("POLICY_DENIED", "egress"),
             why="no proxied lookup, so no learned IP"),
    ),
)
pytestmark = SCENARIO.marks()


@pytest.mark.parametrize("cell", SCENARIO.params())
def test_fqdn_no_dns_rule(cell: Cell, scenario_run: ScenarioRun) -> None:
    check_cell(scenario_run, cell)
