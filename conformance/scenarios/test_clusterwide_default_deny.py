"""Disruptive (opt-in with --disruptive, runs alone and last): the baseline as a truly
cluster-wide `endpointSelector: {}` policy, fixed as REFERENCE says — DNS through the
proxy for every pod and the cluster's own namespaces left working. The policies are
deleted (and the deletion realized) before the run ends."""

from __future__ import annotations

import pytest

from conformance.harness.batch import ScenarioRun
from conformance.harness.spec import (
    ALLOWED,
    HOST,
    PARTNER_PAYMENT,
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
    name="clusterwide-default-deny",
    title="Cluster-wide default deny with DNS and system namespaces allowed",
    disruptive=True,
    peer_namespace=True,
    cells=(
        Cell(PAYMENT, http("GET", "/api/v1/accounts"), ALLOWED),
        Cell(PARTNER_PAYMENT, http("GET", "/api/v1/accounts"),
             dropped("POLICY_DENIED", "egress")),
        Cell(PAYMENT, dns("account-service.payments.svc.cluster.local"), ALLOWED,
             why="the DNS allow keeps name resolution working"),
        Cell(HOST, kubelet(), ALLOWED),
    ),
)
pytestmark = SCENARIO.marks()


@pytest.mark.parametrize("cell", SCENARIO.params())
def test_clusterwide_default_deny(cell: Cell, scenario_run: ScenarioRun) -> None:
    check_cell(scenario_run, cell)
