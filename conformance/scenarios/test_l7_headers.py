"""Header rule: POST /internal/v1/transfer only with `X-Internal-Service:
payment-processor`. Header names match case-insensitively; values exactly (the article
says matching is case-insensitive — true for names only)."""

from __future__ import annotations

import pytest

from conformance.harness.batch import ScenarioRun
from conformance.harness.cluster import FEATURE_L7_PROXY
from conformance.harness.spec import ALLOWED, L7_DENIED, PAYMENT, Cell, Scenario, http
from conformance.harness.verdicts import check_cell

TRANSFER = "/internal/v1/transfer"

SCENARIO = Scenario(
    name="l7-headers",
    title="A header-matching HTTP rule",
    requires=(FEATURE_L7_PROXY,),
    cells=(
        Cell(PAYMENT, http("POST", TRANSFER,
                           headers={"X-Internal-Service": "payment-processor"}), ALLOWED),
        Cell(PAYMENT, http("POST", TRANSFER,
                           headers={"x-internal-service": "payment-processor"}), ALLOWED,
             why="header names are case-insensitive"),
        Cell(PAYMENT, http("POST", TRANSFER,
                           headers={"X-Internal-Service": "Payment-Processor"}), L7_DENIED,
             why="header values are exact and case-sensitive"),
        Cell(PAYMENT, http("POST", TRANSFER,
                           headers={"X-Internal-Service": "audit-logger"}), L7_DENIED),
        Cell(PAYMENT, http("POST", TRANSFER), L7_DENIED, why="header missing"),
        Cell(PAYMENT, http("GET", TRANSFER,
                           headers={"X-Internal-Service": "payment-processor"}), L7_DENIED,
             why="fields of one rule are ANDed: the method must match too"),
    ),
)
pytestmark = SCENARIO.marks()

@pytest.mark.parametrize("cell", SCENARIO.params())
def test_l7_headers(cell: Cell, scenario_run: ScenarioRun) -> None:
    check_cell(scenario_run, cell)
