"""The article's FQDN policy as published, shown failing exactly as the model predicts:
its kube-dns rule selects `k8s:app: kube-dns` (no such pod), so lookups are dropped;
and without `rules.dns` the FQDN IPs are never learned, so even a connection straight to
api.stripe.com's IP is dropped."""

from __future__ import annotations

import pytest

from conformance.harness.batch import ScenarioRun
from conformance.harness.cluster import FEATURE_FQDN_TARGETS
from conformance.harness.spec import PAYMENT, Cell, Scenario, dns, dropped, tcp
from conformance.harness.verdicts import check_cell

DENIED = dropped("POLICY_DENIED", "egress")

SCENARIO = Scenario(
    name="fqdn-article",
    title="The article's toFQDNs policy (no DNS rule, wrong kube-dns label)",
    requires=(FEATURE_FQDN_TARGETS,),
    cells=(
        Cell(PAYMENT, dns("api.stripe.com"), DENIED, why="k8s:app: kube-dns selects no pod"),
        Cell(PAYMENT, tcp("api.stripe.com", 443, by_ip=True), DENIED,
             why="the IP was never learned from a proxied lookup"),
    ),
)
pytestmark = SCENARIO.marks()


@pytest.mark.parametrize("cell", SCENARIO.params())
def test_fqdn_article(cell: Cell, scenario_run: ScenarioRun) -> None:
    check_cell(scenario_run, cell)
