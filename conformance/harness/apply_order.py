"""The order in which a truly cluster-wide policy set is applied and removed.

Applied one document at a time (each realized everywhere before the next), every prefix
of the order is a state the cluster really goes through. A baseline deny realized before
its allows cuts CoreDNS from its upstream and Hubble Relay from the agents (port 4244;
agents on other nodes are `remote-node`, not `host`: `pkg/identity/numericidentity.go`
reserved identities), which blinds the very evidence the suite collects. So the order is
computed with the policy model: greedily, take the document whose addition keeps every
CRITICAL flow allowed and denies the fewest ordinary flows (pod to pod and DNS in each
namespace the documents name): allows first, the baseline last; ties keep file order.
Removal runs the order backwards, so it passes through the same safe states.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from conformance.model import PolicyError, PolicySet, Probe, evaluate
from conformance.model.probe import DnsQuery, Entity, Pod

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


def _denied(docs: list[dict[str, Any]], probes: list[Critical], version: str) -> list[str]:
    try:
        policies = PolicySet.from_documents(docs, "<apply-order>")
    except PolicyError:
        return []  # the API server decides; nothing to order by
    return [c.why for c in probes if evaluate(policies, c.probe, version).verdict != "allowed"]


def cuts(docs: list[dict[str, Any]], version: str) -> list[str]:
    """The CRITICAL flows that `docs`, enforced together, would drop."""
    return _denied(docs, list(CRITICAL), version)


def ordinary(docs: list[dict[str, Any]]) -> list[Critical]:
    """Pod to pod and DNS in every namespace the documents name (and `default`)."""
    namespaces = {"default"} | {str(d["metadata"]["namespace"]) for d in docs
                                if isinstance(d.get("metadata"), dict)
                                and d["metadata"].get("namespace")}
    kube_dns = _system("k8s-app", "kube-dns")
    out = []
    for ns in sorted(namespaces):
        client, server = Pod(ns, {"app": "client"}), Pod(ns, {"app": "server"})
        out += [Critical(f"pod to pod in {ns}",
                         Probe(id=f"ordinary/{ns}/pod", source=client, destination=server,
                               port=8080)),
                Critical(f"DNS from {ns}",
                         Probe(id=f"ordinary/{ns}/dns", source=client, destination=kube_dns,
                               port=53, protocol="UDP", dns=DnsQuery("example.com")))]
    return out


def apply_order(docs: list[dict[str, Any]], version: str) -> list[dict[str, Any]]:
    """`docs` reordered so that no prefix cuts a CRITICAL flow that the whole set keeps,
    least restrictive first; the file order where no such order exists."""
    left = list(docs)
    ordered: list[dict[str, Any]] = []
    cut_at_end = set(cuts(docs, version))
    probes = ordinary(docs)
    while left:
        safe = [d for d in left if set(cuts([*ordered, d], version)) <= cut_at_end]
        pick = min(safe, key=lambda d: len(_denied([*ordered, d], probes, version))) \
            if safe else left[0]
        ordered.append(pick)
        left.remove(pick)
    return ordered
