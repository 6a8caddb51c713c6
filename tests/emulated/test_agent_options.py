"""The emulated data plane decides with the agents' options (conformance/model/options.py):
enforcement mode, DNS reject response code, L7 proxy."""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from clusters.emulated.decide import Decider
from clusters.emulated.metrics import NodeCounters
from clusters.emulated.traffic import Traffic
from clusters.emulated.world import KUBE_DNS_IP, NODES, World
from conformance.model import PolicySet
from conformance.model.options import AgentOptions

DNS_ONLY = {
    "apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy",
    "metadata": {"name": "dns-only", "namespace": "payments"},
    "spec": {"endpointSelector": {"matchLabels": {"app": "payment-processor"}},
             "egress": [{"toEndpoints": [{"matchLabels": {
                 "k8s:io.kubernetes.pod.namespace": "kube-system",
                 "k8s:k8s-app": "kube-dns"}}],
                 "toPorts": [{"ports": [{"port": "53", "protocol": "ANY"}],
                              "rules": {"dns": [{"matchName": "api.stripe.com"}]}}]}]},
}


class _Version:
    def __init__(self, docs: list[dict[str, Any]]) -> None:
        self._docs = {i: d for i, d in enumerate(docs)}
        self._set = PolicySet.from_documents(docs)

    @property
    def docs(self) -> Mapping[Any, dict[str, Any]]:
        return self._docs

    def policies(self) -> PolicySet:
        return self._set


def _run(options: AgentOptions, probes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    world = World.create(seed=7)
    world.add_workloads("payments")
    client = next(p for p in world.pods["payments"] if p.app == "payment-processor")
    version = _Version([DNS_ONLY])
    traffic = Traffic(world, Decider(None, options=options), random.Random(1),
                      {n: NodeCounters(n) for n in NODES}, lambda _f: None, lambda: 0.0,
                      wrong_reason=False)
    return traffic.run(lambda _c, _d: version, client, 0.0, probes)


DENIED_QUERY = {"id": "q", "kind": "dns", "name": "evil.example", "server": f"{KUBE_DNS_IP}:53"}


def test_dns_reject_response_code() -> None:
    assert _run(AgentOptions(), [DENIED_QUERY])[0]["outcome"] == "dns-refused"
    assert _run(AgentOptions(dns_reject="nameError"), [DENIED_QUERY])[0]["outcome"] == (
        "dns-nxdomain")


def test_enforcement_never_and_l7_proxy_off() -> None:
    """A resolvable name the DNS rule does not list: refused by default; answered when
    nothing is enforced, or when the agent refused the policy (L7 proxy off)."""
    github = {**DENIED_QUERY, "name": "api.github.com"}
    assert _run(AgentOptions(), [github])[0]["outcome"] == "dns-refused"
    assert _run(AgentOptions(enforcement="never"), [github])[0]["outcome"] == "ok"
    assert _run(AgentOptions(l7_proxy=False), [github])[0]["outcome"] == "ok"
