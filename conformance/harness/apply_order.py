"""The order in which a truly cluster-wide policy set is applied and removed.

Applied one document at a time (each realized everywhere before the next), every prefix
of the order is a state the cluster really goes through. A baseline deny realized before
its allows cuts CoreDNS from its upstream and Hubble Relay from the agents (port 4244;
agents on other nodes are `remote-node`, not `host`: `pkg/identity/numericidentity.go`
reserved identities), which blinds the very evidence the suite collects. So the order is
computed with the policy model: greedily, in file order, take the first document whose
addition keeps every CRITICAL flow allowed. Removal runs the order backwards, so every
suffix is safe too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from conformance.model import PolicyError, PolicySet, Probe, evaluate
from conformance.model.probe import Entity, Pod

KUBE_SYSTEM = "kube-system"
HUBBLE_PEER_PORT = 4244  # the agents' Hubble server that Relay dials (hubble.peerService)


@dataclass(frozen=True)
class Critical:
    why: str
    probe: Probe


def _system(app_label: str, app: str) -> Pod:
    return Pod(namespace=KUBE_SYSTEM, labels={app_label: app})


CRITICAL = (
    Critical("CoreDNS forwards to its upstream resolver",
             Probe(id="critical/coredns-upstream", source=_system("k8s-app", "kube-dns"),
                   destination=Entity("world", ip="192.0.2.53"), port=53, protocol="UDP")),
    Critical("Hubble Relay dials the agents on the other nodes",
             Probe(id="critical/relay-remote-agents",
                   source=_system("k8s-app", "hubble-relay"),
                   destination=Entity("remote-node"), port=HUBBLE_PEER_PORT)),
    Critical("Hubble Relay dials the agent on its own node",
             Probe(id="critical/relay-local-agent", source=_system("k8s-app", "hubble-relay"),
                   destination=Entity("host"), port=HUBBLE_PEER_PORT)),
)


def cuts(docs: list[dict[str, Any]], version: str) -> list[str]:
    """The CRITICAL flows that `docs`, enforced together, would drop."""
    try:
        policies = PolicySet.from_documents(docs, "<apply-order>")
    except PolicyError:
        return []  # the API server decides; nothing to order by
    return [c.why for c in CRITICAL
            if evaluate(policies, c.probe, version).verdict != "allowed"]


def apply_order(docs: list[dict[str, Any]], version: str) -> list[dict[str, Any]]:
    """`docs` reordered so that no prefix cuts a CRITICAL flow that the whole set keeps;
    the file order where no such order exists."""
    left = list(docs)
    ordered: list[dict[str, Any]] = []
    cut_at_end = set(cuts(docs, version))
    while left:
        pick = next((d for d in left
                     if set(cuts([*ordered, d], version)) <= cut_at_end), left[0])
        ordered.append(pick)
        left.remove(pick)
    return ordered
