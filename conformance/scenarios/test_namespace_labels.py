"""Namespace labels other than the name select peers.

account-service admits payment-processor only from namespaces labelled
`zt-conformance/namespace: partners`, through
`k8s:io.cilium.k8s.namespace.labels.zt-conformance/namespace`. The partners namespace's
payment-processor gets in; the one in account-service's own namespace (labelled `payments`)
is dropped at ingress by default deny.
"""

from __future__ import annotations

import pytest

from conformance.harness.batch import ScenarioRun
from conformance.harness.spec import (
    ALLOWED,
    PARTNER_PAYMENT,
    PAYMENT,
    Cell,
    Scenario,
    dropped,
    http,
)
from conformance.harness.verdicts import check_cell

SCENARIO = Scenario(
    name="namespace-labels",
    title="Selecting peers by a namespace label other than the name",
    cells=(
        Cell(PARTNER_PAYMENT, http("GET", "/api/v1/accounts"), ALLOWED,
             why="its namespace is labelled zt-conformance/namespace=partners"),
        Cell(PAYMENT, http("GET", "/api/v1/accounts"), dropped("POLICY_DENIED", "ingress"),
             why="same app, but its namespace is labelled payments"),
    ),
    peer_namespace=True,
)
pytestmark = SCENARIO.marks()


@pytest.mark.parametrize("cell", SCENARIO.params())
def test_namespace_labels(cell: Cell, scenario_run: ScenarioRun) -> None:
    check_cell(scenario_run, cell)
