"""Driving the emulated control plane in-process: a fake clock, a worker namespace from
manifests/workloads, policies applied by their REST key, probes, flows and counters.

Policies are written inline (the article's scenarios, in these tests' own words) so the
tests pin the emulator's behaviour, not the scenario manifests.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families

from clusters.emulated.controlplane import (
    IMPORT_LAG_S,
    POD_START_S,
    PROXY_ACK_S,
    REGEN_LAG_S,
    ControlPlane,
)
from clusters.emulated.metrics import AGENT_PORT, HUBBLE_PORT
from clusters.emulated.objects import RESOURCES, Key
from clusters.emulated.world import NODES
from conformance.harness.cluster import (
    ACCOUNT_SERVICE,
    AUDIT_LOGGER,
    PAYMENT_PROCESSOR,
    EndpointRevision,
    PodInfo,
)
from conformance.harness.kube_cilium import parse_endpoints, parse_policy
from conformance.harness.kube_objects import pod_info
from conformance.harness.policy_wait import envoy_subjects, unrealized

WORKLOADS = Path(__file__).resolve().parents[2] / "manifests" / "workloads"
NS = "payments"
PART_OF = {"app.kubernetes.io/part-of": "zt-conformance"}
# Longest a change takes without faults: the import, a regeneration, Envoy's ack.
SETTLE_S = IMPORT_LAG_S[1] + REGEN_LAG_S[1] + PROXY_ACK_S + 0.01
RESOURCE_OF = {(api, kind): resource for resource, (api, kind, _) in RESOURCES.items()}
Counters = dict[tuple[str, frozenset[tuple[str, str]]], float]


class FakeClock:
    """The control plane's monotonic clock; `advance` is time passing."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def key_of(doc: dict[str, Any]) -> Key:
    """The REST key `(resource, namespace, name)` the client would send `doc` to."""
    meta = doc.get("metadata") or {}
    resource = RESOURCE_OF[(doc["apiVersion"], doc["kind"])]
    namespaced = RESOURCES[resource][2]
    return (resource, str(meta.get("namespace") or "") if namespaced else "", meta["name"])


def apply(plane: ControlPlane, *docs: dict[str, Any]) -> list[dict[str, Any]]:
    """Server-side apply each doc, as KubeCluster does; the stored objects."""
    return [plane.apply(key_of(d), d, None) for d in docs]


def delete(plane: ControlPlane, *docs: dict[str, Any]) -> list[dict[str, Any]]:
    return [plane.delete(key_of(d)) for d in docs]


def workload_docs() -> list[dict[str, Any]]:
    return [d for f in sorted(WORKLOADS.glob("*.yaml"))
            for d in yaml.safe_load_all(f.read_text()) if isinstance(d, dict)]


def deploy(plane: ControlPlane, namespace: str) -> list[PodInfo]:
    """The namespace and the workloads of manifests/workloads in it, as
    KubeCluster.deploy_workloads applies them; the pods, by app then name."""
    apply(plane, {"apiVersion": "v1", "kind": "Namespace",
                  "metadata": {"name": namespace, "labels": PART_OF}})
    for doc in workload_docs():
        apply(plane, {**doc, "metadata": {**doc["metadata"], "namespace": namespace}})
    return pods(plane, namespace)


def pods(plane: ControlPlane, namespace: str) -> list[PodInfo]:
    items = plane.list_objects("pods", namespace, None)["items"]
    return sorted((pod_info(p) for p in items), key=lambda p: (p.labels["app"], p.name))


def ready(plane: ControlPlane, namespace: str) -> dict[str, bool]:
    """Pod name -> its Ready condition, as the API server reports it."""
    return {p["metadata"]["name"]: any(c["type"] == "Ready" and c["status"] == "True"
                                       for c in p["status"]["conditions"])
            for p in plane.list_objects("pods", namespace, None)["items"]}


def revisions(plane: ControlPlane) -> dict[str, int]:
    """Each agent's policy revision, from its `cilium-dbg policy get` answer."""
    return {n: parse_policy(n, plane.policy_get(n)).revision for n in NODES}


def endpoints(plane: ControlPlane) -> list[EndpointRevision]:
    return [ep for n in NODES for ep in parse_endpoints(n, plane.endpoint_list(n))]


def realized(plane: ControlPlane, docs: list[dict[str, Any]], floors: dict[str, int]
             ) -> bool:
    """Every endpoint at its agent's revision, and the L7-selected ones' proxies at the
    floor (the first revision that can hold `docs`): the policy wait's rule
    (conformance/harness/policy_wait.py unrealized)."""
    return not unrealized(endpoints(plane), revisions(plane), floors, envoy_subjects(docs))


def counters(plane: ControlPlane) -> Counters:
    """Every sample of every node's two metrics ports, summed over nodes."""
    out: Counters = {}
    for node in NODES:
        for port in (HUBBLE_PORT, AGENT_PORT):
            for family in text_string_to_metric_families(plane.metrics(node, port) or ""):
                for s in family.samples:
                    key = (s.name, frozenset(s.labels.items()))
                    out[key] = out.get(key, 0.0) + s.value
    return out


def total(values: Counters, name: str, **labels: str) -> float:
    return sum(v for (n, items), v in values.items()
               if n == name and set(labels.items()) <= items)


class Emulated:
    """A control plane on a fake clock with one worker namespace, its pods Running."""

    def __init__(self, fault: str | None = None, seed: int = 0) -> None:
        self.clock = FakeClock()
        self.plane = ControlPlane(fault=fault, seed=seed, clock=self.clock)
        self.pods = deploy(self.plane, NS)
        self.clock.advance(POD_START_S)
        self.accounts = [p for p in self.pods if p.labels["app"] == ACCOUNT_SERVICE]
        self.account = self.accounts[0]
        self.cursor = 0
        self.changed: list[dict[str, Any]] = []
        self.floors: dict[str, int] = {}

    def pod(self, app: str) -> PodInfo:
        return next(p for p in self.pods if p.labels["app"] == app)

    def apply(self, *docs: dict[str, Any], settle: float = SETTLE_S) -> None:
        """Apply, then let `settle` seconds pass (every agent and endpoint follows)."""
        self._track(docs)
        apply(self.plane, *docs)
        self.clock.advance(settle)

    def delete(self, *docs: dict[str, Any], settle: float = SETTLE_S) -> None:
        self._track(docs)
        delete(self.plane, *docs)
        self.clock.advance(settle)

    def _track(self, docs: tuple[dict[str, Any], ...]) -> None:
        self.changed = list(docs)
        self.floors = {n: r + 1 for n, r in revisions(self.plane).items()}

    def realized(self) -> bool:
        """The last apply or delete realized everywhere."""
        return realized(self.plane, self.changed, self.floors)

    def run(self, src: str, probe: dict[str, Any]) -> dict[str, Any]:
        return self.plane.run_probes(NS, self.pod(src).name,
                                     [{"id": "p", "timeout": 2.0, **probe}])[0]

    def http(self, src: str, method: str, path: str, *, to: str | None = None,
             timeout: float = 2.0) -> dict[str, Any]:
        host = to or f"{self.account.ip}:8080"
        return self.run(src, {"id": f"{src}-{method}-{path}", "kind": "http",
                              "url": f"http://{host}{path}", "method": method,
                              "timeout": timeout})

    def tcp(self, src: str, port: int, timeout: float = 2.0) -> dict[str, Any]:
        return self.run(src, {"kind": "tcp", "host": self.account.ip, "port": port,
                              "timeout": timeout})

    def mark(self) -> None:
        """From now on, `flows()` shows only what becomes visible after this point."""
        self.cursor, _ = self.plane.flows.read(0, 0.0)

    def flows(self) -> list[dict[str, Any]]:
        """The flows visible now since `mark()` (the `flow` of each relay entry)."""
        _, entries = self.plane.flows.read(self.cursor, 0.0)
        return [e["flow"] for e in entries]

    def drops(self) -> list[dict[str, Any]]:
        return [f for f in self.flows() if f["verdict"] == "DROPPED"]


def cnp(name: str, spec: dict[str, Any], namespace: str = NS) -> dict[str, Any]:
    return {"apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy",
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def port(number: int, rules: dict[str, Any] | None = None,
         protocol: str = "TCP") -> dict[str, Any]:
    out: dict[str, Any] = {"ports": [{"port": str(number), "protocol": protocol}]}
    if rules:
        out["rules"] = rules
    return out


L7_POLICY = cnp("account-service-l7", {
    "endpointSelector": {"matchLabels": {"app": ACCOUNT_SERVICE}},
    "ingress": [
        {"fromEndpoints": [{"matchLabels": {"app": PAYMENT_PROCESSOR}}],
         "toPorts": [port(8080, {"http": [
             {"method": "GET", "path": "/api/v1/accounts"},
             {"method": "GET", "path": "/api/v1/accounts/[0-9a-f-]+"}]})]},
        {"fromEndpoints": [{"matchLabels": {"app": AUDIT_LOGGER}}],
         "toPorts": [port(8080, {"http": [
             {"method": "GET", "path": "/api/v1/accounts/[0-9a-f-]+"}]})]},
    ],
})
GRPC_POLICY = cnp("account-service-grpc", {
    "endpointSelector": {"matchLabels": {"app": ACCOUNT_SERVICE}},
    "ingress": [{"fromEndpoints": [{"matchLabels": {"app": PAYMENT_PROCESSOR}}],
                 "toPorts": [port(9090, {"http": [
                     {"method": "POST", "path": "/api.AccountService/GetAccount"},
                     {"method": "POST", "path": "/api.AccountService/ListAccounts"}]})]}],
})
KUBE_DNS = {"matchLabels": {"k8s:io.kubernetes.pod.namespace": "kube-system",
                            "k8s:k8s-app": "kube-dns"}}
DENY_EGRESS = cnp("deny-egress", {"endpointSelector": {"matchLabels": {
    "app": PAYMENT_PROCESSOR}}, "egress": [{}]})


def fqdn_policy(dns_rules: list[dict[str, str]] | None) -> dict[str, Any]:
    dns_port: dict[str, Any] = {"ports": [{"port": "53", "protocol": "UDP"},
                                          {"port": "53", "protocol": "TCP"}]}
    if dns_rules is not None:
        dns_port["rules"] = {"dns": dns_rules}
    return cnp("payment-processor-egress", {
        "endpointSelector": {"matchLabels": {"app": PAYMENT_PROCESSOR}},
        "egress": [
            {"toFQDNs": [{"matchName": "api.braintreegateway.com"},
                         {"matchPattern": "*.stripe.com"}],
             "toPorts": [port(80), port(443)]},
            {"toEndpoints": [KUBE_DNS], "toPorts": [dns_port]},
        ],
    })


def auth_policy() -> dict[str, Any]:
    return cnp("account-service-auth", {
        "endpointSelector": {"matchLabels": {"app": ACCOUNT_SERVICE}},
        "ingress": [
            {"fromEndpoints": [{"matchLabels": {"app": PAYMENT_PROCESSOR}}],
             "authentication": {"mode": "required"}, "toPorts": [port(8080)]},
            {"fromEndpoints": [{"matchLabels": {"app": AUDIT_LOGGER}}],
             "authentication": {"mode": "test-always-fail"}, "toPorts": [port(8080)]},
        ],
    })


def logged(em: Emulated) -> list[dict[str, Any]]:
    """The probes' requests in the account-service access logs (kubelet readiness
    requests carry no probe id)."""
    records = [json.loads(line) for pod in em.accounts
               for line in em.plane.app_log(NS, pod.name).splitlines()]
    return [r for r in records if r.get("probe_id")]  # not TLS handshake lines
