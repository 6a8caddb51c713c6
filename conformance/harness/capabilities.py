"""Which capability tags (conformance/vocabulary/capabilities.py) a scenario's cells carry:
derived from each cell's request kind and the model's expectation, and from the policies."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from conformance.vocabulary.capabilities import (
    CILIUM_POLICY,
    HUBBLE_EVIDENCE,
    L7_DENIED,
    METRICS_EVIDENCE,
    MUTUAL_AUTH,
)

if TYPE_CHECKING:
    from conformance.harness.spec import Cell
    from conformance.model.expectation import Expectation


def cell_tags(cell: Cell, exp: Expectation) -> frozenset[str]:
    """The tags one cell's request and the model's expectation for it imply."""
    from conformance.harness.evidence import counters

    r = cell.request
    proxied = exp.verdict == L7_DENIED or exp.hubble.type == "L7"
    tags = set(r.type.capability_tags(r, proxied=proxied))
    if cell.expect.tolerate_auth_drop or exp.drop_reason == "AUTH_REQUIRED":
        tags.add(MUTUAL_AUTH)
    if r.type.own_flow:
        tags.add(HUBBLE_EVIDENCE)
    if counters(exp):
        tags.add(METRICS_EVIDENCE)
    return frozenset(tags)


def policy_tags(documents: Iterable[dict[str, Any]]) -> frozenset[str]:
    """Tags the scenario's policy documents imply."""
    cilium = any(str(d.get("apiVersion", "")).startswith("cilium.io/") for d in documents)
    return frozenset({CILIUM_POLICY}) if cilium else frozenset()
