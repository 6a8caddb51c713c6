"""`**.stripe.com` matches any depth of subdomain — from Cilium 1.19 (before, `**`
acted like `*`); the article's "use multiple patterns" advice predates it."""

from __future__ import annotations

import pytest

from conformance.harness.batch import ScenarioRun
from conformance.harness.cluster import FEATURE_FQDN_TARGETS, FEATURE_L7_PROXY
from conformance.harness.spec import ALLOWED, PAYMENT, Cell, Scenario, dropped, tcp
from conformance.harness.verdicts import check_cell
from conformance.vocabulary.catalogue import load_catalogue

SINCE = load_catalogue().since("multi-label-wildcard")  # conformance/vocabulary/cilium.yaml

SCENARIO = Scenario(
    name="fqdn-multilevel",
    title="Multi-label FQDN wildcard **.",
    requires=(FEATURE_L7_PROXY, FEATURE_FQDN_TARGETS),
    cells=(
        Cell(PAYMENT, tcp("api.stripe.com", 443), ALLOWED, min_version=SINCE),
        Cell(PAYMENT, tcp("api.internal.stripe.com", 443), ALLOWED, min_version=SINCE,
             why='"**." spans labels'),
        Cell(PAYMENT, tcp("api.github.com", 443), dropped("POLICY_DENIED", "egress"),
             min_version=SINCE),
    ),
)
pytestmark = SCENARIO.marks()


@pytest.mark.parametrize("cell", SCENARIO.params())
def test_fqdn_multilevel(cell: Cell, scenario_run: ScenarioRun) -> None:
    check_cell(scenario_run, cell)
