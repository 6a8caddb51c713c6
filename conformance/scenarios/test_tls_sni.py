"""TLS SNI (`serverNames`): Envoy reads each ClientHello on account-service:8443 and lets
only the listed server names through; another name, or none, is reset during the
handshake (an L7 DROPPED flow, nothing reaches the app). A port without serverNames is
plain L4, and a caller without a rule is dropped at L3/L4."""

from __future__ import annotations

import pytest

from conformance.harness.batch import ScenarioRun
from conformance.harness.cluster import FEATURE_L7_PROXY, HTTP_PORT
from conformance.harness.spec import (
    ALLOWED,
    AUDIT,
    L7_DENIED,
    PAYMENT,
    Cell,
    Scenario,
    connect,
    dropped,
    tls,
)
from conformance.harness.verdicts import check_cell

SCENARIO = Scenario(
    name="tls-sni",
    title="TLS serverNames on account-service:8443",
    requires=(FEATURE_L7_PROXY,),
    cells=(
        Cell(PAYMENT, tls("accounts.payments.example"), ALLOWED,
             why="an exact serverNames entry"),
        Cell(PAYMENT, tls("ledger.api.payments.example"), ALLOWED,
             why="`*.` matches one label"),
        Cell(PAYMENT, tls("evil.example"), L7_DENIED, why="no serverNames entry matches"),
        Cell(PAYMENT, tls("a.b.api.payments.example"), L7_DENIED,
             why="`*` stays within one label"),
        Cell(PAYMENT, tls(""), L7_DENIED, why="no SNI never matches serverNames"),
        Cell(PAYMENT, connect(HTTP_PORT), ALLOWED, why="8080 has no serverNames: plain L4"),
        Cell(AUDIT, tls("accounts.payments.example"), dropped("POLICY_DENIED", "ingress"),
             why="no rule for audit-logger at all"),
    ),
)
pytestmark = SCENARIO.marks()


@pytest.mark.parametrize("cell", SCENARIO.params())
def test_tls_sni(cell: Cell, scenario_run: ScenarioRun) -> None:
    check_cell(scenario_run, cell)
