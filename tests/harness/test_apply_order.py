"""The cluster-wide default deny is applied allows first: no intermediate state the
cluster goes through (staged apply, one document realized at a time) cuts CoreDNS from
its upstream or Hubble Relay from the agents, and removal runs backwards."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from conformance.harness.apply_order import CRITICAL, apply_order, cuts

POLICIES = Path(__file__).resolve().parents[2] / "manifests" / "policies"
VERSIONS = ("1.18.12", "1.19.6", "1.20.0")


def documents(name: str) -> list[dict[str, Any]]:
    return [d for f in sorted((POLICIES / name).glob("*.yaml"))
            for d in yaml.safe_load_all(f.read_text()) if isinstance(d, dict)]


def names(docs: list[dict[str, Any]]) -> list[str]:
    return [d["metadata"]["name"] for d in docs]


def test_the_file_order_would_cut_the_cluster_off_while_applying() -> None:
    docs = documents("clusterwide-default-deny")
    assert names(docs)[0] == "zt-conformance-default-deny-all"
    # The baseline allows egress to `host` only: agents on other nodes are remote-node.
    assert set(cuts(docs[:1], "1.20.0")) == {c.why for c in CRITICAL} - {
        "Hubble Relay dials the agent on its own node"}


@pytest.mark.parametrize("version", VERSIONS)
def test_every_prefix_and_suffix_of_the_apply_order_keeps_the_cluster_working(
        version: str) -> None:
    docs = documents("clusterwide-default-deny")
    ordered = apply_order(docs, version)
    assert sorted(names(ordered)) == sorted(names(docs))
    assert cuts(docs, version) == []  # the whole set keeps them too
    # Removal runs the order backwards, so the states it passes are these prefixes too.
    for i in range(1, len(ordered) + 1):
        assert cuts(ordered[:i], version) == [], names(ordered[:i])
    assert names(ordered)[-1] == "zt-conformance-default-deny-all"


def test_an_order_that_cannot_be_made_safe_keeps_the_file_order() -> None:
    deny_all = {"apiVersion": "cilium.io/v2", "kind": "CiliumClusterwideNetworkPolicy",
                "metadata": {"name": "deny"}, "spec": {"endpointSelector": {},
                                                       "egress": [{"toEntities": ["host"]}]}}
    other = {**deny_all, "metadata": {"name": "other"}}
    assert names(apply_order([deny_all, other], "1.20.0")) == ["deny", "other"]
